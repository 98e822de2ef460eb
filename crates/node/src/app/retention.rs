//! Retention, legal holds and the deletion of a case's content when its
//! retention ends (issue 18).
//!
//! A case's retention counts from its end: the last step of its thread
//! once the case reached a final state (closed, withdrawn, refused,
//! executed, ...). An open case is never deleted, however old. The period
//! is the node's default for the case's kind (`[retention]` in
//! `custos.toml`), or a period or a date set for the case by a person with
//! a reason; a legal hold suspends it until lifted. The scheduler's
//! retention worker (and `custos case purge --due`) deletes the content of
//! the cases due, in small batches, each case in one store transaction
//! with its `content-deleted` ledger entry: message envelopes, the saved
//! draft, the ciphertexts of delivered outbox items, the folders of the
//! evidence packages received for it, and the copies the node wrote of its
//! evidence: packages sealed and files opened, in the node's folders or in
//! those a person named (`copies.rs`; an opened file changed since is
//! left, and counted as `copies_kept`). Ids, kinds, states, times, receipts,
//! the history and every ledger entry stay, so the ledger still verifies
//! and proves; a read of the content is then [`NodeError::ContentDeleted`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_model::RequestKind;
use custos_store::{
    CHANGE_HOLD_LIFTED, CHANGE_HOLD_PLACED, CHANGE_RETENTION, CaseRow, ContentDeletion,
    RetentionChange, RetentionRecord,
};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use super::{Actor, Operation};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// Cases whose content is deleted at once within a batch.
const PURGE_AT_ONCE: usize = 8;

/// Retention settings (`[retention]` in `custos.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days a case's content is kept after the case ended, when its kind
    /// has no period of its own.
    pub default_days: u32,
    /// Periods of their own for some kinds.
    pub by_kind: Vec<(RequestKind, u32)>,
    /// How often the retention worker looks for content due.
    pub tick: std::time::Duration,
    /// Cases deleted per batch (each case is its own transaction).
    pub batch: u32,
}

impl Default for RetentionSettings {
    /// Five years after a case ended (a mutual-assistance file serves
    /// proceedings that last years); two years for the 24/7 desk's short
    /// requests (advice, legal information, locating, emergency data,
    /// preservation and traffic-data disclosure), whose follow-up is the
    /// mutual-assistance request that keeps its own file.
    fn default() -> Self {
        let short = 730;
        RetentionSettings {
            default_days: 1826,
            by_kind: vec![
                (RequestKind::TechnicalAdvice, short),
                (RequestKind::LegalInformation, short),
                (RequestKind::LocateSuspect, short),
                (RequestKind::EmergencyData, short),
                (RequestKind::Preservation, short),
                (RequestKind::TrafficDisclosure, short),
            ],
            tick: std::time::Duration::from_secs(60),
            batch: 100,
        }
    }
}

impl RetentionSettings {
    /// The period of a kind, in days.
    pub fn days_for(&self, kind: RequestKind) -> u32 {
        self.by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(self.default_days, |(_, d)| *d)
    }
}

/// What a person sets as a case's retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionPeriod {
    /// Days after the case ended.
    Days(u32),
    /// A fixed date.
    Until(OffsetDateTime),
}

/// A case's retention, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionView {
    pub case: String,
    /// When the case ended (`None`: still open, nothing is deleted).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub ended_at: Option<OffsetDateTime>,
    /// The period in force, in days (the case's own, else its kind's).
    pub days: u32,
    /// Whether the period is the case's own (`false`: the node's default).
    pub set_for_case: bool,
    /// A date set for the case in place of the period.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub until: Option<OffsetDateTime>,
    /// Whether a legal hold suspends deletion.
    pub legal_hold: bool,
    /// When the content is deleted (`None`: open, held or deleted).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub deletion_date: Option<OffsetDateTime>,
    /// The deletion, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DeletionView>,
    /// Every change people made, oldest first.
    pub changes: Vec<RetentionChangeView>,
    /// The other State's report that it deleted its copy of the case
    /// (a `report-deletion` message); this node keeps its own copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_deleted: Option<PeerDeletionView>,
}

/// The other State's report that it deleted its copy, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerDeletionView {
    /// When the other State deleted it, as it says.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub deleted_at: OffsetDateTime,
    /// The content id of its `content-deleted` ledger entry.
    pub entry: String,
    /// The signed `report-deletion` message that said so.
    pub message_id: String,
}

/// A person's change of a case's retention, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionChangeView {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    pub by: String,
    /// `retention`, `hold-placed` or `hold-lifted`.
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub until: Option<OffsetDateTime>,
    pub reason: String,
    /// The content id of its ledger entry.
    pub entry: String,
}

/// The deletion of a case's content, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionView {
    pub case: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    pub by: String,
    pub reason: String,
    pub messages: u64,
    pub drafts: u64,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
    /// The content id of its `content-deleted` ledger entry.
    pub entry: String,
}

/// What one purge did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeReport {
    /// Cases whose content was deleted.
    pub deleted: Vec<DeletionView>,
    /// Cases due that were skipped (held meanwhile, or deleted already).
    pub skipped: u64,
}

fn deletion_view(d: ContentDeletion) -> DeletionView {
    DeletionView {
        case: d.case_id,
        at: d.at,
        by: d.actor,
        reason: d.reason,
        messages: d.messages,
        drafts: d.drafts,
        evidence_files: d.evidence_files,
        evidence_bytes: d.evidence_bytes,
        entry: d.entry_sha256,
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The typed error naming a deletion.
pub(crate) fn deleted_error(d: &ContentDeletion) -> NodeError {
    NodeError::ContentDeleted {
        case: d.case_id.clone(),
        at: rfc3339(d.at),
        by: d.actor.clone(),
        entry: d.entry_sha256.clone(),
    }
}

/// When content falls due: a date set wins, else the case's end plus its
/// period; nothing while the case is open.
fn due_at(r: &RetentionRecord, default_days: u32) -> Option<OffsetDateTime> {
    let ended = r.ended_at?;
    Some(
        r.until
            .unwrap_or_else(|| ended + Duration::days(i64::from(r.days.unwrap_or(default_days)))),
    )
}

/// Files and bytes under `dir`, removed (links are removed, never
/// followed), in one walk: each file as it is listed, then the emptied
/// folders, deepest first.
pub(super) fn remove_folder(dir: &Path) -> std::io::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut folders = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                std::fs::remove_file(e.path())?;
                files += 1;
                bytes += meta.len();
            }
        }
        folders.push(d);
    }
    // A folder is listed after the one holding it.
    for d in folders.iter().rev() {
        std::fs::remove_dir(d)?;
    }
    Ok((files, bytes))
}

/// What removing a case's files came to: the files and bytes removed,
/// the copies left because they changed, and the packages removed.
struct CaseFilesRemoved {
    files: u64,
    bytes: u64,
    copies_kept: u64,
    packages: Vec<String>,
}

/// Removes the copies the node wrote of case `case`'s evidence (first:
/// their manifests are in the package folders), then its received
/// packages' folders. Blocking: run off the async threads.
fn remove_case_files(
    data: &Path,
    case: &str,
    package_folders: &[PathBuf],
) -> Result<CaseFilesRemoved, NodeError> {
    let copies = super::copies::delete_copies(data, case)?;
    let mut removed = CaseFilesRemoved {
        files: copies.files,
        bytes: copies.bytes,
        copies_kept: copies.kept,
        packages: Vec::with_capacity(package_folders.len()),
    };
    for folder in package_folders {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (f, b) =
            remove_folder(folder).map_err(|e| crate::evidence::layout::io_err(folder, e))?;
        removed.files += f;
        removed.bytes += b;
        removed.packages.push(format!("sha256:{name}"));
    }
    Ok(removed)
}

impl Node {
    fn retention_record(&self, id: &str, now: OffsetDateTime) -> RetentionRecord {
        RetentionRecord {
            case_id: id.to_owned(),
            ended_at: None,
            days: None,
            until: None,
            held: false,
            delete_at: None,
            changed_at: now,
        }
    }

    /// Notes a case's end from its index row as derived: the retention
    /// counts from there. Writes only when the end changed.
    pub(crate) async fn note_case_end(&self, row: &CaseRow) -> Result<(), NodeError> {
        let ended_at = (!row.open).then(|| row.last_step_at.unwrap_or(row.created_at));
        let now = self.clock.now();
        let mut r = match self.store.retention(&row.id).await? {
            Some(r) => r,
            None if ended_at.is_none() => return Ok(()),
            None => self.retention_record(&row.id, now),
        };
        let ended_at = ended_at.map(custos_store::storage_precision);
        if r.ended_at == ended_at {
            return Ok(());
        }
        if self.store.content_deletion(&row.id).await?.is_some() {
            return Ok(());
        }
        r.ended_at = ended_at;
        r.delete_at = due_at(&r, self.settings.retention.days_for(row.kind));
        r.changed_at = now;
        self.store.put_retention(&r, None, &[]).await?;
        Ok(())
    }

    /// A case's retention as shown (for a case that exists).
    pub(crate) async fn retention_view(
        &self,
        id: &str,
        kind: RequestKind,
    ) -> Result<RetentionView, NodeError> {
        let r = self
            .store
            .retention(id)
            .await?
            .unwrap_or_else(|| self.retention_record(id, self.clock.now()));
        let deleted = self.store.content_deletion(id).await?;
        let changes = self.store.retention_changes(id).await?;
        let default_days = self.settings.retention.days_for(kind);
        Ok(RetentionView {
            case: id.to_owned(),
            ended_at: r.ended_at,
            days: r.days.unwrap_or(default_days),
            set_for_case: r.days.is_some() || r.until.is_some(),
            until: r.until,
            legal_hold: r.held,
            deletion_date: if deleted.is_some() || r.held {
                None
            } else {
                due_at(&r, default_days)
            },
            deleted: deleted.map(deletion_view),
            changes: changes
                .into_iter()
                .map(|c| RetentionChangeView {
                    at: c.at,
                    by: c.person,
                    change: c.change,
                    days: c.days,
                    until: c.until,
                    reason: c.reason,
                    entry: c.entry_sha256,
                })
                .collect(),
            peer_deleted: None,
        })
    }

    /// Case `id`'s retention as `actor` reads it (operation `read-case`,
    /// which needs no content: it answers for a deleted case too).
    pub async fn retention(&self, id: &str, actor: &Actor) -> Result<RetentionView, NodeError> {
        self.authorize(actor, Operation::ReadCase, Some(id)).await?;
        let request = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(|| NodeError::NotFound(id.to_owned()))?;
        let mut view = self.retention_view(id, request.kind).await?;
        match self.derived(id, self.clock.now()).await {
            Ok(d) => view.peer_deleted = d.peer_deletion(),
            Err(NodeError::ContentDeleted { .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(view)
    }

    /// Changes case `id`'s retention or hold for `actor`, with `reason`,
    /// the change and its ledger entry in one transaction.
    async fn change_retention(
        &self,
        id: &str,
        op: Operation,
        change: &str,
        period: Option<RetentionPeriod>,
        reason: &str,
        actor: &Actor,
    ) -> Result<RetentionView, NodeError> {
        self.authorize(actor, op, Some(id)).await?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(NodeError::InvalidDraft(
                "a change of retention or a legal hold gives its reason".to_owned(),
            ));
        }
        let request = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(|| NodeError::NotFound(id.to_owned()))?;
        if let Some(d) = self.store.content_deletion(id).await? {
            return Err(deleted_error(&d));
        }
        let now = custos_store::storage_precision(self.clock.now());
        let mut r = self
            .store
            .retention(id)
            .await?
            .unwrap_or_else(|| self.retention_record(id, now));
        let (kind, mut detail) = match change {
            CHANGE_HOLD_PLACED => {
                r.held = true;
                (EntryKind::LegalHoldPlaced, json!({}))
            }
            CHANGE_HOLD_LIFTED => {
                r.held = false;
                (EntryKind::LegalHoldLifted, json!({}))
            }
            _ => match period {
                Some(RetentionPeriod::Days(d)) => {
                    r.days = Some(d);
                    r.until = None;
                    (EntryKind::RetentionChanged, json!({ "days": d }))
                }
                Some(RetentionPeriod::Until(t)) => {
                    let t = custos_store::storage_precision(t);
                    r.until = Some(t);
                    (EntryKind::RetentionChanged, json!({ "until": rfc3339(t) }))
                }
                None => {
                    return Err(NodeError::InvalidDraft(
                        "a retention is a number of days or a date".to_owned(),
                    ));
                }
            },
        };
        detail["reason_sha256"] = json!(custos_seal::content_id(reason.as_bytes()));
        let entry = Entry::new(kind, now, actor.label())
            .request(id)
            .detail(detail)
            .encode()?;
        r.delete_at = due_at(&r, self.settings.retention.days_for(request.kind));
        r.changed_at = now;
        let (days, until) = match (change, period) {
            (CHANGE_RETENTION, Some(RetentionPeriod::Days(d))) => (Some(d), None),
            (CHANGE_RETENTION, Some(RetentionPeriod::Until(t))) => (None, Some(t)),
            _ => (None, None),
        };
        let record = RetentionChange {
            case_id: id.to_owned(),
            at: now,
            person: actor.label(),
            change: change.to_owned(),
            days,
            until,
            reason: reason.to_owned(),
            entry_sha256: custos_seal::content_id(&entry),
        };
        self.store
            .put_retention(&r, Some(&record), &[entry])
            .await?;
        self.retention_view(id, request.kind).await
    }

    /// Sets case `id`'s retention to a period or a date, with a reason.
    pub async fn set_retention(
        &self,
        id: &str,
        period: RetentionPeriod,
        reason: &str,
        actor: &Actor,
    ) -> Result<RetentionView, NodeError> {
        self.change_retention(
            id,
            Operation::SetRetention,
            CHANGE_RETENTION,
            Some(period),
            reason,
            actor,
        )
        .await
    }

    /// Places (`true`) or lifts a legal hold on case `id`, with a reason.
    pub async fn legal_hold(
        &self,
        id: &str,
        place: bool,
        reason: &str,
        actor: &Actor,
    ) -> Result<RetentionView, NodeError> {
        let change = if place {
            CHANGE_HOLD_PLACED
        } else {
            CHANGE_HOLD_LIFTED
        };
        self.change_retention(id, Operation::LegalHold, change, None, reason, actor)
            .await
    }

    /// The folders of received packages still on disk, by the request they
    /// answer, from the index of received packages (filled first for any
    /// not indexed).
    async fn received_folders(&self) -> Result<HashMap<String, Vec<PathBuf>>, NodeError> {
        let mut by_request: HashMap<String, Vec<PathBuf>> = HashMap::new();
        for origin in self.index_received_packages().await? {
            if let Some(folder) = crate::evidence::receive::received_folder(
                &self.settings.data_dir,
                &origin.package_id,
            )
            .filter(|f| f.is_dir())
            {
                by_request.entry(origin.request).or_default().push(folder);
            }
        }
        Ok(by_request)
    }

    /// Deletes the content of every case due now, in batches, as `actor`
    /// (a person: operation `purge-content`; or the scheduler).
    pub async fn purge_due(&self, actor: &Actor) -> Result<PurgeReport, NodeError> {
        self.authorize(actor, Operation::PurgeContent, None).await?;
        let mut report = PurgeReport::default();
        let mut folders: Option<HashMap<String, Vec<PathBuf>>> = None;
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .due_deletions(now, self.settings.retention.batch)
                .await?;
            if due.is_empty() {
                break;
            }
            if folders.is_none() {
                folders = Some(self.received_folders().await?);
            }
            let folders = folders.get_or_insert_default();
            let mut progressed = false;
            // Several cases at once: their transactions share the store's
            // commits (and its fsyncs); the outcomes come in `due`'s order.
            let work: Vec<(String, Vec<PathBuf>)> = due
                .into_iter()
                .map(|id| {
                    let mine = folders.remove(&id).unwrap_or_default();
                    (id, mine)
                })
                .collect();
            let mut outcomes = futures_util::stream::iter(work)
                .map(|(id, mine)| async move { self.purge_case(&id, &mine, actor).await })
                .buffered(PURGE_AT_ONCE);
            while let Some(outcome) = outcomes.next().await {
                match outcome? {
                    Some(d) => {
                        progressed = true;
                        report.deleted.push(deletion_view(d));
                    }
                    None => report.skipped += 1,
                }
            }
            if !progressed {
                break;
            }
            // Let intake run between batches.
            tokio::task::yield_now().await;
        }
        Ok(report)
    }

    /// Deletes one case's content: its package folders first (a crash
    /// after leaves the case due, and the next pass completes it), then
    /// everything in the store with the deletion's record and ledger
    /// entry, in one transaction.
    async fn purge_case(
        &self,
        id: &str,
        package_folders: &[PathBuf],
        actor: &Actor,
    ) -> Result<Option<ContentDeletion>, NodeError> {
        if let Some(r) = self.store.retention(id).await?
            && r.held
        {
            return Ok(None);
        }
        // Files are removed on a blocking thread: a purge must not hold up
        // the async threads that answer other States' messages.
        let removed = {
            let data = self.settings.data_dir.clone();
            let (case, folders) = (id.to_owned(), package_folders.to_vec());
            tokio::task::spawn_blocking(move || remove_case_files(&data, &case, &folders))
                .await
                .map_err(|e| {
                    NodeError::Internal(format!("removing a case's files failed: {e}"))
                })??
        };
        let messages: Vec<String> = self
            .store
            .thread_messages(id)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let last = messages.last().cloned();
        let now = custos_store::storage_precision(self.clock.now());
        let reason = "retention ended";
        let detail = json!({
            "reason": reason,
            "messages": messages,
            "packages": removed.packages,
            "evidence_files": removed.files,
            "evidence_bytes": removed.bytes,
            "copies_kept": removed.copies_kept,
        });
        let entry = Entry::new(EntryKind::ContentDeleted, now, actor.label())
            .request(id)
            .detail(detail.clone())
            .encode()?;
        let deletion = ContentDeletion {
            case_id: id.to_owned(),
            at: now,
            actor: actor.label(),
            reason: reason.to_owned(),
            messages: 0,
            drafts: 0,
            evidence_files: removed.files,
            evidence_bytes: removed.bytes,
            detail,
            entry_sha256: custos_seal::content_id(&entry),
        };
        let report = self.deletion_report(&deletion, last).await;
        let done = self
            .store
            .delete_case_content(&deletion, &[entry], report.as_ref())
            .await?;
        if done.is_some() {
            tracing::info!(case = id, "case content deleted: retention ended");
            if report.is_some() {
                self.wake_outbox();
            }
        }
        Ok(done)
    }

    /// The message telling the other State that this node deleted its
    /// copy: a signed `deletion-report` in the case's thread, from the
    /// node's scheduler, carrying only the deletion's time and ledger
    /// entry; the deletion records it in its own transaction. A report
    /// that cannot be made (no key for the other State in the directory)
    /// is logged and the deletion goes ahead: the other State's copy is its
    /// own to keep or delete.
    async fn deletion_report(
        &self,
        d: &ContentDeletion,
        last: Option<String>,
    ) -> Option<custos_store::OutgoingMessage> {
        let body = json!({
            "deleted_at": custos_protocol::timestamp::format(d.at),
            "entry": d.entry_sha256,
        });
        let prev = last.and_then(|m| custos_protocol::MessageId::parse(&m).ok());
        let at = custos_protocol::timestamp::truncate(self.clock.now());
        match self
            .reply_records(
                &d.case_id,
                custos_protocol::MessageKind::DeletionReport,
                body,
                at,
                prev,
                &Actor::Scheduler,
            )
            .await
        {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(case = %d.case_id, error = %e, "the deletion cannot be reported to the other State");
                None
            }
        }
    }

    /// The deletion of the content that ledger entry `index` (`entry`, its
    /// bytes) logged: an entry naming a case whose content was deleted
    /// later in the ledger than it.
    pub(crate) async fn deleted_by(
        &self,
        index: u64,
        entry: &[u8],
    ) -> Result<Option<DeletionView>, NodeError> {
        let Ok(logged) = serde_json::from_slice::<serde_json::Value>(entry) else {
            return Ok(None);
        };
        let Some(case) = logged.get("request").and_then(serde_json::Value::as_str) else {
            return Ok(None);
        };
        let Some(d) = self.store.content_deletion(case).await? else {
            return Ok(None);
        };
        // The deletion's own entry, written again from its record.
        let bytes = Entry::new(EntryKind::ContentDeleted, d.at, d.actor.clone())
            .request(case)
            .detail(d.detail.clone())
            .encode()?;
        let before = if custos_seal::content_id(&bytes) == d.entry_sha256 {
            // Not sequenced yet: after every entry a proof is made for.
            self.store
                .ledger_find(&bytes, 0)
                .await?
                .is_none_or(|at| index < at)
        } else {
            logged
                .get("at")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| custos_protocol::timestamp::parse(t).ok())
                .is_some_and(|t| t < d.at)
        };
        Ok(before.then(|| deletion_view(d)))
    }

    /// The deletion of case `id`'s content, if it was deleted.
    pub(crate) async fn content_deleted(&self, id: &str) -> Result<Option<NodeError>, NodeError> {
        Ok(self
            .store
            .content_deletion(id)
            .await?
            .map(|d| deleted_error(&d)))
    }

    /// The retention worker: a purge every [`RetentionSettings::tick`]
    /// until `stop` says so.
    pub(crate) async fn run_retention(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.settings.retention.tick;
        loop {
            if let Err(e) = self.purge_due(&Actor::Scheduler).await {
                tracing::warn!(error = %e, "a retention pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
