//! The SQLite adapter's writes, each as the work of one job of the group
//! commit ([`crate::group_commit`]).
//!
//! Every function here runs on the single writer connection, inside a
//! transaction that the writer opened and will commit together with other
//! jobs. None begins or commits: returning `Err` is how a job asks for its
//! own writes to be undone (the writer rolls back to the job's savepoint).
//! The write lock is held for the whole transaction, so a check followed by
//! a write cannot be split by another writer, in this process or another.

use sqlx::QueryBuilder;
use sqlx::sqlite::SqliteConnection;
use time::OffsetDateTime;

use crate::StoreError;
use crate::decode::{self, failed};
use crate::encode::{self, EventRow, MessageRow, RequestRow};
use crate::federation::{
    AcceptOutcome, IncomingMessage, OutboxItem, OutgoingMessage, RefusalRecord, StoredDirectory,
    TokenRecord,
};
use crate::hash_blocks::{self, BlockRow};
use crate::ledger::StoredCheckpoint;
use crate::records::{NewEvent, NodeInfo, RequestEvent, RequestRecord};
use crate::sqlite::{json_integers, outbox_row, read_ledger_size, token_row};
use crate::witness::{CosignatureRecord, WitnessedState};

/// SQLite's limit on bound parameters in one statement is 32,766; chunks of
/// this many rows keep multi-row inserts well under it.
const ROWS_PER_INSERT: usize = 500;

/// Inserts a request; `false` if its id is taken.
async fn insert_request_row(
    conn: &mut SqliteConnection,
    r: &RequestRow<'_>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO requests (id, kind, direction, counterpart, body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id)
    .bind(r.kind)
    .bind(r.direction)
    .bind(r.counterpart)
    .bind(&r.body)
    .bind(encode::unix_micros(r.created_at))
    .execute(conn)
    .await
    .map_err(failed("insert a request"))?;
    Ok(done.rows_affected() == 1)
}

/// Takes the next event number of a request; `None` if it is not stored.
async fn next_event_seq(
    conn: &mut SqliteConnection,
    request_id: &str,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "UPDATE requests SET last_event_seq = last_event_seq + 1 WHERE id = ?1 \
         RETURNING last_event_seq",
    )
    .bind(request_id)
    .fetch_optional(conn)
    .await
    .map_err(failed("number an event"))
}

async fn insert_event_row(
    conn: &mut SqliteConnection,
    e: &EventRow<'_>,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO request_events (request_id, seq, at, actor, kind, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(e.request_id)
    .bind(seq)
    .bind(encode::unix_micros(e.at))
    .bind(e.actor)
    .bind(e.kind)
    .bind(&e.detail)
    .execute(conn)
    .await
    .map_err(failed("append an event"))?;
    Ok(())
}

/// Inserts a message; `false` if its id is taken.
async fn insert_message_row(
    conn: &mut SqliteConnection,
    m: &MessageRow<'_>,
    receipt: Option<&[u8]>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO messages (id, thread, direction, counterpart, kind, prev, created_at, \
         recorded_at, envelope, receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(m.id)
    .bind(m.thread)
    .bind(m.direction)
    .bind(m.counterpart)
    .bind(m.kind)
    .bind(m.prev)
    .bind(encode::unix_micros(m.created_at))
    .bind(encode::unix_micros(m.recorded_at))
    .bind(m.envelope)
    .bind(receipt)
    .execute(conn)
    .await
    .map_err(failed("insert a message"))?;
    Ok(done.rows_affected() == 1)
}

/// After an update of a pending outbox item changed nothing: fine if the
/// item exists (it was settled meanwhile), [`StoreError::UnknownMessage`]
/// if it was never queued.
async fn settled_or_unknown(
    conn: &mut SqliteConnection,
    message_id: &str,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM outbox WHERE message_id = ?1")
        .bind(message_id)
        .fetch_optional(conn)
        .await
        .map_err(failed("look up an outbox item"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownMessage(message_id.to_owned())),
    }
}

/// Queues ledger entries, in order, as of `at` (already at storage
/// precision), a few hundred rows per statement.
async fn queue_entries(
    conn: &mut SqliteConnection,
    entries: &[&[u8]],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = encode::unix_micros(at);
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO ledger_pending (entry, queued_at) ");
        // `push_values` keeps the rows' order, and ids rise in insert order.
        insert.push_values(chunk, |mut row, entry| {
            row.push_bind(*entry).push_bind(at);
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(failed("queue ledger entries"))?;
    }
    Ok(())
}

pub(crate) async fn put_node_info(
    conn: &mut SqliteConnection,
    info: &NodeInfo,
) -> Result<(), StoreError> {
    let created_at = encode::timestamp("node_info.created_at", info.created_at)?;
    sqlx::query(
        "INSERT INTO node_info (singleton, state, name, created_at) VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT (singleton) DO UPDATE SET \
         state = excluded.state, name = excluded.name, created_at = excluded.created_at",
    )
    .bind(info.state.as_str())
    .bind(encode::text("node_info.name", &info.name)?)
    .bind(encode::unix_micros(created_at))
    .execute(conn)
    .await
    .map_err(failed("store the node's identity"))?;
    Ok(())
}

pub(crate) async fn insert_request(
    conn: &mut SqliteConnection,
    request: &RequestRecord,
) -> Result<(), StoreError> {
    let row = encode::request(request)?;
    if !insert_request_row(conn, &row).await? {
        return Err(StoreError::DuplicateRequest(request.id.clone()));
    }
    Ok(())
}

pub(crate) async fn append_event(
    conn: &mut SqliteConnection,
    event: &NewEvent,
) -> Result<RequestEvent, StoreError> {
    if !encode::storable(&event.request_id) {
        return Err(StoreError::UnknownRequest(event.request_id.clone()));
    }
    let row = encode::event(event)?;
    let Some(seq) = next_event_seq(conn, row.request_id).await? else {
        return Err(StoreError::UnknownRequest(event.request_id.clone()));
    };
    insert_event_row(conn, &row, seq).await?;
    queue_entries(conn, row.ledger.as_slice(), row.at).await?;
    decode::appended(event, seq, row.at)
}

pub(crate) async fn put_directory(
    conn: &mut SqliteConnection,
    directory: &StoredDirectory,
) -> Result<(), StoreError> {
    let version = encode::count("directory.version", directory.version)?;
    let imported_at = encode::timestamp("directory.imported_at", directory.imported_at)?;
    let done = sqlx::query(
        "INSERT INTO directory (singleton, version, signed, imported_at) \
         VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, \
         signed = excluded.signed, imported_at = excluded.imported_at \
         WHERE excluded.version > directory.version",
    )
    .bind(version)
    .bind(directory.signed.as_slice())
    .bind(encode::unix_micros(imported_at))
    .execute(&mut *conn)
    .await
    .map_err(failed("store the directory"))?;
    if done.rows_affected() == 0 {
        let current: i64 = sqlx::query_scalar("SELECT version FROM directory WHERE singleton = 1")
            .fetch_one(&mut *conn)
            .await
            .map_err(failed("read the directory's version"))?;
        return Err(StoreError::StaleDirectory {
            current: u64::try_from(current).unwrap_or(0),
            offered: directory.version,
        });
    }
    Ok(())
}

pub(crate) async fn record_outgoing(
    conn: &mut SqliteConnection,
    message: &OutgoingMessage,
) -> Result<(), StoreError> {
    let out = encode::outgoing(message)?;
    if let Some(request) = &out.request
        && !insert_request_row(conn, request).await?
    {
        return Err(StoreError::DuplicateRequest(request.id.to_owned()));
    }
    let Some(seq) = next_event_seq(conn, out.message.thread).await? else {
        return Err(StoreError::UnknownRequest(out.message.thread.to_owned()));
    };
    if !insert_message_row(conn, &out.message, None).await? {
        return Err(StoreError::DuplicateMessage(out.message.id.to_owned()));
    }
    insert_event_row(conn, &out.event, seq).await?;
    let o = &out.outbox;
    sqlx::query(
        "INSERT INTO outbox (message_id, thread, recipient, url, ciphertext, created_at, \
         next_attempt_at, attempts, state, last_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)",
    )
    .bind(o.message_id)
    .bind(o.thread)
    .bind(o.recipient)
    .bind(o.url)
    .bind(o.ciphertext)
    .bind(encode::unix_micros(o.created_at))
    .bind(encode::unix_micros(o.next_attempt_at))
    .bind(o.attempts)
    .bind(o.last_error)
    .execute(&mut *conn)
    .await
    .map_err(failed("queue a message"))?;
    queue_entries(conn, &out.ledger, out.message.recorded_at).await
}

pub(crate) async fn accept_incoming(
    conn: &mut SqliteConnection,
    message: &IncomingMessage,
) -> Result<AcceptOutcome, StoreError> {
    let inc = encode::incoming(message)?;
    let m = &inc.message;
    let earlier: Option<(String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT direction, receipt FROM messages WHERE id = ?1")
            .bind(m.id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(failed("look up a message"))?;
    if let Some((direction, receipt)) = earlier {
        // Nothing was written; the job ends with nothing to undo.
        return decode::duplicate(m.id, &direction, receipt);
    }
    if let Some(request) = &inc.request
        && !insert_request_row(conn, request).await?
    {
        return Err(StoreError::DuplicateRequest(request.id.to_owned()));
    }
    let Some(seq) = next_event_seq(conn, m.thread).await? else {
        return Err(StoreError::UnknownRequest(m.thread.to_owned()));
    };
    if let Some(prev) = m.prev {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM messages WHERE id = ?1 AND thread = ?2")
                .bind(prev)
                .bind(m.thread)
                .fetch_optional(&mut *conn)
                .await
                .map_err(failed("look up the previous message"))?;
        if found.is_none() {
            return Err(StoreError::OutOfOrder {
                prev: prev.to_owned(),
            });
        }
    }
    if !insert_message_row(conn, m, Some(inc.receipt)).await? {
        // Unreachable while the write lock is held since the check
        // above; kept so that a surprise is an error, not a panic.
        return Err(StoreError::DuplicateMessage(m.id.to_owned()));
    }
    insert_event_row(conn, &inc.event, seq).await?;
    queue_entries(conn, &inc.ledger, m.recorded_at).await?;
    Ok(AcceptOutcome::Accepted)
}

pub(crate) async fn claim_due(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: u32,
) -> Result<Vec<OutboxItem>, StoreError> {
    let (now, until) = encode::lease(now, lease)?;
    // The write lock is held from the statement's first read to its last
    // write, so no other claimer can pick the same rows.
    let rows = sqlx::query(concat!(
        "UPDATE outbox SET lease_until = ?2 WHERE seq IN (\
           SELECT o.seq FROM outbox AS o \
           WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 \
             AND (o.lease_until IS NULL OR o.lease_until <= ?1) \
             AND NOT EXISTS (SELECT 1 FROM outbox AS p \
               WHERE p.state = 'pending' AND p.thread = o.thread \
                 AND p.recipient = o.recipient AND p.seq < o.seq) \
           ORDER BY o.created_at, o.seq LIMIT ?3) \
         RETURNING ",
        crate::sqlite::outbox_columns!()
    ))
    .bind(encode::unix_micros(now))
    .bind(encode::unix_micros(until))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await
    .map_err(failed("claim outbox items"))?;
    decode::claimed(rows.iter().map(outbox_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn mark_delivered(
    conn: &mut SqliteConnection,
    message_id: &str,
    receipt: &[u8],
    at: OffsetDateTime,
    ledger: &[Vec<u8>],
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let at = encode::timestamp("outbox.delivered_at", at)?;
    let done = sqlx::query(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?2, lease_until = NULL \
         WHERE message_id = ?1 AND state <> 'delivered'",
    )
    .bind(message_id)
    .bind(encode::unix_micros(at))
    .execute(&mut *conn)
    .await
    .map_err(failed("mark a delivery"))?;
    if done.rows_affected() == 0 {
        return settled_or_unknown(conn, message_id).await;
    }
    sqlx::query("UPDATE messages SET receipt = ?2 WHERE id = ?1")
        .bind(message_id)
        .bind(receipt)
        .execute(&mut *conn)
        .await
        .map_err(failed("store a receipt"))?;
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    queue_entries(conn, &entries, at).await
}

pub(crate) async fn mark_retry(
    conn: &mut SqliteConnection,
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
    let done = sqlx::query(
        "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4, \
         lease_until = NULL WHERE message_id = ?1 AND state = 'pending'",
    )
    .bind(message_id)
    .bind(i64::from(attempts))
    .bind(encode::unix_micros(next))
    .bind(error)
    .execute(&mut *conn)
    .await
    .map_err(failed("schedule a retry"))?;
    if done.rows_affected() == 0 {
        return settled_or_unknown(conn, message_id).await;
    }
    Ok(())
}

pub(crate) async fn mark_failed(
    conn: &mut SqliteConnection,
    message_id: &str,
    error: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if !encode::storable(message_id) {
        return Err(StoreError::UnknownMessage(message_id.to_owned()));
    }
    let at = encode::timestamp("outbox.failed_at", at)?;
    let error = encode::text("outbox.last_error", error)?;
    let done = sqlx::query(
        "UPDATE outbox SET state = 'failed', last_error = ?2, failed_at = ?3, \
         lease_until = NULL WHERE message_id = ?1 AND state = 'pending'",
    )
    .bind(message_id)
    .bind(error)
    .bind(encode::unix_micros(at))
    .execute(&mut *conn)
    .await
    .map_err(failed("give up a delivery"))?;
    if done.rows_affected() == 0 {
        return settled_or_unknown(conn, message_id).await;
    }
    Ok(())
}

pub(crate) async fn record_refusal(
    conn: &mut SqliteConnection,
    refusal: &RefusalRecord,
) -> Result<(), StoreError> {
    let r = encode::refusal(refusal)?;
    sqlx::query(
        "INSERT INTO refusals (at, peer, claimed_sender, code, detail, body_sha256, body_len) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(encode::unix_micros(r.at))
    .bind(r.peer)
    .bind(r.claimed_sender)
    .bind(r.code)
    .bind(r.detail)
    .bind(r.body_sha256)
    .bind(r.body_len)
    .execute(conn)
    .await
    .map_err(failed("record a refusal"))?;
    Ok(())
}

pub(crate) async fn put_token(
    conn: &mut SqliteConnection,
    token: &TokenRecord,
) -> Result<(), StoreError> {
    let t = encode::token(token)?;
    let done = sqlx::query(
        "INSERT INTO tokens (id, name, secret_hash, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )
    .bind(t.id)
    .bind(t.name)
    .bind(t.secret_hash)
    .bind(encode::unix_micros(t.created_at))
    .bind(t.revoked_at.map(encode::unix_micros))
    .execute(conn)
    .await
    .map_err(failed("store a token"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::DuplicateToken(token.id.clone()));
    }
    Ok(())
}

pub(crate) async fn revoke_token(
    conn: &mut SqliteConnection,
    id: &str,
    at: OffsetDateTime,
) -> Result<Option<TokenRecord>, StoreError> {
    if !encode::storable(id) {
        return Ok(None);
    }
    let at = encode::timestamp("tokens.revoked_at", at)?;
    let row = sqlx::query(concat!(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 RETURNING ",
        crate::sqlite::token_columns!()
    ))
    .bind(id)
    .bind(encode::unix_micros(at))
    .fetch_optional(conn)
    .await
    .map_err(failed("revoke a token"))?;
    row.as_ref().map(token_row).transpose()
}

pub(crate) async fn queue_ledger(
    conn: &mut SqliteConnection,
    entries: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let entries: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    queue_entries(conn, &entries, at).await
}

pub(crate) async fn append_ledger(
    conn: &mut SqliteConnection,
    expected_size: u64,
    consumed: &[i64],
    entries: &[Vec<u8>],
    hashes: &[(u64, [u8; 32])],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let batch = encode::append(expected_size, consumed, entries, hashes, at)?;
    // The write lock is held for the whole transaction: the size checked
    // is the size the batch lands on.
    let moved = sqlx::query("UPDATE ledger_head SET size = ?2 WHERE singleton = 1 AND size = ?1")
        .bind(batch.expected)
        .bind(batch.end)
        .execute(&mut *conn)
        .await
        .map_err(failed("advance the ledger's size"))?;
    if moved.rows_affected() == 0 {
        let actual = read_ledger_size(conn).await?;
        return Err(decode::ledger_conflict(expected_size, actual));
    }

    let removed =
        sqlx::query("DELETE FROM ledger_pending WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(json_integers(batch.consumed.iter().copied()))
            .execute(&mut *conn)
            .await
            .map_err(failed("remove consumed ledger entries"))?;
    if removed.rows_affected() != batch.consumed.len() as u64 {
        return Err(StoreError::LedgerConflict {
            expected: expected_size,
            actual: expected_size,
        });
    }

    // An entry already stored at or past the old size would be one the
    // size does not count: refuse the batch rather than overwrite it.
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT MIN(idx) FROM ledger_entries WHERE idx >= ?1 AND idx < ?2")
            .bind(batch.expected)
            .bind(batch.end)
            .fetch_one(&mut *conn)
            .await
            .map_err(failed("look for ledger entries past the size"))?;
    if let Some(idx) = taken {
        return Err(decode::entry_past_size(idx));
    }
    let recorded_at = encode::unix_micros(batch.at);
    let rows: Vec<(i64, &[u8])> = batch.indexed().collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO ledger_entries (idx, entry, recorded_at) ");
        insert.push_values(chunk, |mut row, (idx, entry)| {
            row.push_bind(*idx).push_bind(*entry).push_bind(recorded_at);
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(failed("append ledger entries"))?;
    }

    // The stored hashes end in the last block; the batch must extend them
    // from there, and repeat any it offers below that unchanged.
    let last: Option<BlockRow> =
        sqlx::query_as("SELECT block, hashes FROM ledger_hash_blocks ORDER BY block DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(failed("read the last block of ledger hashes"))?;
    let held = hash_blocks::stored_count(last.as_ref())?;
    let wanted = hash_blocks::blocks_to_read(&batch.hashes, held);
    let mut read: Vec<BlockRow> = Vec::new();
    if !wanted.is_empty() {
        read = sqlx::query_as(
            "SELECT block, hashes FROM ledger_hash_blocks WHERE block IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_integers(wanted.iter().copied()))
        .fetch_all(&mut *conn)
        .await
        .map_err(failed("read stored ledger hashes"))?;
    }
    read.extend(last);
    let rows = hash_blocks::plan_append(&batch.hashes, held, &read)?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO ledger_hash_blocks (block, hashes) ");
        insert.push_values(chunk, |mut row, (block, hashes)| {
            row.push_bind(*block).push_bind(hashes.as_slice());
        });
        insert.push(" ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes");
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(failed("store ledger hashes"))?;
    }
    Ok(())
}

pub(crate) async fn put_checkpoint(
    conn: &mut SqliteConnection,
    checkpoint: &StoredCheckpoint,
) -> Result<(), StoreError> {
    let cp = encode::checkpoint(checkpoint)?;
    let size = decode::ledger_size(read_ledger_size(conn).await?)?;
    if checkpoint.size > size {
        return Err(decode::checkpoint_too_large(checkpoint.size, size));
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(cp.size)
    .bind(cp.note)
    .bind(encode::unix_micros(cp.created_at))
    .execute(&mut *conn)
    .await
    .map_err(failed("store a checkpoint"))?;
    if inserted.rows_affected() == 0 {
        let stored: String =
            sqlx::query_scalar("SELECT note FROM ledger_checkpoints WHERE size = ?1")
                .bind(cp.size)
                .fetch_one(&mut *conn)
                .await
                .map_err(failed("read a stored checkpoint"))?;
        return decode::same_checkpoint(checkpoint, &stored);
    }
    Ok(())
}

pub(crate) async fn put_witnessed(
    conn: &mut SqliteConnection,
    state: &WitnessedState,
    expected_size: Option<u64>,
) -> Result<(), StoreError> {
    let w = encode::witnessed(state, expected_size)?;
    let held: Option<i64> = sqlx::query_scalar("SELECT size FROM witnessed WHERE origin = ?1")
        .bind(w.origin)
        .fetch_optional(&mut *conn)
        .await
        .map_err(failed("read a witnessed checkpoint"))?;
    if held != w.expected {
        return Err(decode::witness_conflict(&state.origin, expected_size, held));
    }
    sqlx::query(
        "INSERT INTO witnessed (origin, size, note, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (origin) DO UPDATE SET \
         size = excluded.size, note = excluded.note, updated_at = excluded.updated_at",
    )
    .bind(w.origin)
    .bind(w.size)
    .bind(w.note)
    .bind(encode::unix_micros(w.updated_at))
    .execute(conn)
    .await
    .map_err(failed("store a witnessed checkpoint"))?;
    Ok(())
}

pub(crate) async fn record_fork(
    conn: &mut SqliteConnection,
    origin: &str,
    evidence: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    let f = encode::fork(origin, evidence, at)?;
    sqlx::query_scalar(
        "INSERT INTO witness_forks (origin, detected_at, evidence) \
         VALUES (?1, ?2, ?3) RETURNING id",
    )
    .bind(f.origin)
    .bind(encode::unix_micros(f.detected_at))
    .bind(f.evidence)
    .fetch_one(conn)
    .await
    .map_err(failed("record a fork"))
}

pub(crate) async fn put_cosignature(
    conn: &mut SqliteConnection,
    cosignature: &CosignatureRecord,
) -> Result<(), StoreError> {
    let c = encode::cosignature(cosignature)?;
    // The same line again updates nothing, keeping its first time.
    sqlx::query(
        "INSERT INTO cosignatures (size, witness, line, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, at = excluded.at \
         WHERE cosignatures.line <> excluded.line",
    )
    .bind(c.size)
    .bind(c.witness)
    .bind(c.line)
    .bind(encode::unix_micros(c.at))
    .execute(conn)
    .await
    .map_err(failed("store a cosignature"))?;
    Ok(())
}
