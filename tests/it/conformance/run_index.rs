//! The tenant's run index: runs listed newest first across partitions,
//! paged by cursor, filtered, and a run replaced under the same id listed
//! once.

use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::workflow::RunConfig;
use ferry_store::{NewRun, RunEnd, RunFilter, RunQuery, RunState, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{now_ms, tenant, within};
use crate::conformance::workflows::start_run;

/// Creates `run_id` at `created_at` with `url` and `label`.
async fn start<S: Store>(store: &S, tenant: &TenantId, run_id: &str, created_at: u64, url: &str) {
    let run = NewRun {
        run_id: run_id.into(),
        url: url.into(),
        created_at,
        user_headers: Vec::new(),
        config: RunConfig {
            labels: vec![format!("l-{}", (created_at / 1_000) % 2)],
            ..RunConfig::default()
        },
        invoker: None,
    };
    start_run(store, tenant, &run).await;
}

async fn list<S: Store>(
    store: &S,
    tenant: &TenantId,
    query: &RunQuery,
) -> (Vec<String>, Option<String>) {
    let page = within(store.workflow_runs(tenant, query)).await.unwrap();
    let ids = page.runs.into_iter().map(|r| r.run_id).collect();
    (ids, page.cursor)
}

fn query(filter: RunFilter, count: usize) -> RunQuery {
    RunQuery {
        filter,
        cursor: None,
        count,
    }
}

pub(crate) async fn runs_are_listed_newest_first_by_cursor<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    for (i, id) in ["r1", "r2", "r3", "r4", "r5"].into_iter().enumerate() {
        let url = if i % 2 == 0 {
            "https://a.example/wf/x"
        } else {
            "https://b.example/wf"
        };
        start(&store, &acme, id, 1_000 * (i as u64 + 1), url).await;
    }
    start(
        &store,
        &tenant("other"),
        "r9",
        9_000,
        "https://a.example/wf/x",
    )
    .await;

    let mut q = query(RunFilter::default(), 2);
    let mut seen = Vec::new();
    loop {
        let (ids, cursor) = list(&store, &acme, &q).await;
        seen.push(ids);
        match cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, [vec!["r5", "r4"], vec!["r3", "r2"], vec!["r1"]]);
    let (all, cursor) = list(&store, &acme, &query(RunFilter::default(), 10)).await;
    assert_eq!(
        (all.len(), cursor),
        (5, None),
        "runs belong to their tenant"
    );

    within(store.end_workflow(&acme, "r2", &RunEnd::Success(Bytes::new()), now_ms()))
        .await
        .unwrap();
    let filtered = |filter: RunFilter| {
        let store = store.clone();
        let acme = acme.clone();
        async move { list(&store, &acme, &query(filter, 10)).await.0 }
    };
    assert_eq!(
        filtered(RunFilter {
            state: Some(RunState::Success),
            ..RunFilter::default()
        })
        .await,
        ["r2"]
    );
    assert_eq!(
        filtered(RunFilter {
            url: Some("https://a.example/wf".into()),
            ..RunFilter::default()
        })
        .await,
        ["r5", "r3", "r1"],
        "a URL prefix"
    );
    assert!(
        filtered(RunFilter {
            url: Some("https://a.example/wf".into()),
            url_exact: true,
            ..RunFilter::default()
        })
        .await
        .is_empty(),
        "an exact URL"
    );
    assert_eq!(
        filtered(RunFilter {
            label: Some("l-0".into()),
            from_ms: Some(2_000),
            ..RunFilter::default()
        })
        .await,
        ["r4", "r2"]
    );
    assert_eq!(
        filtered(RunFilter {
            run_id: Some("r3".into()),
            ..RunFilter::default()
        })
        .await,
        ["r3"]
    );

    // r2 ended; a new run with its id replaces it in the index.
    start(&store, &acme, "r2", 6_000, "https://b.example/wf").await;
    assert_eq!(
        list(&store, &acme, &query(RunFilter::default(), 10))
            .await
            .0,
        ["r2", "r5", "r4", "r3", "r1"]
    );
}
