//! Evidence records in the deep check (`custos ledger verify --deep`).
//!
//! What a node holds of evidence is the packages peers sent it and it
//! accepted: one folder each under `DATA/evidence/received/<hex>/` with the
//! signed manifest, the segment files, the receipt the node signed, the
//! custody proof and `origin.json`, and two ledger entries written at
//! acceptance: `evidence-received` (the package id, the request, the hash of
//! the manifest's bytes) and `receipt-issued` (the hash of the receipt's
//! bytes). The packages this node sent are not among them: they live in
//! the folders their users sealed them into, with the receipts that came
//! back, outside the node.
//!
//! While the deep check reads the ledger it hands every entry to an
//! [`EvidenceLog`], which keeps those of evidence; then [`Node::audit_evidence`]
//! checks, on the blocking pool while the messages are checked, every
//! package folder and every logged acceptance: the manifest's signature by
//! the sender's key as the directory knows it (valid when the manifest was
//! made, so keys rotated since still vouch for it; a key revoked before the
//! package was accepted does not), the manifest's hash and request against
//! the `evidence-received` entry, the receipt's hash against the
//! `receipt-issued` entry and its signature by one of the node's own keys,
//! and every segment file's size and hash against the signed manifest
//! (this reads all of the data). A folder no entry logs was inserted; an
//! acceptance whose folder is gone was removed, as no entry records the
//! removal of an accepted package (`evidence-expired` is for partial
//! uploads, which were never accepted). Every mismatch is a line naming the
//! package; text that came from a package is escaped.
//!
//! Like the message pass, it goes by the ledger as read at the start: a
//! package accepted while the check runs may be named as inserted, and is
//! not once the check runs again.
//!
//! A node that never received evidence pays one failed `read_dir`.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use custos_protocol::evidence::{Manifest, read_manifest_unverified, segment_file_name};
use custos_protocol::evidence_transfer::{
    EVIDENCE_RECEIPT_PAYLOAD_TYPE, EvidenceReceipt, package_hex,
};
use custos_protocol::text::escape;
use custos_seal::{Envelope, content_id};
use serde_json::Value;
use time::OffsetDateTime;

use super::layout::{SEGMENTS_DIR, read_manifest_bytes, segment_path};
use super::open::check_segment_file;
use super::receive::{Folders, RECEIPT_FILE, received_root};
use super::staged::{ORIGIN_FILE, Origin};
use crate::reads::{Checker, LoggedEntry};
use crate::{Node, NodeError};

/// The largest receipt or `origin.json` read: both are a few hundred bytes.
const MAX_SMALL_FILE: u64 = 1 << 20;

/// The acceptance of a package, as its `evidence-received` entry logged it.
#[derive(Debug)]
struct Accepted {
    index: u64,
    at: OffsetDateTime,
    request: Option<String>,
    manifest_sha256: Option<String>,
}

/// The ledger's entries about received evidence, gathered while the deep
/// check reads the ledger.
#[derive(Debug, Default)]
pub(crate) struct EvidenceLog {
    /// By package hex: the latest `evidence-received` entry.
    accepted: HashMap<String, Accepted>,
    /// By package hex: the index and hash of the latest `receipt-issued`
    /// entry for evidence.
    receipts: HashMap<String, (u64, Option<String>)>,
    /// By package hex: the index of the latest `evidence-expired` entry.
    expired: HashMap<String, u64>,
    problems: Vec<String>,
}

impl EvidenceLog {
    /// Keeps entry `index` if it is about received evidence.
    pub(crate) fn see(&mut self, index: u64, entry: &LoggedEntry) {
        let kind = entry.kind.as_str();
        // issue 18: retention. A case's content deleted with its packages
        // logs their removal, as an expiry does.
        if kind == "content-deleted" {
            let packages = entry.detail.get("packages").and_then(Value::as_array);
            for p in packages.into_iter().flatten() {
                if let Some(hex) = p.as_str().and_then(package_hex) {
                    self.expired.insert(hex.to_owned(), index);
                }
            }
            return;
        }
        let evidence_receipt = kind == "receipt-issued"
            && entry.detail.get("for").and_then(Value::as_str) == Some("evidence");
        if kind != "evidence-received" && kind != "evidence-expired" && !evidence_receipt {
            return;
        }
        let Some(hex) = entry.subject.as_deref().and_then(package_hex) else {
            self.problems.push(format!(
                "ledger entry {index} ({kind}) names no evidence package"
            ));
            return;
        };
        let hex = hex.to_owned();
        if evidence_receipt {
            self.receipts
                .insert(hex, (index, entry.envelope_sha256.clone()));
        } else if kind == "evidence-expired" {
            self.expired.insert(hex, index);
        } else {
            let accepted = Accepted {
                index,
                at: entry.at,
                request: entry.request.clone(),
                manifest_sha256: entry.envelope_sha256.clone(),
            };
            self.accepted.insert(hex, accepted);
        }
    }
}

/// What the evidence check found.
#[derive(Debug, Default)]
pub(crate) struct EvidenceFound {
    /// Packages checked: folders held and acceptances logged.
    pub checked: u64,
    /// One line per mismatch.
    pub problems: Vec<String>,
    /// The confidentiality marks the signed manifests call for, as (case,
    /// source).
    pub marks: Vec<(String, String)>,
}

/// The evidence check running on the blocking pool; dropping it stops the
/// check at the next file.
#[derive(Debug)]
pub(crate) struct EvidenceAudit {
    task: Option<tokio::task::JoinHandle<EvidenceFound>>,
    stop: Arc<AtomicBool>,
}

impl EvidenceAudit {
    /// Waits for the check to end.
    pub(crate) async fn finish(mut self) -> Result<EvidenceFound, NodeError> {
        let task = self
            .task
            .take()
            .ok_or_else(|| NodeError::Internal("the evidence check was already awaited".into()))?;
        task.await
            .map_err(|e| NodeError::Internal(format!("the evidence check stopped: {e}")))
    }
}

impl Drop for EvidenceAudit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Node {
    /// Starts checking every received package against `log` (see the
    /// module documentation); [`EvidenceAudit::finish`] gives the outcome.
    pub(crate) fn audit_evidence(&self, log: EvidenceLog) -> EvidenceAudit {
        let checker = self.checker();
        let incoming = Folders::of(self).incoming;
        let received = received_root(&self.settings.data_dir);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::task::spawn_blocking(move || {
            let audit = Audit {
                checker: &checker,
                incoming: &incoming,
                stop: &stopped,
            };
            audit.run(&received, log)
        });
        EvidenceAudit {
            task: Some(task),
            stop,
        }
    }
}

struct Audit<'a> {
    checker: &'a Checker,
    /// `DATA/evidence/incoming/`, where packages are staged.
    incoming: &'a Path,
    stop: &'a AtomicBool,
}

impl Audit<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&self, received: &Path, mut log: EvidenceLog) -> EvidenceFound {
        let mut found = EvidenceFound {
            checked: 0,
            problems: std::mem::take(&mut log.problems),
            marks: Vec::new(),
        };
        let mut names = Vec::new();
        match fs::read_dir(received) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(e) => names.push(e.file_name().to_string_lossy().into_owned()),
                        Err(e) => found.problems.push(format!(
                            "evidence folder {}: cannot be listed: {e}",
                            escape(&received.display().to_string())
                        )),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => found.problems.push(format!(
                "evidence folder {}: cannot be listed: {e}",
                escape(&received.display().to_string())
            )),
        }
        names.sort();

        let mut held = HashSet::new();
        for name in names {
            if self.stopped() {
                return found;
            }
            found.checked += 1;
            let dir = received.join(&name);
            let hex = package_hex(&name).filter(|h| *h == name);
            let Some(hex) = hex.filter(|_| dir.is_dir()) else {
                found.problems.push(format!(
                    "evidence folder entry {}: not a package folder (its name is not a package id; inserted)",
                    escape(&name)
                ));
                continue;
            };
            held.insert(hex.to_owned());
            match log.accepted.get(hex) {
                None => found.problems.push(format!(
                    "evidence package {hex}: no ledger entry logs its acceptance (a folder inserted, or its entry removed)"
                )),
                Some(accepted) => {
                    let receipt = log.receipts.get(hex);
                    let mark = self.package(&dir, false, hex, accepted, receipt, &mut found.problems);
                    found.marks.extend(mark);
                }
            }
        }

        // Acceptances whose folder is not in `received/`.
        let mut gone: Vec<(&String, &Accepted)> = log
            .accepted
            .iter()
            .filter(|(hex, _)| !held.contains(*hex))
            .collect();
        gone.sort_by_key(|(_, a)| a.index);
        for (hex, accepted) in gone {
            if self.stopped() {
                return found;
            }
            if log.expired.get(hex).is_some_and(|i| *i > accepted.index) {
                // Its removal is logged.
                continue;
            }
            found.checked += 1;
            // An acceptance stopped between logging and the move leaves the
            // signed receipt in the staging folder; the sender's next
            // completion call moves it.
            let staging = self.incoming.join(hex);
            if staging.join(RECEIPT_FILE).is_file() {
                let receipt = log.receipts.get(hex.as_str());
                let mark =
                    self.package(&staging, true, hex, accepted, receipt, &mut found.problems);
                found.marks.extend(mark);
            } else {
                found.problems.push(format!(
                    "evidence package {hex}: ledger entry {} logs its acceptance, but its folder is not held (removed)",
                    accepted.index
                ));
            }
        }
        found
    }

    /// Checks one accepted package folder; adds a line per mismatch. Gives
    /// the confidentiality mark its manifest calls for on its case, if any.
    fn package(
        &self,
        dir: &Path,
        staged: bool,
        hex: &str,
        accepted: &Accepted,
        receipt: Option<&(u64, Option<String>)>,
        problems: &mut Vec<String>,
    ) -> Option<(String, String)> {
        let mut found = Vec::new();
        let manifest = self.manifest(dir, hex, accepted, &mut found);
        self.receipt(dir, hex, manifest.as_ref(), receipt, &mut found);
        if let Some(m) = &manifest {
            origin(dir, m, &mut found);
            self.segments(dir, m, staged, &mut found);
        }
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("evidence package {hex}: {p}")),
        );
        manifest
            .filter(|m| crate::app::assignments::marked_confidential(Some(&m.confidentiality)))
            .map(|m| (m.request, format!("package:sha256:{hex}")))
    }

    /// Checks the manifest against the ledger and its signature; gives it
    /// when it parses, for the other checks.
    fn manifest(
        &self,
        dir: &Path,
        hex: &str,
        accepted: &Accepted,
        found: &mut Vec<String>,
    ) -> Option<Manifest> {
        let bytes = match read_manifest_bytes(dir) {
            Ok(b) => b,
            Err(e) => {
                found.push(format!(
                    "its manifest cannot be read: {}",
                    escape(&e.to_string())
                ));
                return None;
            }
        };
        if accepted.manifest_sha256.as_deref() != Some(content_id(&bytes).as_str()) {
            found.push(format!(
                "its manifest is not the one ledger entry {} logged (edited or replaced)",
                accepted.index
            ));
        }
        let read = match read_manifest_unverified(&bytes) {
            Ok(r) => r,
            Err(e) => {
                found.push(format!(
                    "its manifest does not parse: {}",
                    escape(&e.to_string())
                ));
                return None;
            }
        };
        if read.package_id != format!("sha256:{hex}") {
            found.push(format!("its manifest is of package {}", read.package_id));
        }
        let m = read.manifest;
        if accepted.request.as_deref() != Some(m.request.as_str()) {
            found.push(format!(
                "its manifest answers request {}, ledger entry {} logs request {}",
                escape(&m.request),
                accepted.index,
                escape(accepted.request.as_deref().unwrap_or("(none)"))
            ));
        }
        if let Err(p) = self.manifest_signature(&bytes, &m, accepted.at) {
            found.push(p);
        }
        Some(m)
    }

    /// Checks the manifest's signature by the sender's key that was valid
    /// when it was made, as the directory lists it; a key revoked after
    /// the acceptance at `accepted_at` still vouches for it.
    fn manifest_signature(
        &self,
        bytes: &[u8],
        m: &Manifest,
        accepted_at: OffsetDateTime,
    ) -> Result<(), String> {
        let envelope = Envelope::from_json(bytes)
            .map_err(|e| format!("its manifest does not parse: {}", escape(&e.to_string())))?;
        let keyid = envelope
            .signatures
            .first()
            .map(|s| s.keyid.clone())
            .unwrap_or_default();
        let directory = self
            .checker
            .directory
            .as_ref()
            .ok_or("no directory is held to check its manifest's signature")?;
        let key = directory
            .entry(m.sender)
            .and_then(|e| e.signing_key(&keyid))
            .ok_or_else(|| {
                format!(
                    "its manifest is signed by key {}, which the directory does not list for {}",
                    escape(&keyid),
                    m.sender
                )
            })?;
        if !key.covers(m.created_at) {
            return Err(format!(
                "its manifest is signed by key {}, which was not valid for {} when the manifest was made",
                escape(&keyid),
                m.sender
            ));
        }
        if key.revoked_at.is_some_and(|r| r <= accepted_at) {
            return Err(format!(
                "its manifest is signed by key {}, revoked before the package was accepted",
                escape(&keyid)
            ));
        }
        let k = key.key;
        envelope
            .verify(|id| (id == keyid).then_some(k))
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "its manifest's signature does not verify: {}",
                    escape(&e.to_string())
                )
            })
    }

    /// Checks the held receipt against its `receipt-issued` entry, and its
    /// signature by the node's key of the time.
    fn receipt(
        &self,
        dir: &Path,
        hex: &str,
        manifest: Option<&Manifest>,
        logged: Option<&(u64, Option<String>)>,
        found: &mut Vec<String>,
    ) {
        let bytes = match read_small(&dir.join(RECEIPT_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.push("its receipt is not held (removed)".into());
                return;
            }
            Err(e) => {
                found.push(format!("its receipt cannot be read: {e}"));
                return;
            }
        };
        match logged {
            None => found.push("no ledger entry logs its receipt".into()),
            Some((index, hash)) => {
                if hash.as_deref() != Some(content_id(&bytes).as_str()) {
                    found.push(format!(
                        "its receipt is not the one ledger entry {index} logged (edited or replaced)"
                    ));
                }
            }
        }
        if let Err(p) = self.receipt_signature(&bytes, hex, manifest) {
            found.push(p);
        }
    }

    fn receipt_signature(
        &self,
        bytes: &[u8],
        hex: &str,
        manifest: Option<&Manifest>,
    ) -> Result<(), String> {
        let envelope = Envelope::from_json(bytes)
            .map_err(|e| format!("its receipt does not parse: {}", escape(&e.to_string())))?;
        if envelope.payload_type != EVIDENCE_RECEIPT_PAYLOAD_TYPE {
            return Err("its receipt is not an evidence receipt".into());
        }
        let r: EvidenceReceipt = serde_json::from_slice(&envelope.payload)
            .map_err(|e| format!("its receipt does not parse: {}", escape(&e.to_string())))?;
        if r.package != format!("sha256:{hex}") || r.receiver != self.checker.me {
            return Err("its receipt is for another package or receiver".into());
        }
        if let Some(m) = manifest
            && (r.request != m.request || r.sender != m.sender)
        {
            return Err("its receipt names another request or sender than its manifest".into());
        }
        let at = r.received_at;
        envelope
            .verify(|keyid| {
                self.checker
                    .own_keys
                    .iter()
                    .find(|k| k.key.key_id() == keyid && k.covers(at))
                    .map(|k| k.key)
            })
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "its receipt's signature does not verify: {}",
                    escape(&e.to_string())
                )
            })
    }

    /// Checks every segment file's size and hash against the manifest, and
    /// that the segments folder holds nothing else (but, in a package still
    /// `staged`, what uploads leave behind until the acceptance's move).
    fn segments(&self, dir: &Path, m: &Manifest, staged: bool, found: &mut Vec<String>) {
        for s in &m.segments {
            if self.stopped() {
                return;
            }
            if let Some(mismatch) = check_segment_file(&segment_path(dir, s.index), s) {
                found.push(format!("{}: {}", mismatch.subject, mismatch.problem));
            }
        }
        let Ok(entries) = fs::read_dir(dir.join(SEGMENTS_DIR)) else {
            // A missing folder was named segment by segment.
            return;
        };
        let expected: HashSet<String> = m
            .segments
            .iter()
            .map(|s| segment_file_name(s.index))
            .collect();
        let mut extra: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !expected.contains(n))
            .filter(|n| !(staged && (n.ends_with(".part") || n.ends_with(".lock"))))
            .collect();
        extra.sort();
        for name in extra {
            found.push(format!(
                "{SEGMENTS_DIR}/{}: not in its manifest (inserted)",
                escape(&name)
            ));
        }
    }
}

/// Checks `origin.json`, when held, against the manifest: the sender that
/// upload calls are checked against must be the manifest's.
fn origin(dir: &Path, m: &Manifest, found: &mut Vec<String>) {
    let origin = match read_small(&dir.join(ORIGIN_FILE)) {
        // Folders staged before the file existed have none.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            found.push(format!("its {ORIGIN_FILE} cannot be read: {e}"));
            return;
        }
        Ok(bytes) => serde_json::from_slice::<Origin>(&bytes).ok(),
    };
    match origin {
        None => found.push(format!("its {ORIGIN_FILE} does not parse")),
        Some(o) => {
            if o.sender != m.sender
                || o.request != m.request
                || u64::from(o.segments) != m.segments.len() as u64
            {
                found.push(format!(
                    "its {ORIGIN_FILE} names another sender, request or segment count than its manifest"
                ));
            }
        }
    }
}

/// Reads a file of at most [`MAX_SMALL_FILE`] bytes.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(io::Error::other(format!(
            "larger than {MAX_SMALL_FILE} bytes"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at_rest::StorageKey;

    const AT: OffsetDateTime = time::macros::datetime!(2026-11-01 12:00 UTC);

    fn checker() -> Checker {
        Checker {
            me: "DE".parse().unwrap(),
            storage: StorageKey::from_bytes(&[7; 32]),
            own_keys: Vec::new(),
            directory: None,
        }
    }

    fn entry(kind: &str, subject: &str, detail: Value) -> LoggedEntry {
        LoggedEntry {
            kind: kind.into(),
            at: AT,
            request: Some("req".into()),
            subject: Some(subject.into()),
            envelope_sha256: Some(format!("sha256:{}", "0".repeat(64))),
            detail,
        }
    }

    /// Runs the check over the folders of a node in `data` with `log`.
    fn run(data: &Path, log: EvidenceLog) -> EvidenceFound {
        let checker = checker();
        let stop = AtomicBool::new(false);
        let incoming = data.join("evidence").join("incoming");
        let audit = Audit {
            checker: &checker,
            incoming: &incoming,
            stop: &stop,
        };
        audit.run(&received_root(data), log)
    }

    #[test]
    fn a_node_without_evidence_checks_nothing() {
        let data = tempfile::tempdir().unwrap();
        let found = run(data.path(), EvidenceLog::default());
        assert_eq!(found.checked, 0);
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }

    #[test]
    fn only_entries_of_received_evidence_are_kept_and_one_naming_no_package_is_named() {
        let package = format!("sha256:{}", "a".repeat(64));
        let mut log = EvidenceLog::default();
        // A message's receipt, a sealing and a verification are not kept.
        log.see(0, &entry("receipt-issued", &package, Value::Null));
        log.see(1, &entry("evidence-sealed", &package, Value::Null));
        log.see(2, &entry("evidence-verified", &package, Value::Null));
        assert!(log.accepted.is_empty() && log.receipts.is_empty() && log.expired.is_empty());
        let evidence = serde_json::json!({ "for": "evidence" });
        log.see(3, &entry("evidence-received", &package, Value::Null));
        log.see(4, &entry("receipt-issued", &package, evidence));
        log.see(5, &entry("evidence-received", "not a package", Value::Null));
        assert_eq!(log.accepted["a".repeat(64).as_str()].index, 3);
        assert_eq!(log.receipts["a".repeat(64).as_str()].0, 4);
        assert_eq!(
            log.problems,
            ["ledger entry 5 (evidence-received) names no evidence package"]
        );
    }

    #[test]
    fn a_package_gone_is_named_unless_a_later_entry_logs_its_removal() {
        let data = tempfile::tempdir().unwrap();
        let package = format!("sha256:{}", "b".repeat(64));
        let log = |expired: Option<u64>| {
            let mut log = EvidenceLog::default();
            log.see(5, &entry("evidence-received", &package, Value::Null));
            if let Some(i) = expired {
                log.see(i, &entry("evidence-expired", &package, Value::Null));
            }
            log
        };
        let found = run(data.path(), log(None));
        assert_eq!(found.checked, 1);
        assert_eq!(
            found.problems,
            [format!(
                "evidence package {}: ledger entry 5 logs its acceptance, but its folder is not held (removed)",
                "b".repeat(64)
            )]
        );
        // An expiry logged before the acceptance explains nothing.
        assert_eq!(run(data.path(), log(Some(3))).problems.len(), 1);
        let found = run(data.path(), log(Some(9)));
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }
}
