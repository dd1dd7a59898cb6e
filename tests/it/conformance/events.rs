//! The event log: one line per transition, with the message's destination,
//! paged newest or oldest first across partitions, filtered.

use std::time::Duration;

use ferry_store::{
    DeliveredEntry, EventDetail, EventFilter, EventQuery, EventState, LoggedEvent, Order, Outcome,
    Store,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    URL, message, now_ms, outcome, publish, read_one, record_done, response, tenant, within,
};

/// Two partitions, so pages merge lines of both.
fn two_partitions() -> Settings {
    Settings {
        partitions: 2,
        ..Settings::default()
    }
}

async fn all_events<S: Store>(
    store: &S,
    tenant_name: &str,
    order: Order,
    filter: EventFilter,
) -> Vec<LoggedEvent> {
    let mut events = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let query = EventQuery {
            cursor,
            count: 2,
            order,
            filter: filter.clone(),
        };
        let page = within(store.events_page(&tenant(tenant_name), &query))
            .await
            .unwrap();
        events.extend(page.events);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return events,
        }
    }
    panic!("the event log did not end");
}

pub(crate) async fn the_event_log_records_every_transition<B: Backend>(backend: &B) {
    let store = backend.open(two_partitions()).await;
    let acme = tenant("acme");
    let delivered = message(&acme, 0, "one");
    let retried = message(&acme, 1, "two");
    let cancelled = message(&acme, 0, "three");
    publish(&store, &delivered).await;
    publish(&store, &retried).await;

    let claimed = read_one(&store, 0, "c1", &delivered.id).await;
    let batch = [DeliveredEntry {
        entry: claimed.entry.clone(),
        message_id: delivered.id.clone(),
        tenant: acme.clone(),
        detail: EventDetail {
            response_status: Some(200),
            ..EventDetail::of(&delivered.spec)
        },
        queue: None,
    }];
    assert_eq!(
        within(store.record_delivered(delivered.id.partition(), "c1", &batch))
            .await
            .unwrap(),
        Some(1)
    );

    let claimed = read_one(&store, 1, "c1", &retried.id).await;
    let due_ms = now_ms() + 60_000;
    let retry = Outcome::Retry {
        due_ms,
        retried: 1,
        response: response(503),
    };
    record_done(&store, "c1", &outcome(&claimed, &acme, retry)).await;

    publish(&store, &cancelled).await;
    assert!(
        within(store.cancel(&acme, &cancelled.id, now_ms()))
            .await
            .unwrap()
    );

    let oldest_first =
        all_events(&store, "acme", Order::EarliestFirst, EventFilter::default()).await;
    // Lines of different partitions written in the same millisecond may
    // come in either order; each message's own lines keep theirs.
    let states_of = |m: &ferry_store::NewMessage| -> Vec<EventState> {
        oldest_first
            .iter()
            .filter(|e| e.message_id == m.id)
            .map(|e| e.state)
            .collect()
    };
    use EventState::*;
    assert_eq!(states_of(&delivered), [Created, Delivered]);
    assert_eq!(states_of(&retried), [Created, Error, Retry]);
    assert_eq!(states_of(&cancelled), [Created, Canceled]);
    assert_eq!(oldest_first.len(), 7);
    assert!(
        oldest_first.windows(2).all(|w| w[0].time <= w[1].time),
        "oldest first"
    );
    assert!(
        oldest_first.iter().all(|e| e.detail.url == URL),
        "every line names the url"
    );
    let delivered_line = oldest_first.iter().find(|e| e.state == Delivered).unwrap();
    assert_eq!(delivered_line.detail.response_status, Some(200));
    let cancel_line = oldest_first.iter().find(|e| e.state == Canceled).unwrap();
    assert_eq!(
        cancel_line.detail.labels,
        ["conformance"],
        "a cancel line keeps the message's detail"
    );

    let mut newest_first =
        all_events(&store, "acme", Order::LatestFirst, EventFilter::default()).await;
    newest_first.reverse();
    assert_eq!(newest_first, oldest_first);

    let only_retry = EventFilter {
        states: vec![Retry],
        ..EventFilter::default()
    };
    let retries = all_events(&store, "acme", Order::EarliestFirst, only_retry).await;
    assert_eq!(retries.len(), 1);
    assert_eq!(
        retries[0].detail.next_delivery_time, None,
        "the fixture's detail carries no next time"
    );

    let one_message = EventFilter {
        message_ids: vec![retried.id.to_string()],
        ..EventFilter::default()
    };
    assert_eq!(
        all_events(&store, "acme", Order::EarliestFirst, one_message)
            .await
            .len(),
        3
    );

    assert!(
        all_events(
            &store,
            "other",
            Order::EarliestFirst,
            EventFilter::default()
        )
        .await
        .is_empty(),
        "tenants see only their own log"
    );
}

pub(crate) async fn log_lines_older_than_the_age_are_dropped<B: Backend>(backend: &B) {
    let max_age = Duration::from_millis(50);
    let store = backend
        .open(Settings {
            events_max_age: max_age,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let old = message(&acme, 0, "old");
    publish(&store, &old).await;
    let listed = async || -> Vec<String> {
        all_events(&store, "acme", Order::EarliestFirst, EventFilter::default())
            .await
            .into_iter()
            .map(|e| e.message_id.to_string())
            .collect()
    };
    assert_eq!(listed().await, [old.id.to_string()]);

    // Redis stamps lines with its own clock, so the age has to pass for
    // real; waiting longer than needed cannot change the outcome. The next
    // message is made after the wait, so the in-process store, which stamps
    // lines with the publish time, sees the same gap.
    tokio::time::sleep(max_age * 3).await;
    let new = message(&acme, 0, "new");
    publish(&store, &new).await;
    assert_eq!(
        listed().await,
        [new.id.to_string()],
        "the line older than the age went when the next one was written"
    );
}

/// A page asked for with a bare Unix-ms cursor (the JS SDK's example passes
/// `Date.now()`) starts at that time, going back or forward from it.
pub(crate) async fn a_time_cursor_pages_from_that_time<B: Backend>(backend: &B) {
    let store = backend.open(two_partitions()).await;
    let acme = tenant("acme");
    let before = message(&acme, 0, "before");
    publish(&store, &before).await;
    // Log lines carry millisecond times; keep the two a few apart.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut after = message(&acme, 1, "after");
    after.spec.created_at = now_ms();
    publish(&store, &after).await;

    let from_between = |order| EventQuery {
        cursor: Some(between.to_string()),
        count: 10,
        order,
        filter: EventFilter::default(),
    };
    let ids =
        |events: Vec<LoggedEvent>| -> Vec<_> { events.into_iter().map(|e| e.message_id).collect() };
    let older = within(store.events_page(&acme, &from_between(Order::LatestFirst)))
        .await
        .unwrap();
    assert_eq!(ids(older.events), std::slice::from_ref(&before.id));
    let newer = within(store.events_page(&acme, &from_between(Order::EarliestFirst)))
        .await
        .unwrap();
    assert_eq!(ids(newer.events), std::slice::from_ref(&after.id));
}
