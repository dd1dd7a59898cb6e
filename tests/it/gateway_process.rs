//! `ferry gateway` as a child process, where only the process will do: its
//! memory read from /proc while it refuses a huge batch, its metrics on a
//! listener of their own, and what it prints for a configuration holding a
//! mistyped secret.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_core::wire::ErrorBody;
use ferry_tests::ferry::TOKEN;
use ferry_tests::redis::{TestRedis, free_port, unique_prefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The gateway's `max_batch_bytes` in these tests.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// How much a refused 99 MB batch may raise the gateway's peak memory: a
/// generous multiple of the limit, and far below the batch itself.
const RSS_BOUND: u64 = 64 * 1024 * 1024;

const BATCH_BYTES: usize = 99_000_000;

fn write_config(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}.toml", unique_prefix()));
    std::fs::write(&path, contents).expect("write the configuration");
    path
}

/// A `ferry gateway` process on its own ports.
struct Gateway {
    child: Child,
    api: String,
    metrics: String,
}

impl Gateway {
    async fn start(redis: &TestRedis) -> Self {
        let (api, metrics) = (free_port(), free_port());
        let config = write_config(
            "gateway",
            &format!(
                r#"
[redis]
url = "{redis}"
prefix = "{prefix}"

[gateway]
listen = "127.0.0.1:{api}"
metrics_listen = "127.0.0.1:{metrics}"
max_batch_bytes = {MAX_BATCH_BYTES}

[[tenants]]
name = "tenant-a"
tokens = ["{TOKEN}"]
"#,
                redis = redis.url(),
                prefix = unique_prefix(),
            ),
        );
        let child = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .arg("gateway")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ferry gateway");
        let gateway = Self {
            child,
            api: format!("127.0.0.1:{api}"),
            metrics: format!("127.0.0.1:{metrics}"),
        };
        gateway.wait_until_serving().await;
        gateway
    }

    async fn wait_until_serving(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let probe = get(&self.api, "/healthz").await;
            if probe.as_ref().is_some_and(|(status, _)| *status == 200) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ferry gateway never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `VmHWM` of the process: its peak resident memory so far, in bytes.
    fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("the gateway runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status");
        kib * 1024
    }
}

/// Status and body of a plain GET, `None` if nothing answers.
async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Sends `head` and then `body` in 1 MiB writes while reading the answer,
/// which may come before the body is sent; returns status and body.
async fn send_streaming(addr: &str, head: String, chunked: bool) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024 * 1024];
        let mut sent = 0;
        while sent < BATCH_BYTES {
            let n = chunk.len().min(BATCH_BYTES - sent);
            if chunked {
                write.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            }
            write.write_all(&chunk[..n]).await?;
            if chunked {
                write.write_all(b"\r\n").await?;
            }
            sent += n;
        }
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        std::io::Result::Ok(())
    });
    let mut response = Vec::new();
    let mut buf = [0_u8; 4096];
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .to_lowercase()
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned));
                if length.is_some_and(|n| body.len() >= n.trim().parse().unwrap_or(0)) {
                    break;
                }
            }
        }
    })
    .await;
    writer.abort();
    answer.expect("the gateway answers");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn batch_head(length: Option<usize>) -> String {
    let framing = length.map_or_else(
        || "transfer-encoding: chunked".to_owned(),
        |n| format!("content-length: {n}"),
    );
    format!(
        "POST /v2/batch HTTP/1.1\r\nhost: ferry\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\n{framing}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_99_mb_batch_is_refused_without_the_gateway_holding_it() {
    let redis = TestRedis::start().await;
    let gateway = Gateway::start(&redis).await;
    let before = gateway.peak_rss();

    for chunked in [false, true] {
        let length = (!chunked).then_some(BATCH_BYTES);
        let (status, body) = send_streaming(&gateway.api, batch_head(length), chunked).await;
        assert_eq!(status, 413, "chunked: {chunked}: {body}");
        let error: ErrorBody = serde_json::from_str(&body).expect("a JSON error");
        assert!(
            error
                .error
                .contains(&format!("{MAX_BATCH_BYTES}-byte limit")),
            "{}",
            error.error
        );
    }

    let grown = gateway.peak_rss().saturating_sub(before);
    assert!(
        grown < RSS_BOUND,
        "peak RSS grew by {grown} bytes (bound {RSS_BOUND}) for refused batches"
    );
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let redis = TestRedis::start().await;
    let gateway = Gateway::start(&redis).await;
    let (status, body) = get(&gateway.metrics, "/metrics").await.expect("an answer");
    assert_eq!(status, 200);
    assert!(body.contains("ferry_http_connections"), "{body}");
    let (status, body) = get(&gateway.api, "/metrics").await.expect("an answer");
    assert_eq!(
        status, 404,
        "not on the API's address once separate: {body}"
    );
    let (status, _) = get(&gateway.metrics, "/v2/messages")
        .await
        .expect("an answer");
    assert_eq!(status, 404, "the metrics listener serves nothing else");
}

/// Runs `ferry serve --config <file>`, which must fail; returns stderr.
async fn startup_error(config: &Path) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ferry exits")
    .expect("ferry runs");
    assert!(
        !output.status.success(),
        "a bad configuration must not start"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_mistyped_secret_is_reported_without_its_value() {
    let token = "ferry_Zx8Qv3mistyped0token0value";
    let key = "sig_mistypedSigningKey0000000000000";
    let cases = [
        format!("[[tenants]]\nname = \"a\"\ntokens = \"{token}\"\n"),
        format!("[[tenants]]\nname = \"a\"\ntokens = [\"t\"]\ninitial_signing_keys = \"{key}\"\n"),
        format!("[[tenants]]\nname = \"a\"\ntokens = [\"{token}]\n"),
    ];
    for contents in cases {
        let path = write_config("bad", &contents);
        let stderr = startup_error(&path).await;
        for secret in [token, key] {
            assert!(!stderr.contains(secret), "{stderr} reveals {secret}");
        }
        assert!(
            stderr.contains("tenants") || stderr.contains("line 3"),
            "the error says where: {stderr}"
        );
    }
}
