//! Federation between real nodes: `custos serve` processes on loopback
//! exchanging signed, encrypted requests.
//!
//! Each test builds its own small network with the harness in `common`
//! (registry, `custos init` per State, signed directory, one server process
//! per node) and checks one promise of the federation design: delivery with
//! verified receipts, delivery after the receiver comes back, no loss and no
//! duplicate when the sender is killed mid-delivery, refusal (with its stable
//! code, recorded, nothing stored) of forged and replayed messages, and key
//! rotation and revocation reaching peers through new directory versions,
//! which serving nodes take up without a restart.
//! Forged messages are built in this process with the protocol and seal
//! crates and posted to the federation endpoint as a peer would.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::{Answer, Network, Sent, TempDatabase, draft, state, wait_until};
use custos_model::RequestKind;
use custos_protocol::{
    DEFAULT_MAX_MESSAGE_BYTES, Directory, DirectoryList, ErrorCode, KeyValidity, Message,
    MessageId, new_thread_id, seal_message, verify_message_envelope, verify_receipt,
};
use custos_seal::{EncryptionRecipient, Envelope, SigningKey};
use custos_store::{Direction, RequestFilter, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The deadline for anything the nodes do on their own (a delivery, a retry).
const DEADLINE: Duration = Duration::from_secs(30);

#[expect(
    clippy::disallowed_methods,
    reason = "the nodes under test run on the system clock, so messages made here must carry its time"
)]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Whether `cc`'s record of request `sent` shows its message delivered, with a verified receipt held.
fn delivered(net: &Network, cc: &str, sent: &Sent) -> bool {
    net.show(cc, &sent.id)["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| {
            m["id"] == sent.message_id.as_str()
                && m["delivery"] == "delivered"
                && m["receipt"] == true
        })
}

/// The ids of the incoming requests `cc` lists.
fn incoming_ids(net: &Network, cc: &str) -> Vec<String> {
    net.requests(cc)
        .iter()
        .filter(|r| r["direction"] == "incoming")
        .map(|r| r["id"].as_str().expect("a request id").to_owned())
        .collect()
}

/// How many incoming requests the store holds (a quick query, for tight polling).
fn incoming_count(net: &Network, store: &dyn Store) -> usize {
    let filter = RequestFilter {
        direction: Some(Direction::Incoming),
        limit: Some(100_000),
        ..RequestFilter::default()
    };
    net.block_on(store.list_requests(&filter))
        .expect("the receiver's requests are readable")
        .len()
}

/// The refusal codes `custos refusals` lists, one per refused message.
fn refusal_codes(net: &Network, cc: &str) -> Vec<String> {
    net.refusals(cc)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// A `submit` of a fresh, valid preservation request in a new thread.
fn submit(from: &str, to: &str, at: OffsetDateTime) -> Message {
    Message::submit(
        state(from),
        state(to),
        new_thread_id(uuid::Uuid::new_v4()),
        None,
        at,
        draft(RequestKind::Preservation, from, to),
    )
}

/// A `submit` whose draft does not validate (its facts are missing).
fn invalid_submit(from: &str, to: &str, at: OffsetDateTime) -> Message {
    let mut bad = draft(RequestKind::Preservation, from, to);
    bad.as_object_mut().expect("a draft object").remove("facts");
    assert!(!custos_model::validate::validate(&bad).is_valid());
    Message::submit(
        state(from),
        state(to),
        new_thread_id(uuid::Uuid::new_v4()),
        None,
        at,
        bad,
    )
}

/// Signs and encrypts a message as a node would, but without the sender's
/// own checks, so that messages a node would never send can be posted.
fn seal_unchecked(
    message: &Message,
    key: &SigningKey,
    recipients: &[EncryptionRecipient],
) -> Vec<u8> {
    let payload = message.to_canonical_json().expect("canonical JSON");
    let envelope = Envelope::sign(message.kind.payload_type(), &payload, key);
    custos_seal::encrypt(&envelope.to_json(), recipients).expect("encrypts")
}

/// Posts fresh `probe` messages to `to` until one is refused with `code`.
///
/// A serving node picks up a newly imported directory, or its own rotated
/// keys, by itself; the probes carry an invalid body, so that they are never
/// stored whichever directory or keys are in force.
fn wait_for_refusal(
    net: &Network,
    to: &str,
    code: ErrorCode,
    what: &str,
    probe: impl Fn() -> Vec<u8>,
) {
    wait_until(DEADLINE, what, || {
        net.post_message(to, probe()).code() == Some(code.as_str())
    });
}

/// Whom a message from FR to `to` is encrypted for: `to`'s current keys and FR's own.
fn recipients_for(net: &Network, to: &str) -> Vec<EncryptionRecipient> {
    let t = now();
    let dir = net.directory(t);
    let mut r = dir.current_recipients(state(to), t);
    assert!(!r.is_empty(), "{to} has an encryption key in the directory");
    r.extend(dir.current_recipients(state("FR"), t));
    r
}

/// Asserts that a refusal carries `code` with its documented status.
fn assert_refused(answer: &Answer, code: ErrorCode, what: &str) {
    assert_eq!(
        answer.code(),
        Some(code.as_str()),
        "{what}: expected {code:?}, got {} {}",
        answer.status,
        answer.json
    );
    assert_eq!(
        answer.status,
        code.http_status(),
        "{what}: status of {}",
        code.as_str()
    );
}

#[test]
fn a_request_and_its_follow_up_are_delivered_with_receipts() {
    let net = Network::start(&["FR", "DE"]);

    let preservation = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    let mut follow_up = draft(RequestKind::StoredData, "FR", "DE");
    follow_up["reference"] = json!(format!(
        "Follow-up to preservation request {}",
        preservation.id
    ));
    let mla = net.send("FR", &follow_up, &[]);
    assert_ne!(preservation.id, mla.id);

    for (sent, kind) in [(&preservation, "preservation"), (&mla, "stored-data")] {
        assert!(sent.id.starts_with("thr-"), "{sent:?}");
        assert!(sent.message_id.starts_with("sha256:"), "{sent:?}");
        wait_until(DEADLINE, &format!("FR sees {kind} delivered"), || {
            delivered(&net, "FR", sent)
        });

        let fr = net.show("FR", &sent.id);
        assert_eq!(fr["direction"], "outgoing");
        assert_eq!(fr["kind"], kind);
        let messages = fr["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 1, "{fr}");
        assert_eq!(messages[0]["id"], sent.message_id.as_str());
        assert_eq!(messages[0]["direction"], "outgoing");
        assert_eq!(messages[0]["delivery"], "delivered");
        assert_eq!(messages[0]["receipt"], true);

        let de = net.show("DE", &sent.id);
        assert_eq!(de["direction"], "incoming");
        assert_eq!(de["counterpart"], "FR");
        assert_eq!(de["kind"], kind);
        assert_eq!(de["draft"], fr["draft"], "the draft arrives unchanged");
        let messages = de["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 1, "{de}");
        assert_eq!(messages[0]["id"], sent.message_id.as_str());
        assert_eq!(messages[0]["direction"], "incoming");
        assert_eq!(messages[0]["kind"], "submit");
        assert_eq!(messages[0]["receipt"], true);
    }

    let listed: BTreeSet<String> = incoming_ids(&net, "DE").into_iter().collect();
    let expected: BTreeSet<String> = [preservation.id.clone(), mla.id.clone()].into();
    assert_eq!(
        listed, expected,
        "DE lists exactly the two requests, same ids"
    );

    // The receipt FR keeps is DE's signature over exactly this message.
    let fr_store = net.store("FR");
    let t = now();
    let directory = net.directory(t);
    for sent in [&preservation, &mla] {
        let receipt = net
            .block_on(fr_store.receipt_for(&sent.message_id))
            .expect("FR's store reads")
            .expect("FR holds a receipt");
        let id = MessageId::parse(&sent.message_id).expect("a message id");
        let r = verify_receipt(&receipt, &directory, &id, state("DE"), t)
            .expect("DE's receipt verifies");
        assert_eq!(r.thread, sent.id);
        assert_eq!(r.sender, state("FR"));
    }
    net.block_on(fr_store.close());
}

#[test]
fn a_message_queued_while_the_receiver_is_down_arrives_once_it_is_back() {
    let mut net = Network::start(&["FR", "DE"]);
    net.stop("DE");

    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    assert_eq!(sent.delivery, "pending", "reported as queued: {sent:?}");
    let de_url = net.url("DE");
    if let Some(error) = &sent.last_error {
        assert!(error.contains(&de_url), "the error names DE: {error}");
    }
    wait_until(DEADLINE, "FR's outbox records the failed attempt", || {
        net.outbox("FR")
            .iter()
            .any(|r| r.message_id == sent.message_id && r.state == "pending" && !r.error.is_empty())
    });
    let row = net
        .outbox("FR")
        .into_iter()
        .find(|r| r.message_id == sent.message_id)
        .expect("the message is in FR's outbox");
    assert_eq!(row.recipient, "DE");
    assert!(row.attempts >= 1, "{row:?}");
    assert!(row.error.contains(&de_url), "the error names DE: {row:?}");
    assert!(net.requests("DE").is_empty(), "DE received nothing yet");

    net.start_node("DE");
    wait_until(DEADLINE, "the queued message is delivered", || {
        delivered(&net, "FR", &sent)
    });

    let requests = net.requests("DE");
    assert_eq!(requests.len(), 1, "exactly one request on DE: {requests:?}");
    assert_eq!(requests[0]["id"], sent.id.as_str());
    let shown = net.show("DE", &sent.id);
    let messages = shown["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "exactly one message in the thread: {shown}"
    );
    assert_eq!(messages[0]["id"], sent.message_id.as_str());
    assert_eq!(messages[0]["receipt"], true);
}

#[test]
fn a_sender_killed_mid_delivery_loses_and_duplicates_nothing() {
    let mut net = Network::start(&["FR", "DE"]);
    let de_store = net.store("DE");
    let mut sent: Vec<Sent> = Vec::new();

    // If every message reaches DE before the kill, the run proves less: try once more, larger.
    for (round, batch) in [40usize, 100].into_iter().enumerate() {
        net.stop("FR");
        for i in 0..batch {
            let mut d = draft(RequestKind::Preservation, "FR", "DE");
            d["reference"] = json!(format!("CYB-KILL-{round}-{i}"));
            let s = net.send("FR", &d, &["--queue-only"]);
            assert_eq!(s.delivery, "pending", "--queue-only only queues: {s:?}");
            sent.push(s);
        }
        let held_before = sent.len() - batch;
        assert_eq!(incoming_count(&net, de_store.as_ref()), held_before);

        net.spawn_node("FR");
        let deadline = Instant::now() + DEADLINE;
        while incoming_count(&net, de_store.as_ref()) == held_before {
            assert!(
                Instant::now() < deadline,
                "FR's restarted server delivered nothing within {DEADLINE:?}:\n{}",
                net.log("FR")
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        net.kill("FR");
        let at_kill = incoming_count(&net, de_store.as_ref());
        let receipts_at_kill = net
            .outbox("FR")
            .iter()
            .filter(|r| r.state == "delivered")
            .count();
        eprintln!(
            "round {round}: FR killed with {at_kill} of {} requests on DE and {receipts_at_kill} receipts held",
            sent.len()
        );

        net.start_node("FR");
        wait_until(
            Duration::from_secs(90),
            "FR's outbox has every message delivered",
            || {
                net.outbox("FR")
                    .iter()
                    .filter(|r| r.state == "delivered")
                    .count()
                    == sent.len()
            },
        );
        if at_kill < sent.len() {
            break;
        }
        eprintln!("round {round}: every message arrived before the kill");
    }

    // No loss, no duplicate: DE holds each request once, with its one message.
    let expected: BTreeSet<String> = sent.iter().map(|s| s.id.clone()).collect();
    assert_eq!(expected.len(), sent.len(), "distinct request ids");
    let listed = incoming_ids(&net, "DE");
    assert_eq!(listed.len(), sent.len(), "DE's requests: {listed:?}");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected);
    for s in &sent {
        let thread = net
            .block_on(de_store.thread_messages(&s.id))
            .expect("DE's store reads");
        assert_eq!(thread.len(), 1, "one message in thread {}", s.id);
        assert_eq!(thread[0].id, s.message_id);
    }
    let outbox = net.outbox("FR");
    assert_eq!(outbox.len(), sent.len());
    assert!(
        outbox.iter().all(|r| r.state == "delivered"),
        "FR's outbox: {outbox:?}"
    );
    net.block_on(de_store.close());
}

#[test]
fn forged_and_replayed_messages_are_refused_recorded_and_not_stored() {
    let net = Network::start(&["FR", "DE", "NL"]);

    // A genuine delivery first, to replay later.
    let real = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(DEADLINE, "the genuine request is delivered", || {
        delivered(&net, "FR", &real)
    });
    let before: BTreeSet<String> = incoming_ids(&net, "DE").into_iter().collect();

    let fr_key = net.signing_key("FR");
    let to_de = recipients_for(&net, "DE");
    let mut forged_threads = Vec::new();

    // (a) Signed by a key no directory lists.
    let m = submit("FR", "DE", now());
    forged_threads.push(m.thread.clone());
    let sealed = seal_message(&m, &SigningKey::generate(), &to_de).expect("seals");
    assert_refused(
        &net.post_message("DE", sealed.ciphertext),
        ErrorCode::UnknownKey,
        "unknown signing key",
    );

    // (b) One byte of a valid ciphertext flipped; the same bytes unflipped are accepted.
    let genuine = submit("FR", "DE", now());
    let sealed_genuine = seal_message(&genuine, &fr_key, &to_de).expect("seals");
    let mut flipped = sealed_genuine.ciphertext.clone();
    let i = flipped.len() - 20;
    flipped[i] ^= 0x01;
    let answer = net.post_message("DE", flipped);
    let flipped_code: ErrorCode = answer
        .code()
        .unwrap_or_else(|| panic!("flipped byte: no error code in {answer:?}"))
        .parse()
        .expect("a protocol error code");
    assert!(
        matches!(
            flipped_code,
            ErrorCode::MalformedCiphertext | ErrorCode::NotForThisNode
        ),
        "flipped byte: {answer:?}"
    );
    assert_eq!(answer.status, flipped_code.http_status());
    assert!((400..500).contains(&answer.status));
    let accepted = net.post_message("DE", sealed_genuine.ciphertext.clone());
    assert_eq!(accepted.status, 200, "the unflipped message: {accepted:?}");
    assert!(
        accepted.json["custody"]["checkpoint"].is_string(),
        "the answer carries a custody proof: {accepted:?}"
    );
    verify_receipt(
        &accepted.receipt(),
        &net.directory(now()),
        &sealed_genuine.id,
        state("DE"),
        now(),
    )
    .expect("DE's receipt for the genuine message verifies");

    // (c) Encrypted only to another node's key.
    let m = submit("FR", "DE", now());
    forged_threads.push(m.thread.clone());
    let to_nl = net.directory(now()).current_recipients(state("NL"), now());
    let sealed = seal_message(&m, &fr_key, &to_nl).expect("seals");
    assert_refused(
        &net.post_message("DE", sealed.ciphertext),
        ErrorCode::NotForThisNode,
        "encrypted to NL",
    );

    // (d) Encrypted to DE, but addressed to NL.
    let m = submit("FR", "NL", now());
    forged_threads.push(m.thread.clone());
    let sealed = seal_message(&m, &fr_key, &to_de).expect("seals");
    assert_refused(
        &net.post_message("DE", sealed.ciphertext),
        ErrorCode::WrongRecipient,
        "addressed to NL",
    );

    // (e) Over the size limit.
    let oversized = vec![0x61; DEFAULT_MAX_MESSAGE_BYTES + 4096];
    assert_refused(
        &net.post_message("DE", oversized),
        ErrorCode::TooLarge,
        "oversized body",
    );

    // (f) Replays: of the message just accepted, and of the one FR's outbox delivered.
    let replay = net.post_message("DE", sealed_genuine.ciphertext.clone());
    assert_refused(&replay, ErrorCode::DuplicateMessage, "replayed message");
    let first_receipt: Value = accepted.json["receipt"].clone();
    assert_eq!(
        replay.json["receipt"], first_receipt,
        "the duplicate answer carries the original receipt"
    );
    let fr_store = net.store("FR");
    let item = net
        .block_on(fr_store.outbox_item(&real.message_id))
        .expect("FR's store reads")
        .expect("the genuine message is in FR's outbox");
    let fr_receipt = net
        .block_on(fr_store.receipt_for(&real.message_id))
        .expect("FR's store reads")
        .expect("FR holds DE's receipt");
    net.block_on(fr_store.close());
    let replay = net.post_message("DE", item.ciphertext);
    assert_refused(&replay, ErrorCode::DuplicateMessage, "replayed delivery");
    assert_eq!(
        replay.json["receipt"],
        serde_json::from_slice::<Value>(&fr_receipt).expect("receipt JSON"),
        "the duplicate answer carries the receipt FR already holds"
    );

    // (g) A submit whose draft does not validate, sealed without the sender's checks.
    let m = invalid_submit("FR", "DE", now());
    forged_threads.push(m.thread.clone());
    assert_refused(
        &net.post_message("DE", seal_unchecked(&m, &fr_key, &to_de)),
        ErrorCode::InvalidBody,
        "invalid draft",
    );

    // Every refusal is on record with its code.
    let codes = refusal_codes(&net, "DE");
    for code in [
        ErrorCode::UnknownKey,
        flipped_code,
        ErrorCode::NotForThisNode,
        ErrorCode::WrongRecipient,
        ErrorCode::TooLarge,
        ErrorCode::InvalidBody,
    ] {
        assert!(
            codes.iter().any(|c| c == code.as_str()),
            "{} is not among DE's refusals {codes:?}",
            code.as_str()
        );
    }
    let duplicates = codes
        .iter()
        .filter(|c| *c == ErrorCode::DuplicateMessage.as_str())
        .count();
    assert_eq!(duplicates, 2, "both replays are recorded: {codes:?}");

    // Nothing forged was stored; each genuine message is held once.
    let after: BTreeSet<String> = incoming_ids(&net, "DE").into_iter().collect();
    let mut expected = before.clone();
    expected.insert(genuine.thread.clone());
    assert_eq!(
        after, expected,
        "DE's requests grew by the genuine one only"
    );
    let de_store = net.store("DE");
    for thread in &forged_threads {
        let held = net
            .block_on(de_store.thread_messages(thread))
            .expect("DE's store reads");
        assert!(held.is_empty(), "forged thread {thread} has messages");
    }
    for (thread, id) in [
        (&real.id, &real.message_id),
        (&genuine.thread, &sealed_genuine.id.to_string()),
    ] {
        let held = net
            .block_on(de_store.thread_messages(thread))
            .expect("DE's store reads");
        assert_eq!(held.len(), 1, "one copy in thread {thread}");
        assert_eq!(&held[0].id, id);
    }
    net.block_on(de_store.close());
}

#[test]
fn rotated_and_revoked_keys_reach_peers_through_the_directory() {
    let mut net = Network::start(&["FR", "DE"]);
    let fr_dir = net.dir("FR").display().to_string();
    let first = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(DEADLINE, "the first request is delivered", || {
        delivered(&net, "FR", &first)
    });

    // Rotate FR's keys and publish directory version 2.
    let old_key = net.signing_key("FR");
    let old_id = old_key.key_id();
    let before_rotation = now();
    net.run_ok(&["keys", "rotate", "--data", &fr_dir]);
    let new_key = net.signing_key("FR");
    assert_ne!(
        new_key.key_id(),
        old_id,
        "rotation replaced the signing key"
    );
    net.publish_directory(2);
    // The nodes keep running: DE takes up version 2 by itself, which shows in
    // a message signed with FR's new key getting past the signature check.
    wait_for_refusal(
        &net,
        "DE",
        ErrorCode::InvalidBody,
        "DE trusts FR's new key (directory version 2 in force)",
        || {
            seal_unchecked(
                &invalid_submit("FR", "DE", now()),
                &new_key,
                &recipients_for(&net, "DE"),
            )
        },
    );

    let second = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(
        DEADLINE,
        "the request signed with the new key is delivered",
        || delivered(&net, "FR", &second),
    );

    let t = now();
    let directory = net.directory(t);
    assert_eq!(directory.version(), 2);
    let de_store = net.store("DE");
    let stored = |id: &str| {
        net.block_on(de_store.get_message(id))
            .expect("DE's store reads")
            .unwrap_or_else(|| panic!("DE holds message {id}"))
    };
    let second_envelope =
        Envelope::from_json(&net.stored_envelope("DE", &stored(&second.message_id)))
            .expect("the stored envelope parses");
    assert_eq!(second_envelope.signatures[0].keyid, new_key.key_id());
    let new_listed = directory
        .sender_key(state("FR"), &new_key.key_id())
        .expect("the new key is listed");
    assert!(new_listed.valid_until.is_none() && new_listed.revoked_at.is_none());

    // The first message's stored envelope still verifies with the old key the new directory lists.
    let first_envelope_json = net.stored_envelope("DE", &stored(&first.message_id));
    let first_envelope = Envelope::from_json(&first_envelope_json).expect("parses");
    assert_eq!(first_envelope.signatures[0].keyid, old_id);
    let old_listed = directory
        .sender_key(state("FR"), &old_id)
        .expect("the old key stays listed after rotation");
    assert!(old_listed.revoked_at.is_none());
    let verified = first_envelope
        .verify(|kid| (kid == old_id).then_some(old_listed.key))
        .expect("the first message verifies with the old key");
    assert_eq!(
        MessageId::of_payload(&verified.payload).as_str(),
        first.message_id
    );
    let first_message = Message::from_json(&verified.payload).expect("the payload is a message");
    let until = old_listed
        .valid_until
        .expect("the old key's validity ended");
    assert!(old_listed.valid_from <= first_message.created_at);
    assert!(
        first_message.created_at < until,
        "signed at {} inside the old key's validity (until {until})",
        first_message.created_at
    );
    verify_message_envelope(first_envelope_json.clone(), &directory, state("DE"), t)
        .expect("the first message passes every check against directory version 2");

    // FR's running server took up its rotated keys: it opens a message
    // encrypted to its new key only and signs the receipt with its new key.
    let de_key = net.signing_key("DE");
    let to_new_fr = directory.current_recipients(state("FR"), t);
    assert_eq!(
        to_new_fr.len(),
        1,
        "only FR's new encryption key is current"
    );
    wait_for_refusal(
        &net,
        "FR",
        ErrorCode::InvalidBody,
        "FR's server opens messages encrypted to its new key",
        || seal_unchecked(&invalid_submit("DE", "FR", now()), &de_key, &to_new_fr),
    );
    let to_fr = seal_message(&submit("DE", "FR", now()), &de_key, &to_new_fr).expect("seals");
    let answer = net.post_message("FR", to_fr.ciphertext);
    assert_eq!(answer.status, 200, "FR accepts DE's message: {answer:?}");
    verify_receipt(&answer.receipt(), &directory, &to_fr.id, state("FR"), now())
        .expect("FR's receipt verifies against directory version 2");
    let receipt = Envelope::from_json(&answer.receipt()).expect("the receipt is an envelope");
    assert_eq!(receipt.signatures[0].keyid, new_key.key_id());

    // The old key now signs nothing new; what it signed before the rotation still counts.
    let to_de = recipients_for(&net, "DE");
    let late = seal_message(&submit("FR", "DE", now()), &old_key, &to_de).expect("seals");
    assert_refused(
        &net.post_message("DE", late.ciphertext),
        ErrorCode::KeyNotValidAtTime,
        "old key, current time",
    );
    let in_flight_message = submit("FR", "DE", before_rotation);
    let in_flight = seal_message(&in_flight_message, &old_key, &to_de).expect("seals");
    let answer = net.post_message("DE", in_flight.ciphertext);
    assert_eq!(
        answer.status, 200,
        "a message signed before the rotation is accepted: {answer:?}"
    );

    // Revoke the old key and publish directory version 3.
    net.run_ok(&["keys", "revoke", &old_id, "--data", &fr_dir]);
    net.publish_directory(3);
    wait_for_refusal(
        &net,
        "DE",
        ErrorCode::KeyRevoked,
        "DE refuses FR's revoked key (directory version 3 in force)",
        || {
            seal_unchecked(
                &invalid_submit("FR", "DE", before_rotation),
                &old_key,
                &to_de,
            )
        },
    );
    let directory = net.directory(now());
    assert_eq!(directory.version(), 3);
    assert!(
        directory
            .sender_key(state("FR"), &old_id)
            .expect("a revoked key stays listed")
            .revoked_at
            .is_some()
    );

    let revoked =
        seal_message(&submit("FR", "DE", before_rotation), &old_key, &to_de).expect("seals");
    assert_refused(
        &net.post_message("DE", revoked.ciphertext),
        ErrorCode::KeyRevoked,
        "revoked key, time inside its old validity",
    );
    let recheck = verify_message_envelope(first_envelope_json, &directory, state("DE"), now())
        .expect_err("a revoked key verifies nothing");
    assert_eq!(recheck.code(), ErrorCode::KeyRevoked);

    // FR keeps working with its new key.
    let third = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(
        DEADLINE,
        "a request after the revocation is delivered",
        || delivered(&net, "FR", &third),
    );

    // DE holds the accepted requests and nothing of the refused messages and probes.
    let held: BTreeSet<String> = incoming_ids(&net, "DE").into_iter().collect();
    let accepted: BTreeSet<String> = [
        first.id.clone(),
        second.id.clone(),
        in_flight_message.thread.clone(),
        third.id.clone(),
    ]
    .into();
    assert_eq!(held, accepted);

    let codes = refusal_codes(&net, "DE");
    for code in [ErrorCode::KeyNotValidAtTime, ErrorCode::KeyRevoked] {
        assert!(
            codes.iter().any(|c| c == code.as_str()),
            "{} is not among DE's refusals {codes:?}",
            code.as_str()
        );
    }
    net.block_on(de_store.close());
}

#[test]
fn a_directory_that_does_not_follow_the_one_held_is_not_imported() {
    let net = Network::start(&["FR", "DE"]);
    let de_dir = net.dir("DE").display().to_string();
    let held_version = || {
        net.run_ok(&["directory", "show", "--data", &de_dir])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(held_version().starts_with("Directory version 1 "));

    // The same version again is no successor.
    let v1 = net.scratch("directory-v1.json").display().to_string();
    let again = net.run(&["directory", "import", &v1, "--data", &de_dir]);
    assert!(!again.status.success(), "version 1 imported twice");

    // A newer list, registry-signed and with valid self-signatures, in which
    // FR's entry no longer lists the key FR signs with (a registry putting
    // another key in FR's mouth): the succession rule of
    // docs/formats/directory.md section 5 refuses it.
    let t = now();
    let held = net.directory(t);
    let impostor = SigningKey::generate();
    let mut entry = held.entry(state("FR")).expect("FR's entry").clone();
    entry.signing_keys = vec![KeyValidity::new(impostor.verifying_key(), t)];
    entry.issued_at = t;
    let list = DirectoryList::new(
        2,
        "test registry",
        t,
        t + time::Duration::days(30),
        vec![
            entry.sign(&impostor).expect("the entry signs"),
            held.signed_entry(state("DE")).expect("DE's entry").clone(),
        ],
    );
    let signed = list
        .sign(&net.registry_signing_key())
        .expect("the list signs");
    let successor =
        Directory::verify(&signed, &net.registry_key(), t).expect("the list verifies on its own");
    let rule = successor
        .check_succession(&held)
        .expect_err("the protocol's succession rule refuses it");
    assert!(rule.to_string().contains("signing key"), "{rule}");

    let file = net.scratch("directory-v2-dropped-key.json");
    std::fs::write(&file, &signed).expect("the list is written");
    let file = file.display().to_string();
    let import = net.run(&["directory", "import", &file, "--data", &de_dir]);
    assert!(
        !import.status.success(),
        "DE imported a directory that drops FR's signing key:\n{}",
        String::from_utf8_lossy(&import.stdout)
    );
    assert!(
        held_version().starts_with("Directory version 1 "),
        "DE keeps version 1"
    );
}

#[test]
fn a_node_on_postgresql_exchanges_with_a_node_on_sqlite() {
    let Some(db) = TempDatabase::from_env() else {
        return;
    };
    let url = db.url();
    let net = Network::start_with(&["FR", "DE"], &[("DE", url.as_str())]);
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    assert_eq!(sent.delivery, "delivered", "{sent:?}");
    let on_de = net.requests("DE");
    assert_eq!(on_de.len(), 1);
    assert_eq!(on_de[0]["id"], sent.id.as_str());
    assert!(
        !net.dir("DE").join("custos.db").exists(),
        "DE must keep its data in PostgreSQL, not SQLite"
    );
    drop(net);
}

/// The outbox, the refusal log, the token list and the key changes print
/// the node's views as JSON with `--json`, agreeing with the text listings,
/// and a key change is in the custody ledger under the operator's name.
#[test]
fn lists_and_key_changes_print_json() {
    let net = Network::start(&["FR", "DE"]);
    let fr_dir = net.dir("FR").display().to_string();
    let de_dir = net.dir("DE").display().to_string();
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    wait_until(DEADLINE, "the request is delivered", || {
        delivered(&net, "FR", &sent)
    });

    let outbox: Value =
        serde_json::from_str(&net.run_ok(&["outbox", "list", "--data", &fr_dir, "--json"]))
            .expect("`outbox list --json` prints JSON");
    let rows = outbox.as_array().expect("a JSON list");
    assert_eq!(rows.len(), net.outbox("FR").len());
    let row = rows
        .iter()
        .find(|r| r["message_id"] == sent.message_id.as_str())
        .expect("the sent message is listed");
    assert_eq!(
        (row["state"].as_str(), row["recipient"].as_str()),
        (Some("delivered"), Some("DE"))
    );
    assert!(row["delivered_at"].is_string(), "{row}");

    // A body that is no message, with a newline and an escape sequence in it.
    let junk = b"not an envelope\n\x1b[2K".to_vec();
    let junk_len = junk.len();
    let answer = net.post_message("DE", junk);
    assert!(answer.code().is_some(), "the junk is refused");
    let refusals: Value =
        serde_json::from_str(&net.run_ok(&["refusals", "--data", &de_dir, "--json"]))
            .expect("`refusals --json` prints JSON");
    let codes: Vec<_> = refusals
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|r| r["code"].as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(codes, refusal_codes(&net, "DE"));
    assert_eq!(codes.first().map(String::as_str), answer.code());
    assert_eq!(refusals[0]["body_len"], junk_len);

    net.run_ok(&[
        "user",
        "add",
        "desk",
        "--roles",
        "caseworker",
        "--data",
        &de_dir,
    ]);
    let secret = net.run_ok(&[
        "token",
        "create",
        "--data",
        &de_dir,
        "--user",
        "desk",
        "--name",
        "case desk",
    ]);
    let tokens: Value =
        serde_json::from_str(&net.run_ok(&["token", "list", "--data", &de_dir, "--json"]))
            .expect("`token list --json` prints JSON");
    assert_eq!(tokens.as_array().map(Vec::len), Some(1));
    assert_eq!(tokens[0]["name"], "case desk");
    assert!(tokens[0]["revoked_at"].is_null());
    assert!(
        !tokens.to_string().contains(secret.trim()),
        "a token's secret is never listed"
    );

    let old_id = net.signing_key("FR").key_id();
    let rotated: Value =
        serde_json::from_str(&net.run_ok(&["keys", "rotate", "--data", &fr_dir, "--json"]))
            .expect("`keys rotate --json` prints JSON");
    assert_eq!(rotated["previous_signing_key_id"], old_id.as_str());
    assert_eq!(
        rotated["signing_key_id"],
        net.signing_key("FR").key_id().as_str()
    );
    let revoked: Value = serde_json::from_str(
        &net.run_ok(&["keys", "revoke", &old_id, "--data", &fr_dir, "--json"]),
    )
    .expect("`keys revoke --json` prints JSON");
    assert_eq!(revoked["key_id"], old_id.as_str());
    assert!(revoked["keys"]["signing"][0]["revoked_at"].is_string());

    // Both changes reach FR's ledger (its running sequencer appends them).
    let store = net.store("FR");
    let mut changes = Vec::new();
    wait_until(DEADLINE, "the key changes are in the ledger", || {
        let entries = net
            .block_on(store.ledger_entries(0, 10_000))
            .expect("the ledger is readable");
        changes = entries
            .iter()
            .filter_map(|e| serde_json::from_slice::<Value>(&e.entry).ok())
            .filter(|e| e["kind"] == "keys-rotated" || e["kind"] == "key-revoked")
            .collect();
        changes.len() == 2
    });
    assert_eq!(changes[0]["kind"], "keys-rotated");
    assert_eq!(changes[0]["detail"]["signing"]["from"], old_id.as_str());
    assert_eq!(changes[1]["detail"]["key_id"], old_id.as_str());
    for c in &changes {
        assert!(
            c["actor"].as_str().is_some_and(|a| a.starts_with("cli:")),
            "{c}"
        );
    }
}
