//! [`PeopleStore`]: the people who use the node: users, their sign-in state,
//! the sessions they open and their client-API tokens.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{
    AccessRecord, SessionOutcome, SessionRecord, SignInState, StoreError, TokenRecord, UserRecord,
};

/// The people who use the node: users, their sign-in state, the sessions they
/// open and their client-API tokens.
#[async_trait]
pub trait PeopleStore: Send + Sync {
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
}
