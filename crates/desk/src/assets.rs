//! The desk's static files, compiled into the binary: its style sheet and
//! a vendored copy of `htmx` (BSD Zero Clause licence, `htmx.LICENSE`).
//! No page loads anything from another host.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The route the assets are served from.
pub const ROUTE: &str = "/desk/assets/{name}";

/// The assets by name: (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "desk.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/desk.css"),
    ),
    (
        "desk.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/desk.js"),
    ),
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/upload.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx.min.js"),
    ),
];

/// The path of asset `name`, with the crate's version in it so that a new
/// binary's files are never served from an old cache.
pub fn url(name: &str) -> String {
    format!("/desk/assets/{name}?v={}", env!("CARGO_PKG_VERSION"))
}

/// Serves asset `name`; unknown names are 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
