//! The merge is tested against an in-memory source that behaves like
//! `XRANGE`/`XREVRANGE` over several partitions.

use std::collections::BTreeMap;

use super::*;

/// An item: its name and a label to filter on.
type Item = (String, &'static str);

struct Streams(Vec<BTreeMap<EntryPos, Item>>);

impl Source for Streams {
    type Item = Item;

    async fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<Entry<Item>>> {
        let stream = &self.0[usize::from(partition.0)];
        let admits = |pos: &EntryPos| match (start, order) {
            (None, _) => true,
            (Some(s), Order::EarliestFirst) => *pos > s.at || (s.inclusive && *pos == s.at),
            (Some(s), Order::LatestFirst) => *pos < s.at || (s.inclusive && *pos == s.at),
        };
        let iter: Box<dyn Iterator<Item = (&EntryPos, &Item)>> = match order {
            Order::EarliestFirst => Box::new(stream.iter()),
            Order::LatestFirst => Box::new(stream.iter().rev()),
        };
        Ok(iter
            .filter(|(pos, _)| admits(pos))
            .take(count)
            .map(|(pos, item)| (*pos, Some(item.clone())))
            .collect())
    }
}

/// Three partitions; equal entry ids in different partitions on purpose.
fn streams() -> (Streams, Vec<String>) {
    let mut parts = vec![BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    let mut all = Vec::new();
    for i in 0..40u64 {
        let p = (i % 3) as u16;
        let pos = EntryPos {
            ms: 1000 + i / 2,
            seq: 0,
        };
        let label = if i % 4 == 0 { "even" } else { "odd" };
        let name = format!("item-{i}");
        all.push((pos, p, name.clone()));
        parts[usize::from(p)].insert(pos, (name, label));
    }
    all.sort();
    (
        Streams(parts),
        all.into_iter().map(|(_, _, name)| name).collect(),
    )
}

async fn walk(source: &Streams, order: Order, count: usize, label: Option<&str>) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let request = PageRequest {
            cursor: cursor.as_deref(),
            count,
            order,
            seek: None,
        };
        let (items, next) = page(source, 3, request, |(_, l)| {
            label.is_none_or(|want| *l == want)
        })
        .await
        .unwrap();
        seen.extend(items.into_iter().map(|(name, _)| name));
        match next {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn pages_cover_every_entry_once_in_order() {
    let (source, expected) = streams();
    for count in [1, 3, 7, 100] {
        assert_eq!(
            walk(&source, Order::EarliestFirst, count, None).await,
            expected
        );
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(
            walk(&source, Order::LatestFirst, count, None).await,
            reversed
        );
    }
}

#[tokio::test]
async fn filters_apply_across_pages() {
    let (source, _) = streams();
    assert_eq!(
        walk(&source, Order::EarliestFirst, 2, Some("even"))
            .await
            .len(),
        10
    );
    assert!(
        walk(&source, Order::EarliestFirst, 5, Some("none"))
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
    assert!(valid_cursor("1700000000000"), "a time in Unix ms");
    assert!(!valid_cursor("17-2"));
    assert!(!valid_cursor("abc"));
}

#[tokio::test]
async fn a_time_cursor_starts_at_that_millisecond_in_either_order() {
    let (source, expected) = streams();
    let names = |items: Vec<Item>| -> Vec<String> { items.into_iter().map(|(n, _)| n).collect() };
    let at = |order| PageRequest {
        cursor: Some("1010"),
        count: 100,
        order,
        seek: None,
    };
    // Items 20 and 21 have ms 1010; both are on the page in each order.
    let (newest_first, cursor) = page(&source, 3, at(Order::LatestFirst), |_| true)
        .await
        .unwrap();
    let mut older: Vec<String> = expected[..22].to_vec();
    older.reverse();
    assert_eq!(names(newest_first), older);
    assert_eq!(cursor, None);
    let (oldest_first, _) = page(&source, 3, at(Order::EarliestFirst), |_| true)
        .await
        .unwrap();
    assert_eq!(names(oldest_first), expected[20..]);
}

#[test]
fn any_value_of_a_filter_matches() {
    assert!(matches_any::<u8>(&[], |_| false));
    assert!(matches_any(&[1, 2], |v| *v == 2));
    assert!(!matches_any(&[1, 2], |v| *v == 3));
}

#[tokio::test]
async fn seeking_starts_at_the_given_position() {
    let (source, expected) = streams();
    let request = PageRequest {
        cursor: None,
        count: 100,
        order: Order::EarliestFirst,
        seek: Some(EntryPos { ms: 1010, seq: 0 }),
    };
    let (items, cursor) = page(&source, 3, request, |_| true).await.unwrap();
    let names: Vec<String> = items.into_iter().map(|(name, _)| name).collect();
    // Items 20..40 have ms 1010..1019.
    assert_eq!(names, expected[20..]);
    assert_eq!(cursor, None);
}
