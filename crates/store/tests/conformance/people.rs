//! Conformance cases on people: users, their sign-in state, sessions and
//! client-API tokens, each change with its ledger entries.

use custos_store::{
    SessionOutcome, SessionRecord, SignInState, StoreError, TokenRecord, UserRecord,
};

use super::{Fixture, at};

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        display_name: format!("Officer {name}"),
        email: Some(format!("{name}@example.org")),
        roles: "duty-officer,auditor".to_owned(),
        enabled: true,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        totp_secret: vec![1, 0, 255, 7],
        sign_in: SignInState::default(),
        created_at: at(0),
        changed_at: at(0),
        language: None,
    }
}

fn codes(prefix: &str) -> Vec<String> {
    (0..3).map(|i| format!("{prefix}-{i}")).collect()
}

async fn queued(fx: &Fixture) -> Vec<Vec<u8>> {
    fx.store
        .pending_ledger(100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.entry)
        .collect()
}

pub(crate) async fn users_are_added_once_and_changed_with_their_ledger_entries(fx: Fixture) {
    let store = &fx.store;
    let ana = user("ana");
    store
        .add_user(&ana, &codes("a"), &[b"added ana".to_vec()], at(0))
        .await
        .unwrap();
    store
        .add_user(&user("bo"), &codes("b"), &[b"added bo".to_vec()], at(1))
        .await
        .unwrap();
    let again = store
        .add_user(&ana, &[], &[b"not queued".to_vec()], at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(&again, StoreError::DuplicateUser(n) if n == "ana"),
        "{again}"
    );
    assert_eq!(store.user("ana").await.unwrap(), Some(ana.clone()));
    assert_eq!(store.user("nobody").await.unwrap(), None);
    assert_eq!(store.user("nul\0").await.unwrap(), None);
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["ana", "bo"]);
    assert_eq!(store.recovery_codes_left("ana").await.unwrap(), 3);

    // A change keeps the sign-in state and the creation time.
    let state = SignInState {
        failed_attempts: 2,
        ..SignInState::default()
    };
    assert!(
        store
            .set_sign_in_state("ana", &SignInState::default(), &state, &[], &[], at(3))
            .await
            .unwrap()
    );
    let mut changed = ana.clone();
    changed.roles = "administrator".to_owned();
    changed.enabled = false;
    changed.email = None;
    changed.changed_at = at(4);
    changed.created_at = at(99);
    assert!(
        store
            .change_user(&changed, None, &[b"changed ana".to_vec()], at(4))
            .await
            .unwrap()
    );
    let stored = store.user("ana").await.unwrap().unwrap();
    assert_eq!(stored.roles, "administrator");
    assert!(!stored.enabled);
    assert_eq!(stored.email, None);
    assert_eq!(stored.created_at, at(0));
    assert_eq!(stored.sign_in, state);
    let mut ghost = user("ghost");
    ghost.changed_at = at(5);
    assert!(
        !store
            .change_user(&ghost, None, &[b"not queued".to_vec()], at(5))
            .await
            .unwrap()
    );
    // A new second factor replaces the codes.
    assert!(
        store
            .change_user(&stored, Some(&codes("n")[..1]), &[], at(6))
            .await
            .unwrap()
    );
    assert_eq!(store.recovery_codes_left("ana").await.unwrap(), 1);
    assert_eq!(
        queued(&fx).await,
        [
            b"added ana".to_vec(),
            b"added bo".to_vec(),
            b"changed ana".to_vec()
        ]
    );
    let bad = UserRecord {
        display_name: "nul\0".to_owned(),
        ..user("cy")
    };
    assert!(matches!(
        store.add_user(&bad, &[], &[], at(7)).await,
        Err(StoreError::InvalidValue { .. })
    ));
    // Reopened, everything is as it was.
    let reopened = fx.reopen().await;
    assert_eq!(
        reopened.user("bo").await.unwrap(),
        store.user("bo").await.unwrap()
    );
}

pub(crate) async fn sign_in_state_changes_only_from_the_state_expected(fx: Fixture) {
    let store = &fx.store;
    store.add_user(&user("ana"), &[], &[], at(0)).await.unwrap();
    let locked = SignInState {
        failed_attempts: 0,
        lockouts: 1,
        locked_until: Some(at(900)),
        totp_last_step: Some(42),
    };
    assert!(
        store
            .set_sign_in_state(
                "ana",
                &SignInState::default(),
                &locked,
                &[b"locked".to_vec()],
                &[],
                at(1)
            )
            .await
            .unwrap()
    );
    // A second writer from the same view loses, and queues nothing.
    assert!(
        !store
            .set_sign_in_state(
                "ana",
                &SignInState::default(),
                &SignInState::default(),
                &[b"lost".to_vec()],
                &[],
                at(2)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_sign_in_state("nobody", &SignInState::default(), &locked, &[], &[], at(2))
            .await
            .unwrap()
    );
    assert_eq!(store.user("ana").await.unwrap().unwrap().sign_in, locked);
    assert_eq!(queued(&fx).await, [b"locked".to_vec()]);
}

fn session(id: &str, user: &str, seconds: i64) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        user: user.to_owned(),
        secret_hash: format!("hash-{id}"),
        from: "127.0.0.1".to_owned(),
        created_at: at(seconds),
        last_seen_at: at(seconds),
        expires_at: at(seconds + 3600),
        revoked_at: None,
    }
}

pub(crate) async fn a_session_opens_once_per_state_and_a_recovery_code_once(fx: Fixture) {
    let store = &fx.store;
    store
        .add_user(&user("ana"), &codes("r"), &[], at(0))
        .await
        .unwrap();
    let start = SignInState::default();
    let after = SignInState {
        totp_last_step: Some(7),
        ..SignInState::default()
    };
    let s1 = session("s1", "ana", 10);
    assert_eq!(
        store
            .open_session(&start, &after, None, &s1, &[b"signed in".to_vec()], &[])
            .await
            .unwrap(),
        SessionOutcome::Opened
    );
    // The same code (the same expected state) again opens nothing.
    assert_eq!(
        store
            .open_session(
                &start,
                &after,
                None,
                &session("s2", "ana", 11),
                &[b"no".to_vec()],
                &[]
            )
            .await
            .unwrap(),
        SessionOutcome::StateChanged
    );
    // A recovery code works once; an unknown one not at all, and then the
    // state is left as it was.
    let s3 = session("s3", "ana", 12);
    assert_eq!(
        store
            .open_session(
                &after,
                &after,
                Some("r-1"),
                &s3,
                &[b"recovered".to_vec()],
                &[]
            )
            .await
            .unwrap(),
        SessionOutcome::Opened
    );
    let worse = SignInState {
        failed_attempts: 9,
        ..after.clone()
    };
    for code in ["r-1", "r-9"] {
        assert_eq!(
            store
                .open_session(
                    &after,
                    &worse,
                    Some(code),
                    &session("s4", "ana", 13),
                    &[],
                    &[]
                )
                .await
                .unwrap(),
            SessionOutcome::CodeNotUsable
        );
    }
    assert_eq!(store.user("ana").await.unwrap().unwrap().sign_in, after);
    assert_eq!(store.recovery_codes_left("ana").await.unwrap(), 2);
    assert_eq!(
        store.session_by_hash("hash-s1").await.unwrap(),
        Some(s1.clone())
    );
    assert_eq!(store.session_by_hash("hash-s4").await.unwrap(), None);

    store.touch_session("s1", at(20)).await.unwrap();
    store.touch_session("s1", at(15)).await.unwrap();
    let seen = store.session_by_hash("hash-s1").await.unwrap().unwrap();
    assert_eq!(seen.last_seen_at, at(20));

    let listed: Vec<String> = store
        .sessions(Some("ana"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["s3", "s1"]);
    assert!(store.sessions(Some("bo")).await.unwrap().is_empty());
    assert_eq!(store.sessions(None).await.unwrap().len(), 2);

    let revoked = store
        .revoke_session("s1", &[b"signed out".to_vec()], &[], at(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(30)));
    let again = store
        .revoke_session("s1", &[b"not again".to_vec()], &[], at(40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at(30)));
    assert_eq!(
        store.revoke_session("zz", &[], &[], at(40)).await.unwrap(),
        None
    );
    assert_eq!(
        queued(&fx).await,
        [
            b"signed in".to_vec(),
            b"recovered".to_vec(),
            b"signed out".to_vec()
        ]
    );
}

pub(crate) async fn tokens_belong_to_users_and_are_found_by_the_hash_of_their_secret(fx: Fixture) {
    let store = &fx.store;
    store.add_user(&user("ana"), &[], &[], at(0)).await.unwrap();
    store.add_user(&user("bo"), &[], &[], at(0)).await.unwrap();
    let token = |id: &str, owner: &str, hash: &str, seconds: i64| TokenRecord {
        id: id.to_owned(),
        user: owner.to_owned(),
        name: format!("case system {id}"),
        scopes: "auditor".to_owned(),
        secret_hash: hash.to_owned(),
        created_at: at(seconds),
        expires_at: at(seconds + 86_400),
        revoked_at: None,
    };
    let first = token("tok-b", "ana", "hash-1", 0);
    let second = token("tok-a", "bo", "hash-2", 10);
    store
        .put_token(&first, &[b"token 1".to_vec()], at(0))
        .await
        .unwrap();
    store.put_token(&second, &[], at(10)).await.unwrap();
    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.token_by_hash("hash-3").await.unwrap(), None);
    assert_eq!(store.token_by_hash("nul\0").await.unwrap(), None);
    for clash in [
        token("tok-b", "ana", "hash-9", 20),
        token("tok-c", "ana", "hash-1", 20),
    ] {
        let err = store
            .put_token(&clash, &[b"not queued".to_vec()], at(20))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::DuplicateToken(id) if *id == clash.id),
            "{err}"
        );
    }
    // A token of nobody is not stored.
    assert!(
        store
            .put_token(&token("tok-x", "nobody", "hash-x", 0), &[], at(0))
            .await
            .is_err()
    );
    assert_eq!(
        store.tokens(None).await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        store.tokens(Some("bo")).await.unwrap(),
        std::slice::from_ref(&second)
    );

    let revoked = store
        .revoke_token("tok-b", &[b"revoked".to_vec()], at(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(30)));
    let again = store
        .revoke_token("tok-b", &[b"not again".to_vec()], at(40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at(30)));
    assert_eq!(store.token_by_hash("hash-1").await.unwrap(), Some(again));
    assert_eq!(
        store.revoke_token("tok-z", &[], at(40)).await.unwrap(),
        None
    );
    assert_eq!(
        queued(&fx).await,
        [b"token 1".to_vec(), b"revoked".to_vec()]
    );
}
