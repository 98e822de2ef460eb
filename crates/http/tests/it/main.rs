//! The HTTP faces driven through the router without a socket: nodes built
//! by the test kit (real keys, SQLite files, a signed directory, a clock
//! standing still), requests in, status codes, error codes and bodies out.
//!
//! - `access_matrix`: every cell of the access table, each role's call
//!   allowed or refused `403 forbidden`, and recorded either way.
//! - `alert_rules`: every metric the sample Prometheus alerting rules read
//!   is exported by a node.
//! - `cases`: a case acted on, shown and listed through the client API, and
//!   an action the case does not allow answered `409 action-not-allowed`.
//! - `client_api`: listing and showing requests with a bearer token, and the
//!   answers to a missing or wrong token, a bad query, an unknown request,
//!   an invalid draft and one citing a Convention not in force.
//! - `intake`: a message from a peer node is accepted with a signed receipt;
//!   a repeated, forged, foreign, oversized or garbled one gets its typed
//!   code and status, and nothing is stored for it.
//! - `operations`: drafts saved and checked, keys rotated and revoked, a
//!   signed directory imported, each by a role allowed and refused to one
//!   that is not.
//! - `operator`: `/healthz` and `/metrics`.
//! - `people`: users added, signed in and disabled, tokens created and
//!   revoked through the client API.
//! - `operator`: `/healthz`, `/readyz` with its failing checks, and
//!   `/metrics` for a bearer allowed `read-metrics`.
//! - `oversight`: failed authentications recorded without their secret,
//!   the record of who saw what and a case's grants through the API, and
//!   the node's reads (statistics, keys, directory, ledger, outbox,
//!   refusals, evidence), each answering a bearer and recorded.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod access_matrix;
mod alert_rules;
mod cases;
mod client_api;
mod evidence_api;
mod intake;
mod operations;
mod operator;
mod oversight;
mod people;

use custos_model::{RequestKind, template, validate};
use serde_json::Value;

/// The preservation template (France asks Germany), which validates as it is.
pub fn preservation_draft() -> Value {
    let draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    assert!(validate::validate(&draft).is_valid());
    draft
}

/// France sends `draft` to Germany through its client API with `token`
/// (the template's sample marker allowed), and the message is carried to
/// Germany; gives the request's id.
pub async fn sent_to_germany(net: &custos_testkit::Network, token: &str, draft: Value) -> String {
    let sent = net
        .node("FR")
        .post_json(
            "/api/v1/requests",
            Some(token),
            &serde_json::json!({"draft": draft, "allow_sample": true}),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, 202, "{}", sent.text());
    let queued = sent.json();
    let submit = queued["message_id"].as_str().unwrap();
    assert_eq!(net.carry("FR", submit, "DE").await.unwrap().status, 200);
    queued["id"].as_str().unwrap().to_owned()
}

/// `value` as pretty JSON with each `(text, name)` replaced by `<name>`:
/// ids that change on every run, kept out of snapshots.
pub fn redacted(value: &Value, names: &[(&str, &str)]) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    for (from, name) in names {
        text = text.replace(from, &format!("<{name}>"));
    }
    text
}
