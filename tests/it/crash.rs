//! Deliverer processes that die, pause or stop: nothing accepted is lost, a
//! live deliverer keeps its attempts however long they run, and a deliverer
//! whose lease expired records nothing. These tests run the real
//! `ferry deliver` binary as child processes.

use std::time::Duration;

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{TestFerry, TestOptions};
use ferry_tests::sink::{Reply, TestSink};
use tokio::time::Instant;

use crate::deliverers::{Deliverer, MAX_IN_FLIGHT, Settings, write_config, write_config_with};

/// The bound the delivery promise states for taking over a dead
/// deliverer's attempts (lease expiry plus a reclaim round, with room for a
/// loaded machine).
const TAKEOVER_LIMIT: Duration = Duration::from_secs(30);

async fn ferry_without_deliverer() -> TestFerry {
    TestFerry::start_with(TestOptions {
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await
}

async fn publish_many(ferry: &TestFerry, url: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let publishes = chunk.iter().map(|i| {
            let sdk = ferry.sdk();
            let url = url.to_owned();
            let body = format!("seq:{i}");
            tokio::spawn(async move { sdk.publish(&url, body, &PublishOptions::default()).await })
        });
        for handle in publishes.collect::<Vec<_>>() {
            ids.push(handle.await.unwrap().expect("publish accepted").message_id);
        }
    }
    ids
}

async fn publish_one(ferry: &TestFerry, url: &str, opts: &PublishOptions) -> String {
    ferry
        .sdk()
        .publish(url, "one", opts)
        .await
        .expect("publish accepted")
        .message_id
}

/// Waits until every id has been delivered at least once.
async fn wait_all_delivered(sink: &TestSink, ids: &[String], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let seen: std::collections::HashSet<String> = sink
            .requests()
            .iter()
            .map(|r| r.message_id().to_owned())
            .collect();
        let missing = ids.iter().filter(|id| !seen.contains(*id)).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted messages not delivered within {timeout:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the message's outcome is recorded (it is gone from the API).
async fn wait_recorded(ferry: &TestFerry, id: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while ferry.sdk().message(id).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{id} not recorded as delivered within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_deliverers_attempts_are_taken_over_within_the_bound() {
    let ferry = ferry_without_deliverer().await;
    let sink = TestSink::start().await;
    // Slow answers keep a batch in flight when the kill lands.
    sink.respond(Reply::delay(Duration::from_millis(50), Reply::status(200)));
    let config = write_config(&ferry);
    let ids = publish_many(&ferry, &sink.url("/crash"), 300).await;

    let mut first = Deliverer::spawn(&config);
    sink.wait_for_requests(40, Duration::from_secs(20)).await;
    first.kill().await;
    let killed_at = Instant::now();
    assert!(
        sink.n_requests() < ids.len(),
        "the kill must land before the work is done"
    );

    let mut second = Deliverer::spawn(&config);
    wait_all_delivered(&sink, &ids, TAKEOVER_LIMIT).await;
    // The sink may have seen the attempts in flight at the kill already;
    // they are recorded only once the second deliverer has taken them over
    // and delivered them again, so the bound is on every outcome recorded.
    for id in &ids {
        let left = TAKEOVER_LIMIT.saturating_sub(killed_at.elapsed());
        wait_recorded(&ferry, id, left).await;
    }
    eprintln!(
        "every message recorded {:?} after the kill",
        killed_at.elapsed()
    );
    sink.assert_quiet(Duration::from_secs(1)).await;
    let duplicates = sink.n_requests() - ids.len();
    assert!(
        duplicates <= MAX_IN_FLIGHT,
        "{duplicates} duplicates: only attempts in flight at the kill may repeat"
    );
    assert!(second.terminate().await.success());
}

#[tokio::test]
async fn an_attempt_outliving_its_lease_many_times_is_delivered_once() {
    let ferry = ferry_without_deliverer().await;
    let sink = TestSink::start().await;
    let settings = Settings {
        lease_ttl: Duration::from_secs(2),
        timeout: Duration::from_secs(30),
        ..Settings::default()
    };
    let config = write_config_with(&ferry, &settings);
    // Two deliverers, so a second one is there to steal a long attempt if
    // its holder's liveness were judged by the entry's idle time.
    let mut deliverers = [Deliverer::spawn(&config), Deliverer::spawn(&config)];
    sink.respond_next(1, Reply::delay(Duration::from_secs(12), Reply::status(200)));
    let id = publish_one(
        &ferry,
        &sink.url("/slow-report"),
        &PublishOptions::default(),
    )
    .await;

    sink.wait_for_requests(1, Duration::from_secs(10)).await;
    wait_recorded(&ferry, &id, Duration::from_secs(25)).await;
    sink.assert_quiet(settings.lease_ttl * 2).await;
    assert_eq!(
        sink.n_requests(),
        1,
        "a 12 s attempt under a 2 s lease is made exactly once"
    );
    for deliverer in &mut deliverers {
        assert!(deliverer.terminate().await.success());
    }
}

#[tokio::test]
async fn a_paused_deliverer_is_taken_over_and_its_late_outcome_refused() {
    let ferry = ferry_without_deliverer().await;
    let sink = TestSink::start().await;
    let settings = Settings {
        lease_ttl: Duration::from_secs(2),
        timeout: Duration::from_secs(20),
        ..Settings::default()
    };
    let config = write_config_with(&ferry, &settings);
    // The paused deliverer's attempt fails; were its outcome recorded, a
    // retry one second later would bring a third request.
    sink.respond_next(1, Reply::delay(Duration::from_secs(6), Reply::status(500)));
    sink.respond_next(1, Reply::delay(Duration::from_secs(5), Reply::status(200)));
    let opts = PublishOptions {
        retries: Some(3),
        retry_delay: Some("1000".into()),
        ..PublishOptions::default()
    };

    let mut paused = Deliverer::spawn(&config);
    let id = publish_one(&ferry, &sink.url("/paused"), &opts).await;
    sink.wait_for_requests(1, Duration::from_secs(10)).await;
    paused.pause().await;

    let mut other = Deliverer::spawn(&config);
    sink.wait_for_requests(2, TAKEOVER_LIMIT).await;
    paused.resume().await;
    wait_recorded(&ferry, &id, Duration::from_secs(20)).await;
    sink.assert_quiet(Duration::from_secs(4)).await;
    let requests = sink.requests();
    assert_eq!(
        requests.len(),
        2,
        "the zombie's failed attempt was not retried"
    );
    assert!(requests.iter().all(|r| r.message_id() == id));

    // The resumed deliverer carries on under a new name.
    assert!(other.terminate().await.success());
    let next = publish_one(&ferry, &sink.url("/after-resume"), &opts).await;
    wait_recorded(&ferry, &next, Duration::from_secs(20)).await;
    assert_eq!(sink.n_requests_to("/after-resume"), 1);
    assert!(paused.terminate().await.success());
}

#[tokio::test]
async fn attempts_past_the_shutdown_grace_are_released_at_once() {
    let ferry = ferry_without_deliverer().await;
    let sink = TestSink::start().await;
    // A lease far longer than the takeover asserted below, so only giving
    // the lease up can explain a prompt takeover.
    let settings = Settings {
        lease_ttl: Duration::from_secs(60),
        timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(1),
    };
    let config = write_config_with(&ferry, &settings);
    sink.respond_next(1, Reply::delay(Duration::from_secs(20), Reply::status(200)));

    let mut stopping = Deliverer::spawn(&config);
    let id = publish_one(&ferry, &sink.url("/long"), &PublishOptions::default()).await;
    sink.wait_for_requests(1, Duration::from_secs(10)).await;
    let mut other = Deliverer::spawn(&config);
    let stopped_at = Instant::now();
    assert!(stopping.terminate().await.success());
    sink.wait_for_requests(2, Duration::from_secs(15)).await;
    let took = stopped_at.elapsed();
    assert!(
        took < settings.lease_ttl / 2,
        "taken over {took:?} after SIGTERM, long before the lease would expire"
    );
    wait_recorded(&ferry, &id, Duration::from_secs(10)).await;
    assert!(other.terminate().await.success());
}

#[tokio::test]
async fn sigterm_lets_an_attempt_in_flight_finish_and_record() {
    let ferry = ferry_without_deliverer().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(
        Duration::from_millis(1500),
        Reply::status(200),
    ));
    let config = write_config(&ferry);
    let mut deliverer = Deliverer::spawn(&config);
    let id = publish_one(&ferry, &sink.url("/slow"), &PublishOptions::default()).await;
    sink.wait_for_requests(1, Duration::from_secs(10)).await;

    let status = deliverer.terminate().await;
    assert!(status.success(), "graceful exit, got {status}");
    // The attempt finished during shutdown and its outcome was recorded.
    assert!(
        ferry.sdk().message(&id).await.is_err(),
        "delivered and acknowledged before exit"
    );
    assert_eq!(sink.n_requests(), 1);
}

#[tokio::test]
async fn a_deliverer_cut_off_from_redis_past_its_lease_carries_on_under_a_new_name() {
    let lease_ttl = Duration::from_secs(2);
    let mut ferry = TestFerry::start_with(TestOptions {
        aof: true,
        deliver: ferry_deliver::DeliverConfig {
            lease_ttl,
            default_timeout: Duration::from_secs(20),
            max_timeout: Duration::from_secs(20),
            ..ferry_tests::ferry::test_deliver_config()
        },
        ..TestOptions::default()
    })
    .await;
    let sink = TestSink::start().await;
    sink.respond_next(1, Reply::delay(Duration::from_secs(5), Reply::status(200)));
    let id = publish_one(&ferry, &sink.url("/cut-off"), &PublishOptions::default()).await;
    sink.wait_for_requests(1, Duration::from_secs(10)).await;

    // Redis is gone for longer than the lease; it comes back from its AOF
    // with the lease already expired.
    ferry.redis.standalone_mut().kill().await;
    tokio::time::sleep(lease_ttl + Duration::from_secs(1)).await;
    ferry.redis.standalone_mut().restart().await;

    // The first attempt's success cannot be recorded under the dead name,
    // so the entry is taken over and delivered again, then recorded.
    wait_recorded(&ferry, &id, TAKEOVER_LIMIT).await;
    assert_eq!(sink.n_requests_to("/cut-off"), 2);
    let next = publish_one(&ferry, &sink.url("/afterwards"), &PublishOptions::default()).await;
    wait_recorded(&ferry, &next, Duration::from_secs(10)).await;
    assert_eq!(sink.n_requests_to("/afterwards"), 1);
}
