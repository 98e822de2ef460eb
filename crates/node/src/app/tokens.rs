//! Client-API tokens: minting, listing, and recognising a bearer.
//!
//! A token's secret is shown once, when it is created; the node keeps only
//! its SHA-256. A bearer is recognised by that hash and acts as
//! [`Actor::Api`] named after the token.

use sha2::{Digest, Sha256};

use super::{Actor, TokenView};
use crate::{Node, NodeError};

/// The bearer token's prefix, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "custos_";

/// The hash under which a token's secret is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token just created: its secret is never shown again.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub name: String,
    /// The bearer secret (`custos_...`).
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Creates a client-API token named `name` (who or what it is for).
    pub async fn create_token(&self, name: &str) -> Result<NewToken, NodeError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let secret = format!(
            "{TOKEN_PREFIX}{}{}",
            &id[..8],
            uuid::Uuid::new_v4().simple()
        );
        let record = custos_store::TokenRecord {
            id: id.clone(),
            name: name.to_owned(),
            secret_hash: token_hash(&secret),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store.put_token(&record).await?;
        Ok(NewToken {
            id,
            name: name.to_owned(),
            secret,
        })
    }

    /// The node's tokens: names and dates, never secrets.
    pub async fn tokens(&self) -> Result<Vec<TokenView>, NodeError> {
        Ok(self
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// The actor a bearer secret stands for: `None` when it is not a token
    /// of this node, or a revoked one.
    pub async fn authenticate(&self, bearer: &str) -> Result<Option<Actor>, NodeError> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        Ok(match self.store.token_by_hash(&token_hash(bearer)).await? {
            Some(t) if t.revoked_at.is_none() => Some(Actor::Api {
                user: t.name.clone(),
                token: t.name,
                roles: super::Roles::all(),
            }),
            _ => None,
        })
    }
}
