//! CPU time of the relay under test, so results can be compared per core:
//! whole processes (a spawned Ferry, or `--pid`) or the threads of the
//! in-process baseline relay, read from `/proc` as `utime + stime`.

use std::sync::{Arc, Mutex, PoisonError};

#[cfg(test)]
mod tests;

/// Clock ticks per second when `getconf CLK_TCK` cannot say; it is 100 on
/// every mainstream Linux build.
const DEFAULT_TICKS_PER_SECOND: u64 = 100;

/// Whose CPU time is measured.
#[derive(Debug, Clone)]
pub(super) enum CpuSource {
    /// Processes by id, each with all its threads.
    Processes(Vec<u32>),
    /// Threads of this process.
    Threads(ThreadSet),
}

/// Threads of this process that registered themselves, by thread id.
#[derive(Debug, Clone, Default)]
pub(super) struct ThreadSet(Arc<Mutex<Vec<u32>>>);

impl ThreadSet {
    /// Adds the calling thread; meant for a runtime's `on_thread_start`.
    pub(super) fn register_current(&self) {
        // `/proc/thread-self` links to `<pid>/task/<tid>` of the caller.
        let Some(tid) = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| link.file_name()?.to_str()?.parse().ok())
        else {
            return;
        };
        // A poisoned lock only means a registering thread panicked; the list
        // itself is intact.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tid);
    }

    fn ids(&self) -> Vec<u32> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Reads the CPU time of a source in clock ticks.
#[derive(Debug, Clone)]
pub(super) struct CpuMeter {
    source: CpuSource,
    ticks_per_second: u64,
}

impl CpuMeter {
    pub(super) fn new(source: CpuSource) -> Self {
        Self {
            source,
            ticks_per_second: ticks_per_second(),
        }
    }

    /// Total ticks so far; `None` when nothing is measured or `/proc` cannot
    /// be read (not Linux). A process or thread that is gone counts as zero.
    pub(super) fn ticks(&self) -> Option<u64> {
        let paths: Vec<String> = match &self.source {
            CpuSource::Processes(pids) => {
                pids.iter().map(|pid| format!("/proc/{pid}/stat")).collect()
            }
            CpuSource::Threads(threads) => threads
                .ids()
                .iter()
                .map(|tid| format!("/proc/self/task/{tid}/stat"))
                .collect(),
        };
        if paths.is_empty() || !std::path::Path::new("/proc/self/stat").exists() {
            return None;
        }
        Some(paths.iter().filter_map(|path| stat_ticks(path)).sum())
    }

    /// Seconds of CPU between two readings of [`CpuMeter::ticks`].
    pub(super) fn seconds_between(&self, start: Option<u64>, end: Option<u64>) -> Option<f64> {
        let used = end?.saturating_sub(start?);
        Some(used as f64 / self.ticks_per_second as f64)
    }
}

/// Whether `/proc/<pid>/stat` exists, i.e. `--pid` names a live process.
pub(super) fn process_exists(pid: u32) -> bool {
    stat_ticks(&format!("/proc/{pid}/stat")).is_some()
}

fn stat_ticks(path: &str) -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string(path).ok()?)
}

/// `utime + stime` from the text of a `/proc/.../stat` file. The command
/// name (field 2) is in parentheses and may itself hold spaces and `)`, so
/// fields are counted after the last `)`: state is field 3, utime 14 and
/// stime 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(DEFAULT_TICKS_PER_SECOND)
}
