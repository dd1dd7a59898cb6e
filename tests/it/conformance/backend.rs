//! The two backends under test, behind one small trait so each case is
//! written once and run against both.

use std::time::Duration;

use ferry_store::{MemoryConfig, MemoryStore, RedisConfig, RedisStore, Store};

use ferry_tests::redis::{TestCluster, TestRedis, unique_prefix};

/// Event log lines kept per tenant; large enough never to matter here.
const EVENTS_MAX_LEN: u64 = 1_000;

/// The limits a case runs with; each case changes only what it tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) partitions: u16,
    pub(crate) max_backlog: u64,
    pub(crate) max_tenant_backlog: u64,
    pub(crate) dedup_window: Duration,
    pub(crate) dlq_retention: Duration,
    pub(crate) events_max_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            partitions: 1,
            max_backlog: 0,
            max_tenant_backlog: 0,
            dedup_window: Duration::from_secs(60),
            dlq_retention: Duration::from_secs(3600),
            // Long enough never to matter, but the age bound is applied.
            events_max_age: Duration::from_secs(3600),
        }
    }
}

/// Opens a fresh, empty store of one backend.
pub(crate) trait Backend {
    type Store: Store;

    async fn open(&self, settings: Settings) -> Self::Store;
}

pub(crate) struct Memory;

impl Backend for Memory {
    type Store = MemoryStore;

    async fn open(&self, settings: Settings) -> MemoryStore {
        MemoryStore::new(MemoryConfig {
            partitions: settings.partitions,
            max_backlog_per_partition: settings.max_backlog,
            max_tenant_backlog_per_partition: settings.max_tenant_backlog,
            dedup_window: settings.dedup_window,
            dlq_retention: settings.dlq_retention,
            events_max_len: EVENTS_MAX_LEN,
            events_max_age: settings.events_max_age,
        })
    }
}

/// A `redis-server` of the test's own; every store opened on it gets a key
/// prefix no other store uses.
pub(crate) struct Redis {
    server: TestRedis,
}

impl Redis {
    pub(crate) async fn start() -> Self {
        Self {
            server: TestRedis::start().await,
        }
    }
}

impl Backend for Redis {
    type Store = RedisStore;

    async fn open(&self, settings: Settings) -> RedisStore {
        open_redis(self.server.url(), Vec::new(), settings).await
    }
}

/// A Redis Cluster of the test's own, three primaries.
pub(crate) struct Cluster {
    cluster: TestCluster,
}

impl Cluster {
    pub(crate) async fn start() -> Self {
        Self {
            cluster: TestCluster::start().await,
        }
    }
}

impl Backend for Cluster {
    type Store = RedisStore;

    async fn open(&self, settings: Settings) -> RedisStore {
        open_redis(String::new(), self.cluster.urls(), settings).await
    }
}

async fn open_redis(url: String, cluster_nodes: Vec<String>, settings: Settings) -> RedisStore {
    let cfg = RedisConfig {
        url,
        cluster_nodes,
        wait_replicas: 0,
        wait_timeout: Duration::from_secs(1),
        prefix: unique_prefix(),
        partitions: settings.partitions,
        command_timeout: Duration::from_secs(5),
        max_backlog_per_partition: settings.max_backlog,
        max_tenant_backlog_per_partition: settings.max_tenant_backlog,
        dedup_window: settings.dedup_window,
        dlq_retention: settings.dlq_retention,
        events_max_len: EVENTS_MAX_LEN,
        events_max_age: settings.events_max_age,
    };
    RedisStore::connect(cfg.clone())
        .await
        .unwrap_or_else(|e| panic!("connecting to the test redis ({cfg:?}): {e}"))
}
