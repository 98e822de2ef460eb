//! The PostgreSQL adapter's [`PeopleStore`]: the people who use the node:
//! users, their sign-in state, the sessions they open and their client-API
//! tokens.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::access::AccessRecord;
use crate::people::{SessionOutcome, SessionRecord, SignInState, TokenRecord, UserRecord};
use crate::postgres_people;
use crate::{PeopleStore, StoreError};

use super::PgStore;

#[async_trait]
impl PeopleStore for PgStore {
    // -- People: the statements are in `postgres_people.rs`.

    async fn add_user(
        &self,
        user: &UserRecord,
        recovery_codes: &[String],
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        postgres_people::add_user(self, user, recovery_codes, ledger, at).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        postgres_people::user(self, name).await
    }

    async fn set_user_language(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Result<bool, StoreError> {
        postgres_people::set_language(self, name, language).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        postgres_people::users(self).await
    }

    async fn change_user(
        &self,
        user: &UserRecord,
        recovery_codes: Option<&[String]>,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        postgres_people::change_user(self, user, recovery_codes, ledger, at).await
    }

    async fn set_sign_in_state(
        &self,
        name: &str,
        expected: &SignInState,
        new: &SignInState,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        postgres_people::set_sign_in_state(self, name, expected, new, ledger, access, at).await
    }

    async fn open_session(
        &self,
        expected: &SignInState,
        new: &SignInState,
        recovery_code: Option<&str>,
        session: &SessionRecord,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
    ) -> Result<SessionOutcome, StoreError> {
        postgres_people::open_session(self, expected, new, recovery_code, session, ledger, access)
            .await
    }

    async fn recovery_codes_left(&self, name: &str) -> Result<u32, StoreError> {
        postgres_people::recovery_codes_left(self, name).await
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        postgres_people::session_by_hash(self, secret_hash).await
    }

    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        postgres_people::touch_session(self, id, at).await
    }

    async fn sessions(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        postgres_people::sessions(self, user).await
    }

    async fn revoke_session(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        access: &[AccessRecord],
        at: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        postgres_people::revoke_session(self, id, ledger, access, at).await
    }

    async fn put_token(
        &self,
        token: &TokenRecord,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        postgres_people::put_token(self, token, ledger, at).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        postgres_people::token_by_hash(self, secret_hash).await
    }

    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        postgres_people::tokens(self, user).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        ledger: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, StoreError> {
        postgres_people::revoke_token(self, id, ledger, at).await
    }
}
