//! The signed manifest of an evidence package: which files a package holds
//! (normalised relative path, size, SHA-256, modification time), the totals,
//! the conditions the requesting State attached, and how the encrypted tar
//! stream is cut into segments, each with the hash of its ciphertext.
//!
//! The manifest travels in clear as a DSSE envelope signed by the sender's
//! node key (payload type [`MANIFEST_PAYLOAD_TYPE`], payload RFC 8785
//! canonical JSON). The package id is `sha256:<hex>` of the payload bytes.
//! Because every segment's ciphertext hash is signed, a receiver can check
//! each segment before decrypting anything. Files are hashed with SHA-256
//! (what a court compares); segments, a transfer check of ciphertext, with
//! BLAKE3 since version 2 (version 1, still read, used SHA-256 for both).
//! The whole format is written down in `docs/formats/evidence.md`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use custos_model::StateCode;
use custos_seal::{Envelope, SealError, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::directory::{Directory, single_signature};
use crate::error::ProtocolError;
use crate::timestamp;

/// DSSE payload type of an evidence manifest of the current version.
pub const MANIFEST_PAYLOAD_TYPE: &str = "application/vnd.custos.evidence-manifest.v2+json";
/// DSSE payload type of a version 1 manifest (read, never written).
pub const MANIFEST_PAYLOAD_TYPE_V1: &str = "application/vnd.custos.evidence-manifest.v1+json";
/// The manifest format version (`v`) that sealing writes.
pub const MANIFEST_VERSION: u32 = 2;
/// The manifest versions that are read: 1 (segments hashed with SHA-256)
/// and 2 (segments hashed with BLAKE3).
pub const MANIFEST_VERSIONS: [u32; 2] = [1, 2];
/// The content format: one POSIX (ustar/pax) tar stream.
pub const CONTENT_FORMAT: &str = "tar";
/// The smallest segment size allowed (1 MiB).
pub const MIN_SEGMENT_SIZE: u64 = 1 << 20;
/// The largest segment size allowed (4 GiB): a receiver can hold a segment's
/// upload state in a single file without surprises.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 32;
/// The segment size used when none is given (64 MiB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 << 20;
/// The longest relative path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest path component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// The largest `manifest.dsse.json` (in bytes) that is sealed, read or
/// received: the one limit of both sides, so that no node seals a package
/// its peers refuse. 64 MiB hold the entries of some 300,000 files.
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;

/// The signed description of an evidence package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version: [`MANIFEST_VERSION`].
    pub v: u32,
    /// The id of the request (or thread) the evidence answers.
    pub request: String,
    /// The sending State, whose node key signs the manifest.
    pub sender: StateCode,
    /// The recipient States (the sender is always an age recipient too, but
    /// is not listed here).
    pub recipients: Vec<StateCode>,
    #[serde(with = "timestamp::micros")]
    pub created_at: OffsetDateTime,
    /// The purposes the package may serve: the typed form
    /// [`crate::use_limits::UseLimits`] (the case, the request's purpose,
    /// the conditions set on its use); older manifests hold the request's
    /// use conditions as they were, or `null` ([`Manifest::limits`] reads
    /// either).
    pub use_limits: Value,
    /// The confidentiality conditions copied from the request, or `null`.
    pub confidentiality: Value,
    /// Issue 18: the personal data in the package and the conditions the
    /// providing State attaches to it; absent in older manifests (and left
    /// out when there is none, so their package ids are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<crate::case_bodies::PersonalData>,
    /// Every regular file in the package, in tar stream order.
    pub files: Vec<FileEntry>,
    pub totals: Totals,
    pub content: Content,
    pub segments: Vec<Segment>,
}

/// One regular file of the package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Normalised relative path (see [`check_relative_path`]).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file's bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// Modification time, whole seconds, in the protocol timestamp form.
    #[serde(with = "timestamp::micros")]
    pub mtime: OffsetDateTime,
}

/// Totals over [`Manifest::files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
}

/// The plaintext content: one tar stream, cut into segments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Always [`CONTENT_FORMAT`].
    pub format: String,
    /// Length of the tar stream in bytes.
    pub size: u64,
    /// Plaintext bytes per segment (the last may be shorter).
    pub segment_size: u64,
}

/// One encrypted segment: `segments/NNNNNN.age`, an ordinary age file.
/// Exactly one of the two hashes is present: `blake3` in version 2,
/// `sha256` in version 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub index: u64,
    /// Plaintext bytes in this segment.
    pub plain_size: u64,
    /// Ciphertext bytes (the size of the `.age` file).
    pub size: u64,
    /// BLAKE3 of the `.age` file, hex (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// SHA-256 of the `.age` file, hex (version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The hash function that checks a segment's ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentHash {
    /// Version 2: BLAKE3 (256-bit output).
    Blake3,
    /// Version 1: SHA-256.
    Sha256,
}

impl SegmentHash {
    /// The hash a manifest of version `v` gives its segments.
    pub fn of_version(v: u32) -> SegmentHash {
        if v == 1 {
            SegmentHash::Sha256
        } else {
            SegmentHash::Blake3
        }
    }

    /// The name used in messages: `BLAKE3` or `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            SegmentHash::Blake3 => "BLAKE3",
            SegmentHash::Sha256 => "SHA-256",
        }
    }
}

impl Segment {
    /// A segment entry whose `.age` file has the hex digest `digest` under
    /// `hash` (the field of that hash is set, the other left out).
    pub fn new(
        index: u64,
        plain_size: u64,
        size: u64,
        hash: SegmentHash,
        digest: String,
    ) -> Segment {
        let (blake3, sha256) = match hash {
            SegmentHash::Blake3 => (Some(digest), None),
            SegmentHash::Sha256 => (None, Some(digest)),
        };
        Segment {
            index,
            plain_size,
            size,
            blake3,
            sha256,
        }
    }

    /// The hash function and the expected hex digest of the `.age` file.
    /// A validated manifest always has one; an entry with none (never
    /// validated) gives an empty digest, which no file matches.
    pub fn digest(&self) -> (SegmentHash, &str) {
        match (&self.blake3, &self.sha256) {
            (Some(hex), _) => (SegmentHash::Blake3, hex),
            (None, Some(hex)) => (SegmentHash::Sha256, hex),
            (None, None) => (SegmentHash::Blake3, ""),
        }
    }
}

/// A manifest whose signature the directory vouches for.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedManifest {
    pub manifest: Manifest,
    /// `sha256:<hex>` of the signed payload bytes.
    pub package_id: String,
    /// The DSSE envelope JSON as read.
    pub envelope_bytes: Vec<u8>,
    /// Key id of the sender's key that signed.
    pub keyid: String,
}

/// A manifest read without any signature check (for printing a package one
/// has no directory for). Nothing in it is vouched for.
#[derive(Clone, Debug, PartialEq)]
pub struct UnverifiedManifest {
    pub manifest: Manifest,
    pub package_id: String,
}

/// Why a path cannot stand in a package.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path is absolute (starts with `/`)")]
    Absolute,
    #[error("the path contains a backslash; use `/` between folders")]
    Backslash,
    #[error("the path contains a control character (NUL, newline, tab...)")]
    ControlCharacter,
    #[error("the path has an empty component (`//` or a trailing `/`)")]
    EmptyComponent,
    #[error("the path has a `.` component")]
    Dot,
    #[error("the path has a `..` component")]
    DotDot,
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("a component of the path is longer than {MAX_COMPONENT_BYTES} bytes")]
    ComponentTooLong,
}

/// Checks that `path` is a normalised relative path: forward slashes, no
/// empty, `.` or `..` components, no leading or trailing `/`, no backslash
/// and no control characters (so that a `sha256sum` line and a tar entry
/// name it without escapes).
pub fn check_relative_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    for component in path.split('/') {
        match component {
            "" => return Err(PathError::EmptyComponent),
            "." => return Err(PathError::Dot),
            ".." => return Err(PathError::DotDot),
            c if c.len() > MAX_COMPONENT_BYTES => return Err(PathError::ComponentTooLong),
            _ => {}
        }
    }
    Ok(())
}

/// The package id of a manifest payload: `sha256:<hex>` of its bytes.
pub fn package_id(payload: &[u8]) -> String {
    custos_seal::content_id(payload)
}

/// The number of segments a tar stream of `size` bytes is cut into.
pub fn segment_count(size: u64, segment_size: u64) -> u64 {
    if segment_size == 0 {
        return 0;
    }
    size.div_ceil(segment_size)
}

/// The file name of segment `index` inside `segments/`.
pub fn segment_file_name(index: u64) -> String {
    format!("{index:06}.age")
}

fn invalid(detail: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::MalformedMessage {
        detail: format!("evidence manifest: {detail}"),
    }
}

fn check_hex(field: &str, text: &str) -> Result<(), ProtocolError> {
    let ok = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "field `{field}` must be 64 lower-case hex digits"
        )))
    }
}

/// Checks the form of a request id: 1 to 128 characters of letters, digits,
/// `-`, `_`, `.` and `:` (UUIDs and thread ids fit).
pub fn check_request_id(id: &str) -> Result<(), ProtocolError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "field `request` ({id:?}) must be 1 to 128 letters, digits, `-`, `_`, `.` or `:`"
        )))
    }
}

impl Manifest {
    /// The purposes the package may serve, read from `use_limits` in
    /// either its typed or its older form.
    pub fn limits(&self) -> crate::use_limits::UseLimits {
        crate::use_limits::UseLimits::read(&self.use_limits, &self.request)
    }

    /// Checks everything about the manifest that does not need the directory
    /// or the package's bytes: version, request id, recipients, paths (valid,
    /// distinct, no file standing where another file's folder is), hashes,
    /// totals, and the segment layout against the content size.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if !MANIFEST_VERSIONS.contains(&self.v) {
            return Err(ProtocolError::UnsupportedVersion {
                what: "evidence manifest".to_owned(),
                found: self.v.to_string(),
            });
        }
        check_request_id(&self.request)?;
        if self.recipients.is_empty() {
            return Err(invalid("field `recipients` must name at least one State"));
        }
        let mut seen_states = BTreeSet::new();
        for r in &self.recipients {
            if *r == self.sender {
                return Err(invalid(format!(
                    "field `recipients` names the sender {r}; the sender is added as a key, not listed"
                )));
            }
            if !seen_states.insert(*r) {
                return Err(invalid(format!("field `recipients` names {r} twice")));
            }
        }

        let mut paths = BTreeSet::new();
        let mut bytes: u64 = 0;
        for (i, file) in self.files.iter().enumerate() {
            check_relative_path(&file.path)
                .map_err(|e| invalid(format!("files[{i}].path {:?}: {e}", file.path)))?;
            check_hex(&format!("files[{i}].sha256"), &file.sha256)?;
            if file.mtime.nanosecond() != 0 {
                return Err(invalid(format!("files[{i}].mtime must be whole seconds")));
            }
            if !paths.insert(file.path.as_str()) {
                return Err(invalid(format!(
                    "files[{i}].path {:?} is listed twice",
                    file.path
                )));
            }
            bytes = bytes
                .checked_add(file.size)
                .ok_or_else(|| invalid("the file sizes overflow"))?;
        }
        // A file may not stand where another file needs a folder.
        for path in &paths {
            let mut prefix = String::new();
            for component in path.split('/') {
                if !prefix.is_empty() && paths.contains(prefix.as_str()) {
                    return Err(invalid(format!(
                        "{prefix:?} is listed as a file and as the folder of {path:?}"
                    )));
                }
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(component);
            }
        }
        let count = u64::try_from(self.files.len()).unwrap_or(u64::MAX);
        if self.totals.files != count || self.totals.bytes != bytes {
            return Err(invalid(format!(
                "field `totals` says {} files and {} bytes, the list has {count} files and {bytes} bytes",
                self.totals.files, self.totals.bytes
            )));
        }

        let c = &self.content;
        if c.format != CONTENT_FORMAT {
            return Err(invalid(format!(
                "content.format is {:?}, expected {CONTENT_FORMAT:?}",
                c.format
            )));
        }
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&c.segment_size) {
            return Err(invalid(format!(
                "content.segment_size {} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}",
                c.segment_size
            )));
        }
        if c.size < bytes || c.size == 0 {
            return Err(invalid(format!(
                "content.size {} cannot hold {bytes} bytes of files in a tar stream",
                c.size
            )));
        }
        let expected = segment_count(c.size, c.segment_size);
        if u64::try_from(self.segments.len()).ok() != Some(expected) {
            return Err(invalid(format!(
                "{} segments listed; a content of {} bytes in segments of {} makes {expected}",
                self.segments.len(),
                c.size,
                c.segment_size
            )));
        }
        for (i, s) in (0u64..).zip(&self.segments) {
            if s.index != i {
                return Err(invalid(format!("segments[{i}].index is {}", s.index)));
            }
            let start = i * c.segment_size;
            let plain = (c.size - start).min(c.segment_size);
            if s.plain_size != plain {
                return Err(invalid(format!(
                    "segments[{i}].plain_size is {}, expected {plain}",
                    s.plain_size
                )));
            }
            if s.size <= s.plain_size {
                return Err(invalid(format!(
                    "segments[{i}].size {} is too small for an age file of {} bytes",
                    s.size, s.plain_size
                )));
            }
            let hash = SegmentHash::of_version(self.v);
            let (present, absent, field, other) = match hash {
                SegmentHash::Blake3 => (&s.blake3, &s.sha256, "blake3", "sha256"),
                SegmentHash::Sha256 => (&s.sha256, &s.blake3, "sha256", "blake3"),
            };
            let Some(hex) = present else {
                return Err(invalid(format!(
                    "segments[{i}].{field} is missing (a version {} manifest hashes segments with {})",
                    self.v,
                    hash.name()
                )));
            };
            if absent.is_some() {
                return Err(invalid(format!(
                    "segments[{i}].{other} is not a field of a version {} manifest",
                    self.v
                )));
            }
            check_hex(&format!("segments[{i}].{field}"), hex)?;
        }
        Ok(())
    }

    /// The canonical payload bytes, after [`Manifest::validate`].
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, ProtocolError> {
        self.validate()?;
        crate::json::canonical("evidence manifest", self)
    }

    /// One line per file, `<hex>  <path>`, the input `sha256sum -c` reads
    /// from inside the opened folder.
    pub fn sha256sum_lines(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{}  {}", f.sha256, f.path);
        }
        out
    }
}

/// Signs a manifest with the sender's current signing key; returns the DSSE
/// envelope JSON (the bytes of `manifest.dsse.json`). A manifest that
/// [`Manifest::validate`] refuses is not signed.
/// A manifest whose signed envelope would exceed [`MAX_MANIFEST_BYTES`] is
/// refused too.
pub fn sign_manifest(manifest: &Manifest, key: &SigningKey) -> Result<Vec<u8>, ProtocolError> {
    let payload = manifest.to_canonical_json()?;
    let bytes = Envelope::sign(payload_type(manifest.v), &payload, key).to_json();
    check_size(&bytes)?;
    Ok(bytes)
}

/// Refuses manifest bytes over [`MAX_MANIFEST_BYTES`].
pub fn check_size(bytes: &[u8]) -> Result<(), ProtocolError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ProtocolError::TooLarge {
            size: bytes.len(),
            limit: MAX_MANIFEST_BYTES,
        });
    }
    Ok(())
}

/// The DSSE payload type of a manifest of version `v`.
fn payload_type(v: u32) -> &'static str {
    if v == 1 {
        MANIFEST_PAYLOAD_TYPE_V1
    } else {
        MANIFEST_PAYLOAD_TYPE
    }
}

/// Reads a manifest envelope without checking the signature: envelope form,
/// payload type, exactly one signature, canonical payload, manifest fields.
pub fn read_manifest_unverified(bytes: &[u8]) -> Result<UnverifiedManifest, ProtocolError> {
    let (_, manifest, payload) = parse(bytes)?;
    Ok(UnverifiedManifest {
        manifest,
        package_id: package_id(&payload),
    })
}

fn parse(bytes: &[u8]) -> Result<(Envelope, Manifest, Vec<u8>), ProtocolError> {
    let envelope = parse_envelope(bytes)?;
    let manifest = parse_payload(&envelope)?;
    let payload = envelope.payload.clone();
    Ok((envelope, manifest, payload))
}

/// The envelope of manifest bytes: size, form, exactly one signature and a
/// manifest payload type. The payload is not looked at.
fn parse_envelope(bytes: &[u8]) -> Result<Envelope, ProtocolError> {
    check_size(bytes)?;
    let envelope = Envelope::from_json(bytes).map_err(|e| match e {
        SealError::MalformedEnvelope(detail) => ProtocolError::MalformedEnvelope { detail },
        other => ProtocolError::MalformedEnvelope {
            detail: other.to_string(),
        },
    })?;
    single_signature(&envelope).map_err(|detail| ProtocolError::MalformedEnvelope { detail })?;
    if envelope.payload_type != MANIFEST_PAYLOAD_TYPE
        && envelope.payload_type != MANIFEST_PAYLOAD_TYPE_V1
    {
        return Err(ProtocolError::UnknownPayloadType {
            payload_type: envelope.payload_type.clone(),
        });
    }
    Ok(envelope)
}

/// The two fields a signature check needs: who signed, and when. Read
/// without building the rest of the manifest (every other field is skipped
/// unread), so that a forged manifest costs a scan, not a parse.
#[derive(Deserialize)]
struct SignerFields {
    sender: StateCode,
    #[serde(with = "timestamp::micros")]
    created_at: OffsetDateTime,
}

/// The manifest a payload holds, checked in full: version, fields,
/// canonical form and [`Manifest::validate`].
fn parse_payload(envelope: &Envelope) -> Result<Manifest, ProtocolError> {
    let value: Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    match value.get("v").and_then(Value::as_u64) {
        Some(v) if MANIFEST_VERSIONS.iter().any(|&known| u64::from(known) == v) => {
            if payload_type(u32::try_from(v).unwrap_or(0)) != envelope.payload_type {
                return Err(invalid(format!(
                    "a version {v} manifest signed as {:?}",
                    envelope.payload_type
                )));
            }
        }
        Some(v) => {
            return Err(ProtocolError::UnsupportedVersion {
                what: "evidence manifest".to_owned(),
                found: v.to_string(),
            });
        }
        None => return Err(invalid("field `v` is missing or not a whole number")),
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(invalid)?;
    custos_seal::ensure_canonical(&envelope.payload).map_err(|e| ProtocolError::NotCanonical {
        detail: e.to_string(),
    })?;
    if manifest.to_canonical_json()? != envelope.payload {
        return Err(ProtocolError::NotCanonical {
            detail: "the payload is not the standard encoding of the manifest it holds".to_owned(),
        });
    }
    Ok(manifest)
}

/// Verifies `manifest.dsse.json` bytes: one signature by a signing key of
/// the sender listed in `directory`, not revoked and valid at `created_at`,
/// then the checks of [`read_manifest_unverified`].
///
/// The signature is checked first, on the envelope and the two fields it
/// needs (`sender`, `created_at`); only a manifest whose signature verifies
/// is parsed and validated in full, so a forged one costs its scan alone.
///
/// The directory's own expiry is not checked here (a package may be checked
/// long after it was made); a caller that needs a current directory calls
/// [`Directory::check_current`] first.
pub fn verify_manifest(
    bytes: &[u8],
    directory: &Directory,
) -> Result<VerifiedManifest, ProtocolError> {
    let envelope = parse_envelope(bytes)?;
    let signer: SignerFields = serde_json::from_slice(&envelope.payload)
        .map_err(|e| invalid(format!("`sender` and `created_at` cannot be read: {e}")))?;
    let keyid = directory.check_signature(signer.sender, &envelope, signer.created_at)?;
    let manifest = parse_payload(&envelope)?;
    if manifest.sender != signer.sender || manifest.created_at != signer.created_at {
        return Err(invalid("`sender` or `created_at` is given twice"));
    }
    Ok(VerifiedManifest {
        manifest,
        package_id: package_id(&envelope.payload),
        envelope_bytes: bytes.to_vec(),
        keyid,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use custos_seal::EncryptionIdentity;
    use time::macros::datetime;

    use super::*;
    use crate::directory::{DirectoryEntry, DirectoryList, KeyValidity};

    const ISSUED: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    fn st(code: &str) -> StateCode {
        code.parse().unwrap()
    }

    fn entry(state: &str, key: &SigningKey, valid_until: Option<OffsetDateTime>) -> DirectoryEntry {
        let mut signing = KeyValidity::new(key.verifying_key(), datetime!(2026-01-01 00:00 UTC));
        signing.valid_until = valid_until;
        DirectoryEntry {
            v: 1,
            state: st(state),
            name: format!("{state} node"),
            node_url: format!("https://{state}.example"),
            signing_keys: vec![signing],
            encryption_keys: vec![KeyValidity::new(
                EncryptionIdentity::generate().recipient(),
                datetime!(2026-01-01 00:00 UTC),
            )],
            contact_24_7: None,
            central_authority: None,
            languages: vec!["en".into()],
            treaty_status: None,
            issued_at: ISSUED,
        }
    }

    fn directory(de_until: Option<OffsetDateTime>) -> (SigningKey, SigningKey, Directory) {
        let registry = SigningKey::from_seed(&[9; 32]);
        let de = SigningKey::from_seed(&[2; 32]);
        let fr = SigningKey::from_seed(&[1; 32]);
        let signed = vec![
            entry("DE", &de, de_until).sign(&de).unwrap(),
            entry("FR", &fr, None).sign(&fr).unwrap(),
        ];
        let list = DirectoryList::new(1, "Test", ISSUED, datetime!(2027-01-01 00:00 UTC), signed)
            .sign(&registry)
            .unwrap();
        let dir = Directory::verify_allow_expired(&list, &registry.verifying_key()).unwrap();
        (de, fr, dir)
    }

    fn manifest() -> Manifest {
        let hex = "ab".repeat(32);
        Manifest {
            v: 2,
            request: "thr-6f1c0b7e-2d4a-4c8e-9f10-3a5b7c9de1f2".into(),
            sender: st("DE"),
            recipients: vec![st("FR")],
            created_at: datetime!(2026-11-28 21:00:00.123456 UTC),
            use_limits: Value::String("Only for case 12/2026".into()),
            confidentiality: serde_json::json!({"required": true}),
            personal_data: None,
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
            segments: vec![Segment::new(0, 4096, 4096 + 200, SegmentHash::Blake3, hex)],
        }
    }

    /// The same manifest in version 1, whose segments carry SHA-256.
    fn manifest_v1() -> Manifest {
        let mut m = manifest();
        m.v = 1;
        m.segments[0] = Segment::new(0, 4096, 4096 + 200, SegmentHash::Sha256, "ab".repeat(32));
        m
    }

    #[test]
    fn version_1_manifests_are_still_read() {
        let (de, _, dir) = directory(None);
        let m = manifest_v1();
        let bytes = sign_manifest(&m, &de).unwrap();
        let env = Envelope::from_json(&bytes).unwrap();
        assert_eq!(env.payload_type, MANIFEST_PAYLOAD_TYPE_V1);
        let v = verify_manifest(&bytes, &dir).unwrap();
        assert_eq!(v.manifest, m);
        assert_eq!(
            v.manifest.segments[0].digest(),
            (SegmentHash::Sha256, "ab".repeat(32).as_str())
        );
        let current = sign_manifest(&manifest(), &de).unwrap();
        let env = Envelope::from_json(&current).unwrap();
        assert_eq!(env.payload_type, MANIFEST_PAYLOAD_TYPE);
        let v = verify_manifest(&current, &dir).unwrap();
        assert_eq!(v.manifest.segments[0].digest().0, SegmentHash::Blake3);
    }

    #[test]
    fn segment_hash_must_match_the_version() {
        let (de, _, dir) = directory(None);
        type Spoil = Box<dyn Fn(&mut Manifest)>;
        let cases: Vec<(Spoil, &str)> = vec![
            (
                Box::new(|m| m.segments[0].sha256 = Some("ab".repeat(32))),
                "segments[0].sha256 is not a field of a version 2 manifest",
            ),
            (
                Box::new(|m| m.segments[0].blake3 = None),
                "segments[0].blake3 is missing",
            ),
            (
                Box::new(|m| m.segments[0].blake3 = Some("AB".repeat(32))),
                "segments[0].blake3",
            ),
            (
                Box::new(|m| {
                    m.v = 1;
                }),
                "segments[0].sha256 is missing",
            ),
            (Box::new(|m| m.v = 3), "3"),
        ];
        for (edit, want) in cases {
            let mut m = manifest();
            edit(&mut m);
            let err = sign_manifest(&m, &de).unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not say {want:?}");
        }
        // A version 1 payload under the version 2 payload type, and the
        // reverse, are refused even with a good signature.
        for (m, wrong) in [
            (manifest_v1(), MANIFEST_PAYLOAD_TYPE),
            (manifest(), MANIFEST_PAYLOAD_TYPE_V1),
        ] {
            let payload = m.to_canonical_json().unwrap();
            let bytes = Envelope::sign(wrong, &payload, &de).to_json();
            let err = verify_manifest(&bytes, &dir).unwrap_err().to_string();
            assert!(err.contains("signed as"), "{err}");
        }
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let (de, _, dir) = directory(None);
        let m = manifest();
        let bytes = sign_manifest(&m, &de).unwrap();
        let v = verify_manifest(&bytes, &dir).unwrap();
        assert_eq!(v.manifest, m);
        assert_eq!(v.keyid, de.verifying_key().key_id());
        let env = Envelope::from_json(&bytes).unwrap();
        assert_eq!(v.package_id, custos_seal::content_id(&env.payload));
        assert_eq!(
            read_manifest_unverified(&bytes).unwrap().package_id,
            v.package_id
        );
    }

    #[test]
    fn any_flipped_payload_byte_fails() {
        let (de, _, dir) = directory(None);
        let bytes = sign_manifest(&manifest(), &de).unwrap();
        let env = Envelope::from_json(&bytes).unwrap();
        for i in 0..env.payload.len() {
            let mut forged = env.clone();
            forged.payload[i] ^= 0x01;
            assert!(
                verify_manifest(&forged.to_json(), &dir).is_err(),
                "byte {i} flipped was accepted"
            );
        }
        let mut forged = env.clone();
        forged.signatures[0].sig[10] ^= 0x01;
        assert!(matches!(
            verify_manifest(&forged.to_json(), &dir),
            Err(ProtocolError::SignatureInvalid { .. })
        ));
    }

    #[test]
    fn unknown_and_expired_keys_fail() {
        let (_, fr, dir) = directory(None);
        // Signed by France's key while claiming Germany as sender.
        let bytes = sign_manifest(&manifest(), &fr).unwrap();
        assert!(matches!(
            verify_manifest(&bytes, &dir),
            Err(ProtocolError::UnknownKey { .. })
        ));
        let stranger = SigningKey::from_seed(&[7; 32]);
        let bytes = sign_manifest(&manifest(), &stranger).unwrap();
        assert!(matches!(
            verify_manifest(&bytes, &dir),
            Err(ProtocolError::UnknownKey { .. })
        ));
        // Germany's key ended before the manifest was made.
        let (de, _, dir) = directory(Some(datetime!(2026-11-10 00:00 UTC)));
        let bytes = sign_manifest(&manifest(), &de).unwrap();
        assert!(matches!(
            verify_manifest(&bytes, &dir),
            Err(ProtocolError::KeyNotValidAtTime { .. })
        ));
    }

    #[test]
    fn the_signature_is_checked_before_the_manifest_is_parsed() {
        let (de, _, dir) = directory(None);
        // Not a manifest beyond `sender` and `created_at`, under a forged
        // signature: refused for the signature, not for its form.
        let payload = br#"{"created_at":"2026-11-28T21:00:00.000000Z","files":7,"sender":"DE"}"#;
        let stranger = SigningKey::from_seed(&[7; 32]);
        let mut env = Envelope::sign(MANIFEST_PAYLOAD_TYPE, payload, &stranger);
        env.signatures[0].keyid = de.verifying_key().key_id();
        assert!(matches!(
            verify_manifest(&env.to_json(), &dir),
            Err(ProtocolError::SignatureInvalid { .. })
        ));
        // Signed by the sender, the same payload is refused for its form.
        let env = Envelope::sign(MANIFEST_PAYLOAD_TYPE, payload, &de);
        assert!(matches!(
            verify_manifest(&env.to_json(), &dir),
            Err(ProtocolError::MalformedMessage { .. })
        ));
        // Over the size limit nothing is read at all.
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            verify_manifest(&big, &dir),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn wrong_payload_type_is_refused() {
        let (de, _, dir) = directory(None);
        let payload = manifest().to_canonical_json().unwrap();
        let bytes = Envelope::sign("application/json", &payload, &de).to_json();
        assert!(matches!(
            verify_manifest(&bytes, &dir),
            Err(ProtocolError::UnknownPayloadType { .. })
        ));
    }

    #[test]
    fn bad_paths_are_refused() {
        for (path, want) in [
            ("", PathError::Empty),
            ("/abs", PathError::Absolute),
            ("a/../b", PathError::DotDot),
            ("..", PathError::DotDot),
            ("./a", PathError::Dot),
            ("a//b", PathError::EmptyComponent),
            ("a/", PathError::EmptyComponent),
            ("a\\b", PathError::Backslash),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
        ] {
            assert_eq!(check_relative_path(path), Err(want), "{path:?}");
        }
        for ok in ["a", "a/b.txt", "dossier/é 1.txt", "..a/b..", ".hidden"] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok:?}");
        }
        let (de, _, _) = directory(None);
        let mut m = manifest();
        m.files[0].path = "a/../b".into();
        assert!(sign_manifest(&m, &de).is_err());
    }

    #[test]
    fn inconsistent_manifests_are_not_signed() {
        let (de, _, _) = directory(None);
        type Spoil = Box<dyn Fn(&mut Manifest)>;
        let cases: Vec<Spoil> = vec![
            Box::new(|m| m.totals.bytes = 4),
            Box::new(|m| m.files[1].path = "disk/image.dd".into()),
            Box::new(|m| m.files[1].path = "disk/image.dd/inner".into()),
            Box::new(|m| m.content.size = (1 << 20) + 1),
            Box::new(|m| m.segments[0].index = 1),
            Box::new(|m| m.content.segment_size = 1000),
            Box::new(|m| m.recipients.push(st("DE"))),
            Box::new(|m| m.files[0].sha256 = "AB".repeat(32)),
            Box::new(|m| m.request = "a b".into()),
        ];
        for (i, edit) in cases.iter().enumerate() {
            let mut m = manifest();
            edit(&mut m);
            assert!(sign_manifest(&m, &de).is_err(), "case {i} was signed");
        }
    }

    #[test]
    fn sha256sum_lines_have_two_spaces() {
        let m = manifest();
        let hex = "ab".repeat(32);
        assert_eq!(
            m.sha256sum_lines(),
            format!("{hex}  disk/image.dd\n{hex}  notes.txt\n")
        );
    }
}
