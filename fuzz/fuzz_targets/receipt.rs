//! Receipts (`crates/protocol`): what a sender does with the signed receipt
//! a receiver answers, for messages (`verify_receipt`) and for evidence
//! packages (`verify_evidence_receipt`). Even modes take the bytes as the
//! envelope JSON received; odd modes sign them as the receipt payload with
//! Germany's real key, so that the fields, signer and time checks see
//! fuzzer-made payloads. The expected message id or package is read from
//! the payload itself where it can be, so that the checks run to the end.
#![no_main]

use custos_protocol::evidence_transfer::{EVIDENCE_RECEIPT_PAYLOAD_TYPE, verify_evidence_receipt};
use custos_protocol::{MessageId, RECEIPT_PAYLOAD_TYPE, verify_receipt};
use custos_seal::Envelope;
use libfuzzer_sys::fuzz_target;

/// The string member `name` of `payload`, if it is a JSON object with one.
fn member(payload: &[u8], name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let w = custos_fuzz::world();
    let de = w.de.state;
    let now = custos_fuzz::NOW;
    let (mode, rest) = custos_fuzz::split(data);
    let fallback = MessageId::of_payload(b"{}");
    match mode % 4 {
        0 => {
            let _ = verify_receipt(rest, &w.directory, &fallback, de, now);
        }
        1 => {
            let envelope = Envelope::sign(RECEIPT_PAYLOAD_TYPE, rest, &w.de.signing).to_json();
            let expected = member(rest, "message_id")
                .and_then(|id| MessageId::parse(&id).ok())
                .unwrap_or(fallback);
            if let Ok(receipt) = verify_receipt(&envelope, &w.directory, &expected, de, now) {
                assert_eq!(receipt.message_id, expected);
                assert_eq!(receipt.receiver, de);
            }
        }
        2 => {
            let _ = verify_evidence_receipt(rest, &w.directory, "sha256:00", de, now);
        }
        _ => {
            let envelope =
                Envelope::sign(EVIDENCE_RECEIPT_PAYLOAD_TYPE, rest, &w.de.signing).to_json();
            let expected = member(rest, "package").unwrap_or_default();
            if let Ok(receipt) =
                verify_evidence_receipt(&envelope, &w.directory, &expected, de, now)
            {
                assert_eq!(receipt.package, expected);
                assert_eq!(receipt.receiver, de);
            }
        }
    }
});
