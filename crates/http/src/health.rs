//! `/healthz` and `/readyz`: what a service manager or a load balancer asks,
//! without a token. Neither answer names a case, a person or a message.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_node::Node;
use custos_node::app::Readiness;

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "ok", content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers at the expected schema, the keys are
/// loaded, a directory that has not expired is in force, the custody ledger
/// can be extended and the disk keeps its reserve.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Readiness, description = "Ready: every check passed"),
        (status = 503, body = Readiness, description = "Not ready: the checks, the failing ones with ok = false"),
    ))]
pub async fn readyz(State(node): State<Arc<Node>>) -> Response {
    let readiness = node.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}
