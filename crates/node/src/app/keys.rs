//! The node's public keys as shown: current and past, with their validity.
//! Secrets are never part of a view.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Keystore;

/// The node's public keys, oldest first within each kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeysView {
    /// Ed25519 keys that sign messages, receipts and checkpoints.
    pub signing: Vec<SigningKeyView>,
    /// age X25519 recipients that messages and evidence are encrypted to.
    pub encryption: Vec<EncryptionKeyView>,
}

/// One signing key and its validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningKeyView {
    /// The public key in its text form.
    pub key: String,
    /// The id signatures name it by.
    pub key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// When it stopped being valid (`None`: the current key).
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// When it was marked compromised; it then verifies nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// One encryption key and its validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EncryptionKeyView {
    /// The age recipient (`age1...`).
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// When it stopped being valid (`None`: the current key).
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl Keystore {
    /// The public half of the key history, as shown to an operator.
    pub fn view(&self) -> KeysView {
        KeysView {
            signing: self
                .history
                .signing
                .iter()
                .map(|k| SigningKeyView {
                    key: k.key.to_text(),
                    key_id: k.key.key_id(),
                    valid_from: k.valid_from,
                    valid_until: k.valid_until,
                    revoked_at: k.revoked_at,
                })
                .collect(),
            encryption: self
                .history
                .encryption
                .iter()
                .map(|k| EncryptionKeyView {
                    key: k.key.to_text(),
                    valid_from: k.valid_from,
                    valid_until: k.valid_until,
                    revoked_at: k.revoked_at,
                })
                .collect(),
        }
    }
}
