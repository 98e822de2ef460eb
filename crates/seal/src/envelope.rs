//! DSSE (Dead Simple Signing Envelope, protocol v1) with Ed25519 signatures.
//!
//! A signature covers the pre-authentication encoding
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`
//! (lengths as decimal ASCII byte counts), never the JSON around it. The JSON
//! form is `{"payload": b64, "payloadType": str, "signatures": [{"keyid":
//! str, "sig": b64}]}`; this crate writes it as canonical JSON with standard
//! padded base64, and reads standard or URL-safe base64, padded or not, as
//! the DSSE protocol allows.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

use crate::keys::{SigningKey, VerifyingKey};
use crate::{SealError, canonical_json};

/// Lenient decoders for reading envelopes: padding optional, trailing bits
/// still required to be zero so each byte string has one encoding per
/// alphabet.
const READ_CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const READ_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, READ_CONFIG);
const READ_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, READ_CONFIG);

fn decode_b64(field: &str, text: &str) -> Result<Vec<u8>, SealError> {
    READ_STANDARD
        .decode(text)
        .or_else(|_| READ_URL_SAFE.decode(text))
        .map_err(|e| SealError::MalformedEnvelope(format!("field `{field}`: invalid base64 ({e})")))
}

/// The DSSE v1 pre-authentication encoding of a payload type and body: the
/// exact bytes every signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        10 + type_len.len() + payload_type.len() + body_len.len() + payload.len(),
    );
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The key id of the signing key (see `VerifyingKey::key_id`). DSSE
    /// treats it as an unauthenticated hint; [`Envelope::verify`] also checks
    /// that it is the id of the key that verifies.
    pub keyid: String,
    /// The raw signature bytes (64 for Ed25519).
    pub sig: Vec<u8>,
}

/// A DSSE envelope with the payload and signatures already decoded from
/// base64. Building one by hand is allowed; nothing in it is trusted until
/// [`Envelope::verify`] says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Names the kind and version of the payload, e.g.
    /// `application/vnd.custos.request+json; version=1`.
    pub payload_type: String,
    /// The signed bytes (for Custos messages, canonical JSON).
    pub payload: Vec<u8>,
    /// One or more signatures over `pae(payload_type, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

/// What a successful verification vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The payload type, covered by the signature.
    pub payload_type: String,
    /// The payload, covered by the signature.
    pub payload: Vec<u8>,
    /// The key id of the key whose signature verified.
    pub keyid: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
struct WireSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

impl Envelope {
    /// Signs `payload` under `payload_type` with `key`, giving an envelope
    /// with one signature.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        let mut envelope = Self {
            payload_type: payload_type.to_owned(),
            payload: payload.to_vec(),
            signatures: Vec::new(),
        };
        envelope.add_signature(key);
        envelope
    }

    /// Adds a signature by another key over the same payload (co-signing).
    pub fn add_signature(&mut self, key: &SigningKey) {
        let sig = key.sign(&pae(&self.payload_type, &self.payload));
        self.signatures.push(EnvelopeSignature {
            keyid: key.key_id(),
            sig: sig.to_vec(),
        });
    }

    /// Verifies the envelope and returns what it vouches for.
    ///
    /// `resolver` maps a key id to the verifying key the caller trusts for it
    /// (for instance from the directory), or `None`. The envelope is accepted
    /// when at least one signature names a known key, that key's own key id
    /// equals the named one, and the signature verifies strictly over the
    /// PAE. Otherwise the most telling failure is returned: a signature that
    /// does not verify or a key id mismatch before a malformed signature,
    /// and that before an unknown key.
    pub fn verify(
        &self,
        resolver: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<Verified, SealError> {
        if self.signatures.is_empty() {
            return Err(SealError::NoSignatures);
        }
        let message = pae(&self.payload_type, &self.payload);
        let mut failure: Option<(u8, SealError)> = None;
        let mut note = |rank: u8, err: SealError| {
            if failure.as_ref().is_none_or(|(r, _)| rank > *r) {
                failure = Some((rank, err));
            }
        };
        for signature in &self.signatures {
            let Some(key) = resolver(&signature.keyid) else {
                note(
                    0,
                    SealError::UnknownKey {
                        keyid: signature.keyid.clone(),
                    },
                );
                continue;
            };
            let actual = key.key_id();
            if actual != signature.keyid {
                note(
                    2,
                    SealError::KeyIdMismatch {
                        keyid: signature.keyid.clone(),
                        actual,
                    },
                );
                continue;
            }
            if signature.sig.len() != 64 {
                note(
                    1,
                    SealError::MalformedEnvelope(format!(
                        "signature by key {:?} is {} bytes, an Ed25519 signature is 64",
                        signature.keyid,
                        signature.sig.len()
                    )),
                );
                continue;
            }
            match key.verify(&message, &signature.sig) {
                Ok(()) => {
                    return Ok(Verified {
                        payload_type: self.payload_type.clone(),
                        payload: self.payload.clone(),
                        keyid: signature.keyid.clone(),
                    });
                }
                Err(err) => note(2, err),
            }
        }
        Err(failure.map_or(SealError::NoSignatures, |(_, err)| err))
    }

    /// As [`Envelope::verify`], but first requires the payload type to be
    /// `expected_type`.
    pub fn verify_typed(
        &self,
        expected_type: &str,
        resolver: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<Verified, SealError> {
        if self.payload_type != expected_type {
            return Err(SealError::PayloadTypeMismatch {
                expected: expected_type.to_owned(),
                found: self.payload_type.clone(),
            });
        }
        self.verify(resolver)
    }

    /// The envelope's JSON form, written as canonical JSON with standard
    /// padded base64.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireEnvelope {
            payload: STANDARD.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        // Invariant: the wire form holds only strings, arrays and objects with
        // fixed distinct member names, which always canonicalise.
        canonical_json(&wire).expect("an envelope of strings always canonicalises")
    }

    /// Parses the JSON form. Members other than the three DSSE ones are
    /// ignored (they are not signed); a missing `keyid` reads as empty, which
    /// no resolver knows.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SealError> {
        let wire: WireEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| SealError::MalformedEnvelope(format!("invalid JSON: {e}")))?;
        let payload = decode_b64("payload", &wire.payload)?;
        let signatures = wire
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(EnvelopeSignature {
                    sig: decode_b64(&format!("signatures[{i}].sig"), &s.sig)?,
                    keyid: s.keyid,
                })
            })
            .collect::<Result<Vec<_>, SealError>>()?;
        Ok(Self {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_of_empty_inputs() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn pae_counts_bytes_not_characters() {
        // "é" is two bytes in UTF-8.
        assert_eq!(pae("é", b"\x00"), b"DSSEv1 2 \xc3\xa9 1 \x00");
    }
}
