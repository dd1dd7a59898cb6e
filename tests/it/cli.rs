//! The operator CLI, run as the real binary against a running Ferry.

use std::time::Duration;

use ferry_tests::ferry::{TOKEN, TestFerry};
use ferry_tests::sink::TestSink;
use serde_json::Value;

/// Runs `ferry <args>` against `ferry`; returns (success, stdout, stderr).
async fn ferry_cli(ferry: &TestFerry, args: &[&str]) -> (bool, String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .args(args)
            .env("FERRY_URL", &ferry.base_url)
            .env("FERRY_TOKEN", TOKEN)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the CLI finishes")
    .expect("the CLI runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operators_publish_manage_groups_and_read_logs_from_the_cli() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;

    let (ok, out, err) = ferry_cli(
        &ferry,
        &[
            "--json",
            "publish",
            &sink.url("/one"),
            "--data",
            "hello",
            "-H",
            "X-Trace: 7",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let published: Value = serde_json::from_str(&out).unwrap();
    let id = published["messageId"].as_str().unwrap().to_owned();
    let delivered = sink.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(delivered[0].message_id(), id);
    assert_eq!(delivered[0].header("x-trace"), Some("7"));

    let (ok, _, err) = ferry_cli(
        &ferry,
        &[
            "topics",
            "add",
            "both",
            &sink.url("/a"),
            &format!("{}=second", sink.url("/b")),
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = ferry_cli(&ferry, &["topics", "show", "both"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&sink.url("/a")) && out.contains("second"),
        "{out}"
    );
    let (ok, out, err) =
        ferry_cli(&ferry, &["--json", "publish", "both", "--data", "to both"]).await;
    assert!(ok, "{err}");
    let fanned: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(fanned.len(), 2);
    sink.wait_for_requests(3, Duration::from_secs(10)).await;

    let (ok, out, err) = ferry_cli(&ferry, &["logs", "--state", "DELIVERED"]).await;
    assert!(ok, "{err}");
    assert!(out.contains(&id) && out.contains("DELIVERED"), "{out}");

    let (ok, out, err) = ferry_cli(
        &ferry,
        &["messages", "get", "msg_0000000000000000000000000000000000"],
    )
    .await;
    assert!(!ok, "a missing message is an error: {out}");
    assert!(err.contains("404") || err.contains("not found"), "{err}");
}

#[tokio::test]
async fn operators_manage_queues_and_schedules_from_the_cli() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;

    let (ok, out, err) = ferry_cli(&ferry, &["queues", "set", "jobs", "--parallelism", "2"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("parallelism  2"), "{out}");

    let (ok, out, err) = ferry_cli(
        &ferry,
        &[
            "--json",
            "queues",
            "enqueue",
            "jobs",
            &sink.url("/queued"),
            "--data",
            "in line",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let enqueued: Value = serde_json::from_str(&out).unwrap();
    let delivered = sink.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(
        delivered[0].message_id(),
        enqueued["messageId"].as_str().unwrap()
    );

    let (ok, out, err) = ferry_cli(&ferry, &["queues", "list"]).await;
    assert!(ok, "{err}");
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.contains("PARALLELISM") && header.contains("LAG"),
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .find(|line| line.starts_with("jobs "))
        .unwrap_or_else(|| panic!("no jobs row in {out}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1..4], ["2", "0", "no"], "{out}");

    let (ok, out, err) = ferry_cli(
        &ferry,
        &[
            "schedules",
            "create",
            &sink.url("/yearly"),
            "--cron",
            "0 0 1 1 *",
            "--id",
            "new-year",
            "--data",
            "happy",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "created schedule new-year");
    let (ok, out, err) = ferry_cli(&ferry, &["schedules", "list"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("new-year") && out.contains("0 0 1 1 *") && out.contains(&sink.url("/yearly")),
        "{out}"
    );

    let (ok, _, err) = ferry_cli(&ferry, &["schedules", "pause", "new-year"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = ferry_cli(&ferry, &["--json", "schedules", "show", "new-year"]).await;
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["isPaused"], true, "{out}");

    // Ticks can go through a queue, or under a flow-control key.
    for (id, extra, line) in [
        ("queued", &["--queue", "reports"][..], "queue reports"),
        (
            "metered",
            &["--flow-key", "reports-api", "--flow-rate", "2"][..],
            "flow control key reports-api",
        ),
    ] {
        let url = sink.url("/yearly");
        let mut args = vec![
            "schedules",
            "create",
            &url,
            "--cron",
            "0 0 1 1 *",
            "--id",
            id,
        ];
        args.extend(extra);
        let (ok, _, err) = ferry_cli(&ferry, &args).await;
        assert!(ok, "{err}");
        let (ok, out, err) = ferry_cli(&ferry, &["schedules", "show", id]).await;
        assert!(ok, "{err}");
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(out.lines().any(|l| words(l) == line), "{out}");
        let (ok, _, err) = ferry_cli(&ferry, &["schedules", "delete", id]).await;
        assert!(ok, "{err}");
    }

    let (ok, _, err) = ferry_cli(&ferry, &["schedules", "delete", "new-year"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = ferry_cli(&ferry, &["schedules", "list"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "no schedules");
    let (ok, _, err) = ferry_cli(&ferry, &["schedules", "delete", "new-year"]).await;
    assert!(!ok, "deleting a missing schedule is an error");
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test]
async fn operators_cancel_pending_messages_by_filter_or_all_from_the_cli() {
    let ferry = TestFerry::start().await;
    let publish = |label: &'static str| {
        let sdk = ferry.sdk();
        async move {
            let opts = ferry_sdk::PublishOptions {
                delay: Some("1h".into()),
                labels: vec![label.into()],
                ..ferry_sdk::PublishOptions::default()
            };
            sdk.publish("https://a.example/hook", "x", &opts)
                .await
                .unwrap()
                .message_id
        }
    };
    let first_red = publish("red").await;
    let second_red = publish("red").await;
    let blue = publish("blue").await;
    let green = publish("green").await;

    let (ok, out, err) = ferry_cli(&ferry, &["messages", "cancel-matching"]).await;
    assert!(!ok, "a filter or --all is required: {out}");
    assert!(err.contains("--all"), "{err}");
    let (ok, out, err) =
        ferry_cli(&ferry, &["messages", "cancel-matching", "--label", "red"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "cancelled 2 message(s)");
    for red in [&first_red, &second_red] {
        assert!(ferry.sdk().message(red).await.is_err());
    }
    assert!(ferry.sdk().message(&blue).await.is_ok());
    let (ok, out, err) =
        ferry_cli(&ferry, &["--json", "messages", "cancel-matching", "--all"]).await;
    assert!(ok, "{err}");
    let cancelled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cancelled["cancelled"], 2);
    assert!(ferry.sdk().message(&green).await.is_err());
}

/// Runs `ferry --json <args>`, which must succeed, and parses its answer.
async fn ferry_cli_json(ferry: &TestFerry, args: &[&str]) -> Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    let (ok, out, err) = ferry_cli(ferry, &args).await;
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed {out:?}: {e}"))
}

#[tokio::test]
async fn operators_steer_flow_control_keys_from_the_cli() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let publish = |parallelism: &'static str| {
        let url = sink.url("/flow");
        let ferry = &ferry;
        async move {
            ferry_cli_json(
                ferry,
                &[
                    "publish",
                    &url,
                    "--data",
                    "limited",
                    "--flow-key",
                    "cli-flow",
                    "--flow-parallelism",
                    parallelism,
                    "--flow-rate",
                    "10",
                    "--flow-period",
                    "1m",
                ],
            )
            .await
        }
    };

    let published = publish("2").await;
    let delivered = sink.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(
        delivered[0].message_id(),
        published["messageId"].as_str().unwrap()
    );

    let (ok, out, err) = ferry_cli(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("key                  cli-flow\n"), "{out}");
    let (ok, out, err) = ferry_cli(&ferry, &["flow", "list", "--search", "cli-"]).await;
    assert!(ok, "{err}");
    let row: Vec<&str> = out
        .lines()
        .find(|line| line.starts_with("cli-flow "))
        .unwrap_or_else(|| panic!("no cli-flow row in {out}"))
        .split_whitespace()
        .collect();
    // Parallelism, then (after the count started this window) rate and period.
    assert_eq!((row[3], row[5], row[6]), ("2", "10", "60"), "{out}");
    let shown = ferry_cli_json(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert_eq!(
        (
            &shown["parallelismMax"],
            &shown["rateMax"],
            &shown["ratePeriod"]
        ),
        (&Value::from(2), &Value::from(10), &Value::from(60)),
        "{shown}"
    );
    assert_eq!(shown["isPaused"], false, "{shown}");

    let (ok, out, err) = ferry_cli(&ferry, &["flow-control", "pause", "cli-flow"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "paused flow-control key cli-flow");
    let shown = ferry_cli_json(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert_eq!(shown["isPaused"], true, "{shown}");
    let (ok, _, err) = ferry_cli(&ferry, &["flow-control", "resume", "cli-flow"]).await;
    assert!(ok, "{err}");
    let shown = ferry_cli_json(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert_eq!(shown["isPaused"], false, "{shown}");

    let pinned = ferry_cli_json(
        &ferry,
        &[
            "flow-control",
            "pin",
            "cli-flow",
            "--parallelism",
            "1",
            "--rate",
            "3",
            "--period",
            "10",
        ],
    )
    .await;
    assert_eq!(
        (
            &pinned["parallelismMax"],
            &pinned["rateMax"],
            &pinned["ratePeriod"]
        ),
        (&Value::from(1), &Value::from(3), &Value::from(10)),
        "{pinned}"
    );
    assert_eq!(pinned["isPinnedParallelism"], true, "{pinned}");
    assert_eq!(pinned["isPinnedRate"], true, "{pinned}");
    // A publish asking for other limits leaves pinned ones alone.
    publish("5").await;
    sink.wait_for_requests(2, Duration::from_secs(10)).await;
    let shown = ferry_cli_json(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert_eq!(shown["parallelismMax"], 1, "{shown}");

    let unpinned = ferry_cli_json(
        &ferry,
        &[
            "flow-control",
            "unpin",
            "cli-flow",
            "--parallelism",
            "--rate",
        ],
    )
    .await;
    assert_eq!(unpinned["isPinnedParallelism"], false, "{unpinned}");
    assert_eq!(unpinned["isPinnedRate"], false, "{unpinned}");
    publish("5").await;
    sink.wait_for_requests(3, Duration::from_secs(10)).await;
    let shown = ferry_cli_json(&ferry, &["flow-control", "show", "cli-flow"]).await;
    assert_eq!(shown["parallelismMax"], 5, "{shown}");

    let (ok, out, err) = ferry_cli(&ferry, &["flow-control", "reset-rate", "cli-flow"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "reset the rate of flow-control key cli-flow");
    let global = ferry_cli_json(&ferry, &["flow-control", "global-parallelism"]).await;
    assert!(global["parallelismCount"].is_u64(), "{global}");

    let (ok, _, err) = ferry_cli(&ferry, &["flow-control", "pause", "no-such-key"]).await;
    assert!(!ok, "pausing a missing key is an error");
    assert!(err.contains("not found"), "{err}");
}

/// Starts workflow run `run_id` at `url` whose first step waits an hour.
async fn start_waiting_run(ferry: &TestFerry, url: &str, run_id: &str) {
    let response = ferry
        .http()
        .post(ferry.url("/v2/batch"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!([{
            "destination": url,
            "headers": {
                "upstash-workflow-runid": run_id,
                "upstash-workflow-init": "true",
                "upstash-workflow-url": url,
                "upstash-delay": "1h",
                "upstash-label": "nightly",
            },
            "body": "{\"n\":1}",
        }]))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test]
async fn operators_list_show_and_cancel_workflow_runs_from_the_cli() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    start_waiting_run(&ferry, &sink.url("/wf/a"), "wfr_cli-a").await;
    start_waiting_run(&ferry, &sink.url("/wf/b"), "wfr_cli-b").await;
    start_waiting_run(&ferry, &sink.url("/other"), "wfr_cli-c").await;

    let (ok, out, err) = ferry_cli(&ferry, &["workflows", "list"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "a heading and three runs: {out}");
    assert!(lines[0].starts_with("RUN ID"), "{out}");
    assert!(
        lines[1].starts_with("wfr_cli-c") && lines[1].contains("RUN_STARTED"),
        "newest first: {out}"
    );

    let run = ferry_cli_json(&ferry, &["workflows", "show", "wfr_cli-a"]).await;
    assert_eq!(run["workflowRunId"], "wfr_cli-a");
    assert_eq!(run["workflowUrl"], sink.url("/wf/a"));
    assert_eq!(run["label"], "nightly");
    assert_eq!(run["steps"][0]["steps"][0]["out"], "{\"n\":1}");
    let (ok, out, err) = ferry_cli(&ferry, &["workflows", "show", "wfr_cli-a"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("RUN_STARTED") && out.contains("Initial"),
        "{out}"
    );
    let (ok, _, err) = ferry_cli(&ferry, &["workflows", "show", "wfr_none"]).await;
    assert!(!ok && err.contains("not found"), "{err}");

    let (ok, out, err) = ferry_cli(&ferry, &["workflows", "cancel", "wfr_cli-a"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "cancelled 1 run(s)");
    let cancelled = ferry_cli_json(&ferry, &["workflows", "list", "--state", "canceled"]).await;
    assert_eq!(cancelled["runs"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["runs"][0]["workflowRunId"], "wfr_cli-a");

    let by_prefix = ferry_cli_json(
        &ferry,
        &["workflows", "cancel", "--url-prefix", &sink.url("/wf/")],
    )
    .await;
    assert_eq!(by_prefix["cancelled"], 1, "wfr_cli-b; wfr_cli-a had ended");
    let all = ferry_cli_json(&ferry, &["workflows", "cancel", "--all"]).await;
    assert_eq!(all["cancelled"], 1, "wfr_cli-c");
    let page = ferry_cli_json(&ferry, &["workflows", "list", "--count", "2"]).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    let cursor = page["cursor"].as_str().expect("a next page");
    let rest = ferry_cli_json(
        &ferry,
        &["workflows", "list", "--count", "2", "--cursor", cursor],
    )
    .await;
    assert_eq!(rest["runs"][0]["workflowRunId"], "wfr_cli-a");
    assert!(rest.get("cursor").is_none(), "{rest}");
    let (ok, _, err) = ferry_cli(&ferry, &["workflows", "cancel"]).await;
    assert!(!ok, "naming no runs is refused: {err}");
}
