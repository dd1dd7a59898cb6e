use std::time::Duration;

use super::*;

fn published(accepted: Vec<u64>, n_failed: u64) -> Published {
    let n = accepted.len() as u64;
    Published {
        latencies_us: (1..=n).map(|ms| ms * 1000).collect(),
        accepted,
        n_failed,
        first_failure: (n_failed > 0).then(|| "503 Service Unavailable: busy".to_owned()),
        started_us: 0,
        finished_us: 2_000_000,
        ..Published::default()
    }
}

fn observed(counts: Vec<u32>, signature_failures: u64) -> Observed {
    let n_first = counts.iter().filter(|&&n| n > 0).count() as u64;
    Observed {
        arrivals: Arrivals {
            e2e_us: (1..=n_first).map(|ms| ms * 2000).collect(),
            counts,
            n_unexpected: 0,
            last_first_arrival_us: Some(4_000_000),
            per_host: vec![n_first],
        },
        drain: Drain {
            complete: true,
            elapsed: Duration::from_millis(250),
        },
        signature_failures,
    }
}

fn settings() -> Settings {
    Settings {
        relay: "spawned `ferry serve`".to_owned(),
        mode: "closed-loop",
        concurrency: Some(8),
        rate: None,
        max_outstanding: None,
        body_size: 64,
        hosts: 1,
        duration_s: 2.0,
        drain_limit_s: 30.0,
    }
}

fn check_problems(run: RunReport, expected: &[&str]) {
    let report = Report::new(settings(), run, None);
    assert_eq!(report.problems, expected);
}

#[test]
fn a_clean_run_has_no_problems_and_its_figures_add_up() {
    let run = RunReport::new(
        published(vec![0, 1, 2, 3], 1),
        Some(observed(vec![1, 1, 2, 1], 0)),
        Some(0.8),
        None,
    );
    assert_eq!(run.published_ok, 4);
    assert_eq!(run.published_failed, 1);
    assert_eq!(run.publish_rate, Some(2.0));
    assert_eq!(run.publish_latency_ms.map(|p| p.max), Some(4.0));
    assert_eq!(run.cpu_s_per_1k, Some(200.0));
    let deliveries = run.deliveries.clone().unwrap();
    assert_eq!(deliveries.delivered_unique, 4);
    assert_eq!(deliveries.duplicates, 1);
    assert_eq!(deliveries.lost, 0);
    assert_eq!(deliveries.e2e_rate, Some(1.0));
    check_problems(run, &[]);
}

#[test]
fn losses_forgeries_and_an_empty_run_are_problems() {
    check_problems(
        RunReport::new(
            published(vec![0, 1, 2], 0),
            Some(observed(vec![1, 0, 0], 0)),
            None,
            None,
        ),
        &["ferry: 2 accepted messages were never delivered (lost) within the 0.2s drain"],
    );
    check_problems(
        RunReport::new(
            published(vec![0], 0),
            Some(observed(vec![1], 1)),
            None,
            None,
        ),
        &["ferry: 1 deliveries failed signature verification"],
    );
    check_problems(
        RunReport::new(published(vec![], 3), Some(observed(vec![], 0)), None, None),
        &["ferry: no publish was accepted (503 Service Unavailable: busy)"],
    );
}

#[test]
fn publishing_only_checks_no_deliveries() {
    let run = RunReport::new(published(vec![0, 1], 0), None, Some(0.1), None);
    assert!(run.deliveries.is_none());
    assert_eq!(run.cpu_s_per_1k, Some(50.0));
    let report = Report::new(settings(), run, None);
    assert!(report.problems.is_empty());
    assert!(report.to_table().contains("OK: publishing only"));
}

#[test]
fn the_table_compares_ferry_with_the_baseline() {
    let ferry = RunReport::new(
        published(vec![0, 1], 0),
        Some(observed(vec![1, 1], 0)),
        Some(0.4),
        Some(RssMib {
            first: 40.0,
            last: 52.0,
            max: 61.5,
        }),
    );
    let baseline = RunReport::new(
        published(vec![0, 1, 2, 3], 0),
        Some(observed(vec![1, 1, 1, 1], 0)),
        Some(0.4),
        None,
    );
    let report = Report::new(settings(), ferry, Some(baseline));
    let ratios = report.ferry_vs_baseline.clone().unwrap();
    assert_eq!(ratios.publish_rate, Some(0.5));
    assert_eq!(ratios.e2e_rate, Some(0.5));
    assert_eq!(ratios.cpu_per_message, Some(2.0));

    let table = report.to_table();
    let line = |label: &str| {
        table
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let header = table.lines().find(|line| line.starts_with(' ')).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ferry", "baseline", "ferry/baseline"]
    );
    assert_eq!(line("publish rate")[3..], ["1", "2", "0.50"]);
    assert_eq!(line("lost")[1..], ["0", "0"]);
    assert_eq!(line("cpu per 1k msgs")[5..], ["200.000", "100.000", "2.00"]);
    assert_eq!(line("rss first (MiB)")[3..], ["40.0", "-"]);
    assert_eq!(line("rss last (MiB)")[3..], ["52.0", "-"]);
    assert_eq!(line("rss max (MiB)")[3..], ["61.5", "-"]);
    assert!(
        table.contains("closed loop, 8 concurrent publishers; 64-byte bodies; 1 destination host;"),
        "{table}"
    );
    assert!(
        table.ends_with("OK: every accepted message was delivered\n"),
        "{table}"
    );
}

#[test]
fn the_settings_line_counts_the_destination_hosts() {
    let run = || RunReport::new(published(vec![0], 0), None, None, None);
    let first_line = |hosts, baseline: Option<RunReport>| {
        let settings = Settings {
            hosts,
            ..settings()
        };
        let table = Report::new(settings, run(), baseline).to_table();
        table.lines().next().unwrap().to_owned()
    };
    assert!(first_line(1, Some(run())).contains("; 1 destination host;"));
    assert!(first_line(3, None).contains("; 3 destination hosts;"));
    assert!(
        first_line(3, Some(run())).contains("; 3 destination hosts (the baseline uses the first);")
    );
}

#[test]
fn the_json_report_names_every_figure() {
    let run = RunReport::new(
        published(vec![0], 0),
        Some(observed(vec![1], 0)),
        None,
        Some(RssMib {
            first: 1.0,
            last: 2.0,
            max: 3.0,
        }),
    );
    let json = serde_json::to_value(Report::new(settings(), run, None)).unwrap();
    assert_eq!(json["ferry"]["deliveries"]["lost"], 0);
    assert_eq!(json["ferry"]["published_ok"], 1);
    assert_eq!(json["settings"]["mode"], "closed-loop");
    assert!(json["baseline"].is_null());
    assert!(json["ferry"]["cpu_s"].is_null());
    assert_eq!(json["ferry"]["rss_mib"]["first"], 1.0);
    assert_eq!(json["ferry"]["rss_mib"]["last"], 2.0);
    assert_eq!(json["ferry"]["rss_mib"]["max"], 3.0);
    assert_eq!(
        json["ferry"]["deliveries"]["delivered_per_host"],
        serde_json::json!([1])
    );
    assert_eq!(json["settings"]["hosts"], 1);
}
