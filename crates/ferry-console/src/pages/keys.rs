//! Signing keys: shown, and rotated after a confirmation (receivers that
//! do not yet know the new next key will reject deliveries signed with it
//! once it becomes current).

use askama::Template;
use axum::extract::{Query, State};
use ferry_core::wire::SigningKeys;
use ferry_store::Store;
use http::HeaderMap;

use crate::Console;
use crate::page::{self, Chrome, Notice, PageResult};
use crate::session::Operator;

const ACTIVE: &str = "/console/keys";

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    chrome: Chrome,
    current: String,
    next: String,
}

#[derive(Template)]
#[template(path = "keys_rotate.html")]
struct RotatePage {
    chrome: Chrome,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<crate::page::NoticeQuery>,
) -> PageResult {
    let keys: SigningKeys = console.inner.api.get(&operator.tenant, "/v2/keys").await?;
    Ok(page::render(&KeysPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        current: keys.current,
        next: keys.next,
    }))
}

pub(crate) async fn rotate_confirm(operator: Operator) -> PageResult {
    Ok(page::render(&RotatePage {
        chrome: Chrome::new(&operator, ACTIVE),
    }))
}

pub(crate) async fn rotate<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
) -> PageResult {
    console
        .inner
        .api
        .post(&operator.tenant, "/v2/keys/rotate", HeaderMap::new())
        .await?;
    tracing::info!(tenant = %operator.tenant, "console: signing keys rotated");
    Ok(page::done(ACTIVE, Notice::Rotated))
}
