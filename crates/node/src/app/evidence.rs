//! Evidence as shown: the packages a node received, a package's manifest,
//! a package just sealed, and how sending one to a recipient ended.
//!
//! Accepted packages live under `DATA/evidence/received/`
//! ([`crate::evidence::receive::received_root`]); each folder is described
//! by its manifest, read without checking the signature (listing is not
//! trusting: `custos evidence verify` checks a package), and by whether
//! every segment the manifest names is present.

use super::Actor;
use super::access::Operation;
use std::path::{Path, PathBuf};

use custos_model::StateCode;
use custos_protocol::case_bodies::PersonalData;
use custos_protocol::evidence::{Manifest, read_manifest_unverified, verify_manifest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::evidence::layout::{read_manifest_bytes, segment_path};
use crate::evidence::receive::received_root;
use crate::evidence::seal::Sealed;
use crate::evidence::transfer::{SendOutcome, TransferError};
use crate::{Node, NodeError};

/// What the providing State adds to a package it seals, besides the
/// request's own use conditions and confidentiality (issue 18): a mark
/// that the package is confidential, conditions on its use, and the
/// personal data in it with the conditions attached. Every face passes
/// what the person gave; the node checks it ([`Node::evidence_seal_options`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SealMarks {
    /// Mark the package confidential, with the reasons (which may be
    /// empty): the receiving node shows it only to the people assigned to
    /// the case.
    pub confidential: Option<String>,
    /// Conditions on the use of the package, added to the request's.
    pub conditions: Vec<String>,
    /// The personal data in the package and the conditions attached to it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub personal_data: Option<PersonalData>,
}

impl SealMarks {
    /// The marks as a face's separate fields give them: personal data is
    /// named when any of its parts (categories, conditions, deletion date)
    /// is given, so that [`Node::evidence_seal_options`] checks it.
    pub fn new(
        confidential: Option<String>,
        conditions: Vec<String>,
        personal_data: PersonalData,
    ) -> SealMarks {
        let given = !personal_data.categories.is_empty()
            || !personal_data.conditions.is_empty()
            || personal_data.delete_by.is_some();
        SealMarks {
            confidential,
            conditions,
            personal_data: given.then_some(personal_data),
        }
    }
}

/// Whether a received package's folder holds what its manifest names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageStatus {
    /// Every segment file is present.
    Complete,
    /// A segment file is missing.
    Incomplete,
    /// The manifest cannot be read or does not parse.
    Unreadable,
}

/// A received package as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceivedPackage {
    /// The package's folder.
    pub folder: PathBuf,
    pub status: PackageStatus,
    /// What the manifest says, when it could be read.
    #[serde(flatten)]
    pub manifest: Option<PackageSummary>,
    /// Why the manifest could not be read, for an unreadable package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What a package's manifest says about it (as written by its sender;
/// not checked against a signature here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageSummary {
    pub package_id: String,
    pub sender: StateCode,
    /// The request the package answers, as the sender named it.
    pub request: String,
    pub files: u64,
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Node {
    /// The evidence packages this node received, by folder name.
    pub async fn received_packages(
        &self,
        actor: &Actor,
    ) -> Result<Vec<ReceivedPackage>, NodeError> {
        self.authorize(actor, Operation::ListEvidence, None).await?;
        let mut packages = received_packages(&self.settings.data_dir)?;
        // issue 18: the packages of a confidential case only for those
        // assigned to it.
        if Self::listing_person(actor).is_some() {
            let mut shown = Vec::with_capacity(packages.len());
            for p in packages {
                let hidden = match &p.manifest {
                    Some(m) => {
                        self.hidden_case(actor, Operation::ListEvidence, &m.request)
                            .await?
                    }
                    None => false,
                };
                if !hidden {
                    shown.push(p);
                }
            }
            packages = shown;
        }
        Ok(packages)
    }
}

impl Node {
    /// Verifies the received package `package` (a folder name of
    /// [`Node::received_packages`]) and records it, as
    /// [`Node::verify_evidence`] does (operation `verify-evidence`).
    pub async fn verify_received_package(
        &self,
        actor: &Actor,
        package: &str,
    ) -> Result<crate::evidence::open::Report, NodeError> {
        let Some(dir) = crate::evidence::receive::received_folder(&self.settings.data_dir, package)
        else {
            // Still a decision about this person: recorded like any other.
            self.authorize(actor, Operation::VerifyEvidence, None)
                .await?;
            return Err(NodeError::NotFound(format!(
                "no received evidence package {package:?} (list them: custos evidence list)"
            )));
        };
        self.verify_evidence(
            dir,
            std::sync::Arc::new(crate::evidence::pipeline::NoProgress),
            actor,
        )
        .await
    }
}

/// The evidence packages the node whose data folder is `data_dir` received,
/// by folder name; none when nothing was ever received. Works without
/// opening the node (no keys or database are read).
pub fn received_packages(data_dir: &Path) -> Result<Vec<ReceivedPackage>, NodeError> {
    let root = received_root(data_dir);
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let io = |e: std::io::Error| NodeError::Io {
        path: root.display().to_string(),
        problem: e.to_string(),
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(&root).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs.into_iter().map(describe).collect())
}

/// One received folder, described from its manifest.
fn describe(folder: PathBuf) -> ReceivedPackage {
    let unreadable = |folder, problem: String| ReceivedPackage {
        folder,
        status: PackageStatus::Unreadable,
        manifest: None,
        problem: Some(problem),
    };
    let bytes = match read_manifest_bytes(&folder) {
        Ok(bytes) => bytes,
        Err(e) => return unreadable(folder, e.to_string()),
    };
    let u = match read_manifest_unverified(&bytes) {
        Ok(u) => u,
        Err(e) => return unreadable(folder, format!("unreadable manifest: {e}")),
    };
    let m = &u.manifest;
    let complete = m
        .segments
        .iter()
        .all(|s| segment_path(&folder, s.index).is_file());
    let summary = PackageSummary {
        package_id: u.package_id.clone(),
        sender: m.sender,
        request: m.request.clone(),
        files: m.totals.files,
        bytes: m.totals.bytes,
        created_at: m.created_at,
    };
    ReceivedPackage {
        folder,
        status: if complete {
            PackageStatus::Complete
        } else {
            PackageStatus::Incomplete
        },
        manifest: Some(summary),
        problem: None,
    }
}

/// A package just sealed, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SealedView {
    pub package_id: String,
    /// The package's folder.
    pub package: PathBuf,
    /// The request the package answers.
    pub request: String,
    /// The States it is encrypted to.
    pub recipients: Vec<StateCode>,
    pub files: u64,
    pub bytes: u64,
    pub segments: usize,
}

impl From<&Sealed> for SealedView {
    fn from(s: &Sealed) -> Self {
        let m = &s.manifest;
        SealedView {
            package_id: s.package_id.clone(),
            package: s.dir.clone(),
            request: m.request.clone(),
            recipients: m.recipients.clone(),
            files: m.totals.files,
            bytes: m.totals.bytes,
            segments: m.segments.len(),
        }
    }
}

/// How sending a package to one recipient ended, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TransferView {
    Accepted(TransferAccepted),
    Failed(TransferFailed),
}

/// A package the recipient accepted with its signed receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransferAccepted {
    pub to: StateCode,
    pub package: String,
    /// Always `true`.
    pub accepted: bool,
    /// When the receiver accepted it, as its signed receipt says.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Segments uploaded by this run (a resumed send uploads fewer).
    pub segments_sent: u32,
    pub bytes_sent: u64,
    /// Where the receipt and its custody proof were kept.
    pub receipt_file: PathBuf,
    /// The size of the receiver's ledger checkpoint the custody proof was
    /// checked against, when one came.
    pub custody_checkpoint: Option<u64>,
}

/// A send that did not end in acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransferFailed {
    pub to: StateCode,
    pub package: String,
    /// Always `false`.
    pub accepted: bool,
    /// The receiver's stable error code, when it refused.
    pub code: Option<String>,
    pub error: String,
}

impl TransferView {
    /// How sending `package` to `to` ended.
    pub fn of(
        to: StateCode,
        package: &str,
        outcome: &Result<SendOutcome, TransferError>,
    ) -> TransferView {
        match outcome {
            Ok(o) => TransferView::Accepted(TransferAccepted {
                to: o.to,
                package: o.package.clone(),
                accepted: true,
                received_at: o.receipt.received_at,
                segments_sent: o.segments_sent,
                bytes_sent: o.bytes_sent,
                receipt_file: o.receipt_file.clone(),
                custody_checkpoint: o.custody_checkpoint,
            }),
            Err(e) => TransferView::Failed(TransferFailed {
                to,
                package: package.to_owned(),
                accepted: false,
                code: e.code().map(str::to_owned),
                error: e.to_string(),
            }),
        }
    }
}

/// A package's manifest as shown, and whether its signature was checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ManifestView {
    pub package_id: String,
    /// Whether the signature was checked against a node's directory
    /// (`false`: the manifest was only read).
    pub signature_checked: bool,
    pub manifest: Manifest,
}

/// The manifest of the package folder `package`, read without checking its
/// signature (nothing about it is trusted; [`Node::package_manifest`]
/// checks it).
pub fn unverified_manifest(package: &Path) -> Result<ManifestView, NodeError> {
    let bytes = read_manifest_bytes(package)?;
    let u = read_manifest_unverified(&bytes).map_err(|e| NodeError::EvidencePackage {
        path: package.display().to_string(),
        problem: format!("unreadable manifest: {e}"),
    })?;
    Ok(ManifestView {
        package_id: u.package_id,
        signature_checked: false,
        manifest: u.manifest,
    })
}

impl Node {
    /// The manifest of the package folder `package`, its signature checked
    /// against the directory in force.
    pub async fn package_manifest(
        &self,
        actor: &Actor,
        package: &Path,
    ) -> Result<ManifestView, NodeError> {
        self.authorize(actor, Operation::ListEvidence, None).await?;
        self.package_manifest_checked(package)
    }

    /// [`Node::package_manifest`] without the access check, for
    /// operations that checked it themselves.
    pub(crate) fn package_manifest_checked(
        &self,
        package: &Path,
    ) -> Result<ManifestView, NodeError> {
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let bytes = read_manifest_bytes(package)?;
        let v = verify_manifest(&bytes, &directory).map_err(|e| NodeError::EvidencePackage {
            path: package.display().to_string(),
            problem: format!("the manifest's signature does not verify: {e}"),
        })?;
        Ok(ManifestView {
            package_id: v.package_id,
            signature_checked: true,
            manifest: v.manifest,
        })
    }
}
