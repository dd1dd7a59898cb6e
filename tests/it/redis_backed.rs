//! Behaviour that depends on the Redis server itself: the eviction-policy
//! check at start, `ferry dev --redis` keeping messages across restarts,
//! a tenant's recorded home partition outliving a change of the partition
//! count, and processes refusing to start with a count other than the one
//! the installation recorded.

use std::process::Stdio;
use std::time::Duration;

use ferry::config::dev_credentials;
use ferry_core::ids::TenantId;
use ferry_sdk::PublishOptions;
use ferry_store::{RedisConfig, RedisStore, Store};
use ferry_tests::redis::{TestRedis, free_port, unique_prefix};
use ferry_tests::sink::TestSink;
use tokio::process::{Child, Command};

fn store_config(redis: &TestRedis) -> RedisConfig {
    RedisConfig {
        url: redis.url(),
        cluster_nodes: Vec::new(),
        wait_replicas: 0,
        wait_timeout: Duration::from_secs(1),
        prefix: unique_prefix(),
        partitions: 1,
        command_timeout: Duration::from_secs(5),
        max_backlog_per_partition: 0,
        max_tenant_backlog_per_partition: 0,
        dedup_window: Duration::from_secs(600),
        dlq_retention: Duration::from_secs(3600),
        events_max_len: 100,
        events_max_age: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn an_evicting_redis_is_refused_at_start() {
    let redis = TestRedis::start().await;
    let mut conn = redis.conn().await;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let refused = RedisStore::connect(store_config(&redis)).await.unwrap_err();
    assert!(
        matches!(&refused, ferry_store::Error::EvictingPolicy(policy) if policy == "allkeys-lru"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("noeviction"), "{refused}");

    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    RedisStore::connect(store_config(&redis))
        .await
        .expect("noeviction is accepted");
}

#[tokio::test]
async fn a_tenants_home_partition_outlives_a_change_of_the_partition_count() {
    let redis = TestRedis::start().await;
    let with_partitions = |partitions: u16, prefix: &str| RedisConfig {
        partitions,
        prefix: prefix.to_owned(),
        ..store_config(&redis)
    };
    let prefix = unique_prefix();
    let eight = RedisStore::connect(with_partitions(8, &prefix))
        .await
        .unwrap();
    // A tenant whose home is beyond partition 1, so that shrinking to two
    // partitions must move it.
    let mut found = None;
    for i in 0..64 {
        let tenant = TenantId::new(&format!("t{i}")).unwrap();
        let home = eight.queue_home(&tenant, "orders").await.unwrap();
        if home.0 >= 2 {
            found = Some((tenant, home));
            break;
        }
    }
    let (tenant, home) = found.expect("some tenant's home is beyond partition 1");

    let sixteen = RedisStore::connect(with_partitions(16, &prefix))
        .await
        .unwrap();
    assert_eq!(
        sixteen.flow_home(&tenant, "api").await.unwrap(),
        home,
        "a new key joins the tenant's queues, whatever the new count spreads to"
    );
    let two = RedisStore::connect(with_partitions(2, &prefix))
        .await
        .unwrap();
    let moved = two.queue_home(&tenant, "emails").await.unwrap();
    assert!(
        moved.0 < 2,
        "a home no deliverer reads is replaced: {moved:?}"
    );
    assert_eq!(two.flow_home(&tenant, "api").await.unwrap(), moved);
}

#[tokio::test]
async fn a_process_configured_with_another_partition_count_refuses_to_start() {
    let redis = TestRedis::start().await;
    let two = RedisConfig {
        partitions: 2,
        ..store_config(&redis)
    };
    let store = RedisStore::connect(two.clone()).await.unwrap();
    store
        .claim_partition_count()
        .await
        .expect("the first start records its count");
    store
        .claim_partition_count()
        .await
        .expect("the recorded count starts again");

    let config = std::env::temp_dir().join(format!("{}.toml", two.prefix));
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\nprefix = \"{}\"\npartitions = 4\n\n\
             [gateway]\nlisten = \"127.0.0.1:{}\"\n\n\
             [[tenants]]\nname = \"t\"\ntokens = [\"a-token-for-this-test\"]\n",
            redis.url(),
            two.prefix,
            free_port()
        ),
    )
    .unwrap();
    let gateway = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
        .arg("gateway")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), gateway)
        .await
        .expect("the gateway exits instead of serving")
        .unwrap();
    let _ = std::fs::remove_file(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("redis.partitions is 4, but this installation was started with 2 partitions"),
        "{stderr}"
    );
    assert!(stderr.contains(":v1:partitions"), "names the key: {stderr}");
    store
        .claim_partition_count()
        .await
        .expect("the refused start changed nothing");
}

/// `ferry dev --redis URL --port N` as a child process.
struct DevOnRedis {
    child: Child,
    port: u16,
}

impl DevOnRedis {
    async fn start(redis: &TestRedis) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .args(["dev", "--port", &port.to_string(), "--redis", &redis.url()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ferry dev");
        let dev = Self { child, port };
        dev.wait_until_serving().await;
        dev
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_serving(&self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let probe = http.get(format!("{}/healthz", self.url())).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ferry dev never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn ferry_dev_on_redis_keeps_messages_across_a_restart() {
    let redis = TestRedis::start().await;
    let sink = TestSink::start().await;
    let mut first = DevOnRedis::start(&redis).await;
    let sdk = ferry_sdk::Client::new(&first.url(), dev_credentials::TOKEN).unwrap();
    let later = PublishOptions {
        delay: Some("1h".into()),
        ..PublishOptions::default()
    };
    let kept = sdk
        .publish(&sink.url("/later"), "kept", &later)
        .await
        .unwrap()
        .message_id;
    let now = sdk
        .publish(&sink.url("/now"), "now", &PublishOptions::default())
        .await
        .unwrap()
        .message_id;
    sink.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(
        sink.requests()[0].message_id(),
        now,
        "loopback is allowed in dev mode"
    );
    first.child.kill().await.unwrap();

    let second = DevOnRedis::start(&redis).await;
    let sdk = ferry_sdk::Client::new(&second.url(), dev_credentials::TOKEN).unwrap();
    let message = sdk
        .message(&kept)
        .await
        .expect("the delayed message survived the restart");
    assert_eq!(message.body.as_deref(), Some("kept"));
    let keys = sdk.keys().await.unwrap();
    assert_eq!(keys.current, dev_credentials::CURRENT_SIGNING_KEY);
}
