//! URL groups: upsert by URL, removal by URL or name, empty groups vanish,
//! tenants see only their own.

use ferry_store::{EndpointSelection, GroupEndpoint, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{tenant, within};

fn endpoint(url: &str, name: Option<&str>) -> GroupEndpoint {
    GroupEndpoint {
        url: url.into(),
        name: name.map(str::to_owned),
    }
}

pub(crate) async fn url_groups_upsert_remove_and_vanish_when_empty<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let a = "https://a.example.com/hook";
    let b = "https://b.example.com/hook";
    within(store.upsert_endpoints(
        &acme,
        "orders",
        &[endpoint(b, None), endpoint(a, Some("first"))],
        1_000,
    ))
    .await
    .unwrap();
    within(store.upsert_endpoints(&acme, "orders", &[endpoint(a, Some("renamed"))], 2_000))
        .await
        .unwrap();
    within(store.upsert_endpoints(&acme, "audit", &[endpoint(a, None)], 3_000))
        .await
        .unwrap();

    let orders = within(store.url_group(&acme, "orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        orders.endpoints,
        [endpoint(a, Some("renamed")), endpoint(b, None)]
    );
    assert_eq!((orders.created_at, orders.updated_at), (1_000, 2_000));
    let names: Vec<String> = within(store.url_groups(&acme))
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["audit", "orders"]);
    assert!(
        within(store.url_groups(&tenant("other")))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        within(store.url_group(&tenant("other"), "orders"))
            .await
            .unwrap()
            .is_none()
    );

    let by_name = EndpointSelection {
        names: vec!["renamed".into()],
        ..EndpointSelection::default()
    };
    assert!(
        within(store.remove_endpoints(&acme, "orders", &by_name, 4_000))
            .await
            .unwrap()
    );
    let orders = within(store.url_group(&acme, "orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orders.endpoints, [endpoint(b, None)]);
    let by_url = EndpointSelection {
        urls: vec![b.into()],
        ..EndpointSelection::default()
    };
    assert!(
        within(store.remove_endpoints(&acme, "orders", &by_url, 5_000))
            .await
            .unwrap()
    );
    assert!(
        within(store.url_group(&acme, "orders"))
            .await
            .unwrap()
            .is_none(),
        "an empty group is deleted"
    );
    assert!(
        !within(store.remove_endpoints(&acme, "orders", &by_url, 6_000))
            .await
            .unwrap()
    );

    assert!(
        within(store.delete_url_group(&acme, "audit"))
            .await
            .unwrap()
    );
    assert!(
        !within(store.delete_url_group(&acme, "audit"))
            .await
            .unwrap()
    );
    assert!(within(store.url_groups(&acme)).await.unwrap().is_empty());
}
