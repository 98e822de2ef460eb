//! [`FederationStore`]: the directory a node trusts, the signed messages of
//! each request thread, the outbox delivering them and the messages refused.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    AcceptOutcome, IncomingMessage, MessageRecord, OutboxItem, OutboxState, OutgoingMessage,
    RefusalRecord, StoreError, StoredDirectory, StoredMessage,
};

/// The directory a node trusts, the signed messages of each request thread,
/// the outbox delivering them and the messages refused.
#[async_trait]
pub trait FederationStore: Send + Sync {
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
}
