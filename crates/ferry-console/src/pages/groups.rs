//! URL groups and their endpoints.

use askama::Template;
use axum::extract::State;
use ferry_core::wire::UrlGroup;
use ferry_store::Store;

use crate::Console;
use crate::format;
use crate::page::{self, Chrome, PageResult};
use crate::session::Operator;

struct Row {
    name: String,
    updated: String,
    /// (endpoint name, URL).
    endpoints: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
) -> PageResult {
    let groups: Vec<UrlGroup> = console
        .inner
        .api
        .get(&operator.tenant, "/v2/topics")
        .await?;
    let rows = groups
        .into_iter()
        .map(|g| Row {
            name: g.name,
            updated: format::time(g.updated_at),
            endpoints: g
                .endpoints
                .into_iter()
                .map(|e| (e.name.unwrap_or_default(), e.url.unwrap_or_default()))
                .collect(),
        })
        .collect();
    Ok(page::render(&GroupsPage {
        chrome: Chrome::new(&operator, "/console/groups"),
        rows,
    }))
}
