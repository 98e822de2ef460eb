//! A node's persistent data behind one trait of domain operations.
//!
//! [`Store`] says what a node keeps (its identity, the requests it sent and
//! received, each request's numbered history, and for federation the
//! directory it trusts, the signed messages of each request thread, the
//! outbox delivering them, refused messages, the
//! custody ledger's entries, tree hashes and checkpoints, and what
//! witnessing other nodes' ledgers, and being witnessed, leaves behind, and
//! the people who use the node: users, sessions and client-API tokens); two
//! adapters keep it, SQLite (the embedded default, one file) and PostgreSQL
//! (for a State running several replicas). [`open`] picks the adapter once,
//! from the URL, and brings the schema up to date; everything else sees only
//! `Arc<dyn Store>`.
//!
//! Both adapters pass one conformance suite (`tests/conformance/`), so a
//! behaviour described here holds on either. Failures are [`StoreError`]s
//! naming the domain problem; no database library type crosses this API.

mod access;
mod alerts;
mod assignments;
mod case_index;
mod decode;
mod encode;
mod error;
mod federation;
mod group_commit;
mod hash_blocks;
mod ledger;
mod people;
mod postgres;
mod postgres_access;
mod postgres_alerts;
mod postgres_assignments;
mod postgres_cases;
mod postgres_joined;
mod postgres_people;
mod postgres_received;
mod postgres_retention;
mod postgres_stats;
mod postgres_write;
mod received;
mod records;
mod retention;
mod rows;
mod sqlite;
mod sqlite_access;
mod sqlite_alerts;
mod sqlite_assignments;
mod sqlite_cases;
mod sqlite_db;
mod sqlite_joined;
mod sqlite_people;
mod sqlite_received;
mod sqlite_retention;
mod sqlite_scan;
mod sqlite_stats;
mod sqlite_witness;
mod sqlite_write;
mod stats;
mod txn;
mod witness;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use access::{ALLOWED, AccessFilter, AccessRecord, CaseGrant, REFUSED};
pub use alerts::{AlertRecord, DeliveryRecord, NewAlert, NewDelivery, ShiftRecord};
pub use assignments::{CaseAssignment, ConfidentialMark};
pub use case_index::{
    CaseFigures, CaseRow, CaseRowFilter, ClockFired, StaleCase, StateCount, URGENCY_EMERGENCY,
    URGENCY_ROUTINE, URGENCY_URGENT,
};
pub use error::StoreError;
pub use federation::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoredDirectory, StoredMessage, UnknownOutboxState,
};
pub use ledger::{
    EntryDigest, HashRun, LedgerEntry, LedgerScan, PendingEntry, RunDigest, RunStream, SCAN_RUN,
    Spent, StoredCheckpoint,
};
pub use people::{SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord};
pub use received::{ReceivedFile, ReceivedOrigin};
pub use records::{
    Backend, Direction, NewEvent, NodeInfo, RequestEvent, RequestFilter, RequestRecord,
    UnknownDirection, storage_precision,
};
pub use retention::{
    CHANGE_HOLD_LIFTED, CHANGE_HOLD_PLACED, CHANGE_RETENTION, ContentDeletion, RetentionChange,
    RetentionRecord,
};
pub use stats::{
    CaseStatistics, DRAFT_OUTCOME, Percentiles, StatsCount, StatsDimension, StatsPeriod, StatsTimes,
};
pub use witness::{CosignatureRecord, ForkRecord, WitnessedState};

/// What a node keeps, as domain operations.
///
/// Timestamps come back in UTC, truncated to the microsecond
/// ([`storage_precision`]); values outside the years 1 to 9999, and text
/// containing a NUL character, are refused with [`StoreError::InvalidValue`]
/// on every backend.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which database this store runs on.
    fn backend(&self) -> Backend;

    /// Records the node's identity, replacing any recorded before.
    async fn put_node_info(&self, info: &NodeInfo) -> Result<(), StoreError>;

    /// The node's identity, or `None` before it is first recorded.
    async fn node_info(&self) -> Result<Option<NodeInfo>, StoreError>;

    /// Records a new request. An id already stored is
    /// [`StoreError::DuplicateRequest`], and the stored request is unchanged.
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError>;

    /// The request with this id, if stored.
    async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// The requests matching `filter`, newest first (ties by id, descending).
    async fn list_requests(&self, filter: &RequestFilter)
    -> Result<Vec<RequestRecord>, StoreError>;

    /// Adds an event to a request's history and returns it as stored, with
    /// the next sequence number for that request (1 for the first). Appends
    /// that race each other get distinct, consecutive numbers. A request not
    /// stored is [`StoreError::UnknownRequest`]. The event's `ledger` entry,
    /// if any, is queued in the same transaction.
    async fn append_event(&self, event: &NewEvent) -> Result<RequestEvent, StoreError>;

    /// Records a new request and the first event of its history (with the
    /// event's ledger entry queued), all in one transaction or not at all:
    /// what [`Store::insert_request`] then [`Store::append_event`] do, as one
    /// action. An id already stored is [`StoreError::DuplicateRequest`] and
    /// nothing changes; an event of another request is
    /// [`StoreError::InvalidValue`].
    async fn record_request(
        &self,
        request: &RequestRecord,
        event: &NewEvent,
    ) -> Result<RequestEvent, StoreError>;

    /// A request's history in sequence order (empty if nothing has happened
    /// yet). A request not stored is [`StoreError::UnknownRequest`].
    async fn events(&self, request_id: &str) -> Result<Vec<RequestEvent>, StoreError>;

    // -- The directory.

    /// Replaces the directory the node trusts. Its version must be higher
    /// than the one held, else [`StoreError::StaleDirectory`] and nothing
    /// changes; the caller verifies the signatures before.
    async fn put_directory(&self, directory: &StoredDirectory) -> Result<(), StoreError>;

    /// The directory the node trusts, or `None` before the first import.
    async fn directory(&self) -> Result<Option<StoredDirectory>, StoreError>;

    /// Just the version of the directory the node trusts (`None` before the
    /// first import): one point read, cheap enough to ask before every
    /// message, so that an import by another process is in force at once.
    async fn directory_version(&self) -> Result<Option<u64>, StoreError>;

    // -- Messages of request threads.

    /// Records a message this node sends, all in one transaction or not at
    /// all: the request it opens (if `new_request`; an id already stored is
    /// [`StoreError::DuplicateRequest`]), the message (an id already stored
    /// is [`StoreError::DuplicateMessage`]), the event added to its thread's
    /// history (a thread that is not a stored request is
    /// [`StoreError::UnknownRequest`]) and its outbox item, due at once or
    /// at its `next_attempt_at`, and its ledger entries queued (the
    /// message's `ledger`, then the event's). Parts that disagree (see
    /// [`OutgoingMessage`]) are [`StoreError::InvalidValue`].
    async fn record_outgoing(&self, message: &OutgoingMessage) -> Result<(), StoreError>;

    /// Records a verified message received, with the receipt this node
    /// signed for it, all in one transaction or not at all.
    ///
    /// A message already stored under the same id is
    /// [`AcceptOutcome::Duplicate`] with the receipt stored the first time,
    /// and nothing changes; nothing is queued for the ledger either (a
    /// message of ours with that id is [`StoreError::DuplicateMessage`]).
    /// Otherwise: the request it opens, if `new_request`, must be new
    /// ([`StoreError::DuplicateRequest`]: another message already opened
    /// that thread); without one, the thread must be a stored request
    /// ([`StoreError::UnknownRequest`]); the message's `prev`, if any, must
    /// be a message stored in the same thread ([`StoreError::OutOfOrder`]).
    /// Its ledger entries are queued with it (the message's `ledger`, then
    /// the event's). Parts that disagree (see [`IncomingMessage`]) are
    /// [`StoreError::InvalidValue`].
    async fn accept_incoming(&self, message: &IncomingMessage)
    -> Result<AcceptOutcome, StoreError>;

    /// The message with this id, if stored.
    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// A thread's messages in the order they were recorded (empty for a
    /// thread with none, or unknown).
    async fn thread_messages(&self, thread: &str) -> Result<Vec<MessageRecord>, StoreError>;

    /// Up to `limit` messages of every thread, in recording order (`seq`),
    /// from the first recorded after `after` (0: from the start), each with
    /// its receipt: a page of the whole-store pass of deep verification.
    async fn messages_page(&self, after: u64, limit: u32)
    -> Result<Vec<StoredMessage>, StoreError>;

    /// Replaces a message's stored envelope bytes with `new` if they are
    /// still `old` (an upgrade sealing what an earlier version kept in
    /// clear); `false` if they were not, and nothing changed.
    async fn reseal_message(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;

    /// The requests whose `draft` is a JSON text (starts with `{`): drafts
    /// an earlier version kept in clear, to be sealed. `(id, draft)` pairs.
    async fn unsealed_drafts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Replaces a request's draft bytes with `new` if they are still `old`;
    /// `false` if they were not, and nothing changed.
    async fn reseal_draft(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;

    /// The message recorded last in a thread, if any.
    async fn last_in_thread(&self, thread: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// The signed receipt for a message: for an incoming one, the receipt
    /// this node signed; for an outgoing one, the recipient's receipt once
    /// delivered. `None` if there is none yet or the message is not stored.
    async fn receipt_for(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    // -- The outbox. Several node processes may share one database.

    /// Claims up to `limit` pending items due at `now` (their
    /// `next_attempt_at` has come and no unexpired claim holds them),
    /// oldest first, and holds them until `now + lease`. Two claimers never
    /// get the same item while its lease runs. An item is not handed out
    /// while an older item of the same thread to the same recipient is
    /// still pending, so a thread's messages go out in order. A lease that
    /// is not positive is [`StoreError::InvalidValue`].
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Marks a pending (or given-up) item delivered at `at`, stores the
    /// recipient's receipt for its message and queues the `ledger` entries
    /// recording the delivery, in one transaction. An item already
    /// delivered keeps its first receipt and time, and nothing is queued.
    /// The delivering attempt is counted in the item's `attempts`.
    /// An id never queued is [`StoreError::UnknownMessage`].
    async fn mark_delivered(
        &self,
        message_id: &str,
        receipt: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// Replaces the ciphertext of a pending outbox item (its message signed
    /// again, with the node's current key, and sealed again) and queues the
    /// `ledger` entries recording that, in one transaction, as of `at`. An
    /// item already delivered or given up keeps its ciphertext and nothing
    /// is queued. An id never queued is [`StoreError::UnknownMessage`].
    async fn resign_outbox(
        &self,
        message_id: &str,
        ciphertext: &[u8],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// Records a failed attempt on a pending item: its attempt count, when
    /// to try next and why it failed; its claim is released. An item no
    /// longer pending (delivered or given up meanwhile, for instance by a
    /// worker whose claim replaced an expired one) is left as it is. An id
    /// never queued is [`StoreError::UnknownMessage`].
    async fn mark_retry(
        &self,
        message_id: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Gives up a pending item: no further attempt is made. An item already
    /// delivered stays delivered. An id never queued is
    /// [`StoreError::UnknownMessage`].
    async fn mark_failed(
        &self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The outbox item of this message, if it was queued.
    async fn outbox_item(&self, message_id: &str) -> Result<Option<OutboxItem>, StoreError>;

    /// Up to `limit` outbox items, in `state` if given, newest first.
    async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    // -- Refused messages.

    /// Records an incoming message that was refused.
    async fn record_refusal(&self, refusal: &RefusalRecord) -> Result<(), StoreError>;

    /// Up to `limit` refusals, newest first (ties in the order recorded,
    /// latest first).
    async fn refusals(&self, limit: u32) -> Result<Vec<RefusalRecord>, StoreError>;

    // -- The custody ledger. The store keeps bytes and hashes and makes
    // each append atomic and ordered; the node computes and checks every
    // hash. Several node processes may share one ledger.

    /// Queues entries for the ledger, in this order, all or none. Operations
    /// that record an action queue its entries the same way, in the
    /// action's own transaction.
    async fn queue_ledger(&self, entries: &[Vec<u8>], at: OffsetDateTime)
    -> Result<(), StoreError>;

    /// Up to `limit` queued entries, oldest (lowest id) first. On
    /// PostgreSQL an entry may be committed after one queued later by
    /// another replica, and then shows up after it.
    async fn pending_ledger(&self, limit: u32) -> Result<Vec<PendingEntry>, StoreError>;

    /// Appends a batch to the ledger in one transaction: `entries` at
    /// indexes `expected_size`, `expected_size + 1`, …; the tree `hashes`
    /// the node computed, by storage index; and the removal of the queued
    /// entries `consumed` (by [`PendingEntry::id`]), all recorded at `at`.
    ///
    /// If the ledger's size is not `expected_size` (another sequencer
    /// appended first), or an entry of `consumed` is no longer queued, it
    /// is [`StoreError::LedgerConflict`] and nothing changes. Stored hashes
    /// are a prefix of storage indexes without gaps: the batch's new hashes
    /// must continue it exactly, else [`StoreError::InvalidValue`]. A hash
    /// for an index that already holds a different one is
    /// [`StoreError::Corrupt`] (the same hash again is accepted); an index
    /// given two different hashes in one batch is
    /// [`StoreError::InvalidValue`]; either way nothing changes.
    async fn append_ledger(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// [`Store::append_ledger`] and then [`Store::put_checkpoint`] of
    /// `checkpoint`, the signed checkpoint of the size the batch brings the
    /// ledger to, in one transaction: both are stored, or neither. A
    /// sequencing pass then costs one commit instead of two. The refusals
    /// are those of the two calls; a checkpoint of another size than the
    /// new one is [`StoreError::InvalidValue`].
    #[allow(clippy::too_many_arguments)]
    async fn append_ledger_checkpointed(
        &self,
        expected_size: u64,
        consumed: &[i64],
        entries: &[Vec<u8>],
        hashes: &[(u64, [u8; 32])],
        at: OffsetDateTime,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError>;

    /// The number of entries in the ledger.
    async fn ledger_size(&self) -> Result<u64, StoreError>;

    /// The tree hashes stored at these storage indexes, in the same order.
    /// An index with no hash, or whose hash is not 32 bytes, is
    /// [`StoreError::Corrupt`] naming it.
    async fn ledger_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The tree hashes stored at the `count` storage indexes from `from`
    /// on, in index order: the same answer as [`Store::ledger_hashes`] over
    /// that range, read as a range (full verification reads every stored
    /// hash this way). An index in the range with no hash, or whose hash is
    /// not 32 bytes, is [`StoreError::Corrupt`] naming it.
    async fn ledger_hash_range(&self, from: u64, count: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        // Both adapters read the block rows that hold the range.
        self.ledger_hashes(&decode::range_indexes(from, count))
            .await
    }

    /// Reads the first `entries` ledger entries and the first `hashes`
    /// stored tree hashes in order, for full verification, as two streams
    /// read beside each other (see [`LedgerScan`]): each entry comes out as
    /// its `digest`, computed by the store's readers, and each stored hash
    /// as it is. Rows added meanwhile are not read; a row missing below
    /// those counts ends its stream with [`StoreError::LedgerGap`].
    async fn ledger_scan(
        &self,
        entries: u64,
        hashes: u64,
        digest: EntryDigest,
    ) -> Result<LedgerScan, StoreError>;

    /// Up to `limit` entries from index `from` on, in index order. An entry
    /// missing below the ledger's size is [`StoreError::LedgerGap`]; entries
    /// changed behind the store's back are returned as they now are, for
    /// the node to check against the tree.
    async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The index of the first entry at or after `from` whose bytes are
    /// exactly `entry`, or `None` if no such entry is in the ledger yet.
    async fn ledger_find(&self, entry: &[u8], from: u64) -> Result<Option<u64>, StoreError>;

    /// The entry at `index`, or `None` at or past the ledger's size.
    async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntry>, StoreError>;

    /// Stores a signed checkpoint. Storing the same checkpoint again
    /// changes nothing; a different one of a size already stored is
    /// [`StoreError::Corrupt`]; one larger than the ledger is
    /// [`StoreError::InvalidValue`].
    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The checkpoint of the largest size stored, if any.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The checkpoint stored for this size, if any.
    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    // -- Witnessing. As a witness, the node keeps the last checkpoint it
    // accepted from each log and the forks it found; as a log, the
    // cosignatures its witnesses returned. The node checks every signature
    // and proof; the store keeps the text. Several node processes may
    // witness through one database.

    /// The last checkpoint accepted from the log with this origin, if any.
    async fn witnessed(&self, origin: &str) -> Result<Option<WitnessedState>, StoreError>;

    /// Records `state` as the last checkpoint accepted from its log, if the
    /// size stored for that origin is still `expected_size` (`None`: no
    /// checkpoint held yet), the one the caller checked the new checkpoint
    /// against. Otherwise it is [`StoreError::WitnessConflict`] with the
    /// size found, and nothing changes; of writers racing from one view,
    /// exactly one succeeds.
    async fn put_witnessed(
        &self,
        state: &WitnessedState,
        expected_size: Option<u64>,
    ) -> Result<(), StoreError>;

    /// Every log's last accepted checkpoint, by origin (bytewise).
    async fn list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError>;

    /// Keeps the evidence that the log with this origin forked, detected at
    /// `at`, and returns the report's id. Reports are never merged or
    /// removed.
    async fn record_fork(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError>;

    /// Up to `limit` fork reports, newest first (ties latest recorded
    /// first).
    async fn forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError>;

    /// Keeps a witness's cosignature on one of this node's checkpoints: one
    /// per size and witness. The same line again changes nothing (its first
    /// time is kept); a different line replaces the one held, with its time.
    async fn put_cosignature(&self, cosignature: &CosignatureRecord) -> Result<(), StoreError>;

    /// The cosignatures held for the checkpoint of this size, by witness
    /// name (bytewise).
    async fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRecord>, StoreError>;

    /// The largest checkpoint size this witness cosigned, or `None` if it
    /// has cosigned none.
    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError>;

    // -- The case index and the clock events fired (`case_index.rs`):
    // derived data the node writes; the database marks a case stale in the
    // transaction that changes its thread.

    /// Up to `filter.limit` cases matching `filter`, after `filter.offset`,
    /// open cases first, then by urgency rank, then the nearest `next_due`
    /// (none last), then the newest (ties by id, descending).
    async fn list_cases(&self, filter: &CaseRowFilter) -> Result<Vec<CaseRow>, StoreError>;

    /// The case row of this request, if any.
    async fn get_case(&self, id: &str) -> Result<Option<CaseRow>, StoreError>;

    /// Up to `limit` stale cases with ids after `after` (bytewise), by id.
    async fn stale_cases(&self, after: &str, limit: u32) -> Result<Vec<StaleCase>, StoreError>;

    /// The revision of a case's row (`None`: no such row).
    async fn case_revision(&self, id: &str) -> Result<Option<i64>, StoreError>;

    /// How many open cases are in each state, and how many of those are
    /// overdue, leaving out the confidential cases not assigned to
    /// `hidden_from` (when given); states without an open case are absent.
    /// One range of an index that holds every column it reads.
    async fn count_open_cases(
        &self,
        hidden_from: Option<&str>,
    ) -> Result<Vec<StateCount>, StoreError>;

    /// Writes a case row derived by the node and marks it fresh, if its
    /// revision is still `revision`; `false` (nothing written) if the
    /// thread changed meanwhile or the row is gone. The kind, direction,
    /// counterpart and creation time are the request's and stay as they
    /// are.
    async fn put_case(&self, row: &CaseRow, revision: i64) -> Result<bool, StoreError>;

    /// Up to `limit` ids of cases whose `next_due` is at or before `now`,
    /// the earliest first: a range read of the index, not a scan.
    async fn due_cases(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<String>, StoreError>;

    /// The derivation format the rows were written with (0: never derived).
    async fn case_index_format(&self) -> Result<i64, StoreError>;

    /// Marks every case stale, adds the row of any request that has none,
    /// and records `format` as the rows' format, in one transaction; how
    /// many rows there are.
    async fn reset_case_index(&self, format: i64) -> Result<u64, StoreError>;

    /// Writes rows as given, marked fresh, replacing any of the same id,
    /// in one transaction: for benchmarks that seed an index without
    /// threads behind it.
    async fn bulk_put_cases(&self, rows: &[CaseRow]) -> Result<(), StoreError>;

    /// The clock events fired for a case, oldest due first.
    async fn fired_events(&self, case_id: &str) -> Result<Vec<ClockFired>, StoreError>;

    /// Fires a clock event once: its key and `event` (with its ledger
    /// entry) in one transaction; `false`, and nothing written, if the key
    /// was fired before. An event of another request than the key's is
    /// [`StoreError::InvalidValue`]; a request not stored,
    /// [`StoreError::UnknownRequest`].
    async fn record_clock_event(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;

    /// [`Store::record_outgoing`] for a message a clock event sends: the
    /// key and the message in one transaction; `false`, and nothing
    /// written, if the key was fired before.
    async fn record_outgoing_once(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
    ) -> Result<bool, StoreError>;

    // -- The on-call rota and alerts (`alerts.rs`; `sqlite_alerts.rs`,
    // `postgres_alerts.rs`). Each change writes its ledger entries in the
    // same transaction.

    /// Adds a shift to the rota.
    async fn put_shift(&self, shift: &ShiftRecord, ledger: &[Vec<u8>]) -> Result<(), StoreError>;

    /// Marks a shift removed at `at`; `false` if there is no such shift
    /// still on the rota (nothing written).
    async fn remove_shift(
        &self,
        id: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// The rota's shifts by start, removed ones too when asked.
    async fn shifts(&self, include_removed: bool) -> Result<Vec<ShiftRecord>, StoreError>;

    /// Raises an alert with its first deliveries (due at once); `false`
    /// (nothing written) if an alert with the same cause exists.
    async fn raise_alert(
        &self,
        alert: &AlertRecord,
        deliveries: &[NewDelivery],
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Alerts, newest first; only those not acknowledged when `open_only`.
    async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError>;

    /// One alert.
    async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError>;

    /// Records an alert acknowledged by `by`; `false` if it is unknown or
    /// was acknowledged already (nothing written).
    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Alerts not acknowledged whose escalation is due at `now`.
    async fn due_escalations(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError>;

    /// Takes an alert from `from_level` one level further, with the
    /// deliveries of the new level (due at `at`) and the next escalation
    /// instant; `false` (nothing written) if it was acknowledged or
    /// escalated meanwhile.
    async fn escalate_alert(
        &self,
        id: &str,
        from_level: u32,
        escalate_at: Option<OffsetDateTime>,
        deliveries: &[NewDelivery],
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<bool, StoreError>;

    /// Leases up to `limit` pending deliveries due at `now` until
    /// `lease_until`, so that no other worker takes them meanwhile.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Records a delivery made, with its ledger entries.
    async fn delivery_done(
        &self,
        id: i64,
        at: OffsetDateTime,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// Schedules another attempt of a delivery, releasing its lease.
    async fn delivery_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Gives a delivery up.
    async fn delivery_failed(
        &self,
        id: i64,
        attempts: u32,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// The deliveries of an alert, in the order they were queued.
    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>, StoreError>;

    // -- Oversight statistics (`stats.rs`; `sqlite_stats.rs`,
    // `postgres_stats.rs`), issue 18.

    /// The counts and response-time percentiles of the cases opened in
    /// `period`, from the rollups the database keeps with the case index
    /// (nothing names a case).
    async fn case_statistics(&self, period: StatsPeriod) -> Result<CaseStatistics, StoreError>;

    // -- Diagnostics.

    /// The version of the newest schema migration applied, for diagnostics.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    // -- Backups.

    /// Writes a consistent copy of the whole database, as of one instant,
    /// into the new file `to`, while other connections go on writing
    /// (SQLite: `VACUUM INTO` in one read transaction beside the writer).
    /// A backend that cannot (PostgreSQL, which `pg_dump` copies) answers
    /// [`StoreError::SnapshotUnsupported`].
    async fn snapshot_into(&self, to: &std::path::Path) -> Result<(), StoreError> {
        let _ = to;
        Err(StoreError::SnapshotUnsupported(
            "PostgreSQL",
            "copy it with pg_dump and the node's own files with `custos backup --files-only`",
        ))
    }

    /// The file the database lives in, when it is one (SQLite), so that a
    /// backup of the data folder copies it only through
    /// [`Store::snapshot_into`].
    fn database_file(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Closes the store's connections, waiting for operations in flight.
    /// Operations after this fail with [`StoreError::Unavailable`].
    async fn close(&self);

    // -- People (`people.rs`): users, their sign-in state, the sessions
    // they open and their client-API tokens. Each change is written with
    // its ledger entries (queued as of `at`) in one transaction or not at
    // all.

    /// Adds a user with the hashes of their recovery codes. A name already
    /// taken is [`StoreError::DuplicateUser`] and nothing changes.
    async fn add_user(
        &self,
        user: &UserRecord,
        recovery_codes: &[String],
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The user with this name, if any.
    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Every user, by name (bytewise).
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Sets (or, with `None`, forgets) the language a user chose at the
    /// desk. `false`, and nothing written, if no such user.
    async fn set_user_language(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Replaces a user's profile (display name, e-mail, roles, enabled,
    /// password hash, TOTP secret, change time); the sign-in state and the
    /// creation time stay. With `recovery_codes`, the user's codes are
    /// replaced by these and the last TOTP step accepted is forgotten (a
    /// new second factor). `false`, and nothing written, if no such user.
    async fn change_user(
        &self,
        user: &UserRecord,
        recovery_codes: Option<&[String]>,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Sets a user's sign-in state to `new` if it is still `expected`,
    /// with its ledger entries and the `access` rows recording it (each
    /// naming its entry among `ledger`) in the same transaction; `false`,
    /// and nothing written, if it is not (or no such user).
    async fn set_sign_in_state(
        &self,
        name: &str,
        expected: &SignInState,
        new: &SignInState,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Opens a session for a sign-in whose password and code were good:
    /// sets the user's sign-in state to `new` if it is still `expected`,
    /// marks the recovery code with this hash used (when one was given, and
    /// only if it is one of the user's unused codes) and stores the
    /// session, with its ledger entries and `access` rows, all or nothing
    /// (nothing at all when the session does not open).
    async fn open_session(
        &self,
        expected: &SignInState,
        new: &SignInState,
        recovery_code: Option<&str>,
        session: &SessionRecord,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
    ) -> Result<SessionOutcome, StoreError>;

    /// How many of a user's recovery codes are still unused.
    async fn recovery_codes_left(&self, name: &str) -> Result<u32, StoreError>;

    /// The session whose secret has this hash, revoked or not.
    async fn session_by_hash(&self, secret_hash: &str)
    -> Result<Option<SessionRecord>, StoreError>;

    /// Notes that a session was used at `at` (its idle limit counts from
    /// there).
    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// A user's sessions (every user's with `None`), newest first.
    async fn sessions(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revokes a session at `at` and returns it as stored, or `None` if no
    /// session has this id. One already revoked keeps its first time and
    /// nothing is queued or recorded; otherwise `ledger` is queued and the
    /// `access` rows written in the same transaction.
    async fn revoke_session(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Records a new token of a stored user. An id or a secret hash already
    /// stored is [`StoreError::DuplicateToken`].
    async fn put_token(
        &self,
        token: &TokenRecord,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The token whose secret has this hash, revoked or not.
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// A user's tokens (everyone's with `None`), oldest first (ties by id).
    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes a token at `at` and returns it as stored, or `None` if no
    /// token has this id. A token already revoked keeps its first
    /// revocation time and nothing is queued.
    async fn revoke_token(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, StoreError>;
    // -- Access: the record of who saw what, and the cases granted to a
    // person (`access.rs`). Each write queues its ledger entry in the same
    // transaction.

    /// Records one access decision with its ledger `entry` (queued as of
    /// the record's time), all or nothing; the row's number.
    async fn record_access(&self, record: &AccessRecord, entry: &[u8]) -> Result<i64, StoreError> {
        // One number per row given: the only one.
        let ids = self
            .record_accesses(&[(record.clone(), entry.to_vec())])
            .await?;
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// Records several access decisions, each with its ledger entry
    /// (queued as of its record's time), in one transaction: all or
    /// nothing; the rows' numbers in the order given. A listing that
    /// decides for many cases at once writes its rows together.
    async fn record_accesses(
        &self,
        records: &[(AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError>;

    /// The access records matching `filter`, newest first (ties by number,
    /// descending).
    async fn access_records(&self, filter: &AccessFilter) -> Result<Vec<AccessRecord>, StoreError>;

    /// Grants a person a case with its ledger `entry` (queued as of the
    /// grant's time), all or nothing; the grant's number.
    async fn grant_case(&self, grant: &CaseGrant, entry: &[u8]) -> Result<i64, StoreError>;

    /// Revokes every grant of `case_id` to `person` not yet revoked, by
    /// `by` at `at`, with its ledger `entry`; how many were revoked (0:
    /// nothing written, not even the entry).
    async fn revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError>;

    /// Every grant of a case, revoked or not, oldest first.
    async fn case_grants(&self, case_id: &str) -> Result<Vec<CaseGrant>, StoreError>;

    // -- Confidentiality (issue 18): the people assigned to a case and the
    // marks that make a case confidential (`assignments.rs`). Each
    // assignment and its ending queue their ledger entry in the same
    // transaction.

    /// Assigns a person to a case with its ledger `entry` (queued as of the
    /// assignment's time), all or nothing; the assignment's number, or
    /// `None` (nothing written, not even the entry) when the person is
    /// assigned to the case already.
    async fn assign_case(
        &self,
        assignment: &CaseAssignment,
        entry: &[u8],
    ) -> Result<Option<i64>, StoreError>;

    /// Ends the assignment of `person` to `case_id` in force, by `by` at
    /// `at`, with its ledger `entry`; how many ended (0: nothing written).
    async fn unassign_case(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError>;

    /// Every assignment of a case, ended or not, oldest first.
    async fn case_assignments(&self, case_id: &str) -> Result<Vec<CaseAssignment>, StoreError>;

    /// Marks a case confidential for a reason (`mark.source`); marking it
    /// again for the same reason changes nothing.
    async fn mark_confidential(&self, mark: &ConfidentialMark) -> Result<(), StoreError>;

    /// Why a case is confidential; empty when it is not.
    async fn confidential_marks(&self, case_id: &str) -> Result<Vec<ConfidentialMark>, StoreError>;

    /// Every case's confidentiality marks, by case (for the deep check).
    async fn all_confidential_marks(&self) -> Result<Vec<ConfidentialMark>, StoreError>;

    // -- Writes joined with what they cause (`sqlite_joined.rs`,
    // `postgres_joined.rs`): the alert an arriving message or a clock
    // event calls for, and the access-record rows of sign-in events, each
    // in the transaction of its cause.

    /// [`Store::accept_incoming`] and, when the message is accepted now,
    /// the `alert` it calls for, in one transaction: a failure of the
    /// alert's part stores nothing of the message. A duplicate raises
    /// nothing; an alert whose cause was raised before is skipped.
    async fn accept_incoming_alerting(
        &self,
        message: &IncomingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<AcceptOutcome, StoreError>;

    /// [`Store::record_clock_event`] and, when the event fires now, its
    /// `alert`, in one transaction.
    async fn record_clock_event_alerting(
        &self,
        fired: &ClockFired,
        event: &NewEvent,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError>;

    /// [`Store::record_outgoing_once`] and, when the message is recorded
    /// now, its `alert`, in one transaction.
    async fn record_outgoing_once_alerting(
        &self,
        fired: &ClockFired,
        message: &OutgoingMessage,
        alert: Option<&NewAlert>,
    ) -> Result<bool, StoreError>;

    // -- issue 18: use limits. The index of what other States provided
    // (`received.rs`; `sqlite_received.rs`, `postgres_received.rs`).

    /// Indexes a received package: its origin and the SHA-256 of each of
    /// its files. Indexing it again changes nothing.
    async fn index_received(
        &self,
        origin: &ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError>;

    /// Every received package indexed, by package id.
    async fn received_origins(&self) -> Result<Vec<ReceivedOrigin>, StoreError>;

    /// The files of received packages whose SHA-256 is one of `hashes`.
    async fn received_files(&self, hashes: &[String]) -> Result<Vec<ReceivedFile>, StoreError>;
    // -- issue 18: retention. Retention, legal holds and the deletion of a
    // case's content (`retention.rs`; `sqlite_retention.rs`,
    // `postgres_retention.rs`). Each write queues its ledger entries in
    // the same transaction.

    /// What a case's retention stands on, if anything was recorded.
    async fn retention(&self, case_id: &str) -> Result<Option<RetentionRecord>, StoreError>;

    /// Keeps a case's retention as given (replacing what was kept) with the
    /// person's `change`, if any, and the `ledger` entries, queued as of
    /// `record.changed_at`, all or nothing.
    async fn put_retention(
        &self,
        record: &RetentionRecord,
        change: Option<&RetentionChange>,
        ledger: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// A case's retention changes, oldest first.
    async fn retention_changes(&self, case_id: &str) -> Result<Vec<RetentionChange>, StoreError>;

    /// Up to `limit` ids of cases not held whose content falls due for
    /// deletion at or before `now`, the earliest first: a range read of an
    /// index, not a scan.
    async fn due_deletions(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// Deletes a case's content in one transaction: every message's stored
    /// envelope (made empty), its saved draft and the ciphertexts of its
    /// outbox items no longer pending; its retention closed; `deletion`
    /// recorded with the counts of messages and drafts filled in; and the
    /// `ledger` entries queued as of its time. Ids, kinds, states, times,
    /// receipts and the history stay. `report`, the message telling the
    /// other State of the deletion, is recorded after it as
    /// [`Store::record_outgoing`] records a message, in the same
    /// transaction: a deletion is never kept without its report queued.
    /// `None`, and nothing written, if a legal hold is in force or the
    /// content was deleted before.
    async fn delete_case_content(
        &self,
        deletion: &ContentDeletion,
        ledger: &[Vec<u8>],
        report: Option<&OutgoingMessage>,
    ) -> Result<Option<ContentDeletion>, StoreError>;

    /// The deletion of a case's content, if it was deleted.
    async fn content_deletion(&self, case_id: &str) -> Result<Option<ContentDeletion>, StoreError>;

    /// Every case whose content was deleted, by id.
    async fn deleted_cases(&self) -> Result<Vec<String>, StoreError>;
}

/// The database schema this build writes: the version of its newest
/// migration. SQLite and PostgreSQL keep their migrations in step, so one
/// number names both.
pub fn schema_version() -> i64 {
    sqlite::latest_migration().max(postgres::latest_migration())
}

/// Opens the store named by `url` and applies any pending migrations:
///
/// - `sqlite://PATH` or `sqlite:PATH`: a SQLite file, created if missing
///   (its directory must exist);
/// - `postgres://…` or `postgresql://…`: a PostgreSQL database, which must
///   exist.
///
/// Opening twice, or from several processes, is safe: migrations already
/// applied are skipped.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match scheme(url) {
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PgStore::open(url).await?)),
        Some(other) => Err(StoreError::UnsupportedUrl(format!(
            "the scheme {other:?} names no supported database"
        ))),
        None => Err(StoreError::UnsupportedUrl(
            "it does not start with a scheme such as sqlite: or postgres:".to_owned(),
        )),
    }
}

/// The URL's scheme, if it has one (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`). Only the scheme is ever echoed in an
/// error, since the rest may carry a password.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_read_without_the_rest_of_the_url() {
        assert_eq!(scheme("sqlite://node.db"), Some("sqlite"));
        assert_eq!(scheme("sqlite:node.db"), Some("sqlite"));
        assert_eq!(scheme("postgresql://u:secret@h/db"), Some("postgresql"));
        assert_eq!(scheme("node.db"), None);
        assert_eq!(scheme("/var/lib/custos:x"), None);
        assert_eq!(scheme(":memory:"), None);
    }

    /// Callers open stores inside spawned tasks, which need `Send` futures.
    #[test]
    fn opening_is_a_send_future() {
        fn assert_send<T: Send>(_: T) {}
        assert_send(open("sqlite://unused.db"));
        assert_send(sqlite::SqliteStore::open("sqlite://unused.db"));
        assert_send(postgres::PgStore::open("postgres://unused"));
    }

    #[tokio::test]
    async fn unsupported_urls_are_refused_without_echoing_credentials() {
        for url in [
            "mysql://admin:hunter2@db/custos",
            "node.db",
            "SQLITE://x.db",
        ] {
            let err = open(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        for url in [
            "sqlite://",
            "sqlite:",
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
        ] {
            let err = open(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn a_sqlite_file_in_a_missing_directory_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/no/such/dir/node.db", dir.path().display());
        let err = open(&url).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("no/such/dir/node.db"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_unavailable_without_its_password() {
        // Port 1 on loopback: nothing listens there, so the connection is
        // refused at once.
        let err = open("postgres://custos:hunter2@127.0.0.1:1/custos")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn the_schema_version_is_the_one_a_fresh_database_reaches() {
        assert_eq!(
            sqlite::latest_migration(),
            postgres::latest_migration(),
            "the two backends' migrations are numbered alike"
        );
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/node.db", dir.path().display());
        let store = open(&url).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), schema_version());
        assert!(schema_version() >= 14);
    }
}
