//! The path of every HTTP route a node serves, written once: the router of
//! `custos-http` mounts these, and the node's clients (outbox, witnessing,
//! evidence transfer) build their URLs from them. Segments in braces are
//! path parameters, in the router's syntax.

/// `POST`: deliver one sealed message (federation).
pub const MESSAGES: &str = "/federation/v1/messages";
/// `POST`: ask the node to witness (cosign) a checkpoint (federation).
pub const WITNESS: &str = "/federation/v1/witness";
/// `POST`: offer an evidence package's signed manifest (federation).
pub const EVIDENCE: &str = "/federation/v1/evidence";
/// `GET`: the upload status of a package (federation).
pub const EVIDENCE_PACKAGE: &str = "/federation/v1/evidence/{id}";
/// `PUT`: upload one segment of a package (federation).
pub const EVIDENCE_SEGMENT: &str = "/federation/v1/evidence/{id}/segments/{n}";
/// `POST`: ask the node to accept a fully uploaded package (federation).
pub const EVIDENCE_COMPLETE: &str = "/federation/v1/evidence/{id}/complete";
/// `GET` lists, `POST` sends requests (client API).
pub const REQUESTS: &str = "/api/v1/requests";
/// `GET`: one request (client API).
pub const REQUEST: &str = "/api/v1/requests/{id}";
/// `POST`: save a request draft without sending it (client API).
pub const DRAFTS: &str = "/api/v1/drafts";
/// `POST`: check a request or decision draft; answers the report (client API).
pub const DRAFTS_VALIDATE: &str = "/api/v1/drafts/validate";
/// `GET`: the cases, with their state (client API).
pub const CASES: &str = "/api/v1/cases";
/// `GET`: one case: state, clocks, allowed actions, timeline (client API).
pub const CASE: &str = "/api/v1/cases/{id}";
/// `POST`: take an action on a case (client API).
pub const CASE_ACTIONS: &str = "/api/v1/cases/{id}/actions";
/// `POST`: sign in with user name, password and second factor; answers a
/// session (client API).
pub const SIGN_IN: &str = "/api/v1/sign-in";
/// `POST`: end the session whose bearer is sent (client API).
pub const SIGN_OUT: &str = "/api/v1/sign-out";
/// `GET` lists, `POST` adds users (client API).
pub const USERS: &str = "/api/v1/users";
/// `POST`: disable a user (client API).
pub const USER_DISABLE: &str = "/api/v1/users/{name}/disable";
/// `POST`: enable a user (client API).
pub const USER_ENABLE: &str = "/api/v1/users/{name}/enable";
/// `POST`: change a user's roles (client API).
pub const USER_ROLES: &str = "/api/v1/users/{name}/roles";
/// `POST`: give a user a new second factor (client API).
pub const USER_RESET_SECOND_FACTOR: &str = "/api/v1/users/{name}/reset-second-factor";
/// `GET` lists, `POST` creates client-API tokens (client API).
pub const TOKENS: &str = "/api/v1/tokens";
/// `DELETE`: revoke a token (client API).
pub const TOKEN: &str = "/api/v1/tokens/{id}";
/// `GET`: sessions opened by signing in (client API).
pub const SESSIONS: &str = "/api/v1/sessions";
/// `DELETE`: end a session (client API).
pub const SESSION: &str = "/api/v1/sessions/{id}";
/// `GET`: a case's grants; `POST` grants it to a person (client API).
pub const CASE_GRANTS: &str = "/api/v1/cases/{id}/grants";
/// `DELETE`: revokes a person's grants of a case (client API).
pub const CASE_GRANT: &str = "/api/v1/cases/{id}/grants/{person}";

// issue 18: confidentiality and personal-data conditions
/// Client API: a case's assignments (list, assign).
pub const CASE_ASSIGNEES: &str = "/api/v1/cases/{id}/assignees";
/// Client API: one person's assignment to a case (end it).
pub const CASE_ASSIGNEE: &str = "/api/v1/cases/{id}/assignees/{person}";
/// Client API: a case's content exported with a recorded reason.
pub const CASE_EXPORT: &str = "/api/v1/cases/{id}/export";
/// Client API: the personal data a case holds, its conditions and deletion date.
pub const CASE_PERSONAL_DATA: &str = "/api/v1/cases/{id}/personal-data";
/// `GET`: the record of who saw what (client API).
pub const AUDIT: &str = "/api/v1/audit";
/// `GET`: the evidence packages received (client API).
pub const EVIDENCE_PACKAGES: &str = "/api/v1/evidence";
/// `POST`: verify a received evidence package (client API).
pub const EVIDENCE_VERIFY: &str = "/api/v1/evidence/{id}/verify";
/// `GET`: the ledger's latest checkpoint, plain and cosigned (client API).
pub const LEDGER_CHECKPOINT: &str = "/api/v1/ledger/checkpoint";
/// `POST`: verify the whole ledger (client API).
pub const LEDGER_VERIFY: &str = "/api/v1/ledger/verify";
/// `GET`: the proof bundle of one ledger entry (client API).
pub const LEDGER_PROOF: &str = "/api/v1/ledger/entries/{index}/proof";
/// `GET`: the directory in force; `PUT`: import a signed directory sent as
/// the body (client API).
pub const DIRECTORY: &str = "/api/v1/directory";
/// `GET`: the node's public keys (client API).
pub const KEYS: &str = "/api/v1/keys";
/// `POST`: replace the node's signing and encryption keys (client API).
pub const KEYS_ROTATE: &str = "/api/v1/keys/rotate";
/// `POST`: mark a past signing key compromised (client API).
pub const KEY_REVOKE: &str = "/api/v1/keys/{id}/revoke";
/// `GET`: the outbox (client API).
pub const OUTBOX: &str = "/api/v1/outbox";
/// `GET`: messages from peers the node refused (client API).
pub const REFUSALS: &str = "/api/v1/refusals";
/// `GET`: the node's statistics, without case content (client API).
pub const STATISTICS: &str = "/api/v1/statistics";
/// Client API: the oversight statistics report (issue 18).
pub const OVERSIGHT_STATISTICS: &str = "/api/v1/statistics/oversight";
/// `GET`: liveness.
pub const HEALTH: &str = "/healthz";
/// `GET`: readiness (store, keys, directory, ledger, disk), 503 with the failing checks.
pub const READY: &str = "/readyz";
/// `GET`: Prometheus metrics (a bearer allowed `read-metrics`).
pub const METRICS: &str = "/metrics";

/// The URL of `route` on the node at `base` (its directory `node_url`),
/// with the path parameters filled in from `params` in order.
///
/// ```
/// use custos_protocol::routes::{EVIDENCE_SEGMENT, url};
/// assert_eq!(
///     url("https://fr.example/", EVIDENCE_SEGMENT, &["sha256:ab", "3"]),
///     "https://fr.example/federation/v1/evidence/sha256:ab/segments/3"
/// );
/// ```
pub fn url(base: &str, route: &str, params: &[&str]) -> String {
    let mut out = String::with_capacity(base.len() + route.len() + 80);
    out.push_str(base.trim_end_matches('/'));
    let mut params = params.iter();
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(params.next().copied().unwrap_or_default());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_fill_in_the_parameters_in_order() {
        assert_eq!(
            url("http://127.0.0.1:7000", MESSAGES, &[]),
            "http://127.0.0.1:7000/federation/v1/messages"
        );
        assert_eq!(
            url("http://h/", EVIDENCE_COMPLETE, &["abc"]),
            "http://h/federation/v1/evidence/abc/complete"
        );
        assert_eq!(
            url("http://h", EVIDENCE_SEGMENT, &["abc", "12"]),
            "http://h/federation/v1/evidence/abc/segments/12"
        );
        assert_eq!(
            url("http://h", REQUEST, &["thr-1"]),
            "http://h/api/v1/requests/thr-1"
        );
    }
}
