//! Per-destination lanes in a running Ferry: a destination that stops
//! answering holds only its own slots, and every other destination is
//! delivered as if it were not there.

use std::time::Duration;

use ferry_deliver::DeliverConfig;
use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{TestFerry, TestOptions, test_deliver_config};
use ferry_tests::sink::{Reply, TestSink};

const PER_HOST: usize = 4;

#[tokio::test]
async fn a_hanging_destination_does_not_delay_a_fast_one() {
    let ferry = TestFerry::start_with(TestOptions {
        deliver: DeliverConfig {
            max_in_flight: 32,
            max_in_flight_per_host: PER_HOST,
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(60),
            ..test_deliver_config()
        },
        ..TestOptions::default()
    })
    .await;
    let hanging = TestSink::start().await;
    hanging.respond(Reply::hang());
    let fast = TestSink::start().await;

    // The hanging destination's messages come first, so they would take the
    // whole budget if its lane could grow without bound.
    let sdk = ferry.sdk();
    let opts = PublishOptions::default();
    for i in 0..60 {
        let url = hanging.url(&format!("/stuck/{i}"));
        sdk.publish(&url, "stuck", &opts).await.expect("publish");
    }
    hanging
        .wait_for_requests(PER_HOST, Duration::from_secs(10))
        .await;
    let started = tokio::time::Instant::now();
    for i in 0..60 {
        let url = fast.url(&format!("/quick/{i}"));
        sdk.publish(&url, "quick", &opts).await.expect("publish");
    }
    fast.wait_for_requests(60, Duration::from_secs(20)).await;
    eprintln!(
        "60 deliveries to the fast destination took {:?}",
        started.elapsed()
    );
    assert_eq!(
        hanging.n_requests(),
        PER_HOST,
        "the hanging destination never has more than its slots in flight"
    );
}
