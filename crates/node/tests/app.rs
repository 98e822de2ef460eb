//! The application layer, driven as the faces drive it: a node created and
//! opened from a data directory, drafts saved, requests read, tokens minted
//! and recognised, each recorded action attributed to its [`Actor`].

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::sync::Arc;

use custos_model::clock::FixedClock;
use custos_model::{RequestKind, StateCode, template, validate};
use custos_node::app::{Actor, StoreCreated, TokenView, create_store};
use custos_node::{
    DEFAULT_MAX_MESSAGE_BYTES, Keystore, Node, NodeError, NodeSettings, RetryPolicy,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

/// A valid draft of `kind`, from the template, and the State it comes from.
fn draft(kind: RequestKind) -> (Value, StateCode) {
    let draft = validate::parse(&template::render(kind)).unwrap();
    let from = draft["requesting_state"].as_str().unwrap().parse().unwrap();
    (draft, from)
}

/// Creates a node of `state` in `dir` (as `custos init` does) and opens it.
async fn node(dir: &std::path::Path, state: StateCode) -> Arc<Node> {
    Keystore::create(&dir.join("keys"), AT).unwrap();
    let url = format!("sqlite://{}", dir.join("custos.db").display());
    assert_eq!(
        create_store(&url, state, "Test node", AT).await.unwrap(),
        StoreCreated::Created
    );
    let settings = NodeSettings {
        state,
        name: "Test node".into(),
        data_dir: dir.to_owned(),
        registry_key: None,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        message_reserve_bytes: custos_node::DEFAULT_MESSAGE_RESERVE_BYTES,
        retry: RetryPolicy::default(),
        evidence: Default::default(),
        treaty_registry: None,
        clocks: Default::default(),
        people: Default::default(),
        statistics: Default::default(),
        retention: Default::default(),
    };
    Node::open(
        settings,
        &url,
        Arc::new(FixedClock::new(AT)),
        reqwest::Client::new(),
    )
    .await
    .unwrap()
}

fn operator() -> Actor {
    Actor::Cli { user: "ana".into() }
}

/// The ledger entries of the node, decoded, oldest first.
async fn ledger(node: &Node) -> Vec<Value> {
    node.sequence_all().await.unwrap();
    let size = node.verify_ledger(&mut |_, _| {}).await.unwrap().size;
    let mut out = Vec::new();
    for i in 0..size {
        let bundle = node.prove_entry(i).await.unwrap();
        out.push(serde_json::from_slice(&bundle.entry).unwrap());
    }
    out
}

#[tokio::test]
async fn a_saved_draft_gets_a_thread_id_and_its_history_and_ledger_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let (body, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;

    let id = node.save_draft(body.clone(), &operator()).await.unwrap();
    assert!(
        id.starts_with("thr-"),
        "a saved draft's id is a thread id: {id}"
    );

    let listed = node
        .requests(&operator(), &Default::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].kind),
        (id.as_str(), RequestKind::Preservation)
    );

    let view = node.read_request(&id, &operator()).await.unwrap();
    assert_eq!(view.draft, body);
    assert!(!view.signed, "a saved draft is not signed");
    let kinds: Vec<_> = view
        .history
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(kinds, [("drafted", "cli:ana")]);

    // The drafted entry (written with the request) and the read (an
    // `access` entry of the access check), both by the operator.
    let entries = ledger(&node).await;
    let about: Vec<_> = entries
        .iter()
        .filter(|e| e["request"] == id.as_str())
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(about, [("decision", "cli:ana"), ("access", "cli:ana")]);
    let read = entries
        .iter()
        .find(|e| e["kind"] == "access" && e["request"] == id.as_str())
        .unwrap();
    assert_eq!(read["detail"]["operation"], "read-case");
    assert_eq!(read["detail"]["outcome"], "allowed");
    let drafted = entries.iter().find(|e| e["kind"] == "decision").unwrap();
    assert_eq!(drafted["detail"]["decision"], "drafted");
    node.close().await;
}

#[tokio::test]
async fn saved_drafts_are_listed_and_read_back_but_a_sent_request_is_no_draft() {
    // Two nodes in one process, so that the request can really be sent.
    let net = custos_testkit::Network::in_process(&["FR", "DE"])
        .await
        .unwrap();
    let node = net.node("FR");
    let (body, _) = draft(RequestKind::Preservation);

    let first = node.save_draft(body.clone(), &operator()).await.unwrap();
    let second = node.save_draft(body.clone(), &operator()).await.unwrap();
    let sent = node.submit(body.clone(), &operator()).await.unwrap();

    let listed: Vec<String> = node
        .drafts(&operator(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&first) && listed.contains(&second));
    assert!(!listed.contains(&sent.thread));
    assert_eq!(node.drafts(&operator(), 1).await.unwrap().len(), 1);

    assert_eq!(node.draft(&operator(), &first).await.unwrap(), body);
    let err = node.draft(&operator(), &sent.thread).await.unwrap_err();
    assert!(matches!(err, NodeError::NotFound(_)), "{err}");
    net.stop().await;
}

#[tokio::test]
async fn an_invalid_or_foreign_draft_records_nothing_but_the_access_check() {
    let tmp = tempfile::tempdir().unwrap();
    let (body, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;

    let mut incomplete = body.clone();
    incomplete.as_object_mut().unwrap().remove("kind");
    let err = node.save_draft(incomplete, &operator()).await.unwrap_err();
    assert!(matches!(err, NodeError::InvalidDraft(_)), "{err}");

    let mut foreign = body;
    let other = if from.as_str() == "ZZ" { "YY" } else { "ZZ" };
    foreign["requesting_state"] = Value::from(other);
    let err = node.save_draft(foreign, &operator()).await.unwrap_err();
    assert!(
        matches!(err, NodeError::NotOurs(_) | NodeError::InvalidDraft(_)),
        "{err}"
    );

    assert!(
        node.requests(&operator(), &Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    // Only the access check's decisions (two drafts, one listing) were
    // recorded; no draft, no decision entry.
    assert_eq!(pending_kinds(&node).await, ["access", "access", "access"]);
    node.close().await;
}

/// The kinds of the ledger entries queued and not yet sequenced.
async fn pending_kinds(node: &Node) -> Vec<String> {
    node.sequence_all().await.unwrap();
    let size = node.verify_ledger(&mut |_, _| {}).await.unwrap().size;
    let mut out = Vec::new();
    for i in 0..size {
        let bundle = node.prove_entry(i).await.unwrap();
        let entry: Value = serde_json::from_slice(&bundle.entry).unwrap();
        out.push(entry["kind"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn a_request_that_cannot_be_shown_is_logged_only_as_the_attempt_to_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;
    let err = node
        .read_request("thr-none", &operator())
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::NotFound(_)), "{err}");
    // The access check's decision, and nothing else.
    assert_eq!(pending_kinds(&node).await, ["access"]);
    node.close().await;
}

#[tokio::test]
async fn a_token_is_shown_once_and_its_bearer_acts_under_its_users_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;
    let roles = custos_node::app::Roles::all();
    let new_user = custos_node::app::NewUser {
        name: "desk".into(),
        roles,
        ..Default::default()
    };
    node.add_user(&operator(), new_user).await.unwrap();
    let request = custos_node::app::TokenRequest {
        user: "desk".into(),
        name: Some("desk officer".into()),
        ..Default::default()
    };
    let token = node.create_token(&operator(), request).await.unwrap();
    assert!(
        token
            .secret
            .starts_with(custos_node::app::tokens::TOKEN_PREFIX)
    );
    assert!(
        !format!("{token:?}").contains(&token.secret),
        "Debug never shows the secret"
    );
    assert_eq!(
        node.tokens(&operator(), None).await.unwrap(),
        [TokenView {
            id: token.token.id.clone(),
            user: "desk".into(),
            name: "desk officer".into(),
            scopes: roles,
            created_at: AT,
            expires_at: AT + time::Duration::days(90),
            revoked_at: None,
        }]
    );
    let actor = node.authenticate(&token.secret).await.unwrap();
    assert_eq!(
        actor,
        Some(Actor::Api {
            user: "desk".into(),
            token: "desk officer".into(),
            roles,
        })
    );
    assert_eq!(actor.unwrap().label(), "api:desk/desk officer");
    // A guess with the right prefix, and a secret without it, are nobody.
    assert_eq!(node.authenticate("custos_0000").await.unwrap(), None);
    let unprefixed = token.secret.trim_start_matches("custos_");
    assert_eq!(node.authenticate(unprefixed).await.unwrap(), None);
    node.close().await;
}

#[tokio::test]
async fn a_database_that_belongs_to_a_node_is_not_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("custos.db").display());
    let fr: StateCode = "FR".parse().unwrap();
    let de: StateCode = "DE".parse().unwrap();
    assert_eq!(
        create_store(&url, fr, "France", AT).await.unwrap(),
        StoreCreated::Created
    );
    assert_eq!(
        create_store(&url, de, "Germany", AT).await.unwrap(),
        StoreCreated::Taken {
            state: fr,
            name: "France".into()
        }
    );
}

#[tokio::test]
async fn the_node_says_where_received_evidence_lives() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;
    assert_eq!(
        node.received_evidence_dir(),
        custos_node::evidence::receive::received_root(tmp.path())
    );
    assert!(node.received_evidence_dir().starts_with(tmp.path()));
    node.close().await;
}

#[tokio::test]
async fn an_action_whose_ledger_entry_cannot_be_queued_is_not_recorded() {
    // An action and its custody entry are one transaction: when the entry
    // cannot be queued (here the database refuses it), nothing of the
    // action is kept either.
    let net = custos_testkit::Network::in_process(&["FR", "DE"])
        .await
        .unwrap();
    let fr = net.node("FR");
    // What setting the network up recorded (the directory's import) is
    // sequenced first.
    fr.sequence_all().await.unwrap();
    let db = rusqlite::Connection::open(fr.dir().join("custos.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_ledger BEFORE INSERT ON ledger_pending \
         BEGIN SELECT RAISE(ABORT, 'the ledger takes no entry'); END;",
    )
    .unwrap();
    let (body, _) = draft(RequestKind::Preservation);
    let refused = [
        fr.save_draft(body.clone(), &operator()).await.unwrap_err(),
        fr.submit(body.clone(), &operator()).await.unwrap_err(),
    ];
    for e in refused {
        assert!(
            e.to_string().contains("the ledger takes no entry"),
            "refused by the ledger, not for another reason: {e}"
        );
    }
    assert!(
        fr.store
            .list_requests(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(fr.store.list_outbox(None, 10).await.unwrap().is_empty());
    assert!(!fr.ledger_pending().await.unwrap());
    // A read whose record cannot be written is not served either.
    let err = fr
        .requests(&operator(), &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the ledger takes no entry"),
        "{err}"
    );

    // Once entries can be queued again, both actions are kept with theirs.
    db.execute_batch("DROP TRIGGER no_ledger;").unwrap();
    let saved = fr.save_draft(body.clone(), &operator()).await.unwrap();
    let sent = fr.submit(body, &operator()).await.unwrap();
    let listed: Vec<_> = fr
        .requests(&operator(), &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&saved) && listed.contains(&sent.thread));
    assert!(fr.ledger_pending().await.unwrap());
    net.stop().await;
}

#[tokio::test]
async fn key_rotation_and_revocation_are_recorded_by_who_made_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, from) = draft(RequestKind::Preservation);
    let node = node(tmp.path(), from).await;
    let first = node.keys_view(&operator()).await.unwrap();
    assert_eq!(first.signing.len(), 1);
    let old_id = first.signing[0].key_id.clone();

    let rotated = node.rotate_keys(&operator()).await.unwrap();
    assert_eq!(rotated.previous_signing_key_id, old_id);
    assert_ne!(rotated.signing_key_id, old_id);
    // The node signs with the new key at once, and the files agree.
    assert_eq!(node.keys_view(&operator()).await.unwrap(), rotated.keys);
    let on_disk = Keystore::load(&tmp.path().join("keys")).unwrap();
    assert_eq!(on_disk.signing.key_id(), rotated.signing_key_id);
    assert_eq!(
        rotated.keys.signing[0].valid_until,
        Some(AT),
        "the old key is valid until the rotation"
    );

    // The current key cannot be revoked; the old one can, once.
    let err = node
        .revoke_key(&rotated.signing_key_id, &operator())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rotate first"), "{err}");
    let revoked = node.revoke_key(&old_id, &operator()).await.unwrap();
    assert_eq!(revoked.keys.signing[0].revoked_at, Some(AT));
    assert_eq!(node.keys_view(&operator()).await.unwrap(), revoked.keys);

    let entries: Vec<Value> = ledger(&node)
        .await
        .into_iter()
        .filter(|e| e["kind"] != "access")
        .collect();
    let kinds: Vec<_> = entries
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("keys-rotated", "cli:ana"), ("key-revoked", "cli:ana")],
        "one entry per change, none for the refused revocation"
    );
    assert_eq!(entries[0]["detail"]["signing"]["from"], old_id.as_str());
    assert_eq!(
        entries[0]["detail"]["signing"]["to"],
        rotated.signing_key_id.as_str()
    );
    assert_eq!(
        entries[0]["detail"]["encryption"]["to"],
        rotated.encryption_key.as_str()
    );
    assert_eq!(entries[1]["detail"]["key_id"], old_id.as_str());
    node.close().await;
}
