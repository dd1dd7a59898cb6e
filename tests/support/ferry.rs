//! A whole Ferry for one test: its own `redis-server` (or, with
//! `TestOptions::cluster`, its own three-primary Redis Cluster), a gateway
//! on 127.0.0.1:0 and a deliverer, both in-process, under a unique key
//! prefix. Two tenants exist so tests can check isolation.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::ids::TenantId;
use ferry_core::signing::SigningKey;
use ferry_deliver::DeliverConfig;
use ferry_gateway::{AppState, GatewayConfig, TokenEntry, Tokens};
use ferry_store::{KeyPair, RedisConfig, RedisStore, Store};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::redis::{TestCluster, TestRedis, unique_prefix};
use crate::sink::TestSink;

pub const TOKEN: &str = "test-token-tenant-a";
pub const OTHER_TOKEN: &str = "test-token-tenant-b";
pub const TENANT: &str = "tenant-a";
/// A second token of [`TENANT`], shaped as the Upstash SDKs expect to find
/// their user id in (base64 JSON `{"UserID":"tenant-a",…}`): webhooks need it.
pub const WEBHOOK_TOKEN: &str = "eyJVc2VySUQiOiJ0ZW5hbnQtYSIsIlBhc3N3b3JkIjoid2ViaG9vay10ZXN0In0=";
pub const OTHER_TENANT: &str = "tenant-b";

/// Settings a test may change before starting Ferry.
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub deliver: DeliverConfig,
    pub gateway: GatewayConfig,
    pub partitions: u16,
    pub max_backlog_per_partition: u64,
    pub max_tenant_backlog_per_partition: u64,
    /// Run the deliverer in-process (tests that spawn deliverer processes say no).
    pub run_deliverer: bool,
    pub aof: bool,
    /// Serve the console beside the API, with the backlog sampled every second.
    pub console: bool,
    /// Run on a private three-primary Redis Cluster instead of one server.
    pub cluster: bool,
    /// With `cluster`, give each primary a replica (for failover tests).
    pub cluster_replicas: bool,
    /// `redis.wait_replicas` (only a cluster with replicas can meet it).
    pub wait_replicas: u32,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            deliver: test_deliver_config(),
            gateway: GatewayConfig::default(),
            partitions: 2,
            max_backlog_per_partition: 0,
            max_tenant_backlog_per_partition: 0,
            run_deliverer: true,
            aof: false,
            console: false,
            cluster: false,
            cluster_replicas: false,
            wait_replicas: 0,
        }
    }
}

/// Fast timings for tests; loopback is explicitly allowed, as an operator
/// would do for a local sink.
pub fn test_deliver_config() -> DeliverConfig {
    DeliverConfig {
        allow_networks: vec!["127.0.0.1/32".parse().expect("valid CIDR")],
        default_timeout: Duration::from_secs(2),
        max_timeout: Duration::from_secs(3),
        lease_ttl: Duration::from_secs(5),
        reclaim_interval: Duration::from_millis(500),
        promote_interval: Duration::from_millis(50),
        schedule_interval: Duration::from_millis(100),
        read_block: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(3),
        ..DeliverConfig::default()
    }
}

/// The Redis a `TestFerry` runs on.
pub enum Backing {
    Standalone(TestRedis),
    Cluster(TestCluster),
}

impl Backing {
    async fn start(options: &TestOptions) -> Backing {
        match (options.cluster, options.aof) {
            (true, _) if options.cluster_replicas => {
                Backing::Cluster(TestCluster::start_with_replicas().await)
            }
            (true, _) => Backing::Cluster(TestCluster::start().await),
            (false, true) => Backing::Standalone(TestRedis::start_with_aof().await),
            (false, false) => Backing::Standalone(TestRedis::start().await),
        }
    }

    /// The standalone server, for tests that inspect it.
    pub fn standalone(&self) -> &TestRedis {
        match self {
            Backing::Standalone(redis) => redis,
            Backing::Cluster(_) => panic!("this test needs a standalone redis"),
        }
    }

    /// The standalone server, for tests that kill and restart it.
    pub fn standalone_mut(&mut self) -> &mut TestRedis {
        match self {
            Backing::Standalone(redis) => redis,
            Backing::Cluster(_) => panic!("this test needs a standalone redis"),
        }
    }

    /// The cluster, for tests that kill its nodes.
    pub fn cluster_mut(&mut self) -> &mut TestCluster {
        match self {
            Backing::Cluster(cluster) => cluster,
            Backing::Standalone(_) => panic!("this test needs a redis cluster"),
        }
    }

    /// `redis.url` and `redis.cluster_nodes` for this backing.
    fn addresses(&self) -> (String, Vec<String>) {
        match self {
            Backing::Standalone(redis) => (redis.url(), Vec::new()),
            Backing::Cluster(cluster) => (String::new(), cluster.urls()),
        }
    }
}

pub struct TestFerry {
    pub redis: Backing,
    pub store: RedisStore,
    pub prefix: String,
    pub base_url: String,
    pub keys: KeyPair,
    pub options: TestOptions,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl TestFerry {
    pub async fn start() -> Self {
        Self::start_with(TestOptions::default()).await
    }

    pub async fn start_with(options: TestOptions) -> Self {
        let redis = Backing::start(&options).await;
        let prefix = unique_prefix();
        let store = RedisStore::connect(redis_config(&redis, &prefix, &options))
            .await
            .expect("connect to the test redis");
        let keys = KeyPair {
            current: SigningKey::generate(),
            next: SigningKey::generate(),
        };
        for tenant in [TENANT, OTHER_TENANT] {
            let tenant = TenantId::new(tenant).expect("valid tenant name");
            store
                .ensure_signing_keys(&tenant, &keys)
                .await
                .expect("store signing keys");
        }
        let shutdown = CancellationToken::new();
        let mut registry = Registry::default();
        let gateway_metrics = ferry_gateway::Metrics::register(&mut registry);
        let deliver_metrics = ferry_deliver::Metrics::register(&mut registry);
        let sampler = options
            .console
            .then(|| crate::console::sampler(&store, &mut registry));
        let gateway = GatewayConfig {
            max_backlog: options.max_backlog_per_partition * u64::from(options.partitions),
            max_backlog_per_tenant: options.max_tenant_backlog_per_partition
                * u64::from(options.partitions),
            ..options.gateway.clone()
        };
        let state = AppState {
            store: store.clone(),
            cfg: Arc::new(gateway),
            tokens: Arc::new(test_tokens()),
            metrics: gateway_metrics,
            registry: Arc::new(registry),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let mut tasks = Vec::new();
        let console = match sampler {
            Some(sampler) => {
                let samples = sampler.samples();
                tasks.push(tokio::spawn(sampler.run(shutdown.clone())));
                crate::console::routes(&state, samples)
            }
            None => axum::Router::new(),
        };
        tasks.push(tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                ferry_gateway::serve_with(listener, state, console, shutdown)
                    .await
                    .expect("gateway runs");
            }
        }));
        if options.run_deliverer {
            let store = store.clone();
            let cfg = options.deliver.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                ferry_deliver::run(store, cfg, deliver_metrics, shutdown)
                    .await
                    .expect("deliverer runs");
            }));
        }
        Self {
            redis,
            store,
            prefix,
            base_url,
            keys,
            options,
            shutdown,
            tasks,
        }
    }

    /// The SDK client of tenant A.
    pub fn sdk(&self) -> ferry_sdk::Client {
        self.sdk_for(TOKEN)
    }

    pub fn sdk_for(&self, token: &str) -> ferry_sdk::Client {
        ferry_sdk::Client::new(&self.base_url, token).expect("sdk client")
    }

    /// Enqueues a message to `queue` (to `/queued` of `sink`, body `q`) and
    /// publishes one outside any queue (to `/published`, body `p`), both as
    /// tenant A with `opts`; returns their ids, the queued one first.
    pub async fn enqueue_and_publish(
        &self,
        sink: &TestSink,
        queue: &str,
        opts: &ferry_sdk::PublishOptions,
    ) -> (String, String) {
        let sdk = self.sdk();
        let queued = sdk
            .enqueue(queue, &sink.url("/queued"), "q", opts)
            .await
            .expect("enqueue")
            .message_id;
        let published = sdk
            .publish(&sink.url("/published"), "p", opts)
            .await
            .expect("publish")
            .message_id;
        (queued, published)
    }

    /// A receiver holding the tenants' current and next keys.
    pub fn receiver(&self) -> ferry_sdk::Receiver {
        ferry_sdk::Receiver::new(self.keys.current.expose(), self.keys.next.expose())
            .expect("valid keys")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Plain HTTP, for requests the SDK would not send.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
    }

    /// Stops gateway and deliverer gracefully and waits for them.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            task.await.expect("ferry task ends cleanly");
        }
    }

    /// The options a separate deliverer process needs to join this Ferry.
    pub fn redis_config(&self) -> RedisConfig {
        redis_config(&self.redis, &self.prefix, &self.options)
    }
}

impl Drop for TestFerry {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn redis_config(redis: &Backing, prefix: &str, options: &TestOptions) -> RedisConfig {
    let (url, cluster_nodes) = redis.addresses();
    RedisConfig {
        url,
        cluster_nodes,
        wait_replicas: options.wait_replicas,
        wait_timeout: Duration::from_secs(2),
        prefix: prefix.to_owned(),
        partitions: options.partitions,
        command_timeout: Duration::from_secs(5),
        max_backlog_per_partition: options.max_backlog_per_partition,
        max_tenant_backlog_per_partition: options.max_tenant_backlog_per_partition,
        dedup_window: Duration::from_secs(600),
        dlq_retention: Duration::from_secs(7 * 86_400),
        events_max_len: 10_000,
        events_max_age: Duration::from_secs(3 * 86_400),
    }
}

fn test_tokens() -> Tokens {
    Tokens::new(vec![
        TokenEntry {
            digest: Tokens::digest(TOKEN),
            tenant: TenantId::new(TENANT).expect("valid tenant name"),
        },
        TokenEntry {
            digest: Tokens::digest(WEBHOOK_TOKEN),
            tenant: TenantId::new(TENANT).expect("valid tenant name"),
        },
        TokenEntry {
            digest: Tokens::digest(OTHER_TOKEN),
            tenant: TenantId::new(OTHER_TENANT).expect("valid tenant name"),
        },
    ])
}
