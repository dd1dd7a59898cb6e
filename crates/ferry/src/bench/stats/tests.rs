use super::*;

fn check_percentiles(samples_us: &[u64], expected_ms: Option<[f64; 4]>) {
    let mut samples = samples_us.to_vec();
    let actual = percentiles(&mut samples).map(|p| [p.p50, p.p90, p.p99, p.max]);
    assert_eq!(actual, expected_ms, "samples {samples_us:?}");
}

#[test]
fn percentiles_are_observed_samples_by_nearest_rank() {
    check_percentiles(&[], None);
    check_percentiles(&[1500], Some([1.5, 1.5, 1.5, 1.5]));
    // 1..=100 ms, shuffled: the p-th percentile is p ms.
    let mut hundred: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
    hundred.reverse();
    check_percentiles(&hundred, Some([50.0, 90.0, 99.0, 100.0]));
    // One slow outlier in ten shows at p99 and max, not at p90.
    let mut ten = vec![1000; 9];
    ten.push(70_000);
    check_percentiles(&ten, Some([1.0, 1.0, 70.0, 70.0]));
}

#[test]
fn rate_is_per_second_and_undefined_for_an_empty_interval() {
    assert_eq!(rate(5000, 2_000_000), Some(2500.0));
    assert_eq!(rate(3, 0), None);
}

fn check_accounting(accepted: &[u64], arrivals: &[u32], expected: Accounting) {
    assert_eq!(
        account(accepted, arrivals),
        expected,
        "accepted {accepted:?}, arrivals {arrivals:?}"
    );
}

#[test]
fn losses_and_duplicates_are_counted_per_message() {
    check_accounting(&[], &[], Accounting::default());
    check_accounting(
        &[0, 1, 2],
        &[1, 1, 1],
        Accounting {
            delivered_unique: 3,
            ..Accounting::default()
        },
    );
    // Message 1 lost and message 2 delivered twice: the totals match (3
    // sent, 3 arrivals) but the sets do not.
    check_accounting(
        &[0, 1, 2],
        &[1, 0, 2],
        Accounting {
            delivered_unique: 2,
            lost: 1,
            duplicates: 1,
            recovered: 0,
        },
    );
    // Accepted messages beyond the arrivals table never arrived.
    check_accounting(
        &[0, 5],
        &[1],
        Accounting {
            delivered_unique: 1,
            lost: 1,
            ..Accounting::default()
        },
    );
}

#[test]
fn a_delivery_whose_publish_failed_is_recovered_not_lost() {
    check_accounting(
        &[0, 2],
        &[1, 3, 1],
        Accounting {
            delivered_unique: 3,
            lost: 0,
            duplicates: 2,
            recovered: 1,
        },
    );
}
