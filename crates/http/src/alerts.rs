//! The client API's on-call rota and alerts: list and change the rota,
//! list alerts and acknowledge one. The node decides and records
//! (`custos_node::app::rota`, `custos_node::app::alerts`); this module
//! authenticates, calls and answers with the node's views as they are.
//! (These routes are not yet described in the OpenAPI document.)

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_node::Node;
use custos_node::app::{AlertView, ShiftInput, ShiftView};
use serde::Deserialize;

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
#[derive(Debug, Deserialize)]
pub struct RotaQuery {
    /// Past and removed shifts too.
    pub all: Option<bool>,
}

/// The shifts to come and running (all with `?all=true`).
pub async fn list_rota(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<RotaQuery>,
) -> Result<Json<Vec<ShiftView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.rota(&who, q.all.unwrap_or(false)).await?))
}

/// Adds a shift (`{"role", "person", "email", "deputy", "deputy_email",
/// "starts": "2026-12-07T08:00 Europe/Paris", "ends": ...}`).
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

/// Removes a shift.
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
#[derive(Debug, Deserialize)]
pub struct AlertsQuery {
    /// Only alerts not acknowledged.
    pub open: Option<bool>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// Alerts, newest first, with their deliveries.
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

/// Acknowledges an alert.
pub async fn ack_alert(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.acknowledge_alert(&who, &id).await?))
}
