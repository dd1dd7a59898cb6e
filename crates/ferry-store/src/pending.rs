//! Bulk cancel: the filter of `DELETE /v2/messages`, and the places where a
//! tenant's pending messages wait, which both backends walk in one order.
//!
//! The store keeps no per-tenant index of pending messages: one would cost
//! an extra write in every publish and every outcome, the hot path, for the
//! sake of a rare admin operation. Every pending message is instead in a
//! place of its partition that can be enumerated: the delayed set, the
//! waiting list of a queue or of a flow-control key (both are indexed per
//! tenant), or the ready
//! stream (entries in flight included). A bulk cancel visits them
//! partition by partition, reads each message's tenant and spec, and
//! cancels the matching ones one by one with the same atomic step as a
//! single cancel, so it never holds more than a page of ids at a time.
//!
//! The walk is not a snapshot: a message moving between places while it
//! runs (a retry leaving the ready stream for the delayed set) may be
//! missed, and cancelling again catches it. Places that messages leave only
//! for the ready stream (delayed, waiting) are visited before the ready
//! stream, so promotion and admission during the walk lose nothing. The
//! ready stream is read up to the entry that was last when its walk began,
//! so messages published during a cancel do not make it endless.

use ferry_core::message::MessageSpec;

use crate::paging::matches_any;

/// How many ids a backend reads from one place at a time.
pub(crate) const PAGE: usize = 200;

/// Filters of a bulk cancel: a message matches when, for every filter that
/// has values, it matches at least one of them. The default matches every
/// message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub url: Vec<String>,
    /// URL group names.
    pub topic_name: Vec<String>,
    pub queue_name: Vec<String>,
    pub schedule_id: Vec<String>,
    pub label: Vec<String>,
    pub flow_control_key: Vec<String>,
    pub caller_ip: Vec<String>,
    /// Hosts of the destination URL.
    pub host: Vec<String>,
    /// Paths of the destination URL.
    pub path: Vec<String>,
    /// Unix ms, inclusive bounds on the message's creation time.
    pub from_date: Option<u64>,
    pub to_date: Option<u64>,
}

impl MessageFilter {
    pub fn matches(&self, spec: &MessageSpec) -> bool {
        let url = url::Url::parse(&spec.url).ok();
        let host = url.as_ref().and_then(url::Url::host_str);
        let path = url.as_ref().map(url::Url::path);
        matches_any(&self.url, |v| *v == spec.url)
            && matches_any(&self.topic_name, |v| {
                spec.topic.as_ref().is_some_and(|t| t.name == *v)
            })
            && matches_any(&self.queue_name, |v| Some(v) == spec.queue.as_ref())
            && matches_any(&self.schedule_id, |v| Some(v) == spec.schedule_id.as_ref())
            && matches_any(&self.label, |v| spec.labels.contains(v))
            && matches_any(&self.flow_control_key, |v| {
                spec.flow_control.as_ref().is_some_and(|f| f.key == *v)
            })
            && matches_any(&self.caller_ip, |v| Some(v) == spec.caller_ip.as_ref())
            && matches_any(&self.host, |v| Some(v.as_str()) == host)
            && matches_any(&self.path, |v| Some(v.as_str()) == path)
            && self.from_date.is_none_or(|from| spec.created_at >= from)
            && self.to_date.is_none_or(|to| spec.created_at <= to)
    }
}

/// A place in one partition where a pending message can wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The delayed set: delays and retry backoff.
    Delayed,
    /// The waiting list of the tenant's queue with this name.
    Waiting(String),
    /// The waiting list of the tenant's flow-control key with this name.
    FlowWaiting(String),
    /// The ready stream, with the entries in flight.
    Ready,
}

/// The places of one partition in the order a bulk cancel visits them,
/// given the names of the tenant's queues and flow-control keys held there.
/// Ready comes last: see the module doc.
pub(crate) fn places(mut queues: Vec<String>, mut flows: Vec<String>) -> Vec<Place> {
    queues.sort();
    flows.sort();
    std::iter::once(Place::Delayed)
        .chain(queues.into_iter().map(Place::Waiting))
        .chain(flows.into_iter().map(Place::FlowWaiting))
        .chain(std::iter::once(Place::Ready))
        .collect()
}
