//! A private `redis-server` child process per test, so the Redis runs of
//! the suite need nothing but the binary on `PATH`.
//!
//! The server keeps nothing on disk and is killed when the value is dropped,
//! so a failing test never leaves a process behind.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::{AsyncConnectionConfig, Client, RedisResult};
use tokio::time::Instant;

/// How long a fresh server gets to answer `PING`.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);
/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Timeout of one probe, short so a stuck probe cannot eat the startup budget.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// Fresh ports tried when another process takes the port between our probe
/// bind and the server's own bind.
const PORT_ATTEMPTS: usize = 5;

pub(crate) struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers.
    pub(crate) async fn start() -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut child = spawn(port);
            if wait_until_ready(&mut child, port).await {
                return Self { child, port };
            }
            reap(child);
        }
        panic!(
            "redis-server did not come up on any of {PORT_ATTEMPTS} free ports within {STARTUP_LIMIT:?} each"
        );
    }

    pub(crate) fn url(&self) -> String {
        url(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Both calls fail only when the process is gone already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

fn spawn(port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| match error.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "redis-server not found on PATH: install it (Debian: apt-get install redis-server) \
                 — integration tests never skip"
            ),
            _ => panic!("spawning redis-server: {error}"),
        })
}

/// True once the server answers `PING`; false when it exited (typically
/// because it lost the port) or stayed silent past the startup limit.
async fn wait_until_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + STARTUP_LIMIT;
    while Instant::now() < deadline {
        let exited = child
            .try_wait()
            .unwrap_or_else(|error| panic!("checking redis-server status: {error}"));
        if exited.is_some() {
            return false;
        }
        if ping(port).await.is_ok() {
            return true;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    false
}

async fn ping(port: u16) -> RedisResult<()> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROBE_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    let mut conn = Client::open(url(port))?
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}

fn reap(mut child: Child) {
    // Both calls fail only when the process is gone already.
    let _ = child.kill();
    let _ = child.wait();
}

/// A port that was free a moment ago; `start` absorbs the race by retrying.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("finding a free loopback port: {error}"))
}
