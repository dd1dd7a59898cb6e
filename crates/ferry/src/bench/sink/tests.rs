use std::time::{SystemTime, UNIX_EPOCH};

use ferry_core::signing::{self, SigningKey};

use super::*;

/// A sink on `n_hosts` hosts with `n_issued` sequence numbers already
/// handed out.
async fn sink_on(n_hosts: u8, n_issued: u64, receiver: Option<Receiver>) -> Sink {
    let seqs = Sequencer::default();
    for _ in 0..n_issued {
        seqs.next();
    }
    Sink::start(Clock::start(), seqs, receiver, Duration::ZERO, n_hosts)
        .await
        .unwrap()
}

async fn sink(n_issued: u64, receiver: Option<Receiver>) -> Sink {
    sink_on(1, n_issued, receiver).await
}

async fn deliver(sink: &Sink, body: bytes::Bytes, signature: Option<&str>) {
    deliver_to(sink.first_url(), body, signature).await;
}

async fn deliver_to(url: &str, body: bytes::Bytes, signature: Option<&str>) {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(url)
        .body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn arrivals_are_counted_per_sequence_number_and_strays_are_unexpected() {
    let sink = sink(3, None).await;
    deliver(&sink, body::encode(0, 0, 64), None).await;
    deliver(&sink, body::encode(1, 0, 64), None).await;
    deliver(&sink, body::encode(1, 0, 64), None).await;
    // Never issued, and not a benchmark body at all.
    deliver(&sink, body::encode(7, 0, 64), None).await;
    deliver(&sink, bytes::Bytes::from_static(b"hello"), None).await;

    assert_eq!(sink.n_unique(), 2);
    let drain = sink.drain(&[0, 1, 2], Duration::from_millis(120)).await;
    assert!(!drain.complete, "message 2 never arrived");
    assert!(drain.elapsed >= Duration::from_millis(120));
    let arrivals = sink.take_arrivals();
    assert_eq!(arrivals.counts, [1, 2]);
    assert_eq!(arrivals.e2e_us.len(), 2, "one latency per first arrival");
    assert_eq!(arrivals.n_unexpected, 2);
}

#[tokio::test]
async fn a_drain_ends_as_soon_as_every_accepted_message_arrived() {
    let sink = sink(2, None).await;
    deliver(&sink, body::encode(0, 0, 16), None).await;
    deliver(&sink, body::encode(1, 0, 16), None).await;
    let drain = sink.drain(&[0, 1], Duration::from_secs(30)).await;
    assert!(drain.complete);
    assert!(drain.elapsed < Duration::from_secs(30));
}

/// Signs a body for a URL with `key`, as the relay would now.
fn signer(key: &SigningKey) -> impl Fn(&[u8], &str) -> String + '_ {
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    move |body, url| signing::sign(key, url, &signing::body_hash(body), now_s, 5)
}

#[tokio::test]
async fn deliveries_without_a_valid_signature_are_counted() {
    let current = SigningKey::generate();
    let receiver = Receiver::new(current.expose(), SigningKey::generate().expose()).unwrap();
    let sink = sink(3, Some(receiver)).await;
    let sign = signer(&current);

    let good = body::encode(0, 0, 32);
    deliver(&sink, good.clone(), Some(&sign(&good, sink.first_url()))).await;
    assert_eq!(sink.n_signature_failures(), 0);

    let unsigned = body::encode(1, 0, 32);
    deliver(&sink, unsigned, None).await;
    let signed_for_elsewhere = body::encode(2, 0, 32);
    let elsewhere = sign(&signed_for_elsewhere, "http://127.0.0.1:1/other");
    deliver(&sink, signed_for_elsewhere, Some(&elsewhere)).await;
    assert_eq!(sink.n_signature_failures(), 2);
    assert_eq!(
        sink.n_unique(),
        3,
        "failed deliveries still count as arrived"
    );
}

#[tokio::test]
async fn each_host_listens_on_its_own_loopback_address_and_checks_its_own_url() {
    let current = SigningKey::generate();
    let receiver = Receiver::new(current.expose(), SigningKey::generate().expose()).unwrap();
    let sink = sink_on(3, 4, Some(receiver)).await;
    let port = sink
        .first_url()
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches(PATH);
    assert_eq!(
        sink.urls(),
        [1, 2, 3].map(|k| format!("http://127.0.0.{k}:{port}{PATH}"))
    );
    let sign = signer(&current);

    for (seq, host) in [(0, 0), (1, 1), (2, 1)] {
        let body = body::encode(seq, 0, 32);
        let url = &sink.urls()[host];
        deliver_to(url, body.clone(), Some(&sign(&body, url))).await;
    }
    // Signed for host 1 but delivered to host 3: the URL claim is wrong
    // there.
    let misrouted = body::encode(3, 0, 32);
    let signature = sign(&misrouted, &sink.urls()[0]);
    deliver_to(&sink.urls()[2], misrouted, Some(&signature)).await;

    assert_eq!(sink.n_signature_failures(), 1);
    assert_eq!(sink.take_arrivals().per_host, [1, 2, 1]);
    assert_eq!(
        sink.take_arrivals().per_host,
        [0, 0, 0],
        "taking the arrivals leaves a count per host at zero"
    );
}

#[tokio::test]
async fn a_host_address_already_taken_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();

    let error = bind_hosts(3, port).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.starts_with(&format!(
            "binding the sink to 127.0.0.2:{port} (every sink host"
        )),
        "{message}"
    );
}

#[test]
fn hosts_are_consecutive_loopback_addresses() {
    let first_three: Vec<Ipv4Addr> = host_ips(3).collect();
    assert_eq!(
        first_three,
        [[127, 0, 0, 1], [127, 0, 0, 2], [127, 0, 0, 3]].map(Ipv4Addr::from)
    );
    assert_eq!(host_ips(254).last(), Some(Ipv4Addr::new(127, 0, 0, 254)));
}
