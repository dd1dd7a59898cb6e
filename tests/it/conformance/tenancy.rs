//! Tenant isolation: one tenant can neither see nor change another's
//! messages and dead letters, even knowing their ids.

use ferry_core::ids::{MessageId, Partition};
use ferry_store::{DlqQuery, NewMessage, Order, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{dead_letter, delayed, now_ms, publish, response, tenant};

pub(crate) async fn tenants_cannot_reach_each_others_messages(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let pending = delayed(&acme, 0, "acme's", now_ms() + 60_000);
    publish(&store, &pending).await;
    let (dead, _) = dead_letter(&store, &acme, 0, response(500)).await;
    let dlq_id = dead.id.dlq_id();

    assert!(store.message(&globex, &pending.id).await.unwrap().is_none());
    assert!(!store.cancel(&globex, &pending.id, now_ms()).await.unwrap());
    assert!(store.message(&globex, &dead.id).await.unwrap().is_none());
    assert!(store.dlq_get(&globex, &dlq_id).await.unwrap().is_none());
    assert!(!store.dlq_delete(&globex, &dlq_id).await.unwrap());
    let replacement = NewMessage {
        id: MessageId::generate(Partition(0)),
        ..delayed(&globex, 0, "hijack", 0)
    };
    assert!(
        !store
            .dlq_retry(&globex, &dlq_id, &replacement)
            .await
            .unwrap()
    );
    assert!(
        store
            .message(&globex, &replacement.id)
            .await
            .unwrap()
            .is_none()
    );
    let query = DlqQuery {
        count: 10,
        order: Order::EarliestFirst,
        ..DlqQuery::default()
    };
    assert!(
        store
            .dlq_page(&globex, &query)
            .await
            .unwrap()
            .messages
            .is_empty()
    );

    // Everything is still there for its owner.
    let listed = store.dlq_page(&acme, &query).await.unwrap().messages;
    assert_eq!(listed.iter().map(|m| &m.id).collect::<Vec<_>>(), [&dead.id]);
    assert!(store.dlq_get(&acme, &dlq_id).await.unwrap().is_some());
    assert!(store.cancel(&acme, &pending.id, now_ms()).await.unwrap());
}
