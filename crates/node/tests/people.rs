//! People on a node: users and their roles, signing in with a password and
//! a TOTP code or a recovery code, lock-out, sessions, and scoped tokens
//! that expire and can be revoked. Each case runs a real node on a SQLite
//! file with the test kit's clock; the store's half is in the store's
//! conformance suite, on both backends.

#![allow(clippy::unwrap_used)]

use custos_node::NodeError;
use custos_node::app::secrets::{totp_code, totp_step};
use custos_node::app::{Actor, NewUser, Role, RoleChange, Roles, TokenRequest, UserSecrets};
use custos_testkit::TestNode;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn admin() -> Actor {
    Actor::Cli {
        user: "root-operator".into(),
    }
}

fn roles(list: &[Role]) -> Roles {
    list.iter().copied().collect()
}

async fn add(n: &TestNode, name: &str, held: Roles) -> UserSecrets {
    n.node
        .add_user(
            &admin(),
            NewUser {
                name: name.into(),
                roles: held,
                password: Some(PASSWORD.into()),
                email: Some(format!("{name}@justice.example")),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// The TOTP code of `secrets` at the node's time, `offset` steps away.
fn code(n: &TestNode, secrets: &UserSecrets, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secrets.second_factor.totp_secret.as_bytes())
        .unwrap();
    let step = totp_step(n.now().unix_timestamp()) + offset;
    format!("{:06}", totp_code(&secret, step).unwrap())
}

/// The kinds and details of the ledger entries queued or appended since
/// `from`, in order.
async fn entries(n: &TestNode) -> Vec<Value> {
    n.node.sequence_all().await.unwrap();
    let size = n.node.store().ledger_size().await.unwrap();
    let rows = n.node.store().ledger_entries(0, size as u32).await.unwrap();
    rows.into_iter()
        .map(|e| serde_json::from_slice::<Value>(&e.entry).unwrap())
        .collect()
}

fn kinds(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_user_signs_in_with_password_and_code_and_the_session_acts_with_their_roles() {
    let n = TestNode::new("FR").await.unwrap();
    let duty = roles(&[Role::DutyOfficer]);
    let ana = add(&n, "ana", duty).await;
    assert_eq!(ana.password, None, "a chosen password is not echoed");
    assert_eq!(ana.second_factor.recovery_codes.len(), 10);
    assert!(
        ana.second_factor
            .totp_uri
            .starts_with("otpauth://totp/Custos-FR:ana?secret=")
    );
    // Secrets never show in Debug.
    let debug = format!("{ana:?}");
    assert!(!debug.contains(&ana.second_factor.totp_secret), "{debug}");

    let session = n
        .node
        .sign_in("ana", PASSWORD, &code(&n, &ana, 0), "127.0.0.1")
        .await
        .unwrap();
    assert!(!format!("{session:?}").contains(&session.session));
    let actor = n.node.authenticate(&session.session).await.unwrap();
    assert_eq!(
        actor,
        Some(Actor::Desk {
            user: "ana".into(),
            roles: duty
        })
    );
    // A removed role, then a disabled account, take effect at once.
    n.node
        .change_roles(&admin(), "ana", RoleChange::Add(roles(&[Role::Auditor])))
        .await
        .unwrap();
    let actor = n
        .node
        .authenticate(&session.session)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(actor, Actor::Desk { roles, .. } if roles.contains(Role::Auditor)));
    n.node
        .set_user_enabled(&admin(), "ana", false)
        .await
        .unwrap();
    assert_eq!(n.node.authenticate(&session.session).await.unwrap(), None);
    n.node
        .set_user_enabled(&admin(), "ana", true)
        .await
        .unwrap();
    assert!(
        n.node
            .authenticate(&session.session)
            .await
            .unwrap()
            .is_some()
    );

    // Idle too long, the session ends; the absolute limit ends it however used.
    n.clock.advance(time::Duration::minutes(29));
    assert!(
        n.node
            .authenticate(&session.session)
            .await
            .unwrap()
            .is_some()
    );
    n.clock.advance(time::Duration::minutes(29));
    assert!(
        n.node
            .authenticate(&session.session)
            .await
            .unwrap()
            .is_some()
    );
    n.clock.advance(time::Duration::minutes(31));
    assert_eq!(n.node.authenticate(&session.session).await.unwrap(), None);

    let second = n
        .node
        .sign_in("ana", PASSWORD, &code(&n, &ana, 0), "127.0.0.1")
        .await
        .unwrap();
    for _ in 0..28 {
        n.clock.advance(time::Duration::minutes(25));
        assert!(
            n.node
                .authenticate(&second.session)
                .await
                .unwrap()
                .is_some()
        );
    }
    n.clock.advance(time::Duration::minutes(25));
    assert_eq!(n.node.authenticate(&second.session).await.unwrap(), None);

    // Signing out ends a session; its listing shows it revoked.
    let third = n
        .node
        .sign_in("ana", PASSWORD, &code(&n, &ana, 0), "127.0.0.1")
        .await
        .unwrap();
    assert!(n.node.sign_out(&third.session).await.unwrap());
    assert!(!n.node.sign_out(&third.session).await.unwrap());
    assert_eq!(n.node.authenticate(&third.session).await.unwrap(), None);
    let desk = Actor::Desk {
        user: "ana".into(),
        roles: duty,
    };
    let listed = n.node.sessions(&desk, None).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed[0].revoked_at.is_some());
    // Ending one's own session, by signing out or by its id, is a row of
    // the record of who saw what in the person's name, once per session.
    n.node.revoke_session(&desk, &listed[1].id).await.unwrap();
    n.node.revoke_session(&desk, &listed[1].id).await.unwrap();
    let ended: Vec<_> = n
        .store
        .access_records(&custos_store::AccessFilter {
            person: Some("ana".to_owned()),
            limit: 100,
            ..custos_store::AccessFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.operation == custos_node::app::END_SESSION)
        .collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended.iter().all(|r| r.outcome == "allowed"));
    assert_eq!(ended[0].actor, "desk:ana");
    // Another user's sessions are for administrators only.
    let err = n.node.sessions(&desk, Some("bo")).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");

    let log = entries(&n).await;
    let k = kinds(&log);
    for kind in ["user-added", "user-changed", "signed-in", "session-revoked"] {
        assert!(k.iter().any(|x| x == kind), "{kind} in {k:?}");
    }
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(PASSWORD), "no password in the ledger");
    assert!(!text.contains(&ana.second_factor.totp_secret));
    assert!(!text.contains(&session.session));
    let signed_in = log.iter().find(|e| e["kind"] == "signed-in").unwrap();
    assert_eq!(signed_in["actor"], "desk:ana");
    assert_eq!(signed_in["detail"]["factor"], "totp");
}

#[tokio::test]
async fn every_failure_gets_the_same_answer_and_five_in_a_row_lock_the_account() {
    let n = TestNode::new("FR").await.unwrap();
    let bo = add(&n, "bo", roles(&[Role::Caseworker])).await;
    let good = code(&n, &bo, 0);
    let wrong_code = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let attempts = [
        ("nobody", PASSWORD, good.as_str()),
        ("bo", "wrong password here", good.as_str()),
        ("bo", PASSWORD, wrong_code.as_str()),
        ("bo", PASSWORD, "not-a-recovery-code"),
        ("bo", PASSWORD, ""),
    ];
    let mut messages = Vec::new();
    for (user, password, c) in attempts {
        let err = n
            .node
            .sign_in(user, password, c, "10.0.0.9")
            .await
            .unwrap_err();
        assert!(matches!(err, NodeError::SignInRefused), "{err}");
        messages.push(err.to_string());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "one answer for every cause");

    // Four failures on bo so far: the fifth locks, and then even the right
    // password and code are answered "locked" without being checked.
    let err = n
        .node
        .sign_in("bo", "wrong again, once more", &good, "10.0.0.9")
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::SignInRefused), "{err}");
    let err = n
        .node
        .sign_in("bo", PASSWORD, &good, "10.0.0.9")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::AccountLocked { until } if until.starts_with("20")),
        "{err}"
    );
    let listed = n.node.users(&admin()).await.unwrap();
    assert!(listed[0].locked_until.is_some());

    // After 15 minutes the account opens; the next lock-out lasts 30.
    n.clock.advance(time::Duration::minutes(15));
    let fresh = code(&n, &bo, 0);
    n.node
        .sign_in("bo", PASSWORD, &fresh, "10.0.0.9")
        .await
        .unwrap();
    for _ in 0..5 {
        let _ = n.node.sign_in("bo", "nope nope nope", &fresh, "x").await;
    }
    n.clock.advance(time::Duration::minutes(16));
    let later = code(&n, &bo, 0);
    assert!(matches!(
        n.node.sign_in("bo", PASSWORD, &later, "x").await,
        Err(NodeError::AccountLocked { .. })
    ));

    let log = entries(&n).await;
    let failures: Vec<&Value> = log
        .iter()
        .filter(|e| e["kind"] == "sign-in-failed")
        .collect();
    let reasons: Vec<&str> = failures
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        &reasons[..6],
        [
            "unknown-user",
            "password",
            "code",
            "recovery-code",
            "code",
            "password"
        ]
    );
    assert_eq!(failures[0]["detail"]["user"], "nobody");
    assert!(reasons.contains(&"locked"));
    assert_eq!(
        log.iter().filter(|e| e["kind"] == "account-locked").count(),
        2
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("wrong password here"));
}

#[tokio::test]
async fn a_code_is_good_once_and_a_recovery_code_once() {
    let n = TestNode::new("FR").await.unwrap();
    let cy = add(&n, "cy", roles(&[Role::Auditor])).await;
    let now = code(&n, &cy, 0);
    n.node.sign_in("cy", PASSWORD, &now, "a").await.unwrap();
    // The same code again (replay), and the step before, are refused.
    assert!(matches!(
        n.node.sign_in("cy", PASSWORD, &now, "a").await,
        Err(NodeError::SignInRefused)
    ));
    assert!(matches!(
        n.node
            .sign_in("cy", PASSWORD, &code(&n, &cy, -1), "a")
            .await,
        Err(NodeError::SignInRefused)
    ));
    // The next step's code (clock drift) is accepted once.
    n.node
        .sign_in("cy", PASSWORD, &code(&n, &cy, 1), "a")
        .await
        .unwrap();

    let recovery = cy.second_factor.recovery_codes[3].clone();
    let typed = recovery.replace('-', "").to_uppercase();
    n.node.sign_in("cy", PASSWORD, &typed, "a").await.unwrap();
    assert!(matches!(
        n.node.sign_in("cy", PASSWORD, &recovery, "a").await,
        Err(NodeError::SignInRefused)
    ));
    let listed = n.node.users(&admin()).await.unwrap();
    assert_eq!(listed[0].recovery_codes_left, 9);

    // A reset second factor: the old codes stop, the new ones work.
    let reset = n.node.reset_second_factor(&admin(), "cy").await.unwrap();
    let old = cy.second_factor.recovery_codes[4].clone();
    assert!(n.node.sign_in("cy", PASSWORD, &old, "a").await.is_err());
    n.node
        .sign_in("cy", PASSWORD, &reset.recovery_codes[0], "a")
        .await
        .unwrap();
    let log = entries(&n).await;
    let by_recovery = log
        .iter()
        .filter(|e| e["kind"] == "signed-in" && e["detail"]["factor"] == "recovery-code")
        .count();
    assert_eq!(by_recovery, 2);
}

#[tokio::test]
async fn tokens_are_scoped_within_their_users_roles_expire_and_are_revoked() {
    let n = TestNode::new("FR").await.unwrap();
    let both = roles(&[Role::DutyOfficer, Role::Auditor]);
    add(&n, "dee", both).await;
    add(&n, "eve", roles(&[Role::Caseworker])).await;

    let request = |scopes: Option<Roles>, days: Option<i64>| TokenRequest {
        user: "dee".into(),
        name: Some("case tool".into()),
        scopes,
        lifetime: days.map(time::Duration::days),
    };
    // Wider than the user's roles, or longer than the node allows: refused.
    let wide = n
        .node
        .create_token(&admin(), request(Some(roles(&[Role::Caseworker])), None))
        .await
        .unwrap_err();
    assert!(
        matches!(&wide, NodeError::InvalidUser(m) if m.contains("caseworker")),
        "{wide}"
    );
    assert!(matches!(
        n.node
            .create_token(&admin(), request(None, Some(400)))
            .await,
        Err(NodeError::InvalidUser(_))
    ));

    let scoped = n
        .node
        .create_token(&admin(), request(Some(roles(&[Role::Auditor])), Some(10)))
        .await
        .unwrap();
    let actor = n.node.authenticate(&scoped.secret).await.unwrap().unwrap();
    assert_eq!(
        actor,
        Actor::Api {
            user: "dee".into(),
            token: "case tool".into(),
            roles: roles(&[Role::Auditor])
        }
    );
    // The holder manages their own tokens, not another's.
    let own = n.node.tokens(&actor, None).await.unwrap();
    assert_eq!(own.len(), 1);
    let err = n.node.tokens(&actor, Some("eve")).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let eve_token = n
        .node
        .create_token(
            &admin(),
            TokenRequest {
                user: "eve".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = n
        .node
        .revoke_token(&actor, &eve_token.token.id)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");

    // The user losing the role narrows the token at once.
    n.node
        .change_roles(&admin(), "dee", RoleChange::Remove(roles(&[Role::Auditor])))
        .await
        .unwrap();
    let narrowed = n.node.authenticate(&scoped.secret).await.unwrap().unwrap();
    assert!(matches!(narrowed, Actor::Api { roles, .. } if roles.is_empty()));
    // A disabled user's tokens are nobody's.
    n.node
        .set_user_enabled(&admin(), "eve", false)
        .await
        .unwrap();
    assert_eq!(n.node.authenticate(&eve_token.secret).await.unwrap(), None);

    // Revoked: nobody; revoking again keeps the first time.
    let revoked = n.node.revoke_token(&actor, &scoped.token.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(n.node.authenticate(&scoped.secret).await.unwrap(), None);

    // Expired: nobody.
    let short = n
        .node
        .create_token(&admin(), request(None, Some(1)))
        .await
        .unwrap();
    assert!(n.node.authenticate(&short.secret).await.unwrap().is_some());
    n.clock.advance(time::Duration::days(1));
    assert_eq!(n.node.authenticate(&short.secret).await.unwrap(), None);

    let all = n.node.tokens(&admin(), Some("*")).await.unwrap();
    assert_eq!(all.len(), 3);
    let log = entries(&n).await;
    let k = kinds(&log);
    assert_eq!(k.iter().filter(|x| *x == "token-created").count(), 3);
    assert_eq!(k.iter().filter(|x| *x == "token-revoked").count(), 1);
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&scoped.secret));
}

#[tokio::test]
async fn users_are_managed_by_administrators_only_and_names_are_checked() {
    let n = TestNode::new("FR").await.unwrap();
    add(&n, "fay", roles(&[Role::Caseworker])).await;
    let caseworker = Actor::Desk {
        user: "fay".into(),
        roles: roles(&[Role::Caseworker]),
    };
    let err = n
        .node
        .add_user(
            &caseworker,
            NewUser {
                name: "gus".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");
    let err = n.node.users(&caseworker).await.unwrap_err();
    assert!(matches!(err, NodeError::Forbidden { .. }), "{err}");

    let administrator = Actor::Desk {
        user: "root".into(),
        roles: roles(&[Role::Administrator]),
    };
    let gus = n
        .node
        .add_user(
            &administrator,
            NewUser {
                name: "gus".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let generated = gus.password.clone().unwrap();
    assert!(generated.len() >= 20, "a generated password is long");
    for (name, password) in [("fay", None), ("Gus Two", None), ("hal", Some("short"))] {
        let err = n
            .node
            .add_user(
                &administrator,
                NewUser {
                    name: name.into(),
                    password: password.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, NodeError::InvalidUser(_)), "{name}: {err}");
    }
    let names: Vec<String> = n
        .node
        .users(&administrator)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["fay", "gus"]);
    let added = entries(&n)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "user-added")
        .collect::<Vec<_>>();
    assert_eq!(added[1]["actor"], "desk:root");
    assert_eq!(added[1]["detail"]["user"], "gus");
}

#[tokio::test]
async fn the_last_enabled_administrator_cannot_be_disabled_or_lose_the_role() {
    let n = TestNode::new("FR").await.unwrap();
    add(&n, "ada", roles(&[Role::Administrator])).await;
    add(&n, "fay", roles(&[Role::Caseworker])).await;
    let last = |err: NodeError| {
        assert!(
            matches!(&err, NodeError::InvalidUser(m) if m.contains("last enabled administrator")),
            "{err}"
        );
    };
    last(
        n.node
            .set_user_enabled(&admin(), "ada", false)
            .await
            .unwrap_err(),
    );
    last(
        n.node
            .change_roles(&admin(), "ada", RoleChange::Set(roles(&[Role::Auditor])))
            .await
            .unwrap_err(),
    );
    last(
        n.node
            .change_roles(
                &admin(),
                "ada",
                RoleChange::Remove(roles(&[Role::Administrator])),
            )
            .await
            .unwrap_err(),
    );
    // Nothing changed: ada is still an enabled administrator.
    let ada = n
        .node
        .users(&admin())
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.name == "ada")
        .unwrap();
    assert!(ada.enabled && ada.roles.contains(Role::Administrator));
    // Other users' changes are not held up, and a disabled administrator does not count.
    n.node
        .set_user_enabled(&admin(), "fay", false)
        .await
        .unwrap();
    n.node
        .change_roles(
            &admin(),
            "fay",
            RoleChange::Add(roles(&[Role::Administrator])),
        )
        .await
        .unwrap();
    last(
        n.node
            .set_user_enabled(&admin(), "ada", false)
            .await
            .unwrap_err(),
    );
    // With a second enabled administrator, the first may step down.
    n.node
        .set_user_enabled(&admin(), "fay", true)
        .await
        .unwrap();
    n.node
        .change_roles(&admin(), "ada", RoleChange::Set(roles(&[Role::Auditor])))
        .await
        .unwrap();
    last(
        n.node
            .set_user_enabled(&admin(), "fay", false)
            .await
            .unwrap_err(),
    );
}
