//! What verifying or opening a package found: a [`Report`] on the package
//! and its files, listing every [`Mismatch`] against the signed manifest.

use custos_model::StateCode;
use custos_protocol::evidence::VerifiedManifest;
use serde::Serialize;

/// One thing that did not match the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What: a file path, `segments/000001.age`, `content`, `tar stream`.
    pub subject: String,
    pub problem: String,
}

impl Mismatch {
    pub(crate) fn new(subject: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            problem: problem.into(),
        }
    }
}

/// What [`verify`](super::verify) or [`open`](super::open) found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub package_id: String,
    pub request: String,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    /// Key id of the sender's key whose signature verified.
    pub signed_by: String,
    pub segments: u64,
    /// Whether the content was decrypted (this node is a recipient or the sender).
    pub decrypted: bool,
    /// Files whose size and SHA-256 matched.
    pub files_verified: u64,
    pub files_total: u64,
    pub bytes_total: u64,
    /// Files written out (by [`open`](super::open)), relative paths.
    pub files_written: Vec<String>,
    /// Every mismatch found; empty when everything matched.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    /// True when nothing mismatched.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    pub(crate) fn new(verified: &VerifiedManifest) -> Self {
        let m = &verified.manifest;
        Report {
            package_id: verified.package_id.clone(),
            request: m.request.clone(),
            sender: m.sender,
            recipients: m.recipients.clone(),
            signed_by: verified.keyid.clone(),
            segments: m.segments.len() as u64,
            decrypted: false,
            files_verified: 0,
            files_total: m.totals.files,
            bytes_total: m.totals.bytes,
            files_written: Vec::new(),
            mismatches: Vec::new(),
        }
    }
}
