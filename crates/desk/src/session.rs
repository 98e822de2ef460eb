//! Who is at the desk: the session cookie set at sign-in, the person and
//! roles the node finds for it, their language and their CSRF token.
//!
//! The cookie holds the session secret the node's sign-in returned
//! (`HttpOnly`, `Secure`, `SameSite=Strict`, the whole desk as its path); the
//! node checks it on every request ([`Node::authenticate`]), so a revoked or
//! expired session, or a disabled person, is signed out at once.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use custos_node::Node;
use custos_node::app::access::decide;
use custos_node::app::{Actor, Grant, Operation, Roles};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::i18n::Lang;

/// The session cookie's name.
pub const COOKIE: &str = "custos_session";
/// The cookie remembering the language chosen before signing in.
pub const LANG_COOKIE: &str = "custos_lang";

/// The signed-in person at the desk.
#[derive(Debug)]
pub struct Desk {
    /// Who acts, as the node names them in every record.
    pub actor: Actor,
    pub user: String,
    pub roles: Roles,
    pub lang: Lang,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Desk {
    /// Whether the node's access matrix lets this person do `op` at all
    /// (perhaps only for cases granted to them): what a page offers.
    pub fn may(&self, op: Operation) -> bool {
        decide(&self.actor, op) != Grant::Refused
    }
}

impl FromRequestParts<Arc<Node>> for Desk {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, node: &Arc<Node>) -> Result<Self, Response> {
        let Some(secret) = secret(&parts.headers) else {
            return Err(to_sign_in(&parts.headers));
        };
        let (actor, chosen) = match node.desk_session(secret).await {
            Ok(Some(s)) => (s.actor, s.language),
            Ok(None) => return Err(to_sign_in(&parts.headers)),
            Err(e) => return Err(crate::error::DeskError::from(e).into_response()),
        };
        let Actor::Desk { user, roles } = &actor else {
            // A client-API token in the cookie is not a desk session.
            return Err(to_sign_in(&parts.headers));
        };
        Ok(Desk {
            user: user.clone(),
            roles: *roles,
            // The language the person chose, stored by the node, wins.
            lang: chosen
                .as_deref()
                .and_then(Lang::parse)
                .unwrap_or_else(|| language(&parts.headers)),
            csrf: csrf_token(secret),
            actor,
        })
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session secret the browser sent.
pub fn secret(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE).filter(|s| !s.is_empty() && s.len() <= 200)
}

/// The language of a request: the one chosen on the desk, else the
/// browser's first the desk has, else English.
pub fn language(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::En)
}

/// The CSRF token of the session whose secret is `secret`.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"custos desk csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The `Set-Cookie` value holding session `secret`.
pub fn session_cookie(secret: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/desk; HttpOnly; Secure; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("custos_session=; Path=/desk"))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "custos_session=; Path=/desk; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
    )
}

/// Sends someone who is not signed in to the sign-in page (for a page
/// loaded by htmx, by telling htmx to load it).
fn to_sign_in(headers: &HeaderMap) -> Response {
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            "hx-redirect",
            HeaderValue::from_static(crate::signin::SIGN_IN),
        );
        return r;
    }
    Redirect::to(crate::signin::SIGN_IN).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_the_sessions_own_and_compared_whole() {
        let a = csrf_token("sess_one");
        assert_eq!(a.len(), 32);
        assert_eq!(a, csrf_token("sess_one"));
        assert_ne!(a, csrf_token("sess_two"));
        assert!(same_token(&a, &csrf_token("sess_one")));
        assert!(!same_token(&a, &a[..31]));
    }

    #[test]
    fn cookies_are_read_by_name_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; custos_session=sess_x; custos_lang=ar"),
        );
        assert_eq!(secret(&h), Some("sess_x"));
        assert_eq!(language(&h), Lang::Ar);
    }
}
