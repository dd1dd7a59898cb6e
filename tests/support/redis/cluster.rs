//! A private Redis Cluster: three primaries, optionally each with a replica,
//! every node a [`TestRedis`] on its own free port (and bus port), joined
//! with `redis-cli --cluster create` and awaited until every node reports
//! `cluster_state:ok` with all slots covered. Dropping it kills every node.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;

use super::TestRedis;

const PRIMARIES: usize = 3;
/// How long the nodes get to agree on the slot map after `create`.
const FORM_LIMIT: Duration = Duration::from_secs(30);
/// How long a replica gets to take over a killed primary's slots.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
/// A node declares an unreachable peer failed after this; small, so a
/// failover test does not wait long.
const NODE_TIMEOUT_MS: u64 = 1_000;
const SLOTS: &str = "16384";

pub struct TestCluster {
    nodes: Vec<TestRedis>,
}

impl TestCluster {
    /// Three primaries, no replicas.
    pub async fn start() -> TestCluster {
        TestCluster::form(0).await
    }

    /// Three primaries with one replica each, for failover tests.
    pub async fn start_with_replicas() -> TestCluster {
        TestCluster::form(1).await
    }

    async fn form(replicas_per_primary: usize) -> TestCluster {
        let mut nodes = Vec::new();
        for _ in 0..PRIMARIES * (1 + replicas_per_primary) {
            nodes.push(TestRedis::start_cluster_node(NODE_TIMEOUT_MS).await);
        }
        let cluster = TestCluster { nodes };
        cluster.create(replicas_per_primary).await;
        cluster.await_formed().await;
        cluster
    }

    /// `redis://127.0.0.1:<port>/` of every node, primaries and replicas.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(TestRedis::url)
            .collect()
    }

    /// The ports of the nodes that serve slots now, from the slot map of a
    /// live node.
    pub async fn primary_ports(&self) -> BTreeSet<u16> {
        slot_owners(&mut self.any_live_conn().await)
            .await
            .into_iter()
            .map(|(_, _, port)| port)
            .collect()
    }

    /// Connections to each primary, for per-node reads (`INFO`, `DBSIZE`).
    pub async fn primary_conns(&self) -> Vec<(u16, MultiplexedConnection)> {
        let mut conns = Vec::new();
        for port in self.primary_ports().await {
            conns.push((port, self.node(port).conn().await));
        }
        conns
    }

    /// Kills the primary serving slot 0 with SIGKILL, as a crash would, and
    /// returns its port.
    pub async fn kill_a_primary(&mut self) -> u16 {
        let owners = slot_owners(&mut self.any_live_conn().await).await;
        let port = owners
            .iter()
            .find(|(start, _, _)| *start == 0)
            .map(|(_, _, port)| *port)
            .unwrap_or_else(|| panic!("no primary serves slot 0: {owners:?}"));
        let index = self.index_of(port);
        self.nodes[index].kill().await;
        port
    }

    /// Waits until a replica has taken over the slots of the killed
    /// primary at `dead_port` and the cluster is whole again.
    pub async fn await_failover(&self, dead_port: u16) {
        let deadline = Instant::now() + FAILOVER_LIMIT;
        loop {
            let mut conn = self.any_live_conn().await;
            let owners = slot_owners(&mut conn).await;
            let moved = owners.iter().all(|(_, _, port)| *port != dead_port);
            if moved && cluster_info(&mut conn).await.contains("cluster_state:ok") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no replica took over from {dead_port} within {FAILOVER_LIMIT:?}: {owners:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Starts the killed node at `port` again from its files; it rejoins
    /// as a replica of the node that took over. Waits until the cluster is
    /// whole and every replica in sync.
    pub async fn restart_node(&mut self, port: u16) {
        let index = self.index_of(port);
        self.nodes[index].restart().await;
        self.await_formed().await;
    }

    async fn create(&self, replicas_per_primary: usize) {
        let addresses: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let output = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas_per_primary.to_string()])
            .arg("--cluster-yes")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|error| panic!("running redis-cli --cluster create: {error}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Every node sees the whole cluster, all slots served, and every
    /// replica is in sync with its primary.
    async fn await_formed(&self) {
        let deadline = Instant::now() + FORM_LIMIT;
        let n_nodes = self.nodes.len().to_string();
        for node in &self.nodes {
            let mut conn = node.conn().await;
            loop {
                let info = cluster_info(&mut conn).await;
                let replication = info_section(&mut conn, "replication").await;
                let formed = info.contains("cluster_state:ok")
                    && field(&info, "cluster_slots_ok") == Some(SLOTS)
                    && field(&info, "cluster_known_nodes") == Some(n_nodes.as_str())
                    && (field(&replication, "role") == Some("master")
                        || field(&replication, "master_link_status") == Some("up"));
                if formed {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster on {} not formed within {FORM_LIMIT:?}:\n{info}\n{replication}",
                    node.port()
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }

    async fn any_live_conn(&self) -> MultiplexedConnection {
        let node = self
            .nodes
            .iter()
            .find(|node| node.child.is_some())
            .unwrap_or_else(|| panic!("every cluster node is down"));
        node.conn().await
    }

    fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|node| node.port() == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"))
    }

    fn node(&self, port: u16) -> &TestRedis {
        &self.nodes[self.index_of(port)]
    }
}

/// `(first slot, last slot, port of the primary)` of every slot range.
async fn slot_owners(conn: &mut MultiplexedConnection) -> Vec<(u16, u16, u16)> {
    let ranges: Vec<::redis::Value> = ::redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap_or_else(|error| panic!("CLUSTER SLOTS: {error}"));
    let int = |value: &::redis::Value| match value {
        ::redis::Value::Int(n) => u16::try_from(*n).unwrap_or(0),
        other => panic!("CLUSTER SLOTS: not a number: {other:?}"),
    };
    ranges
        .iter()
        .map(|range| match range {
            // [first slot, last slot, [host, port, id], replicas…]
            ::redis::Value::Array(parts) => match &parts[2] {
                ::redis::Value::Array(primary) => {
                    (int(&parts[0]), int(&parts[1]), int(&primary[1]))
                }
                other => panic!("CLUSTER SLOTS: not a node: {other:?}"),
            },
            other => panic!("CLUSTER SLOTS: not a range: {other:?}"),
        })
        .collect()
}

async fn cluster_info(conn: &mut MultiplexedConnection) -> String {
    ::redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(conn)
        .await
        .unwrap_or_else(|error| panic!("CLUSTER INFO: {error}"))
}

async fn info_section(conn: &mut MultiplexedConnection, section: &str) -> String {
    ::redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap_or_else(|error| panic!("INFO {section}: {error}"))
}

/// The value of `name:` in an `INFO`-style text.
pub fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
