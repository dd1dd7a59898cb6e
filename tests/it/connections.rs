//! What a client can do with connections alone, on raw sockets: silent,
//! idle and h2c-preface-only connections are closed, the connection cap
//! holds, hyper's own refusals and timeouts answer with JSON, and a refused
//! request either keeps its keep-alive connection usable or says
//! `Connection: close`.

use std::time::Duration;

use ferry_core::wire::ErrorBody;
use ferry_gateway::GatewayConfig;
use ferry_tests::ferry::{TOKEN, TestFerry, TestOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: the assertions are about closing at all, not about speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// The h2c client preface followed by an empty SETTINGS frame.
const H2C_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn start(gateway: GatewayConfig) -> TestFerry {
    TestFerry::start_with(TestOptions {
        gateway,
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await
}

async fn connect(ferry: &TestFerry) -> TcpStream {
    let addr = ferry.base_url.trim_start_matches("http://");
    TcpStream::connect(addr)
        .await
        .expect("connect to the gateway")
}

/// Reads until the server closes the connection (or resets it).
async fn closed_by_server(mut stream: TcpStream) {
    let mut buf = [0_u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// One HTTP/1.1 response: status, head (lower-cased) and body.
struct RawResponse {
    status: u16,
    head: String,
    body: String,
}

impl RawResponse {
    fn says_close(&self) -> bool {
        self.head.contains("\r\nconnection: close\r\n")
    }

    fn error(&self) -> String {
        let body: ErrorBody = serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body {:?} is not {{\"error\": ...}}: {e}",
                self.status, self.body
            )
        });
        body.error
    }
}

/// Reads one response with a `Content-Length` body; `None` if the
/// connection ends first.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> Option<RawResponse> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse().expect("a numeric content-length"));
    while data.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
    Some(RawResponse { status, head, body })
}

async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Option<RawResponse> {
    stream.write_all(request).await.ok()?;
    tokio::time::timeout(PATIENCE, read_response(stream))
        .await
        .expect("an answer")
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: ferry\r\n\r\n";

#[tokio::test]
async fn quiet_connections_are_closed_while_clients_are_served() {
    let ferry = start(GatewayConfig {
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(3),
        ..GatewayConfig::default()
    })
    .await;
    let mut quiet = Vec::new();
    // Connections that never send a byte.
    for _ in 0..200 {
        quiet.push(connect(&ferry).await);
    }
    // h2c connections that stop after the preface.
    for _ in 0..150 {
        let mut stream = connect(&ferry).await;
        stream.write_all(H2C_PREFACE).await.unwrap();
        quiet.push(stream);
    }
    // HTTP/1.1 keep-alive connections idle after one request.
    for _ in 0..150 {
        let mut stream = connect(&ferry).await;
        let answer = exchange(&mut stream, HEALTHZ).await.expect("served");
        assert_eq!(answer.status, 200);
        quiet.push(stream);
    }

    let published = ferry
        .http()
        .post(ferry.url("/v2/publish/https://a.example/hook"))
        .bearer_auth(TOKEN)
        .body("still served")
        .send()
        .await
        .unwrap();
    assert_eq!(
        published.status().as_u16(),
        201,
        "a normal client is served"
    );

    let mut closing = tokio::task::JoinSet::new();
    for stream in quiet {
        closing.spawn(closed_by_server(stream));
    }
    tokio::time::timeout(PATIENCE, closing.join_all())
        .await
        .expect("every quiet connection is closed by the gateway");
}

#[tokio::test]
async fn an_h2c_connection_that_pings_but_sends_no_request_is_closed() {
    let ferry = start(GatewayConfig {
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        ..GatewayConfig::default()
    })
    .await;
    let mut stream = connect(&ferry).await;
    stream.write_all(H2C_PREFACE).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // Keeps the connection busy with PING frames, never a request.
    let pinger = tokio::spawn(async move {
        let ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00pingpong";
        while write.write_all(ping).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = [0_u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        while read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })
    .await
    .expect("the gateway closes a connection that sends no request");
    pinger.abort();
}

#[tokio::test]
async fn at_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let ferry = start(GatewayConfig {
        max_connections: 8,
        ..GatewayConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = connect(&ferry).await;
        assert_eq!(exchange(&mut stream, HEALTHZ).await.unwrap().status, 200);
        held.push(stream);
    }
    let mut waiting = connect(&ferry).await;
    waiting.write_all(HEALTHZ).await.unwrap();
    let mut peek = [0_u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), waiting.peek(&mut peek)).await;
    assert!(
        early.is_err(),
        "a ninth connection is not served at the cap"
    );
    drop(held.pop());
    let answer = tokio::time::timeout(PATIENCE, read_response(&mut waiting))
        .await
        .expect("served once a slot is free")
        .expect("an answer");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn refusals_by_the_http_layer_have_json_bodies() {
    let ferry = start(GatewayConfig {
        request_timeout: Duration::from_secs(1),
        ..GatewayConfig::default()
    })
    .await;

    let mut stream = connect(&ferry).await;
    let answer = exchange(&mut stream, b"NOT HTTP AT ALL\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    assert!(answer.error().contains("malformed"), "{}", answer.error());

    let many: String = (0..150).map(|i| format!("x-filler-{i}: v\r\n")).collect();
    let mut stream = connect(&ferry).await;
    let request = format!("GET /healthz HTTP/1.1\r\nhost: ferry\r\n{many}\r\n");
    let answer = exchange(&mut stream, request.as_bytes()).await.unwrap();
    assert_eq!(answer.status, 431);
    assert!(
        answer.error().contains("at most 100 headers"),
        "{}",
        answer.error()
    );

    let huge = "v".repeat(70_000);
    let mut stream = connect(&ferry).await;
    let request = format!("GET /healthz HTTP/1.1\r\nhost: ferry\r\nx-huge: {huge}\r\n\r\n");
    let answer = exchange(&mut stream, request.as_bytes()).await.unwrap();
    assert_eq!(answer.status, 431);
    assert!(answer.error().contains("65536 bytes"), "{}", answer.error());

    // A body that never arrives in full outlives the request timeout.
    let mut stream = connect(&ferry).await;
    let request = format!(
        "POST /v2/publish/https://a.example/slow HTTP/1.1\r\nhost: ferry\r\n\
         authorization: Bearer {TOKEN}\r\ncontent-length: 10\r\n\r\nhalf"
    );
    let answer = exchange(&mut stream, request.as_bytes()).await.unwrap();
    assert_eq!(answer.status, 408);
    assert!(
        answer.error().contains("1-second limit"),
        "{}",
        answer.error()
    );
    assert!(answer.says_close(), "{}", answer.head);
}

#[tokio::test]
async fn a_refused_publish_keeps_the_connection_or_says_it_closes_it() {
    let ferry = start(GatewayConfig::default()).await;
    let body = "x".repeat(512 * 1024);
    let refused = format!(
        "POST /v2/publish/https://a.example/hook HTTP/1.1\r\nhost: ferry\r\n\
         authorization: Bearer {TOKEN}\r\nupstash-retries: many\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = connect(&ferry).await;
    let (mut read, mut write) = stream.split();
    // The gateway may answer before it read the body, so the body is sent
    // while the answer is read.
    let (_, answer) = tokio::join!(
        tokio::time::timeout(PATIENCE, write.write_all(refused.as_bytes())),
        tokio::time::timeout(PATIENCE, read_response(&mut read))
    );
    let answer = answer.expect("an answer").expect("a response");
    assert_eq!(answer.status, 400, "{}", answer.body);
    if answer.says_close() {
        return;
    }
    let second = exchange(&mut stream, HEALTHZ).await;
    assert!(
        second.is_some_and(|r| r.status == 200),
        "without Connection: close, the connection must serve the next request"
    );
}
