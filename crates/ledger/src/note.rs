//! C2SP signed notes (<https://c2sp.org/signed-note>): a UTF-8 text ending in
//! a newline, a blank line, then one or more lines
//! `— <key name> <base64(key id || signature)>`. Also the verifier key
//! ("vkey") text `<name>+<hex key id>+<base64(type || public key)>` and the
//! key id `SHA-256(name || 0x0A || type || public key)[:4]`.
//!
//! Two signature types are supported, both Ed25519 with the node's
//! `custos_seal` keys: `0x01`, a plain signature over the note text (how a log
//! signs its checkpoints), and `0x04`, a timestamped witness cosignature of
//! C2SP tlog-cosignature (see [`crate::cosignature`]). Opening a note follows
//! the spec's trust rules: lines from unknown keys are ignored, a failing line
//! from a known key rejects the whole note, and at least one known key must
//! have signed.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custos_seal::{SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::LedgerError;
use crate::cosignature::{MAX_TIMESTAMP, cosigned_message};

/// The byte sequence that starts every signature line: U+2014 EM DASH, space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Largest note this crate parses, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Most signature lines this crate accepts on one note (the spec requires at
/// least 16).
pub const MAX_SIGNATURES: usize = 100;

const ED25519_SIGNATURE_BYTES: usize = 64;

/// The signature types this crate understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// `0x01`: Ed25519 over the note text (C2SP signed-note).
    Ed25519,
    /// `0x04`: timestamped Ed25519 witness cosignature (C2SP
    /// tlog-cosignature, `cosignature/v1`).
    CosignatureV1,
}

impl KeyType {
    /// The signature type identifier byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::CosignatureV1 => 0x04,
        }
    }

    fn from_type_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::CosignatureV1),
            _ => None,
        }
    }
}

/// The key id: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || type byte || public key)`.
pub fn key_id(name: &str, key_type: KeyType, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', key_type.type_byte()]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks a key name: non-empty, with no Unicode space, no `+` and no
/// control character.
pub fn validate_key_name(name: &str) -> Result<(), LedgerError> {
    let bad = |problem: &str| LedgerError::InvalidKeyName {
        name: name.to_owned(),
        problem: problem.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.contains('+') {
        return Err(bad("it contains a plus sign"));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(bad("it contains a space"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(())
}

/// A public key that verifies note signatures, with its name and type.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    key_type: KeyType,
    key_id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier for plain Ed25519 note signatures (type `0x01`) by `name`.
    pub fn ed25519(name: &str, key: &VerifyingKey) -> Result<Self, LedgerError> {
        Self::new(name, KeyType::Ed25519, key)
    }

    /// The verifier for `cosignature/v1` witness cosignatures (type `0x04`)
    /// by `name`.
    pub fn cosignature_v1(name: &str, key: &VerifyingKey) -> Result<Self, LedgerError> {
        Self::new(name, KeyType::CosignatureV1, key)
    }

    /// A verifier of the given type.
    pub fn new(name: &str, key_type: KeyType, key: &VerifyingKey) -> Result<Self, LedgerError> {
        validate_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key_id: key_id(name, key_type, &key.to_bytes()),
            key: *key,
        })
    }

    /// Parses the vkey text `<name>+<8 hex digits>+<base64(type || key)>`
    /// (surrounding whitespace ignored). The key id must be the one the name,
    /// type and key give.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |problem: String| LedgerError::MalformedVerifierKey(problem);
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(
                "expected <name>+<key id>+<base64 key>, with two plus signs".into(),
            ));
        };
        validate_key_name(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "key id {id_hex:?} is not 8 hexadecimal digits"
            )));
        }
        let claimed_id =
            u32::from_str_radix(id_hex, 16).map_err(|e| bad(format!("key id {id_hex:?}: {e}")))?;
        let material = STANDARD
            .decode(key_b64)
            .map_err(|e| bad(format!("key material is not base64 ({e})")))?;
        let (&type_byte, public) = material
            .split_first()
            .ok_or_else(|| bad("key material is empty".into()))?;
        let key_type = KeyType::from_type_byte(type_byte).ok_or_else(|| {
            bad(format!(
                "signature type 0x{type_byte:02x} is not supported (0x01 Ed25519 and 0x04 cosignature/v1 are)"
            ))
        })?;
        let public: &[u8; 32] = public.try_into().map_err(|_| {
            bad(format!(
                "an Ed25519 public key is 32 bytes, found {}",
                public.len()
            ))
        })?;
        let key = VerifyingKey::from_bytes(public).map_err(|e| bad(format!("public key: {e}")))?;
        let parsed = Self::new(name, key_type, &key)?;
        if parsed.key_id != claimed_id {
            return Err(bad(format!(
                "key id {claimed_id:08x} does not match the name, type and key (which give {:08x})",
                parsed.key_id
            )));
        }
        Ok(parsed)
    }

    /// The vkey text form.
    pub fn to_text(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(self.key_type.type_byte());
        material.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(material)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks one signature (the bytes after the key id) over a note text.
    /// Returns the cosignature timestamp for type `0x04`.
    pub(crate) fn check(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, LedgerError> {
        let invalid = || LedgerError::SignatureInvalid {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        match self.key_type {
            KeyType::Ed25519 => {
                if signature.len() != ED25519_SIGNATURE_BYTES {
                    return Err(invalid());
                }
                self.key
                    .verify(text.as_bytes(), signature)
                    .map_err(|_| invalid())?;
                Ok(None)
            }
            KeyType::CosignatureV1 => {
                let (stamp, sig) = signature.split_first_chunk::<8>().ok_or_else(invalid)?;
                let timestamp = u64::from_be_bytes(*stamp);
                if timestamp > MAX_TIMESTAMP || sig.len() != ED25519_SIGNATURE_BYTES {
                    return Err(invalid());
                }
                self.key
                    .verify(&cosigned_message(text, timestamp), sig)
                    .map_err(|_| invalid())?;
                Ok(Some(timestamp))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.to_text())
    }
}

impl FromStr for VerifierKey {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for VerifierKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for VerifierKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One signature line of a note, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature bytes that follow the key id (for a cosignature, the
    /// 8-byte timestamp and the Ed25519 signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line `— <name> <base64(key id || signature)>` with its newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }

    /// Parses one signature line, with or without its final newline.
    pub fn parse_line(line: &str) -> Result<Self, LedgerError> {
        let bad = |problem: String| LedgerError::MalformedNote(problem);
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line.strip_prefix(SIGNATURE_LINE_PREFIX).ok_or_else(|| {
            bad(format!(
                "signature line {line:?} does not start with an em dash and a space"
            ))
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            bad(format!(
                "signature line {line:?} has no space after the key name"
            ))
        })?;
        validate_key_name(name).map_err(|e| bad(format!("signature line {line:?}: {e}")))?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("signature by {name}: not base64 ({e})")))?;
        let Some((id, signature)) = blob.split_first_chunk::<4>() else {
            return Err(bad(format!(
                "signature by {name}: {} bytes is too short for a key id and a signature",
                blob.len()
            )));
        };
        if signature.is_empty() {
            return Err(bad(format!(
                "signature by {name}: no signature after the key id"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        })
    }
}

/// A parsed, not yet verified, signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Checks the characters of note text: UTF-8 (given by `&str`), and no
/// control character other than newline.
fn check_characters(what: &str, text: &str) -> Result<(), LedgerError> {
    if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(LedgerError::MalformedNote(format!(
            "{what} contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Checks that `text` can be the text of a note: non-empty, ends in a
/// newline, no control characters other than newline.
pub fn validate_note_text(text: &str) -> Result<(), LedgerError> {
    if !text.ends_with('\n') {
        return Err(LedgerError::MalformedNote(
            "note text must end with a newline".into(),
        ));
    }
    check_characters("note text", text)
}

impl Note {
    /// Parses a signed note. The text is everything up to and including the
    /// newline before the last blank line; every line after it must be a
    /// well-formed signature line.
    pub fn parse(note: &str) -> Result<Self, LedgerError> {
        let bad = |problem: String| LedgerError::MalformedNote(problem);
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad(format!(
                "{} bytes is larger than the {MAX_NOTE_BYTES}-byte limit",
                note.len()
            )));
        }
        check_characters("note", note)?;
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line separates the text from the signatures".into()))?;
        let (text, signature_block) = (&note[..=split], &note[split + 2..]);
        if signature_block.is_empty() {
            return Err(bad("the note carries no signature lines".into()));
        }
        let Some(signature_block) = signature_block.strip_suffix('\n') else {
            return Err(bad(
                "the last signature line does not end with a newline".into()
            ));
        };
        let signatures = signature_block
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(bad(format!(
                "{} signature lines is more than the {MAX_SIGNATURES} accepted",
                signatures.len()
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// A note from text and signatures already made.
    pub fn new(text: &str, signatures: Vec<NoteSignature>) -> Result<Self, LedgerError> {
        validate_note_text(text)?;
        for signature in &signatures {
            validate_key_name(&signature.name)?;
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text (ending in a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line; a line with the same key name and key id is
    /// replaced rather than repeated.
    pub fn push_signature(&mut self, signature: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        self.signatures.push(signature);
    }

    /// The note in its text form.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 120 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.to_line());
        }
        out
    }
}

/// A signature that verified under one of the trusted keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature type of the key that verified it.
    pub key_type: KeyType,
    /// For a cosignature, the time it claims to have been made (POSIX
    /// seconds).
    pub timestamp: Option<u64>,
}

/// A note whose signatures have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text.
    pub text: String,
    /// Signatures from trusted keys, all verified, in note order, each key
    /// at most once.
    pub verified: Vec<VerifiedSignature>,
    /// Signatures from keys not among the trusted ones (ignored, kept for
    /// the record).
    pub unverified: Vec<NoteSignature>,
}

impl OpenedNote {
    /// Names of the keys whose signatures verified.
    pub fn verified_names(&self) -> Vec<String> {
        self.verified.iter().map(|s| s.name.clone()).collect()
    }
}

/// Makes the signature line a plain Ed25519 key (type `0x01`) named `name`
/// puts on `text`.
pub fn signature_line(text: &str, name: &str, key: &SigningKey) -> Result<String, LedgerError> {
    Ok(sign_text(text, name, key)?.to_line())
}

fn sign_text(text: &str, name: &str, key: &SigningKey) -> Result<NoteSignature, LedgerError> {
    validate_note_text(text)?;
    validate_key_name(name)?;
    let public = key.verifying_key().to_bytes();
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, KeyType::Ed25519, &public),
        signature: key.sign(text.as_bytes()).to_vec(),
    })
}

/// Signs `text` with a plain Ed25519 key named `name`; returns the signed
/// note.
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, LedgerError> {
    let signature = sign_text(text, name, key)?;
    Ok(Note::new(text, vec![signature])?.to_text())
}

/// Adds a plain Ed25519 signature by `name` to an existing signed note
/// (replacing an earlier signature by the same key); returns the new note.
pub fn add_signature(note: &str, name: &str, key: &SigningKey) -> Result<String, LedgerError> {
    let mut parsed = Note::parse(note)?;
    let signature = sign_text(parsed.text(), name, key)?;
    parsed.push_signature(signature);
    Ok(parsed.to_text())
}

/// Parses a signed note and verifies its signatures against `trusted`: lines
/// from other keys are set aside, a failing line from a trusted key is an
/// error, and at least one trusted key must have signed.
pub fn open_note(note: &str, trusted: &[VerifierKey]) -> Result<OpenedNote, LedgerError> {
    for (i, a) in trusted.iter().enumerate() {
        if trusted[i + 1..]
            .iter()
            .any(|b| a.name == b.name && a.key_id == b.key_id && a != b)
        {
            return Err(LedgerError::AmbiguousVerifierKey {
                name: a.name.clone(),
                key_id: a.key_id,
            });
        }
    }
    let parsed = Note::parse(note)?;
    let mut verified: Vec<VerifiedSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for signature in parsed.signatures() {
        let known = trusted
            .iter()
            .find(|k| k.name == signature.name && k.key_id == signature.key_id);
        match known {
            Some(key) => {
                let timestamp = key.check(parsed.text(), &signature.signature)?;
                if !verified
                    .iter()
                    .any(|v| v.name == key.name && v.key_id == key.key_id)
                {
                    verified.push(VerifiedSignature {
                        name: key.name.clone(),
                        key_id: key.key_id,
                        key_type: key.key_type,
                        timestamp,
                    });
                }
            }
            None => {
                if !unverified.contains(signature) {
                    unverified.push(signature.clone());
                }
            }
        }
    }
    if verified.is_empty() {
        let found: Vec<&str> = parsed
            .signatures()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        return Err(LedgerError::NoTrustedSignature {
            found: found.join(", "),
        });
    }
    Ok(OpenedNote {
        text: parsed.text,
        verified,
        unverified,
    })
}
