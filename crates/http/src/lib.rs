//! A Custos node's HTTP faces: the federation API (node to node) and the client API.
//!
//! The router is a value ([`router`]) so tests can call it without a socket;
//! [`serve`] binds it to an address, with TLS (rustls, optionally requiring
//! client certificates) or, on loopback only, plain HTTP.

pub mod alerts;
pub mod api;
pub mod cases;
pub mod confidential;
mod error;
pub mod evidence;
pub mod evidence_api;
pub mod federation;
pub mod health;
pub mod limit;
pub mod metrics;
pub mod operations;
pub mod oversight;
pub mod people;
pub mod retention;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use custos_node::Node;
use custos_protocol::routes;
use tower_http::timeout::{RequestBodyDeadlineLayer, RequestBodyTimeoutLayer};
use utoipa::OpenApi;

pub use error::ApiError;
pub use limit::ServerLimits;
pub use tls::TlsSettings;

/// The API description, committed as `docs/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Custos node API", description = "Federation API between Custos nodes, and the client API of one node."),
    paths(health::healthz, health::readyz, federation::post_message, federation::post_witness, evidence::post_manifest, evidence::get_status, evidence::put_segment, evidence::post_complete, api::list_requests, api::get_request, api::send_request, cases::list_cases, cases::get_case, cases::post_action, people::sign_in, people::sign_out, people::list_users, people::add_user, people::disable_user, people::enable_user, people::change_roles, people::reset_second_factor, people::list_tokens, people::create_token, people::revoke_token, people::list_sessions, people::revoke_session, oversight::get_audit, oversight::get_grants, oversight::post_grant, oversight::delete_grant, oversight::get_evidence, oversight::post_evidence_verify, oversight::get_checkpoint, oversight::post_ledger_verify, oversight::get_proof, oversight::get_directory, oversight::get_keys, oversight::get_outbox, oversight::get_refusals, oversight::get_statistics, operations::save_draft, operations::validate_draft, operations::rotate_keys, operations::revoke_key, operations::put_directory, alerts::list_rota, alerts::add_shift, alerts::remove_shift, alerts::list_alerts, alerts::ack_alert, confidential::get_assignees, confidential::post_assignee, confidential::delete_assignee, confidential::post_export, confidential::get_personal_data, oversight::get_oversight_statistics, retention::get_retention, retention::put_retention, retention::post_hold, retention::post_hold_lift, retention::post_purge, evidence_api::get_case_evidence, evidence_api::post_upload, evidence_api::get_upload, evidence_api::put_chunk, evidence_api::post_seal, evidence_api::post_send, evidence_api::post_open, evidence_api::get_opened_file),
    components(schemas(custos_node::app::Readiness, custos_node::app::ReadinessCheck, custos_node::app::RequestSummary, custos_node::app::RequestView, custos_node::app::MessageView, custos_node::app::HistoryEvent, api::SendBody, custos_node::app::Sent, custos_node::app::CaseDetail, custos_node::app::CaseSummary, custos_node::app::ClockView, custos_node::app::TimelineItem, custos_node::app::RefusedItem, cases::ActionRequest, people::SignInBody, people::NewUserBody, people::RolesBody, people::NewTokenBody, custos_node::app::Session, custos_node::app::UserView, custos_node::app::UserSecrets, custos_node::app::SecondFactor, custos_node::app::TokenView, custos_node::app::SessionView, custos_node::app::NewToken, custos_node::app::Role, custos_node::app::AccessView, custos_node::app::CaseGrantView, oversight::GrantRequest, operations::DraftBody, operations::SavedDraft, custos_node::app::ShiftInput, custos_node::app::ShiftView, custos_node::app::AlertView, custos_node::app::DeliveryView, custos_node::app::StatisticsReport, custos_node::app::DirectionFigures, custos_node::app::CountCell, custos_node::app::TimeRow, custos_node::app::RetentionView, custos_node::app::RetentionChangeView, custos_node::app::DeletionView, custos_node::app::PeerDeletionView, custos_node::app::PurgeReport, retention::RetentionBody, retention::HoldBody, custos_node::app::CaseEvidenceView, custos_node::app::CasePackage, custos_node::app::OpenedFile, custos_node::app::CustodyEvent, custos_node::app::UploadView, evidence_api::UploadBody, evidence_api::SealBody)),
    modifiers(&BearerAuth),
    tags((name = "operations", description = "Probes for service managers and load balancers, without a token"), (name = "federation", description = "Node to node"), (name = "requests", description = "Client API"), (name = "cases", description = "Client API: cases and their actions"), (name = "people", description = "Client API: signing in, users and tokens"), (name = "oversight", description = "Client API: the record of who saw what, case grants, evidence, ledger, directory, keys, outbox, statistics"), (name = "on-call", description = "Client API: the on-call rota and the alerts sent to the people on it"), (name = "evidence", description = "Client API: a case's evidence uploaded, sealed, sent, listed, opened and downloaded"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default() + "\n"
}

/// Every route of the node.
pub fn router(node: Arc<Node>) -> Router {
    let limit = node.settings().max_message_bytes;
    let federation = Router::new()
        .route(routes::MESSAGES, post(federation::post_message))
        .route(routes::WITNESS, post(federation::post_witness))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyDeadlineLayer::new(limit::BODY_DEADLINE));
    // Segments are streamed to disk and never held whole: no body limit
    // beyond the size the signed manifest declares, which the node enforces.
    let evidence = Router::new()
        .route(routes::EVIDENCE, post(evidence::post_manifest))
        .route(routes::EVIDENCE_PACKAGE, get(evidence::get_status))
        .route(routes::EVIDENCE_SEGMENT, put(evidence::put_segment))
        .route(routes::EVIDENCE_COMPLETE, post(evidence::post_complete))
        .layer(DefaultBodyLimit::max(
            custos_node::evidence::receive::MAX_MANIFEST_BYTES,
        ))
        .layer(RequestBodyTimeoutLayer::new(limit::SEGMENT_IDLE_TIMEOUT));
    let api = Router::new()
        .route(
            routes::REQUESTS,
            get(api::list_requests).post(api::send_request),
        )
        .route(routes::REQUEST, get(api::get_request))
        .route(routes::CASES, get(cases::list_cases))
        .route(routes::CASE, get(cases::get_case))
        .route(routes::CASE_ACTIONS, post(cases::post_action))
        .route(routes::SIGN_IN, post(people::sign_in))
        .route(routes::SIGN_OUT, post(people::sign_out))
        .route(
            routes::USERS,
            get(people::list_users).post(people::add_user),
        )
        .route(routes::USER_DISABLE, post(people::disable_user))
        .route(routes::USER_ENABLE, post(people::enable_user))
        .route(routes::USER_ROLES, post(people::change_roles))
        .route(
            routes::USER_RESET_SECOND_FACTOR,
            post(people::reset_second_factor),
        )
        .route(
            routes::TOKENS,
            get(people::list_tokens).post(people::create_token),
        )
        .route(routes::TOKEN, delete(people::revoke_token))
        .route(routes::SESSIONS, get(people::list_sessions))
        .route(routes::SESSION, delete(people::revoke_session))
        .route(
            routes::CASE_GRANTS,
            get(oversight::get_grants).post(oversight::post_grant),
        )
        .route(routes::CASE_GRANT, delete(oversight::delete_grant))
        // issue 18: confidentiality and personal-data conditions
        .route(
            routes::CASE_ASSIGNEES,
            get(confidential::get_assignees).post(confidential::post_assignee),
        )
        .route(routes::CASE_ASSIGNEE, delete(confidential::delete_assignee))
        .route(routes::CASE_EXPORT, post(confidential::post_export))
        .route(
            routes::CASE_PERSONAL_DATA,
            get(confidential::get_personal_data),
        )
        .route(routes::AUDIT, get(oversight::get_audit))
        .route(routes::EVIDENCE_PACKAGES, get(oversight::get_evidence))
        .route(
            routes::EVIDENCE_VERIFY,
            post(oversight::post_evidence_verify),
        )
        .route(routes::LEDGER_CHECKPOINT, get(oversight::get_checkpoint))
        .route(routes::LEDGER_VERIFY, post(oversight::post_ledger_verify))
        .route(routes::LEDGER_PROOF, get(oversight::get_proof))
        .route(routes::DRAFTS, post(operations::save_draft))
        .route(routes::DRAFTS_VALIDATE, post(operations::validate_draft))
        .route(
            routes::DIRECTORY,
            get(oversight::get_directory).put(operations::put_directory),
        )
        .route(routes::KEYS, get(oversight::get_keys))
        .route(routes::KEYS_ROTATE, post(operations::rotate_keys))
        .route(routes::KEY_REVOKE, post(operations::revoke_key))
        .route(routes::OUTBOX, get(oversight::get_outbox))
        .route(routes::REFUSALS, get(oversight::get_refusals))
        .route(routes::STATISTICS, get(oversight::get_statistics))
        .route(
            routes::OVERSIGHT_STATISTICS,
            get(oversight::get_oversight_statistics),
        )
        .route(routes::METRICS, get(metrics::metrics))
        .route(alerts::ROTA, get(alerts::list_rota).post(alerts::add_shift))
        .route(alerts::SHIFT, delete(alerts::remove_shift))
        .route(alerts::ALERTS, get(alerts::list_alerts))
        .route(alerts::ALERT_ACK, post(alerts::ack_alert))
        // issue 18: retention
        .route(
            retention::RETENTION,
            get(retention::get_retention).put(retention::put_retention),
        )
        .route(retention::HOLD, post(retention::post_hold))
        .route(retention::HOLD_LIFT, post(retention::post_hold_lift))
        .route(retention::PURGE, post(retention::post_purge))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyDeadlineLayer::new(limit::BODY_DEADLINE))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&node),
            oversight::record_unauthenticated,
        ));
    // A case's evidence: chunks have their own body limit.
    let evidence_api = Router::new()
        .route(
            evidence_api::UPLOAD,
            get(evidence_api::get_upload).put(evidence_api::put_chunk),
        )
        .layer(DefaultBodyLimit::max(
            custos_node::app::evidence_upload::MAX_CHUNK_BYTES,
        ))
        .layer(RequestBodyTimeoutLayer::new(limit::SEGMENT_IDLE_TIMEOUT))
        .route(
            evidence_api::CASE_EVIDENCE,
            get(evidence_api::get_case_evidence),
        )
        .route(evidence_api::CASE_UPLOADS, post(evidence_api::post_upload))
        .route(evidence_api::CASE_SEAL, post(evidence_api::post_seal))
        .route(evidence_api::PACKAGE_SEND, post(evidence_api::post_send))
        .route(evidence_api::PACKAGE_OPEN, post(evidence_api::post_open))
        .route(
            evidence_api::OPENED_FILE,
            get(evidence_api::get_opened_file),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&node),
            oversight::record_unauthenticated,
        ));
    Router::new()
        .route(routes::HEALTH, get(health::healthz))
        .route(routes::READY, get(health::readyz))
        .merge(custos_desk::router())
        .merge(federation)
        .merge(evidence)
        .merge(api)
        .merge(evidence_api)
        .with_state(node)
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    PlainOffLoopback(#[from] custos_node::app::PlainOffLoopback),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Serves the node until `shutdown` resolves, within `limits`: a client
/// that holds more connections than its address may, or sends its headers
/// too slowly, is disconnected.
pub async fn serve(
    node: Arc<Node>,
    listener: std::net::TcpListener,
    tls: Option<TlsSettings>,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: ([0, 0, 0, 0], 0).into(),
        source,
    })?;
    let app = router(node).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind { addr, source })?;
    match tls {
        None => {
            custos_node::app::check_listen(addr, false)?;
            let mut server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .acceptor(limit::PerAddress::new(limits.max_connections_per_address))
                .first_request_timeout(limits.header_timeout)
                .handle(handle);
            server
                .http_builder()
                .http1()
                .header_read_timeout(limits.header_timeout);
            server
                .serve(app)
                .await
                .map_err(|source| ServeError::Bind { addr, source })
        }
        Some(settings) => {
            let config = tls::server_config(&settings)?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(limits.header_timeout)
                .acceptor(limit::PerAddress::new(limits.max_connections_per_address));
            let mut server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .acceptor(acceptor)
                .first_request_timeout(limits.header_timeout)
                .handle(handle);
            server
                .http_builder()
                .http1()
                .header_read_timeout(limits.header_timeout);
            server
                .serve(app)
                .await
                .map_err(|source| ServeError::Bind { addr, source })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The OpenAPI document describes exactly the routes the router mounts
    /// from `custos_protocol::routes` (the attributes must repeat each path
    /// as a literal).
    #[test]
    fn the_api_document_names_the_routes_defined_once() {
        let documented: BTreeSet<String> = ApiDoc::openapi().paths.paths.into_keys().collect();
        let mounted: BTreeSet<String> = [
            routes::HEALTH,
            routes::READY,
            routes::MESSAGES,
            routes::WITNESS,
            routes::EVIDENCE,
            routes::EVIDENCE_PACKAGE,
            routes::EVIDENCE_SEGMENT,
            routes::EVIDENCE_COMPLETE,
            routes::REQUESTS,
            routes::REQUEST,
            routes::CASES,
            routes::CASE,
            routes::CASE_ACTIONS,
            routes::DRAFTS,
            routes::DRAFTS_VALIDATE,
            routes::SIGN_IN,
            routes::SIGN_OUT,
            routes::USERS,
            routes::USER_DISABLE,
            routes::USER_ENABLE,
            routes::USER_ROLES,
            routes::USER_RESET_SECOND_FACTOR,
            routes::TOKENS,
            routes::TOKEN,
            routes::SESSIONS,
            routes::SESSION,
            routes::CASE_GRANTS,
            routes::CASE_GRANT,
            routes::AUDIT,
            routes::EVIDENCE_PACKAGES,
            routes::EVIDENCE_VERIFY,
            routes::LEDGER_CHECKPOINT,
            routes::LEDGER_VERIFY,
            routes::LEDGER_PROOF,
            routes::DIRECTORY,
            routes::KEYS,
            routes::KEYS_ROTATE,
            routes::KEY_REVOKE,
            routes::OUTBOX,
            routes::REFUSALS,
            routes::STATISTICS,
            alerts::ROTA,
            alerts::SHIFT,
            alerts::ALERTS,
            alerts::ALERT_ACK,
            // issue 18: confidentiality and personal-data conditions
            routes::CASE_ASSIGNEES,
            routes::CASE_ASSIGNEE,
            routes::CASE_EXPORT,
            routes::CASE_PERSONAL_DATA,
            // issue 18: oversight statistics
            routes::OVERSIGHT_STATISTICS,
            // issue 18: retention
            retention::RETENTION,
            retention::HOLD,
            retention::HOLD_LIFT,
            retention::PURGE,
            // a case's evidence through the client API
            evidence_api::CASE_EVIDENCE,
            evidence_api::CASE_UPLOADS,
            evidence_api::UPLOAD,
            evidence_api::CASE_SEAL,
            evidence_api::PACKAGE_SEND,
            evidence_api::PACKAGE_OPEN,
            evidence_api::OPENED_FILE,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(documented, mounted);
    }
}
