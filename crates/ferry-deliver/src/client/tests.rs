use std::sync::Mutex;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A loopback HTTP/1.1 server that answers every request with one fixed
/// response and remembers the request heads it read.
struct TestServer {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start(response: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        let response: Arc<[u8]> = response.into();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(answer(stream, Arc::clone(&response), Arc::clone(&recorded)));
            }
        });
        Self { addr, heads }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

async fn answer(stream: TcpStream, response: Arc<[u8]>, heads: Arc<Mutex<Vec<String>>>) {
    let mut stream = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    heads.lock().unwrap().push(head);
    // The client may hang up early (a capped read does exactly that), so a
    // failed write is expected in some tests and not an error of the server.
    let _ = stream.get_mut().write_all(&response).await;
}

fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut response = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("connection: close\r\n\r\n");
    let mut response = response.into_bytes();
    response.extend_from_slice(body);
    response
}

fn client(allow: &[&str]) -> reqwest::Client {
    let cfg = ClientConfig {
        connect_timeout: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(10),
        pool_idle_timeout: Duration::from_secs(30),
        pool_max_idle_per_host: 4,
        user_agent: "ferry-test/1".to_owned(),
    };
    let allow = allow.iter().map(|net| net.parse().unwrap()).collect();
    build(&cfg, Arc::new(AddressPolicy::new(allow))).unwrap()
}

#[tokio::test]
async fn localhost_is_refused_when_loopback_is_not_allowlisted() {
    let server = TestServer::start(http_response("200 OK", &[], b"hello")).await;
    let err = client(&[])
        .get(format!("http://localhost:{}/", server.port()))
        .send()
        .await
        .unwrap_err();
    let reason = refused_by_policy(&err).expect("refusal from the resolver");
    // The range, but not the address: publishers see this reason.
    assert_eq!(
        reason,
        "localhost resolves only to refused addresses: loopback address \
         (add its network to deliver.allow_networks to permit it)",
    );
    assert!(server.heads().is_empty());
}

#[tokio::test]
async fn localhost_is_reached_when_loopback_is_allowlisted() {
    let server = TestServer::start(http_response("200 OK", &[], b"hello")).await;
    let resp = client(&["127.0.0.1/32"])
        .get(format!("http://localhost:{}/hook?x=1", server.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    assert_eq!(
        read_capped(resp, 1024).await.unwrap(),
        (Bytes::from_static(b"hello"), false)
    );
    let heads = server.heads();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("GET /hook?x=1 HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("user-agent: ferry-test/1\r\n"),
        "{}",
        heads[0]
    );
}

#[tokio::test]
async fn other_failures_are_not_reported_as_refusals() {
    // Bind and release a port so that nothing listens on it.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&["127.0.0.1/32"])
        .get(format!("http://localhost:{closed_port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(refused_by_policy(&err), None);
}

#[tokio::test]
async fn redirect_comes_back_as_the_response_and_is_not_followed() {
    let target = TestServer::start(http_response("200 OK", &[], b"internal")).await;
    let location = format!("http://127.0.0.1:{}/secret", target.port());
    let redirector =
        TestServer::start(http_response("302 Found", &[("location", &location)], b"")).await;
    let resp = client(&["127.0.0.1/32"])
        .post(format!("http://127.0.0.1:{}/hook", redirector.port()))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], location.as_str());
    assert_eq!(redirector.heads().len(), 1);
    assert!(target.heads().is_empty());
}

/// Serves a body of `body_len` patterned bytes and reads it with `cap`.
async fn check_capped(body_len: usize, cap: usize, expect_len: usize, expect_truncated: bool) {
    let body: Vec<u8> = (0..body_len).map(|idx| (idx % 251) as u8).collect();
    let server = TestServer::start(http_response("200 OK", &[], &body)).await;
    let resp = client(&["127.0.0.1/32"])
        .get(format!("http://127.0.0.1:{}/", server.port()))
        .send()
        .await
        .unwrap();
    let (kept, truncated) = read_capped(resp, cap).await.unwrap();
    assert_eq!(
        (kept.len(), truncated),
        (expect_len, expect_truncated),
        "body {body_len} bytes, cap {cap}",
    );
    assert_eq!(
        kept,
        body[..expect_len],
        "kept bytes are the start of the body"
    );
}

#[tokio::test]
async fn read_capped_stops_at_the_cap() {
    const KIB: usize = 1024;
    check_capped(1024 * KIB, 64 * KIB, 64 * KIB, true).await;
    check_capped(64 * KIB + 1, 64 * KIB, 64 * KIB, true).await;
    check_capped(64 * KIB, 64 * KIB, 64 * KIB, false).await;
    check_capped(100, 64 * KIB, 100, false).await;
    check_capped(10, 0, 0, true).await;
    check_capped(0, 0, 0, false).await;
}

/// The test run again in a child process with proxy variables set; its name
/// is spelled out because the child selects it with `--exact`.
const DIRECT_REQUEST_TEST: &str = "client::tests::allowlisted_loopback_server_is_reached_directly";

/// A proxy address where nothing listens: a request sent through it fails.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn allowlisted_loopback_server_is_reached_directly() {
    let server = TestServer::start(http_response("204 No Content", &[], b"")).await;
    let resp = client(&["127.0.0.1/32"])
        .post(format!("http://127.0.0.1:{}/direct", server.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::NO_CONTENT);
    // A proxied request would carry the absolute URL in its request line.
    assert!(server.heads()[0].starts_with("POST /direct HTTP/1.1\r\n"));
}

/// Runs [`allowlisted_loopback_server_is_reached_directly`] in a child whose
/// environment points every proxy variable at a dead proxy. The child's
/// environment is set on the command, so this process's stays untouched.
#[test]
fn proxy_variables_in_the_environment_are_ignored() {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args([DIRECT_REQUEST_TEST, "--exact", "--test-threads=1"]);
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        child.env(var, DEAD_PROXY);
    }
    for var in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        child.env_remove(var);
    }
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr),
    );
}
