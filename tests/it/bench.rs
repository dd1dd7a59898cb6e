//! `ferry bench` end to end: the real binary starts its own Ferry on a
//! private Redis, and its report must be right about what happened: nothing
//! lost on a healthy run, every destination host served when there are
//! several, losses found (and a failing exit status) when Redis forgets its
//! backlog mid-run. Figures are only checked for consistency; timing is
//! never asserted.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ferry_tests::redis::{TestCluster, TestRedis};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Generous bound on one benchmark run, startup and drain included.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// `EXIT_BAD_CONFIG` of the `ferry` binary.
const EXIT_BAD_FLAGS: i32 = 64;

/// `ferry bench --spawn` against `redis` with small numbers and a JSON
/// report, plus `extra` flags.
fn bench(redis: &TestRedis, extra: &[&str]) -> Child {
    bench_on(&["--redis", &redis.url()], extra)
}

/// `ferry bench --spawn` on the Redis named by `target` (its flag and
/// value) with small numbers and a JSON report, plus `extra` flags.
fn bench_on(target: &[&str], extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
        .args(["bench", "--spawn"])
        .args(target)
        .args(["--concurrency", "8", "--body-size", "64", "--json"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ferry bench")
}

/// What a finished run left behind.
struct Finished {
    status: ExitStatus,
    report: Value,
    stderr: String,
}

/// Waits for the run; `stderr_so_far` is whatever the test already read.
async fn finish(child: Child, stderr_so_far: String) -> Finished {
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("the benchmark finishes in time")
        .expect("wait for the benchmark");
    let stderr = stderr_so_far + &String::from_utf8_lossy(&output.stderr);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    Finished {
        status: output.status,
        report,
        stderr,
    }
}

fn count(run: &Value, pointer: &str) -> u64 {
    run.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no count at {pointer} in {run:#}"))
}

/// Checks that a run delivered every accepted message exactly as reported.
fn assert_clean(run: &Value, stderr: &str) {
    let published = count(run, "/published_ok");
    assert!(published > 0, "nothing was published: {run:#}\n{stderr}");
    assert_eq!(count(run, "/deliveries/lost"), 0, "{run:#}\n{stderr}");
    assert_eq!(
        count(run, "/deliveries/delivered_unique"),
        published,
        "{run:#}"
    );
    assert_eq!(count(run, "/deliveries/signature_failures"), 0, "{run:#}");
    assert_eq!(count(run, "/deliveries/unexpected"), 0, "{run:#}");
}

#[tokio::test]
async fn a_healthy_run_delivers_every_accepted_message_and_exits_zero() {
    let redis = TestRedis::start().await;
    let run = finish(bench(&redis, &["--duration", "2s"]), String::new()).await;

    assert!(run.status.success(), "exit {}\n{}", run.status, run.stderr);
    assert_clean(&run.report["ferry"], &run.stderr);
    assert!(
        run.report["ferry"]["cpu_s"].is_number(),
        "the spawned ferry's CPU time is measured: {:#}",
        run.report
    );
    assert!(
        run.stderr.contains("delivered"),
        "a progress line: {}",
        run.stderr
    );
    assert!(run.report["baseline"].is_null());
    assert_memory_measured(&run.report["ferry"]);
    let redis_cost = &run.report["ferry"]["redis"];
    let per_msg = |name: &str| redis_cost[name].as_f64().unwrap_or_default();
    assert!(
        per_msg("commands_per_msg") > 1.0 && per_msg("scripts_per_msg") > 0.0,
        "Redis's work per message is measured: {redis_cost:#}"
    );
    assert!(per_msg("redis_cpu_us_per_msg") > 0.0, "{redis_cost:#}");
    assert_eq!(redis_cost["primaries"].as_array().map(Vec::len), Some(1));
    assert!(
        redis_cost["commands_even"].is_null(),
        "one server has no spread"
    );
}

#[tokio::test]
async fn on_a_cluster_the_report_spreads_keys_and_commands_over_every_primary() {
    let cluster = TestCluster::start().await;
    // One node is enough: the others are found through it.
    let one_node = cluster.urls()[0].clone();
    let run = finish(
        bench_on(&["--redis-cluster", &one_node], &["--duration", "2s"]),
        String::new(),
    )
    .await;

    assert!(run.status.success(), "exit {}\n{}", run.status, run.stderr);
    assert_clean(&run.report["ferry"], &run.stderr);
    let redis_cost = &run.report["ferry"]["redis"];
    let primaries = redis_cost["primaries"].as_array().expect("primaries");
    assert_eq!(primaries.len(), 3, "{redis_cost:#}");
    for share in ["key_share", "command_share"] {
        let shares: Vec<f64> = primaries
            .iter()
            .map(|p| p[share].as_f64().unwrap_or_default())
            .collect();
        assert!(shares.iter().all(|s| *s > 0.0), "{share}: {redis_cost:#}");
        let sum: f64 = shares.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "{share}: {redis_cost:#}");
    }
    assert!(redis_cost["keys_even"].is_boolean(), "{redis_cost:#}");
    assert!(redis_cost["commands_even"].is_boolean(), "{redis_cost:#}");
    assert!(
        !run.report.to_string().contains(&one_node),
        "nodes are named by host and port only"
    );
}

/// Checks that the spawned ferry's resident memory was sampled: the first
/// sample, the one as publishing ended, and a peak no smaller than either.
fn assert_memory_measured(run: &Value) {
    let rss = |name: &str| {
        run["rss_mib"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("no rss_mib.{name} in {run:#}"))
    };
    let (first, last, max) = (rss("first"), rss("last"), rss("max"));
    assert!(first > 0.0 && last > 0.0, "{run:#}");
    assert!(max >= first && max >= last, "{run:#}");
}

#[tokio::test]
async fn messages_take_turns_among_the_hosts_and_each_host_receives_its_share() {
    let redis = TestRedis::start().await;
    let run = finish(
        bench(&redis, &["--duration", "2s", "--hosts", "3"]),
        String::new(),
    )
    .await;

    assert!(run.status.success(), "exit {}\n{}", run.status, run.stderr);
    let ferry = &run.report["ferry"];
    assert_clean(ferry, &run.stderr);
    assert_eq!(run.report["settings"]["hosts"], 3);
    let per_host: Vec<u64> = ferry["deliveries"]["delivered_per_host"]
        .as_array()
        .unwrap_or_else(|| panic!("no delivered_per_host in {ferry:#}"))
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect();
    assert_eq!(per_host.len(), 3, "{ferry:#}");
    assert_eq!(
        per_host.iter().sum::<u64>(),
        count(ferry, "/published_ok"),
        "{ferry:#}"
    );
    // Messages go to the hosts in turn, so the shares differ by one, plus
    // one per failed publish; no signature failed (`assert_clean`), so each
    // arrived at the host it was addressed to.
    let least = per_host.iter().min().copied().unwrap_or_default();
    let most = per_host.iter().max().copied().unwrap_or_default();
    assert!(least > 0, "a host received nothing: {per_host:?}");
    assert!(
        most - least <= 1 + count(ferry, "/published_failed"),
        "uneven shares: {per_host:?}"
    );
}

#[tokio::test]
async fn flushing_redis_mid_run_is_reported_as_loss_with_a_failing_exit() {
    let redis = TestRedis::start().await;
    // A slow sink keeps a backlog in Redis for the flush to destroy.
    let mut child = bench(
        &redis,
        &["--duration", "3s", "--drain", "3s", "--sink-delay", "1000"],
    );
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut seen = String::new();
    // The first progress line comes a second into the load.
    while !seen.contains("] sent ") {
        let n_read = stderr
            .read_line(&mut seen)
            .await
            .expect("read the benchmark's stderr");
        assert!(n_read > 0, "the benchmark ended before publishing:\n{seen}");
    }
    redis.flushall().await;
    // The rest of stderr is read concurrently so the child never blocks on
    // a full pipe.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest).await;
        rest
    });
    let mut run = finish(child, String::new()).await;
    run.stderr = seen + &rest.await.expect("stderr reader");

    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    let ferry = &run.report["ferry"];
    assert!(
        count(ferry, "/deliveries/lost") > 0,
        "{ferry:#}\n{}",
        run.stderr
    );
    assert_eq!(ferry["deliveries"]["drain_complete"], false, "{ferry:#}");
    assert!(
        run.stderr.contains("were never delivered (lost)"),
        "the failure is explained: {}",
        run.stderr
    );
}

#[tokio::test]
async fn the_baseline_runs_first_and_ferry_is_stated_as_a_fraction_of_it() {
    let redis = TestRedis::start().await;
    let run = finish(
        bench(&redis, &["--duration", "1s", "--baseline"]),
        String::new(),
    )
    .await;

    assert!(run.status.success(), "exit {}\n{}", run.status, run.stderr);
    assert_clean(&run.report["baseline"], &run.stderr);
    assert_clean(&run.report["ferry"], &run.stderr);
    assert!(
        run.report["ferry_vs_baseline"]["e2e_rate"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{:#}",
        run.report
    );
    assert!(
        run.report["baseline"]["cpu_s"].is_number(),
        "{:#}",
        run.report
    );
    assert!(
        run.report["baseline"]["rss_mib"].is_null(),
        "the baseline runs inside the benchmark: no memory of its own: {:#}",
        run.report
    );
    let mut conn = redis.conn().await;
    let n_keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(n_keys, 0, "both relays' keys are deleted at the end");
}

#[tokio::test]
async fn contradicting_flags_exit_64_before_anything_starts() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
        .args(["bench", "--spawn"])
        .output()
        .await
        .expect("run ferry bench");
    assert_eq!(output.status.code(), Some(EXIT_BAD_FLAGS));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--spawn needs --redis"));
}
