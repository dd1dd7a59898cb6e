//! Dead-letter queries: filters, and a page of a tenant's dead letters
//! merged over its per-partition dead-letter streams (see `paging`).

use crate::paging::{self, Entry, Order, PageRequest, Source, matches_any};
use crate::{Result, StoredMessage};

/// Filters of `GET /v2/dlq`: a message matches when, for every filter that
/// has values, it matches at least one of them.
#[derive(Debug, Clone, Default)]
pub struct DlqFilter {
    pub message_id: Vec<String>,
    pub url: Vec<String>,
    pub label: Vec<String>,
    pub response_status: Vec<u16>,
    pub caller_ip: Vec<String>,
    pub queue_name: Vec<String>,
    pub topic_name: Vec<String>,
    pub schedule_id: Vec<String>,
    pub flow_control_key: Vec<String>,
    /// Unix ms, inclusive bounds on the time of death.
    pub from_date: Option<u64>,
    pub to_date: Option<u64>,
}

impl DlqFilter {
    pub fn matches(&self, m: &StoredMessage) -> bool {
        let dead_at = m.dead_at.unwrap_or(0);
        let status = m.last.as_ref().and_then(|l| l.status);
        matches_any(&self.message_id, |v| v == m.id.as_str())
            && matches_any(&self.url, |v| *v == m.spec.url)
            && matches_any(&self.label, |v| m.spec.labels.contains(v))
            && matches_any(&self.response_status, |v| Some(*v) == status)
            && matches_any(&self.caller_ip, |v| Some(v) == m.spec.caller_ip.as_ref())
            && matches_any(&self.queue_name, |v| Some(v) == m.spec.queue.as_ref())
            && matches_any(&self.topic_name, |v| {
                m.spec.topic.as_ref().is_some_and(|t| t.name == *v)
            })
            && matches_any(&self.schedule_id, |v| {
                Some(v) == m.spec.schedule_id.as_ref()
            })
            && matches_any(&self.flow_control_key, |v| {
                m.spec.flow_control.as_ref().is_some_and(|f| f.key == *v)
            })
            && self.from_date.is_none_or(|from| dead_at >= from)
            && self.to_date.is_none_or(|to| dead_at <= to)
    }
}

#[derive(Debug, Clone, Default)]
pub struct DlqQuery {
    pub cursor: Option<String>,
    pub count: usize,
    pub order: Order,
    pub filter: DlqFilter,
}

#[derive(Debug, Clone, Default)]
pub struct DlqPage {
    pub messages: Vec<StoredMessage>,
    /// Absent when there is nothing more to read.
    pub cursor: Option<String>,
}

/// A dead-letter stream entry and its message, when it is still a dead letter.
pub(crate) type DlqEntry = Entry<StoredMessage>;

/// One page of dead letters from `source` over `partitions`.
pub(crate) async fn page<S: Source<Item = StoredMessage>>(
    source: &S,
    partitions: u16,
    query: &DlqQuery,
) -> Result<DlqPage> {
    let request = PageRequest {
        cursor: query.cursor.as_deref(),
        count: query.count,
        order: query.order,
        // Dead letters are filtered by the time they died, which is not
        // their stream id's time in every backend; no seeking.
        seek: None,
    };
    let (messages, cursor) =
        paging::page(source, partitions, request, |m| query.filter.matches(m)).await?;
    Ok(DlqPage { messages, cursor })
}
