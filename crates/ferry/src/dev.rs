//! `ferry dev`: a complete relay in one process for local development.
//!
//! It needs nothing but the binary: messages live in memory (or in Redis
//! with `--redis`), the gateway listens on 127.0.0.1:8080 with the public
//! QStash development token and signing keys, and loopback destinations are
//! allowed so local handlers can be called. An app with `QSTASH_DEV=true`
//! finds it there: the JS SDK probes `GET /v2/keys` on that port.

use std::io::Write;

use anyhow::Context;
use ferry_store::{KeyPair, MemoryConfig, MemoryStore, RedisStore, Store};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::server::{self, Roles};

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Port of the HTTP API on 127.0.0.1. The QStash SDKs' dev mode expects
    /// 8080 (or QSTASH_DEV_PORT).
    #[arg(long, short, default_value_t = 8080, env = "FERRY_DEV_PORT")]
    pub port: u16,
    /// Keep messages in this Redis (`redis://host:port`) instead of memory,
    /// so they survive a restart.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Keep messages in this Redis Cluster instead of memory: some of its
    /// nodes, comma-separated (`redis://host:7000,redis://host:7001`).
    #[arg(
        long,
        value_name = "URL[,URL...]",
        value_delimiter = ',',
        conflicts_with = "redis"
    )]
    pub redis_cluster: Vec<String>,
}

/// The development configuration for `args`, with `FERRY_*` overrides.
pub fn config(args: &DevArgs, env: &[(String, String)]) -> anyhow::Result<Config> {
    config::dev(args.port, args.redis.as_deref(), &args.redis_cluster, env)
}

pub async fn run(args: &DevArgs, config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    crate::signal::cancel_on_signal(shutdown.clone());
    let roles = Roles {
        gateway: true,
        deliver: true,
    };
    let on_redis = args.redis.is_some() || !args.redis_cluster.is_empty();
    match on_redis {
        true => {
            let store = RedisStore::connect(config.redis_config())
                .await
                .context("connecting to the redis given with --redis or --redis-cluster")?;
            store.claim_partition_count().await?;
            announce(&store, &config, "redis").await?;
            let mut registry = Registry::default();
            store.register_metrics(&mut registry);
            server::run_with_store(store, registry, &config, roles, shutdown).await
        }
        false => {
            let store = MemoryStore::new(memory_config(&config));
            announce(&store, &config, "memory: messages are gone when it stops").await?;
            server::run_with_store(store, Registry::default(), &config, roles, shutdown).await
        }
    }
}

fn memory_config(config: &Config) -> MemoryConfig {
    let redis = config.redis_config();
    MemoryConfig {
        partitions: redis.partitions,
        max_backlog_per_partition: redis.max_backlog_per_partition,
        max_tenant_backlog_per_partition: redis.max_tenant_backlog_per_partition,
        dedup_window: redis.dedup_window,
        dlq_retention: redis.dlq_retention,
        events_max_len: redis.events_max_len,
        events_max_age: redis.events_max_age,
    }
}

/// Prints where the relay listens and the credentials to use with it.
async fn announce<S: Store>(store: &S, config: &Config, storage: &str) -> anyhow::Result<()> {
    let tenant = &config.tenants[0];
    let initial = KeyPair {
        current: ferry_core::signing::SigningKey::new(
            config::dev_credentials::CURRENT_SIGNING_KEY,
        )?,
        next: ferry_core::signing::SigningKey::new(config::dev_credentials::NEXT_SIGNING_KEY)?,
    };
    let keys = store.ensure_signing_keys(&tenant.name, &initial).await?;
    let url = format!("http://{}", config.gateway.listen);
    let console = if config.console.enabled {
        format!("  Console: {url}/console (log in with the QSTASH_TOKEN below)\n\n")
    } else {
        String::new()
    };
    let banner = format!(
        "Ferry dev relay on {url} (storage: {storage})\n\
         \n\
         {console}\
         \x20 QSTASH_URL={url}\n\
         \x20 QSTASH_TOKEN={token}\n\
         \x20 QSTASH_CURRENT_SIGNING_KEY={current}\n\
         \x20 QSTASH_NEXT_SIGNING_KEY={next}\n\
         \n\
         These are the public development credentials; apps with QSTASH_DEV=true use them\n\
         automatically. Deliveries to 127.0.0.1 and ::1 are allowed in dev mode only.\n",
        token = config::dev_credentials::TOKEN,
        current = keys.current.expose(),
        next = keys.next.expose(),
    );
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (piped into `head`) must not stop the relay.
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}
