//! A case's evidence as a face shows it: the uploads sealed into a package
//! for the case's counterpart, the package sent, the packages of the case
//! (sealed here and received) with their verification status and custody
//! history, a received package opened, and an opened file handed out for
//! download (each download recorded under the person's name).
//!
//! Packages sealed here live in `DATA/evidence/sealed/<hex>/`, received ones
//! in `DATA/evidence/received/<hex>/`; a received package is opened into
//! `DATA/evidence/opened/<hex>/`. Sealing, sending and opening are the same
//! node services the command line uses ([`Node::seal_evidence`],
//! [`Node::send_evidence`], [`Node::open_evidence`]).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use custos_model::StateCode;
use custos_protocol::evidence::read_manifest_unverified;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Actor;
use super::access::Operation;
use super::copies::CopyKind;
use super::evidence::{SealMarks, SealedView, TransferView};
use super::evidence_upload::{UploadError, UploadView, uploads_root};
use crate::custody::{Entry, EntryKind};
use crate::evidence::layout::{DEFAULT_SEGMENT_SIZE, read_manifest_bytes, segment_path};
use crate::evidence::open::Report;
use crate::evidence::pipeline::NoProgress;
use crate::evidence::receive::{received_folder, received_root};
use crate::evidence::transfer::{SendObserver, SendOptions};
use crate::{Node, NodeError};

/// How many of the ledger's latest entries are searched for a package's
/// custody history.
pub const CUSTODY_WINDOW: u64 = 20_000;

/// How long sending a package keeps retrying through broken connections.
const SEND_RETRY: Duration = Duration::from_secs(120);

/// Where packages sealed on this node are kept.
pub fn sealed_root(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence").join("sealed")
}

/// Where received packages are opened.
pub fn opened_root(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence").join("opened")
}

/// The 64 hex digits of a package id (`sha256:<hex>` or the hex alone).
pub(crate) fn package_hex(package: &str) -> Option<String> {
    let hex = package.strip_prefix("sha256:").unwrap_or(package);
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| hex.to_owned())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> NodeError + '_ {
    move |e| NodeError::Io {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}

/// A case's evidence: its packages and this person's uploads.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseEvidenceView {
    pub case: String,
    /// The State packages of this case are sealed for.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub counterpart: StateCode,
    /// Packages sealed on this node for the case.
    pub sealed: Vec<CasePackage>,
    /// Packages received for the case.
    pub received: Vec<CasePackage>,
    /// This person's uploads waiting to be sealed (or to be finished).
    pub uploads: Vec<UploadView>,
}

/// One package of a case.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CasePackage {
    /// `sha256:<hex>`.
    pub package_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sender: StateCode,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub recipients: Vec<StateCode>,
    pub files: u64,
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    /// Whether the manifest's signature verifies against the directory.
    pub signature_verified: bool,
    /// Whether every segment the manifest names is present.
    pub complete: bool,
    /// The outcome of the latest verification or opening in the custody
    /// history (`None`: never checked).
    pub checked_ok: Option<bool>,
    /// The recipients whose signed receipt is kept (sealed packages).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub receipted_by: Vec<StateCode>,
    /// The files opened from it on this node (received packages).
    pub opened_files: Vec<OpenedFile>,
    /// The package's custody events, oldest first.
    pub custody: Vec<CustodyEvent>,
}

/// A file opened from a received package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenedFile {
    /// Its path inside the package (`/`-separated).
    pub path: String,
    pub bytes: u64,
}

/// One custody-ledger entry about a package.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustodyEvent {
    /// Its place in the ledger.
    pub index: u64,
    /// `evidence-sealed`, `evidence-sent`, `evidence-received`, ...
    pub kind: String,
    /// When, as the entry says.
    pub at: String,
    /// Who (`api:ana/desk`, `cli:root`, `node`).
    pub actor: String,
    /// The entry's facts (counts, outcome, recipient; never content).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Value,
}

/// An opened file ready to be read by a face, its download recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// The file on disk.
    pub path: PathBuf,
    /// Its name (the last part of its path in the package).
    pub name: String,
    pub bytes: u64,
}

/// Says nothing: a face shows the outcome, not the progress.
struct Quiet;

impl SendObserver for Quiet {
    fn say(&self, _line: &str) {}
    fn start(&self, _total: u64, _label: &str) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

impl Node {
    /// Seals this person's complete uploads `uploads` for case `case` into
    /// a package for the case's counterpart (operation `seal-evidence`),
    /// with the case's use limits and confidentiality and what `marks` adds,
    /// as `custos evidence seal` does; the uploads are removed once the
    /// package is made.
    pub async fn seal_uploads(
        &self,
        actor: &Actor,
        case: &str,
        uploads: &[String],
        marks: &SealMarks,
    ) -> Result<SealedView, NodeError> {
        let counterpart = self.request_detail(case).await?.counterpart;
        let options = self
            .evidence_seal_options(case, &[counterpart], DEFAULT_SEGMENT_SIZE, marks, actor)
            .await?;
        if uploads.is_empty() {
            return Err(NodeError::EvidenceInput {
                path: case.to_owned(),
                problem: "choose at least one uploaded file to seal".into(),
            });
        }
        let root = uploads_root(&self.settings.data_dir);
        let mut paths = Vec::new();
        let mut names = HashSet::new();
        let mut dirs = Vec::new();
        for id in uploads {
            let meta = self.upload_meta(actor, id)?;
            let file = meta.file(&root);
            let received = meta.received(&root)?.total();
            if meta.case != case {
                return Err(NodeError::NotFound(format!(
                    "no upload {id:?} for case {case}"
                )));
            }
            if received != meta.size {
                return Err(UploadError::Incomplete {
                    name: meta.name,
                    received,
                    size: meta.size,
                }
                .into());
            }
            if !names.insert(meta.name.clone()) {
                return Err(UploadError::BadName {
                    name: meta.name,
                    why: "two files of the package would have this name",
                }
                .into());
            }
            paths.push(file);
            dirs.push(root.join(&meta.id));
        }
        let sealed_dir = sealed_root(&self.settings.data_dir);
        fs::create_dir_all(&sealed_dir).map_err(io(&sealed_dir))?;
        let mut tmp = [0u8; 8];
        getrandom::fill(&mut tmp)
            .map_err(|e| NodeError::Internal(format!("no randomness: {e}")))?;
        let out = sealed_dir.join(format!(".sealing-{}", hex::encode(tmp)));
        let mut sealed = self
            .seal_evidence(paths, options, out.clone(), Arc::new(NoProgress), actor)
            .await?;
        let hex = package_hex(&sealed.package_id).ok_or_else(|| {
            NodeError::Internal(format!("an unexpected package id {}", sealed.package_id))
        })?;
        let dest = sealed_dir.join(&hex);
        fs::rename(&out, &dest).map_err(io(&dest))?;
        self.note_copy(case, &sealed.package_id, &dest, CopyKind::Sealed)?;
        sealed.dir = dest;
        for dir in dirs {
            if let Err(e) = fs::remove_dir_all(&dir) {
                tracing::warn!(error = %e, "a sealed upload could not be removed");
            }
        }
        Ok(SealedView::from(&sealed))
    }

    /// Sends package `package`, sealed here for case `case`, to each of its
    /// recipients (operation `send-evidence`), as `custos evidence send`
    /// does: only the segments a recipient lacks, retrying through broken
    /// connections for a while; gives how each send ended.
    pub async fn send_case_package(
        &self,
        actor: &Actor,
        case: &str,
        package: &str,
    ) -> Result<Vec<TransferView>, NodeError> {
        self.authorize(actor, Operation::SendEvidence, Some(case))
            .await?;
        let missing =
            || NodeError::NotFound(format!("no package {package:?} sealed for case {case}"));
        let hex = package_hex(package).ok_or_else(missing)?;
        let dir = sealed_root(&self.settings.data_dir).join(hex);
        if !dir.is_dir() {
            return Err(missing());
        }
        let local = self
            .check_package_for_send(&dir)
            .map_err(|e| NodeError::EvidencePackage {
                path: package.to_owned(),
                problem: e.to_string(),
            })?;
        if local.verified.manifest.request != case {
            return Err(missing());
        }
        let options = SendOptions {
            retry_for: SEND_RETRY,
            ..SendOptions::default()
        };
        let mut views = Vec::new();
        for to in local.verified.manifest.recipients.clone() {
            let outcome = self
                .send_evidence(&local, to, &options, &Quiet, actor)
                .await;
            views.push(TransferView::of(to, &local.verified.package_id, &outcome));
        }
        Ok(views)
    }

    /// The evidence of case `case` (operation `list-evidence`): packages
    /// sealed here and received, each with whether its signature verifies,
    /// whether it is complete, its latest check and its custody history;
    /// and this person's uploads.
    pub async fn case_evidence(
        &self,
        actor: &Actor,
        case: &str,
    ) -> Result<CaseEvidenceView, NodeError> {
        self.authorize(actor, Operation::ListEvidence, Some(case))
            .await?;
        let counterpart = self.request_detail(case).await?.counterpart;
        let data = &self.settings.data_dir;
        let mut sealed = self.packages_in(&sealed_root(data), case, true);
        let mut received = self.packages_in(&received_root(data), case, false);
        let mut ids: HashSet<String> = HashSet::new();
        ids.extend(sealed.iter().chain(&received).map(|p| p.package_id.clone()));
        let mut history = self.custody_of(&ids).await?;
        for p in sealed.iter_mut().chain(received.iter_mut()) {
            p.custody = history.remove(&p.package_id).unwrap_or_default();
            p.checked_ok = p
                .custody
                .iter()
                .rev()
                .find(|e| e.kind == "evidence-verified" || e.kind == "evidence-opened")
                .and_then(|e| e.detail.get("ok").and_then(Value::as_bool));
        }
        Ok(CaseEvidenceView {
            case: case.to_owned(),
            counterpart,
            sealed,
            received,
            uploads: self.uploads_of(actor, case),
        })
    }

    /// The packages under `root` answering `case`, newest first.
    fn packages_in(&self, root: &Path, case: &str, sealed_here: bool) -> Vec<CasePackage> {
        let Ok(entries) = fs::read_dir(root) else {
            return Vec::new();
        };
        let opened = opened_root(&self.settings.data_dir);
        let mut packages = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let dir = entry.path();
            let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if package_hex(name).is_none() {
                continue;
            }
            let Ok(bytes) = read_manifest_bytes(&dir) else {
                continue;
            };
            let Ok(u) = read_manifest_unverified(&bytes) else {
                continue;
            };
            let m = &u.manifest;
            if m.request != case {
                continue;
            }
            let signature_verified = self.package_manifest_checked(&dir).is_ok();
            let complete = m
                .segments
                .iter()
                .all(|s| segment_path(&dir, s.index).is_file());
            let receipted_by = if sealed_here {
                m.recipients
                    .iter()
                    .copied()
                    .filter(|cc| dir.join("receipts").join(format!("{cc}.json")).is_file())
                    .collect()
            } else {
                Vec::new()
            };
            let opened_files = if sealed_here {
                Vec::new()
            } else {
                files_under(&opened.join(name))
            };
            packages.push(CasePackage {
                package_id: u.package_id.clone(),
                sender: m.sender,
                recipients: m.recipients.clone(),
                files: m.totals.files,
                bytes: m.totals.bytes,
                created_at: m.created_at,
                signature_verified,
                complete,
                checked_ok: None,
                receipted_by,
                opened_files,
                custody: Vec::new(),
            });
        }
        packages.sort_by_key(|p| std::cmp::Reverse(p.created_at));
        packages
    }

    /// The custody entries among the ledger's latest [`CUSTODY_WINDOW`]
    /// whose subject is one of `ids`, by package, oldest first.
    async fn custody_of(
        &self,
        ids: &HashSet<String>,
    ) -> Result<std::collections::HashMap<String, Vec<CustodyEvent>>, NodeError> {
        let mut found: std::collections::HashMap<String, Vec<CustodyEvent>> =
            std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let size = self.store.ledger_size().await?;
        let mut from = size.saturating_sub(CUSTODY_WINDOW);
        while from < size {
            let page = self.store.ledger_entries(from, 1000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let Ok(v) = serde_json::from_slice::<Value>(&e.entry) else {
                    continue;
                };
                let Some(subject) = v.get("subject").and_then(Value::as_str) else {
                    continue;
                };
                if !ids.contains(subject) {
                    continue;
                }
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                found
                    .entry(subject.to_owned())
                    .or_default()
                    .push(CustodyEvent {
                        index: e.index,
                        kind: text("kind"),
                        at: text("at"),
                        actor: text("actor"),
                        detail: v.get("detail").cloned().unwrap_or(Value::Null),
                    });
            }
            from = page.last().map_or(size, |e| e.index + 1);
        }
        Ok(found)
    }

    /// Verifies and opens the received package `package` of case `case`
    /// into the node's opened folder (operation `open-evidence`, recorded,
    /// with its `evidence-opened` and `exported` custody entries).
    pub async fn open_case_package(
        &self,
        actor: &Actor,
        case: &str,
        package: &str,
    ) -> Result<Report, NodeError> {
        let dir = self.received_of_case(actor, case, package).await?;
        let Some(hex) = package_hex(package) else {
            return Err(NodeError::NotFound(package.to_owned()));
        };
        let out = opened_root(&self.settings.data_dir).join(hex);
        if out.is_dir() && fs::read_dir(&out).map_err(io(&out))?.next().is_some() {
            return Err(NodeError::EvidencePackage {
                path: package.to_owned(),
                problem: "the package is opened already; its files are listed with it".into(),
            });
        }
        let parent = opened_root(&self.settings.data_dir);
        fs::create_dir_all(&parent).map_err(io(&parent))?;
        self.open_evidence(dir, out, Arc::new(NoProgress), actor)
            .await
    }

    /// The folder of received package `package`, checked to answer case
    /// `case` (its manifest's signature verified); authorizes
    /// `open-evidence` on the case.
    async fn received_of_case(
        &self,
        actor: &Actor,
        case: &str,
        package: &str,
    ) -> Result<PathBuf, NodeError> {
        self.authorize(actor, Operation::OpenEvidence, Some(case))
            .await?;
        let missing =
            || NodeError::NotFound(format!("no package {package:?} received for case {case}"));
        let dir = received_folder(&self.settings.data_dir, package).ok_or_else(missing)?;
        if !dir.is_dir() {
            return Err(missing());
        }
        let view = self.package_manifest_checked(&dir)?;
        if view.manifest.request != case {
            return Err(missing());
        }
        Ok(dir)
    }

    /// The opened file `file` (its path in the package) of received package
    /// `package` of case `case`, for a face to stream out: the download is
    /// authorized as `open-evidence` on the case (so the record of who saw
    /// what names the person) and logged as an `exported` custody entry.
    pub async fn download_opened_file(
        &self,
        actor: &Actor,
        case: &str,
        package: &str,
        file: &str,
    ) -> Result<Download, NodeError> {
        let dir = self.received_of_case(actor, case, package).await?;
        let missing =
            || NodeError::NotFound(format!("no opened file {file:?} in package {package}"));
        let hex = package_hex(package).ok_or_else(missing)?;
        let parts: Vec<&str> = file.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
        {
            return Err(missing());
        }
        let mut path = opened_root(&self.settings.data_dir).join(&hex);
        for p in &parts {
            path.push(p);
        }
        // No link is followed out of the opened folder.
        let meta = fs::symlink_metadata(&path).map_err(|_| missing())?;
        if !meta.file_type().is_file() {
            return Err(missing());
        }
        let view = self.package_manifest_checked(&dir)?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::Exported, now, actor.label())
            .request(case.to_owned())
            .subject(view.package_id.clone())
            .detail(json!({
                "what": "evidence-file-download",
                "file": file,
                "bytes": meta.len(),
            }))
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(Download {
            path,
            name: parts.last().map_or_else(String::new, |n| (*n).to_owned()),
            bytes: meta.len(),
        })
    }
}

/// The regular files under `dir`, by path, `/`-separated and relative.
fn files_under(dir: &Path) -> Vec<OpenedFile> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Ok(t) = e.file_type() else { continue };
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if t.is_dir() {
                stack.push((e.path(), rel));
            } else if t.is_file() {
                let bytes = e.metadata().map_or(0, |m| m.len());
                out.push(OpenedFile { path: rel, bytes });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
