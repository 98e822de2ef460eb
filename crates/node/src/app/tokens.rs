//! Client-API tokens: minting, listing, revoking, and recognising a bearer.
//!
//! A token belongs to a user and carries scopes: roles no wider than the
//! user's (refused otherwise). It expires (after
//! [`PeopleSettings::token_default_lifetime`] unless asked otherwise, never
//! later than [`PeopleSettings::token_max_lifetime`]) and can be revoked.
//! Its secret is shown once, when it is created; the node keeps only its
//! SHA-256. A bearer acts as [`Actor::Api`] with the token's scopes within
//! the roles its user holds at that moment, so a disabled user or a removed
//! role takes effect at once. Creating and revoking a token are recorded in
//! the ledger with the change.

use custos_store::TokenRecord;
use serde_json::json;

use super::secrets;
use super::users::{PeopleSettings, stored_roles};
use super::{Actor, Operation, Roles, TokenView};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The bearer token's prefix, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "custos_";

/// The hash under which a token's secret is stored.
pub fn token_hash(token: &str) -> String {
    secrets::secret_hash(token)
}

/// A token just created: its secret is never shown again.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewToken {
    /// The token as listed.
    pub token: TokenView,
    /// The bearer secret (`custos_...`).
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A token to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// The user it belongs to.
    pub user: String,
    /// What it is for (shown in records as `api:{user}/{name}`); `token`
    /// when not given.
    pub name: Option<String>,
    /// The roles it may use; all the user's roles when not given.
    pub scopes: Option<Roles>,
    /// How long it lasts; the default lifetime when not given.
    pub lifetime: Option<time::Duration>,
}

fn view(t: TokenRecord) -> TokenView {
    TokenView {
        scopes: stored_roles(&t.scopes),
        id: t.id,
        user: t.user,
        name: t.name,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

fn check_token_name(name: &str) -> Result<(), NodeError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(NodeError::InvalidUser(
            "a token's name is 1 to 100 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// Checks a lifetime asked for against the settings.
fn lifetime(
    settings: &PeopleSettings,
    asked: Option<time::Duration>,
) -> Result<time::Duration, NodeError> {
    let life = asked.unwrap_or(settings.token_default_lifetime);
    if life <= time::Duration::ZERO || life > settings.token_max_lifetime {
        return Err(NodeError::InvalidUser(format!(
            "a token lasts more than nothing and at most {} days on this node",
            settings.token_max_lifetime.whole_days()
        )));
    }
    Ok(life)
}

impl Node {
    /// The operation a token of `owner` asks of `actor`: managing one's own
    /// tokens, or anyone's.
    fn token_operation(actor: &Actor, owner: &str) -> Operation {
        if actor.person() == Some(owner) && !matches!(actor, Actor::Cli { .. }) {
            Operation::ManageOwnTokens
        } else {
            Operation::ManageAllTokens
        }
    }

    /// Creates a client-API token for a user. Scopes wider than the user's
    /// roles, a lifetime over the node's maximum, or a user unknown or
    /// disabled are refused with [`NodeError::InvalidUser`].
    pub async fn create_token(
        &self,
        actor: &Actor,
        req: TokenRequest,
    ) -> Result<NewToken, NodeError> {
        self.authorize(actor, Self::token_operation(actor, &req.user), None)
            .await?;
        let name = req.name.clone().unwrap_or_else(|| "token".to_owned());
        check_token_name(&name)?;
        let life = lifetime(&self.settings.people, req.lifetime)?;
        let user = self
            .store
            .user(&req.user)
            .await?
            .filter(|u| u.enabled)
            .ok_or_else(|| {
                NodeError::InvalidUser(format!(
                    "no enabled user is named {:?} (custos user list)",
                    req.user
                ))
            })?;
        let held = stored_roles(&user.roles);
        let scopes = req.scopes.unwrap_or(held);
        if !scopes.is_subset(held) {
            return Err(NodeError::InvalidUser(format!(
                "a token's scopes are within its user's roles: {:?} holds {}, not {}",
                user.name,
                if held.is_empty() {
                    "no role".to_owned()
                } else {
                    held.names()
                },
                scopes
                    .intersection(Roles::all())
                    .iter()
                    .filter(|r| !held.contains(*r))
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let secret = secrets::bearer_secret(&format!("{TOKEN_PREFIX}{}", &id[..8]))?;
        let now = self.clock.now();
        let record = TokenRecord {
            id: id.clone(),
            user: user.name.clone(),
            name,
            scopes: scopes.names(),
            secret_hash: token_hash(&secret),
            created_at: now,
            expires_at: now + life,
            revoked_at: None,
        };
        let entry = Entry::new(EntryKind::TokenCreated, now, actor.label())
            .detail(json!({
                "user": record.user,
                "token": id,
                "name": record.name,
                "scopes": scopes,
                "expires_at": record.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            }))
            .encode()?;
        self.store.put_token(&record, &[entry], now).await?;
        Ok(NewToken {
            token: view(record),
            secret,
        })
    }

    /// Tokens: names, scopes and dates, never secrets. `user` `None` lists
    /// the actor's own (every token for the CLI's operator); another user's
    /// name, or `*` for everyone's, needs the right to manage all tokens.
    pub async fn tokens(
        &self,
        actor: &Actor,
        user: Option<&str>,
    ) -> Result<Vec<TokenView>, NodeError> {
        let asked = match (user, actor) {
            (Some("*"), _) | (None, Actor::Cli { .. }) => None,
            (Some(u), _) => Some(u),
            (None, _) => actor.person(),
        };
        let op = match asked {
            Some(owner) => Self::token_operation(actor, owner),
            None => Operation::ManageAllTokens,
        };
        self.authorize(actor, op, None).await?;
        Ok(self
            .store
            .tokens(asked)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Revokes a token by id: one's own, or anyone's for whoever may manage
    /// all tokens. Revoking again keeps the first revocation.
    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> Result<TokenView, NodeError> {
        let found = self
            .store
            .tokens(None)
            .await?
            .into_iter()
            .find(|t| t.id == id);
        let Some(token) = found else {
            self.authorize(actor, Operation::ManageAllTokens, None)
                .await?;
            return Err(NodeError::NotFound(format!(
                "no token has id {id:?} (custos token list)"
            )));
        };
        self.authorize(actor, Self::token_operation(actor, &token.user), None)
            .await?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::TokenRevoked, now, actor.label())
            .detail(json!({ "user": token.user, "token": token.id }))
            .encode()?;
        let revoked = self
            .store
            .revoke_token(id, &[entry], now)
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no token has id {id:?}")))?;
        Ok(view(revoked))
    }

    /// The actor a bearer secret stands for: a token's ([`Actor::Api`],
    /// with its scopes within its user's roles now) or a session's
    /// ([`Actor::Desk`]). `None` when it is no token or session of this
    /// node, or an expired or revoked one, or its user is disabled.
    pub async fn authenticate(&self, bearer: &str) -> Result<Option<Actor>, NodeError> {
        if bearer.starts_with(super::signin::SESSION_PREFIX) {
            return self.session_actor(bearer).await;
        }
        if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 200 {
            return Ok(None);
        }
        let hash = token_hash(bearer);
        let Some(t) = self.store.token_by_hash(&hash).await? else {
            return Ok(None);
        };
        if !secrets::same_hash(&t.secret_hash, &hash)
            || t.revoked_at.is_some()
            || self.clock.now() >= t.expires_at
        {
            return Ok(None);
        }
        let Some(user) = self.store.user(&t.user).await? else {
            return Ok(None);
        };
        if !user.enabled {
            return Ok(None);
        }
        Ok(Some(Actor::Api {
            roles: stored_roles(&t.scopes).intersection(stored_roles(&user.roles)),
            user: t.user,
            token: t.name,
        }))
    }
}
