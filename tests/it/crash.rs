//! Deliverer processes that die or are stopped: nothing accepted is lost.
//! These tests run the real `ferry deliver` binary as a child process.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{OTHER_TENANT, OTHER_TOKEN, TENANT, TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::{Reply, TestSink};
use tokio::process::{Child, Command};

const MAX_IN_FLIGHT: usize = 16;
/// `deliver.reclaim_min_idle` in the deliverers' configuration below.
const RECLAIM_MIN_IDLE: Duration = Duration::from_secs(8);

/// A `ferry deliver` process configured to join `ferry`.
pub(crate) struct Deliverer {
    child: Child,
}

impl Deliverer {
    pub(crate) fn spawn(config: &PathBuf) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .arg("deliver")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ferry deliver");
        Self { child }
    }

    async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the deliverer");
    }

    /// Sends SIGTERM and waits for the process to exit on its own.
    pub(crate) async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("deliverer is running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .expect("run kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("deliverer exits within its shutdown grace")
            .expect("wait for the deliverer")
    }
}

pub(crate) fn write_config(ferry: &TestFerry) -> PathBuf {
    let redis = ferry.redis_config();
    let toml = format!(
        r#"
[redis]
url = "{url}"
prefix = "{prefix}"
partitions = {partitions}

[deliver]
allow_networks = ["127.0.0.1/32"]
max_in_flight = {MAX_IN_FLIGHT}
batch_size = 8
default_timeout = "2s"
max_timeout = "2s"
reclaim_min_idle = "{reclaim_min_idle}s"
reclaim_interval = "500ms"
promote_interval = "50ms"
read_block = "200ms"
shutdown_grace = "5s"

[log]
filter = "warn"

[[tenants]]
name = "{TENANT}"
tokens = ["{TOKEN}"]

[[tenants]]
name = "{OTHER_TENANT}"
tokens = ["{OTHER_TOKEN}"]
"#,
        url = redis.url,
        prefix = redis.prefix,
        partitions = redis.partitions,
        reclaim_min_idle = RECLAIM_MIN_IDLE.as_secs(),
    );
    let path = std::env::temp_dir().join(format!("{}.toml", redis.prefix));
    std::fs::write(&path, toml).expect("write deliverer config");
    path
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

/// Waits until every id has been delivered at least once.
async fn wait_all_delivered(sink: &TestSink, ids: &[String], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
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
            tokio::time::Instant::now() < deadline,
            "{missing} of {} accepted messages never delivered",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_deliverer_killed_mid_batch_loses_nothing() {
    let ferry = TestFerry::start_with(TestOptions {
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await;
    let sink = TestSink::start().await;
    // Slow answers keep a batch in flight when the kill lands.
    sink.respond(Reply::delay(Duration::from_millis(50), Reply::status(200)));
    let config = write_config(&ferry);
    let ids = publish_many(&ferry, &sink.url("/crash"), 300).await;

    let mut first = Deliverer::spawn(&config);
    sink.wait_for_requests(40, Duration::from_secs(20)).await;
    first.kill().await;
    let killed_at = tokio::time::Instant::now();
    let before_restart = sink.n_requests();
    assert!(
        before_restart < ids.len(),
        "the kill must land before the work is done"
    );

    let mut second = Deliverer::spawn(&config);
    wait_all_delivered(&sink, &ids, Duration::from_secs(60)).await;
    // Attempts that were in flight at the kill may be repeated once their
    // entries are reclaimed; by then every repeat has arrived.
    tokio::time::sleep_until(killed_at + RECLAIM_MIN_IDLE + Duration::from_secs(2)).await;
    sink.assert_quiet(Duration::from_secs(1)).await;
    let duplicates = sink.n_requests() - ids.len();
    assert!(
        duplicates <= MAX_IN_FLIGHT,
        "{duplicates} duplicates: only attempts in flight at the kill may repeat"
    );
    for id in ids.iter().step_by(30) {
        assert!(
            ferry.sdk().message(id).await.is_err(),
            "{id} is recorded as delivered"
        );
    }
    assert!(second.terminate().await.success());
}

#[tokio::test]
async fn sigterm_lets_an_attempt_in_flight_finish_and_record() {
    let ferry = TestFerry::start_with(TestOptions {
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(
        Duration::from_millis(1500),
        Reply::status(200),
    ));
    let config = write_config(&ferry);
    let mut deliverer = Deliverer::spawn(&config);
    let id = publish_many(&ferry, &sink.url("/slow"), 1).await.remove(0);
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
