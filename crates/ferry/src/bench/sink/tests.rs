use std::time::{SystemTime, UNIX_EPOCH};

use ferry_core::signing::{self, SigningKey};

use super::*;

/// A sink with `n_issued` sequence numbers already handed out.
async fn sink(n_issued: u64, receiver: Option<Receiver>) -> Sink {
    let seqs = Sequencer::default();
    for _ in 0..n_issued {
        seqs.next();
    }
    Sink::start(Clock::start(), seqs, receiver, Duration::ZERO)
        .await
        .unwrap()
}

async fn deliver(sink: &Sink, body: bytes::Bytes, signature: Option<&str>) {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(sink.url())
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

#[tokio::test]
async fn deliveries_without_a_valid_signature_are_counted() {
    let current = SigningKey::generate();
    let receiver = Receiver::new(current.expose(), SigningKey::generate().expose()).unwrap();
    let sink = sink(3, Some(receiver)).await;
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign =
        |body: &[u8], url: &str| signing::sign(&current, url, &signing::body_hash(body), now_s, 5);

    let good = body::encode(0, 0, 32);
    deliver(&sink, good.clone(), Some(&sign(&good, sink.url()))).await;
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
