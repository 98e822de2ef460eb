//! Refusals on both sides: the refusals the Convention forbids and actions
//! the case does not allow in the state it is in, each stopped by the acting
//! node before anything is sent and, forged by a hostile peer with its real
//! signing key, refused by the other node at intake (see the module above
//! for the representative set of illegal transitions).

use custos_node::app::CaseAction;
use custos_protocol::{Message, MessageId};
use custos_seal::Envelope;
use serde_json::{Value, json};

use super::*;
use crate::common::state;

/// The view of `cc` among both nodes' views.
fn view_of<'v>(views: &'v (Value, Value), cc: &str) -> &'v Value {
    if cc == "FR" { &views.0 } else { &views.1 }
}

/// Runs `cc`'s `custos case act` of `action`, which must be refused before
/// anything is sent: exit status 1 and an error naming the case's refusal
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
    assert_eq!(out.status.code(), Some(1), "{cc} {action}: {err}");
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
pub(super) fn forge(
    net: &Network,
    theirs: &Value,
    from: &str,
    action: CaseAction,
    body: Value,
) -> Vec<u8> {
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

/// A refusal as a hostile peer writes it, claiming a consultation.
fn forged_refusal(grounds: &[&str], reasons: &str) -> Value {
    json!({"refusal": {"grounds": grounds, "reasons": reasons, "consulted": true}})
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

    // The first part sends no package (an execution may cite only the
    // packages sent for the request, which the scenarios' evidence step
    // covers).
    let nothing_yet = json!({"evidence": [], "note": "The records follow."});
    step(
        &net,
        &id,
        "DE",
        "execute-partly",
        Some(&nothing_yet),
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
