use clap::Parser as _;

use super::*;
use crate::cli::{Cli, Command};

/// The plan for `ferry <argv…>`, or why the flags were refused.
fn plan(argv: &[&str]) -> Result<Plan, FlagError> {
    let cli = Cli::try_parse_from(std::iter::once("ferry").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?} does not parse: {e}"));
    let Command::Bench(args) = cli.command else {
        panic!("{argv:?} is not `ferry bench`");
    };
    Plan::new(&cli.ops, *args)
}

fn check_refused(argv: &[&str], expected: FlagError) {
    match plan(argv) {
        Ok(_) => panic!("{argv:?} was accepted"),
        Err(e) => assert_eq!(e, expected, "{argv:?}"),
    }
}

#[test]
fn contradicting_flags_are_refused() {
    let url = "http://127.0.0.1:8080/".to_owned();
    check_refused(&["bench", "--spawn"], FlagError::SpawnWithoutRedis);
    check_refused(
        &["bench", "--token", "t", "--redis", "redis://r"],
        FlagError::UnusedRedis,
    );
    check_refused(
        &["bench", "--token", "t", "--baseline"],
        FlagError::BaselineWithoutRedis,
    );
    check_refused(
        &["bench", "--token", "t", "--no-deliver"],
        FlagError::NoDeliverWithoutSpawn,
    );
    check_refused(
        &[
            "bench",
            "--spawn",
            "--redis",
            "redis://r",
            "--no-deliver",
            "--baseline",
        ],
        FlagError::BaselineWithoutDelivery,
    );
    check_refused(
        &["bench", "--url", &url],
        FlagError::MissingToken(url.clone()),
    );
    check_refused(
        &[
            "bench",
            "--token",
            "t",
            "--concurrency",
            "8",
            "--rate",
            "100",
        ],
        FlagError::BothModes,
    );
    check_refused(
        &["bench", "--token", "t", "--concurrency", "0"],
        FlagError::Zero("--concurrency"),
    );
    check_refused(
        &["bench", "--token", "t", "--rate", "0"],
        FlagError::Zero("--rate"),
    );
    check_refused(
        &[
            "bench",
            "--token",
            "t",
            "--rate",
            "10",
            "--max-outstanding",
            "0",
        ],
        FlagError::Zero("--max-outstanding"),
    );
    check_refused(
        &["bench", "--token", "t", "--duration", "0s"],
        FlagError::Zero("--duration"),
    );
    // Pids are 22 bits at most on Linux.
    check_refused(
        &["bench", "--token", "t", "--pid", "99999999"],
        FlagError::NoSuchProcess(99_999_999),
    );
}

#[test]
fn defaults_are_a_ten_second_closed_loop_of_64_with_256_byte_bodies() {
    let plan = plan(&["--token", "t", "bench"]).unwrap();
    assert_eq!(plan.load.schedule, Schedule::Closed { concurrency: 64 });
    assert_eq!(plan.load.body_size, 256);
    assert_eq!(plan.load.duration, Duration::from_secs(10));
    assert_eq!(plan.drain, Duration::from_secs(30));
    assert!(plan.baseline.is_none());
    assert!(!plan.json);
    assert!(plan.checks_deliveries());
    assert_eq!(plan.hosts, 1);
    assert!(matches!(plan.relay, Relay::Running { ref token, .. } if token == "t"));
}

#[test]
fn hosts_are_the_last_octet_of_a_loopback_address_so_1_to_254() {
    let hosts = |n: &str| plan(&["--token", "t", "bench", "--hosts", n]).map(|plan| plan.hosts);
    assert_eq!(hosts("8"), Ok(8));
    assert_eq!(hosts("254"), Ok(254));
    for refused in ["0", "255", "1000"] {
        let parsed = Cli::try_parse_from(["ferry", "--token", "t", "bench", "--hosts", refused]);
        let error = parsed
            .err()
            .unwrap_or_else(|| panic!("--hosts {refused} was accepted"));
        assert!(error.to_string().contains("--hosts"), "{error}");
    }
}

#[test]
fn a_rate_selects_the_open_loop_and_spawn_options_select_the_roles() {
    let plan = plan(&[
        "bench",
        "--spawn",
        "--redis",
        "redis://r",
        "--rate",
        "5000",
        "--duration",
        "2s",
        "--json",
    ])
    .unwrap();
    assert_eq!(
        plan.load.schedule,
        Schedule::Open {
            rate: 5000.0,
            max_outstanding: 1000
        }
    );
    assert_eq!(plan.load.duration, Duration::from_secs(2));
    assert!(plan.json);
    assert!(
        matches!(plan.relay, Relay::Spawn { roles: Roles::Serve, redis: SpawnRedis::Standalone(ref redis) } if redis == "redis://r")
    );

    let publish_only =
        super::tests::plan(&["bench", "--spawn", "--redis", "redis://r", "--no-deliver"]).unwrap();
    assert!(matches!(
        publish_only.relay,
        Relay::Spawn {
            roles: Roles::GatewayOnly,
            ..
        }
    ));
    assert!(!publish_only.checks_deliveries());
}

#[test]
fn a_spawned_ferry_runs_on_the_cluster_given() {
    let plan = plan(&[
        "bench",
        "--spawn",
        "--redis-cluster",
        "redis://a:7000,redis://b:7000",
    ])
    .unwrap();
    let nodes = vec!["redis://a:7000".to_owned(), "redis://b:7000".to_owned()];
    assert!(
        matches!(plan.relay, Relay::Spawn { redis: SpawnRedis::Cluster(ref n), .. } if *n == nodes)
    );
    check_refused(
        &["bench", "--token", "t", "--redis-cluster", "redis://a:7000"],
        FlagError::UnusedCluster,
    );
}

#[test]
fn the_baseline_runs_on_the_redis_given() {
    let plan = plan(&[
        "bench",
        "--token",
        "t",
        "--redis",
        "redis://b",
        "--baseline",
    ])
    .unwrap();
    assert_eq!(plan.baseline.as_deref(), Some("redis://b"));
}

#[test]
fn the_publish_url_appends_the_destination_unencoded() {
    let check = |base: &str, expected: &str| {
        assert_eq!(
            publish_url(base, "http://127.0.0.1:4000/ingest")
                .unwrap()
                .as_str(),
            expected
        );
    };
    check(
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/v2/publish/http://127.0.0.1:4000/ingest",
    );
    check(
        "http://relay.example/qstash/",
        "http://relay.example/qstash/v2/publish/http://127.0.0.1:4000/ingest",
    );
}
