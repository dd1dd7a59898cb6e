//! The merge is tested against an in-memory source that behaves like
//! `XRANGE`/`XREVRANGE` over several partitions.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::message::MessageSpec;

use super::*;

struct Streams(Vec<BTreeMap<EntryPos, StoredMessage>>);

impl DlqSource for Streams {
    async fn fetch(
        &self,
        partition: Partition,
        order: DlqOrder,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<DlqEntry>> {
        let stream = &self.0[usize::from(partition.0)];
        let admits = |pos: &EntryPos| match (start, order) {
            (None, _) => true,
            (Some(s), DlqOrder::EarliestFirst) => *pos > s.at || (s.inclusive && *pos == s.at),
            (Some(s), DlqOrder::LatestFirst) => *pos < s.at || (s.inclusive && *pos == s.at),
        };
        let iter: Box<dyn Iterator<Item = (&EntryPos, &StoredMessage)>> = match order {
            DlqOrder::EarliestFirst => Box::new(stream.iter()),
            DlqOrder::LatestFirst => Box::new(stream.iter().rev()),
        };
        Ok(iter
            .filter(|(pos, _)| admits(pos))
            .take(count)
            .map(|(pos, m)| (*pos, Some(m.clone())))
            .collect())
    }
}

fn message(p: u16, label: &str) -> StoredMessage {
    StoredMessage {
        id: MessageId::generate(Partition(p)),
        spec: MessageSpec {
            tenant: TenantId::new("t").unwrap(),
            url: "https://example.com".into(),
            method: "POST".into(),
            headers: vec![],
            retries: 0,
            retry_delay: None,
            timeout_ms: None,
            callback: None,
            failure_callback: None,
            labels: vec![label.into()],
            caller_ip: None,
            dedup_id: None,
            created_at: 0,
            not_before: 0,
            body_hash: String::new(),
            source_message_id: None,
        },
        body: Bytes::new(),
        retried: 0,
        last: None,
        dead_at: Some(0),
    }
}

/// Three partitions; equal entry ids in different partitions on purpose.
fn streams() -> (Streams, Vec<(EntryPos, u16, String)>) {
    let mut parts = vec![BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    let mut all = Vec::new();
    for i in 0..40u64 {
        let p = (i % 3) as u16;
        let pos = EntryPos {
            ms: 1000 + i / 2,
            seq: 0,
        };
        let label = if i % 4 == 0 { "even" } else { "odd" };
        let m = message(p, label);
        all.push((pos, p, m.id.to_string()));
        parts[usize::from(p)].insert(pos, m);
    }
    all.sort();
    (Streams(parts), all)
}

async fn walk(source: &Streams, order: DlqOrder, count: usize, filter: DlqFilter) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let query = DlqQuery {
            cursor: cursor.clone(),
            count,
            order,
            filter: filter.clone(),
        };
        let page = page(source, 3, &query).await.unwrap();
        seen.extend(page.messages.iter().map(|m| m.id.to_string()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn pages_cover_every_entry_once_in_order() {
    let (source, all) = streams();
    let expected: Vec<String> = all.iter().map(|(_, _, id)| id.clone()).collect();
    for count in [1, 3, 7, 100] {
        assert_eq!(
            walk(
                &source,
                DlqOrder::EarliestFirst,
                count,
                DlqFilter::default()
            )
            .await,
            expected
        );
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(
            walk(&source, DlqOrder::LatestFirst, count, DlqFilter::default()).await,
            reversed
        );
    }
}

#[tokio::test]
async fn filters_apply_across_pages() {
    let (source, _) = streams();
    let filter = DlqFilter {
        label: vec!["even".into()],
        ..DlqFilter::default()
    };
    let seen = walk(&source, DlqOrder::EarliestFirst, 2, filter).await;
    assert_eq!(seen.len(), 10);
}

#[tokio::test]
async fn unmatched_filters_match_nothing() {
    let (source, _) = streams();
    let filter = DlqFilter {
        unmatched: true,
        ..DlqFilter::default()
    };
    assert!(
        walk(&source, DlqOrder::EarliestFirst, 5, filter)
            .await
            .is_empty()
    );
}

#[test]
fn cursors_round_trip() {
    let c = Cursor {
        at: EntryPos { ms: 17, seq: 2 },
        partition: 5,
    };
    assert_eq!(Cursor::parse(&c.render()), Some(c));
    assert!(valid_cursor("17-2-5"));
    assert!(!valid_cursor("17-2"));
    assert!(!valid_cursor("abc"));
}
