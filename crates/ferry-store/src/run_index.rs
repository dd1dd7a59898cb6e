//! Listing a tenant's workflow runs, newest first.
//!
//! Each partition keeps, per tenant, an index of the runs created in it:
//! `<prefix>:v1:{p<n>}:wfruns:<tenant>`, a sorted set whose members all
//! score 0 and sort by name, the name being [`index_member`] (the creation
//! time, zero-padded, then the run id). The script that creates a run adds
//! its member, and removes the member of the ended run it replaces; ending
//! a run changes only the run itself, which the listing reads. A run that
//! expired leaves its member behind: the listing skips such members and
//! prunes them (a member is stale when its run is gone or is a newer run
//! with the same id).
//!
//! A page merges the partitions' indexes newest first; its cursor is the
//! last member returned, and the next page starts strictly after it. A page
//! looks at no more than [`SCAN_LIMIT`] members: when filters reject many
//! runs it may come back short, with a cursor to continue from. The cursor
//! is omitted once every member has been looked at.

use crate::workflows::{RunState, WorkflowRun};

/// At most this many index members are looked at for one page.
pub(crate) const SCAN_LIMIT: usize = 1_000;

/// Width of the zero-padded creation time in an index member.
const TIME_WIDTH: usize = 20;

/// The index member of a run: it sorts by creation time, then run id.
pub(crate) fn index_member(created_at: u64, run_id: &str) -> String {
    format!("{created_at:0TIME_WIDTH$}:{run_id}")
}

/// The creation time and run id of an index member (or cursor).
pub fn parse_member(member: &str) -> Option<(u64, &str)> {
    let (time, run_id) = member.split_once(':')?;
    if time.len() != TIME_WIDTH || run_id.is_empty() {
        return None;
    }
    Some((time.parse().ok()?, run_id))
}

/// Which runs to list; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub state: Option<RunState>,
    pub run_id: Option<String>,
    /// The run's URL: equal to it with `url_exact`, else starting with it.
    pub url: Option<String>,
    pub url_exact: bool,
    pub label: Option<String>,
    /// Created at or after, Unix ms.
    pub from_ms: Option<u64>,
    /// Created at or before, Unix ms.
    pub to_ms: Option<u64>,
    /// Created exactly then, Unix ms.
    pub created_at: Option<u64>,
}

impl RunFilter {
    pub fn matches(&self, run: &WorkflowRun) -> bool {
        let url_matches = |url: &String| {
            if self.url_exact {
                run.url == *url
            } else {
                run.url.starts_with(url.as_str())
            }
        };
        self.state.is_none_or(|s| run.state == s)
            && self.run_id.as_ref().is_none_or(|id| run.run_id == *id)
            && self.url.as_ref().is_none_or(url_matches)
            && self
                .label
                .as_ref()
                .is_none_or(|l| run.config.labels.contains(l))
            && self.from_ms.is_none_or(|t| run.created_at >= t)
            && self.to_ms.is_none_or(|t| run.created_at <= t)
            && self.created_at.is_none_or(|t| run.created_at == t)
    }

    /// Whether no run created at `created_at` or earlier can match, so a
    /// newest-first listing can stop.
    pub fn ends_before(&self, created_at: u64) -> bool {
        self.from_ms.is_some_and(|t| created_at < t)
            || self.created_at.is_some_and(|t| created_at < t)
    }
}

/// A page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub filter: RunFilter,
    /// Start strictly after this member (a previous page's cursor).
    pub cursor: Option<String>,
    pub count: usize,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPage {
    pub runs: Vec<WorkflowRun>,
    /// Where the next page starts; `None` when nothing is left.
    pub cursor: Option<String>,
}

/// Builds a page from index members taken newest first, each with its run
/// (`None` when the member is stale).
pub(crate) struct PageBuilder<'q> {
    query: &'q RunQuery,
    page: RunPage,
    last: Option<String>,
    looked: usize,
    /// A member was left over once the page was complete.
    more: bool,
    /// The filter can match no older run.
    ended: bool,
}

impl<'q> PageBuilder<'q> {
    pub(crate) fn new(query: &'q RunQuery) -> Self {
        Self {
            query,
            page: RunPage::default(),
            last: None,
            looked: 0,
            more: false,
            ended: false,
        }
    }

    /// Whether the page takes no more members.
    pub(crate) fn complete(&self) -> bool {
        self.ended
            || self.more
            || self.page.runs.len() >= self.query.count
            || self.looked >= SCAN_LIMIT
    }

    /// Takes the next member; false once the page is complete.
    pub(crate) fn push(&mut self, member: String, run: Option<WorkflowRun>) -> bool {
        if self.complete() {
            self.more = !self.ended;
            return false;
        }
        if parse_member(&member).is_some_and(|(t, _)| self.query.filter.ends_before(t)) {
            self.ended = true;
            return false;
        }
        self.looked += 1;
        if let Some(run) = run.filter(|r| self.query.filter.matches(r)) {
            self.page.runs.push(run);
        }
        self.last = Some(member);
        true
    }

    /// The page; `members_left` tells whether members exist beyond those
    /// pushed.
    pub(crate) fn finish(mut self, members_left: bool) -> RunPage {
        if !self.ended && (self.more || members_left) {
            self.page.cursor = self.last;
        }
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_by_time_then_id_and_parse_back() {
        let a = index_member(999, "wfr_b");
        let b = index_member(1_700_000_000_000, "wfr_a");
        assert!(a < b);
        assert_eq!(parse_member(&b), Some((1_700_000_000_000, "wfr_a")));
        assert_eq!(parse_member("12:wfr"), None);
        assert_eq!(parse_member(&index_member(5, "")), None);
    }
}
