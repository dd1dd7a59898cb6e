//! `ferry deliver` processes for tests that kill, pause or stop them: the
//! real binary as a child process, joined to a test's Ferry through a
//! configuration file naming the same Redis and key prefix.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_tests::ferry::{OTHER_TENANT, OTHER_TOKEN, TENANT, TOKEN, TestFerry};
use tokio::process::{Child, Command};

/// `deliver.max_in_flight` of every deliverer process: the most attempts
/// one of them can have in flight when it is killed.
pub(crate) const MAX_IN_FLIGHT: usize = 16;

/// The deliverer settings a test may change.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) lease_ttl: Duration,
    pub(crate) timeout: Duration,
    pub(crate) shutdown_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// `deliver.reclaim_interval` of every deliverer process.
pub(crate) const RECLAIM_INTERVAL: Duration = Duration::from_millis(500);

/// A `ferry deliver` process joined to a test's Ferry.
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

    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the deliverer");
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("deliverer is running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Freezes the process (SIGSTOP), as a long pause of a VM or GC would.
    pub(crate) async fn pause(&self) {
        self.signal("STOP").await;
    }

    pub(crate) async fn resume(&self) {
        self.signal("CONT").await;
    }

    /// Sends SIGTERM and waits for the process to exit on its own.
    pub(crate) async fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM").await;
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("deliverer exits within its shutdown grace")
            .expect("wait for the deliverer")
    }
}

/// A configuration file for deliverers of `ferry` with default settings.
pub(crate) fn write_config(ferry: &TestFerry) -> PathBuf {
    write_config_with(ferry, &Settings::default())
}

pub(crate) fn write_config_with(ferry: &TestFerry, settings: &Settings) -> PathBuf {
    static N_WRITTEN: AtomicUsize = AtomicUsize::new(0);
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
default_timeout = "{timeout}ms"
max_timeout = "{timeout}ms"
lease_ttl = "{lease_ttl}ms"
reclaim_interval = "{reclaim_interval}ms"
promote_interval = "50ms"
read_block = "200ms"
shutdown_grace = "{shutdown_grace}ms"

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
        timeout = settings.timeout.as_millis(),
        lease_ttl = settings.lease_ttl.as_millis(),
        reclaim_interval = RECLAIM_INTERVAL.as_millis(),
        shutdown_grace = settings.shutdown_grace.as_millis(),
    );
    let n = N_WRITTEN.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("{}-{n}.toml", redis.prefix));
    std::fs::write(&path, toml).expect("write deliverer config");
    path
}
