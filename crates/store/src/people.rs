//! The records of people on a node: users, their sign-in state, the
//! sessions they open by signing in, and their client-API tokens.
//!
//! The store keeps what the node hands it and makes each change atomic with
//! its ledger entries; the node hashes, seals and decides. No record holds a
//! secret in a usable form: a password as its Argon2id PHC string, the TOTP
//! secret sealed under the node's storage key, recovery codes, session and
//! token secrets as hashes.

use time::OffsetDateTime;

use crate::StoreError;
use crate::encode;
use crate::rows::RowAccess;

/// A person who may sign in to the node.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user name: unique, how the person is named in records.
    pub name: String,
    pub display_name: String,
    /// Where alerts for this person go, if anywhere.
    pub email: Option<String>,
    /// The roles held, as names, comma-separated.
    pub roles: String,
    /// A disabled user signs in to nothing and their tokens grant nothing.
    pub enabled: bool,
    /// The password's Argon2id hash, as a PHC string.
    pub password_hash: String,
    /// The TOTP secret, sealed by the node.
    pub totp_secret: Vec<u8>,
    pub sign_in: SignInState,
    pub created_at: OffsetDateTime,
    pub changed_at: OffsetDateTime,
    /// The language the person chose at the desk (a BCP 47 tag), if any;
    /// written only by [`crate::PeopleStore::set_user_language`].
    pub language: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("enabled", &self.enabled)
            .field("sign_in", &self.sign_in)
            .finish_non_exhaustive()
    }
}

/// Where a user's sign-in attempts stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInState {
    /// Failures in a row since the last success or lock-out.
    pub failed_attempts: u32,
    /// Lock-outs so far (each one lasts twice as long as the one before).
    pub lockouts: u32,
    /// While set and in the future, the account is locked.
    pub locked_until: Option<OffsetDateTime>,
    /// The last TOTP time step accepted: a code is good once.
    pub totp_last_step: Option<i64>,
}

/// A session opened by signing in.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user: String,
    /// The SHA-256 of the session's secret, in hex.
    pub secret_hash: String,
    /// Where the sign-in came from (an address, or `cli`).
    pub from: String,
    pub created_at: OffsetDateTime,
    /// The last time it was used (it expires when idle too long).
    pub last_seen_at: OffsetDateTime,
    /// Its absolute end.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A client-API token: it belongs to a user and acts with at most its
/// scopes. The secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    /// The user it belongs to.
    pub user: String,
    /// What the token is for, chosen by its owner.
    pub name: String,
    /// The roles it may use, as names, comma-separated.
    pub scopes: String,
    /// The hash of the secret (its SHA-256 in hex), unique among tokens.
    pub secret_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// When it was revoked; a revoked token grants nothing.
    pub revoked_at: Option<OffsetDateTime>,
}

/// How opening a session after a good password and code ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The session is stored, the sign-in state updated, the entries queued.
    Opened,
    /// The user's sign-in state was no longer the one expected (another
    /// attempt ran meanwhile, or no such user): nothing written.
    StateChanged,
    /// The recovery code is not one of the user's unused codes: nothing
    /// written.
    CodeNotUsable,
}

/// The column lists of the people tables, in the order their mappers read.
macro_rules! people_columns {
    (users) => {
        "name, display_name, email, roles, enabled, password_hash, totp_secret, \
         failed_attempts, lockouts, locked_until, totp_last_step, created_at, changed_at, language"
    };
    (sessions) => {
        "id, user_name, secret_hash, from_addr, created_at, last_seen_at, expires_at, revoked_at"
    };
    (api_tokens) => {
        "id, user_name, name, scopes, secret_hash, created_at, expires_at, revoked_at"
    };
}
pub(crate) use people_columns;

fn count(table: &'static str, column: &'static str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        column,
        detail: format!("{v} is not a count"),
    })
}

pub(crate) fn user(row: &impl RowAccess) -> Result<UserRecord, StoreError> {
    const T: &str = "users";
    Ok(UserRecord {
        name: row.get(T, "name")?,
        display_name: row.get(T, "display_name")?,
        email: row.get(T, "email")?,
        roles: row.get(T, "roles")?,
        enabled: row.get(T, "enabled")?,
        password_hash: row.get(T, "password_hash")?,
        totp_secret: row.get(T, "totp_secret")?,
        sign_in: SignInState {
            failed_attempts: count(T, "failed_attempts", row.get(T, "failed_attempts")?)?,
            lockouts: count(T, "lockouts", row.get(T, "lockouts")?)?,
            locked_until: row.optional_time(T, "locked_until")?,
            totp_last_step: row.get(T, "totp_last_step")?,
        },
        created_at: row.time(T, "created_at")?,
        changed_at: row.time(T, "changed_at")?,
        language: row.get(T, "language")?,
    })
}

pub(crate) fn session(row: &impl RowAccess) -> Result<SessionRecord, StoreError> {
    const T: &str = "sessions";
    Ok(SessionRecord {
        id: row.get(T, "id")?,
        user: row.get(T, "user_name")?,
        secret_hash: row.get(T, "secret_hash")?,
        from: row.get(T, "from_addr")?,
        created_at: row.time(T, "created_at")?,
        last_seen_at: row.time(T, "last_seen_at")?,
        expires_at: row.time(T, "expires_at")?,
        revoked_at: row.optional_time(T, "revoked_at")?,
    })
}

pub(crate) fn token(row: &impl RowAccess) -> Result<TokenRecord, StoreError> {
    const T: &str = "api_tokens";
    Ok(TokenRecord {
        id: row.get(T, "id")?,
        user: row.get(T, "user_name")?,
        name: row.get(T, "name")?,
        scopes: row.get(T, "scopes")?,
        secret_hash: row.get(T, "secret_hash")?,
        created_at: row.time(T, "created_at")?,
        expires_at: row.time(T, "expires_at")?,
        revoked_at: row.optional_time(T, "revoked_at")?,
    })
}

/// Checks every text and time of a user record before it is written, and
/// returns it with its times at storage precision.
pub(crate) fn check_user(u: &UserRecord) -> Result<UserRecord, StoreError> {
    encode::text("users.name", &u.name)?;
    encode::text("users.display_name", &u.display_name)?;
    if let Some(email) = &u.email {
        encode::text("users.email", email)?;
    }
    encode::text("users.roles", &u.roles)?;
    encode::text("users.password_hash", &u.password_hash)?;
    let mut u = u.clone();
    u.sign_in = check_state(&u.sign_in)?;
    u.created_at = encode::timestamp("users.created_at", u.created_at)?;
    u.changed_at = encode::timestamp("users.changed_at", u.changed_at)?;
    Ok(u)
}

pub(crate) fn check_state(s: &SignInState) -> Result<SignInState, StoreError> {
    let mut s = s.clone();
    s.locked_until = s
        .locked_until
        .map(|t| encode::timestamp("users.locked_until", t))
        .transpose()?;
    Ok(s)
}

pub(crate) fn check_session(s: &SessionRecord) -> Result<SessionRecord, StoreError> {
    encode::text("sessions.id", &s.id)?;
    encode::text("sessions.user_name", &s.user)?;
    encode::text("sessions.secret_hash", &s.secret_hash)?;
    encode::text("sessions.from_addr", &s.from)?;
    let mut s = s.clone();
    s.created_at = encode::timestamp("sessions.created_at", s.created_at)?;
    s.last_seen_at = encode::timestamp("sessions.last_seen_at", s.last_seen_at)?;
    s.expires_at = encode::timestamp("sessions.expires_at", s.expires_at)?;
    s.revoked_at = s
        .revoked_at
        .map(|t| encode::timestamp("sessions.revoked_at", t))
        .transpose()?;
    Ok(s)
}

pub(crate) fn check_token(t: &TokenRecord) -> Result<TokenRecord, StoreError> {
    encode::text("api_tokens.id", &t.id)?;
    encode::text("api_tokens.user_name", &t.user)?;
    encode::text("api_tokens.name", &t.name)?;
    encode::text("api_tokens.scopes", &t.scopes)?;
    encode::text("api_tokens.secret_hash", &t.secret_hash)?;
    let mut t = t.clone();
    t.created_at = encode::timestamp("api_tokens.created_at", t.created_at)?;
    t.expires_at = encode::timestamp("api_tokens.expires_at", t.expires_at)?;
    t.revoked_at = t
        .revoked_at
        .map(|at| encode::timestamp("api_tokens.revoked_at", at))
        .transpose()?;
    Ok(t)
}
