//! `ferry bench --spawn`: a private Ferry for one benchmark, started as a
//! child of this very executable against the Redis the user names.
//!
//! It gets a fresh key namespace, one tenant with a random token, a gateway
//! on a free loopback port, loopback deliveries allowed (the sink lives on
//! 127.0.0.0/8), and warnings-only logs on the benchmark's stderr. Every
//! delivery setting is the shipped default: the figures are the ones users
//! get. The Redis URL
//! travels in `FERRY_REDIS__URL` (a cluster's nodes in
//! `FERRY_REDIS__CLUSTER_NODES`) rather than in the file, so a password is
//! never written to disk; every other inherited `FERRY_*` variable is
//! removed so the user's environment cannot change what is measured. At the
//! end the child is killed and its keys are deleted from every primary.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use ferry_sdk::wire::SigningKeys;
use tokio::process::{Child, Command};

#[cfg(test)]
mod tests;

/// The tenant every benchmark message belongs to.
const TENANT: &str = "bench";
/// How long the child gets to answer its first API call.
const READY_LIMIT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);
/// Timeout of the commands that delete the namespace at the end.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variables that name the Redis to the child.
const REDIS_URL_VAR: &str = "FERRY_REDIS__URL";
const CLUSTER_NODES_VAR: &str = "FERRY_REDIS__CLUSTER_NODES";

/// The Redis the child runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SpawnRedis {
    Standalone(String),
    /// Some nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

impl SpawnRedis {
    /// The variable and value that tell the child where Redis is.
    fn env(&self) -> (&'static str, String) {
        match self {
            Self::Standalone(url) => (REDIS_URL_VAR, url.clone()),
            Self::Cluster(nodes) => (
                CLUSTER_NODES_VAR,
                serde_json::to_string(nodes).unwrap_or_default(),
            ),
        }
    }
}

/// Which roles the child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Roles {
    /// `ferry serve`: gateway and deliverer.
    Serve,
    /// `ferry gateway`: publishing only; nothing is delivered.
    GatewayOnly,
}

impl Roles {
    pub(super) fn subcommand(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::GatewayOnly => "gateway",
        }
    }
}

/// A running child Ferry. Dropping it kills the child and removes its
/// configuration file; [`SpawnedFerry::stop`] also deletes its keys.
pub(super) struct SpawnedFerry {
    child: Child,
    base_url: String,
    token: String,
    keys: SigningKeys,
    namespace: String,
    /// Removed when the child is gone.
    _config: ConfigFile,
}

impl SpawnedFerry {
    /// Starts the child and waits until its API answers.
    pub(super) async fn start(
        target: &SpawnRedis,
        roles: Roles,
        namespace: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let (token, digest_hex) = crate::config::generate_token();
        let config = ConfigFile::write(namespace, &config_toml(namespace, port, &digest_hex))?;
        let exe = std::env::current_exe().context("finding this executable to start ferry")?;
        let mut command = Command::new(exe);
        remove_ferry_settings(&mut command);
        let (redis_var, redis_value) = target.env();
        let mut child = command
            .arg(roles.subcommand())
            .arg("--config")
            .arg(&config.path)
            .env(redis_var, redis_value)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `ferry {}`", roles.subcommand()))?;
        let base_url = format!("http://127.0.0.1:{port}");
        let keys = wait_until_ready(&mut child, roles, &base_url, &token).await?;
        Ok(Self {
            child,
            base_url,
            token,
            keys,
            namespace: namespace.to_owned(),
            _config: config,
        })
    }

    pub(super) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(super) fn token(&self) -> &str {
        &self.token
    }

    /// The tenant's signing keys, read from the API once it answered.
    pub(super) fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the child and deletes every key it wrote on `primaries` (every
    /// primary of its Redis).
    pub(super) async fn stop(mut self, primaries: &[String]) -> anyhow::Result<()> {
        // Killing a child that already exited is not an error worth
        // reporting; the wait below reaps it either way.
        let _ = self.child.start_kill();
        self.child
            .wait()
            .await
            .context("waiting for the spawned ferry to exit")?;
        for node in primaries {
            ferry_store::baseline::remove_namespace(node, &self.namespace, CLEANUP_TIMEOUT)
                .await
                .with_context(|| format!("deleting the benchmark's keys {}:*", self.namespace))?;
        }
        Ok(())
    }
}

/// Polls the child's API until it answers with the tenant's signing keys.
async fn wait_until_ready(
    child: &mut Child,
    roles: Roles,
    base_url: &str,
    token: &str,
) -> anyhow::Result<SigningKeys> {
    let client = ferry_sdk::Client::new(base_url, token)?;
    let deadline = tokio::time::Instant::now() + READY_LIMIT;
    loop {
        if let Some(status) = child.try_wait().context("checking the spawned ferry")? {
            anyhow::bail!(
                "`ferry {}` exited with {status} before it was ready (its errors are above)",
                roles.subcommand()
            );
        }
        match client.keys().await {
            Ok(keys) => return Ok(keys),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(anyhow::Error::new(e).context(format!(
                    "`ferry {}` did not answer within {READY_LIMIT:?}",
                    roles.subcommand()
                )));
            }
            Err(_) => tokio::time::sleep(READY_POLL).await,
        }
    }
}

/// The child's configuration: everything but the Redis URL, which travels
/// in the environment.
fn config_toml(namespace: &str, port: u16, token_digest_hex: &str) -> String {
    format!(
        r#"[redis]
prefix = "{namespace}"

[gateway]
listen = "127.0.0.1:{port}"

[deliver]
allow_networks = ["127.0.0.0/8"]

[log]
filter = "warn"

[[tenants]]
name = "{TENANT}"
token_sha256 = ["{token_digest_hex}"]
"#
    )
}

/// A loopback port that was free a moment ago. The OS picks it; it is
/// released at once for the child to bind, a small race that shows up as
/// the child failing to start with a clear error.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

/// The child's configuration file, removed on drop. It holds only the
/// token's digest, but is still private to the user.
struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    fn write(namespace: &str, contents: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{namespace}.toml"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let config = Self { path };
        file.write_all(contents.as_bytes())
            .with_context(|| format!("writing {}", config.path.display()))?;
        Ok(config)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        // A leftover file in the temp directory is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes every inherited `FERRY_*` variable from `command`.
fn remove_ferry_settings(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|name| name.starts_with("FERRY_")) {
            command.env_remove(name);
        }
    }
}
