//! Cases between two nodes: each action taken at the application layer,
//! carried to the other node as the outbox would post it, and both nodes
//! deriving the same case after every step; actions the case does not allow
//! refused before sending, and the same actions sent by a hostile peer
//! (built and sealed directly) refused at intake with the case's code.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

mod common;
#[path = "common/evidence.rs"]
mod evidence;

use common::{officer, step};
use custos_model::clock::Clock;
use custos_model::refusal::{Ground, Refusal};
use custos_model::{RequestKind, template, validate};
use custos_node::NodeError;
use custos_node::app::{
    CaseAction as A, CaseDetail, CaseState as S, OutboxState, RefusalCode, Side,
};
use custos_protocol::{Message, MessageId, seal_message};
use custos_testkit::{Keystore, MESSAGES_PATH, Network};
use evidence::sent_package;
use serde_json::json;
use time::Duration;

/// France's MLA request (the template's, France to Germany), sent and
/// carried to Germany; returns the thread.
async fn mla_request(net: &Network) -> String {
    let draft = validate::parse(&template::render(RequestKind::Mla)).unwrap();
    assert!(validate::validate(&draft).is_valid());
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    sent.thread
}

/// Both nodes' view of the case; asserts that they agree on the state, the
/// clocks and the timeline, and that each sees its own side.
async fn both(net: &Network, thread: &str) -> (CaseDetail, CaseDetail) {
    let fr = net.node("FR").case(thread, &officer("FR")).await.unwrap();
    let de = net.node("DE").case(thread, &officer("DE")).await.unwrap();
    assert_eq!(fr.side, Side::Requesting);
    assert_eq!(de.side, Side::Requested);
    assert_eq!(fr.state, de.state);
    assert_eq!(fr.clocks, de.clocks);
    assert_eq!(fr.allowed, de.counterpart_allowed);
    assert_eq!(de.allowed, fr.counterpart_allowed);
    let steps = |c: &CaseDetail| {
        c.timeline
            .iter()
            .map(|t| {
                (
                    t.message_id.clone(),
                    t.side,
                    t.state_code,
                    t.action,
                    t.state,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&fr), steps(&de));
    assert!(fr.refused.is_empty() && de.refused.is_empty());
    (fr, de)
}

async fn state(net: &Network, thread: &str) -> S {
    both(net, thread).await.0.state
}

/// A package id of the form an execution links.
fn package_id(seed: &str) -> String {
    custos_seal::content_id(seed.as_bytes())
}

#[tokio::test]
async fn an_mla_case_from_acknowledgement_to_closure_reads_the_same_on_both_nodes() {
    let net = Network::served(&["FR", "DE"]).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let thread = mla_request(&net).await;
    let (fr, de) = both(&net, &thread).await;
    assert_eq!(fr.state, S::Submitted);
    assert!(de.allowed.contains(&A::Acknowledge), "{:?}", de.allowed);
    assert!(
        !de.allowed.contains(&A::Refuse),
        "refusing needs a consultation first"
    );

    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    assert_eq!(state(&net, &thread).await, S::Acknowledged);

    step(
        &net,
        &thread,
        "DE",
        A::RequestInfo,
        json!({"note": "Which accounts?"}),
    )
    .await;
    assert_eq!(state(&net, &thread).await, S::AwaitingInformation);
    step(
        &net,
        &thread,
        "FR",
        A::ProvideInfo,
        json!({"note": "Accounts 1 and 2."}),
    )
    .await;
    assert_eq!(state(&net, &thread).await, S::Acknowledged);

    step(
        &net,
        &thread,
        "DE",
        A::Consult,
        json!({"conditions": ["The records are used only in the proceedings named."]}),
    )
    .await;
    assert_eq!(state(&net, &thread).await, S::Consulting);
    step(&net, &thread, "FR", A::AcceptConditions, json!({})).await;
    let (fr, _) = both(&net, &thread).await;
    assert_eq!(fr.state, S::ConditionsAccepted);
    assert_eq!(fr.conditions.len(), 1);

    // An execution may cite only packages Germany sent to France for this
    // request, receipted: a package it never sent is refused before sending.
    let never_sent = package_id("bank records, part one");
    let refused = net
        .node("DE")
        .act(
            &thread,
            A::ExecutePartly,
            json!({"evidence": [never_sent]}),
            &officer("DE"),
        )
        .await
        .unwrap_err();
    let NodeError::InvalidDecision(report) = &refused else {
        panic!("{refused}");
    };
    assert_eq!(report.issues.len(), 1, "{report:?}");
    assert_eq!(report.issues[0].code.as_str(), "package-not-sent");
    assert_eq!(report.issues[0].path, "evidence[0]");
    assert_eq!(state(&net, &thread).await, S::ConditionsAccepted);

    let package = sent_package(
        &net,
        "DE",
        "FR",
        &thread,
        scratch.path(),
        "bank records",
        1,
        &officer("DE"),
    )
    .await;
    step(
        &net,
        &thread,
        "DE",
        A::ExecutePartly,
        json!({"evidence": [package], "note": "The first bank's records."}),
    )
    .await;
    let (fr, de) = both(&net, &thread).await;
    assert_eq!(fr.state, S::PartlyExecuted);
    assert_eq!(fr.evidence, std::slice::from_ref(&package));
    assert_eq!(de.evidence, [package]);

    step(
        &net,
        &thread,
        "FR",
        A::Close,
        json!({"note": "Enough for trial."}),
    )
    .await;
    let (fr, de) = both(&net, &thread).await;
    assert_eq!(fr.state, S::Closed);
    // Closed after an execution: only consent to a further use of what
    // was provided may still be asked (issue 18).
    assert_eq!(fr.allowed, [A::AskConsent]);
    assert!(de.allowed.is_empty());
    let actions: Vec<A> = fr.timeline.iter().map(|t| t.action).collect();
    assert_eq!(
        actions,
        [
            A::Submit,
            A::Acknowledge,
            A::RequestInfo,
            A::ProvideInfo,
            A::Consult,
            A::AcceptConditions,
            A::ExecutePartly,
            A::Close
        ]
    );
    // Who acted, as each node recorded it: its own officer for what it
    // sent, the peer node for what it received.
    assert_eq!(fr.timeline[0].actor.as_deref(), Some("cli:officer-fr"));
    assert_eq!(fr.timeline[1].actor.as_deref(), Some("node:DE"));
    assert_eq!(de.timeline[1].actor.as_deref(), Some("cli:officer-de"));
    assert_eq!(de.timeline[1].state_code.as_str(), "DE");

    // Once closed, nothing more is sent.
    let err = net
        .node("DE")
        .act(
            &thread,
            A::Correspond,
            json!({"text": "One more thing."}),
            &officer("DE"),
        )
        .await
        .unwrap_err();
    match err {
        NodeError::ActionNotAllowed(na) => {
            assert_eq!(na.code, RefusalCode::CaseOver);
            assert_eq!(na.state, S::Closed);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_refusal_after_consultation_is_sent_and_a_fiscal_only_one_is_not() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let thread = mla_request(&net).await;
    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    step(
        &net,
        &thread,
        "DE",
        A::Consult,
        json!({"conditions": ["Only for the offence named."]}),
    )
    .await;
    step(
        &net,
        &thread,
        "FR",
        A::DeclineConditions,
        json!({"note": "We cannot accept."}),
    )
    .await;
    assert_eq!(state(&net, &thread).await, S::ConditionsDeclined);

    // A refusal resting only on fiscal matters, and one naming no ground
    // and giving no reasons, do not validate: every problem, with its code,
    // field and article, and nothing queued.
    let queued = net
        .node("DE")
        .outbox(&operator(), None, 100)
        .await
        .unwrap()
        .len();
    let fiscal = json!({"refusal": {"grounds": ["fiscal"], "reasons": "A tax matter."}});
    let err = net
        .node("DE")
        .act(&thread, A::Refuse, fiscal, &officer("DE"))
        .await
        .unwrap_err();
    let NodeError::InvalidDecision(report) = &err else {
        panic!("{err}");
    };
    let found: Vec<_> = report
        .issues
        .iter()
        .map(|i| (i.code, i.path.as_str(), i.article))
        .collect();
    let art40 = Some(custos_model::article::MLA);
    assert_eq!(
        found,
        [(
            validate::Code::ExcludedGroundsOnly,
            "refusal.grounds",
            art40
        )]
    );
    let groundless = json!({
        "format": "custos-draft/1",
        "decision": "refuse",
        "refusal": {"grounds": [], "reasons": ""}
    });
    let err = net
        .node("DE")
        .act(&thread, A::Refuse, groundless, &officer("DE"))
        .await
        .unwrap_err();
    let NodeError::InvalidDecision(report) = &err else {
        panic!("{err}");
    };
    let found: Vec<_> = report
        .issues
        .iter()
        .map(|i| (i.code, i.path.as_str(), i.article))
        .collect();
    assert_eq!(
        found,
        [
            (validate::Code::MissingRequired, "refusal.grounds", art40),
            (validate::Code::MissingRequired, "refusal.reasons", art40)
        ]
    );
    assert!(
        err.to_string()
            .contains("missing-required refusal.grounds [Art. 40]"),
        "{err}"
    );
    assert_eq!(
        net.node("DE")
            .outbox(&operator(), None, 100)
            .await
            .unwrap()
            .len(),
        queued
    );

    // The refusal template, as printed, is taken as the refusal's draft.
    let refusal =
        validate::parse(&template::render_decision(custos_model::Decision::Refuse)).unwrap();
    step(&net, &thread, "DE", A::Refuse, refusal).await;
    assert_eq!(state(&net, &thread).await, S::Refused);
    step(&net, &thread, "FR", A::Close, json!({})).await;
    assert_eq!(state(&net, &thread).await, S::Closed);
}

#[tokio::test]
async fn a_refusal_without_consultation_is_refused_before_sending_and_at_intake() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let thread = mla_request(&net).await;
    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    let de = net.node("DE");
    let fr = net.node("FR");
    let queued = de.outbox(&operator(), None, 100).await.unwrap().len();

    // Before sending: a typed error naming the state and what is allowed.
    let body = json!({"refusal": {"grounds": ["R2"], "reasons": "Essential interests."}});
    let err = de
        .act(&thread, A::Refuse, body, &officer("DE"))
        .await
        .unwrap_err();
    let NodeError::ActionNotAllowed(na) = &err else {
        panic!("{err}");
    };
    assert_eq!(na.code, RefusalCode::ConsultationRequired);
    assert_eq!(na.state, S::Acknowledged);
    assert_eq!(na.side, Side::Requested);
    assert!(na.allowed.contains(&A::Consult), "{:?}", na.allowed);
    let text = err.to_string();
    assert!(
        text.contains("acknowledged") && text.contains("consult"),
        "{text}"
    );
    assert_eq!(
        de.outbox(&operator(), None, 100).await.unwrap().len(),
        queued,
        "nothing was queued"
    );

    // The other side's actions and actions out of turn are refused too.
    for (state, action, code) in [
        ("FR", A::Acknowledge, RefusalCode::WrongSide),
        ("FR", A::Close, RefusalCode::NotAllowedInState),
        ("DE", A::ProvideInfo, RefusalCode::WrongSide),
        ("DE", A::ConfirmPreservation, RefusalCode::NotAPreservation),
    ] {
        let body = json!({"took_effect": "2026-11-01", "days": 90});
        let err = net
            .node(state)
            .act(&thread, action, body, &officer(state))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, NodeError::ActionNotAllowed(na) if na.code == code),
            "{state} {action}: {err}"
        );
    }

    // A case is opened by sending a request, not by a case action.
    let err = fr
        .act(&thread, A::Submit, json!({}), &officer("FR"))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::InvalidDraft(_)), "{err}");

    // A hostile Germany builds and seals the same refusal itself, claiming
    // a consultation in the body; France derives the case and refuses it.
    net.clock.advance(Duration::minutes(1));
    let now = net.clock.now();
    let prev: MessageId = fr
        .store
        .last_in_thread(&thread)
        .await
        .unwrap()
        .unwrap()
        .id
        .parse()
        .unwrap();
    let message = Message::refuse(
        de.state(),
        fr.state(),
        thread.clone(),
        prev,
        now,
        Refusal {
            grounds: vec![Ground::EssentialInterests],
            reasons: "Essential interests.".into(),
            consulted: true,
        },
        None,
    );
    let germany = Keystore::load(&de.dir().join("keys")).unwrap();
    let recipients = fr.directory().unwrap().current_recipients(fr.state(), now);
    let sealed = seal_message(&message, &germany.signing, &recipients).unwrap();
    let reply = fr
        .post_bytes(MESSAGES_PATH, sealed.ciphertext)
        .await
        .unwrap();
    assert_eq!(
        reply.refusal(),
        (409, Some("action-not-allowed".into())),
        "{}",
        reply.text()
    );
    let said = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.starts_with("consultation-required: "), "{said}");

    // Recorded in France's refusal log, not stored in the thread.
    let refusals = fr.refusals(&operator(), 10).await.unwrap();
    assert_eq!(refusals[0].code, "action-not-allowed");
    assert_eq!(refusals[0].claimed_sender.as_deref(), Some("DE"));
    assert!(
        refusals[0].detail.starts_with("consultation-required"),
        "{:?}",
        refusals[0]
    );
    let held = fr.store.thread_messages(&thread).await.unwrap();
    assert!(held.iter().all(|m| m.id != sealed.id.as_str()));
    assert_eq!(state(&net, &thread).await, S::Acknowledged);
}

#[tokio::test]
async fn a_status_query_is_answered_at_once_from_the_derived_state() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let thread = mla_request(&net).await;
    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    step(
        &net,
        &thread,
        "FR",
        A::AskStatus,
        json!({"note": "Any news?"}),
    )
    .await;

    // Germany queued its answer while it took the query in.
    let de = net.node("DE");
    let pending = de
        .outbox(&operator(), Some(OutboxState::Pending), 10)
        .await
        .unwrap();
    let answer = &pending[0];
    let record = de
        .store
        .thread_messages(&thread)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == answer.message_id)
        .unwrap();
    assert_eq!(record.kind, "status");
    let envelope =
        custos_seal::Envelope::from_json(&de.message_envelope(&record).unwrap()).unwrap();
    let message = Message::from_json(&envelope.payload).unwrap();
    assert_eq!(message.body, json!({"state": "acknowledged"}));

    let reply = net.carry("DE", &answer.message_id, "FR").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (fr, _) = both(&net, &thread).await;
    assert_eq!(fr.state, S::Acknowledged);
    // (The test clock stands still, so query and answer share an instant.)
    let answered = fr
        .timeline
        .iter()
        .find(|t| t.action == A::AnswerStatus)
        .unwrap();
    assert_eq!(answered.side, Side::Requested);
    assert_eq!(answered.message_id, answer.message_id);
    assert_eq!(answered.actor.as_deref(), Some("node:DE"));

    // The listing finds the case by state, kind and counterpart.
    let filter = |state| custos_node::app::CaseFilter {
        state: Some(state),
        kind: Some(RequestKind::Mla),
        counterpart: Some("DE".parse().unwrap()),
        ..Default::default()
    };
    let listed = net
        .node("FR")
        .cases(&operator(), &filter(S::Acknowledged))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, thread);
    assert!(
        net.node("FR")
            .cases(&operator(), &filter(S::Closed))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn crossing_messages_end_alike_on_both_nodes_and_the_case_goes_on() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let thread = mla_request(&net).await;
    step(&net, &thread, "DE", A::Acknowledge, json!({})).await;
    step(
        &net,
        &thread,
        "DE",
        A::Consult,
        json!({"conditions": ["Only for the offence named."]}),
    )
    .await;

    // France accepts the conditions and, before that reaches it, Germany
    // refuses (a consultation came first, so Germany's node allows it).
    net.clock.advance(Duration::minutes(1));
    let accept = net
        .node("FR")
        .act(&thread, A::AcceptConditions, json!({}), &officer("FR"))
        .await
        .unwrap();
    net.clock.advance(Duration::minutes(1));
    let refusal = json!({"refusal": {"grounds": ["R2"], "reasons": "Essential interests."}});
    let refuse = net
        .node("DE")
        .act(&thread, A::Refuse, refusal, &officer("DE"))
        .await
        .unwrap();

    // The acceptance came first: Germany takes it in; France refuses the
    // refusal, which accepted conditions exclude.
    let reply = net.carry("FR", &accept.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = net.carry("DE", &refuse.message_id, "FR").await.unwrap();
    assert_eq!(reply.refusal(), (409, Some("action-not-allowed".into())));
    let said = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.starts_with("not-allowed-in-state: "), "{said}");

    let fr = net.node("FR").case(&thread, &officer("FR")).await.unwrap();
    let de = net.node("DE").case(&thread, &officer("DE")).await.unwrap();
    assert_eq!(fr.state, S::ConditionsAccepted);
    assert_eq!(de.state, S::ConditionsAccepted);
    // Germany keeps its refusal on record as not accepted.
    assert_eq!(de.refused.len(), 1);
    assert_eq!(de.refused[0].message_id, refuse.message_id);
    assert_eq!(de.refused[0].code, RefusalCode::NotAllowedInState);

    // Germany's next message follows a message France holds (never the
    // refusal France did not store), so France takes it in.
    step(
        &net,
        &thread,
        "DE",
        A::ExecuteWholly,
        json!({"evidence": [], "note": "Nothing further was found."}),
    )
    .await;
    let fr = net.node("FR").case(&thread, &officer("FR")).await.unwrap();
    let de = net.node("DE").case(&thread, &officer("DE")).await.unwrap();
    assert_eq!(fr.state, S::Executed);
    assert_eq!(de.state, S::Executed);
}

/// The operator at the node's files, who may do everything (every
/// call is checked and recorded like any person's).
fn operator() -> custos_node::Actor {
    custos_node::Actor::Cli {
        user: "operator".to_owned(),
    }
}
