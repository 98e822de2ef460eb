//! The node's keys at the application layer: the public keys as shown
//! (current and past, with their validity), and the two changes an operator
//! makes to them, rotation and revocation, each recorded in the custody
//! ledger by who made it. Secrets are never part of a view.

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::Actor;
use super::access::Operation;
use crate::custody::{Entry, EntryKind};
use crate::{Keystore, Node, NodeError};

/// What a rotation did: the ids of the keys replaced and of their
/// successors, and the keys as they now are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeysRotated {
    /// The id of the signing key that was current until now.
    pub previous_signing_key_id: String,
    /// The id of the new signing key.
    pub signing_key_id: String,
    /// The new age recipient.
    pub encryption_key: String,
    pub keys: KeysView,
}

/// What a revocation did: the key marked compromised and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyRevoked {
    pub key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    pub keys: KeysView,
}

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

impl Node {
    /// The node's public keys (current and past) with their validity.
    pub async fn keys_view(&self, actor: &Actor) -> Result<KeysView, NodeError> {
        self.authorize(actor, Operation::ReadKeys, None).await?;
        Ok(self.with_keys(Keystore::view))
    }

    /// Replaces the node's signing and encryption keys and records the
    /// change in the custody ledger as `keys-rotated`, naming `actor`. The
    /// old public keys stay in the history, valid until now, and the old
    /// decryption identity is kept for messages already on their way. The
    /// key files are the truth: they are read afresh, changed and written
    /// before the node takes the new keys up; the entry is queued at once
    /// after, so the keys are never used unrecorded by this node (a serving
    /// node in another process takes them up on its next refresh).
    pub async fn rotate_keys(&self, actor: &Actor) -> Result<KeysRotated, NodeError> {
        self.authorize(actor, Operation::RotateKeys, None).await?;
        let now = self.clock.now();
        let mut keys = Keystore::load(&self.with_keys(|k| k.dir().to_owned()))?;
        let previous = keys.signing.key_id();
        let previous_encryption = keys.encryption.recipient().to_text();
        keys.rotate(now)?;
        let rotated = KeysRotated {
            previous_signing_key_id: previous.clone(),
            signing_key_id: keys.signing.key_id(),
            encryption_key: keys.encryption.recipient().to_text(),
            keys: keys.view(),
        };
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        let entry = Entry::new(EntryKind::KeysRotated, now, actor.label())
            .detail(json!({
                "signing": { "from": previous, "to": rotated.signing_key_id },
                "encryption": { "from": previous_encryption, "to": rotated.encryption_key },
            }))
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(rotated)
    }

    /// Marks the past signing key `key_id` as compromised (it then verifies
    /// nothing once peers import a directory saying so) and records it in
    /// the custody ledger as `key-revoked`, naming `actor`. The current key
    /// cannot be revoked: rotate first.
    pub async fn revoke_key(&self, key_id: &str, actor: &Actor) -> Result<KeyRevoked, NodeError> {
        self.authorize(actor, Operation::RevokeKey, None).await?;
        let now = self.clock.now();
        let mut keys = Keystore::load(&self.with_keys(|k| k.dir().to_owned()))?;
        keys.revoke_signing(key_id, now)?;
        let revoked = KeyRevoked {
            key_id: key_id.to_owned(),
            revoked_at: now,
            keys: keys.view(),
        };
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        let entry = Entry::new(EntryKind::KeyRevoked, now, actor.label())
            .detail(json!({ "key_id": key_id }))
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(revoked)
    }
}
