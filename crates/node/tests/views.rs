//! The application layer's views, table-driven: a network of two nodes
//! built by the test kit (France and Germany in process, one clock that
//! moves only when told) goes through a scene, and each row of the table
//! performs one operation as a face would and compares what it returns,
//! the plain-data view as the faces print or answer it (its JSON), with an
//! `expect-test` snapshot. A view that changes shape or content fails its
//! row; `UPDATE_EXPECT=1 cargo test -p custos-node --test views` rewrites
//! the snapshots after an intended change.
//!
//! Ids made from random numbers (threads, messages, tokens) are replaced by
//! names (`<sent>`, `<saved>`, …); every time comes from the kit's clock.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::future::Future;
use std::pin::Pin;

use custos_model::{RequestKind, template, validate};
use custos_node::app::ledger::DeepCheckView;
use custos_node::app::{
    Actor, Direction, DirectoryView, OutboxState, RequestFilter, SendReport, Sent,
};
use custos_node::{Keystore, Node, NodeError};
use custos_testkit::{MESSAGES_PATH, Network};
use expect_test::{Expect, expect};
use serde::Serialize;
use serde_json::Value;

/// What the rows look at: the network after the scene, and the ids to
/// redact.
struct Scene {
    net: Network,
    /// A draft France saved without sending.
    saved: String,
    /// The request France sent through a client-API token, carried to Germany.
    sent: Sent,
    /// `(id, name)`: ids that change on every run, shown as `<name>`.
    names: Vec<(String, &'static str)>,
}

/// The preservation template: France asks Germany.
fn draft() -> Value {
    validate::parse(&template::render(RequestKind::Preservation)).unwrap()
}

fn officer() -> Actor {
    Actor::Api {
        user: "desk".into(),
        token: "desk officer".into(),
        roles: custos_node::app::Roles::all(),
    }
}

fn operator() -> Actor {
    Actor::Cli { user: "ana".into() }
}

impl Scene {
    /// France saves a draft, then (a minute later) sends the same request
    /// as the holder of a client-API token; Germany receives it, and (a
    /// minute later) refuses bytes that are no message.
    async fn play() -> Scene {
        let net = Network::in_process(&["FR", "DE"]).await.unwrap();
        let fr = &net.node("FR").node;
        let saved = fr.save_draft(draft(), &operator()).await.unwrap();
        net.clock.advance(time::Duration::minutes(1));
        let new_user = custos_node::app::NewUser {
            name: "desk".into(),
            roles: custos_node::app::Roles::all(),
            ..Default::default()
        };
        fr.add_user(&operator(), new_user).await.unwrap();
        let request = custos_node::app::TokenRequest {
            user: "desk".into(),
            name: Some("desk officer".into()),
            ..Default::default()
        };
        let token = fr.create_token(&operator(), request).await.unwrap();
        assert_eq!(
            fr.authenticate(&token.secret).await.unwrap(),
            Some(officer())
        );
        let sent = fr.submit(draft(), &officer()).await.unwrap();
        let carried = net.carry("FR", &sent.message_id, "DE").await.unwrap();
        assert_eq!(carried.status, 200, "{}", carried.text());
        net.clock.advance(time::Duration::minutes(1));
        let refused = net
            .node("DE")
            .post_bytes(MESSAGES_PATH, b"not a message".to_vec())
            .await
            .unwrap();
        assert_eq!(refused.status, 400, "{}", refused.text());
        let mut names = vec![
            (saved.clone(), "saved"),
            (sent.thread.clone(), "sent"),
            (sent.message_id.clone(), "message"),
            (token.token.id.clone(), "token"),
        ];
        // Keys are made afresh on every run.
        let keys = fr.keys().view();
        names.push((keys.signing[0].key.clone(), "France's signing key"));
        names.push((keys.signing[0].key_id.clone(), "France's key id"));
        names.push((keys.encryption[0].key.clone(), "France's encryption key"));
        Scene {
            net,
            saved,
            sent,
            names,
        }
    }

    fn fr(&self) -> &Node {
        &self.net.node("FR").node
    }

    fn de(&self) -> &Node {
        &self.net.node("DE").node
    }

    /// `view` as the faces show it (pretty JSON), with ids named.
    fn show(&self, view: &impl Serialize) -> String {
        self.redact(serde_json::to_string_pretty(view).unwrap())
    }

    /// A refusal as a face reports it: whose fault, and the message.
    fn refusal(&self, e: &NodeError) -> String {
        self.redact(format!("{:?}: {e}", e.fault()))
    }

    fn redact(&self, mut text: String) -> String {
        for (id, name) in &self.names {
            text = text.replace(id.as_str(), &format!("<{name}>"));
        }
        text
    }

    /// A request's view with its draft checked against the one given and
    /// left out (it is the template, long and unchanging).
    async fn read(&self, node: &Node, id: &str, actor: Actor) -> String {
        let view = node.read_request(id, &actor).await.unwrap();
        assert_eq!(view.draft, draft());
        let mut json = serde_json::to_value(&view).unwrap();
        json["draft"] = Value::from("<the draft>");
        self.show(&json)
    }
}

type Shown<'a> = Pin<Box<dyn Future<Output = String> + 'a>>;

/// One row: an operation on the scene, and the snapshot of what it returns.
struct Row {
    what: &'static str,
    run: for<'a> fn(&'a Scene) -> Shown<'a>,
    expect: Expect,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            what: "France's requests, newest first",
            run: |s| {
                Box::pin(async {
                    s.show(
                        &s.fr()
                            .requests(&operator(), &RequestFilter::default())
                            .await
                            .unwrap(),
                    )
                })
            },
            expect: expect![[r#"
                [
                  {
                    "id": "<sent>",
                    "direction": "outgoing",
                    "kind": "preservation",
                    "counterpart": "DE",
                    "created_at": "2026-11-01T12:01:00Z"
                  },
                  {
                    "id": "<saved>",
                    "direction": "outgoing",
                    "kind": "preservation",
                    "counterpart": "DE",
                    "created_at": "2026-11-01T12:00:00Z"
                  }
                ]"#]],
        },
        Row {
            what: "France's requests exchanged with Germany, at most one",
            run: |s| {
                Box::pin(async {
                    let filter = RequestFilter {
                        counterpart: Some("DE".parse().unwrap()),
                        limit: Some(1),
                        ..RequestFilter::default()
                    };
                    s.show(&s.fr().requests(&operator(), &filter).await.unwrap())
                })
            },
            expect: expect![[r#"
                [
                  {
                    "id": "<sent>",
                    "direction": "outgoing",
                    "kind": "preservation",
                    "counterpart": "DE",
                    "created_at": "2026-11-01T12:01:00Z"
                  }
                ]"#]],
        },
        Row {
            what: "France's requests of a kind it holds none of",
            run: |s| {
                Box::pin(async {
                    let filter = RequestFilter {
                        kind: Some(RequestKind::LegalInformation),
                        ..RequestFilter::default()
                    };
                    s.show(&s.fr().requests(&operator(), &filter).await.unwrap())
                })
            },
            expect: expect!["[]"],
        },
        Row {
            what: "Germany's incoming requests",
            run: |s| {
                Box::pin(async {
                    let filter = RequestFilter {
                        direction: Some(Direction::Incoming),
                        ..RequestFilter::default()
                    };
                    s.show(&s.de().requests(&operator(), &filter).await.unwrap())
                })
            },
            expect: expect![[r#"
                [
                  {
                    "id": "<sent>",
                    "direction": "incoming",
                    "kind": "preservation",
                    "counterpart": "FR",
                    "created_at": "2026-11-01T12:01:00Z"
                  }
                ]"#]],
        },
        Row {
            what: "France's cases from the case index, open first by urgency",
            run: |s| {
                Box::pin(async {
                    let filter = custos_node::app::CaseFilter::default();
                    s.show(&s.fr().cases(&operator(), &filter).await.unwrap())
                })
            },
            expect: expect![[r#"
                [
                  {
                    "id": "<sent>",
                    "kind": "preservation",
                    "direction": "outgoing",
                    "counterpart": "DE",
                    "side": "requesting",
                    "state": "submitted",
                    "urgency": "urgent",
                    "open": true,
                    "overdue": false,
                    "next_due": null,
                    "last_step_at": "2026-11-01T12:01:00Z",
                    "created_at": "2026-11-01T12:01:00Z",
                    "allowed": [
                      "withdraw",
                      "ask-status",
                      "correspond"
                    ]
                  },
                  {
                    "id": "<saved>",
                    "kind": "preservation",
                    "direction": "outgoing",
                    "counterpart": "DE",
                    "side": "requesting",
                    "state": "new",
                    "urgency": "routine",
                    "open": true,
                    "overdue": false,
                    "next_due": null,
                    "last_step_at": null,
                    "created_at": "2026-11-01T12:00:00Z",
                    "allowed": [
                      "submit"
                    ]
                  }
                ]"#]],
        },
        Row {
            what: "the saved draft, read by the operator",
            run: |s| Box::pin(s.read(s.fr(), &s.saved, operator())),
            expect: expect![[r#"
                {
                  "id": "<saved>",
                  "direction": "outgoing",
                  "kind": "preservation",
                  "counterpart": "DE",
                  "created_at": "2026-11-01T12:00:00Z",
                  "draft": "<the draft>",
                  "messages": [],
                  "history": [
                    {
                      "seq": 1,
                      "at": "2026-11-01T12:00:00Z",
                      "actor": "cli:ana",
                      "kind": "drafted",
                      "detail": {
                        "validated": true
                      }
                    }
                  ]
                }"#]],
        },
        Row {
            what: "the sent request, read on France's node by the officer",
            run: |s| Box::pin(s.read(s.fr(), &s.sent.thread, officer())),
            expect: expect![[r#"
                {
                  "id": "<sent>",
                  "direction": "outgoing",
                  "kind": "preservation",
                  "counterpart": "DE",
                  "created_at": "2026-11-01T12:01:00Z",
                  "draft": "<the draft>",
                  "messages": [
                    {
                      "id": "<message>",
                      "kind": "submit",
                      "direction": "outgoing",
                      "created_at": "2026-11-01T12:01:00Z",
                      "delivery": "pending",
                      "receipt": false
                    }
                  ],
                  "history": [
                    {
                      "seq": 1,
                      "at": "2026-11-01T12:01:00Z",
                      "actor": "api:desk/desk officer",
                      "kind": "sent:submit",
                      "detail": {
                        "message_id": "<message>",
                        "to": "DE",
                        "legal_basis": {
                          "basis": "un-convention"
                        }
                      }
                    }
                  ]
                }"#]],
        },
        Row {
            what: "the same request, read on Germany's node",
            run: |s| Box::pin(s.read(s.de(), &s.sent.thread, operator())),
            expect: expect![[r#"
                {
                  "id": "<sent>",
                  "direction": "incoming",
                  "kind": "preservation",
                  "counterpart": "FR",
                  "created_at": "2026-11-01T12:01:00Z",
                  "draft": "<the draft>",
                  "messages": [
                    {
                      "id": "<message>",
                      "kind": "submit",
                      "direction": "incoming",
                      "created_at": "2026-11-01T12:01:00Z",
                      "delivery": null,
                      "receipt": true
                    }
                  ],
                  "history": [
                    {
                      "seq": 1,
                      "at": "2026-11-01T12:01:00Z",
                      "actor": "node:FR",
                      "kind": "received:submit",
                      "detail": {
                        "message_id": "<message>",
                        "signed_by": "<France's key id>"
                      }
                    }
                  ]
                }"#]],
        },
        Row {
            what: "France's outbox",
            run: |s| {
                Box::pin(async { s.show(&s.fr().outbox(&operator(), None, 10).await.unwrap()) })
            },
            expect: expect![[r#"
                [
                  {
                    "message_id": "<message>",
                    "recipient": "DE",
                    "state": "pending",
                    "attempts": 0,
                    "created_at": "2026-11-01T12:01:00Z",
                    "next_attempt_at": "2026-11-01T12:01:00Z",
                    "last_error": null,
                    "delivered_at": null
                  }
                ]"#]],
        },
        Row {
            what: "France's outbox, delivered only",
            run: |s| {
                Box::pin(async {
                    s.show(
                        &s.fr()
                            .outbox(&operator(), Some(OutboxState::Delivered), 10)
                            .await
                            .unwrap(),
                    )
                })
            },
            expect: expect!["[]"],
        },
        Row {
            what: "one outbox entry",
            run: |s| {
                Box::pin(async {
                    s.show(
                        &s.fr()
                            .outbox_entry(&operator(), &s.sent.message_id)
                            .await
                            .unwrap(),
                    )
                })
            },
            expect: expect![[r#"
                {
                  "message_id": "<message>",
                  "recipient": "DE",
                  "state": "pending",
                  "attempts": 0,
                  "created_at": "2026-11-01T12:01:00Z",
                  "next_attempt_at": "2026-11-01T12:01:00Z",
                  "last_error": null,
                  "delivered_at": null
                }"#]],
        },
        Row {
            what: "Germany's refusals",
            run: |s| Box::pin(async { s.show(&s.de().refusals(&operator(), 10).await.unwrap()) }),
            expect: expect![[r#"
                [
                  {
                    "at": "2026-11-01T12:02:00Z",
                    "peer": "127.0.0.1:9 (says ?)",
                    "claimed_sender": null,
                    "code": "malformed-ciphertext",
                    "detail": "ciphertext is not an intact age message: ciphertext is not a well-formed age file: invalid header",
                    "body_sha256": "e27fa5ac74adfe3d530c9d23cfbe6a520230b19ab3da5c2a3de42969f81a96ac",
                    "body_len": 13
                  }
                ]"#]],
        },
        Row {
            what: "France's refusals: none",
            run: |s| Box::pin(async { s.show(&s.fr().refusals(&operator(), 10).await.unwrap()) }),
            expect: expect!["[]"],
        },
        Row {
            what: "France's tokens",
            run: |s| Box::pin(async { s.show(&s.fr().tokens(&operator(), None).await.unwrap()) }),
            expect: expect![[r#"
                [
                  {
                    "id": "<token>",
                    "user": "desk",
                    "name": "desk officer",
                    "scopes": [
                      "duty-officer",
                      "caseworker",
                      "executing-authority",
                      "data-protection-officer",
                      "auditor",
                      "administrator"
                    ],
                    "created_at": "2026-11-01T12:01:00Z",
                    "expires_at": "2027-01-30T12:01:00Z",
                    "revoked_at": null
                  }
                ]"#]],
        },
        Row {
            what: "forks found as a witness: none",
            run: |s| Box::pin(async { s.show(&s.fr().forks(&operator(), 10).await.unwrap()) }),
            expect: expect!["[]"],
        },
        Row {
            what: "Germany's counts for monitoring",
            run: |s| Box::pin(async { s.show(&s.de().counts(100).await.unwrap()) }),
            expect: expect![[r#"
                {
                  "ledger_entries": 4,
                  "forks": 0,
                  "outbox_pending": 0,
                  "outbox_failed": 0,
                  "refusals": 1
                }"#]],
        },
        Row {
            what: "the directory in force on France's node",
            run: |s| {
                Box::pin(async {
                    let view: DirectoryView =
                        s.fr().directory_view(&operator()).await.unwrap().unwrap();
                    // Key ids and node addresses differ on every run.
                    let mut json = serde_json::to_value(&view).unwrap();
                    for e in json["entries"].as_array_mut().unwrap() {
                        e["node_url"] = Value::from("<url>");
                        for k in e["signing_keys"].as_array_mut().unwrap() {
                            k["key_id"] = Value::from("<key id>");
                        }
                    }
                    s.show(&json)
                })
            },
            expect: expect![[r#"
                {
                  "version": 1,
                  "issued_at": "2026-11-01T12:00:00Z",
                  "expires_at": "2026-12-01T12:00:00Z",
                  "entries": [
                    {
                      "state": "FR",
                      "name": "FR",
                      "node_url": "<url>",
                      "signing_keys": [
                        {
                          "key_id": "<key id>",
                          "valid_from": "2026-11-01T12:00:00Z",
                          "valid_until": null,
                          "revoked_at": null
                        }
                      ]
                    },
                    {
                      "state": "DE",
                      "name": "DE",
                      "node_url": "<url>",
                      "signing_keys": [
                        {
                          "key_id": "<key id>",
                          "valid_from": "2026-11-01T12:00:00Z",
                          "valid_until": null,
                          "revoked_at": null
                        }
                      ]
                    }
                  ]
                }"#]],
        },
        Row {
            what: "France's whole ledger verified",
            run: |s| {
                Box::pin(async {
                    s.fr().sequence_all().await.unwrap();
                    let verdict = s
                        .fr()
                        .check_ledger(&operator(), &mut |_, _| {})
                        .await
                        .unwrap();
                    // The root hashes entries that hold the run's random ids.
                    let mut json = serde_json::to_value(&verdict).unwrap();
                    assert!(json["root"].is_string());
                    json["root"] = Value::from("<root>");
                    s.show(&json)
                })
            },
            expect: expect![[r#"
                {
                  "size": 21,
                  "root": "<root>",
                  "checkpoint_size": 21
                }"#]],
        },
        Row {
            what: "every record of France's checked against its ledger",
            run: |s| {
                Box::pin(async {
                    let report = s.fr().verify_deep().await.unwrap();
                    s.show(&DeepCheckView::from(&report))
                })
            },
            expect: expect![[r#"
                {
                  "ok": true,
                  "ledger_entries": 22,
                  "messages": 1,
                  "receipts": 0,
                  "requests": 2,
                  "evidence": 0,
                  "records": 3,
                  "problems": []
                }"#]],
        },
        Row {
            what: "evidence France received: none",
            run: |s| {
                Box::pin(async { s.show(&s.fr().received_packages(&operator()).await.unwrap()) })
            },
            expect: expect!["[]"],
        },
        Row {
            what: "France's keys, as read from its key folder",
            run: |s| {
                Box::pin(async {
                    let keys = Keystore::load(&s.net.node("FR").dir().join("keys")).unwrap();
                    s.show(&keys.view())
                })
            },
            expect: expect![[r#"
                {
                  "signing": [
                    {
                      "key": "<France's signing key>",
                      "key_id": "<France's key id>",
                      "valid_from": "2026-11-01T12:00:00Z",
                      "valid_until": null,
                      "revoked_at": null
                    }
                  ],
                  "encryption": [
                    {
                      "key": "<France's encryption key>",
                      "valid_from": "2026-11-01T12:00:00Z",
                      "valid_until": null,
                      "revoked_at": null
                    }
                  ]
                }"#]],
        },
        Row {
            what: "a draft that names no kind is refused",
            run: |s| {
                Box::pin(async {
                    let mut body = draft();
                    body.as_object_mut().unwrap().remove("kind");
                    let e = s.fr().save_draft(body, &operator()).await.unwrap_err();
                    s.refusal(&e)
                })
            },
            expect: expect![[r#"
                Caller: the draft is not valid:
                error kind-unknown kind [-] the draft must name its kind; `custos request template` lists them"#]],
        },
        Row {
            what: "a draft from another State is not France's to send",
            run: |s| {
                Box::pin(async {
                    let mut body = draft();
                    body["requesting_state"] = Value::from("IT");
                    body["requested_state"] = Value::from("DE");
                    let e = s.fr().submit(body, &operator()).await.unwrap_err();
                    s.refusal(&e)
                })
            },
            expect: expect!["Caller: the draft is from IT, but this node speaks for FR"],
        },
        Row {
            what: "a draft to a State without an entry in the directory",
            run: |s| {
                Box::pin(async {
                    let mut body = draft();
                    body["requested_state"] = Value::from("IT");
                    let e = s.fr().submit(body, &operator()).await.unwrap_err();
                    s.refusal(&e)
                })
            },
            expect: expect!["Caller: IT has no entry in the directory"],
        },
        Row {
            what: "a request the node does not hold",
            run: |s| {
                Box::pin(async {
                    let e = s
                        .fr()
                        .read_request("thr-none", &operator())
                        .await
                        .unwrap_err();
                    s.refusal(&e)
                })
            },
            expect: expect![[r#"Caller: no request or message "thr-none""#]],
        },
        Row {
            what: "sending with the first attempt left to the outbox worker",
            run: |s| {
                Box::pin(async {
                    let fr = &s.net.node("FR").node;
                    let report: SendReport = fr
                        .send_request(draft(), &operator(), false, true)
                        .await
                        .unwrap();
                    let mut json = serde_json::to_value(&report).unwrap();
                    for id in ["id", "message_id"] {
                        assert!(json[id].is_string());
                        json[id] = Value::from(format!("<new {id}>"));
                    }
                    s.show(&json)
                })
            },
            expect: expect![[r#"
                {
                  "id": "<new id>",
                  "message_id": "<new message_id>",
                  "delivery": "pending",
                  "last_error": null
                }"#]],
        },
    ]
}

#[tokio::test]
async fn each_operation_returns_the_view_its_snapshot_shows() {
    let scene = Scene::play().await;
    for row in rows() {
        let shown = (row.run)(&scene).await;
        eprintln!("row: {}", row.what);
        row.expect.assert_eq(&shown);
    }
    scene.net.stop().await;
}
