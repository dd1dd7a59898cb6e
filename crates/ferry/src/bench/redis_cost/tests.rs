use super::*;

fn meter(n: usize) -> RedisMeter {
    RedisMeter {
        primaries: (0..n)
            .map(|k| format!("redis://:secret@10.0.0.{k}:700{k}"))
            .collect(),
        namespace: "ferry-bench-x".to_owned(),
    }
}

fn samples(counters: &[(u64, u64, u64)]) -> Samples {
    Samples(
        counters
            .iter()
            .map(|&(commands, script_calls, cpu_us)| ServerSample {
                commands,
                script_calls,
                cpu_us,
            })
            .collect(),
    )
}

#[test]
fn per_message_figures_are_the_growth_of_every_primary_over_the_messages() {
    let start = samples(&[(100, 10, 1_000), (50, 5, 2_000)]);
    let end = samples(&[(1_100, 210, 301_000), (1_050, 205, 302_000)]);
    let report = meter(2).report(&start, &end, &[30, 30], 100);
    assert_eq!(report.commands_per_msg, Some(20.0));
    assert_eq!(report.scripts_per_msg, Some(4.0));
    assert_eq!(report.redis_cpu_us_per_msg, Some(6_000.0));
    assert_eq!(report.keys_even, Some(true));
    assert_eq!(report.commands_even, Some(true));
    assert_eq!(report.primaries[1].node, "10.0.0.1:7001");
    assert_eq!(report.primaries[1].command_share, Some(0.5));
    assert!((report.primaries[0].cpu_s - 0.3).abs() < 1e-9);
}

#[test]
fn a_primary_beyond_a_fifth_of_its_fair_share_makes_the_spread_uneven() {
    let start = samples(&[(0, 0, 0), (0, 0, 0), (0, 0, 0)]);
    // Fair is a third each; 45 % is 35 % above it, 30 % is 10 % below.
    let end = samples(&[(450, 0, 0), (300, 0, 0), (250, 0, 0)]);
    let report = meter(3).report(&start, &end, &[10, 11, 9], 10);
    assert_eq!(report.commands_even, Some(false));
    assert_eq!(report.keys_even, Some(true));
    let table = report.to_table();
    assert!(table.contains("commands UNEVEN"), "{table}");
    assert!(table.contains("keys even"), "{table}");
    assert!(!table.contains("secret"), "{table}");
}

#[test]
fn one_primary_has_no_spread_and_no_messages_give_no_per_message_figures() {
    let report = meter(1).report(&samples(&[(0, 0, 0)]), &samples(&[(9, 1, 5)]), &[3], 0);
    assert_eq!(report.commands_even, None);
    assert_eq!(report.commands_per_msg, None);
    assert!(!report.to_table().contains("primary"));
}
