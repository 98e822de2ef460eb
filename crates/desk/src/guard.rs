//! What every desk answer and every desk form goes through: the security
//! headers (a Content-Security-Policy that allows nothing from another
//! origin and no inline script or style), and the CSRF check of every
//! request that changes something.
//!
//! The CSRF token is derived from the session secret (which only the
//! person's browser holds, in an HttpOnly cookie), so it needs no storage:
//! a form carries it as the field `_csrf`, a script's request as the header
//! `X-CSRF-Token`. A state-changing request from another origin is refused
//! before its token is even read.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::session;

/// The desk's Content-Security-Policy: its own scripts, styles, images and
/// connections only; no inline code; no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// The header carrying the CSRF token on a script's request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Adds the security headers to every desk answer; pages are never cached.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: under it browsers send `Origin: null` on the
        // desk's own forms. Nothing is sent to another site either way.
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Refuses a state-changing request that comes from another origin, or
/// (except signing in, which has no session yet) that lacks the session's
/// CSRF token.
pub async fn csrf(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if !same_origin(request.headers()) {
        return refused("the form was posted from another site");
    }
    // Signing in has no session yet; the language menu of someone not
    // signed in only sets a cookie (signed in, it stores the choice for the
    // person, and carries the token like any form).
    let path = request.uri().path();
    if path == crate::signin::SIGN_IN
        || (path == crate::signin::LANGUAGE && session::secret(request.headers()).is_none())
    {
        return next.run(request).await;
    }
    let Some(expected) = session::secret(request.headers()).map(session::csrf_token) else {
        return refused("you are not signed in; sign in again");
    };
    if let Some(sent) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return if session::same_token(sent, &expected) {
            next.run(request).await
        } else {
            refused("the page is out of date; reload it and try again")
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return refused("the request carries no CSRF token");
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response();
    };
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    match sent {
        Some(sent) if session::same_token(&sent, &expected) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => refused("the page is out of date; reload it and try again"),
    }
}

/// Whether the request's `Origin` (or, without one, `Sec-Fetch-Site`) says
/// it comes from the desk's own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null");
    if let Some(origin) = origin {
        let Some(host) = host else { return false };
        let bare = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return bare == Some(host);
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

fn refused(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, why).into_response()
}
