//! Checkpoints in the C2SP tlog-checkpoint format
//! (<https://c2sp.org/tlog-checkpoint>): the note text
//! `<origin>\n<size>\n<base64 root>\n` followed by optional extension lines,
//! signed as a C2SP signed note by the log's Ed25519 key and, later, by the
//! witnesses that cosign it.

use custos_seal::SigningKey;
use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::hash::Hash;
use crate::note::{self, OpenedNote, VerifierKey};

/// A log's signed statement of its size and root hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Identifies the log (a schema-less URL such as `custos.example/ledger`).
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// RFC 6962 root of the tree of `size` entries.
    pub root: Hash,
    /// Optional extension lines, each non-empty (NOT RECOMMENDED by the spec;
    /// Custos writes none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines; checks the origin.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, LedgerError> {
        let checkpoint = Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        checkpoint.validate()?;
        Ok(checkpoint)
    }

    /// Checks that the checkpoint can be written as a note body: a non-empty
    /// origin and non-empty extension lines, none containing a newline or any
    /// other control character.
    pub fn validate(&self) -> Result<(), LedgerError> {
        check_line("origin", &self.origin)?;
        for (i, line) in self.extensions.iter().enumerate() {
            check_line(&format!("extension line {}", i + 1), line)?;
        }
        Ok(())
    }

    /// The note body: origin, size and base64 root hash, then any extension
    /// lines, each ending in a newline.
    pub fn to_note_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a note body. Strict: the size has no leading zeros, the root is
    /// canonical base64 of 32 bytes, and no line is empty, so that the body
    /// written back is byte for byte the one read.
    pub fn parse(body: &str) -> Result<Self, LedgerError> {
        let bad = |problem: String| LedgerError::MalformedCheckpoint(problem);
        let Some(body) = body.strip_suffix('\n') else {
            return Err(bad("the body does not end with a newline".into()));
        };
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad(
                "a checkpoint needs at least three lines: origin, size, root hash".into(),
            ));
        };
        check_line("origin", origin)?;
        let size = parse_size(size)?;
        let root =
            Hash::from_base64("checkpoint root hash", root).map_err(|e| bad(e.to_string()))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        let checkpoint = Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        };
        checkpoint.validate()?;
        Ok(checkpoint)
    }
}

fn check_line(what: &str, line: &str) -> Result<(), LedgerError> {
    if line.is_empty() {
        return Err(LedgerError::MalformedCheckpoint(format!(
            "the {what} is empty"
        )));
    }
    if line.chars().any(|c| c.is_control()) {
        return Err(LedgerError::MalformedCheckpoint(format!(
            "the {what} contains a newline or another control character"
        )));
    }
    Ok(())
}

fn parse_size(text: &str) -> Result<u64, LedgerError> {
    let bad =
        |problem: &str| LedgerError::MalformedCheckpoint(format!("tree size {text:?}: {problem}"));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a decimal number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(bad("leading zeros are not allowed"));
    }
    text.parse::<u64>()
        .map_err(|_| bad("does not fit in 64 bits"))
}

/// Signs a checkpoint as the log: a signed note with one Ed25519 signature
/// line by `name` (which SHOULD be the origin).
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    name: &str,
    key: &SigningKey,
) -> Result<String, LedgerError> {
    checkpoint.validate()?;
    note::sign_note(&checkpoint.to_note_body(), name, key)
}

/// A checkpoint taken from a signed note after its signatures were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The signature check, with timestamps for cosignatures.
    pub note: OpenedNote,
}

/// Opens a signed checkpoint: verifies the note against `trusted` (log keys
/// and witness keys alike; at least one must have signed, and any signature
/// by a trusted key that fails rejects the note), then parses its body.
/// Returns the checkpoint and the names of the keys that verified.
pub fn open_checkpoint(
    note_text: &str,
    trusted: &[VerifierKey],
) -> Result<(Checkpoint, Vec<String>), LedgerError> {
    let opened = open_checkpoint_detailed(note_text, trusted)?;
    let names = opened.note.verified_names();
    Ok((opened.checkpoint, names))
}

/// As [`open_checkpoint`], keeping the full signature check (key types and
/// cosignature timestamps).
pub fn open_checkpoint_detailed(
    note_text: &str,
    trusted: &[VerifierKey],
) -> Result<OpenedCheckpoint, LedgerError> {
    let note = note::open_note(note_text, trusted)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    Ok(OpenedCheckpoint { checkpoint, note })
}

/// Reads the checkpoint of a signed note without checking any signature —
/// for routing and display only; nothing read this way may be trusted.
pub fn peek_checkpoint(note_text: &str) -> Result<Checkpoint, LedgerError> {
    let parsed = note::Note::parse(note_text)?;
    Checkpoint::parse(parsed.text())
}

/// Opens a signed checkpoint and requires, besides at least one valid
/// signature, a valid signature by the one key `required` (typically the
/// log's own key, with witness keys in `trusted` as well).
pub fn open_checkpoint_signed_by(
    note_text: &str,
    required: &VerifierKey,
    trusted: &[VerifierKey],
) -> Result<OpenedCheckpoint, LedgerError> {
    let mut all: Vec<VerifierKey> = Vec::with_capacity(trusted.len() + 1);
    all.push(required.clone());
    all.extend(trusted.iter().filter(|k| *k != required).cloned());
    let opened = open_checkpoint_detailed(note_text, &all)?;
    let signed = opened
        .note
        .verified
        .iter()
        .any(|v| v.name == required.name() && v.key_id == required.key_id());
    if !signed {
        let found: Vec<String> = opened.note.verified_names();
        return Err(LedgerError::NoTrustedSignature {
            found: format!(
                "{} (but not the required {})",
                found.join(", "),
                required.name()
            ),
        });
    }
    Ok(opened)
}
