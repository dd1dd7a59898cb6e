//! The style sheet and script, compiled into the binary, so the console
//! needs nothing from the network and works under its strict policy.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::page::Failure;

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// `GET /console/assets/{name}`. Assets change only with the binary, so
/// browsers may keep them for an hour.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Failure::not_found("no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
