//! The PostgreSQL adapter's people operations (`people.rs`): users, sign-in
//! state, sessions and client-API tokens. Each write runs in one
//! transaction with its ledger entries; a conditional `UPDATE` takes the
//! user's row lock, so attempts racing on one account run one after the
//! other and only one of them finds the state it expected.

use sqlx::postgres::PgConnection;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::{self, AccessRecord};
use crate::decode::failed;
use crate::encode;
use crate::people::{
    self, SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord, people_columns,
};
use crate::postgres::PgStore;
use crate::postgres_access;
use crate::postgres_write::{PgTx, abandon, finish};
use crate::txn::Tx;

async fn begin<'s>(
    store: &'s PgStore,
    what: &'static str,
) -> Result<Transaction<'s, Postgres>, StoreError> {
    store.pool.begin().await.map_err(failed(what))
}

async fn queue(
    conn: &mut PgConnection,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let entries: Vec<&[u8]> = ledger.iter().map(Vec::as_slice).collect();
    PgTx(conn).queue_entries(&entries, at).await
}

async fn insert_codes(
    conn: &mut PgConnection,
    user: &str,
    codes: &[String],
) -> Result<(), StoreError> {
    for code in codes {
        encode::text("recovery_codes.code_hash", code)?;
    }
    sqlx::query(
        "INSERT INTO recovery_codes (user_name, code_hash) \
         SELECT $1, c FROM UNNEST($2::text[]) AS c ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(codes)
    .execute(conn)
    .await
    .map_err(failed("store recovery codes"))?;
    Ok(())
}

/// Sets the sign-in state to `new` if it is `expected`; whether it was.
async fn swap_state(
    conn: &mut PgConnection,
    name: &str,
    expected: &SignInState,
    new: &SignInState,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET failed_attempts = $6, lockouts = $7, locked_until = $8, \
         totp_last_step = $9 WHERE name = $1 AND failed_attempts = $2 AND lockouts = $3 \
         AND locked_until IS NOT DISTINCT FROM $4 AND totp_last_step IS NOT DISTINCT FROM $5",
    )
    .bind(name)
    .bind(i64::from(expected.failed_attempts))
    .bind(i64::from(expected.lockouts))
    .bind(expected.locked_until)
    .bind(expected.totp_last_step)
    .bind(i64::from(new.failed_attempts))
    .bind(i64::from(new.lockouts))
    .bind(new.locked_until)
    .bind(new.totp_last_step)
    .execute(conn)
    .await
    .map_err(failed("update a sign-in state"))?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn add_user(
    store: &PgStore,
    user: &UserRecord,
    codes: &[String],
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let u = people::check_user(user)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let mut tx = begin(store, "begin adding a user").await?;
    let done = sqlx::query(
        "INSERT INTO users (name, display_name, email, roles, enabled, password_hash, \
         totp_secret, failed_attempts, lockouts, locked_until, totp_last_step, created_at, \
         changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&u.name)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(&u.roles)
    .bind(u.enabled)
    .bind(&u.password_hash)
    .bind(&u.totp_secret)
    .bind(i64::from(u.sign_in.failed_attempts))
    .bind(i64::from(u.sign_in.lockouts))
    .bind(u.sign_in.locked_until)
    .bind(u.sign_in.totp_last_step)
    .bind(u.created_at)
    .bind(u.changed_at)
    .execute(&mut *tx)
    .await
    .map_err(failed("add a user"));
    let result = match done {
        Ok(d) if d.rows_affected() == 0 => Err(StoreError::DuplicateUser(u.name.clone())),
        Ok(_) => match insert_codes(&mut tx, &u.name, codes).await {
            Ok(()) => queue(&mut tx, ledger, at).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    finish(tx, result, "commit a new user").await
}

pub(crate) async fn user(store: &PgStore, name: &str) -> Result<Option<UserRecord>, StoreError> {
    if !encode::storable(name) {
        return Ok(None);
    }
    let row = sqlx::query(concat!(
        "SELECT ",
        people_columns!(users),
        " FROM users WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(&store.pool)
    .await
    .map_err(failed("read a user"))?;
    row.as_ref().map(people::user).transpose()
}

pub(crate) async fn set_language(
    store: &PgStore,
    name: &str,
    language: Option<&str>,
) -> Result<bool, StoreError> {
    if !encode::storable(name) {
        return Ok(false);
    }
    let language = language
        .map(|l| encode::text("users.language", l))
        .transpose()?;
    let done = sqlx::query("UPDATE users SET language = $2 WHERE name = $1")
        .bind(name)
        .bind(language)
        .execute(&store.pool)
        .await
        .map_err(failed("set a user's language"))?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn users(store: &PgStore) -> Result<Vec<UserRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        people_columns!(users),
        " FROM users ORDER BY name"
    ))
    .fetch_all(&store.pool)
    .await
    .map_err(failed("list users"))?;
    rows.iter().map(people::user).collect()
}

pub(crate) async fn change_user(
    store: &PgStore,
    user: &UserRecord,
    codes: Option<&[String]>,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let u = people::check_user(user)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let mut tx = begin(store, "begin changing a user").await?;
    let done = sqlx::query(
        "UPDATE users SET display_name = $2, email = $3, roles = $4, enabled = $5, \
         password_hash = $6, totp_secret = $7, changed_at = $8, \
         totp_last_step = CASE WHEN $9 THEN NULL ELSE totp_last_step END WHERE name = $1",
    )
    .bind(&u.name)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(&u.roles)
    .bind(u.enabled)
    .bind(&u.password_hash)
    .bind(&u.totp_secret)
    .bind(u.changed_at)
    .bind(codes.is_some())
    .execute(&mut *tx)
    .await
    .map_err(failed("change a user"));
    let done = match done {
        Ok(d) => d,
        Err(e) => return Err(abandon(tx, e).await),
    };
    if done.rows_affected() == 0 {
        return finish(tx, Ok(false), "end changing a user").await;
    }
    let result = async {
        if let Some(codes) = codes {
            sqlx::query("DELETE FROM recovery_codes WHERE user_name = $1")
                .bind(&u.name)
                .execute(&mut *tx)
                .await
                .map_err(failed("replace recovery codes"))?;
            insert_codes(&mut tx, &u.name, codes).await?;
        }
        queue(&mut tx, ledger, at).await?;
        Ok(true)
    }
    .await;
    finish(tx, result, "commit a changed user").await
}

/// Access records checked before a transaction opens, each with its time.
fn checked_records(
    records: &[AccessRecord],
) -> Result<Vec<(&AccessRecord, OffsetDateTime)>, StoreError> {
    records
        .iter()
        .map(|r| access::check_record(r).map(|at| (r, at)))
        .collect()
}

pub(crate) async fn set_sign_in_state(
    store: &PgStore,
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
    let mut tx = begin(store, "begin a sign-in state").await?;
    let result = async {
        if !swap_state(&mut tx, name, &expected, &new).await? {
            return Ok(false);
        }
        queue(&mut tx, ledger, at).await?;
        for (r, at) in &access {
            postgres_access::insert_record(&mut tx, r, *at).await?;
        }
        Ok(true)
    }
    .await;
    finish(tx, result, "commit a sign-in state").await
}

pub(crate) async fn open_session(
    store: &PgStore,
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
    let mut tx = begin(store, "begin opening a session").await?;
    let result = async {
        if !swap_state(&mut tx, &s.user, &expected, &new).await? {
            return Ok(SessionOutcome::StateChanged);
        }
        if let Some(code) = code {
            let used = sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE user_name = $1 AND code_hash = $2 AND used_at IS NULL",
            )
            .bind(&s.user)
            .bind(code)
            .bind(s.created_at)
            .execute(&mut *tx)
            .await
            .map_err(failed("use a recovery code"))?;
            if used.rows_affected() == 0 {
                return Ok(SessionOutcome::CodeNotUsable);
            }
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_name, secret_hash, from_addr, created_at, \
             last_seen_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(&s.user)
        .bind(&s.secret_hash)
        .bind(&s.from)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(s.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(failed("open a session"))?;
        queue(&mut tx, ledger, s.created_at).await?;
        for (r, at) in &access {
            postgres_access::insert_record(&mut tx, r, *at).await?;
        }
        Ok(SessionOutcome::Opened)
    }
    .await;
    match result {
        Ok(SessionOutcome::Opened) => finish(tx, result, "commit a session").await,
        // Nothing of a refused sign-in is kept.
        Ok(outcome) => {
            let _ = abandon(tx, StoreError::Unavailable(String::new())).await;
            Ok(outcome)
        }
        Err(e) => Err(abandon(tx, e).await),
    }
}

pub(crate) async fn recovery_codes_left(store: &PgStore, name: &str) -> Result<u32, StoreError> {
    if !encode::storable(name) {
        return Ok(0);
    }
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_name = $1 AND used_at IS NULL",
    )
    .bind(name)
    .fetch_one(&store.pool)
    .await
    .map_err(failed("count recovery codes"))?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt {
        table: "recovery_codes",
        column: "used_at",
        detail: format!("{n} codes counted"),
    })
}

pub(crate) async fn session_by_hash(
    store: &PgStore,
    hash: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    if !encode::storable(hash) {
        return Ok(None);
    }
    let row = sqlx::query(concat!(
        "SELECT ",
        people_columns!(sessions),
        " FROM sessions WHERE secret_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&store.pool)
    .await
    .map_err(failed("look up a session"))?;
    row.as_ref().map(people::session).transpose()
}

pub(crate) async fn touch_session(
    store: &PgStore,
    id: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = encode::timestamp("sessions.last_seen_at", at)?;
    let id = encode::text("sessions.id", id)?;
    sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(&store.pool)
        .await
        .map_err(failed("note a session's use"))?;
    Ok(())
}

pub(crate) async fn sessions(
    store: &PgStore,
    user: Option<&str>,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        people_columns!(sessions),
        " FROM sessions WHERE $1::text IS NULL OR user_name = $1 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user.filter(|u| encode::storable(u)))
    .fetch_all(&store.pool)
    .await
    .map_err(failed("list sessions"))?;
    rows.iter().map(people::session).collect()
}

pub(crate) async fn revoke_session(
    store: &PgStore,
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
    let mut tx = begin(store, "begin revoking a session").await?;
    let result = async {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(failed("revoke a session"))?;
        if done.rows_affected() == 1 {
            queue(&mut tx, ledger, at).await?;
            for (r, at) in &access {
                postgres_access::insert_record(&mut tx, r, *at).await?;
            }
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            people_columns!(sessions),
            " FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed("read a session"))?;
        row.as_ref().map(people::session).transpose()
    }
    .await;
    finish(tx, result, "commit a revoked session").await
}

pub(crate) async fn put_token(
    store: &PgStore,
    token: &TokenRecord,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let t = people::check_token(token)?;
    let at = encode::timestamp("ledger_pending.queued_at", at)?;
    let mut tx = begin(store, "begin storing a token").await?;
    let result = async {
        let done = sqlx::query(
            "INSERT INTO api_tokens (id, user_name, name, scopes, secret_hash, created_at, \
             expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.user)
        .bind(&t.name)
        .bind(&t.scopes)
        .bind(&t.secret_hash)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(failed("store a token"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::DuplicateToken(t.id.clone()));
        }
        queue(&mut tx, ledger, at).await
    }
    .await;
    finish(tx, result, "commit a token").await
}

pub(crate) async fn token_by_hash(
    store: &PgStore,
    hash: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    if !encode::storable(hash) {
        return Ok(None);
    }
    let row = sqlx::query(concat!(
        "SELECT ",
        people_columns!(api_tokens),
        " FROM api_tokens WHERE secret_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&store.pool)
    .await
    .map_err(failed("look up a token"))?;
    row.as_ref().map(people::token).transpose()
}

pub(crate) async fn tokens(
    store: &PgStore,
    user: Option<&str>,
) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        people_columns!(api_tokens),
        " FROM api_tokens WHERE $1::text IS NULL OR user_name = $1 ORDER BY created_at, id"
    ))
    .bind(user.filter(|u| encode::storable(u)))
    .fetch_all(&store.pool)
    .await
    .map_err(failed("list tokens"))?;
    rows.iter().map(people::token).collect()
}

pub(crate) async fn revoke_token(
    store: &PgStore,
    id: &str,
    ledger: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<Option<TokenRecord>, StoreError> {
    if !encode::storable(id) {
        return Ok(None);
    }
    let at = encode::timestamp("api_tokens.revoked_at", at)?;
    let mut tx = begin(store, "begin revoking a token").await?;
    let result = async {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(failed("revoke a token"))?;
        if done.rows_affected() == 1 {
            queue(&mut tx, ledger, at).await?;
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            people_columns!(api_tokens),
            " FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed("read a token"))?;
        row.as_ref().map(people::token).transpose()
    }
    .await;
    finish(tx, result, "commit a revoked token").await
}
