//! Signing in with a password and a second factor, and the sessions it
//! opens.
//!
//! [`Node::sign_in`] checks the password (Argon2id, bounded like every
//! hash) and a TOTP code (a code already accepted is refused: replay) or
//! one unused recovery code. Every failure gets the same answer
//! ([`NodeError::SignInRefused`]) whatever its cause, and costs the same
//! work (an unknown user is checked against a decoy hash). After
//! [`PeopleSettings::lock_after_failures`] failures in a row the account is
//! locked for [`PeopleSettings::first_lock`], each later lock-out twice as
//! long; while locked, sign-in answers [`NodeError::AccountLocked`] without
//! checking anything.
//!
//! A session is a random secret (stored as its SHA-256) that ends when
//! idle too long, at its absolute limit, or when revoked
//! ([`Node::sign_out`], [`Node::revoke_session`]). Its bearer acts as
//! [`Actor::Desk`] with the roles the user holds at each call.
//!
//! Every sign-in, failure, lock-out and revocation is a ledger entry, built
//! in one place (`Node::authentication_record`) and written with the state
//! change it records. Sign-ins, failures and lock-outs are also rows of the
//! record of who saw what (operation [`SIGN_IN`], allowed or refused, the
//! failure's class as the reason), written in the same transaction, so
//! `custos audit --person NAME` lists them; so is a person ending their
//! own session (operation [`END_SESSION`]; ending someone else's is the
//! `manage-users` decision recorded by [`Node::authorize`]).

use custos_store::{
    ALLOWED, AccessRecord, REFUSED, SessionOutcome, SessionRecord, SignInState, UserRecord,
};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::secrets;
use super::users::{PeopleSettings, stored_roles};
use super::{Actor, Operation};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The operation name of sign-in events in the record of who saw what.
pub const SIGN_IN: &str = "sign-in";

/// The operation name of a person ending their own session in the record
/// of who saw what.
pub const END_SESSION: &str = "end-session";

/// The reason class recorded when failures lock an account.
pub const LOCKED_OUT: &str = "locked-out";

/// The prefix of a session's bearer secret.
pub const SESSION_PREFIX: &str = "custos_session_";

/// How often a session's last use is written (its idle limit is counted
/// from the last write).
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

/// What a sign-in opened: the session's bearer secret (shown once) and when
/// it ends at the latest.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// The bearer secret: `Authorization: Bearer <session>`.
    pub session: String,
    /// The session's id (to list or revoke it).
    pub id: String,
    pub user: String,
    /// Its absolute end; it also ends after the idle limit without use.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub id: String,
    pub user: String,
    /// Where the sign-in came from.
    pub from: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<SessionRecord> for SessionView {
    fn from(s: SessionRecord) -> Self {
        SessionView {
            id: s.id,
            user: s.user,
            from: s.from,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
        }
    }
}

/// Something about authentication that the ledger records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthEvent<'a> {
    SignedIn {
        user: &'a str,
        session: &'a str,
        from: &'a str,
        factor: &'static str,
    },
    /// `reason` is the class of failure (`unknown-user`, `disabled`,
    /// `password`, `code`, `code-replayed`, `recovery-code`, `locked`),
    /// never what was typed.
    SignInFailed {
        user: &'a str,
        reason: &'static str,
        from: &'a str,
    },
    Locked {
        user: &'a str,
        until: OffsetDateTime,
    },
    SessionRevoked {
        user: &'a str,
        session: &'a str,
    },
}

/// Why a sign-in attempt failed, before it is recorded.
enum Failure {
    Disabled,
    Password,
    Code,
    Replayed,
    RecoveryCode,
}

impl Failure {
    fn reason(&self) -> &'static str {
        match self {
            Failure::Disabled => "disabled",
            Failure::Password => "password",
            Failure::Code => "code",
            Failure::Replayed => "code-replayed",
            Failure::RecoveryCode => "recovery-code",
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How long the lock-out after `lockouts` earlier ones lasts.
fn lock_length(settings: &PeopleSettings, lockouts: u32) -> time::Duration {
    let factor = 1i32.checked_shl(lockouts.min(16)).unwrap_or(i32::MAX);
    settings
        .first_lock
        .checked_mul(factor)
        .unwrap_or(settings.longest_lock)
        .min(settings.longest_lock)
}

impl Node {
    /// The ledger entry recording an authentication event (the one place
    /// where sign-ins, failures, lock-outs and revocations become entries)
    /// with the row of the record of who saw what that goes with it
    /// (operation [`SIGN_IN`] or [`END_SESSION`], allowed or refused, the
    /// reason's class; never a secret), to be written in the same
    /// transaction.
    fn authentication_record(
        &self,
        event: &AuthEvent<'_>,
        at: OffsetDateTime,
        actor: &str,
    ) -> Result<(Vec<u8>, AccessRecord), NodeError> {
        let (kind, detail, row) = match event {
            AuthEvent::SignedIn {
                user,
                session,
                from,
                factor,
            } => (
                EntryKind::SignedIn,
                json!({ "user": user, "session": session, "from": from, "factor": factor }),
                (*user, SIGN_IN, None),
            ),
            AuthEvent::SignInFailed { user, reason, from } => (
                EntryKind::SignInFailed,
                json!({ "user": user, "reason": reason, "from": from }),
                (*user, SIGN_IN, Some(*reason)),
            ),
            AuthEvent::Locked { user, until } => (
                EntryKind::AccountLocked,
                json!({ "user": user, "until": rfc3339(*until) }),
                (*user, SIGN_IN, Some(LOCKED_OUT)),
            ),
            AuthEvent::SessionRevoked { user, session } => (
                EntryKind::SessionRevoked,
                json!({ "user": user, "session": session }),
                (*user, END_SESSION, None),
            ),
        };
        let entry = Entry::new(kind, at, actor).detail(detail).encode()?;
        let (person, operation, refusal) = row;
        let row = AccessRecord {
            id: 0,
            at,
            person: person.to_owned(),
            actor: actor.to_owned(),
            operation: operation.to_owned(),
            case_id: None,
            outcome: if refusal.is_some() { REFUSED } else { ALLOWED }.to_owned(),
            reason: refusal.map(str::to_owned),
            entry_sha256: custos_seal::content_id(&entry),
        };
        Ok((entry, row))
    }

    /// Signs `user` in with `password` and `code` (a TOTP code, or one of
    /// their recovery codes) from `from` (an address, or `cli`). Every
    /// failure is [`NodeError::SignInRefused`]; a locked account is
    /// [`NodeError::AccountLocked`].
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        code: &str,
        from: &str,
    ) -> Result<Session, NodeError> {
        let from: String = from.chars().filter(|c| !c.is_control()).take(100).collect();
        // A name that could not be a user's is tried as an unknown one.
        let stored = if super::users::check_user_name(user).is_ok() {
            self.store.user(user).await?
        } else {
            None
        };
        let Some(mut u) = stored else {
            let _ = self.check_password(secrets::decoy_hash(), password).await?;
            let tried: String = user.chars().filter(|c| !c.is_control()).take(64).collect();
            return self.refuse(&tried, "unknown-user", &from).await;
        };
        let password_ok = self.check_password(&u.password_hash, password).await?;
        // A sign-in races others on the same account only through the
        // stored state: each write expects the state it read, and one that
        // lost reads it again.
        for _ in 0..8 {
            let now = self.clock.now();
            if let Some(until) = u.sign_in.locked_until.filter(|t| *t > now) {
                self.record_failure(&u, "locked", &from, now, false).await?;
                return Err(NodeError::AccountLocked {
                    until: rfc3339(until),
                });
            }
            let checked = self.check_factor(&u, password_ok, code, now)?;
            let outcome = match checked {
                Err(failure) => {
                    if self
                        .record_failure(&u, failure.reason(), &from, now, true)
                        .await?
                    {
                        return Err(NodeError::SignInRefused);
                    }
                    SessionOutcome::StateChanged
                }
                Ok((step, recovery)) => {
                    let secret = secrets::bearer_secret(SESSION_PREFIX)?;
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    let settings = &self.settings.people;
                    let session = SessionRecord {
                        id: id.clone(),
                        user: u.name.clone(),
                        secret_hash: secrets::secret_hash(&secret),
                        from: from.clone(),
                        created_at: now,
                        last_seen_at: now,
                        expires_at: now + settings.session_absolute,
                        revoked_at: None,
                    };
                    // Lock-outs keep counting: the next one after a
                    // success still lasts twice as long.
                    let new = SignInState {
                        failed_attempts: 0,
                        lockouts: u.sign_in.lockouts,
                        locked_until: None,
                        totp_last_step: step.or(u.sign_in.totp_last_step),
                    };
                    let factor = if recovery.is_some() {
                        "recovery-code"
                    } else {
                        "totp"
                    };
                    let (entry, row) = self.authentication_record(
                        &AuthEvent::SignedIn {
                            user: &u.name,
                            session: &id,
                            from: &from,
                            factor,
                        },
                        now,
                        &desk_label(&u.name),
                    )?;
                    let outcome = self
                        .store
                        .open_session(
                            &u.sign_in,
                            &new,
                            recovery.as_deref(),
                            &session,
                            &[entry],
                            std::slice::from_ref(&row),
                        )
                        .await?;
                    match outcome {
                        SessionOutcome::Opened => {
                            return Ok(Session {
                                session: secret,
                                id,
                                user: u.name,
                                expires_at: session.expires_at,
                            });
                        }
                        SessionOutcome::CodeNotUsable => {
                            if self
                                .record_failure(
                                    &u,
                                    Failure::RecoveryCode.reason(),
                                    &from,
                                    now,
                                    true,
                                )
                                .await?
                            {
                                return Err(NodeError::SignInRefused);
                            }
                            SessionOutcome::StateChanged
                        }
                        SessionOutcome::StateChanged => SessionOutcome::StateChanged,
                    }
                }
            };
            debug_assert_eq!(outcome, SessionOutcome::StateChanged);
            match self.store.user(&u.name).await? {
                Some(again) => u = again,
                None => return self.refuse(&u.name, "unknown-user", &from).await,
            }
        }
        Err(NodeError::SignInRefused)
    }

    /// Checks the second factor: the TOTP step accepted, or the recovery
    /// code's hash to spend; or why the attempt fails.
    #[allow(clippy::type_complexity)]
    fn check_factor(
        &self,
        u: &UserRecord,
        password_ok: bool,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Result<(Option<i64>, Option<String>), Failure>, NodeError> {
        if !password_ok {
            return Ok(Err(Failure::Password));
        }
        let result = if secrets::is_totp_code(code) {
            let secret = self.totp_secret_of(u)?;
            match secrets::totp_match(&secret, code, now.unix_timestamp())? {
                None => Err(Failure::Code),
                Some(step) if u.sign_in.totp_last_step.is_some_and(|last| step <= last) => {
                    Err(Failure::Replayed)
                }
                Some(step) => Ok((Some(step), None)),
            }
        } else if code.trim().is_empty() || code.len() > 64 {
            Err(Failure::Code)
        } else {
            Ok((None, Some(secrets::recovery_code_hash(&u.name, code))))
        };
        if !u.enabled {
            return Ok(Err(Failure::Disabled));
        }
        Ok(result)
    }

    /// Records a failed attempt on a stored user: counts it and, at the
    /// limit, locks the account, with the entries, if the state is still
    /// the one read (`count`: false records without counting, for an
    /// attempt on a locked account). `false` when the state moved meanwhile.
    async fn record_failure(
        &self,
        u: &UserRecord,
        reason: &'static str,
        from: &str,
        now: OffsetDateTime,
        count: bool,
    ) -> Result<bool, NodeError> {
        let settings = &self.settings.people;
        let (entry, row) = self.authentication_record(
            &AuthEvent::SignInFailed {
                user: &u.name,
                reason,
                from,
            },
            now,
            "anonymous",
        )?;
        let mut entries = vec![entry];
        let mut rows = vec![row];
        let mut new = u.sign_in.clone();
        if count {
            new.failed_attempts = new.failed_attempts.saturating_add(1);
            if new.failed_attempts >= settings.lock_after_failures {
                let until = now + lock_length(settings, new.lockouts);
                new.failed_attempts = 0;
                new.lockouts = new.lockouts.saturating_add(1);
                new.locked_until = Some(until);
                let (entry, row) = self.authentication_record(
                    &AuthEvent::Locked {
                        user: &u.name,
                        until,
                    },
                    now,
                    "node:sign-in",
                )?;
                entries.push(entry);
                rows.push(row);
            }
        }
        Ok(self
            .store
            .set_sign_in_state(&u.name, &u.sign_in, &new, &entries, &rows, now)
            .await?)
    }

    /// Records a failure for a name that is no user's, and refuses.
    async fn refuse<T>(
        &self,
        tried: &str,
        reason: &'static str,
        from: &str,
    ) -> Result<T, NodeError> {
        let now = self.clock.now();
        let (entry, row) = self.authentication_record(
            &AuthEvent::SignInFailed {
                user: tried,
                reason,
                from,
            },
            now,
            "anonymous",
        )?;
        self.store.record_access(&row, &entry).await?;
        Err(NodeError::SignInRefused)
    }

    /// The actor a session's bearer secret stands for: `None` for an
    /// unknown, expired (idle or absolute) or revoked session, or a user
    /// disabled or gone. The roles are the user's as stored now.
    pub(crate) async fn session_actor(&self, bearer: &str) -> Result<Option<Actor>, NodeError> {
        Ok(self.session_person(bearer).await?.map(|(actor, _)| actor))
    }

    /// The person of a live session, with the language they chose.
    pub(crate) async fn session_person(
        &self,
        bearer: &str,
    ) -> Result<Option<(Actor, Option<String>)>, NodeError> {
        let hash = secrets::secret_hash(bearer);
        let Some(s) = self.store.session_by_hash(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let idle = self.settings.people.session_idle;
        if !secrets::same_hash(&s.secret_hash, &hash)
            || s.revoked_at.is_some()
            || now >= s.expires_at
            || now >= s.last_seen_at + idle
        {
            return Ok(None);
        }
        let Some(user) = self.store.user(&s.user).await? else {
            return Ok(None);
        };
        if !user.enabled {
            return Ok(None);
        }
        if now - s.last_seen_at >= TOUCH_EVERY {
            self.store.touch_session(&s.id, now).await?;
        }
        Ok(Some((
            Actor::Desk {
                user: user.name,
                roles: stored_roles(&user.roles),
            },
            user.language,
        )))
    }

    /// Ends the session whose bearer secret is `bearer`; `false` if it is
    /// no live session.
    pub async fn sign_out(&self, bearer: &str) -> Result<bool, NodeError> {
        let hash = secrets::secret_hash(bearer);
        let Some(s) = self.store.session_by_hash(&hash).await? else {
            return Ok(false);
        };
        if s.revoked_at.is_some() {
            return Ok(false);
        }
        let now = self.clock.now();
        let (entry, row) = self.authentication_record(
            &AuthEvent::SessionRevoked {
                user: &s.user,
                session: &s.id,
            },
            now,
            &desk_label(&s.user),
        )?;
        Ok(self
            .store
            .revoke_session(&s.id, &[entry], std::slice::from_ref(&row), now)
            .await?
            .is_some())
    }

    /// Sessions: the actor's own (`user` `None` or their name), or anyone's
    /// for whoever may manage users (`user` another name; `Some("*")`
    /// lists every user's).
    pub async fn sessions(
        &self,
        actor: &Actor,
        user: Option<&str>,
    ) -> Result<Vec<SessionView>, NodeError> {
        let own = actor.person();
        let asked = user.or(own);
        if asked != own || asked.is_none() {
            self.authorize(actor, Operation::ManageUsers, None).await?;
        }
        let filter = asked.filter(|u| *u != "*");
        Ok(self
            .store
            .sessions(filter)
            .await?
            .into_iter()
            .map(SessionView::from)
            .collect())
    }

    /// Revokes a session by id: one's own, or anyone's for whoever may
    /// manage users.
    pub async fn revoke_session(&self, actor: &Actor, id: &str) -> Result<SessionView, NodeError> {
        let sessions = self.store.sessions(None).await?;
        let Some(s) = sessions.into_iter().find(|s| s.id == id) else {
            self.authorize(actor, Operation::ManageUsers, None).await?;
            return Err(NodeError::NotFound(format!("no session has id {id:?}")));
        };
        let own = actor.person() == Some(s.user.as_str());
        if !own {
            self.authorize(actor, Operation::ManageUsers, None).await?;
        }
        let now = self.clock.now();
        let (entry, row) = self.authentication_record(
            &AuthEvent::SessionRevoked {
                user: &s.user,
                session: &s.id,
            },
            now,
            &actor.label(),
        )?;
        // Someone else's session: the decision that allowed it is the row.
        let rows = if own { vec![row] } else { Vec::new() };
        let revoked = self
            .store
            .revoke_session(&s.id, &[entry], &rows, now)
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no session has id {id:?}")))?;
        Ok(revoked.into())
    }
}

/// How a signed-in person is named in the record.
fn desk_label(user: &str) -> String {
    Actor::Desk {
        user: user.to_owned(),
        roles: super::Roles::NONE,
    }
    .label()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_out_lasts_twice_as_long_up_to_the_longest() {
        let s = PeopleSettings::default();
        let minutes: Vec<i64> = (0..10)
            .map(|n| lock_length(&s, n).whole_minutes())
            .collect();
        assert_eq!(minutes, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
        assert_eq!(lock_length(&s, u32::MAX), s.longest_lock);
    }
}
