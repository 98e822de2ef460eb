//! The federation intake: what a node answers to a message posted by a peer.

use custos_model::StateCode;
use custos_model::clock::Clock;
use custos_protocol::{Message, MessageId, new_thread_id, verify_receipt};
use custos_seal::Envelope;
use custos_testkit::{Keystore, MESSAGES_PATH, Network, TestNode};
use serde_json::json;

use crate::preservation_draft;

/// France's submission of the preservation template, queued on France's
/// node; returns its message id.
async fn queued_by_france(net: &Network) -> String {
    let sent = net
        .node("FR")
        .submit(
            preservation_draft(),
            &custos_node::Actor::Cli {
                user: "alice".into(),
            },
        )
        .await
        .unwrap();
    sent.message_id
}

/// How many messages `node` has stored for `thread`.
async fn stored(node: &TestNode, thread: &str) -> usize {
    node.store.thread_messages(thread).await.unwrap().len()
}

#[tokio::test]
async fn a_peers_message_is_accepted_with_a_signed_receipt_and_a_custody_proof() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let id = queued_by_france(&net).await;
    let reply = net.carry("FR", &id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();

    // The receipt is Germany's, for this very message, and verifies
    // against the directory France holds.
    let fr = net.node("FR");
    let receipt = serde_json::to_vec(&answer["receipt"]).unwrap();
    let message_id: MessageId = id.parse().unwrap();
    let receipt = verify_receipt(
        &receipt,
        &fr.directory().unwrap(),
        &message_id,
        "DE".parse().unwrap(),
        fr.now(),
    )
    .unwrap();
    assert_eq!(receipt.sender.as_str(), "FR");
    assert_eq!(receipt.receiver.as_str(), "DE");
    assert!(answer["custody"].is_object(), "{answer}");

    let de = net.node("DE");
    assert_eq!(stored(de, &receipt.thread).await, 1);

    // Posted again, it is a duplicate answered with the same receipt.
    let again = net.carry("FR", &id, "DE").await.unwrap();
    assert_eq!(again.refusal(), (409, Some("duplicate-message".into())));
    assert_eq!(again.json()["receipt"], answer["receipt"]);
    assert_eq!(stored(de, &receipt.thread).await, 1);
}

/// A submission from `from` to Germany, signed by `signer` (its signature
/// spoiled when `spoil`) and encrypted to Germany's current keys.
fn forged(net: &Network, from: &str, signer: &Keystore, spoil: bool) -> Vec<u8> {
    let de = net.node("DE");
    let now = net.clock.now();
    let mut draft = preservation_draft();
    draft["requesting_state"] = json!(from);
    let from: StateCode = from.parse().unwrap();
    let message = Message::submit(
        from,
        de.state(),
        new_thread_id(uuid::Uuid::new_v4()),
        None,
        now,
        draft,
    );
    let payload = message.to_canonical_json().unwrap();
    let mut envelope = Envelope::sign(message.kind.payload_type(), &payload, &signer.signing);
    if spoil {
        envelope.signatures[0].sig[0] ^= 1;
    }
    let recipients = de.directory().unwrap().current_recipients(de.state(), now);
    custos_seal::encrypt(&envelope.to_json(), &recipients).unwrap()
}

#[tokio::test]
async fn forged_foreign_oversized_and_garbled_messages_get_their_codes() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let de = net.node("DE");
    let france = Keystore::load(&net.node("FR").dir().join("keys")).unwrap();
    // A node of a State the directory does not name.
    let stranger = TestNode::new("IT").await.unwrap();
    let italy = Keystore::load(&stranger.dir().join("keys")).unwrap();
    let limit = custos_node::DEFAULT_MAX_MESSAGE_BYTES;

    let cases: [(&str, Vec<u8>, (u16, &str)); 6] = [
        (
            "France's, with its signature spoiled",
            forged(&net, "FR", &france, true),
            (403, "signature-invalid"),
        ),
        (
            "France's, signed with Italy's key",
            forged(&net, "FR", &italy, false),
            (403, "unknown-key"),
        ),
        (
            "from a State not in the directory",
            forged(&net, "IT", &italy, false),
            (403, "unknown-sender"),
        ),
        (
            "one byte over the limit",
            vec![b'x'; limit + 1],
            (413, "too-large"),
        ),
        (
            "not age at all",
            b"hello".to_vec(),
            (400, "malformed-ciphertext"),
        ),
        ("empty", Vec::new(), (400, "malformed-ciphertext")),
    ];
    for (what, body, (status, code)) in cases {
        let reply = de.post_bytes(MESSAGES_PATH, body).await.unwrap();
        assert_eq!(
            reply.refusal(),
            (status, Some(code.into())),
            "{what}: {}",
            reply.text()
        );
    }
    // Each refusal is logged, and none of them stored a request.
    assert_eq!(de.store.refusals(100).await.unwrap().len(), 6);
    let requests = de.store.list_requests(&Default::default()).await.unwrap();
    assert!(requests.is_empty(), "{requests:?}");
}

#[tokio::test]
async fn a_node_without_a_directory_refuses_every_message() {
    let lone = TestNode::new("DE").await.unwrap();
    let reply = lone
        .post_bytes(MESSAGES_PATH, b"anything".to_vec())
        .await
        .unwrap();
    assert_eq!(
        reply.refusal(),
        (503, Some("no-directory".into())),
        "{}",
        reply.text()
    );
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let id = queued_by_france(&net).await;
    let item = net
        .node("FR")
        .store
        .outbox_item(&id)
        .await
        .unwrap()
        .unwrap();
    // France's message to Germany, posted to a Germany that trusts no directory.
    let reply = lone
        .post_bytes(MESSAGES_PATH, item.ciphertext)
        .await
        .unwrap();
    assert_eq!(
        reply.refusal(),
        (503, Some("no-directory".into())),
        "{}",
        reply.text()
    );
    assert!(
        lone.store
            .list_requests(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}
