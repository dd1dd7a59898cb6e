//! A private `redis-server` child process for tests that must kill, restart or
//! otherwise abuse Redis, which the shared per-run Redis cannot allow.
//!
//! Each `TestRedis` owns its process, its port and its data directory, and
//! cleans all three up in `Drop`, so a failing test never leaves a server
//! behind. Helpers here panic instead of returning errors: they only run inside
//! tests, where a panic with a precise message is the most useful failure.

pub mod cluster;
#[cfg(test)]
mod tests;

pub use cluster::TestCluster;

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, RedisResult};

/// How long a fresh server gets to answer `PING` before the test fails.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);
/// Pause between readiness probes while the server starts.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Timeout of each readiness probe, kept short so a slow probe cannot eat the
/// whole startup budget.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// Response timeout of connections handed to tests. redis-rs 1.x defaults to
/// 500 ms, which a loaded CI machine can exceed without anything being wrong.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many fresh ports `start` tries when another process grabs the port
/// between our probe bind and `redis-server`'s own bind.
const PORT_ATTEMPTS: usize = 5;
/// The most of `redis-server`'s log quoted in a panic message.
const LOG_TAIL_CHARS: usize = 4000;
/// File in the data directory that receives `redis-server`'s stdout and stderr.
const LOG_FILE: &str = "redis-server.log";

/// A `redis-server` child process listening on a private loopback port.
pub struct TestRedis {
    /// Fixed after the first successful start, so `restart` comes back on the
    /// address that clients already hold.
    port: u16,
    /// Data and log directory; removed in `Drop`.
    dir: PathBuf,
    persistence: Persistence,
    /// The cluster bus port of a cluster node (see `cluster`); `None` for a
    /// plain server.
    bus_port: Option<u16>,
    /// `None` between `kill` and `restart`.
    child: Option<Child>,
}

/// Whether the server keeps its data across a kill.
#[derive(Clone, Copy, Debug)]
enum Persistence {
    /// No RDB and no AOF: a kill loses everything, as in the shared test Redis.
    None,
    /// AOF with `everysec` fsync: a killed process loses nothing it
    /// acknowledged, because the writes already sit in the OS page cache.
    AppendOnly,
    /// AOF as above, as a Redis Cluster node that declares a peer dead
    /// after this many milliseconds.
    ClusterNode(u64),
}

impl Persistence {
    fn args(self) -> Vec<String> {
        let aof = ["--appendonly", "yes", "--appendfsync", "everysec"];
        let args: Vec<&str> = match self {
            Persistence::None => vec!["--appendonly", "no"],
            Persistence::AppendOnly => aof.to_vec(),
            Persistence::ClusterNode(timeout_ms) => {
                let mut args = aof.to_vec();
                args.extend([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ]);
                return args
                    .into_iter()
                    .map(str::to_owned)
                    .chain(["--cluster-node-timeout".to_owned(), timeout_ms.to_string()])
                    .collect();
            }
        };
        args.into_iter().map(str::to_owned).collect()
    }
}

/// Why one attempt to bring the server up failed.
#[derive(Debug)]
enum BootFailure {
    Exited(ExitStatus),
    NoAnswer,
}

impl TestRedis {
    /// Starts a server that keeps nothing on disk.
    pub async fn start() -> TestRedis {
        TestRedis::launch(Persistence::None).await
    }

    /// Starts a server with AOF (`appendfsync everysec`) in its own
    /// directory, so data survives `kill` followed by `restart`.
    pub async fn start_with_aof() -> TestRedis {
        TestRedis::launch(Persistence::AppendOnly).await
    }

    /// The connection URL, `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        redis_url(self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until the
    /// process is gone. Does nothing if it is already down.
    pub async fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            // Reaping blocks until the kernel has torn the process down, which
            // belongs on the blocking pool rather than on a runtime worker.
            tokio::task::spawn_blocking(move || reap(child))
                .await
                .unwrap_or_else(|error| panic!("reaping killed redis-server failed: {error}"));
        }
    }

    /// Starts the server again on the same port and directory and waits until
    /// it answers `PING`. A server that is still running is killed first.
    pub async fn restart(&mut self) {
        self.kill().await;
        if let Err(failure) = self.boot().await {
            self.fail("restart", &failure);
        }
    }

    /// A new multiplexed connection with a 5 s response timeout.
    pub async fn conn(&self) -> MultiplexedConnection {
        connect(self.port, RESPONSE_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("connecting to test redis at {}: {error}", self.url()))
    }

    /// Deletes every key on the server.
    pub async fn flushall(&self) {
        let mut conn = self.conn().await;
        ::redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("FLUSHALL on {}: {error}", self.url()));
    }

    /// Starts an empty Redis Cluster node (AOF on, `cluster-node-timeout`
    /// of `node_timeout_ms`), not yet part of any cluster.
    pub(crate) async fn start_cluster_node(node_timeout_ms: u64) -> TestRedis {
        TestRedis::launch_with(Persistence::ClusterNode(node_timeout_ms), true).await
    }

    async fn launch(persistence: Persistence) -> TestRedis {
        TestRedis::launch_with(persistence, false).await
    }

    async fn launch_with(persistence: Persistence, cluster: bool) -> TestRedis {
        let mut redis = TestRedis {
            port: 0,
            dir: create_data_dir(),
            persistence,
            bus_port: None,
            child: None,
        };
        let mut attempts_left = PORT_ATTEMPTS;
        loop {
            redis.port = free_port();
            redis.bus_port = cluster.then(free_port);
            match redis.boot().await {
                Ok(()) => return redis,
                Err(BootFailure::Exited(_)) if attempts_left > 1 && redis.lost_port_race() => {
                    attempts_left -= 1;
                }
                Err(failure) => redis.fail("start", &failure),
            }
        }
    }

    /// Spawns the process and waits until it answers `PING` or gives up.
    async fn boot(&mut self) -> Result<(), BootFailure> {
        self.child = Some(self.spawn());
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(BootFailure::Exited(status));
            }
            if ping(self.port).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BootFailure::NoAnswer);
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    fn spawn(&self) -> Child {
        let log = File::create(self.log_path())
            .unwrap_or_else(|error| panic!("creating {}: {error}", self.log_path().display()));
        let log_for_stderr = log
            .try_clone()
            .unwrap_or_else(|error| panic!("duplicating redis-server log handle: {error}"));
        let port = self.port.to_string();
        let bus = self
            .bus_port
            .map(|bus| vec!["--cluster-port".to_owned(), bus.to_string()])
            .unwrap_or_default();
        Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(self.persistence.args())
            .args(bus)
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .unwrap_or_else(|error| match error.kind() {
                std::io::ErrorKind::NotFound => panic!(
                    "redis-server not found on PATH: install it (Debian: apt-get install \
                     redis-server) — integration tests never skip"
                ),
                _ => panic!("spawning redis-server: {error}"),
            })
    }

    /// Reaps the child if it has exited, so a dead process is not mistaken
    /// for a slow one and is not killed again in `Drop`.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child
            .try_wait()
            .unwrap_or_else(|error| panic!("checking redis-server status: {error}"))?;
        self.child = None;
        Some(status)
    }

    fn lost_port_race(&self) -> bool {
        self.log().contains("Address already in use")
    }

    fn fail(&self, action: &str, failure: &BootFailure) -> ! {
        let reason = match failure {
            BootFailure::Exited(status) => format!("redis-server exited with {status}"),
            BootFailure::NoAnswer => {
                format!("redis-server did not answer PING within {STARTUP_LIMIT:?}")
            }
        };
        panic!(
            "test redis {action} on port {} failed: {reason}\n--- redis-server log ---\n{}",
            self.port,
            tail(&self.log(), LOG_TAIL_CHARS)
        );
    }

    fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|error| format!("(log unreadable: {error})"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            reap(child);
        }
        // A leftover directory in the system temp dir is harmless, and
        // panicking in `Drop` could abort a test that is already unwinding.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A key prefix no other test uses: `ferry-test-<uuid v4, simple form>`.
pub fn unique_prefix() -> String {
    format!("ferry-test-{}", uuid::Uuid::new_v4().simple())
}

fn redis_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

async fn connect(port: u16, timeout: Duration) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    Client::open(redis_url(port))?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(port: u16) -> RedisResult<()> {
    let mut conn = connect(port, PROBE_TIMEOUT).await?;
    ::redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await?;
    Ok(())
}

/// Kills with SIGKILL and waits, so the port and the files are released by
/// the time this returns.
fn reap(mut child: Child) {
    // Both calls fail only if the process is already gone, which is the
    // outcome we want anyway.
    let _ = child.kill();
    let _ = child.wait();
}

/// A port that was free a moment ago. The OS picks it; we release it at once
/// and hand the number to `redis-server`, accepting a small race that
/// `launch` absorbs by retrying.
/// A loopback port that was free a moment ago; callers absorb the race
/// (another process taking it) by retrying or failing loudly.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("finding a free loopback port: {error}"))
}

fn create_data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{}-redis", unique_prefix()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
    dir
}

/// The last `max_chars` characters of `text`, where the cause of a failed
/// start usually is.
fn tail(text: &str, max_chars: usize) -> &str {
    let n_skipped = text.chars().count().saturating_sub(max_chars);
    let start = text
        .char_indices()
        .nth(n_skipped)
        .map_or(text.len(), |(idx, _)| idx);
    &text[start..]
}
