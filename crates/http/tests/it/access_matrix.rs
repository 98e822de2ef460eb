//! Every cell of the access table (`custos_node::app::access::MATRIX`)
//! driven with a token of one role: an allowed cell's operation works, a
//! refused one is `403 forbidden`, and either way the decision is in the
//! record of who saw what under the person's name. A role allowed only on
//! a granted case is refused without the grant and allowed with it.
//!
//! Three served nodes (France, Germany, the Netherlands) of the test kit;
//! each role is a user of each node with that role alone. Every operation
//! is called through the client API, evidence sealing (an upload in a
//! chunk, then the seal), sending and opening included, except the two
//! that write a secret or the whole node to the node's own machine and so
//! have no endpoint by design: exporting the node's decryption identity
//! and a backup. Those are called through the node's method with the actor
//! the same token authenticates as, which is the one check every face goes
//! through.

use axum::http::Method;
use custos_model::decision::Decision;
use custos_model::{RequestKind, template, validate};
use custos_node::NodeError;
use custos_node::app::access::{Grant, MATRIX, Operation, operations};
use custos_node::app::evidence as evidence_view;
use custos_node::app::evidence::SealMarks;
use custos_node::app::{Actor, AuditFilter, CaseAction, Role, Roles};
use custos_testkit::{Network, TestNode};
use custos_testkit::{Reply, request};
use serde_json::{Value, json};

fn operator() -> Actor {
    Actor::Cli {
        user: "matrix".into(),
    }
}

/// What the test needs beside the network.
struct World {
    net: Network,
    scratch: tempfile::TempDir,
    /// France's MLA request to Germany.
    mla: String,
    /// The package Germany sent France for it.
    received_id: String,
    /// The package Germany sealed for the MLA request (its 64 hex digits),
    /// kept in Germany's folder of sealed packages.
    sealed: String,
    /// An alert France raised.
    alert: String,
    /// Each role's token on each node: `tokens[node][role]`.
    tokens: Vec<Vec<String>>,
    /// The next directory version to import on the Netherlands' node.
    next_directory: std::sync::atomic::AtomicU64,
    /// Counts calls, for fresh names.
    calls: std::sync::atomic::AtomicU64,
}

const NODES: [&str; 3] = ["FR", "DE", "NL"];

impl World {
    fn node(&self, state: &str) -> &TestNode {
        self.net.node(state)
    }

    fn token(&self, state: &str, role: Role) -> &str {
        let n = NODES.iter().position(|s| *s == state).unwrap();
        let r = Role::ALL.iter().position(|x| *x == role).unwrap();
        &self.tokens[n][r]
    }

    fn fresh(&self, what: &str) -> String {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{what}-{n}")
    }
}

fn draft(kind: RequestKind) -> Value {
    let mut draft = validate::parse(&template::render(kind)).unwrap();
    // The cells are about roles: a confidential request (the preservation
    // template asks for it) would be held back from everyone not assigned
    // to it, which `crates/node/tests/confidential.rs` shows on its own.
    if let Some(c) = draft.get_mut("confidentiality") {
        c["required"] = json!(false);
    }
    draft
}

/// France sends `kind` (the template's, France to Germany) and Germany
/// takes it in; gives the thread.
async fn request_to_germany(net: &Network, kind: RequestKind) -> String {
    net.clock.advance(time::Duration::minutes(1));
    let sent = net
        .node("FR")
        .submit(draft(kind), &operator())
        .await
        .unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    sent.thread
}

async fn setup() -> World {
    let net = Network::served(&NODES).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut tokens = Vec::new();
    for state in NODES {
        let mut row = Vec::new();
        for role in Role::ALL {
            let roles: Roles = [role].into_iter().collect();
            row.push(
                net.node(state)
                    .token_with(role.name(), roles)
                    .await
                    .unwrap(),
            );
        }
        tokens.push(row);
    }
    let mla = request_to_germany(&net, RequestKind::Mla).await;
    let alert = net.node("FR").test_alert(&operator()).await.unwrap().id;
    let mut w = World {
        net,
        scratch,
        mla,
        received_id: String::new(),
        sealed: String::new(),
        alert,
        tokens,
        next_directory: std::sync::atomic::AtomicU64::new(2),
        calls: std::sync::atomic::AtomicU64::new(0),
    };
    // Germany seals a package for the MLA request from an upload, as the
    // client API and the desk do, and sends it to France.
    let de = w.node("DE");
    let bytes = b"the server's log\n";
    let upload = de
        .start_upload(&operator(), &w.mla, "log.txt", bytes.len() as u64)
        .await
        .unwrap();
    de.upload_chunk(&operator(), &upload.id, 0, bytes)
        .await
        .unwrap();
    let sealed = de
        .seal_uploads(&operator(), &w.mla, &[upload.id], &SealMarks::default())
        .await
        .unwrap();
    let sent = de
        .send_case_package(&operator(), &w.mla, &sealed.package_id)
        .await
        .unwrap();
    assert!(
        matches!(sent.as_slice(), [evidence_view::TransferView::Accepted(_)]),
        "{sent:?}"
    );
    let hex = sealed
        .package_id
        .strip_prefix("sha256:")
        .unwrap()
        .to_owned();
    w.received_id = sealed.package_id;
    w.sealed = hex;
    w
}

/// The outcome of one call: `Ok` when the operation went through, the
/// refusal's status and code otherwise.
#[derive(Debug)]
enum Outcome {
    Done,
    Refused(u16, Option<String>),
}

fn of_reply(reply: &Reply) -> Outcome {
    if reply.status.is_success() {
        Outcome::Done
    } else {
        let (status, code) = reply.refusal();
        Outcome::Refused(status, code)
    }
}

fn of_result<T>(result: Result<T, NodeError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(NodeError::Forbidden { .. }) => Outcome::Refused(403, Some("forbidden".into())),
        Err(e) => Outcome::Refused(0, Some(e.to_string())),
    }
}

async fn call(
    node: &TestNode,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Outcome {
    let (bytes, kind) = match body {
        Some(b) => (serde_json::to_vec(&b).unwrap(), Some("application/json")),
        None => (Vec::new(), None),
    };
    of_reply(
        &node
            .call(request(method, path, Some(token), bytes, kind).unwrap())
            .await
            .unwrap(),
    )
}

/// Where an operation is exercised: France, except the node's keys and
/// directory (the Netherlands, so that the others' messages stay valid)
/// and case actions (the side's node).
fn node_of(op: Operation) -> &'static str {
    match op {
        Operation::ImportDirectory | Operation::RotateKeys | Operation::RevokeKey => "NL",
        Operation::SealEvidence | Operation::SendEvidence => "DE",
        Operation::Act(a) if requested_side(a) => "DE",
        _ => "FR",
    }
}

fn requested_side(a: CaseAction) -> bool {
    !matches!(
        a,
        CaseAction::ProvideInfo
            | CaseAction::AcceptConditions
            | CaseAction::DeclineConditions
            | CaseAction::AnnounceFollowUp
            | CaseAction::Withdraw
            | CaseAction::AskStatus
            | CaseAction::Close
            // issue 18: use limits and onward-transfer consent
            | CaseAction::AskConsent
    )
}

/// Performs `op` (not a case action) on its node with `role`'s token.
async fn perform(w: &World, op: Operation, role: Role) -> Outcome {
    let state = node_of(op);
    let node = w.node(state);
    let token = w.token(state, role);
    let actor = node.authenticate(token).await.unwrap().unwrap();
    let mla = &w.mla;
    use Method as M;
    match op {
        Operation::ListCases => call(node, M::GET, "/api/v1/cases", token, None).await,
        Operation::ReadCase => {
            call(node, M::GET, &format!("/api/v1/cases/{mla}"), token, None).await
        }
        Operation::SaveDraft => {
            let body = json!({ "draft": draft(RequestKind::Mla), "allow_sample": true });
            call(node, M::POST, "/api/v1/drafts", token, Some(body)).await
        }
        Operation::ValidateDraft => {
            let body = json!({ "draft": draft(RequestKind::Preservation), "allow_sample": true });
            call(node, M::POST, "/api/v1/drafts/validate", token, Some(body)).await
        }
        Operation::SendRequest => {
            let body = json!({ "draft": draft(RequestKind::Preservation), "allow_sample": true });
            call(node, M::POST, "/api/v1/requests", token, Some(body)).await
        }
        Operation::GrantCaseAccess => {
            let until = (node.now() + time::Duration::days(1))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let body =
                json!({ "person": "auditor", "reason": "a complaint to review", "until": until });
            let outcome = call(
                node,
                M::POST,
                &format!("/api/v1/cases/{mla}/grants"),
                token,
                Some(body),
            )
            .await;
            // A grant made is taken back, so that the auditor's cells start
            // without one.
            if matches!(outcome, Outcome::Done) {
                node.revoke_case_access(&operator(), mla, "auditor")
                    .await
                    .unwrap();
            }
            outcome
        }
        Operation::ListEvidence => call(node, M::GET, "/api/v1/evidence", token, None).await,
        Operation::VerifyEvidence => {
            let hex = w.received_id.strip_prefix("sha256:").unwrap();
            call(
                node,
                M::POST,
                &format!("/api/v1/evidence/{hex}/verify"),
                token,
                None,
            )
            .await
        }
        Operation::SealEvidence => {
            // An upload (refused at its start for a role that may not
            // seal), its one chunk, then the seal.
            let name = format!("{}.txt", w.fresh("seal"));
            let bytes = format!("{name}: the server's log\n").into_bytes();
            let path = format!("/api/v1/cases/{mla}/evidence/uploads");
            let body = json!({ "name": name, "size": bytes.len() });
            let started = node
                .call(
                    request(
                        M::POST,
                        &path,
                        Some(token),
                        serde_json::to_vec(&body).unwrap(),
                        Some("application/json"),
                    )
                    .unwrap(),
                )
                .await
                .unwrap();
            if !started.status.is_success() {
                return of_reply(&started);
            }
            let upload = started.json()["id"].as_str().unwrap().to_owned();
            let path = format!("/api/v1/evidence/uploads/{upload}?offset=0");
            let put = request(
                M::PUT,
                &path,
                Some(token),
                bytes,
                Some("application/octet-stream"),
            )
            .unwrap();
            let chunk = node.call(put).await.unwrap();
            if !chunk.status.is_success() {
                return of_reply(&chunk);
            }
            let body = json!({ "uploads": [upload] });
            let path = format!("/api/v1/cases/{mla}/evidence/seal");
            call(node, M::POST, &path, token, Some(body)).await
        }
        Operation::SendEvidence => {
            let path = format!("/api/v1/cases/{mla}/evidence/{}/send", w.sealed);
            call(node, M::POST, &path, token, None).await
        }
        Operation::OpenEvidence => {
            // Each allowed role opens the package afresh into the node's
            // folder of opened packages.
            let hex = w.received_id.strip_prefix("sha256:").unwrap();
            let opened = node.dir().join("evidence").join("opened").join(hex);
            if opened.exists() {
                std::fs::remove_dir_all(&opened).unwrap();
            }
            let path = format!("/api/v1/cases/{mla}/evidence/{hex}/open");
            call(node, M::POST, &path, token, None).await
        }
        Operation::ExportIdentity => {
            let out = w.scratch.path().join(w.fresh("identity"));
            of_result(
                node.export_identity(&out, "an outside expert's check", &actor)
                    .await,
            )
        }
        Operation::ReadLedger => call(node, M::GET, "/api/v1/ledger/checkpoint", token, None).await,
        Operation::VerifyLedger => call(node, M::POST, "/api/v1/ledger/verify", token, None).await,
        Operation::ReadDirectory => call(node, M::GET, "/api/v1/directory", token, None).await,
        Operation::ImportDirectory => {
            let version = w.next_directory.load(std::sync::atomic::Ordering::Relaxed);
            let signed = w.net.sign_directory(version).unwrap();
            let reply = node
                .call(
                    request(
                        M::PUT,
                        "/api/v1/directory",
                        Some(token),
                        signed,
                        Some("application/json"),
                    )
                    .unwrap(),
                )
                .await
                .unwrap();
            if reply.status.is_success() {
                w.next_directory
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            of_reply(&reply)
        }
        Operation::ReadKeys => call(node, M::GET, "/api/v1/keys", token, None).await,
        Operation::RotateKeys => call(node, M::POST, "/api/v1/keys/rotate", token, None).await,
        Operation::RevokeKey => {
            // A key of the node's past: rotated away first by the operator.
            let rotated = node.rotate_keys(&operator()).await.unwrap();
            let old = rotated.previous_signing_key_id;
            call(
                node,
                M::POST,
                &format!("/api/v1/keys/{old}/revoke"),
                token,
                None,
            )
            .await
        }
        Operation::ReadOutbox => call(node, M::GET, "/api/v1/outbox", token, None).await,
        Operation::ListUsers => call(node, M::GET, "/api/v1/users", token, None).await,
        Operation::ManageUsers => {
            let body = json!({ "name": w.fresh("clerk"), "roles": ["auditor"] });
            call(node, M::POST, "/api/v1/users", token, Some(body)).await
        }
        Operation::ManageOwnTokens => {
            let body = json!({ "name": w.fresh("tool") });
            call(node, M::POST, "/api/v1/tokens", token, Some(body)).await
        }
        Operation::ManageAllTokens => {
            call(node, M::GET, "/api/v1/tokens?user=%2A", token, None).await
        }
        // issue 19: the desk (a desk page's choice; no API route).
        Operation::SetOwnLanguage => of_result(node.set_language(&actor, "fr").await),
        Operation::ReadAudit => call(node, M::GET, "/api/v1/audit", token, None).await,
        Operation::ReadRota => call(node, M::GET, "/api/v1/rota", token, None).await,
        Operation::ManageRota => {
            let body = json!({
                "role": "duty-officer",
                "person": "duty-officer",
                "email": "duty@fr.example",
                "deputy": "caseworker",
                "deputy_email": "casework@fr.example",
                "starts": "2026-11-02T08:00 Europe/Paris",
                "ends": "2026-11-02T20:00 Europe/Paris",
            });
            call(node, M::POST, "/api/v1/rota", token, Some(body)).await
        }
        Operation::ReadAlerts => call(node, M::GET, "/api/v1/alerts", token, None).await,
        Operation::AcknowledgeAlert => {
            let alert = &w.alert;
            call(
                node,
                M::POST,
                &format!("/api/v1/alerts/{alert}/ack"),
                token,
                None,
            )
            .await
        }
        Operation::ReadStatistics => call(node, M::GET, "/api/v1/statistics", token, None).await,
        Operation::ReadMetrics => call(node, M::GET, "/metrics", token, None).await,
        // issue 18: confidentiality and personal-data conditions
        Operation::AssignCase => {
            let body = json!({ "person": "caseworker" });
            let outcome = call(
                node,
                M::POST,
                &format!("/api/v1/cases/{mla}/assignees"),
                token,
                Some(body),
            )
            .await;
            // An assignment made is ended, so that the next cell makes its own.
            if matches!(outcome, Outcome::Done) {
                node.unassign_case(&operator(), mla, "caseworker")
                    .await
                    .unwrap();
            }
            outcome
        }
        Operation::ExportCase => {
            let body = json!({ "reason": "for the prosecutor's file" });
            let path = format!("/api/v1/cases/{mla}/export");
            call(node, M::POST, &path, token, Some(body)).await
        }
        Operation::ListPersonalData => {
            let path = format!("/api/v1/cases/{mla}/personal-data");
            call(node, M::GET, &path, token, None).await
        }
        // issue 18: oversight statistics
        Operation::ReadOversightStatistics => {
            let path = "/api/v1/statistics/oversight?from=2026-01-01&to=2026-12-31&format=csv";
            call(node, M::GET, path, token, None).await
        }
        Operation::Act(_) => unreachable!("case actions are driven by act()"),
        // issue 18: retention
        Operation::SetRetention => {
            let body = json!({ "days": 3650, "reason": "the access matrix" });
            call(
                node,
                M::PUT,
                &format!("/api/v1/cases/{mla}/retention"),
                token,
                Some(body),
            )
            .await
        }
        Operation::LegalHold => {
            let body = json!({ "reason": "the access matrix" });
            call(
                node,
                M::POST,
                &format!("/api/v1/cases/{mla}/legal-hold"),
                token,
                Some(body),
            )
            .await
        }
        Operation::PurgeContent => {
            call(node, M::POST, "/api/v1/retention/purge", token, None).await
        }
        Operation::BackUp => {
            let out = w.scratch.path().join(w.fresh("backup"));
            let options = custos_node::app::BackupOptions {
                out,
                keys: custos_node::app::KeyProtection::Without,
                files_only: false,
            };
            of_result(node.backup(&actor, options).await.map_err(|e| match e {
                custos_node::app::BackupError::Node(n) => n,
                other => NodeError::Internal(other.to_string()),
            }))
        }
    }
}

/// The body an action is given: its decision template (with no evidence
/// package for an execution), a text for correspondence, else nothing.
fn action_body(action: CaseAction) -> Value {
    if action == CaseAction::Correspond {
        return json!({ "text": "A word on the case." });
    }
    match action.decision() {
        Some(decision) => {
            let mut body = validate::parse(&template::render_decision(decision)).unwrap();
            // issue 18: an ask for consent names the answers given (no
            // package was linked on the way).
            if matches!(
                decision,
                Decision::ExecutePartly | Decision::ExecuteWholly | Decision::AskConsent
            ) {
                body["evidence"] = json!([]);
            }
            body
        }
        None => json!({}),
    }
}

/// The steps (State, action) that bring a fresh case to where `action`
/// may be taken, and the request kind it needs.
fn path_to(action: CaseAction) -> (RequestKind, Vec<(&'static str, CaseAction)>) {
    use CaseAction as A;
    let ack = ("DE", A::Acknowledge);
    let mla = RequestKind::Mla;
    let pres = RequestKind::Preservation;
    match action {
        A::Acknowledge | A::Withdraw | A::AskStatus | A::Correspond => (mla, vec![]),
        A::RequestInfo | A::Consult | A::ExecutePartly | A::ExecuteWholly => (mla, vec![ack]),
        A::ProvideInfo => (mla, vec![ack, ("DE", A::RequestInfo)]),
        A::AcceptConditions | A::DeclineConditions | A::Postpone | A::Refuse => {
            (mla, vec![ack, ("DE", A::Consult)])
        }
        A::ConfirmPreservation => (pres, vec![ack]),
        A::ExtendPreservation | A::DeclineExtension | A::AnnounceFollowUp => {
            (pres, vec![ack, ("DE", A::ConfirmPreservation)])
        }
        A::AnswerStatus => (mla, vec![("FR", A::AskStatus)]),
        A::Close => (mla, vec![ack, ("DE", A::ExecuteWholly)]),
        // issue 18: use limits and onward-transfer consent
        A::AskConsent => (mla, vec![ack, ("DE", A::ExecuteWholly)]),
        A::GrantConsent | A::RefuseConsent => (
            mla,
            vec![ack, ("DE", A::ExecuteWholly), ("FR", A::AskConsent)],
        ),
        A::Submit => unreachable!("sending a request is not a case action"),
        // issue 18: retention
        A::ReportDeletion => unreachable!("no role reports a deletion: the node's purge does"),
    }
}

/// A fresh case brought to where `action` may be taken by its side.
async fn case_for(w: &World, action: CaseAction) -> String {
    let (kind, steps) = path_to(action);
    let id = request_to_germany(&w.net, kind).await;
    for (state, step) in steps {
        w.net.clock.advance(time::Duration::minutes(1));
        let sent = w
            .node(state)
            .act(&id, step, action_body(step), &operator())
            .await
            .unwrap_or_else(|e| panic!("{state} {step} on the way to {action}: {e}"));
        let other = if state == "FR" { "DE" } else { "FR" };
        let reply = w.net.carry(state, &sent.message_id, other).await.unwrap();
        assert_eq!(reply.status, 200, "{state} {step}: {}", reply.text());
    }
    let side = if requested_side(action) { "DE" } else { "FR" };
    let case = w.node(side).case(&id, &operator()).await.unwrap();
    assert!(
        case.allowed.contains(&action),
        "the path to {action} leaves the case {:?}, where {side} may {:?}",
        case.state,
        case.allowed
    );
    id
}

/// Takes `action` through the client API with `role`'s token; the case is
/// a fresh one where the action is allowed when the role is, else the MLA
/// request (the role is refused before the case is read).
async fn act(w: &World, action: CaseAction, role: Role, allowed: bool) -> Outcome {
    let state = node_of(Operation::Act(action));
    let id = if allowed {
        case_for(w, action).await
    } else {
        w.mla.clone()
    };
    w.net.clock.advance(time::Duration::minutes(1));
    let mut action_body = action_body(action);
    // issue 18: an answer to an ask for consent cites the ask.
    if allowed && matches!(action, CaseAction::GrantConsent | CaseAction::RefuseConsent) {
        let case = w.node(state).case(&id, &operator()).await.unwrap();
        let ask = case
            .timeline
            .iter()
            .rev()
            .find(|t| t.action == CaseAction::AskConsent)
            .expect("the path asked for consent");
        action_body["ask"] = json!(ask.message_id);
    }
    let body = json!({ "action": action.as_str(), "body": action_body });
    call(
        w.node(state),
        Method::POST,
        &format!("/api/v1/cases/{id}/actions"),
        w.token(state, role),
        Some(body),
    )
    .await
}

/// How many rows the record holds for `person`'s `op` with `outcome`.
async fn recorded(node: &TestNode, person: &str, op: Operation, outcome: &str) -> usize {
    let filter = AuditFilter {
        person: Some(person.to_owned()),
        limit: Some(1000),
        ..AuditFilter::default()
    };
    node.audit(&operator(), &filter)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.operation == op.name() && r.outcome == outcome)
        .count()
}

async fn run(w: &World, op: Operation, role: Role, allowed: bool) -> Outcome {
    match op {
        Operation::Act(action) => act(w, action, role, allowed).await,
        other => perform(w, other, role).await,
    }
}

/// One cell: the call, what it answered and what the record gained.
async fn cell(w: &World, op: Operation, role: Role, allowed: bool, failures: &mut Vec<String>) {
    let node = w.node(node_of(op));
    let outcome_name = if allowed { "allowed" } else { "refused" };
    let before = recorded(node, role.name(), op, outcome_name).await;
    let outcome = run(w, op, role, allowed).await;
    let after = recorded(node, role.name(), op, outcome_name).await;
    let answered_right = match (&outcome, allowed) {
        (Outcome::Done, true) => true,
        (Outcome::Refused(403, Some(code)), false) => code == "forbidden",
        _ => false,
    };
    if !answered_right {
        failures.push(format!(
            "{op} by {role}: expected {outcome_name}, got {outcome:?}"
        ));
    }
    if after <= before {
        failures.push(format!(
            "{op} by {role}: no {outcome_name} row in the record"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_access_table_is_allowed_or_refused_and_recorded() {
    let w = setup().await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for op in operations() {
        let row = MATRIX.iter().find(|(o, _)| *o == op).unwrap().1;
        for (role, grant) in Role::ALL.into_iter().zip(row) {
            cells += 1;
            match grant {
                Grant::Allowed => cell(&w, op, role, true, &mut failures).await,
                Grant::Refused => cell(&w, op, role, false, &mut failures).await,
                Grant::WhenGrantedTheCase => {
                    cell(&w, op, role, false, &mut failures).await;
                    let until = w.node("FR").now() + time::Duration::days(1);
                    w.node("FR")
                        .grant_case_access(&operator(), &w.mla, role.name(), "a review", until)
                        .await
                        .unwrap();
                    cell(&w, op, role, true, &mut failures).await;
                    w.node("FR")
                        .revoke_case_access(&operator(), &w.mla, role.name())
                        .await
                        .unwrap();
                }
            }
        }
    }
    assert_eq!(cells, operations().len() * Role::ALL.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // All that recording leaves a ledger that verifies.
    for state in NODES {
        let node = w.node(state);
        node.sequence_all().await.unwrap();
        node.verify_ledger(&mut |_, _| {}).await.unwrap();
    }
}
