//! Resident memory of the Ferry processes under test (a spawned child and
//! any `--pid`), sampled from `VmRSS` in `/proc/<pid>/status` once per
//! progress tick. Buffers in the relay are meant to be bounded, so under a
//! steady load its memory should level off; comparing the first sample, the
//! one at the end of publishing and the peak shows whether it did, or kept
//! growing (a leak, an unbounded queue) over a long run.

use serde::Serialize;

#[cfg(test)]
mod tests;

const BYTES_PER_KIB: u64 = 1024;
const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Reads the resident memory of whole processes.
#[derive(Debug, Clone)]
pub(super) struct RssMeter {
    pids: Vec<u32>,
}

impl RssMeter {
    pub(super) fn new(pids: Vec<u32>) -> Self {
        Self { pids }
    }

    /// The resident bytes of all the processes together; `None` when
    /// nothing is measured or `/proc` cannot be read (not Linux). A process
    /// that is gone counts as zero.
    pub(super) fn bytes(&self) -> Option<u64> {
        if self.pids.is_empty() || !std::path::Path::new("/proc/self/status").exists() {
            return None;
        }
        let rss = |pid: &u32| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            parse_vm_rss_bytes(&status)
        };
        Some(self.pids.iter().filter_map(rss).sum())
    }
}

/// `VmRSS` from the text of a `/proc/<pid>/status` file, in bytes. The
/// kernel writes it as `VmRSS:` followed by a number of KiB and `kB`; a
/// kernel thread has no such line.
fn parse_vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut fields = line.split_ascii_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next()? == "kB").then_some(kib * BYTES_PER_KIB)
}

/// The samples of one run that the report keeps.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RssSamples {
    first: Option<u64>,
    end_of_publishing: Option<u64>,
    max: Option<u64>,
}

impl RssSamples {
    /// A sample taken during the run (`None`: nothing could be read).
    pub(super) fn record(&mut self, bytes: Option<u64>) {
        let Some(bytes) = bytes else { return };
        self.first.get_or_insert(bytes);
        self.max = self.max.max(Some(bytes));
    }

    /// The sample taken as the last publish was answered.
    pub(super) fn record_end_of_publishing(&mut self, bytes: Option<u64>) {
        self.record(bytes);
        self.end_of_publishing = bytes;
    }

    /// The figures in MiB; `None` when memory was not measured.
    pub(super) fn summary(&self) -> Option<RssMib> {
        Some(RssMib {
            first: mib(self.first?),
            last: mib(self.end_of_publishing?),
            max: mib(self.max?),
        })
    }
}

/// `bytes` in MiB.
pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / BYTES_PER_MIB
}

/// Resident memory of the relay over a run, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct RssMib {
    /// At the first sample, a progress tick into the load.
    pub(super) first: f64,
    /// As publishing ended.
    pub(super) last: f64,
    /// The largest sample, the drain included.
    pub(super) max: f64,
}
