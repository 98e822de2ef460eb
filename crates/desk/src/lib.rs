//! A Custos node's web desk: server-rendered pages for the people who use a
//! node without a terminal (duty officers, caseworkers, the data-protection
//! officer, auditors, administrators).
//!
//! The desk is a face of the application layer, beside the CLI and the
//! client API: each handler reads its form or query, calls one method of
//! [`Node`] as the signed-in person ([`session::Desk`]) and renders the
//! plain-data view it gets back. What a page offers follows the person's
//! roles as the node's one access matrix decides them
//! ([`custos_node::app::access::decide`]); no rule is written here.
//!
//! Everything the pages need is in the binary: templates are `maud`
//! markup, the style sheet and `htmx` are served from [`assets`], strings
//! come from the Fluent catalogues under `locales/` ([`i18n`]). Every
//! answer carries a strict Content-Security-Policy allowing nothing from
//! another origin ([`guard`]), and every form that changes something
//! carries the session's CSRF token, checked in one place.

pub mod actions;
pub mod assets;
pub mod case;
pub mod chart;
pub mod compose;
pub mod error;
pub mod evidence;
pub mod fields;
pub mod guard;
pub mod i18n;
pub mod inbox;
pub mod layout;
pub mod oversight;
pub mod rota;
pub mod session;
pub mod signin;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use custos_node::Node;

pub use i18n::Lang;

/// Where the desk's pages live on the node's port.
pub const PREFIX: &str = "/desk";

/// The largest form a page posts (file uploads have their own routes).
pub const MAX_FORM_BYTES: usize = 1 << 20;

/// Every route of the desk, to merge into the node's router.
pub fn router() -> Router<Arc<Node>> {
    // Upload chunks are larger than any form: their own body limit.
    let chunks = Router::new()
        .route(evidence::UPLOAD, get(evidence::status).put(evidence::chunk))
        .layer(DefaultBodyLimit::max(evidence::MAX_CHUNK_BYTES));
    Router::new()
        .merge(chunks)
        .route(evidence::PAGE, get(evidence::page))
        .route(evidence::UPLOADS, post(evidence::start))
        .route(evidence::SEAL, post(evidence::seal))
        .route(evidence::SEND, post(evidence::send))
        .route(evidence::OPEN, post(evidence::open))
        .route(evidence::FILE, get(evidence::file))
        .route("/", get(|| async { Redirect::to(PREFIX) }))
        .route(PREFIX, get(inbox::page))
        .route(inbox::LIST, get(inbox::list))
        .route(inbox::EMERGENCIES, get(inbox::alerts))
        .route(compose::COMPOSE, get(compose::page).post(compose::submit))
        .route(compose::CHECK, post(compose::check))
        .route(compose::DRAFTS, get(compose::drafts))
        .route(case::ROUTE, get(case::page))
        .route(actions::ACT, post(actions::act))
        .route(actions::CHECK, post(actions::check))
        .route(signin::SIGN_IN, get(signin::form).post(signin::submit))
        .route(signin::SIGN_OUT, post(signin::sign_out))
        .route(signin::LANGUAGE, post(signin::choose_language))
        .route(assets::ROUTE, get(assets::serve))
        // Oversight and administration.
        .route(oversight::LEDGER, get(oversight::ledger))
        .route(oversight::LEDGER_VERIFY, get(oversight::ledger_verify))
        .route(oversight::STATISTICS, get(oversight::statistics))
        .route(oversight::AUDIT, get(oversight::audit))
        .route(oversight::PERSONAL_DATA, get(oversight::personal_data))
        .route(users::USERS, get(users::page).post(users::add))
        .route(users::ENABLED, post(users::set_enabled))
        .route(users::ROLES, post(users::set_roles))
        .route(users::SECOND_FACTOR, post(users::reset_second_factor))
        .route(rota::ROTA, get(rota::page).post(rota::add))
        .route(rota::REMOVE_SHIFT, post(rota::remove))
        .route(rota::ALERTS, get(rota::alerts))
        .route(rota::ACKNOWLEDGE, post(rota::acknowledge))
        .layer(axum::middleware::from_fn(guard::csrf))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(guard::headers))
}

#[cfg(test)]
mod tests {
    /// Two pages on one path make axum panic when the router is built,
    /// that is when a node starts: building it here finds that first.
    #[test]
    fn every_route_has_a_path_of_its_own() {
        let _ = super::router();
    }
}
