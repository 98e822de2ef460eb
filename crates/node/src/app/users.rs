//! Users: the people who may sign in to a node, their roles and second
//! factor; adding, listing, enabling and disabling them, changing their
//! roles and resetting their second factor.
//!
//! Every change is recorded in the custody ledger in the same transaction
//! (`user-added`, `user-changed`), naming the acting person; no entry
//! carries a secret. A new user's secrets (a generated password, the TOTP
//! secret and the recovery codes) are returned once, in [`UserSecrets`],
//! and never again: the node keeps the password's Argon2id hash, the TOTP
//! secret sealed under its storage key, and the recovery codes' hashes.

use custos_store::{SignInState, UserRecord};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::secrets;
use super::{Actor, Operation, Role, Roles};
use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// Settings for people: lock-outs, sessions and tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeopleSettings {
    /// Failed sign-ins in a row after which an account is locked.
    pub lock_after_failures: u32,
    /// How long the first lock-out lasts; each later one lasts twice as
    /// long as the one before, up to [`PeopleSettings::longest_lock`].
    pub first_lock: time::Duration,
    pub longest_lock: time::Duration,
    /// A session ends after this long without use.
    pub session_idle: time::Duration,
    /// A session ends this long after sign-in, however used.
    pub session_absolute: time::Duration,
    /// A token's lifetime when none is asked for.
    pub token_default_lifetime: time::Duration,
    /// The longest lifetime a token may be given.
    pub token_max_lifetime: time::Duration,
}

impl Default for PeopleSettings {
    fn default() -> Self {
        PeopleSettings {
            lock_after_failures: 5,
            first_lock: time::Duration::minutes(15),
            longest_lock: time::Duration::hours(24),
            session_idle: time::Duration::minutes(30),
            session_absolute: time::Duration::hours(12),
            token_default_lifetime: time::Duration::days(90),
            token_max_lifetime: time::Duration::days(365),
        }
    }
}

/// A user to add.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// The user name: lower-case letters, digits, `.`, `_` and `-`,
    /// starting with a letter or digit, at most 64 characters.
    pub name: String,
    /// How the person is shown; the user name when not given.
    pub display_name: Option<String>,
    /// Where alerts for the person go.
    pub email: Option<String>,
    pub roles: Roles,
    /// The password, at least [`secrets::MIN_PASSWORD_CHARS`] characters;
    /// one is generated (and returned once) when not given.
    pub password: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// A user as listed: never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    /// The roles held.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::Role>))]
    pub roles: Roles,
    pub enabled: bool,
    /// While in the future, the account is locked after failed sign-ins.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    /// The language the person chose at the desk (`ar`, `zh`, `en`, `fr`,
    /// `ru` or `es`), if any.
    pub language: Option<String>,
}

/// A second factor just made: shown once, never again.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactor {
    /// The TOTP secret in base32, to type into an authenticator.
    pub totp_secret: String,
    /// The same as an `otpauth://` URI (for a QR code).
    pub totp_uri: String,
    /// Ten codes, each good for one sign-in without the authenticator.
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondFactor(<secret>)")
    }
}

/// A user just added, with their secrets: shown once, never again.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSecrets {
    pub user: UserView,
    /// The password, when the node generated it (absent when one was
    /// chosen).
    pub password: Option<String>,
    pub second_factor: SecondFactor,
}

impl std::fmt::Debug for UserSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSecrets")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// How to change a user's roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChange {
    Set(Roles),
    Add(Roles),
    Remove(Roles),
}

/// Checks a user name: 1 to 64 characters of `a-z`, `0-9`, `.`, `_`, `-`,
/// starting with a letter or digit.
pub fn check_user_name(name: &str) -> Result<(), NodeError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidUser(format!(
            "{name:?} is not a usable user name: use 1 to 64 lower-case letters, digits, \
             '.', '_' or '-', starting with a letter or digit (such as ana.garcia)"
        )))
    }
}

fn check_display_name(name: &str) -> Result<(), NodeError> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(NodeError::InvalidUser(
            "a display name is 1 to 200 characters without control characters".into(),
        ));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), NodeError> {
    let parts: Vec<&str> = email.split('@').collect();
    let ok = email.len() <= 254
        && parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidUser(format!(
            "{email:?} is not an e-mail address (name@domain.example)"
        )))
    }
}

/// Checks a password a person chose.
pub fn check_password(password: &str) -> Result<(), NodeError> {
    if password.chars().count() < secrets::MIN_PASSWORD_CHARS {
        return Err(NodeError::InvalidUser(format!(
            "a password has at least {} characters; leave it out to have one generated",
            secrets::MIN_PASSWORD_CHARS
        )));
    }
    if password.len() > 1024 {
        return Err(NodeError::InvalidUser(
            "a password has at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

/// The roles stored for a user, read back. Names that are no longer roles
/// (a stored value edited by hand) grant nothing.
pub(crate) fn stored_roles(names: &str) -> Roles {
    names
        .split(',')
        .filter_map(|n| n.trim().parse::<super::Role>().ok())
        .collect()
}

impl Node {
    /// Hashes a password on a blocking thread, at most
    /// [`secrets::HASHING_AT_ONCE`] at a time in this process.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, NodeError> {
        let _permit = self.hashing_permit().await?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || secrets::hash_password(&password))
            .await
            .map_err(|e| NodeError::Internal(format!("password hashing stopped: {e}")))?
    }

    /// Checks a password against a stored hash, bounded like
    /// [`Node::hash_password`].
    pub(crate) async fn check_password(
        &self,
        hash: &str,
        password: &str,
    ) -> Result<bool, NodeError> {
        let _permit = self.hashing_permit().await?;
        let (hash, password) = (hash.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || secrets::verify_password(&hash, &password))
            .await
            .map_err(|e| NodeError::Internal(format!("password checking stopped: {e}")))
    }

    /// A new second factor for `user`: its sealed secret, the hashes of its
    /// recovery codes, and what the person is shown.
    fn new_second_factor(
        &self,
        user: &str,
    ) -> Result<(Vec<u8>, Vec<String>, SecondFactor), NodeError> {
        let secret = secrets::totp_secret()?;
        let sealed = self
            .keys()
            .storage
            .seal(RecordKind::TotpSecret, user, 0, &[], &secret)?;
        let codes = secrets::recovery_codes()?;
        let hashes = codes
            .iter()
            .map(|c| secrets::recovery_code_hash(user, c))
            .collect();
        let issuer = format!("Custos-{}", self.state());
        Ok((
            sealed,
            hashes,
            SecondFactor {
                totp_secret: secrets::totp_base32(&secret),
                totp_uri: secrets::totp_uri(&issuer, user, &secret),
                recovery_codes: codes,
            },
        ))
    }

    /// A user's TOTP secret, opened.
    pub(crate) fn totp_secret_of(&self, user: &UserRecord) -> Result<Vec<u8>, NodeError> {
        self.keys()
            .storage
            .open(RecordKind::TotpSecret, &user.name, &user.totp_secret)
            .map(|r| r.content)
            .map_err(|e| NodeError::RecordTampered {
                record: format!("the second factor of user {:?}", user.name),
                problem: e.to_string(),
            })
    }

    async fn user_view(&self, u: UserRecord) -> Result<UserView, NodeError> {
        let left = self.store.recovery_codes_left(&u.name).await?;
        let now = self.clock.now();
        Ok(UserView {
            roles: stored_roles(&u.roles),
            locked_until: u.sign_in.locked_until.filter(|t| *t > now),
            recovery_codes_left: left,
            name: u.name,
            display_name: u.display_name,
            email: u.email,
            enabled: u.enabled,
            created_at: u.created_at,
            changed_at: u.changed_at,
            language: u.language,
        })
    }

    /// Adds a user; returns their secrets, shown once. Refused with
    /// [`NodeError::InvalidUser`] for a name taken or malformed, a password
    /// too short or a malformed e-mail address.
    pub async fn add_user(&self, actor: &Actor, new: NewUser) -> Result<UserSecrets, NodeError> {
        self.authorize(actor, Operation::ManageUsers, None).await?;
        check_user_name(&new.name)?;
        let display_name = new.display_name.clone().unwrap_or_else(|| new.name.clone());
        check_display_name(&display_name)?;
        if let Some(email) = &new.email {
            check_email(email)?;
        }
        let (password, generated) = match &new.password {
            Some(p) => {
                check_password(p)?;
                (p.clone(), None)
            }
            None => {
                let p = secrets::generated_password()?;
                (p.clone(), Some(p))
            }
        };
        if self.store.user(&new.name).await?.is_some() {
            return Err(taken(&new.name));
        }
        let password_hash = self.hash_password(&password).await?;
        let (sealed, hashes, second_factor) = self.new_second_factor(&new.name)?;
        let now = self.clock.now();
        let record = UserRecord {
            name: new.name.clone(),
            display_name,
            email: new.email.clone(),
            roles: new.roles.names(),
            enabled: true,
            password_hash,
            totp_secret: sealed,
            sign_in: SignInState::default(),
            created_at: now,
            changed_at: now,
            language: None,
        };
        let entry = Entry::new(EntryKind::UserAdded, now, actor.label())
            .detail(json!({ "user": new.name, "roles": new.roles }))
            .encode()?;
        match self.store.add_user(&record, &hashes, &[entry], now).await {
            Err(custos_store::StoreError::DuplicateUser(n)) => return Err(taken(&n)),
            other => other?,
        }
        Ok(UserSecrets {
            user: self.user_view(record).await?,
            password: generated,
            second_factor,
        })
    }

    /// Every user of the node, by name.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<UserView>, NodeError> {
        self.authorize(actor, Operation::ListUsers, None).await?;
        let mut out = Vec::new();
        for u in self.store.users().await? {
            out.push(self.user_view(u).await?);
        }
        Ok(out)
    }

    async fn stored_user(&self, name: &str) -> Result<UserRecord, NodeError> {
        self.store.user(name).await?.ok_or_else(|| {
            NodeError::NotFound(format!("no user is named {name:?} (custos user list)"))
        })
    }

    /// Writes a changed user with its `user-changed` entry.
    async fn save_user(
        &self,
        actor: &Actor,
        mut user: UserRecord,
        codes: Option<&[String]>,
        change: serde_json::Value,
    ) -> Result<UserView, NodeError> {
        let now = self.clock.now();
        user.changed_at = now;
        let mut detail = json!({ "user": user.name });
        if let (Some(d), Some(c)) = (detail.as_object_mut(), change.as_object()) {
            d.extend(c.clone());
        }
        let entry = Entry::new(EntryKind::UserChanged, now, actor.label())
            .detail(detail)
            .encode()?;
        if !self.store.change_user(&user, codes, &[entry], now).await? {
            return Err(NodeError::NotFound(format!(
                "no user is named {:?}",
                user.name
            )));
        }
        self.user_view(user).await
    }

    /// Enables or disables a user. A disabled user signs in to nothing, and
    /// their sessions and tokens grant nothing, from the next call on.
    pub async fn set_user_enabled(
        &self,
        actor: &Actor,
        name: &str,
        enabled: bool,
    ) -> Result<UserView, NodeError> {
        self.authorize(actor, Operation::ManageUsers, None).await?;
        let mut user = self.stored_user(name).await?;
        if !enabled {
            self.keep_an_administrator(&user.name, Roles::default())
                .await?;
        }
        user.enabled = enabled;
        let change = if enabled { "enabled" } else { "disabled" };
        self.save_user(actor, user, None, json!({ "change": change }))
            .await
    }

    /// Changes a user's roles; a role removed is in force at once for their
    /// sessions and tokens.
    pub async fn change_roles(
        &self,
        actor: &Actor,
        name: &str,
        change: RoleChange,
    ) -> Result<UserView, NodeError> {
        self.authorize(actor, Operation::ManageUsers, None).await?;
        let mut user = self.stored_user(name).await?;
        let held = stored_roles(&user.roles);
        let roles = match change {
            RoleChange::Set(r) => r,
            RoleChange::Add(r) => held.iter().chain(r.iter()).collect(),
            RoleChange::Remove(r) => held.iter().filter(|x| !r.contains(*x)).collect(),
        };
        if !roles.contains(Role::Administrator) {
            self.keep_an_administrator(&user.name, roles).await?;
        }
        user.roles = roles.names();
        self.save_user(
            actor,
            user,
            None,
            json!({ "change": "roles", "roles": roles, "before": held }),
        )
        .await
    }

    /// Gives a user a new second factor (a new TOTP secret and new recovery
    /// codes, shown once); the old ones stop working at once.
    pub async fn reset_second_factor(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<SecondFactor, NodeError> {
        self.authorize(actor, Operation::ManageUsers, None).await?;
        let mut user = self.stored_user(name).await?;
        let (sealed, hashes, second_factor) = self.new_second_factor(name)?;
        user.totp_secret = sealed;
        self.save_user(
            actor,
            user,
            Some(&hashes),
            json!({ "change": "second-factor-reset" }),
        )
        .await?;
        Ok(second_factor)
    }

    /// Refuses a change that would leave the node with no enabled
    /// administrator: `name` is about to hold `roles` only (or be disabled,
    /// with no roles), and nobody else could then manage users, keys or the
    /// directory, short of editing the database.
    async fn keep_an_administrator(&self, name: &str, roles: Roles) -> Result<(), NodeError> {
        if roles.contains(Role::Administrator) {
            return Ok(());
        }
        let other = self.store.users().await?.into_iter().any(|u| {
            u.name != name && u.enabled && stored_roles(&u.roles).contains(Role::Administrator)
        });
        if other {
            return Ok(());
        }
        let was = self.stored_user(name).await?;
        if was.enabled && stored_roles(&was.roles).contains(Role::Administrator) {
            return Err(NodeError::InvalidUser(format!(
                "{name:?} is the node's last enabled administrator: give another user the \
                 administrator role first (custos user roles --data DIR OTHER --add administrator)"
            )));
        }
        Ok(())
    }

    async fn hashing_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, NodeError> {
        self.hashing
            .acquire()
            .await
            .map_err(|_| NodeError::Internal("the node is shutting down".into()))
    }
}

fn taken(name: &str) -> NodeError {
    NodeError::InvalidUser(format!("a user named {name:?} already exists"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_plain() {
        for good in ["ana", "ana.garcia", "o-brien_2", "7x"] {
            assert!(check_user_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Ana",
            "-ana",
            ".ana",
            "ana garcia",
            "ana@x",
            "ané",
            long.as_str(),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
        assert!(check_email("ana@justice.example").is_ok());
        for bad in [
            "ana",
            "ana@",
            "@x.example",
            "a b@x.example",
            "a@b@c.example",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert_eq!(
            stored_roles("auditor,judge,duty-officer").names(),
            "duty-officer,auditor"
        );
    }
}
