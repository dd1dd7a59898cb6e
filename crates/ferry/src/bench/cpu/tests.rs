use super::*;

fn check(stat: &str, expected: Option<u64>) {
    assert_eq!(parse_cpu_ticks(stat), expected, "{stat:?}");
}

#[test]
fn cpu_ticks_are_user_plus_system_time() {
    check(
        "4242 (ferry) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 4 0 100 0 0",
        Some(1234 + 567),
    );
}

#[test]
fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
    check(
        "7 (tokio-rt (worker) 1) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 5 0 0",
        Some(30),
    );
}

#[test]
fn a_truncated_or_foreign_stat_gives_nothing() {
    check("", None);
    check("1 (x) S 1 2 3", None);
    check("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 20", None);
}

#[test]
fn this_process_is_measured_and_its_own_threads_register() {
    let pid = std::process::id();
    assert!(process_exists(pid));
    let meter = CpuMeter::new(CpuSource::Processes(vec![pid]));
    assert!(meter.ticks().is_some());

    let threads = ThreadSet::default();
    let registered = threads.clone();
    std::thread::spawn(move || registered.register_current())
        .join()
        .unwrap();
    assert_eq!(threads.ids().len(), 1);
    assert_eq!(
        CpuMeter::new(CpuSource::Threads(ThreadSet::default())).ticks(),
        None,
        "no thread registered: nothing to measure"
    );
}

#[test]
fn seconds_between_readings_use_the_tick_rate() {
    let meter = CpuMeter {
        source: CpuSource::Processes(Vec::new()),
        ticks_per_second: 100,
    };
    assert_eq!(meter.seconds_between(Some(250), Some(400)), Some(1.5));
    assert_eq!(meter.seconds_between(None, Some(400)), None);
}
