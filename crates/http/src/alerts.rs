//! The client API's on-call rota and alerts: list and change the rota,
//! list alerts and acknowledge one. The node decides and records
//! (`custos_node::app::rota`, `custos_node::app::alerts`); this module
//! authenticates, calls and answers with the node's views as they are.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_node::Node;
use custos_node::app::{AlertView, ShiftInput, ShiftView};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::authenticate;
use crate::error::ApiError;

/// `GET/POST /api/v1/rota`.
pub const ROTA: &str = "/api/v1/rota";
/// `DELETE /api/v1/rota/{id}`.
pub const SHIFT: &str = "/api/v1/rota/{id}";
/// `GET /api/v1/alerts`.
pub const ALERTS: &str = "/api/v1/alerts";
/// `POST /api/v1/alerts/{id}/ack`.
pub const ALERT_ACK: &str = "/api/v1/alerts/{id}/ack";

/// Listing the rota.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RotaQuery {
    /// Past and removed shifts too.
    pub all: Option<bool>,
}

/// The shifts to come and running (all with `?all=true`).
#[utoipa::path(get, path = "/api/v1/rota", tag = "on-call", params(RotaQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ShiftView>), (status = 401, description = "unauthorized"),
        (status = 403, description = "forbidden")))]
pub async fn list_rota(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<RotaQuery>,
) -> Result<Json<Vec<ShiftView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.rota(&who, q.all.unwrap_or(false)).await?))
}

/// Adds a shift (`{"role", "person", "deputy", "starts": "2026-12-07T08:00
/// Europe/Paris", "ends": ...}`, with `email` and `deputy_email` when not
/// taken from the users' profiles). The person and the deputy are users of
/// the node.
#[utoipa::path(post, path = "/api/v1/rota", tag = "on-call", request_body = ShiftInput,
    security(("bearer" = [])),
    responses((status = 201, body = ShiftView), (status = 401, description = "unauthorized"),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid-user: the person or deputy is not an enabled user, or has no e-mail address; invalid-draft: a time, zone or address that cannot be read")))]
pub async fn add_shift(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<ShiftInput>,
) -> Result<(StatusCode, Json<ShiftView>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok((
        StatusCode::CREATED,
        Json(node.add_shift(&who, &body).await?),
    ))
}

/// Removes a shift (it stays in the record, marked removed).
#[utoipa::path(delete, path = "/api/v1/rota/{id}", tag = "on-call",
    params(("id" = String, Path, description = "The shift's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 401, description = "unauthorized"),
        (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn remove_shift(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&node, &headers).await?;
    node.remove_shift(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Listing alerts.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertsQuery {
    /// Only alerts not acknowledged.
    pub open: Option<bool>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// Alerts, newest first, with their deliveries.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "on-call", params(AlertsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AlertView>), (status = 401, description = "unauthorized"),
        (status = 403, description = "forbidden")))]
pub async fn list_alerts(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let limit = q.limit.unwrap_or(50).min(1000);
    Ok(Json(
        node.alerts(&who, q.open.unwrap_or(false), limit).await?,
    ))
}

/// Acknowledges an alert: it stops escalating.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "on-call",
    params(("id" = String, Path, description = "The alert's id")),
    security(("bearer" = [])),
    responses((status = 200, body = AlertView), (status = 401, description = "unauthorized"),
        (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn ack_alert(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.acknowledge_alert(&who, &id).await?))
}
