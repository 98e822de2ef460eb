//! The signed directory of nodes: each State's self-signed entry, the list the
//! registry countersigns, and the verified [`Directory`] a node consults to
//! decide which keys speak for which State at which time.
//!
//! Trust runs in two steps. The registry key (configured out of band) signs
//! the list: its version, expiry and the entries as signed envelopes. Each
//! entry is signed by one of the signing keys it lists itself, valid at the
//! entry's `issued_at` and not revoked, so the registry cannot put keys in a
//! State's mouth without that State's own signature, and a rotation is
//! published by signing the new entry with the new key.

use std::collections::BTreeMap;

use custos_model::StateCode;
use custos_seal::{
    EncryptionRecipient, Envelope, EnvelopeSignature, MAX_SAFE_INTEGER, SealError, SigningKey,
    VerifyingKey,
};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::ProtocolError;
use crate::json::{self, PROTOCOL_VERSION, ReadError};
use crate::timestamp;

/// DSSE payload type of a State's self-signed directory entry.
pub const DIRECTORY_ENTRY_PAYLOAD_TYPE: &str = "application/vnd.custos.directory-entry.v1+json";
/// DSSE payload type of the registry-signed directory list.
pub const DIRECTORY_PAYLOAD_TYPE: &str = "application/vnd.custos.directory.v1+json";

/// A public key with the period in which it speaks for its State.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValidity<K> {
    pub key: K,
    /// First instant the key is valid.
    #[serde(with = "timestamp::micros")]
    pub valid_from: OffsetDateTime,
    /// First instant the key is no longer valid; `None` for no end.
    #[serde(default, with = "timestamp::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// When set, the key verifies nothing at all, whatever the dates.
    #[serde(default, with = "timestamp::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl<K> KeyValidity<K> {
    /// A key valid from `valid_from` (cut to whole microseconds) with no end
    /// and not revoked.
    pub fn new(key: K, valid_from: OffsetDateTime) -> Self {
        Self {
            key,
            valid_from: timestamp::truncate(valid_from),
            valid_until: None,
            revoked_at: None,
        }
    }

    /// Whether `at` lies in `[valid_from, valid_until)`. Revocation is not
    /// considered here; see [`KeyValidity::is_usable_at`].
    pub fn covers(&self, at: OffsetDateTime) -> bool {
        self.valid_from <= at && self.valid_until.is_none_or(|until| at < until)
    }

    /// Not revoked, and `at` lies in the validity period.
    pub fn is_usable_at(&self, at: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.covers(at)
    }
}

/// One State's node as the State itself publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    /// Format version: [`PROTOCOL_VERSION`].
    pub v: u32,
    pub state: StateCode,
    /// The node's or authority's name, for people.
    pub name: String,
    /// Base URL of the node's federation API (`https://…`).
    pub node_url: String,
    pub signing_keys: Vec<KeyValidity<VerifyingKey>>,
    pub encryption_keys: Vec<KeyValidity<EncryptionRecipient>>,
    /// The 24/7 point of contact (Art. 41), as text.
    #[serde(default)]
    pub contact_24_7: Option<String>,
    /// The central authority for mutual legal assistance (Art. 40), as text.
    #[serde(default)]
    pub central_authority: Option<String>,
    /// Languages the State accepts requests in.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Reference to the State's treaty status (for instance in the registry).
    #[serde(default)]
    pub treaty_status: Option<String>,
    #[serde(with = "timestamp::micros")]
    pub issued_at: OffsetDateTime,
}

fn diagnose_entry(object: &serde_json::Map<String, Value>) -> Option<String> {
    json::field::<StateCode>(object, "state")
        .or_else(|| json::field::<String>(object, "name"))
        .or_else(|| json::field::<String>(object, "node_url"))
        .or_else(|| json::list_field::<KeyValidity<VerifyingKey>>(object, "signing_keys"))
        .or_else(|| json::list_field::<KeyValidity<EncryptionRecipient>>(object, "encryption_keys"))
        .or_else(|| json::field::<Option<String>>(object, "contact_24_7"))
        .or_else(|| json::field::<Option<String>>(object, "central_authority"))
        .or_else(|| json::list_field::<String>(object, "languages"))
        .or_else(|| json::field::<Option<String>>(object, "treaty_status"))
        .or_else(|| json::field_by(object, "issued_at", json::timestamp))
}

fn diagnose_list(object: &serde_json::Map<String, Value>) -> Option<String> {
    json::field::<u64>(object, "version")
        .or_else(|| json::field::<String>(object, "registry"))
        .or_else(|| json::field_by(object, "issued_at", json::timestamp))
        .or_else(|| json::field_by(object, "expires_at", json::timestamp))
        .or_else(|| json::field::<Vec<Value>>(object, "entries"))
}

fn invalid(detail: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidDirectory {
        detail: detail.into(),
    }
}

/// The one signature of an envelope; Custos messages, receipts and
/// directory entries carry exactly one.
pub(crate) fn single_signature(envelope: &Envelope) -> Result<&EnvelopeSignature, String> {
    match envelope.signatures.as_slice() {
        [one] => Ok(one),
        other => Err(format!(
            "the envelope carries {} signatures; exactly one is expected",
            other.len()
        )),
    }
}

/// Whether the authority at the start of `rest` (what follows `http://`)
/// names a loopback host: an address in 127.0.0.0/8, `[::1]` or
/// `localhost`, with or without a port. Anything else, and anything with
/// user information (`user@host`), is not.
fn is_loopback_authority(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        match inner.split_once(']') {
            Some((host, after)) => (host, after),
            None => return false,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, port),
            None => (authority, ""),
        }
    };
    let port = port.strip_prefix(':').unwrap_or(port);
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if authority.starts_with('[') {
        return host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback());
    }
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl DirectoryEntry {
    /// The listed signing key with this key id, whatever its validity.
    pub fn signing_key(&self, keyid: &str) -> Option<&KeyValidity<VerifyingKey>> {
        self.signing_keys.iter().find(|k| k.key.key_id() == keyid)
    }

    /// Checks the entry's own fields: a name, an https URL (plain http only
    /// to a loopback host), at least one
    /// key of each sort, no key listed twice, no period that ends before it
    /// begins.
    pub fn check(&self) -> Result<(), ProtocolError> {
        let state = self.state;
        if self.v != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                what: format!("directory entry for {state}"),
                found: self.v.to_string(),
            });
        }
        if self.name.trim().is_empty() {
            return Err(invalid(format!("entry for {state}: field `name` is empty")));
        }
        let url_ok = ["https://", "http://"].iter().any(|scheme| {
            self.node_url
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        }) && !self
            .node_url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
        if !url_ok {
            return Err(invalid(format!(
                "entry for {state}: field `node_url` {:?} is not an http:// or https:// URL",
                self.node_url
            )));
        }
        if let Some(rest) = self.node_url.strip_prefix("http://")
            && !is_loopback_authority(rest)
        {
            return Err(invalid(format!(
                "entry for {state}: field `node_url` {:?} is plain http:// to a host that is not \
                 loopback; peers must be reached over https:// (http:// is allowed only for \
                 127.0.0.0/8, [::1] and localhost)",
                self.node_url
            )));
        }
        if self.signing_keys.is_empty() {
            return Err(invalid(format!(
                "entry for {state}: field `signing_keys` is empty"
            )));
        }
        if self.encryption_keys.is_empty() {
            return Err(invalid(format!(
                "entry for {state}: field `encryption_keys` is empty"
            )));
        }
        for (i, k) in self.signing_keys.iter().enumerate() {
            check_period(state, &format!("signing_keys[{i}]"), k)?;
            if self.signing_keys[..i].iter().any(|o| o.key == k.key) {
                return Err(invalid(format!(
                    "entry for {state}: signing key {} is listed twice",
                    k.key.key_id()
                )));
            }
        }
        for (i, k) in self.encryption_keys.iter().enumerate() {
            check_period(state, &format!("encryption_keys[{i}]"), k)?;
            if self.encryption_keys[..i].iter().any(|o| o.key == k.key) {
                return Err(invalid(format!(
                    "entry for {state}: encryption key {} is listed twice",
                    k.key
                )));
            }
        }
        Ok(())
    }

    /// Signs the entry with one of its own signing keys, which must be valid
    /// at `issued_at` and not revoked (after a rotation: the new key).
    pub fn sign(&self, key: &SigningKey) -> Result<Envelope, ProtocolError> {
        self.check()?;
        self.check_signer(&key.key_id())?;
        let payload = json::canonical("directory entry", self)?;
        Ok(Envelope::sign(DIRECTORY_ENTRY_PAYLOAD_TYPE, &payload, key))
    }

    /// Reads and verifies a self-signed entry: payload type, one signature,
    /// version and fields, signer listed in the entry and usable at
    /// `issued_at`, and the signature itself.
    pub fn from_signed(envelope: &Envelope) -> Result<Self, ProtocolError> {
        if envelope.payload_type != DIRECTORY_ENTRY_PAYLOAD_TYPE {
            return Err(invalid(format!(
                "payload type {:?} is not {DIRECTORY_ENTRY_PAYLOAD_TYPE:?}",
                envelope.payload_type
            )));
        }
        let signature = single_signature(envelope).map_err(invalid)?;
        let entry: DirectoryEntry = json::read_versioned(&envelope.payload, diagnose_entry)
            .map_err(|e| match e {
                ReadError::Version(found) => ProtocolError::UnsupportedVersion {
                    what: "directory entry".to_owned(),
                    found,
                },
                ReadError::Shape(detail) => invalid(format!("entry is malformed: {detail}")),
            })?;
        entry.check()?;
        let key = entry.check_signer(&signature.keyid)?;
        envelope
            .verify(|kid| (kid == signature.keyid).then_some(key))
            .map_err(|e| {
                invalid(format!(
                    "entry for {}: self-signature does not verify ({e})",
                    entry.state
                ))
            })?;
        Ok(entry)
    }

    /// The key behind `keyid`, if the entry lists it and it may sign the
    /// entry.
    fn check_signer(&self, keyid: &str) -> Result<VerifyingKey, ProtocolError> {
        let state = self.state;
        let Some(k) = self.signing_key(keyid) else {
            return Err(invalid(format!(
                "entry for {state} is signed by key {keyid:?}, which the entry does not list"
            )));
        };
        if let Some(revoked_at) = k.revoked_at {
            return Err(invalid(format!(
                "entry for {state} is signed by key {keyid:?}, which the entry marks revoked at {}",
                timestamp::format(revoked_at)
            )));
        }
        if !k.covers(self.issued_at) {
            return Err(invalid(format!(
                "entry for {state} is signed by key {keyid:?}, which is not valid at the entry's issued_at {}",
                timestamp::format(self.issued_at)
            )));
        }
        Ok(k.key)
    }
}

fn check_period<K>(state: StateCode, field: &str, k: &KeyValidity<K>) -> Result<(), ProtocolError> {
    match k.valid_until {
        Some(until) if until <= k.valid_from => Err(invalid(format!(
            "entry for {state}: {field} ends ({}) before or when it begins ({})",
            timestamp::format(until),
            timestamp::format(k.valid_from)
        ))),
        _ => Ok(()),
    }
}

/// The list the registry signs: version, validity and the signed entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryList {
    /// Format version: [`PROTOCOL_VERSION`].
    pub v: u32,
    /// Increases with every publication (below 2^53); nodes refuse to go back.
    pub version: u64,
    /// The registry's name.
    pub registry: String,
    pub issued_at: OffsetDateTime,
    /// From this instant on the list verifies nothing.
    pub expires_at: OffsetDateTime,
    /// Each State's self-signed entry.
    pub entries: Vec<Envelope>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireList {
    v: u32,
    version: u64,
    registry: String,
    #[serde(with = "timestamp::micros")]
    issued_at: OffsetDateTime,
    #[serde(with = "timestamp::micros")]
    expires_at: OffsetDateTime,
    entries: Vec<Value>,
}

impl Serialize for DirectoryList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self
            .entries
            .iter()
            .map(|e| serde_json::from_slice::<Value>(&e.to_json()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::ser::Error::custom)?;
        WireList {
            v: self.v,
            version: self.version,
            registry: self.registry.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            entries,
        }
        .serialize(serializer)
    }
}

impl DirectoryList {
    /// A version 1 list; the times are cut to whole microseconds.
    pub fn new(
        version: u64,
        registry: impl Into<String>,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        entries: Vec<Envelope>,
    ) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            version,
            registry: registry.into(),
            issued_at: timestamp::truncate(issued_at),
            expires_at: timestamp::truncate(expires_at),
            entries,
        }
    }

    /// Signs the list with the registry key and returns the DSSE envelope
    /// JSON: the file that is published and imported.
    pub fn sign(&self, registry: &SigningKey) -> Result<Vec<u8>, ProtocolError> {
        self.check_header()?;
        let payload = json::canonical("directory list", self)?;
        Ok(Envelope::sign(DIRECTORY_PAYLOAD_TYPE, &payload, registry).to_json())
    }

    fn check_header(&self) -> Result<(), ProtocolError> {
        if self.v != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                what: "directory list".to_owned(),
                found: self.v.to_string(),
            });
        }
        if self.version > MAX_SAFE_INTEGER {
            return Err(invalid(format!(
                "field `version` is {}, above 2^53 - 1",
                self.version
            )));
        }
        if self.expires_at <= self.issued_at {
            return Err(invalid(format!(
                "field `expires_at` ({}) is not after `issued_at` ({})",
                timestamp::format(self.expires_at),
                timestamp::format(self.issued_at)
            )));
        }
        Ok(())
    }

    fn read(payload: &[u8]) -> Result<Self, ProtocolError> {
        let wire: WireList = json::read_versioned(payload, diagnose_list).map_err(|e| match e {
            ReadError::Version(found) => ProtocolError::UnsupportedVersion {
                what: "directory list".to_owned(),
                found,
            },
            ReadError::Shape(detail) => invalid(format!("list is malformed: {detail}")),
        })?;
        let entries = wire
            .entries
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let bytes =
                    serde_json::to_vec(value).map_err(|e| invalid(format!("entries[{i}]: {e}")))?;
                Envelope::from_json(&bytes).map_err(|e| invalid(format!("entries[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            v: wire.v,
            version: wire.version,
            registry: wire.registry,
            issued_at: wire.issued_at,
            expires_at: wire.expires_at,
            entries,
        })
    }
}

/// A directory list whose registry signature and entries have all been
/// verified. The only ways to get one are [`Directory::verify`] and
/// [`Directory::verify_allow_expired`].
#[derive(Clone, Debug)]
pub struct Directory {
    version: u64,
    registry: String,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    entries: Vec<DirectoryEntry>,
    signed_entries: Vec<Envelope>,
    by_state: BTreeMap<StateCode, usize>,
}

impl Directory {
    /// Verifies a signed list (the envelope JSON the registry publishes):
    /// payload type and registry signature, version and fields, not expired
    /// at `now`, every entry's self-signature, no State listed twice and no
    /// signing key listed for two States.
    pub fn verify(
        signed_list_json: &[u8],
        registry_key: &VerifyingKey,
        now: OffsetDateTime,
    ) -> Result<Self, ProtocolError> {
        let directory = Self::verify_allow_expired(signed_list_json, registry_key)?;
        directory.check_current(now)?;
        Ok(directory)
    }

    /// Every check of [`Directory::verify`] except expiry: for a node that
    /// reloads the directory it holds after a restart. Such a directory
    /// still verifies nothing once expired: [`open_message`] and
    /// [`verify_receipt`] check the expiry at `now` themselves.
    ///
    /// [`open_message`]: crate::open_message
    /// [`verify_receipt`]: crate::verify_receipt
    pub fn verify_allow_expired(
        signed_list_json: &[u8],
        registry_key: &VerifyingKey,
    ) -> Result<Self, ProtocolError> {
        let envelope = Envelope::from_json(signed_list_json)
            .map_err(|e| invalid(format!("the signed list is not a DSSE envelope: {e}")))?;
        let registry_keyid = registry_key.key_id();
        envelope
            .verify_typed(DIRECTORY_PAYLOAD_TYPE, |kid| {
                (kid == registry_keyid).then_some(*registry_key)
            })
            .map_err(|e| match e {
                SealError::PayloadTypeMismatch { found, .. } => invalid(format!(
                    "payload type {found:?} is not {DIRECTORY_PAYLOAD_TYPE:?}"
                )),
                SealError::UnknownKey { .. } | SealError::NoSignatures => invalid(format!(
                    "the list carries no signature by the registry key {registry_keyid}"
                )),
                other => invalid(format!("registry signature: {other}")),
            })?;
        let list = DirectoryList::read(&envelope.payload)?;
        list.check_header()?;

        let mut entries = Vec::with_capacity(list.entries.len());
        let mut by_state = BTreeMap::new();
        let mut key_owner: BTreeMap<String, StateCode> = BTreeMap::new();
        for (i, signed) in list.entries.iter().enumerate() {
            let entry = DirectoryEntry::from_signed(signed).map_err(|e| match e {
                ProtocolError::InvalidDirectory { detail } => {
                    invalid(format!("entries[{i}]: {detail}"))
                }
                ProtocolError::UnsupportedVersion { what, found } => {
                    ProtocolError::UnsupportedVersion {
                        what: format!("entries[{i}]: {what}"),
                        found,
                    }
                }
                other => other,
            })?;
            if by_state.insert(entry.state, i).is_some() {
                return Err(invalid(format!(
                    "entries[{i}]: {} has more than one entry",
                    entry.state
                )));
            }
            for k in &entry.signing_keys {
                if let Some(other) = key_owner.insert(k.key.key_id(), entry.state) {
                    return Err(invalid(format!(
                        "entries[{i}]: signing key {} is listed for both {other} and {}",
                        k.key.key_id(),
                        entry.state
                    )));
                }
            }
            entries.push(entry);
        }
        Ok(Self {
            version: list.version,
            registry: list.registry,
            issued_at: list.issued_at,
            expires_at: list.expires_at,
            entries,
            signed_entries: list.entries,
            by_state,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn issued_at(&self) -> OffsetDateTime {
        self.issued_at
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// Whether the list no longer verifies anything at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// [`ProtocolError::DirectoryExpired`] when the list has expired at `now`.
    pub fn check_current(&self, now: OffsetDateTime) -> Result<(), ProtocolError> {
        if self.is_expired_at(now) {
            return Err(ProtocolError::DirectoryExpired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }

    pub fn entry(&self, state: StateCode) -> Option<&DirectoryEntry> {
        self.by_state.get(&state).and_then(|&i| self.entries.get(i))
    }

    /// The entry as its State signed it, for passing on.
    pub fn signed_entry(&self, state: StateCode) -> Option<&Envelope> {
        self.by_state
            .get(&state)
            .and_then(|&i| self.signed_entries.get(i))
    }

    /// Every entry, in the list's order.
    pub fn entries(&self) -> std::slice::Iter<'_, DirectoryEntry> {
        self.entries.iter()
    }

    /// The signing key `keyid` of `state`, whatever its validity.
    pub fn sender_key(&self, state: StateCode, keyid: &str) -> Option<&KeyValidity<VerifyingKey>> {
        self.entry(state)?.signing_key(keyid)
    }

    /// The State whose entry lists the signing key `keyid`.
    pub fn key_owner(&self, keyid: &str) -> Option<StateCode> {
        self.entries
            .iter()
            .find(|e| e.signing_key(keyid).is_some())
            .map(|e| e.state)
    }

    /// The encryption keys of `state` that are valid and not revoked at `at`:
    /// whom to encrypt a message for that State to. Empty when the State is
    /// unknown or has no usable key.
    pub fn current_recipients(
        &self,
        state: StateCode,
        at: OffsetDateTime,
    ) -> Vec<EncryptionRecipient> {
        self.entry(state)
            .map(|e| {
                e.encryption_keys
                    .iter()
                    .filter(|k| k.is_usable_at(at))
                    .map(|k| k.key.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn node_url(&self, state: StateCode) -> Option<&str> {
        self.entry(state).map(|e| e.node_url.as_str())
    }

    /// Checks that this directory may replace `previous`: a higher version,
    /// and for every State in both, an entry issued no earlier that still
    /// lists every signing key the previous entry listed (so that messages
    /// signed before a rotation keep verifying, and keys cannot vanish
    /// silently). A State may leave the directory.
    pub fn check_succession(&self, previous: &Directory) -> Result<(), ProtocolError> {
        if self.version <= previous.version {
            return Err(invalid(format!(
                "version {} does not follow the version {} already held",
                self.version, previous.version
            )));
        }
        for old in previous.entries() {
            let Some(new) = self.entry(old.state) else {
                continue;
            };
            if new.issued_at < old.issued_at {
                return Err(invalid(format!(
                    "entry for {} was issued at {}, before the entry already held ({})",
                    old.state,
                    timestamp::format(new.issued_at),
                    timestamp::format(old.issued_at)
                )));
            }
            if let Some(dropped) = old
                .signing_keys
                .iter()
                .find(|k| !new.signing_keys.iter().any(|n| n.key == k.key))
            {
                return Err(invalid(format!(
                    "entry for {} no longer lists signing key {}; old keys stay listed so old messages verify",
                    old.state,
                    dropped.key.key_id()
                )));
            }
        }
        Ok(())
    }

    /// Checks that `envelope` carries one signature by a signing key of
    /// `state` that is listed, not revoked and valid at `at`, and that the
    /// signature verifies. Returns the key id.
    pub fn check_signature(
        &self,
        state: StateCode,
        envelope: &Envelope,
        at: OffsetDateTime,
    ) -> Result<String, ProtocolError> {
        let signature = single_signature(envelope)
            .map_err(|detail| ProtocolError::MalformedEnvelope { detail })?;
        let keyid = signature.keyid.clone();
        let entry = self
            .entry(state)
            .ok_or(ProtocolError::UnknownSender { state })?;
        let Some(k) = entry.signing_key(&keyid) else {
            return Err(ProtocolError::UnknownKey {
                state,
                listed_for: self.key_owner(&keyid),
                keyid,
            });
        };
        if let Some(revoked_at) = k.revoked_at {
            return Err(ProtocolError::KeyRevoked {
                state,
                keyid,
                revoked_at,
            });
        }
        if !k.covers(at) {
            return Err(ProtocolError::KeyNotValidAtTime {
                state,
                keyid,
                at,
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            });
        }
        let key = k.key;
        envelope
            .verify(|kid| (kid == keyid).then_some(key))
            .map_err(|e| match e {
                SealError::MalformedEnvelope(detail) => ProtocolError::MalformedEnvelope { detail },
                _ => ProtocolError::SignatureInvalid {
                    keyid: keyid.clone(),
                },
            })?;
        Ok(keyid)
    }
}
