//! Writes the generated part of the seed corpora under `fuzz/corpus/`: valid
//! signed objects made with the fixed keys of the fuzz fixtures, each
//! prefixed with the mode byte of the target that reads it. The other seeds
//! are copies of the crates' own test vectors and of `docs/` (see
//! `docs/fuzzing.md`). Run from `fuzz/`: `cargo run --example seeds`.

use std::fs;
use std::path::Path;

use custos_fuzz::{LOG_NAME, NOW, WITNESS_NAME, world};
use custos_ledger::{
    AddCheckpoint, Checkpoint, ForkEvidence, ForkKind, MemoryLog, ProofBundle, WitnessDecision,
    cosign, sign_checkpoint,
};
use custos_model::RequestKind;
use custos_protocol::evidence::{
    Content, FileEntry, MANIFEST_PAYLOAD_TYPE, MIN_SEGMENT_SIZE, Manifest, Segment, SegmentHash,
    Totals, sign_manifest, verify_manifest,
};
use custos_protocol::evidence_transfer::{
    EvidenceReceipt, IncompleteAnswer, UploadStatus, sign_evidence_receipt,
};
use custos_protocol::{
    ErrorDetail, Message, MessageKind, RECEIPT_PAYLOAD_TYPE, Receipt, new_thread_id, seal_message,
    sign_receipt, verify_message_envelope, verify_receipt,
};
use custos_seal::{Envelope, SigningKey};
use time::Duration;
use time::macros::datetime;

fn write(target: &str, name: &str, mode: Option<u8>, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus folder");
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.extend(mode);
    out.extend_from_slice(bytes);
    fs::write(dir.join(name), out).expect("write a seed");
}

fn payload(envelope_json: &[u8]) -> Vec<u8> {
    Envelope::from_json(envelope_json)
        .expect("an envelope made here")
        .payload
}

fn main() {
    let w = world();
    let (fr, de) = (w.fr.state, w.de.state);
    let thread = new_thread_id(uuid_like());

    // Messages: a submit and an acknowledge from France to Germany.
    let text = custos_model::template::render(RequestKind::Preservation);
    let mut draft = custos_model::validate::parse(&text).expect("the template parses");
    draft["requesting_state"] = "FR".into();
    draft["requested_state"] = "DE".into();
    let created = NOW - Duration::minutes(1);
    let submit = Message::submit(fr, de, thread.clone(), None, created, draft);
    let sealed = seal_message(&submit, &w.fr.signing, &[w.de.encryption.recipient()])
        .expect("seal the submit");
    write("message", "submit.age", Some(0), &sealed.ciphertext);
    write(
        "message",
        "submit.dsse.json",
        Some(1),
        &sealed.envelope_json,
    );
    let kind_mode = |kind: MessageKind| {
        let i = MessageKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("a listed kind");
        // The target signs as `ALL[mode % ALL.len()]` for modes 2 and up.
        u8::try_from(MessageKind::ALL.len() + i).expect("a small mode")
    };
    // Signed again the way the target signs its input, the payload passes
    // every check: the target's signed mode reaches the end.
    let again = Envelope::sign(
        MessageKind::Submit.payload_type(),
        &payload(&sealed.envelope_json),
        &w.fr.signing,
    );
    verify_message_envelope(again.to_json(), &w.directory, de, NOW).expect("the seed opens");
    write(
        "message",
        "submit.payload.json",
        Some(kind_mode(MessageKind::Submit)),
        &payload(&sealed.envelope_json),
    );
    let ack = Message::with_note(
        MessageKind::Acknowledge,
        fr,
        de,
        thread.clone(),
        sealed.id.clone(),
        created,
        Some("Received.".into()),
    )
    .expect("an acknowledge");
    write(
        "message",
        "acknowledge.payload.json",
        Some(kind_mode(MessageKind::Acknowledge)),
        &ack.to_canonical_json().expect("canonical"),
    );

    // Envelopes: the signed submit as it is.
    write("envelope", "submit.dsse.json", None, &sealed.envelope_json);

    // Receipts for that message and for an evidence package.
    let receipt = Receipt {
        v: 1,
        message_id: sealed.id.clone(),
        thread: thread.clone(),
        sender: fr,
        receiver: de,
        received_at: NOW - Duration::seconds(30),
    };
    let signed = sign_receipt(&receipt, &w.de.signing).expect("sign a receipt");
    write("receipt", "receipt.dsse.json", Some(0), &signed);
    let again = Envelope::sign(RECEIPT_PAYLOAD_TYPE, &payload(&signed), &w.de.signing);
    verify_receipt(&again.to_json(), &w.directory, &sealed.id, de, NOW).expect("verifies");
    write(
        "receipt",
        "receipt.payload.json",
        Some(1),
        &payload(&signed),
    );
    let package = format!("sha256:{}", "ab".repeat(32));
    let evidence_receipt = EvidenceReceipt {
        v: 1,
        package: package.clone(),
        request: thread.clone(),
        sender: fr,
        receiver: de,
        received_at: NOW - Duration::seconds(30),
        bytes: 4296,
        segments: 1,
    };
    let signed = sign_evidence_receipt(&evidence_receipt, &w.de.signing).expect("sign");
    write("receipt", "evidence-receipt.dsse.json", Some(2), &signed);
    write(
        "receipt",
        "evidence-receipt.payload.json",
        Some(3),
        &payload(&signed),
    );

    // Directory: the signed list, its payload, an entry's payload and envelope.
    write("directory", "list.dsse.json", Some(0), &w.signed_list);
    write(
        "directory",
        "list.payload.json",
        Some(1),
        &payload(&w.signed_list),
    );
    let entry = custos_fuzz::entry(&w.fr)
        .sign(&w.fr.signing)
        .expect("sign the entry");
    write("directory", "entry.payload.json", Some(2), &entry.payload);
    write("directory", "entry.dsse.json", Some(3), &entry.to_json());

    // Evidence manifests, version 2 and version 1, from Germany to France.
    let hex = "ab".repeat(32);
    let mut manifest = Manifest {
        v: 2,
        request: thread.clone(),
        sender: de,
        recipients: vec![fr],
        created_at: datetime!(2026-11-28 09:00:00.123456 UTC),
        use_limits: "Only for case 12/2026".into(),
        confidentiality: serde_json::json!({"required": true}),
        files: vec![
            FileEntry {
                path: "disk/image.dd".into(),
                size: 3,
                sha256: hex.clone(),
                mtime: datetime!(2026-11-20 08:00 UTC),
            },
            FileEntry {
                path: "notes.txt".into(),
                size: 0,
                sha256: hex.clone(),
                mtime: datetime!(2026-11-20 08:00 UTC),
            },
        ],
        totals: Totals { files: 2, bytes: 3 },
        content: Content {
            format: "tar".into(),
            size: 4096,
            segment_size: MIN_SEGMENT_SIZE,
        },
        segments: vec![Segment::new(
            0,
            4096,
            4296,
            SegmentHash::Blake3,
            hex.clone(),
        )],
    };
    let signed = sign_manifest(&manifest, &w.de.signing).expect("sign the manifest");
    write("manifest", "v2.dsse.json", Some(0), &signed);
    let again = Envelope::sign(MANIFEST_PAYLOAD_TYPE, &payload(&signed), &w.de.signing);
    verify_manifest(&again.to_json(), &w.directory).expect("the manifest seed verifies");
    write("manifest", "v2.payload.json", Some(1), &payload(&signed));
    manifest.v = 1;
    manifest.segments = vec![Segment::new(
        0,
        4096,
        4296,
        SegmentHash::Sha256,
        hex.clone(),
    )];
    let signed = sign_manifest(&manifest, &w.de.signing).expect("sign the manifest");
    write("manifest", "v1.dsse.json", Some(0), &signed);
    write("manifest", "v1.payload.json", Some(2), &payload(&signed));

    // Transfer: answers, an upload URL's parts, a segment file.
    let status = UploadStatus {
        package: package.clone(),
        segments: 3,
        verified: vec![0, 2],
        complete: false,
        accepted: false,
        receipt: None,
        custody: None,
    };
    let json = serde_json::to_vec(&status).expect("status JSON");
    write("segment_upload", "status.json", Some(0), &json);
    let incomplete = IncompleteAnswer {
        error: ErrorDetail {
            code: "package-incomplete".into(),
            message: "segment 1 is missing".into(),
        },
        missing: vec![1],
    };
    let json = serde_json::to_vec(&incomplete).expect("answer JSON");
    write("segment_upload", "incomplete.json", Some(0), &json);
    write(
        "segment_upload",
        "url.txt",
        Some(1),
        format!("{package}\x002").as_bytes(),
    );
    let segment = custos_seal::encrypt(&[7u8; 4096], &[w.de.encryption.recipient()])
        .expect("encrypt a segment");
    write("segment_upload", "segment.age", Some(2), &segment);

    // Ledger: a log of five entries, checkpoints at sizes 3 and 5.
    let entries: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("{{\"entry\":{i}}}").into_bytes())
        .collect();
    let log = MemoryLog::from_entries(&entries[..3]).expect("a log");
    let checkpoint3 = Checkpoint::new(LOG_NAME, log.size(), log.root()).expect("a checkpoint");
    let note3 = sign_checkpoint(&checkpoint3, LOG_NAME, &w.log_key).expect("sign");
    let log = MemoryLog::from_entries(&entries).expect("a log");
    let checkpoint5 = Checkpoint::new(LOG_NAME, log.size(), log.root()).expect("a checkpoint");
    let body5 = checkpoint5.to_note_body();
    let note5 = sign_checkpoint(&checkpoint5, LOG_NAME, &w.log_key).expect("sign");
    let witness_key = SigningKey::from_seed(&[5; 32]);
    let line = cosign(&body5, WITNESS_NAME, &witness_key, 1_764_000_000).expect("cosign");
    let cosigned = format!("{note5}{line}");

    write("note", "checkpoint.note", Some(0), cosigned.as_bytes());
    write("note", "text.txt", Some(1), body5.as_bytes());
    write(
        "note",
        "vkey.txt",
        Some(0),
        w.log_verifier.to_text().as_bytes(),
    );
    write("checkpoint", "cosigned.note", Some(0), cosigned.as_bytes());
    write("checkpoint", "body.txt", Some(1), body5.as_bytes());

    let line_only = line.strip_suffix('\n').unwrap_or(&line);
    write(
        "cosignature",
        "line.txt",
        Some(0),
        format!("{body5}\0{line_only}").as_bytes(),
    );
    write("cosignature", "body.txt", Some(1), body5.as_bytes());
    let request = AddCheckpoint {
        old_size: 3,
        proof: log.prove_consistency(3, 5).expect("a proof"),
        note: note5.clone(),
    };
    let held = MemoryLog::from_entries(&entries[..3]).expect("a log");
    let held = custos_ledger::WitnessedCheckpoint {
        origin: LOG_NAME.into(),
        size: 3,
        root: held.root(),
        note: note3.clone(),
    };
    let decision = w
        .witness
        .add_checkpoint(&w.log_verifier, Some(&held), &request, 1_764_000_000)
        .expect("a decision");
    assert!(matches!(decision, WitnessDecision::Cosign { .. }));
    let json = serde_json::to_vec(&request).expect("request JSON");
    write("cosignature", "add-checkpoint.json", Some(2), &json);
    write(
        "cosignature",
        "checkpoint-body.txt",
        Some(3),
        body5.as_bytes(),
    );
    let other = MemoryLog::from_entries([b"x".as_slice(), b"y", b"z"]).expect("a log");
    let forked = Checkpoint::new(LOG_NAME, 3, other.root()).expect("a checkpoint");
    let evidence = ForkEvidence {
        v: 1,
        kind: ForkKind::SameSizeDifferentRoots,
        origin: LOG_NAME.into(),
        earlier_note: note3,
        later_note: sign_checkpoint(&forked, LOG_NAME, &w.log_key).expect("sign"),
        proof: Vec::new(),
    };
    let json = serde_json::to_vec(&evidence).expect("evidence JSON");
    write("cosignature", "fork-evidence.json", Some(4), &json);

    let bundle =
        ProofBundle::build(entries[1].clone(), 1, cosigned.clone(), &log).expect("a bundle");
    bundle
        .verify_with(&w.log_verifier, &[w.witness.verifier_key().clone()], 1)
        .expect("the bundle seed verifies with its cosignature");
    write(
        "bundle",
        "bundle.json",
        Some(0),
        bundle.to_json().as_bytes(),
    );
    write(
        "bundle",
        "bundle-resigned.json",
        Some(1),
        bundle.to_json().as_bytes(),
    );
}

/// A fixed thread id's UUID.
fn uuid_like() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x6f1c_0b7e_2d4a_4c8e_9f10_3a5b_7c9d_e1f2)
}
