//! The SQLite adapter's people operations (`people.rs`): users, sign-in
//! state, sessions and client-API tokens. Writes run as jobs on the
//! writer's thread, each with its ledger entries in the same job (one
//! savepoint of a group commit); a job that checks before it writes cannot
//! race another, since the writer runs one job at a time.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::{self, AccessRecord};
use crate::encode::{self, unix_micros};
use crate::people::{
    self, SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord, people_columns,
};
use crate::sqlite::SqliteStore;
use crate::sqlite_access;
use crate::sqlite_db::{all, execute, failed, first};
use crate::sqlite_write::SqliteTx;
use crate::txn::{Tx, run_now};

fn micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(unix_micros)
}

fn queue(conn: &Connection, ledger: &[Vec<u8>], at: OffsetDateTime) -> Result<(), StoreError> {
    if ledger.is_empty() {
        return Ok(());
    }
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    run_now(SqliteTx(conn).queue_entries(&entries, at))
}

fn insert_codes(conn: &Connection, user: &str, codes: &[String]) -> Result<(), StoreError> {
    for code in codes {
        encode::text("recovery_codes.code_hash", code)?;
        execute(
            conn,
            "INSERT INTO recovery_codes (user_name, code_hash) VALUES (?1, ?2) \
             ON CONFLICT DO NOTHING",
            params![user, code],
            "store a recovery code",
        )?;
    }
    Ok(())
}

/// Whether the user's sign-in state is `s` (a missing user is not).
fn state_is(conn: &Connection, name: &str, s: &SignInState) -> Result<bool, StoreError> {
    let found: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM users WHERE name = ?1 AND failed_attempts = ?2 AND lockouts = ?3 \
             AND locked_until IS ?4 AND totp_last_step IS ?5",
        )
        .map_err(failed("read a sign-in state"))?
        .query_row(
            params![
                name,
                i64::from(s.failed_attempts),
                i64::from(s.lockouts),
                micros(s.locked_until),
                s.totp_last_step
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(failed("read a sign-in state"))?;
    Ok(found.is_some())
}

fn write_state(conn: &Connection, name: &str, s: &SignInState) -> Result<(), StoreError> {
    execute(
        conn,
        "UPDATE users SET failed_attempts = ?2, lockouts = ?3, locked_until = ?4, \
         totp_last_step = ?5 WHERE name = ?1",
        params![
            name,
            i64::from(s.failed_attempts),
            i64::from(s.lockouts),
            micros(s.locked_until),
            s.totp_last_step
        ],
        "update a sign-in state",
    )?;
    Ok(())
}

pub(crate) async fn add_user(
    store: &SqliteStore,
    user: &UserRecord,
    codes: &[String],
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let u = people::check_user(user)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let (codes, ledger) = (codes.to_vec(), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            let inserted = execute(
                conn,
                "INSERT INTO users (name, display_name, email, roles, enabled, password_hash, \
                 totp_secret, failed_attempts, lockouts, locked_until, totp_last_step, \
                 created_at, changed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT DO NOTHING",
                params![
                    u.name,
                    u.display_name,
                    u.email,
                    u.roles,
                    u.enabled,
                    u.password_hash,
                    u.totp_secret,
                    i64::from(u.sign_in.failed_attempts),
                    i64::from(u.sign_in.lockouts),
                    micros(u.sign_in.locked_until),
                    u.sign_in.totp_last_step,
                    unix_micros(u.created_at),
                    unix_micros(u.changed_at)
                ],
                "add a user",
            )?;
            if inserted == 0 {
                return Err(StoreError::DuplicateUser(u.name.clone()));
            }
            insert_codes(conn, &u.name, &codes)?;
            queue(conn, &ledger, at)
        })
        .await
}

pub(crate) fn user(store: &SqliteStore, name: &str) -> Result<Option<UserRecord>, StoreError> {
    if !encode::storable(name) {
        return Ok(None);
    }
    store.read(|conn| {
        first(
            conn,
            concat!(
                "SELECT ",
                people_columns!(users),
                " FROM users WHERE name = ?1"
            ),
            [name],
            "read a user",
            |row| people::user(row),
        )
    })
}

pub(crate) async fn set_language(
    store: &SqliteStore,
    name: &str,
    language: Option<&str>,
) -> Result<bool, StoreError> {
    if !encode::storable(name) {
        return Ok(false);
    }
    let name = name.to_owned();
    let language = language
        .map(|l| encode::text("users.language", l).map(str::to_owned))
        .transpose()?;
    store
        .writer
        .write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE users SET language = ?2 WHERE name = ?1",
                params![name, language],
                "set a user's language",
            )?;
            Ok(changed == 1)
        })
        .await
}

pub(crate) async fn users(store: &SqliteStore) -> Result<Vec<UserRecord>, StoreError> {
    store
        .read_long(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    people_columns!(users),
                    " FROM users ORDER BY name"
                ),
                [],
                "list users",
                |row| people::user(row),
            )
        })
        .await
}

pub(crate) async fn change_user(
    store: &SqliteStore,
    user: &UserRecord,
    codes: Option<&[String]>,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let u = people::check_user(user)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let (codes, ledger) = (codes.map(<[String]>::to_vec), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE users SET display_name = ?2, email = ?3, roles = ?4, enabled = ?5, \
                 password_hash = ?6, totp_secret = ?7, changed_at = ?8 WHERE name = ?1",
                params![
                    u.name,
                    u.display_name,
                    u.email,
                    u.roles,
                    u.enabled,
                    u.password_hash,
                    u.totp_secret,
                    unix_micros(u.changed_at)
                ],
                "change a user",
            )?;
            if changed == 0 {
                return Ok(false);
            }
            if let Some(codes) = codes {
                execute(
                    conn,
                    "DELETE FROM recovery_codes WHERE user_name = ?1",
                    [&u.name],
                    "replace recovery codes",
                )?;
                insert_codes(conn, &u.name, &codes)?;
                execute(
                    conn,
                    "UPDATE users SET totp_last_step = NULL WHERE name = ?1",
                    [&u.name],
                    "reset a second factor",
                )?;
            }
            queue(conn, &ledger, at)?;
            Ok(true)
        })
        .await
}

/// Access records checked before a transaction opens, each with its time.
fn checked_records(
    records: &[AccessRecord],
) -> Result<Vec<(AccessRecord, OffsetDateTime)>, StoreError> {
    records
        .iter()
        .map(|r| access::check_record(r).map(|at| (r.clone(), at)))
        .collect()
}

pub(crate) async fn set_sign_in_state(
    store: &SqliteStore,
    name: &str,
    expected: &SignInState,
    new: &SignInState,
    ledger: &[Vec<u8>],
    access: &[AccessRecord],
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    if !encode::storable(name) {
        return Ok(false);
    }
    let expected = people::check_state(expected)?;
    let new = people::check_state(new)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let access = checked_records(access)?;
    let (name, ledger) = (name.to_owned(), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            if !state_is(conn, &name, &expected)? {
                return Ok(false);
            }
            write_state(conn, &name, &new)?;
            queue(conn, &ledger, at)?;
            for (r, at) in &access {
                sqlite_access::insert_record(conn, r, *at)?;
            }
            Ok(true)
        })
        .await
}

pub(crate) async fn open_session(
    store: &SqliteStore,
    expected: &SignInState,
    new: &SignInState,
    code: Option<&str>,
    session: &SessionRecord,
    ledger: &[Vec<u8>],
    access: &[AccessRecord],
) -> Result<SessionOutcome, StoreError> {
    let s = people::check_session(session)?;
    let access = checked_records(access)?;
    let expected = people::check_state(expected)?;
    let new = people::check_state(new)?;
    if code.is_some_and(|c| !encode::storable(c)) {
        return Ok(SessionOutcome::CodeNotUsable);
    }
    let (code, ledger) = (code.map(str::to_owned), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            if !state_is(conn, &s.user, &expected)? {
                return Ok(SessionOutcome::StateChanged);
            }
            if let Some(code) = &code {
                let used = execute(
                    conn,
                    "UPDATE recovery_codes SET used_at = ?3 \
                     WHERE user_name = ?1 AND code_hash = ?2 AND used_at IS NULL",
                    params![s.user, code, unix_micros(s.created_at)],
                    "use a recovery code",
                )?;
                if used == 0 {
                    return Ok(SessionOutcome::CodeNotUsable);
                }
            }
            write_state(conn, &s.user, &new)?;
            execute(
                conn,
                "INSERT INTO sessions (id, user_name, secret_hash, from_addr, created_at, \
                 last_seen_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    s.id,
                    s.user,
                    s.secret_hash,
                    s.from,
                    unix_micros(s.created_at),
                    unix_micros(s.last_seen_at),
                    unix_micros(s.expires_at),
                    micros(s.revoked_at)
                ],
                "open a session",
            )?;
            queue(conn, &ledger, s.created_at)?;
            for (r, at) in &access {
                sqlite_access::insert_record(conn, r, *at)?;
            }
            Ok(SessionOutcome::Opened)
        })
        .await
}

pub(crate) fn recovery_codes_left(store: &SqliteStore, name: &str) -> Result<u32, StoreError> {
    if !encode::storable(name) {
        return Ok(0);
    }
    let n: i64 = store.read(|conn| {
        conn.prepare_cached(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_name = ?1 AND used_at IS NULL",
        )
        .and_then(|mut st| st.query_row([name], |row| row.get(0)))
        .map_err(failed("count recovery codes"))
    })?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt {
        table: "recovery_codes",
        column: "used_at",
        detail: format!("{n} codes counted"),
    })
}

pub(crate) fn session_by_hash(
    store: &SqliteStore,
    hash: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    if !encode::storable(hash) {
        return Ok(None);
    }
    store.read(|conn| {
        first(
            conn,
            concat!(
                "SELECT ",
                people_columns!(sessions),
                " FROM sessions WHERE secret_hash = ?1"
            ),
            [hash],
            "look up a session",
            |row| people::session(row),
        )
    })
}

pub(crate) async fn touch_session(
    store: &SqliteStore,
    id: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = encode::timestamp("sessions.last_seen_at", at)?;
    let id = encode::text("sessions.id", id)?.to_owned();
    store
        .writer
        .write(move |conn| {
            execute(
                conn,
                "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1",
                params![id, unix_micros(at)],
                "note a session's use",
            )
            .map(|_| ())
        })
        .await
}

pub(crate) async fn sessions(
    store: &SqliteStore,
    user: Option<&str>,
) -> Result<Vec<SessionRecord>, StoreError> {
    let user = user.map(str::to_owned);
    store
        .read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    people_columns!(sessions),
                    " FROM sessions WHERE ?1 IS NULL OR user_name = ?1 \
                     ORDER BY created_at DESC, id DESC"
                ),
                [user],
                "list sessions",
                |row| people::session(row),
            )
        })
        .await
}

pub(crate) async fn revoke_session(
    store: &SqliteStore,
    id: &str,
    ledger: &[Vec<u8>],
    access: &[AccessRecord],
    at: OffsetDateTime,
) -> Result<Option<SessionRecord>, StoreError> {
    if !encode::storable(id) {
        return Ok(None);
    }
    let at = encode::timestamp("sessions.revoked_at", at)?;
    let access = checked_records(access)?;
    let (id, ledger) = (id.to_owned(), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, unix_micros(at)],
                "revoke a session",
            )?;
            if changed == 1 {
                queue(conn, &ledger, at)?;
                for (r, at) in &access {
                    sqlite_access::insert_record(conn, r, *at)?;
                }
            }
            first(
                conn,
                concat!(
                    "SELECT ",
                    people_columns!(sessions),
                    " FROM sessions WHERE id = ?1"
                ),
                [&id],
                "read a session",
                |row| people::session(row),
            )
        })
        .await
}

pub(crate) async fn put_token(
    store: &SqliteStore,
    token: &TokenRecord,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let t = people::check_token(token)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let ledger = ledger.to_vec();
    store
        .writer
        .write(move |conn| {
            let inserted = execute(
                conn,
                "INSERT INTO api_tokens (id, user_name, name, scopes, secret_hash, created_at, \
                 expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT DO NOTHING",
                params![
                    t.id,
                    t.user,
                    t.name,
                    t.scopes,
                    t.secret_hash,
                    unix_micros(t.created_at),
                    unix_micros(t.expires_at),
                    micros(t.revoked_at)
                ],
                "store a token",
            )?;
            if inserted == 0 {
                return Err(StoreError::DuplicateToken(t.id.clone()));
            }
            queue(conn, &ledger, at)
        })
        .await
}

pub(crate) fn token_by_hash(
    store: &SqliteStore,
    hash: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    if !encode::storable(hash) {
        return Ok(None);
    }
    store.read(|conn| {
        first(
            conn,
            concat!(
                "SELECT ",
                people_columns!(api_tokens),
                " FROM api_tokens WHERE secret_hash = ?1"
            ),
            [hash],
            "look up a token",
            |row| people::token(row),
        )
    })
}

pub(crate) async fn tokens(
    store: &SqliteStore,
    user: Option<&str>,
) -> Result<Vec<TokenRecord>, StoreError> {
    let user = user.map(str::to_owned);
    store
        .read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    people_columns!(api_tokens),
                    " FROM api_tokens WHERE ?1 IS NULL OR user_name = ?1 ORDER BY created_at, id"
                ),
                [user],
                "list tokens",
                |row| people::token(row),
            )
        })
        .await
}

pub(crate) async fn revoke_token(
    store: &SqliteStore,
    id: &str,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<Option<TokenRecord>, StoreError> {
    if !encode::storable(id) {
        return Ok(None);
    }
    let at = encode::timestamp("api_tokens.revoked_at", at)?;
    let (id, ledger) = (id.to_owned(), ledger.to_vec());
    store
        .writer
        .write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, unix_micros(at)],
                "revoke a token",
            )?;
            if changed == 1 {
                queue(conn, &ledger, at)?;
            }
            first(
                conn,
                concat!(
                    "SELECT ",
                    people_columns!(api_tokens),
                    " FROM api_tokens WHERE id = ?1"
                ),
                [&id],
                "read a token",
                |row| people::token(row),
            )
        })
        .await
}
