//! Entry ids, ranges and acknowledgements behave like their Redis commands.

use ferry_core::ids::Partition;

use super::*;

fn pos(ms: u64, seq: u64) -> EntryPos {
    EntryPos { ms, seq }
}

#[test]
fn entry_ids_only_grow_even_when_the_clock_goes_back() {
    let check = |times: &[u64], expected: &[&str]| {
        let mut clock = EntryClock::default();
        let ids: Vec<String> = times.iter().map(|t| clock.next(*t).render()).collect();
        assert_eq!(ids, expected, "times {times:?}");
    };
    check(&[5, 6, 9], &["5-0", "6-0", "9-0"]);
    check(&[5, 5, 5], &["5-0", "5-1", "5-2"]);
    check(&[5, 3, 6], &["5-0", "5-1", "6-0"]);
}

/// A stream with one dead letter at each of the given milliseconds.
fn dlq_at(times: &[u64]) -> (DlqStream, Vec<MessageId>) {
    let mut stream = DlqStream::default();
    let ids: Vec<MessageId> = times
        .iter()
        .map(|_| MessageId::generate(Partition(0)))
        .collect();
    for (at, id) in times.iter().zip(&ids) {
        stream.append(id.clone(), *at, Duration::from_secs(3600));
    }
    (stream, ids)
}

#[test]
fn dlq_range_honours_order_bound_and_count() {
    let (stream, _) = dlq_at(&[10, 20, 30, 40]);
    let check = |order: Order, start: Option<(u64, bool)>, count: usize, expected: &[u64]| {
        let start = start.map(|(ms, inclusive)| Start {
            at: pos(ms, 0),
            inclusive,
        });
        let got: Vec<u64> = stream
            .range(order, start, count)
            .iter()
            .map(|(p, _)| p.ms)
            .collect();
        assert_eq!(got, expected, "{order:?} from {start:?} count {count}");
    };
    check(Order::EarliestFirst, None, 10, &[10, 20, 30, 40]);
    check(Order::EarliestFirst, None, 2, &[10, 20]);
    check(Order::EarliestFirst, Some((20, true)), 10, &[20, 30, 40]);
    check(Order::EarliestFirst, Some((20, false)), 10, &[30, 40]);
    check(Order::LatestFirst, None, 3, &[40, 30, 20]);
    check(Order::LatestFirst, Some((30, true)), 10, &[30, 20, 10]);
    check(Order::LatestFirst, Some((30, false)), 1, &[20]);
}

#[test]
fn dlq_append_drops_entries_older_than_retention() {
    let (mut stream, ids) = dlq_at(&[10, 20, 30]);
    let newest = MessageId::generate(Partition(0));
    let (at, dropped) = stream.append(newest, 45, Duration::from_millis(25));

    assert_eq!(at, pos(45, 0));
    assert_eq!(dropped, [(pos(10, 0), ids[0].clone())]);
    let kept: Vec<u64> = stream
        .range(Order::EarliestFirst, None, 10)
        .iter()
        .map(|(p, _)| p.ms)
        .collect();
    assert_eq!(kept, [20, 30, 45]);
}

#[test]
fn only_the_holder_can_acknowledge_an_entry() {
    let mut ready = ReadyStream::default();
    ready.append(MessageId::generate(Partition(0)), 1);
    let now = Instant::now();
    let entry = ready.read_new("x", 1, now)[0].0.render();

    assert_eq!(ready.ack_as(&entry, "y"), Ack::HeldByOther);
    assert_eq!(ready.len(), 1);
    assert_eq!(ready.ack_as(&entry, "x"), Ack::Done);
    assert_eq!(ready.ack_as(&entry, "x"), Ack::NotPending);
    assert_eq!(ready.ack_as("not-an-entry", "x"), Ack::NotPending);
    assert_eq!(ready.len(), 0);
}

#[test]
fn unread_entries_are_not_acknowledged_but_can_be_discarded() {
    let mut ready = ReadyStream::default();
    ready.append(MessageId::generate(Partition(0)), 1);
    let unread = pos(1, 0).render();

    assert!(!ready.ack(&unread));
    assert_eq!(ready.len(), 1);
    ready.discard(&unread);
    assert_eq!(ready.len(), 0);
    assert!(ready.read_new("x", 1, Instant::now()).is_empty());
}
