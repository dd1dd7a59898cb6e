//! URL groups: upsert by URL, removal by URL or name, empty groups vanish,
//! tenants see only their own.

use ferry_store::{EndpointSelection, GroupEndpoint, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{tenant, within};

/// A bound on a group's endpoints that these cases never reach.
const MAX: usize = 100;

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
        MAX,
        1_000,
    ))
    .await
    .unwrap();
    let renamed = [endpoint(a, Some("renamed"))];
    within(store.upsert_endpoints(&acme, "orders", &renamed, MAX, 2_000))
        .await
        .unwrap();
    within(store.upsert_endpoints(&acme, "audit", &[endpoint(a, None)], MAX, 3_000))
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

pub(crate) async fn a_group_holds_at_most_its_bound_of_endpoints<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let urls: Vec<String> = (0..5)
        .map(|n| format!("https://e{n}.example.com/hook"))
        .collect();
    let endpoints: Vec<GroupEndpoint> = urls.iter().map(|u| endpoint(u, None)).collect();
    let upsert = |endpoints: Vec<GroupEndpoint>, at: u64| {
        let (store, acme) = (&store, &acme);
        async move {
            within(store.upsert_endpoints(acme, "fans", &endpoints, 3, at))
                .await
                .unwrap()
        }
    };
    assert!(upsert(endpoints[..2].to_vec(), 1_000).await);
    // Two more would make four: refused whole, whatever each request holds.
    assert!(!upsert(endpoints[2..4].to_vec(), 2_000).await);
    let fans = within(store.url_group(&acme, "fans"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fans.endpoints, endpoints[..2]);
    assert_eq!(fans.updated_at, 1_000, "a refused request changes nothing");
    // Endpoints already there (renamed, or named twice) do not count again.
    let mut third = endpoints[..3].to_vec();
    third[0].name = Some("renamed".into());
    third.push(endpoints[2].clone());
    assert!(upsert(third, 3_000).await);
    assert!(!upsert(endpoints[4..].to_vec(), 4_000).await);
    // The bound is per group: a new one starts with the whole of it.
    let other = within(store.upsert_endpoints(&acme, "other", &endpoints[..3], 3, 6_000));
    assert!(other.await.unwrap());
}
