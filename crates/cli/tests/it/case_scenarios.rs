//! The case scenarios of a request between two real nodes (`custos serve`
//! processes on loopback), driven only with the commands an operator types:
//! `custos request send`, `custos case act`, `custos case show`, `custos
//! evidence seal` and `send`, `custos refusals`.
//!
//! After every step both nodes must show the same case: the same state, the
//! same timeline (message ids, times, sides, States, actions and the states
//! they led to), the same clocks (kind, status, start, and due instant unless
//! paused, whose due instant moves with the time of asking), each the other's
//! allowed actions, the same conditions and evidence, and nothing refused.
//!
//! Four groups, one network each:
//! - an MLA request through acknowledgement, more information asked and
//!   given, consultation with conditions accepted, partial execution linking
//!   an evidence package sealed and sent, and closure;
//! - an MLA request through consultation (conditions declined) to a refusal
//!   with grounds and reasons, with Germany's node on PostgreSQL when
//!   `CUSTOS_TEST_POSTGRES_URL` names a server;
//! - refusals the Convention forbids, stopped by the acting node before
//!   anything is sent (one without a prior consultation as an action the
//!   case does not allow yet; one on fiscal matters or bank secrecy alone,
//!   without grounds or without reasons as a decision that does not
//!   validate), and the same refusals forged by a hostile peer refused at
//!   intake;
//! - illegal transitions refused on both sides.
//!
//! "Every illegal transition" is, at this level, a representative set per
//! state reached by an MLA case (the exhaustive (state, action, side) table
//! is `crates/case/tests/table.rs`): in `submitted`, the requested State's
//! consultation and execution and the requesting State's acceptance of
//! conditions and acknowledgement (the other side's action); in
//! `acknowledged`, a postponement without consultation, a preservation
//! confirmed for an MLA request and the requesting State's answer to no
//! question and closure; in `awaiting-information`, execution and an
//! acceptance of conditions never proposed; in `consulting`, execution before
//! the answer and an answer to no question; in `conditions-accepted`, a
//! refusal the accepted conditions exclude and a second answer; in
//! `partly-executed`, a second acknowledgement and an acceptance of
//! conditions; in `closed`, correspondence, withdrawal and execution. Each is
//! refused by the acting node before sending (exit status 2, the case's
//! refusal code, the state and the actions allowed; nothing queued), and,
//! forged with the acting node's real signing key and posted to the other
//! node, refused there with `action-not-allowed` and the same code, logged in
//! `custos refusals`, and not taken into either node's case: a refused
//! message is not stored, so the receiver's case neither moves nor lists it.

use std::process::Output;
use std::time::Duration;

use custos_model::RequestKind;
use custos_node::app::CaseAction;
use custos_protocol::{Message, MessageId};
use custos_seal::Envelope;
use serde_json::{Value, json};

use crate::case::{act, args, show};
use crate::common::{Network, TempDatabase, draft, state, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

/// The other node of the pair.
fn other(cc: &str) -> &'static str {
    if cc == "FR" { "DE" } else { "FR" }
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn timeline(view: &Value) -> &Vec<Value> {
    view["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("a case view has a timeline: {view}"))
}

/// What both nodes must agree on about each step, its signed body
/// included.
fn steps(view: &Value) -> Vec<[Value; 7]> {
    timeline(view)
        .iter()
        .map(|s| {
            [
                s["message_id"].clone(),
                s["at"].clone(),
                s["side"].clone(),
                s["state_code"].clone(),
                s["action"].clone(),
                s["state"].clone(),
                s["body"].clone(),
            ]
        })
        .collect()
}

/// The clocks as both nodes must show them: a paused clock's due instant
/// is where it would fall if the answer came at the instant of asking, so
/// it is left out.
fn clocks(view: &Value) -> Vec<Value> {
    view["clocks"]
        .as_array()
        .unwrap_or_else(|| panic!("a case view has clocks: {view}"))
        .iter()
        .map(|c| {
            let due = if c["status"] == "paused" {
                Value::Null
            } else {
                c["due"].clone()
            };
            json!([c["kind"], c["status"], c["started"], due])
        })
        .collect()
}

/// The statuses of the case's clocks, by kind.
fn clock_statuses(view: &Value) -> Vec<(String, String)> {
    view["clocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Both nodes' view of case `id` once they hold the same steps; asserts
/// that they show the same case, each from its own side.
fn agree(net: &Network, id: &str) -> (Value, Value) {
    let mut views = (Value::Null, Value::Null);
    wait_until(DEADLINE, "both nodes hold the same steps", || {
        views = (show(net, "FR", id), show(net, "DE", id));
        steps(&views.0) == steps(&views.1)
    });
    let (fr, de) = views;
    assert_eq!(fr["id"], de["id"]);
    assert_eq!(fr["kind"], de["kind"]);
    assert_eq!(
        (&fr["side"], &de["side"]),
        (&json!("requesting"), &json!("requested"))
    );
    assert_eq!(
        (&fr["direction"], &de["direction"]),
        (&json!("outgoing"), &json!("incoming"))
    );
    assert_eq!(
        (&fr["counterpart"], &de["counterpart"]),
        (&json!("DE"), &json!("FR"))
    );
    assert_eq!(fr["state"], de["state"], "FR: {fr}\nDE: {de}");
    assert_eq!(clocks(&fr), clocks(&de), "FR: {fr}\nDE: {de}");
    assert_eq!(fr["overdue"], de["overdue"]);
    assert_eq!(fr["allowed"], de["counterpart_allowed"]);
    assert_eq!(de["allowed"], fr["counterpart_allowed"]);
    assert_eq!(fr["conditions"], de["conditions"]);
    assert_eq!(fr["evidence"], de["evidence"]);
    for view in [&fr, &de] {
        assert_eq!(view["refused"], json!([]), "{view}");
        for s in timeline(view) {
            assert!(s["actor"].is_string(), "a step without its actor: {s}");
        }
    }
    (fr, de)
}

/// `cc` takes `action` with `custos case act`; the message must be
/// delivered (the other node's signed receipt verified), and both nodes
/// then show the case in state `expect` with the step last on the timeline.
fn step(
    net: &Network,
    id: &str,
    cc: &str,
    action: &str,
    body: Option<&Value>,
    expect: &str,
) -> (Value, Value) {
    let out = act(net, cc, id, action, body);
    assert!(
        out.status.success(),
        "{cc} {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("`case act --json` prints JSON");
    assert_eq!(answer["action"], action);
    assert_eq!(answer["delivery"], "delivered", "{cc} {action}: {answer}");
    let (fr, de) = agree(net, id);
    assert_eq!(fr["state"], expect, "after {cc} {action}: {fr}");
    let last = timeline(&fr).last().cloned().unwrap_or_default();
    assert_eq!(last["message_id"], answer["message_id"], "{fr}");
    assert_eq!(last["action"], action);
    assert_eq!(last["state_code"], cc);
    // The acting node names its operator; the other names the peer node.
    let mine = if cc == "FR" { &fr } else { &de };
    let theirs = if cc == "FR" { &de } else { &fr };
    let actor = |v: &Value| timeline(v).last().map(|s| s["actor"].clone());
    assert!(
        actor(mine).is_some_and(|a| a.as_str().is_some_and(|a| a.starts_with("cli:"))),
        "{mine}"
    );
    assert_eq!(actor(theirs), Some(json!(format!("node:{cc}"))), "{theirs}");
    (fr, de)
}

/// An MLA draft from France to Germany proposing a deadline 60 days ahead,
/// sent with `custos request send`; returns the case id once both nodes
/// show it submitted.
fn mla_request(net: &Network) -> String {
    let mut d = draft(RequestKind::Mla, "FR", "DE");
    // The date a real requester would write: the wall clock's.
    #[allow(clippy::disallowed_methods)]
    let due = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
    d["deadline"] = json!({
        "date": due.to_string(),
        "reasons": "The trial opens the week after."
    });
    assert!(custos_model::validate::validate(&d).is_valid());
    let sent = net.send("FR", &d, &[]);
    assert_eq!(sent.delivery, "delivered", "{sent:?}");
    let (fr, _) = agree(net, &sent.id);
    assert_eq!(fr["state"], "submitted");
    assert_eq!(timeline(&fr)[0]["action"], "submit");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "running".to_owned())]
    );
    sent.id
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The view of `cc` among both nodes' views.
fn view_of<'v>(views: &'v (Value, Value), cc: &str) -> &'v Value {
    if cc == "FR" { &views.0 } else { &views.1 }
}

/// Runs `cc`'s `custos case act` of `action`, which must be refused before
/// anything is sent: exit status 2 and an error naming the case's refusal
/// `code`, the state and the actions `cc` may take instead, as `mine` (its
/// view of the case) shows them. Returns the error.
fn act_refused(
    net: &Network,
    mine: &Value,
    cc: &str,
    action: &str,
    body: Option<&Value>,
    code: &str,
) -> String {
    let id = mine["id"].as_str().expect("a case id");
    let out = act(net, cc, id, action, body);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{cc} {action}: {err}");
    assert!(out.stdout.is_empty(), "{cc} {action} printed an answer");
    let current = mine["state"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("({code}: ")) && err.contains(&format!("in state {current}")),
        "{cc} {action} in {current}: expected {code}: {err}"
    );
    let allowed = texts(&mine["allowed"]);
    let listed = if allowed.is_empty() {
        "nothing".to_owned()
    } else {
        allowed.join(", ")
    };
    let side = mine["side"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("the {side} State may: {listed}")),
        "{cc} {action}: the error should list {listed}: {err}"
    );
    err
}

/// What the nodes hold before a batch of refused actions: both views, the
/// outboxes' and refusal logs' lengths.
struct Before {
    views: (Value, Value),
    queued: [usize; 2],
    logged: [usize; 2],
}

fn before(net: &Network, id: &str) -> Before {
    Before {
        views: agree(net, id),
        queued: [net.outbox("FR").len(), net.outbox("DE").len()],
        logged: [
            net.refusals("FR").lines().count(),
            net.refusals("DE").lines().count(),
        ],
    }
}

/// Nothing was queued on either node since `before`, the refusal logs
/// grew by the lines `logged` and show each, and neither case moved.
fn nothing_moved(net: &Network, id: &str, before: &Before, logged: &[Logged]) {
    assert_eq!(
        [net.outbox("FR").len(), net.outbox("DE").len()],
        before.queued,
        "a refused action queued a message"
    );
    for (i, cc) in ["FR", "DE"].into_iter().enumerate() {
        let refusals = net.refusals(cc);
        let expected: Vec<&Logged> = logged.iter().filter(|l| l.at == cc).collect();
        assert_eq!(
            refusals.lines().count(),
            before.logged[i] + expected.len(),
            "{cc}'s refusals:\n{refusals}"
        );
        for l in expected {
            assert!(
                refusals.lines().any(|line| line.contains(&l.error)
                    && line.contains(&l.sender)
                    && line.contains(&l.said)),
                "{cc} logs {:?}:\n{refusals}",
                l.said
            );
        }
    }
    let (fr, de) = agree(net, id);
    assert_eq!(
        steps(&fr),
        steps(&before.views.0),
        "a refused action moved the case"
    );
    assert_eq!(
        steps(&de),
        steps(&before.views.1),
        "a refused action moved the case"
    );
}

/// `cc`'s `custos case act` of `action` is refused before sending with the
/// case's `code` (see [`act_refused`]); nothing is queued and neither case
/// moves.
fn refused_before_sending(
    net: &Network,
    id: &str,
    cc: &str,
    action: &str,
    body: Option<&Value>,
    code: &str,
) -> String {
    let b = before(net, id);
    let err = act_refused(net, view_of(&b.views, cc), cc, action, body, code);
    nothing_moved(net, id, &b, &[]);
    err
}

/// `cc`'s `custos case act` of `action` with `body`, a decision that does
/// not validate, is refused before sending: exit status 1 and a report
/// whose issues include `problem` (`code path`) with the article; nothing
/// is queued and neither case moves.
fn invalid_before_sending(
    net: &Network,
    id: &str,
    cc: &str,
    action: &str,
    body: &Value,
    problem: &str,
) {
    let b = before(net, id);
    let out = act(net, cc, id, action, Some(body));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{cc} {action}: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["decision"], action, "{report}");
    let issues: Vec<String> = report["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "{} {} [{}]",
                i["code"].as_str().unwrap_or_default(),
                i["path"].as_str().unwrap_or_default(),
                i["article"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        issues.contains(&format!("{problem} [Art. 40]")),
        "{cc} {action}: expected {problem}: {issues:?}"
    );
    nothing_moved(net, id, &b, &[]);
}

/// A case message of `action` with `body` in thread `id`, made now by a
/// hostile `from` with its real signing key and sealed to the other node
/// (and to itself), as the node would seal it but with none of its checks;
/// it follows the last step of `theirs`, the other node's view.
fn forge(net: &Network, theirs: &Value, from: &str, action: CaseAction, body: Value) -> Vec<u8> {
    let to = other(from);
    let id = theirs["id"].as_str().expect("a case id");
    let prev: MessageId = timeline(theirs)
        .last()
        .and_then(|s| s["message_id"].as_str())
        .expect("the thread holds a message")
        .parse()
        .expect("a message id");
    // A peer signs at the wall-clock time the real node checks against.
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let kind = custos_node::app::cases::kind_of(action).expect("every action has a kind");
    let message = Message::new(kind, state(from), state(to), id, Some(prev), now, body);
    let payload = message.to_canonical_json().expect("canonical JSON");
    let envelope = Envelope::sign(kind.payload_type(), &payload, &net.signing_key(from));
    let directory = net.directory(now);
    let mut recipients = directory.current_recipients(state(to), now);
    recipients.extend(directory.current_recipients(state(from), now));
    custos_seal::encrypt(&envelope.to_json(), &recipients).expect("encrypts")
}

/// A line a node's `custos refusals` must show: the node, the error code,
/// who sent it and what the node answered.
struct Logged {
    at: &'static str,
    error: String,
    sender: String,
    said: String,
}

/// Posts `from`'s forged `action` to the other node, which must refuse it
/// with `error` (`action-not-allowed`, or `invalid-body` for contents the
/// protocol itself rejects) and a message beginning with `detail`; returns
/// the line its `custos refusals` must then show.
fn post_refused(
    net: &Network,
    views: &(Value, Value),
    from: &str,
    action: CaseAction,
    body: Value,
    error: &str,
    detail: &str,
) -> Logged {
    let to = other(from);
    let forged = forge(net, view_of(views, to), from, action, body);
    let answer = net.post_message(to, forged);
    assert_eq!(answer.code(), Some(error), "{from} {action}: {answer:?}");
    let status = if error == "action-not-allowed" {
        409
    } else {
        422
    };
    assert_eq!(answer.status, status, "{answer:?}");
    let said = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(said.starts_with(detail), "{from} {action}: {said}");
    // A case refusal names the sender its signature vouches for; a body
    // the protocol rejects is logged by the connection it came from.
    let sender = if error == "action-not-allowed" {
        format!("from {from} ")
    } else {
        "from ".to_owned()
    };
    Logged {
        at: to,
        error: error.to_owned(),
        sender,
        said: said.to_owned(),
    }
}

/// `from`'s `action`, forged and posted to the other node, is refused
/// there (see [`post_refused`]), logged, and taken into neither node's
/// case.
fn refused_at_intake(
    net: &Network,
    id: &str,
    from: &str,
    action: CaseAction,
    body: Value,
    error: &str,
    detail: &str,
) {
    let b = before(net, id);
    let logged = post_refused(net, &b.views, from, action, body, error, detail);
    nothing_moved(net, id, &b, &[logged]);
}

/// Actions the case does not allow now, each refused on both sides with
/// the case's refusal code: by the acting node's `custos case act`, and by
/// the other node when a hostile acting node forges it. Nothing is queued,
/// every forged message is logged, and neither case moves.
fn refused_both_ways(net: &Network, id: &str, tries: &[(&str, CaseAction, Value, &str)]) {
    let b = before(net, id);
    let mut logged = Vec::new();
    for (cc, action, body, code) in tries {
        let mine = view_of(&b.views, cc);
        act_refused(net, mine, cc, action.as_str(), Some(body), code);
        let detail = format!("{code}: ");
        let error = "action-not-allowed";
        logged.push(post_refused(
            net,
            &b.views,
            cc,
            *action,
            body.clone(),
            error,
            &detail,
        ));
    }
    nothing_moved(net, id, &b, &logged);
}

fn refusal(grounds: &[&str], reasons: &str) -> Value {
    json!({"refusal": {"grounds": grounds, "reasons": reasons}})
}

/// A refusal as a hostile peer writes it, claiming a consultation.
fn forged_refusal(grounds: &[&str], reasons: &str) -> Value {
    json!({"refusal": {"grounds": grounds, "reasons": reasons, "consulted": true}})
}

/// Seals `files` on Germany's node as its answer to request `id` and sends
/// the package to France with `custos evidence seal` and `send`; returns the
/// package id once France lists it as received.
fn evidence_for(net: &Network, id: &str) -> String {
    let files = net.scratch("account-export");
    std::fs::create_dir_all(&files).expect("a test fixture step");
    std::fs::write(
        files.join("subscriber.txt"),
        b"account 4711, opened 2026-03-02\n",
    )
    .expect("a test fixture step");
    std::fs::write(
        files.join("logins.csv"),
        b"2026-11-02T03:04:05Z,203.0.113.9\n",
    )
    .expect("a test fixture step");
    let package = net.scratch("account-export.pkg");
    let de = net.dir("DE");
    let sealed: Value = serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "seal".as_ref(),
        files.as_os_str(),
        "--request".as_ref(),
        id.as_ref(),
        "--to".as_ref(),
        "FR".as_ref(),
        "--out".as_ref(),
        package.as_os_str(),
        "--data".as_ref(),
        de.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence seal --json` prints JSON");
    let package_id = sealed["package_id"]
        .as_str()
        .unwrap_or_else(|| panic!("`evidence seal --json` names the package: {sealed}"))
        .to_owned();
    net.run_ok(&[
        "evidence".as_ref(),
        "send".as_ref(),
        package.as_os_str(),
        "--data".as_ref(),
        de.as_os_str(),
    ]);
    let fr = net.dir("FR");
    let listed: Value = serde_json::from_str(&net.run_ok(&[
        "evidence".as_ref(),
        "list".as_ref(),
        "--data".as_ref(),
        fr.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("`evidence list --json` prints JSON");
    let received = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["package_id"] == package_id.as_str())
        .unwrap_or_else(|| panic!("FR lists package {package_id}: {listed}"));
    assert_eq!(received["request"], id, "{received}");
    package_id
}

/// The cases `custos case list --state STATE --json` lists on `cc`.
fn listed(net: &Network, cc: &str, state: &str) -> Vec<String> {
    let dir = net.dir(cc);
    let out = net.run_ok(&args(&["case", "list", "--state", state, "--json"], &dir));
    let list: Value = serde_json::from_str(&out).expect("`case list --json` prints JSON");
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn an_mla_case_runs_from_acknowledgement_to_closure_alike_on_both_nodes() {
    let net = Network::start(&["FR", "DE"]);
    let id = mla_request(&net);

    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    let question =
        json!({"note": "Which accounts: the subscriber's only, or also the reseller's?"});
    let (fr, _) = step(
        &net,
        &id,
        "DE",
        "request-info",
        Some(&question),
        "awaiting-information",
    );
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "paused".to_owned())],
        "asking for information pauses the deadline"
    );
    assert_eq!(
        texts(&fr["allowed"]),
        ["provide-info", "withdraw", "ask-status", "correspond"]
    );
    let answer = json!({"note": "The subscriber's account only."});
    let (fr, _) = step(
        &net,
        &id,
        "FR",
        "provide-info",
        Some(&answer),
        "acknowledged",
    );
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "running".to_owned())]
    );

    let conditions = json!({
        "conditions": ["Use only in the proceedings named in the request.", "No onward transfer."],
        "note": "We can assist on these conditions."
    });
    let (fr, _) = step(&net, &id, "DE", "consult", Some(&conditions), "consulting");
    assert_eq!(fr["conditions"], conditions["conditions"]);
    step(
        &net,
        &id,
        "FR",
        "accept-conditions",
        None,
        "conditions-accepted",
    );

    // Germany answers with a real package, sealed and sent to France, and
    // links it to the partial execution.
    let package = evidence_for(&net, &id);
    let execution = json!({"evidence": [package], "note": "Subscriber data; the logs follow."});
    let (fr, de) = step(
        &net,
        &id,
        "DE",
        "execute-partly",
        Some(&execution),
        "partly-executed",
    );
    assert_eq!(fr["evidence"], json!([package]));
    assert_eq!(de["evidence"], json!([package]));
    assert!(texts(&fr["allowed"]).contains(&"close".to_owned()), "{fr}");

    let (fr, _) = step(&net, &id, "FR", "close", None, "closed");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "stopped".to_owned())]
    );
    assert!(texts(&fr["allowed"]).is_empty() && texts(&fr["counterpart_allowed"]).is_empty());
    let actions: Vec<String> = timeline(&fr)
        .iter()
        .filter_map(|s| s["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        [
            "submit",
            "acknowledge",
            "request-info",
            "provide-info",
            "consult",
            "accept-conditions",
            "execute-partly",
            "close"
        ]
    );
    assert_eq!(listed(&net, "FR", "closed"), std::slice::from_ref(&id));
    assert_eq!(listed(&net, "DE", "closed"), [id]);
}

#[test]
fn an_mla_case_is_refused_with_grounds_after_consultation_alike_on_both_nodes() {
    // Germany keeps its data in PostgreSQL when a server is given, so the
    // two nodes derive the case from two kinds of store.
    let db = TempDatabase::from_env();
    let url = db.as_ref().map(|d| d.url());
    let databases: Vec<(&str, &str)> = url.iter().map(|u| ("DE", u.as_str())).collect();
    let net = Network::start_with(&["FR", "DE"], &databases);
    assert_eq!(net.dir("DE").join("custos.db").exists(), db.is_none());
    let id = mla_request(&net);
    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    let conditions = json!({"conditions": ["The evidence is not used in proceedings that may lead to the death penalty."]});
    step(&net, &id, "DE", "consult", Some(&conditions), "consulting");
    step(
        &net,
        &id,
        "FR",
        "decline-conditions",
        Some(&json!({"note": "We cannot give that assurance."})),
        "conditions-declined",
    );

    let decision = refusal(
        &["R2", "R6"],
        "Without the assurance, execution would prejudice essential interests; the conduct is not an offence here.",
    );
    let (fr, _) = step(&net, &id, "DE", "refuse", Some(&decision), "refused");
    assert_eq!(
        clock_statuses(&fr),
        vec![("deadline".to_owned(), "stopped".to_owned())]
    );
    assert_eq!(texts(&fr["allowed"]), ["ask-status", "close", "correspond"]);
    assert_eq!(
        texts(&fr["counterpart_allowed"]),
        ["answer-status", "correspond"]
    );

    // Both nodes show the refusal as it was signed: the grounds, the
    // reasons and the consultation Germany's node recorded.
    let (fr, de) = agree(&net, &id);
    for view in [&fr, &de] {
        let last = timeline(view).last().cloned().unwrap_or_default();
        let body = &last["body"]["refusal"];
        assert_eq!(body["grounds"], json!(["R2", "R6"]), "{last}");
        assert_eq!(body["reasons"], decision["refusal"]["reasons"]);
        assert_eq!(body["consulted"], true);
    }
    let text = net.run_ok(&args(&["case", "show", &id], &net.dir("FR")));
    assert!(text.contains("\"grounds\":[\"R2\",\"R6\"]"), "{text}");

    step(&net, &id, "FR", "close", None, "closed");
    assert_eq!(listed(&net, "DE", "closed"), [id]);
}

#[test]
fn refusals_the_convention_forbids_are_stopped_before_sending_and_at_intake() {
    let net = Network::start(&["FR", "DE"]);
    let id = mla_request(&net);
    step(&net, &id, "DE", "acknowledge", None, "acknowledged");

    // Without a prior consultation: refused before sending, naming the
    // state and the consultation among the actions allowed.
    let essential = refusal(&["R2"], "Execution would prejudice essential interests.");
    let err = refused_before_sending(
        &net,
        &id,
        "DE",
        "refuse",
        Some(&essential),
        "consultation-required",
    );
    assert!(err.contains("consult, "), "{err}");
    // A hostile Germany claims the consultation in the body it signs.
    refused_at_intake(
        &net,
        &id,
        "DE",
        CaseAction::Refuse,
        forged_refusal(&["R2"], "Execution would prejudice essential interests."),
        "action-not-allowed",
        "consultation-required: ",
    );

    step(
        &net,
        &id,
        "DE",
        "consult",
        Some(&json!({"conditions": ["Use only for the offence named."]})),
        "consulting",
    );

    // After the consultation: grounds never valid alone, no ground, no
    // reasons. The decision itself does not validate: exit status 1, every
    // problem with its code, field and article, and nothing sent.
    for (grounds, reasons, problem) in [
        (
            &["fiscal"][..],
            "The offence concerns tax.",
            "excluded-grounds-only refusal.grounds",
        ),
        (
            &["bank-secrecy"][..],
            "The data is covered by bank secrecy.",
            "excluded-grounds-only refusal.grounds",
        ),
        (
            &["fiscal", "bank-secrecy"][..],
            "Tax and bank secrecy.",
            "excluded-grounds-only refusal.grounds",
        ),
        (
            &[][..],
            "No ground named.",
            "missing-required refusal.grounds",
        ),
        (&["R2"][..], " ", "missing-required refusal.reasons"),
    ] {
        invalid_before_sending(
            &net,
            &id,
            "DE",
            "refuse",
            &refusal(grounds, reasons),
            problem,
        );
    }
    // Forged, the protocol's own check of a refusal stops them first.
    refused_at_intake(
        &net,
        &id,
        "DE",
        CaseAction::Refuse,
        forged_refusal(&["fiscal"], "The offence concerns tax."),
        "invalid-body",
        "body of the `refuse` message is invalid: ",
    );

    // A valid ground beside fiscal matters is a refusal the Convention allows.
    let mixed = refusal(
        &["fiscal", "R6"],
        "The conduct is not an offence here; it also concerns tax.",
    );
    step(&net, &id, "DE", "refuse", Some(&mixed), "refused");
}

#[test]
fn illegal_transitions_are_refused_before_sending_and_at_intake() {
    use CaseAction as A;
    let net = Network::start(&["FR", "DE"]);
    let id = mla_request(&net);
    let note = || json!({"note": "out of turn"});
    let conditions = json!({"conditions": ["Use only for the offence named."]});
    let package = json!({"evidence": [custos_seal::content_id(b"records")]});
    let later = "not-allowed-in-state";

    refused_both_ways(
        &net,
        &id,
        &[
            ("DE", A::Consult, conditions.clone(), later),
            ("DE", A::ExecuteWholly, package.clone(), later),
            ("FR", A::AcceptConditions, note(), later),
            ("FR", A::Acknowledge, note(), "wrong-side"),
        ],
    );

    step(&net, &id, "DE", "acknowledge", None, "acknowledged");
    refused_both_ways(
        &net,
        &id,
        &[
            (
                "DE",
                A::Postpone,
                json!({"reasons": "A domestic investigation comes first."}),
                "consultation-required",
            ),
            (
                "DE",
                A::ConfirmPreservation,
                json!({"took_effect": "2026-11-01", "days": 90}),
                "not-a-preservation",
            ),
            ("FR", A::ProvideInfo, note(), later),
            ("FR", A::Close, note(), later),
        ],
    );

    let question = json!({"note": "Which account?"});
    step(
        &net,
        &id,
        "DE",
        "request-info",
        Some(&question),
        "awaiting-information",
    );
    refused_both_ways(
        &net,
        &id,
        &[
            ("DE", A::ExecutePartly, package.clone(), later),
            ("FR", A::AcceptConditions, note(), later),
        ],
    );
    let answer = json!({"note": "The first."});
    step(
        &net,
        &id,
        "FR",
        "provide-info",
        Some(&answer),
        "acknowledged",
    );

    step(&net, &id, "DE", "consult", Some(&conditions), "consulting");
    refused_both_ways(
        &net,
        &id,
        &[
            ("DE", A::ExecuteWholly, package.clone(), later),
            ("FR", A::ProvideInfo, note(), later),
        ],
    );

    step(
        &net,
        &id,
        "FR",
        "accept-conditions",
        None,
        "conditions-accepted",
    );
    refused_both_ways(
        &net,
        &id,
        &[
            (
                "DE",
                A::Refuse,
                forged_refusal(&["R2"], "Essential interests."),
                later,
            ),
            ("FR", A::DeclineConditions, note(), later),
        ],
    );

    step(
        &net,
        &id,
        "DE",
        "execute-partly",
        Some(&package),
        "partly-executed",
    );
    refused_both_ways(
        &net,
        &id,
        &[
            ("DE", A::Acknowledge, note(), later),
            ("FR", A::AcceptConditions, note(), later),
        ],
    );

    step(&net, &id, "FR", "close", None, "closed");
    refused_both_ways(
        &net,
        &id,
        &[
            (
                "DE",
                A::Correspond,
                json!({"text": "One more thing."}),
                "case-over",
            ),
            ("FR", A::Withdraw, note(), "case-over"),
            ("DE", A::ExecuteWholly, package, "case-over"),
        ],
    );
}

/// The shell block under `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .expect("the README reads");
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("the README has {heading:?}"))..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = section[start..].find("```").expect("the block ends") + start;
    section[start..end].to_owned()
}

#[test]
fn the_readmes_case_walk_runs_as_written() {
    let net = Network::start(&["FR", "DE"]);
    let work = net.scratch("readme");
    std::fs::create_dir_all(&work).expect("a test fixture step");
    // The README's nodes are the folders `fr` and `de` it made in the
    // section before.
    std::os::unix::fs::symlink(net.dir("FR"), work.join("fr")).expect("a test fixture step");
    std::os::unix::fs::symlink(net.dir("DE"), work.join("de")).expect("a test fixture step");
    // Where `jq` is not installed, a stand-in reads a top-level text member
    // of the pretty-printed JSON the commands print.
    let stand_in =
        r#"command -v jq >/dev/null || jq() { sed -n "s/^  \"${2#.}\": \"\([^\"]*\)\".*/\1/p"; }"#;
    let script = format!(
        "{stand_in}\n{}\necho \"IDS $ID $ID2\"\n",
        readme_block("## A case between two nodes")
    );
    let out = net.shell(&script, &work);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ids = stdout
        .lines()
        .find_map(|l| l.strip_prefix("IDS "))
        .unwrap_or_else(|| panic!("the walk names its cases: {stdout}"));
    let (id, id2) = ids.split_once(' ').expect("two case ids");

    // The two refusals the README shows refused are the only failures: one
    // the case does not allow yet, one that does not validate.
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("is not allowed in state"))
        .collect();
    assert_eq!(refusals.len(), 1, "{stderr}");
    assert!(refusals[0].contains("(consultation-required: "), "{stderr}");
    assert!(
        stderr.contains("fiscal.json: error excluded-grounds-only refusal.grounds [Art. 40]"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("nothing was sent").count(), 1, "{stderr}");
    assert!(
        stdout.contains("state      awaiting-information"),
        "{stdout}"
    );

    let (fr, _) = agree(&net, id);
    assert_eq!(fr["state"], "closed");
    let actions = |v: &Value| -> Vec<String> {
        timeline(v)
            .iter()
            .filter_map(|s| s["action"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        actions(&fr),
        [
            "submit",
            "acknowledge",
            "request-info",
            "provide-info",
            "consult",
            "accept-conditions",
            "execute-partly",
            "close"
        ]
    );
    let package = fr["evidence"][0].as_str().expect("a linked package");
    let received = net.run_ok(&args(&["evidence", "list", "--json"], &net.dir("FR")));
    assert!(received.contains(package), "{received}");

    let (fr, _) = agree(&net, id2);
    assert_eq!(fr["state"], "refused");
    assert_eq!(
        actions(&fr),
        [
            "submit",
            "acknowledge",
            "consult",
            "decline-conditions",
            "refuse"
        ]
    );
    assert_eq!(listed(&net, "FR", "refused"), [id2.to_owned()]);
}
