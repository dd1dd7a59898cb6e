//! The backlog per partition on `/metrics`, which is how an operator sees
//! an unbalanced installation: one series per partition and state, on
//! standalone Redis and on a cluster, whatever primary holds the partition.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{TestFerry, TestOptions};

/// Delayed messages published, enough that every partition gets some.
const MESSAGES: u64 = 48;
/// The sampler runs every second in tests; a few rounds are plenty.
const SAMPLE_WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_backlog_of_every_partition_is_on_metrics() {
    backlog_per_partition(TestOptions {
        partitions: 4,
        console: true,
        ..TestOptions::default()
    })
    .await;
}

#[tokio::test]
async fn on_a_cluster_the_backlog_of_every_partition_is_on_metrics() {
    backlog_per_partition(TestOptions {
        partitions: 16,
        console: true,
        cluster: true,
        ..TestOptions::default()
    })
    .await;
}

/// Publishes delayed messages (plain publishes take turns over the
/// partitions) and waits until `/metrics` shows each partition's share.
async fn backlog_per_partition(options: TestOptions) {
    let partitions = options.partitions;
    let ferry = TestFerry::start_with(options).await;
    let later = PublishOptions {
        delay: Some("1h".into()),
        ..PublishOptions::default()
    };
    let sdk = ferry.sdk();
    for n in 0..MESSAGES {
        sdk.publish("http://127.0.0.1:9/later", n.to_string(), &later)
            .await
            .expect("publish");
    }
    let deadline = tokio::time::Instant::now() + SAMPLE_WAIT;
    let delayed = loop {
        let delayed = delayed_per_partition(&ferry).await;
        if delayed.values().sum::<u64>() == MESSAGES {
            break delayed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sampler never reported {MESSAGES} delayed messages: {delayed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let labels: Vec<u16> = delayed.keys().copied().collect();
    assert_eq!(
        labels,
        (0..partitions).collect::<Vec<_>>(),
        "one series per configured partition, and no other"
    );
    assert!(
        delayed.values().all(|&n| n > 0),
        "every partition holds some of the messages: {delayed:?}"
    );
}

/// `ferry_backlog_messages{partition, state="delayed"}` by partition.
async fn delayed_per_partition(ferry: &TestFerry) -> BTreeMap<u16, u64> {
    let text = ferry
        .http()
        .get(ferry.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|line| {
            line.starts_with("ferry_backlog_messages{") && line.contains("state=\"delayed\"")
        })
        .filter_map(|line| {
            let partition = line.split("partition=\"").nth(1)?.split('"').next()?;
            let value = line.rsplit(' ').next()?;
            Some((partition.parse().ok()?, value.parse().ok()?))
        })
        .collect()
}
