//! The node's evidence services: sealing, verifying and opening packages
//! with the node's keys, directory and stored requests, and exporting the
//! node's decryption identity for standard tools. Each one is a custody
//! event: it queues its ledger entry when it succeeds.
//!
//! The file work runs on tokio's blocking pool ([`tokio::task::spawn_blocking`]).

use crate::app::Operation;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_model::StateCode;
use custos_protocol::case_bodies::PersonalData;
use custos_protocol::use_limits::UseLimits;
use custos_protocol::{Directory, timestamp};
use custos_seal::EncryptionIdentity;
use serde_json::{Value, json};
use time::Date;

use super::layout::io_err;
use super::open::{self, Report};
use super::pipeline::Progress;
use super::seal::{self, SealOptions, Sealed};
use crate::app::Actor;
use crate::app::copies::CopyKind;
use crate::app::evidence::SealMarks;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// `marks` with texts trimmed and blank ones dropped, checked: personal
/// data names at least one category, and a deletion date not in the past.
fn checked_marks(request: &str, marks: &SealMarks, today: Date) -> Result<SealMarks, NodeError> {
    let texts = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let refuse = |problem: &str| NodeError::EvidenceInput {
        path: request.to_owned(),
        problem: problem.to_owned(),
    };
    let personal_data = match &marks.personal_data {
        None => None,
        Some(pd) => {
            let categories = texts(&pd.categories);
            if categories.is_empty() {
                return Err(refuse(
                    "name the categories of personal data in the package (such as subscriber data or traffic data)",
                ));
            }
            if pd.delete_by.is_some_and(|d| d < today) {
                return Err(refuse(
                    "the date by which the personal data is to be deleted has passed",
                ));
            }
            Some(PersonalData {
                categories,
                conditions: texts(&pd.conditions),
                delete_by: pd.delete_by,
            })
        }
    };
    Ok(SealMarks {
        confidential: marks.confidential.as_deref().map(|r| r.trim().to_owned()),
        conditions: texts(&marks.conditions),
        personal_data,
    })
}

fn joined<T>(result: Result<Result<T, NodeError>, tokio::task::JoinError>) -> Result<T, NodeError> {
    result.map_err(|e| NodeError::Internal(format!("evidence task failed: {e}")))?
}

/// What the custody entry of a verification or an opening says of its
/// outcome.
fn report_detail(report: &Report) -> Value {
    json!({
        "ok": report.is_ok(),
        "files": report.files_total,
        "files_verified": report.files_verified,
        "bytes": report.bytes_total,
        "segments": report.segments,
        "mismatches": report.mismatches.len(),
    })
}

/// A custody entry about the package a report is of.
fn report_entry(
    kind: EntryKind,
    report: &Report,
    now: time::OffsetDateTime,
    actor: &str,
    detail: Value,
) -> Result<Vec<u8>, NodeError> {
    Entry::new(kind, now, actor)
        .request(report.request.clone())
        .subject(report.package_id.clone())
        .detail(detail)
        .encode()
}

impl Node {
    /// Builds the options to seal evidence answering `request` (a request
    /// stored on this node) for the States `to`: their current encryption
    /// keys and this node's own, the use conditions and confidentiality of
    /// the request body with what `marks` adds, the node's signing key and
    /// the time now.
    pub async fn evidence_seal_options(
        &self,
        request: &str,
        to: &[StateCode],
        segment_size: u64,
        marks: &SealMarks,
        actor: &Actor,
    ) -> Result<SealOptions, NodeError> {
        self.authorize(actor, Operation::SealEvidence, Some(request))
            .await?;
        let marks = checked_marks(request, marks, self.clock.now().date())?;
        // The request's draft, checked against what was signed and logged.
        let record = self.request_detail(request).await?;
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let now = self.clock.now();
        if to.is_empty() {
            return Err(NodeError::NotOurs(
                "name at least one recipient State (--to)".into(),
            ));
        }
        let mut recipients: Vec<StateCode> = Vec::new();
        let mut keys = Vec::new();
        for state in to {
            if *state == self.state() {
                return Err(NodeError::NotOurs(format!(
                    "{state} is this node's own State; the sender can always decrypt its packages"
                )));
            }
            if recipients.contains(state) {
                continue;
            }
            if directory.entry(*state).is_none() {
                return Err(NodeError::NotInDirectory(*state));
            }
            let current = directory.current_recipients(*state, now);
            if current.is_empty() {
                return Err(NodeError::NoEncryptionKey(*state));
            }
            keys.extend(current);
            recipients.push(*state);
        }
        let (signing_key, own) = self.with_keys(|k| (k.signing.clone(), k.encryption.recipient()));
        keys.push(own);
        let mut conditions = UseLimits::conditions_of(record.draft.get("use_conditions"));
        for c in marks.conditions {
            if !conditions.contains(&c) {
                conditions.push(c);
            }
        }
        let mut confidentiality = record
            .draft
            .get("confidentiality")
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(reasons) = marks.confidential {
            if !confidentiality.is_object() {
                confidentiality = json!({});
            }
            confidentiality["required"] = json!(true);
            if !reasons.is_empty() {
                confidentiality["provider_reasons"] = json!(reasons);
            }
        }
        Ok(SealOptions {
            request: record.id.clone(),
            sender: self.state(),
            recipients,
            keys,
            signing_key,
            created_at: timestamp::truncate(now),
            use_limits: UseLimits {
                case: record.id.clone(),
                purpose: record
                    .draft
                    .get("purpose")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                conditions,
            }
            .to_value(),
            confidentiality,
            personal_data: marks.personal_data,
            segment_size,
        })
    }

    /// Seals `paths` into the package folder `out` and logs an
    /// `evidence-sealed` custody entry by `actor`.
    pub async fn seal_evidence(
        &self,
        paths: Vec<PathBuf>,
        options: SealOptions,
        out: PathBuf,
        progress: Arc<dyn Progress>,
        actor: &Actor,
    ) -> Result<Sealed, NodeError> {
        self.authorize(actor, Operation::SealEvidence, Some(&options.request))
            .await?;
        let sealed = joined(
            tokio::task::spawn_blocking(move || {
                seal::seal_package(&paths, &options, &out, progress.as_ref())
            })
            .await,
        )?;
        // Files another State provided are sealed for a third State only
        // with that State's consent (issue 18): the package is removed
        // otherwise, never logged or sent.
        let consents = match self.check_seal_use(&sealed.manifest).await {
            Ok(consents) => consents,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&sealed.dir);
                return Err(e);
            }
        };
        let m = &sealed.manifest;
        // Noted for the case's retention, which deletes the package with
        // the case's content.
        if let Err(e) = self.note_copy(
            &m.request,
            &sealed.package_id,
            &sealed.dir,
            CopyKind::Sealed,
        ) {
            let _ = std::fs::remove_dir_all(&sealed.dir);
            return Err(e);
        }
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::EvidenceSealed, now, actor.label())
            .request(m.request.clone())
            .subject(sealed.package_id.clone())
            .envelope(&sealed.manifest_bytes)
            .detail(json!({
                "files": m.totals.files,
                "bytes": m.totals.bytes,
                "segments": m.segments.len(),
                "segment_size": m.content.segment_size,
                "recipients": m.recipients,
                "consents": consents,
            }))
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(sealed)
    }

    /// Verifies the package at `pkg` (see [`open::verify`]) and logs an
    /// `evidence-verified` custody entry with the outcome.
    pub async fn verify_evidence(
        &self,
        pkg: PathBuf,
        progress: Arc<dyn Progress>,
        actor: &Actor,
    ) -> Result<Report, NodeError> {
        let case = self.package_case(&pkg);
        self.authorize(actor, Operation::VerifyEvidence, case.as_deref())
            .await?;
        let report = self
            .check_package(move |directory, identities| {
                open::verify(&pkg, directory, identities, progress.as_ref())
            })
            .await?;
        let now = self.clock.now();
        let mut detail = report_detail(&report);
        detail["decrypted"] = json!(report.decrypted);
        let entry = report_entry(
            EntryKind::EvidenceVerified,
            &report,
            now,
            &actor.label(),
            detail,
        )?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(report)
    }

    /// Opens the package at `pkg` into `out` (see [`open::open`]) and logs
    /// an `evidence-opened` entry and, for the files written in clear, an
    /// `exported` entry.
    pub async fn open_evidence(
        &self,
        pkg: PathBuf,
        out: PathBuf,
        progress: Arc<dyn Progress>,
        actor: &Actor,
    ) -> Result<Report, NodeError> {
        self.open_evidence_for(pkg, out, None, progress, actor)
            .await
    }

    /// [`Node::open_evidence`] for use in case `for_case` (issue 18): a
    /// package another State provided for another case is opened there
    /// only with that State's consent, which the entries cite.
    pub async fn open_evidence_for(
        &self,
        pkg: PathBuf,
        out: PathBuf,
        for_case: Option<&str>,
        progress: Arc<dyn Progress>,
        actor: &Actor,
    ) -> Result<Report, NodeError> {
        let checked = self.package_manifest_checked(&pkg).ok();
        let case = checked.as_ref().map(|m| m.manifest.request.clone());
        self.authorize(actor, Operation::OpenEvidence, case.as_deref())
            .await?;
        let consent = match (&checked, for_case) {
            (Some(view), Some(for_case)) => {
                self.check_other_case_use(&view.manifest, &view.package_id, for_case)
                    .await?
            }
            (None, Some(_)) => {
                return Err(NodeError::EvidencePackage {
                    path: pkg.display().to_string(),
                    problem: "the manifest does not verify, so its use limits cannot be checked"
                        .into(),
                });
            }
            _ => None,
        };
        // Noted before anything is written, for the case's retention.
        if let Some(view) = &checked {
            self.note_copy(
                &view.manifest.request,
                &view.package_id,
                &out,
                CopyKind::Opened,
            )?;
        }
        let out_text = out.display().to_string();
        let report = self
            .check_package(move |directory, identities| {
                open::open(&pkg, &out, directory, identities, progress.as_ref())
            })
            .await?;
        let now = self.clock.now();
        let mut opened_detail = report_detail(&report);
        let mut exported_detail = json!({
            "what": "evidence-files",
            "to": out_text,
            "files": report.files_written,
        });
        if let Some(for_case) = for_case {
            for detail in [&mut opened_detail, &mut exported_detail] {
                detail["for_case"] = json!(for_case);
                detail["consent"] = json!(consent.as_ref().map(|c| &c.grant));
                if consent.as_ref().is_some_and(|c| c.exculpatory) {
                    detail["exculpatory"] = json!(true);
                }
            }
        }
        let opened = report_entry(
            EntryKind::EvidenceOpened,
            &report,
            now,
            &actor.label(),
            opened_detail,
        )?;
        let exported = report_entry(
            EntryKind::Exported,
            &report,
            now,
            &actor.label(),
            exported_detail,
        )?;
        self.store.queue_ledger(&[opened, exported], now).await?;
        Ok(report)
    }

    /// The case a package answers, from its manifest checked against the
    /// directory in force (`None` when it cannot be read or checked: then
    /// only a role allowed on every case may go on).
    fn package_case(&self, pkg: &Path) -> Option<String> {
        self.package_manifest_checked(pkg)
            .ok()
            .map(|m| m.manifest.request)
    }

    /// Runs `check` (verifying or opening a package) on the blocking pool
    /// with the node's directory and decryption identities.
    async fn check_package<F>(&self, check: F) -> Result<Report, NodeError>
    where
        F: FnOnce(&Directory, &[EncryptionIdentity]) -> Result<Report, NodeError> + Send + 'static,
    {
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let identities = self.with_keys(|k| k.identities());
        joined(tokio::task::spawn_blocking(move || check(&directory, &identities)).await)
    }

    /// Writes the node's current age identity (`AGE-SECRET-KEY-1…`) to the
    /// new file `out` (mode 0600; an existing file is never replaced), for a
    /// receiver who checks packages with standard tools, and logs an
    /// `exported` custody entry with `reason` and the key's public
    /// recipient. Returns the recipient (`age1…`).
    pub async fn export_identity(
        &self,
        out: &Path,
        reason: &str,
        actor: &Actor,
    ) -> Result<String, NodeError> {
        // The identity decrypts every package sent to this node: exporting
        // it concerns no one case.
        self.authorize(actor, Operation::ExportIdentity, None)
            .await?;
        if reason.trim().is_empty() {
            return Err(NodeError::NotOurs(
                "give the reason for exporting the identity (--reason)".into(),
            ));
        }
        let (secret, recipient) = self.with_keys(|k| {
            (
                k.encryption.to_secret_text(),
                k.encryption.recipient().to_text(),
            )
        });
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(out).map_err(|e| io_err(out, e))?;
        // The secret is written straight from its zeroizing string, never
        // copied into another buffer.
        let header = format!(
            "# custos node identity of {}\n# public key: {recipient}\n",
            self.state()
        );
        let written = file
            .write_all(header.as_bytes())
            .and_then(|()| file.write_all(secret.as_bytes()))
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(out);
            return Err(io_err(out, e));
        }
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::Exported, now, actor.label())
            .detail(json!({
                "what": "decryption-identity",
                "recipient": recipient,
                "reason": reason,
                "to": out.display().to_string(),
            }))
            .encode()?;
        self.store.queue_ledger(&[entry], now).await?;
        Ok(recipient)
    }
}
