//! The typed answers of the federation endpoints that carry more than an
//! error: what a receiving node returns for a delivered message, a witness
//! for a checkpoint, and an evidence receiver for a segment. The server side
//! (`custos-http`) serializes them and the client side (the node's outbox,
//! witnessing and evidence transfer) reads them back, so the two ends share
//! one definition of each body. The JSON forms are described in
//! `docs/formats/messages.md`, `docs/formats/ledger.md` and
//! `docs/formats/evidence.md`; refusals use [`crate::ErrorResponse`].

use serde::{Deserialize, Serialize};

/// `200` answer to `POST /federation/v1/messages`: the receiver's signed
/// receipt and, when it could be made, a proof bundle showing the message
/// in the receiver's custody ledger (`null` otherwise).
///
/// A message received before is answered `409 duplicate-message` with an
/// [`crate::ErrorResponse`] that carries the original receipt instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageAccepted {
    /// The receipt envelope (DSSE JSON object).
    pub receipt: serde_json::Value,
    /// The custody proof bundle (ledger proof-bundle JSON), or `null`.
    pub custody: Option<serde_json::Value>,
}

/// The answer to `POST /federation/v1/witness`, tagged by `outcome`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum WitnessAnswer {
    /// `200`: consistent; the cosignature line to append to the checkpoint.
    Cosigned { cosignature: String },
    /// `409`: the proof must start from this size (or the checkpoint is
    /// older than the one the witness holds).
    Conflict { witness_size: u64 },
    /// `409`: the log contradicted an earlier checkpoint; the evidence is kept.
    Fork { evidence: serde_json::Value },
}

impl WitnessAnswer {
    /// The HTTP status the witness answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            WitnessAnswer::Cosigned { .. } => 200,
            WitnessAnswer::Conflict { .. } | WitnessAnswer::Fork { .. } => 409,
        }
    }
}

/// `200` answer to `PUT /federation/v1/evidence/{id}/segments/{n}`: the
/// segment was checked against the manifest and kept (or had been before).
/// `package` and `segment` repeat the path's parameters as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentVerified {
    pub package: String,
    pub segment: String,
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bodies keep the field names the format documents give.
    #[test]
    fn the_json_forms_are_the_documented_ones() {
        let accepted = MessageAccepted {
            receipt: serde_json::json!({ "payloadType": "x" }),
            custody: None,
        };
        assert_eq!(
            serde_json::to_string(&accepted).unwrap_or_default(),
            r#"{"receipt":{"payloadType":"x"},"custody":null}"#
        );
        let cosigned = WitnessAnswer::Cosigned {
            cosignature: "— w abc\n".into(),
        };
        assert_eq!(
            serde_json::to_string(&cosigned).unwrap_or_default(),
            r#"{"outcome":"cosigned","cosignature":"— w abc\n"}"#
        );
        let conflict: WitnessAnswer =
            serde_json::from_str(r#"{"outcome":"conflict","witness_size":7}"#)
                .unwrap_or(WitnessAnswer::Conflict { witness_size: 0 });
        assert_eq!(conflict, WitnessAnswer::Conflict { witness_size: 7 });
        assert_eq!(conflict.http_status(), 409);
        let segment = SegmentVerified {
            package: "sha256:ab".into(),
            segment: "3".into(),
            verified: true,
        };
        assert_eq!(
            serde_json::to_string(&segment).unwrap_or_default(),
            r#"{"package":"sha256:ab","segment":"3","verified":true}"#
        );
    }
}
