//! The legal basis of a request, checked before it is sent: three nodes in
//! process (France, Germany, the Netherlands) holding a treaty registry in
//! which the Convention is in force for France and Germany and the
//! Netherlands has only signed. A draft citing the Convention goes to
//! Germany and is refused for the Netherlands with the reason; citing a
//! bilateral treaty instead, it goes, recorded as sent on that treaty.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_model::basis::ConventionDoesNotApply;
use custos_model::state::{PartyKind, StateCode, catalogue};
use custos_model::treaty::{Deposit, InstrumentKind, NotApplicable, PartyEntry, Registry};
use custos_model::{RequestKind, template, validate};
use custos_node::app::Actor;
use custos_node::{Node, NodeError};
use custos_testkit::{Network, NetworkBuilder};
use serde_json::{Value, json};
use time::macros::date;
use time::{Date, Duration};

fn code(s: &str) -> StateCode {
    s.parse().unwrap()
}

fn party(code: StateCode, deposit: Option<Date>) -> PartyEntry {
    PartyEntry {
        code,
        signature: Some(date!(2025 - 10 - 25)),
        deposit: deposit.map(|date| Deposit {
            date,
            instrument: InstrumentKind::Ratification,
        }),
        members: vec![],
        denunciation_notice: None,
        designations: Default::default(),
    }
}

/// Forty other States deposit one a day from 1 November 2025, so the
/// Convention is in force from 10 March 2026; France and Germany deposit
/// in January 2026; the Netherlands signs only.
fn registry() -> Registry {
    let ours = ["FR", "DE", "NL"].map(code);
    let mut parties: Vec<PartyEntry> = catalogue()
        .filter(|e| e.kind == PartyKind::State && !ours.contains(&e.code))
        .take(40)
        .enumerate()
        .map(|(i, e)| {
            party(
                e.code,
                Some(date!(2025 - 11 - 01) + Duration::days(i as i64)),
            )
        })
        .collect();
    parties.push(party(code("FR"), Some(date!(2026 - 01 - 05))));
    parties.push(party(code("DE"), Some(date!(2026 - 01 - 06))));
    parties.push(party(code("NL"), None));
    Registry {
        sample: false,
        note: None,
        as_of: date!(2026 - 10 - 31),
        parties,
    }
}

/// France's MLA template, addressed to `to`.
fn draft(to: &str) -> Value {
    let mut d = validate::parse(&template::render(RequestKind::Mla)).unwrap();
    d["requested_state"] = to.into();
    d
}

fn operator() -> Actor {
    Actor::Cli { user: "ana".into() }
}

/// The `sent:submit` history event of request `id`.
async fn sent_event(node: &Node, id: &str) -> Value {
    let view = node.request_detail(id).await.unwrap();
    let event = view
        .history
        .iter()
        .find(|e| e.kind == "sent:submit")
        .unwrap();
    event.detail.clone()
}

/// The detail of the `message-sent` ledger entry of request `id`.
async fn ledger_detail(node: &Node, id: &str) -> Value {
    node.sequence_all().await.unwrap();
    let size = node.verify_ledger(&mut |_, _| {}).await.unwrap().size;
    for i in 0..size {
        let entry: Value =
            serde_json::from_slice(&node.prove_entry(i).await.unwrap().entry).unwrap();
        if entry["kind"] == "message-sent" && entry["request"] == id {
            return entry["detail"].clone();
        }
    }
    panic!("no message-sent entry for {id}")
}

async fn network(with_registry: bool) -> Network {
    let mut b = NetworkBuilder::new(&["FR", "DE", "NL"]);
    if with_registry {
        b = b.treaty_registry(registry());
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn the_convention_is_checked_for_both_states_on_the_sending_date() {
    let net = network(true).await;
    let fr = net.node("FR");
    let today = fr.now().date();
    assert_eq!(today, date!(2026 - 11 - 01));

    // In force for France and Germany: sent, and the check recorded.
    let sent = fr.submit(draft("DE"), &operator()).await.unwrap();
    let recorded = json!({
        "basis": "un-convention",
        "registry_check": {
            "on": "2026-11-01",
            "registry_as_of": "2026-10-31",
            "in_force_since": "2026-03-10"
        }
    });
    assert_eq!(sent_event(fr, &sent.thread).await["legal_basis"], recorded);
    let logged = ledger_detail(fr, &sent.thread).await;
    assert_eq!(logged["legal_basis"], recorded);
    assert_eq!(
        (logged["kind"].as_str(), logged["to"].as_str()),
        (Some("submit"), Some("DE"))
    );

    // The Netherlands has only signed: refused with the reason, nothing queued.
    let before = fr
        .requests(&operator(), &Default::default())
        .await
        .unwrap()
        .len();
    let err = fr.submit(draft("NL"), &operator()).await.unwrap_err();
    let NodeError::LegalBasis(ConventionDoesNotApply {
        between,
        on,
        reasons,
    }) = &err
    else {
        panic!("not a legal-basis refusal: {err}")
    };
    assert_eq!(*between, [code("FR"), code("NL")]);
    assert_eq!(*on, today);
    assert_eq!(
        *reasons,
        vec![NotApplicable::NoInstrument {
            party: code("NL"),
            signed: true
        }]
    );
    assert_eq!(err.fault(), custos_node::Fault::Caller);
    let text = err.to_string();
    assert!(
        text.contains("the Convention is not a legal basis between FR and NL on 2026-11-01")
            && text.contains("NL has signed but has not deposited"),
        "{text}"
    );
    assert_eq!(
        fr.requests(&operator(), &Default::default())
            .await
            .unwrap()
            .len(),
        before
    );

    // Citing a bilateral treaty instead, the request goes, recorded as such.
    let mut bilateral = draft("NL");
    bilateral["legal_basis"] = json!({
        "basis": "bilateral",
        "treaty": "Treaty on mutual legal assistance between France and the Netherlands"
    });
    let sent = fr.submit(bilateral, &operator()).await.unwrap();
    let recorded = json!({
        "basis": "bilateral",
        "instrument": "Treaty on mutual legal assistance between France and the Netherlands"
    });
    assert_eq!(sent_event(fr, &sent.thread).await["legal_basis"], recorded);
    assert_eq!(
        ledger_detail(fr, &sent.thread).await["legal_basis"],
        recorded
    );

    // Reciprocity too; and the check runs on the day the node's clock shows.
    let mut reciprocity = draft("NL");
    reciprocity["legal_basis"] = json!({ "basis": "reciprocity" });
    fr.submit(reciprocity, &operator()).await.unwrap();
    net.stop().await;
}

#[tokio::test]
async fn without_a_registry_the_convention_is_cited_unchecked() {
    let net = network(false).await;
    let fr = net.node("FR");
    let sent = fr.submit(draft("NL"), &operator()).await.unwrap();
    assert_eq!(
        sent_event(fr, &sent.thread).await["legal_basis"],
        json!({ "basis": "un-convention" })
    );
    net.stop().await;
}
