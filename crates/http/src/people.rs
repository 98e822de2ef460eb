//! The client API for people: signing in and out, users, and client-API
//! tokens. Each handler authenticates (except sign-in), calls one
//! operation of the node and answers with its view.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use custos_node::Node;
use custos_node::app::{
    NewToken, NewUser, Role, RoleChange, Roles, SecondFactor, Session, SessionView, TokenRequest,
    TokenView, UserSecrets, UserView,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::{authenticate, bearer};
use crate::error::ApiError;

/// A sign-in.
#[derive(Deserialize, ToSchema)]
pub struct SignInBody {
    pub user: String,
    pub password: String,
    /// The six-digit TOTP code, or one unused recovery code.
    pub code: String,
}

impl std::fmt::Debug for SignInBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInBody")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Signs in; answers a session whose secret is then the bearer.
#[utoipa::path(post, path = "/api/v1/sign-in", tag = "people", request_body = SignInBody,
    responses((status = 200, body = Session),
        (status = 401, description = "unauthorized: the same answer for a wrong user, password or code; a locked account says until when")))]
pub async fn sign_in(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<SignInBody>,
) -> Result<Json<Session>, ApiError> {
    let from = peer.ip().to_string();
    Ok(Json(
        node.sign_in(&body.user, &body.password, &body.code, &from)
            .await?,
    ))
}

/// Ends the session whose bearer is sent.
#[utoipa::path(post, path = "/api/v1/sign-out", tag = "people", security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, description = "unauthorized")))]
pub async fn sign_out(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let secret = bearer(&headers)?;
    if node.sign_out(secret).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Lists the users.
#[utoipa::path(get, path = "/api/v1/users", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn list_users(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.users(&who).await?))
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserBody {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// Adds a user; the answer carries their generated password, TOTP secret
/// and recovery codes, shown only now.
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = NewUserBody, security(("bearer" = [])),
    responses((status = 201, body = UserSecrets), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 422, description = "invalid-user")))]
pub async fn add_user(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<NewUserBody>,
) -> Result<(StatusCode, Json<UserSecrets>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let new = NewUser {
        name: body.name,
        display_name: body.display_name,
        email: body.email,
        roles: body.roles.into_iter().collect(),
        password: None,
    };
    Ok((StatusCode::CREATED, Json(node.add_user(&who, new).await?)))
}

/// Disables a user: their sessions and tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/users/{name}/disable", tag = "people", security(("bearer" = [])),
    params(("name" = String, Path, description = "The user name")),
    responses((status = 200, body = UserView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn disable_user(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.set_user_enabled(&who, &name, false).await?))
}

/// Enables a user again.
#[utoipa::path(post, path = "/api/v1/users/{name}/enable", tag = "people", security(("bearer" = [])),
    params(("name" = String, Path, description = "The user name")),
    responses((status = 200, body = UserView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn enable_user(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.set_user_enabled(&who, &name, true).await?))
}

/// A change of roles: exactly one of the three.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RolesBody {
    pub set: Option<Vec<Role>>,
    pub add: Option<Vec<Role>>,
    pub remove: Option<Vec<Role>>,
}

/// Changes a user's roles (in force at once).
#[utoipa::path(post, path = "/api/v1/users/{name}/roles", tag = "people", request_body = RolesBody, security(("bearer" = [])),
    params(("name" = String, Path, description = "The user name")),
    responses((status = 200, body = UserView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 404, description = "not-found"), (status = 422, description = "invalid-user: not exactly one of set, add, remove")))]
pub async fn change_roles(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<RolesBody>,
) -> Result<Json<UserView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    let set = |r: Vec<Role>| r.into_iter().collect::<Roles>();
    let change = match (body.set, body.add, body.remove) {
        (Some(r), None, None) => RoleChange::Set(set(r)),
        (None, Some(r), None) => RoleChange::Add(set(r)),
        (None, None, Some(r)) => RoleChange::Remove(set(r)),
        _ => {
            return Err(custos_node::NodeError::InvalidUser(
                "give exactly one of set, add or remove".into(),
            )
            .into());
        }
    };
    Ok(Json(node.change_roles(&who, &name, change).await?))
}

/// Gives a user a new TOTP secret and recovery codes, shown only now.
#[utoipa::path(post, path = "/api/v1/users/{name}/reset-second-factor", tag = "people", security(("bearer" = [])),
    params(("name" = String, Path, description = "The user name")),
    responses((status = 200, body = SecondFactor), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn reset_second_factor(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<SecondFactor>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.reset_second_factor(&who, &name).await?))
}

/// Whose tokens to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TokenQuery {
    /// A user name, or `*` for everyone's; the caller's own when absent.
    pub user: Option<String>,
}

/// Lists tokens: names, scopes and dates, never secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "people", params(TokenQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn list_tokens(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.tokens(&who, q.user.as_deref()).await?))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTokenBody {
    /// The owner; the caller when absent.
    pub user: Option<String>,
    pub name: Option<String>,
    /// Within the owner's roles; all of them when absent.
    pub scopes: Option<Vec<Role>>,
    /// Its lifetime in days (the node's default when absent).
    pub expires_in_days: Option<u32>,
}

/// Creates a token; its secret is in the answer, shown only now.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "people", request_body = NewTokenBody, security(("bearer" = [])),
    responses((status = 201, body = NewToken), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"),
        (status = 422, description = "invalid-user: scopes wider than the owner's roles, or a lifetime too long")))]
pub async fn create_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(body): Json<NewTokenBody>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let who = authenticate(&node, &headers).await?;
    let user = match body.user {
        Some(u) => u,
        None => who.person().map(str::to_owned).unwrap_or_default(),
    };
    let req = TokenRequest {
        user,
        name: body.name,
        scopes: body.scopes.map(|s| s.into_iter().collect()),
        lifetime: body
            .expires_in_days
            .map(|d| time::Duration::days(i64::from(d))),
    };
    Ok((
        StatusCode::CREATED,
        Json(node.create_token(&who, req).await?),
    ))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 200, body = TokenView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn revoke_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.revoke_token(&who, &id).await?))
}

/// Whose sessions to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionQuery {
    /// A user name, or `*` for everyone's; the caller's own when absent.
    pub user: Option<String>,
}

/// Lists sessions opened by signing in: who, from where, since and until
/// when; never their secrets. Another user's, or everyone's, needs the
/// right to manage users.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "people", params(SessionQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden")))]
pub async fn list_sessions(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Query(q): Query<SessionQuery>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.sessions(&who, q.user.as_deref()).await?))
}

/// Ends a session before its time: one's own, or anyone's for whoever may
/// manage users.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, body = SessionView), (status = 401, description = "unauthorized"), (status = 403, description = "forbidden"), (status = 404, description = "not-found")))]
pub async fn revoke_session(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let who = authenticate(&node, &headers).await?;
    Ok(Json(node.revoke_session(&who, &id).await?))
}
