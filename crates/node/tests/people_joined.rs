//! People joined up with the record and the rota. Sign-in events in the
//! record of who saw what: a sign-in, each failure and a lock-out write a
//! row (operation `sign-in`, allowed or refused, the failure's class) in
//! the transaction of their ledger entry, listed by `Node::audit` by person
//! and never holding a secret. The rota names users: a shift's person and
//! deputy must be enabled users, their addresses given or taken from their
//! profiles. On SQLite, and on PostgreSQL when `CUSTOS_TEST_POSTGRES_URL`
//! is set.

#![allow(clippy::unwrap_used)]

use custos_node::NodeError;
use custos_node::app::secrets::{totp_code, totp_step};
use custos_node::app::{Actor, AuditFilter, NewUser, Role, ShiftInput, UserSecrets};
use custos_testkit::{NodeBuilder, TestNode};

const PASSWORD: &str = "correct horse battery staple";

fn admin() -> Actor {
    Actor::Cli {
        user: "root-operator".into(),
    }
}

async fn node(postgres: bool) -> Option<TestNode> {
    let mut builder = NodeBuilder::new("FR");
    if postgres {
        let url = custos_testkit::postgres_url()?;
        builder = builder.postgres(url);
    }
    Some(builder.build().await.unwrap())
}

fn code(n: &TestNode, secrets: &UserSecrets) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secrets.second_factor.totp_secret.as_bytes())
        .unwrap();
    format!(
        "{:06}",
        totp_code(&secret, totp_step(n.now().unix_timestamp())).unwrap()
    )
}

async fn sign_in_events_are_in_the_record_of_who_saw_what(postgres: bool) {
    let Some(n) = node(postgres).await else {
        return;
    };
    let ana = n
        .node
        .add_user(
            &admin(),
            NewUser {
                name: "ana".into(),
                roles: [Role::Auditor].into_iter().collect(),
                password: Some(PASSWORD.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let good = code(&n, &ana);
    n.node
        .sign_in("ana", PASSWORD, &good, "10.0.0.7")
        .await
        .unwrap();
    n.clock.advance(time::Duration::seconds(1));
    for _ in 0..5 {
        let err = n
            .node
            .sign_in("ana", "a wrong secret typed", &good, "10.0.0.7")
            .await
            .unwrap_err();
        assert!(matches!(err, NodeError::SignInRefused), "{err}");
    }
    let err = n
        .node
        .sign_in("ana", PASSWORD, &good, "10.0.0.7")
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::AccountLocked { .. }), "{err}");
    let _ = n.node.sign_in("nobody", PASSWORD, &good, "10.0.0.8").await;

    let listed = |person: &str| AuditFilter {
        person: Some(person.to_owned()),
        ..AuditFilter::default()
    };
    let rows = n.node.audit(&admin(), &listed("ana")).await.unwrap();
    let sign_ins: Vec<(&str, Option<&str>)> = rows
        .iter()
        .filter(|r| r.operation == "sign-in")
        .rev()
        .map(|r| (r.outcome.as_str(), r.reason.as_deref()))
        .collect();
    let refused = ("refused", Some("password"));
    assert_eq!(
        sign_ins,
        [
            ("allowed", None),
            refused,
            refused,
            refused,
            refused,
            refused,
            ("refused", Some("locked-out")),
            ("refused", Some("locked")),
        ]
    );
    // Each row names its own ledger entry, queued with it.
    let queued: Vec<String> = n
        .store
        .pending_ledger(10_000)
        .await
        .unwrap()
        .iter()
        .map(|p| custos_seal::content_id(&p.entry))
        .collect();
    for r in rows.iter().filter(|r| r.operation == "sign-in") {
        assert!(queued.contains(&r.ledger_entry), "{r:?}");
    }
    let nobody = n.node.audit(&admin(), &listed("nobody")).await.unwrap();
    assert_eq!(nobody.len(), 1);
    assert_eq!(nobody[0].reason.as_deref(), Some("unknown-user"));
    let text = serde_json::to_string(&rows).unwrap();
    assert!(!text.contains("a wrong secret") && !text.contains(PASSWORD));
    assert!(!text.contains(&good), "a code is a secret too");
}

#[tokio::test]
async fn sign_in_events_are_in_the_record_of_who_saw_what_on_sqlite() {
    sign_in_events_are_in_the_record_of_who_saw_what(false).await;
}

#[tokio::test]
async fn sign_in_events_are_in_the_record_of_who_saw_what_on_postgres() {
    sign_in_events_are_in_the_record_of_who_saw_what(true).await;
}

fn shift(person: &str, email: Option<&str>, deputy: &str) -> ShiftInput {
    ShiftInput {
        role: Role::DutyOfficer,
        person: person.into(),
        email: email.map(str::to_owned),
        deputy: deputy.into(),
        deputy_email: None,
        starts: "2026-12-07T08:00 Europe/Paris".into(),
        ends: "2026-12-07T20:00".into(),
    }
}

#[tokio::test]
async fn the_rota_names_users_and_takes_their_addresses_from_their_profiles() {
    let n = TestNode::new("FR").await.unwrap();
    let refused = n
        .node
        .add_shift(&admin(), &shift("ana", Some("ana@x.example"), "bo"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, NodeError::InvalidUser(m) if m.contains("custos user add ana")),
        "{refused}"
    );
    for (name, email) in [("ana", Some("ana@justice.example")), ("bo", None)] {
        n.node
            .add_user(
                &admin(),
                NewUser {
                    name: name.into(),
                    roles: [Role::DutyOfficer].into_iter().collect(),
                    email: email.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    // Bo has no address in his profile and none is given: refused.
    let refused = n
        .node
        .add_shift(&admin(), &shift("ana", None, "bo"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, NodeError::InvalidUser(m) if m.contains("deputy") && m.contains("--deputy-email")),
        "{refused}"
    );
    let mut input = shift("ana", None, "bo");
    input.deputy_email = Some("bo@justice.example".into());
    let added = n.node.add_shift(&admin(), &input).await.unwrap();
    assert_eq!(
        (added.email.as_str(), added.deputy_email.as_str()),
        ("ana@justice.example", "bo@justice.example")
    );
    // A given address wins over the profile's, and is checked.
    let mut input = shift("bo", Some("duty@justice.example"), "ana");
    let added = n.node.add_shift(&admin(), &input).await.unwrap();
    assert_eq!(added.email, "duty@justice.example");
    input.email = Some("not an address".into());
    assert!(matches!(
        n.node.add_shift(&admin(), &input).await,
        Err(NodeError::InvalidDraft(_))
    ));
    // A disabled user is refused too.
    n.node
        .set_user_enabled(&admin(), "bo", false)
        .await
        .unwrap();
    let refused = n
        .node
        .add_shift(&admin(), &shift("bo", Some("bo@justice.example"), "ana"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, NodeError::InvalidUser(m) if m.contains("disabled")),
        "{refused}"
    );
}
