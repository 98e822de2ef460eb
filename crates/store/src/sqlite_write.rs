//! The SQLite adapter's writes, each as the work of one job of the group
//! commit ([`crate::group_commit`]).
//!
//! Every function here runs on the single writer connection, on the
//! writer's thread, inside a transaction that the writer opened and will
//! commit together with other jobs. None begins or commits: returning
//! `Err` is how a job asks for its own writes to be undone (the writer
//! rolls back to the job's savepoint). The write lock is held for the whole
//! transaction, so a check followed by a write cannot be split by another
//! writer, in this process or another. Rows are inserted one statement
//! each: the statements are prepared once per connection, and a step on
//! the writer's own thread costs about a microsecond.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::AccessRecord;
use crate::case_index::FiredWrite;
use crate::decode;
use crate::encode::{self, Append, EventRow, MessageRow, OutboxRow, RequestRow};
use crate::federation::{
    AcceptOutcome, IncomingMessage, OutboxItem, OutgoingMessage, RefusalRecord, StoredDirectory,
};
use crate::hash_blocks::BlockRow;
use crate::ledger::StoredCheckpoint;
use crate::records::{NewEvent, NodeInfo, RequestEvent, RequestRecord};
use crate::rows::{self, columns};
use crate::sqlite_db::{
    all, block_row, column, execute, first, read_blocks, read_ledger_size, value,
};
use crate::txn::{self, Tx, run_now};
use crate::witness::{CosignatureRecord, WitnessedState};

/// The writer's connection inside a job's transaction, as the steps of the
/// shared scripts ([`crate::txn`]).
#[derive(Debug)]
pub(crate) struct SqliteTx<'c>(pub(crate) &'c Connection);

impl Tx for SqliteTx<'_> {
    async fn insert_access(
        &mut self,
        record: &AccessRecord,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        crate::sqlite_access::insert_record(self.0, record, at).map(drop)
    }

    async fn insert_request(&mut self, r: &RequestRow<'_>) -> Result<bool, StoreError> {
        let inserted = execute(
            self.0,
            "INSERT INTO requests (id, kind, direction, counterpart, draft, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
            params![
                r.id,
                r.kind,
                r.direction,
                r.counterpart,
                r.draft,
                encode::unix_micros(r.created_at)
            ],
            "insert a request",
        )?;
        Ok(inserted == 1)
    }

    async fn next_event_seq(&mut self, request_id: &str) -> Result<Option<i64>, StoreError> {
        value(
            self.0,
            "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = ?1 \
             RETURNING last_event_seq",
            [request_id],
            "number an event",
        )
    }

    async fn insert_event(&mut self, e: &EventRow<'_>, seq: i64) -> Result<(), StoreError> {
        execute(
            self.0,
            "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                e.request_id,
                seq,
                encode::unix_micros(e.at),
                e.actor,
                e.kind,
                e.detail
            ],
            "append an event",
        )?;
        Ok(())
    }

    async fn insert_message(
        &mut self,
        m: &MessageRow<'_>,
        receipt: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let inserted = execute(
            self.0,
            "INSERT INTO messages (id, thread, direction, counterpart, kind, prev, created_at, \
             recorded_at, envelope, receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO NOTHING",
            params![
                m.id,
                m.thread,
                m.direction,
                m.counterpart,
                m.kind,
                m.prev,
                encode::unix_micros(m.created_at),
                encode::unix_micros(m.recorded_at),
                m.envelope,
                receipt
            ],
            "insert a message",
        )?;
        Ok(inserted == 1)
    }

    async fn earlier_copy(
        &mut self,
        id: &str,
    ) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
        first(
            self.0,
            "SELECT direction, receipt FROM messages WHERE id = ?1",
            [id],
            "look up a message",
            |row| {
                Ok((
                    column(row, "messages", "direction")?,
                    column(row, "messages", "receipt")?,
                ))
            },
        )
    }

    async fn in_thread(&mut self, id: &str, thread: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = value(
            self.0,
            "SELECT 1 FROM messages WHERE id = ?1 AND thread = ?2",
            [id, thread],
            "look up the previous message",
        )?;
        Ok(found.is_some())
    }

    async fn insert_outbox(&mut self, o: &OutboxRow<'_>) -> Result<(), StoreError> {
        execute(
            self.0,
            "INSERT INTO outbox (message_id, thread, recipient, url, ciphertext, created_at, \
             next_attempt_at, attempts, state, last_error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)",
            params![
                o.message_id,
                o.thread,
                o.recipient,
                o.url,
                o.ciphertext,
                encode::unix_micros(o.created_at),
                encode::unix_micros(o.next_attempt_at),
                o.attempts,
                o.last_error
            ],
            "queue a message",
        )?;
        Ok(())
    }

    async fn queue_entries(
        &mut self,
        entries: &[&[u8]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = encode::unix_micros(at);
        for entry in entries {
            execute(
                self.0,
                "INSERT INTO ledger_pending (entry, queued_at) VALUES (?1, ?2)",
                params![entry, at],
                "queue ledger entries",
            )?;
        }
        Ok(())
    }

    async fn outbox_exists(&mut self, message_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = value(
            self.0,
            "SELECT 1 FROM outbox WHERE message_id = ?1",
            [message_id],
            "look up an outbox item",
        )?;
        Ok(found.is_some())
    }

    async fn set_delivered(
        &mut self,
        message_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let marked = execute(
            self.0,
            "UPDATE outbox SET state = 'delivered', delivered_at = ?2, lease_until = NULL, \
             attempts = attempts + 1 \
             WHERE message_id = ?1 AND state <> 'delivered'",
            params![message_id, encode::unix_micros(at)],
            "mark a delivery",
        )?;
        Ok(marked != 0)
    }

    async fn store_receipt(&mut self, message_id: &str, receipt: &[u8]) -> Result<(), StoreError> {
        execute(
            self.0,
            "UPDATE messages SET receipt = ?2 WHERE id = ?1",
            params![message_id, receipt],
            "store a receipt",
        )?;
        Ok(())
    }

    async fn replace_ciphertext(
        &mut self,
        message_id: &str,
        ciphertext: &[u8],
    ) -> Result<bool, StoreError> {
        let replaced = execute(
            self.0,
            "UPDATE outbox SET ciphertext = ?2 WHERE message_id = ?1 AND state = 'pending'",
            params![message_id, ciphertext],
            "replace an outbox ciphertext",
        )?;
        Ok(replaced != 0)
    }

    async fn set_retry(
        &mut self,
        message_id: &str,
        attempts: i64,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let marked = execute(
            self.0,
            "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4, \
             lease_until = NULL WHERE message_id = ?1 AND state = 'pending'",
            params![
                message_id,
                attempts,
                encode::unix_micros(next_attempt_at),
                error
            ],
            "schedule a retry",
        )?;
        Ok(marked != 0)
    }

    async fn set_failed(
        &mut self,
        message_id: &str,
        error: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let marked = execute(
            self.0,
            "UPDATE outbox SET state = 'failed', last_error = ?2, failed_at = ?3, \
             lease_until = NULL WHERE message_id = ?1 AND state = 'pending'",
            params![message_id, error, encode::unix_micros(at)],
            "give up a delivery",
        )?;
        Ok(marked != 0)
    }

    async fn advance_size(&mut self, from: i64, to: i64) -> Result<bool, StoreError> {
        // The write lock is held for the whole transaction: the size
        // checked is the size the batch lands on.
        let moved = execute(
            self.0,
            "UPDATE ledger_head SET size = ?2 WHERE singleton = 1 AND size = ?1",
            [from, to],
            "advance the ledger's size",
        )?;
        Ok(moved != 0)
    }

    async fn ledger_size(&mut self) -> Result<Option<i64>, StoreError> {
        read_ledger_size(self.0)
    }

    async fn remove_pending(&mut self, ids: &[i64]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for id in ids {
            let n = execute(
                self.0,
                "DELETE FROM ledger_pending WHERE id = ?1",
                [id],
                "remove consumed ledger entries",
            )?;
            if n != 1 {
                break;
            }
            removed += 1;
        }
        Ok(removed)
    }

    async fn insert_entries(&mut self, batch: &Append<'_>) -> Result<(), StoreError> {
        // An entry already stored at or past the old size would be one the
        // size does not count: refuse the batch rather than overwrite it.
        let taken: Option<Option<i64>> = value(
            self.0,
            "SELECT MIN(idx) FROM ledger_entries WHERE idx >= ?1 AND idx < ?2",
            [batch.expected, batch.end],
            "look for ledger entries past the size",
        )?;
        if let Some(idx) = taken.flatten() {
            return Err(decode::entry_past_size(idx));
        }
        let recorded_at = encode::unix_micros(batch.at);
        for (idx, entry) in batch.indexed() {
            execute(
                self.0,
                "INSERT INTO ledger_entries (idx, entry, recorded_at) VALUES (?1, ?2, ?3)",
                params![idx, entry, recorded_at],
                "append ledger entries",
            )?;
        }
        Ok(())
    }

    async fn last_block(&mut self) -> Result<Option<BlockRow>, StoreError> {
        first(
            self.0,
            "SELECT block, hashes FROM ledger_hash_blocks ORDER BY block DESC LIMIT 1",
            [],
            "read the last block of ledger hashes",
            block_row,
        )
    }

    async fn read_blocks(&mut self, blocks: &[i64]) -> Result<Vec<BlockRow>, StoreError> {
        read_blocks(self.0, blocks.iter().copied(), "read stored ledger hashes")
    }

    async fn write_blocks(&mut self, rows: Vec<(i64, Vec<u8>)>) -> Result<(), StoreError> {
        for (block, hashes) in rows {
            execute(
                self.0,
                "INSERT INTO ledger_hash_blocks (block, hashes) VALUES (?1, ?2) \
                 ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes",
                params![block, hashes],
                "store ledger hashes",
            )?;
        }
        Ok(())
    }

    async fn insert_fired(&mut self, f: &FiredWrite<'_>) -> Result<bool, StoreError> {
        let inserted = execute(
            self.0,
            "INSERT INTO clock_events (case_id, clock, event, due, fired_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![
                f.case_id,
                f.clock,
                f.event,
                encode::unix_micros(f.due),
                encode::unix_micros(f.fired_at)
            ],
            "record a clock event",
        )?;
        Ok(inserted == 1)
    }
}

pub(crate) fn put_node_info(conn: &Connection, info: &NodeInfo) -> Result<(), StoreError> {
    let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
    execute(
        conn,
        "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT (singleton) DO UPDATE SET \
         state = excluded.state, name = excluded.name, created_at = excluded.created_at",
        params![
            info.state.as_str(),
            encode::text("node_info.name", &info.name)?,
            encode::unix_micros(created_at)
        ],
        "store the node's identity",
    )?;
    Ok(())
}

pub(crate) fn insert_request(conn: &Connection, request: &RequestRecord) -> Result<(), StoreError> {
    let row = encode::request(request)?;
    if !run_now(SqliteTx(conn).insert_request(&row))? {
        return Err(StoreError::DuplicateRequest(request.id.clone()));
    }
    Ok(())
}

pub(crate) fn append_event(
    conn: &Connection,
    event: &NewEvent,
) -> Result<RequestEvent, StoreError> {
    if !encode::storable(&event.request_id) {
        return Err(StoreError::UnknownRequest(event.request_id.clone()));
    }
    let row = encode::event(event)?;
    let unknown = || StoreError::UnknownRequest(event.request_id.clone());
    let seq = run_now(txn::append_event(&mut SqliteTx(conn), &row, unknown))?;
    decode::appended(event, seq, row.at)
}

pub(crate) fn record_request(
    conn: &Connection,
    request: &RequestRecord,
    event: &NewEvent,
) -> Result<RequestEvent, StoreError> {
    let request_row = encode::request(request)?;
    let row = encode::event(event)?;
    let seq = run_now(txn::record_request(&mut SqliteTx(conn), &request_row, &row))?;
    decode::appended(event, seq, row.at)
}

pub(crate) fn put_directory(
    conn: &Connection,
    directory: &StoredDirectory,
) -> Result<(), StoreError> {
    let version = encode::count("directory.version", directory.version)?;
    let imported_at = encode::timestamp("directory.imported_at", directory.imported_at)?;
    let stored = execute(
        conn,
        "INSERT INTO directory (singleton, version, signed, imported_at) \
         VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, \
         signed = excluded.signed, imported_at = excluded.imported_at \
         WHERE excluded.version > directory.version",
        params![
            version,
            directory.signed.as_slice(),
            encode::unix_micros(imported_at)
        ],
        "store the directory",
    )?;
    if stored == 0 {
        let current: Option<i64> = value(
            conn,
            "SELECT version FROM directory WHERE singleton = 1",
            [],
            "read the directory's version",
        )?;
        return Err(StoreError::StaleDirectory {
            current: current.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            offered: directory.version,
        });
    }
    Ok(())
}

pub(crate) fn record_outgoing(
    conn: &Connection,
    message: &OutgoingMessage,
) -> Result<(), StoreError> {
    let out = encode::outgoing(message)?;
    run_now(txn::record_outgoing(&mut SqliteTx(conn), &out))
}

pub(crate) fn accept_incoming(
    conn: &Connection,
    message: &IncomingMessage,
) -> Result<AcceptOutcome, StoreError> {
    let inc = encode::incoming(message)?;
    // The write lock is held from the first read to the last write, so a
    // copy found absent stays absent; a job that ends with a duplicate has
    // written nothing to undo.
    run_now(txn::accept_incoming(&mut SqliteTx(conn), &inc))
}

pub(crate) fn claim_due(
    conn: &Connection,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: u32,
) -> Result<Vec<OutboxItem>, StoreError> {
    let (now, until) = encode::lease(now, lease)?;
    // The write lock is held from the statement's first read to its last
    // write, so no other claimer can pick the same rows.
    let rows = all(
        conn,
        concat!(
            "UPDATE outbox SET lease_until = ?2 WHERE seq IN (\
               SELECT o.seq FROM outbox AS o \
               WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 \
                 AND (o.lease_until IS NULL OR o.lease_until <= ?1) \
                 AND NOT EXISTS (SELECT 1 FROM outbox AS p \
                   WHERE p.state = 'pending' AND p.thread = o.thread \
                     AND p.recipient = o.recipient AND p.seq < o.seq) \
               ORDER BY o.created_at, o.seq LIMIT ?3) \
             RETURNING ",
            columns!(outbox)
        ),
        params![
            encode::unix_micros(now),
            encode::unix_micros(until),
            i64::from(limit)
        ],
        "claim outbox items",
        |row| rows::outbox(row),
    )?;
    decode::claimed(rows)
}

pub(crate) fn mark_delivered(
    conn: &Connection,
    message_id: &str,
    receipt: &[u8],
    at: OffsetDateTime,
    ledger: &[Vec<u8>],
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let at = encode::timestamp("outbox.delivered_at", at)?;
    let mut tx = SqliteTx(conn);
    run_now(txn::mark_delivered(
        &mut tx, message_id, receipt, at, ledger,
    ))
}

pub(crate) fn resign_outbox(
    conn: &Connection,
    message_id: &str,
    ciphertext: &[u8],
    at: OffsetDateTime,
    ledger: &[Vec<u8>],
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let at = encode::timestamp("ledger_queue.at", at)?;
    let mut tx = SqliteTx(conn);
    run_now(txn::resign_outbox(
        &mut tx, message_id, ciphertext, at, ledger,
    ))
}

pub(crate) fn mark_retry(
    conn: &Connection,
    message_id: &str,
    attempts: u32,
    next_attempt_at: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let next = encode::timestamp("outbox.next_attempt_at", next_attempt_at)?;
    let error = encode::text("outbox.last_error", error)?;
    let mut tx = SqliteTx(conn);
    run_now(txn::mark_retry(&mut tx, message_id, attempts, next, error))
}

pub(crate) fn mark_failed(
    conn: &Connection,
    message_id: &str,
    error: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let at = encode::timestamp("outbox.failed_at", at)?;
    let error = encode::text("outbox.last_error", error)?;
    run_now(txn::mark_failed(&mut SqliteTx(conn), message_id, error, at))
}

pub(crate) fn record_refusal(conn: &Connection, refusal: &RefusalRecord) -> Result<(), StoreError> {
    let r = encode::refusal(refusal)?;
    execute(
        conn,
        "INSERT INTO refusals (at, peer, claimed_sender, code, detail, body_sha256, body_len) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            encode::unix_micros(r.at),
            r.peer,
            r.claimed_sender,
            r.code,
            r.detail,
            r.body_sha256,
            r.body_len
        ],
        "record a refusal",
    )?;
    Ok(())
}

pub(crate) fn queue_ledger(
    conn: &Connection,
    entries: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    run_now(SqliteTx(conn).queue_entries(&entries, at))
}

pub(crate) fn append_ledger(
    conn: &Connection,
    expected_size: u64,
    consumed: &[i64],
    entries: &[Vec<u8>],
    hashes: &[(u64, [u8; 32])],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
    run_now(txn::append_ledger(
        &mut SqliteTx(conn),
        expected_size,
        &batch,
    ))
}

pub(crate) fn put_checkpoint(
    conn: &Connection,
    checkpoint: &StoredCheckpoint,
) -> Result<(), StoreError> {
    let cp = encode::checkpoint(checkpoint)?;
    let size = decode::ledger_size(read_ledger_size(conn)?)?;
    if checkpoint.size > size {
        return Err(decode::checkpoint_too_large(checkpoint.size, size));
    }
    let inserted = execute(
        conn,
        "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (size) DO NOTHING",
        params![cp.size, cp.note, encode::unix_micros(cp.created_at)],
        "store a checkpoint",
    )?;
    if inserted == 0 {
        let stored: Option<String> = value(
            conn,
            "SELECT note FROM ledger_checkpoints WHERE size = ?1",
            [cp.size],
            "read a stored checkpoint",
        )?;
        return decode::same_checkpoint(checkpoint, stored.as_deref().unwrap_or_default());
    }
    Ok(())
}

pub(crate) fn put_witnessed(
    conn: &Connection,
    state: &WitnessedState,
    expected_size: Option<u64>,
) -> Result<(), StoreError> {
    let w = encode::witnessed(state, expected_size)?;
    let held: Option<i64> = value(
        conn,
        "SELECT size FROM witnessed WHERE origin = ?1",
        [w.origin],
        "read a witnessed checkpoint",
    )?;
    if held != w.expected {
        return Err(decode::witness_conflict(&state.origin, expected_size, held));
    }
    execute(
        conn,
        "INSERT INTO witnessed (origin, size, note, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (origin) DO UPDATE SET \
         size = excluded.size, note = excluded.note, updated_at = excluded.updated_at",
        params![w.origin, w.size, w.note, encode::unix_micros(w.updated_at)],
        "store a witnessed checkpoint",
    )?;
    Ok(())
}

pub(crate) fn record_fork(
    conn: &Connection,
    origin: &str,
    evidence: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    let f = encode::fork(origin, evidence, at)?;
    let id: Option<i64> = value(
        conn,
        "INSERT INTO witness_forks (origin, detected_at, evidence) \
         VALUES (?1, ?2, ?3) RETURNING id",
        params![f.origin, encode::unix_micros(f.detected_at), f.evidence],
        "record a fork",
    )?;
    id.ok_or_else(|| StoreError::Database {
        operation: "record a fork",
        detail: "the insert returned no id".to_owned(),
    })
}

pub(crate) fn put_cosignature(
    conn: &Connection,
    cosignature: &CosignatureRecord,
) -> Result<(), StoreError> {
    let c = encode::cosignature(cosignature)?;
    // The same line again updates nothing, keeping its first time.
    execute(
        conn,
        "INSERT INTO cosignatures (size, witness, line, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, at = excluded.at \
         WHERE cosignatures.line <> excluded.line",
        params![c.size, c.witness, c.line, encode::unix_micros(c.at)],
        "store a cosignature",
    )?;
    Ok(())
}

/// Replaces a message's envelope if it is still `old`; whether it was.
pub(crate) fn reseal_message(
    conn: &Connection,
    id: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    execute(
        conn,
        "UPDATE messages SET envelope = ?3 WHERE id = ?1 AND envelope = ?2",
        params![id, old, new],
        "seal a stored envelope",
    )
    .map(|n| n == 1)
}

/// Replaces a request's draft if it is still `old`; whether it was.
pub(crate) fn reseal_draft(
    conn: &Connection,
    id: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    execute(
        conn,
        "UPDATE requests SET draft = ?3 WHERE id = ?1 AND draft = ?2",
        params![id, old, new],
        "seal a stored draft",
    )
    .map(|n| n == 1)
}
