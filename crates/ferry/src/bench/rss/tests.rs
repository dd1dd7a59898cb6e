use super::*;

/// The head of a real `/proc/<pid>/status`.
const STATUS: &str = "Name:\tferry\n\
    Umask:\t0022\n\
    State:\tS (sleeping)\n\
    Tgid:\t4242\n\
    VmPeak:\t  812340 kB\n\
    VmSize:\t  745812 kB\n\
    VmHWM:\t   61240 kB\n\
    VmRSS:\t   52736 kB\n\
    RssAnon:\t   40960 kB\n\
    Threads:\t5\n";

#[test]
fn vm_rss_is_read_in_kib_and_given_in_bytes() {
    assert_eq!(parse_vm_rss_bytes(STATUS), Some(52_736 * 1024));
}

#[test]
fn a_status_without_a_readable_vm_rss_gives_nothing() {
    // Kernel threads have no memory lines at all.
    assert_eq!(
        parse_vm_rss_bytes("Name:\tkthreadd\nState:\tS (sleeping)\n"),
        None
    );
    assert_eq!(parse_vm_rss_bytes("VmRSS:\t lots kB\n"), None);
    assert_eq!(parse_vm_rss_bytes("VmRSS:\t 100 pages\n"), None);
    assert_eq!(parse_vm_rss_bytes("VmRSS:\t 100\n"), None);
}

#[test]
fn this_process_is_measured_and_nothing_to_measure_gives_nothing() {
    let own = RssMeter::new(vec![std::process::id()]).bytes();
    assert!(own.is_some_and(|bytes| bytes > 0), "{own:?}");
    assert_eq!(RssMeter::new(Vec::new()).bytes(), None);
}

#[test]
fn the_summary_keeps_the_first_sample_the_end_of_publishing_and_the_peak() {
    const MIB: u64 = 1024 * 1024;
    let mut samples = RssSamples::default();
    samples.record(None);
    samples.record(Some(40 * MIB));
    samples.record(Some(60 * MIB));
    samples.record_end_of_publishing(Some(50 * MIB));
    // The drain: after publishing, counted only in the peak.
    samples.record(Some(70 * MIB));
    samples.record(Some(45 * MIB));
    assert_eq!(
        samples.summary(),
        Some(RssMib {
            first: 40.0,
            last: 50.0,
            max: 70.0,
        })
    );
}

#[test]
fn without_samples_there_is_no_summary() {
    let mut samples = RssSamples::default();
    samples.record(None);
    samples.record_end_of_publishing(None);
    assert_eq!(samples.summary(), None);
}
