//! The multi-step writes, each written once as a script over [`Tx`]: what
//! is written, in what order, and which answer stops the write.
//!
//! [`Tx`] is the small set of statements the scripts need, implemented by
//! each adapter in its own SQL dialect (`sqlite_write.rs`,
//! `postgres_write.rs`). An adapter opens the transaction, runs the script
//! and commits when it returns `Ok`; on `Err` it undoes everything the
//! script wrote. The adapters check and convert the caller's values
//! (`encode.rs`) before they open the transaction, so a value that cannot
//! be stored costs no round trip.
//!
//! The steps are `async` for PostgreSQL, whose statements wait on the
//! network. SQLite's statements run on the writer's own thread and never
//! wait, so its adapter drives a script to the end in one poll
//! ([`run_now`]).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use time::OffsetDateTime;

use crate::StoreError;
use crate::access::AccessRecord;
use crate::case_index::FiredWrite;
use crate::decode;
use crate::encode::{Append, EventRow, Incoming, MessageRow, OutboxRow, Outgoing, RequestRow};
use crate::federation::AcceptOutcome;
use crate::hash_blocks::{self, BlockRow};

/// The statements the multi-step writes are made of, inside one
/// transaction. Rows come checked and converted ([`crate::encode`]).
pub(crate) trait Tx {
    /// Inserts a request; `false` if its id is taken.
    async fn insert_request(&mut self, r: &RequestRow<'_>) -> Result<bool, StoreError>;

    /// Takes the next event number of a request; `None` if it is not
    /// stored. On PostgreSQL the request's row stays locked until the
    /// transaction ends, so everything recorded in one thread is recorded
    /// one after the other.
    async fn next_event_seq(&mut self, request_id: &str) -> Result<Option<i64>, StoreError>;

    /// Inserts an event under the number taken.
    async fn insert_event(&mut self, e: &EventRow<'_>, seq: i64) -> Result<(), StoreError>;

    /// Inserts a message with its receipt, if any; `false` if its id is
    /// taken.
    async fn insert_message(
        &mut self,
        m: &MessageRow<'_>,
        receipt: Option<&[u8]>,
    ) -> Result<bool, StoreError>;

    /// The direction and receipt of a stored message, if one has this id.
    async fn earlier_copy(
        &mut self,
        id: &str,
    ) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError>;

    /// Whether a message with this id is stored in this thread.
    async fn in_thread(&mut self, id: &str, thread: &str) -> Result<bool, StoreError>;

    /// Queues a message for delivery, pending.
    async fn insert_outbox(&mut self, o: &OutboxRow<'_>) -> Result<(), StoreError>;

    /// Queues ledger entries, in order, as of `at` (already at storage
    /// precision); their ids rise in the order given.
    async fn queue_entries(
        &mut self,
        entries: &[&[u8]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Writes a person's access record.
    async fn insert_access(
        &mut self,
        record: &AccessRecord,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Whether an outbox item exists for this message, in any state.
    async fn outbox_exists(&mut self, message_id: &str) -> Result<bool, StoreError>;

    /// Marks an outbox item not yet delivered as delivered at `at`;
    /// `false` if there is none.
    async fn set_delivered(
        &mut self,
        message_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores the receipt of a message.
    async fn store_receipt(&mut self, message_id: &str, receipt: &[u8]) -> Result<(), StoreError>;

    /// Replaces the ciphertext of a pending outbox item; `false` if there
    /// is none.
    async fn replace_ciphertext(
        &mut self,
        message_id: &str,
        ciphertext: &[u8],
    ) -> Result<bool, StoreError>;

    /// Schedules the next attempt of a pending outbox item, releasing its
    /// lease; `false` if there is none.
    async fn set_retry(
        &mut self,
        message_id: &str,
        attempts: i64,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Gives up a pending outbox item, releasing its lease; `false` if
    /// there is none.
    async fn set_failed(
        &mut self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Moves the ledger's size from `from` to `to`; `false` if it is not
    /// `from`. On PostgreSQL the size's row stays locked until the end.
    async fn advance_size(&mut self, from: i64, to: i64) -> Result<bool, StoreError>;

    /// The ledger's size as the transaction sees it.
    async fn ledger_size(&mut self) -> Result<Option<i64>, StoreError>;

    /// Removes queued ledger entries; how many of `ids` were there.
    async fn remove_pending(&mut self, ids: &[i64]) -> Result<u64, StoreError>;

    /// Inserts the batch's entries at their indexes. An index already
    /// taken (a row past the size, put there by hand) is
    /// [`decode::entry_past_size`], and nothing is overwritten.
    async fn insert_entries(&mut self, batch: &Append<'_>) -> Result<(), StoreError>;

    /// The last row of stored hashes, if any.
    async fn last_block(&mut self) -> Result<Option<BlockRow>, StoreError>;

    /// The stored rows among `blocks` (a missing one is left out).
    async fn read_blocks(&mut self, blocks: &[i64]) -> Result<Vec<BlockRow>, StoreError>;

    /// Writes rows of stored hashes, replacing those of the same number.
    async fn write_blocks(&mut self, rows: Vec<(i64, Vec<u8>)>) -> Result<(), StoreError>;

    /// Inserts a fired clock event's key; `false` if it is held already.
    async fn insert_fired(&mut self, f: &FiredWrite<'_>) -> Result<bool, StoreError>;
}

/// Fires a clock event once: the key, then the history event and its
/// ledger entry; `false` (nothing written) if the key was held.
pub(crate) async fn record_clock_event(
    tx: &mut impl Tx,
    fired: &FiredWrite<'_>,
    event: &EventRow<'_>,
) -> Result<bool, StoreError> {
    if !tx.insert_fired(fired).await? {
        return Ok(false);
    }
    append_event(tx, event, || {
        StoreError::UnknownRequest(event.request_id.to_owned())
    })
    .await?;
    Ok(true)
}

/// Records a message a clock event sends, once: the key, then what
/// [`record_outgoing`] writes; `false` (nothing written) if the key was held.
pub(crate) async fn record_outgoing_once(
    tx: &mut impl Tx,
    fired: &FiredWrite<'_>,
    out: &Outgoing<'_>,
) -> Result<bool, StoreError> {
    if !tx.insert_fired(fired).await? {
        return Ok(false);
    }
    record_outgoing(tx, out).await?;
    Ok(true)
}

/// Adds an event to a request's history; its number.
pub(crate) async fn append_event(
    tx: &mut impl Tx,
    row: &EventRow<'_>,
    unknown: impl FnOnce() -> StoreError,
) -> Result<i64, StoreError> {
    let Some(seq) = tx.next_event_seq(row.request_id).await? else {
        return Err(unknown());
    };
    tx.insert_event(row, seq).await?;
    tx.queue_entries(row.ledger.as_slice(), row.at).await?;
    Ok(seq)
}

/// Records a request saved without a message, with the event that opens
/// its history (and that event's ledger entries); the event's number.
pub(crate) async fn record_request(
    tx: &mut impl Tx,
    request: &RequestRow<'_>,
    event: &EventRow<'_>,
) -> Result<i64, StoreError> {
    if !tx.insert_request(request).await? {
        return Err(StoreError::DuplicateRequest(request.id.to_owned()));
    }
    append_event(tx, event, || {
        StoreError::UnknownRequest(request.id.to_owned())
    })
    .await
}

/// Records a message this node sends: the request it opens, if any, the
/// message, its thread's event, its outbox item and its ledger entries.
pub(crate) async fn record_outgoing(
    tx: &mut impl Tx,
    out: &Outgoing<'_>,
) -> Result<(), StoreError> {
    if let Some(request) = &out.request
        && !tx.insert_request(request).await?
    {
        return Err(StoreError::DuplicateRequest(request.id.to_owned()));
    }
    let Some(seq) = tx.next_event_seq(out.message.thread).await? else {
        return Err(StoreError::UnknownRequest(out.message.thread.to_owned()));
    };
    if !tx.insert_message(&out.message, None).await? {
        return Err(StoreError::DuplicateMessage(out.message.id.to_owned()));
    }
    tx.insert_event(&out.event, seq).await?;
    tx.insert_outbox(&out.outbox).await?;
    tx.queue_entries(&out.ledger, out.message.recorded_at)
        .await?;
    if let Some((record, at)) = out.access {
        tx.insert_access(record, at).await?;
    }
    Ok(())
}

/// Records a verified message received, unless a copy is stored already
/// (then nothing is written). An id found taken by an insert is
/// [`StoreError::DuplicateRequest`] or [`StoreError::DuplicateMessage`],
/// which PostgreSQL, where another replica may have committed a copy
/// meanwhile, looks into again after the transaction.
pub(crate) async fn accept_incoming(
    tx: &mut impl Tx,
    inc: &Incoming<'_>,
) -> Result<AcceptOutcome, StoreError> {
    let m = &inc.message;
    if let Some((direction, receipt)) = tx.earlier_copy(m.id).await? {
        return decode::duplicate(m.id, &direction, receipt);
    }
    if let Some(request) = &inc.request
        && !tx.insert_request(request).await?
    {
        return Err(StoreError::DuplicateRequest(request.id.to_owned()));
    }
    let Some(seq) = tx.next_event_seq(m.thread).await? else {
        return Err(StoreError::UnknownRequest(m.thread.to_owned()));
    };
    if let Some(prev) = m.prev
        && !tx.in_thread(prev, m.thread).await?
    {
        return Err(StoreError::OutOfOrder {
            prev: prev.to_owned(),
        });
    }
    if !tx.insert_message(m, Some(inc.receipt)).await? {
        return Err(StoreError::DuplicateMessage(m.id.to_owned()));
    }
    tx.insert_event(&inc.event, seq).await?;
    tx.queue_entries(&inc.ledger, m.recorded_at).await?;
    Ok(AcceptOutcome::Accepted)
}

/// After an update of a pending outbox item changed nothing: fine if the
/// item exists (it was settled meanwhile), [`StoreError::UnknownMessage`]
/// if it was never queued.
async fn settled_or_unknown(tx: &mut impl Tx, message_id: &str) -> Result<(), StoreError> {
    if tx.outbox_exists(message_id).await? {
        Ok(())
    } else {
        Err(StoreError::UnknownMessage(message_id.to_owned()))
    }
}

/// Marks a delivery: the outbox item, the message's receipt, the ledger
/// entries. An item delivered already changes nothing.
pub(crate) async fn mark_delivered(
    tx: &mut impl Tx,
    message_id: &str,
    receipt: &[u8],
    at: OffsetDateTime,
    ledger: &[Vec<u8>],
) -> Result<(), StoreError> {
    if !tx.set_delivered(message_id, at).await? {
        return settled_or_unknown(tx, message_id).await;
    }
    tx.store_receipt(message_id, receipt).await?;
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    tx.queue_entries(&entries, at).await
}

/// Replaces a pending item's ciphertext and queues the ledger entries that
/// say so. An item settled already changes nothing.
pub(crate) async fn resign_outbox(
    tx: &mut impl Tx,
    message_id: &str,
    ciphertext: &[u8],
    at: OffsetDateTime,
    ledger: &[Vec<u8>],
) -> Result<(), StoreError> {
    if !tx.replace_ciphertext(message_id, ciphertext).await? {
        return settled_or_unknown(tx, message_id).await;
    }
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    tx.queue_entries(&entries, at).await
}

/// Schedules another attempt of a pending item.
pub(crate) async fn mark_retry(
    tx: &mut impl Tx,
    message_id: &str,
    attempts: u32,
    next_attempt_at: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    if !tx
        .set_retry(message_id, i64::from(attempts), next_attempt_at, error)
        .await?
    {
        return settled_or_unknown(tx, message_id).await;
    }
    Ok(())
}

/// Gives up a pending item.
pub(crate) async fn mark_failed(
    tx: &mut impl Tx,
    message_id: &str,
    error: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if !tx.set_failed(message_id, error, at).await? {
        return settled_or_unknown(tx, message_id).await;
    }
    Ok(())
}

/// Appends a batch to the ledger: the size moved (only from the size the
/// sequencer saw), the queued entries consumed (each still queued), the
/// entries stored, and the stored hashes extended.
pub(crate) async fn append_ledger(
    tx: &mut impl Tx,
    expected_size: u64,
    batch: &Append<'_>,
) -> Result<(), StoreError> {
    if !tx.advance_size(batch.expected, batch.end).await? {
        let actual = tx.ledger_size().await?;
        return Err(decode::ledger_conflict(expected_size, actual));
    }
    let removed = tx.remove_pending(&batch.consumed).await?;
    if removed != batch.consumed.len() as u64 {
        // Another sequencer consumed them first.
        return Err(StoreError::LedgerConflict {
            expected: expected_size,
            actual: expected_size,
        });
    }
    tx.insert_entries(batch).await?;

    // The stored hashes end in the last block; the batch must extend them
    // from there, and repeat any it offers below that unchanged.
    let last = tx.last_block().await?;
    let held = hash_blocks::stored_count(last.as_ref())?;
    let wanted = hash_blocks::blocks_to_read(&batch.hashes, held);
    let mut read = if wanted.is_empty() {
        Vec::new()
    } else {
        tx.read_blocks(&wanted).await?
    };
    read.extend(last);
    let rows = hash_blocks::plan_append(&batch.hashes, held, &read)?;
    tx.write_blocks(rows).await
}

/// Drives a script whose steps never wait (SQLite's, on the writer's
/// thread) to its end, in one poll. A step that did wait would be a bug in
/// the adapter; it is reported as a database failure, not a panic.
pub(crate) fn run_now<T>(
    script: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut script = pin!(script);
    match script
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Database {
            operation: "run a write",
            detail: "a SQLite step waited, which none should".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_that_finishes_at_once_gives_its_result() {
        assert_eq!(run_now(async { Ok::<_, StoreError>(7) }).ok(), Some(7));
        let refused = run_now(async { Err::<(), _>(StoreError::UnknownMessage("m".to_owned())) });
        assert!(matches!(refused, Err(StoreError::UnknownMessage(id)) if id == "m"));
    }

    #[test]
    fn a_script_that_would_wait_is_an_error_not_a_hang() {
        let waits = std::future::pending::<Result<(), StoreError>>();
        assert!(matches!(
            run_now(waits),
            Err(StoreError::Database {
                operation: "run a write",
                ..
            })
        ));
    }
}
