//! Wire types of evidence transfer between nodes: the upload status a
//! receiving node reports for a package, and the signed evidence receipt it
//! returns once it has checked every segment and accepted the package.
//!
//! The transfer protocol itself (which endpoint takes what) is described in
//! `docs/formats/evidence.md`, section "Transfer between nodes". Refusals use
//! the ordinary [`crate::ErrorResponse`] body with the codes of
//! [`crate::ErrorCode`].

use custos_model::StateCode;
use custos_seal::{Envelope, SigningKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::directory::Directory;
use crate::error::ProtocolError;
use crate::json::{self, PROTOCOL_VERSION};
use crate::receipt::{check_not_ahead, check_signer, invalid, open_signed};
use crate::timestamp;

/// DSSE payload type of an evidence receipt.
pub const EVIDENCE_RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.custos.evidence-receipt.v1+json";

/// What a receiving node holds of one package: the answer to `POST
/// /federation/v1/evidence` and `GET /federation/v1/evidence/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadStatus {
    /// The package id, `sha256:<hex>` of the manifest's payload.
    pub package: String,
    /// How many segments the manifest lists.
    pub segments: u32,
    /// The indexes of the segments the receiver has checked and kept, ascending.
    pub verified: Vec<u32>,
    /// Every segment is verified.
    pub complete: bool,
    /// The package was accepted; `receipt` holds the signed receipt.
    pub accepted: bool,
    /// The signed evidence receipt (DSSE JSON object), once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<serde_json::Value>,
    /// A proof bundle showing the receiver's `evidence-received` ledger
    /// entry, when it could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custody: Option<serde_json::Value>,
}

impl UploadStatus {
    /// The indexes the receiver does not hold yet, ascending, for a package
    /// whose manifest lists `listed` segments. `None` when the status counts
    /// another number of segments: the answer is not about this package, and
    /// its count (up to 2^32 - 1, from the peer) is never walked.
    pub fn missing(&self, listed: usize) -> Option<Vec<u32>> {
        if usize::try_from(self.segments).ok() != Some(listed) {
            return None;
        }
        let mut held = self.verified.iter().copied().peekable();
        let mut out = Vec::new();
        for i in 0..self.segments {
            while held.peek().is_some_and(|&h| h < i) {
                held.next();
            }
            if held.peek() == Some(&i) {
                held.next();
            } else {
                out.push(i);
            }
        }
        Some(out)
    }
}

/// The body of a `package-incomplete` refusal: the usual error plus the
/// indexes still missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncompleteAnswer {
    pub error: crate::ErrorDetail,
    pub missing: Vec<u32>,
}

/// "`receiver` accepted evidence package `package` (for request `request`)
/// from `sender` at `received_at`: `segments` segments, `bytes` bytes of
/// ciphertext, every one matching the signed manifest."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceReceipt {
    /// Format version: [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The package id, `sha256:<hex>` of the manifest's payload.
    pub package: String,
    /// The request thread the evidence answers.
    pub request: String,
    pub sender: StateCode,
    pub receiver: StateCode,
    /// When the receiver accepted the package, by its clock.
    #[serde(with = "timestamp::micros")]
    pub received_at: OffsetDateTime,
    /// Ciphertext bytes received (the sum of the segment sizes).
    pub bytes: u64,
    pub segments: u32,
}

/// Whether `text` is a package id: `sha256:` and 64 lower-case hex digits.
pub fn is_package_id(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The hex part of a package id (`sha256:<hex>` or the bare hex), if it is one.
pub fn package_hex(text: &str) -> Option<&str> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// Signs an evidence receipt with the receiver's signing key; returns the
/// DSSE envelope JSON.
pub fn sign_evidence_receipt(
    receipt: &EvidenceReceipt,
    key: &SigningKey,
) -> Result<Vec<u8>, ProtocolError> {
    if receipt.v != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion {
            what: "evidence receipt".to_owned(),
            found: receipt.v.to_string(),
        });
    }
    if !is_package_id(&receipt.package) {
        return Err(invalid(format!(
            "field `package`: {:?} is not a package id",
            receipt.package
        )));
    }
    let payload = json::canonical("evidence receipt", receipt)?;
    Ok(Envelope::sign(EVIDENCE_RECEIPT_PAYLOAD_TYPE, &payload, key).to_json())
}

fn diagnose(object: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    json::field::<String>(object, "package")
        .or_else(|| json::field::<String>(object, "request"))
        .or_else(|| json::field::<StateCode>(object, "sender"))
        .or_else(|| json::field::<StateCode>(object, "receiver"))
        .or_else(|| json::field_by(object, "received_at", json::timestamp))
        .or_else(|| json::field::<u64>(object, "bytes"))
        .or_else(|| json::field::<u32>(object, "segments"))
}

/// Verifies an evidence receipt returned for `expected_package` by the node
/// of `expected_receiver`: envelope and payload type, fields, a signature by
/// a key the directory lists for the receiver (not revoked, valid at
/// `received_at`), `received_at` not ahead of `now` beyond the allowed clock
/// difference, and the package and receiver expected.
pub fn verify_evidence_receipt(
    envelope_json: &[u8],
    directory: &Directory,
    expected_package: &str,
    expected_receiver: StateCode,
    now: OffsetDateTime,
) -> Result<EvidenceReceipt, ProtocolError> {
    let (envelope, receipt): (_, EvidenceReceipt) = open_signed(
        envelope_json,
        EVIDENCE_RECEIPT_PAYLOAD_TYPE,
        "evidence receipt",
        diagnose,
    )?;
    check_signer(
        &envelope,
        directory,
        expected_receiver,
        receipt.receiver,
        receipt.received_at,
        now,
    )?;
    if receipt.package != expected_package {
        return Err(invalid(format!(
            "field `package` is {}, expected {expected_package}",
            receipt.package
        )));
    }
    check_not_ahead(receipt.received_at, now)?;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(segments: u32, verified: &[u32]) -> UploadStatus {
        UploadStatus {
            package: format!("sha256:{}", "a".repeat(64)),
            segments,
            verified: verified.to_vec(),
            complete: false,
            accepted: false,
            receipt: None,
            custody: None,
        }
    }

    #[test]
    fn missing_is_the_complement_of_verified() {
        assert_eq!(status(4, &[]).missing(4), Some(vec![0, 1, 2, 3]));
        assert_eq!(status(4, &[0, 2]).missing(4), Some(vec![1, 3]));
        assert_eq!(status(3, &[0, 1, 2]).missing(3), Some(Vec::<u32>::new()));
        // Out-of-range indexes in a peer's answer do not disturb the result.
        assert_eq!(status(2, &[1, 7]).missing(2), Some(vec![0]));
    }

    /// Found by the `segment_upload` fuzz target: a receiver answering
    /// `"segments": 4294967295` made the sender build a list of four
    /// billion indexes (16 GiB) before looking at its own manifest.
    #[test]
    fn a_status_counting_other_segments_than_the_manifest_is_refused() {
        let huge = status(u32::MAX, &[]);
        assert_eq!(huge.missing(3), None);
        assert_eq!(status(2, &[]).missing(3), None);
        assert_eq!(status(4, &[]).missing(3), None);
        assert_eq!(status(0, &[]).missing(0), Some(Vec::new()));
    }

    #[test]
    fn package_ids_are_recognised() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_package_id(&format!("sha256:{hex}")));
        assert!(!is_package_id(&hex));
        assert!(!is_package_id(&format!("sha256:{}", hex.to_uppercase())));
        assert_eq!(package_hex(&hex), Some(hex.as_str()));
        assert_eq!(package_hex(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(package_hex("../../etc"), None);
    }

    #[test]
    fn a_signed_receipt_reads_back_and_a_changed_one_does_not() {
        let key = SigningKey::from_seed(&[7; 32]);
        let receipt = EvidenceReceipt {
            v: 1,
            package: format!("sha256:{}", "b".repeat(64)),
            request: "thr-00000000-0000-4000-8000-000000000000".into(),
            sender: "DE".parse().unwrap(),
            receiver: "FR".parse().unwrap(),
            received_at: timestamp::parse("2026-11-28T21:00:00.123456Z").unwrap(),
            bytes: 123,
            segments: 2,
        };
        let signed = sign_evidence_receipt(&receipt, &key).unwrap();
        let envelope = Envelope::from_json(&signed).unwrap();
        assert_eq!(envelope.payload_type, EVIDENCE_RECEIPT_PAYLOAD_TYPE);
        let back: EvidenceReceipt = serde_json::from_slice(&envelope.payload).unwrap();
        assert_eq!(back, receipt);
        let mut bad = receipt.clone();
        bad.package = "sha256:xyz".into();
        assert!(sign_evidence_receipt(&bad, &key).is_err());
    }
}
