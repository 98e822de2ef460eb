//! Signing in to the desk with password and second factor, signing out,
//! and choosing the language. Signing in is the node's
//! ([`Node::sign_in`]): its back-off, lock-out and record are the same as
//! through the client API; the desk only keeps the session secret in a
//! cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use custos_node::{Node, NodeError};
use fluent_templates::fluent_bundle::FluentValue;
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::DeskError;
use crate::i18n::{Lang, t, t_args};
use crate::layout::bare_page;
use crate::session::{self, LANG_COOKIE};

pub const SIGN_IN: &str = "/desk/sign-in";
pub const SIGN_OUT: &str = "/desk/sign-out";
pub const LANGUAGE: &str = "/desk/language";

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignInForm {
    user: String,
    password: String,
    code: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInForm")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The sign-in page.
pub async fn form(headers: HeaderMap) -> Markup {
    let lang = session::language(&headers);
    sign_in_page(lang, "", None)
}

fn sign_in_page(lang: Lang, user: &str, problem: Option<String>) -> Markup {
    let title = t(lang, "sign-in-title");
    bare_page(
        lang,
        &title,
        html! {
            h1 { (title) }
            @if let Some(problem) = problem {
                p.problem #sign-in-problem role="alert" { (problem) }
            }
            form.stack method="post" action=(SIGN_IN) {
                label for="user" { (t(lang, "sign-in-user")) }
                input #user name="user" type="text" autocomplete="username" required
                    autocapitalize="none" spellcheck="false" value=(user) autofocus;
                label for="password" { (t(lang, "sign-in-password")) }
                input #password name="password" type="password" autocomplete="current-password" required;
                label for="code" { (t(lang, "sign-in-code")) }
                input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                    required aria-describedby="code-help";
                small #code-help { (t(lang, "sign-in-code-help")) }
                button type="submit" { (t(lang, "sign-in-submit")) }
            }
            (language_menu(lang, SIGN_IN, None))
        },
    )
}

/// Signs in; on success the session cookie is set and the inbox shown.
pub async fn submit(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<SignInForm>,
) -> Result<Response, DeskError> {
    let lang = session::language(&headers);
    let from = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    match node
        .sign_in(form.user.trim(), &form.password, form.code.trim(), &from)
        .await
    {
        Ok(session) => {
            let mut r = Redirect::to(crate::PREFIX).into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().insert(
                header::SET_COOKIE,
                session::session_cookie(&session.session),
            );
            Ok(r)
        }
        Err(NodeError::SignInRefused) => Ok(refused(lang, &form.user, t(lang, "sign-in-refused"))),
        Err(NodeError::AccountLocked { until }) => Ok(refused(
            lang,
            &form.user,
            t_args(
                lang,
                "sign-in-locked",
                &[("until", FluentValue::from(until))],
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

fn refused(lang: Lang, user: &str, problem: String) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        sign_in_page(lang, user, Some(problem)),
    )
        .into_response()
}

/// Ends the session and forgets its cookie.
pub async fn sign_out(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    if let Some(secret) = session::secret(&headers) {
        node.sign_out(secret).await?;
    }
    let mut r = Redirect::to(SIGN_IN).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(header::SET_COOKIE, session::cleared_cookie());
    Ok(r)
}

/// The language menu's fields: the language, and the desk page to return to.
#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    back: String,
}

/// Remembers the chosen language in a cookie and, for a signed-in person,
/// stores it for them in the node ([`Node::set_language`]); then returns to
/// the page.
pub async fn choose_language(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Result<Response, DeskError> {
    let lang = Lang::parse(&form.lang).unwrap_or(Lang::En);
    if let Some(secret) = session::secret(&headers)
        && let Some(s) = node.desk_session(secret).await?
    {
        node.set_language(&s.actor, lang.tag()).await?;
    }
    // Only a desk page is a place to return to.
    let back = if form.back.starts_with("/desk") && !form.back.contains("//") {
        form.back
    } else {
        crate::PREFIX.to_owned()
    };
    let mut r = Redirect::to(&back).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/desk; SameSite=Strict; Max-Age=31536000",
        lang.tag()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// The form that switches the language, returning to `back`; a signed-in
/// person's form carries their session's CSRF token.
pub fn language_menu(lang: Lang, back: &str, csrf: Option<&str>) -> Markup {
    html! {
        form.language method="post" action=(LANGUAGE) {
            input type="hidden" name="back" value=(back);
            @if let Some(csrf) = csrf {
                input type="hidden" name=(crate::guard::CSRF_FIELD) value=(csrf);
            }
            label for="lang" { (t(lang, "language")) }
            select #lang name="lang" {
                @for l in Lang::ALL {
                    option value=(l.tag()) lang=(l.tag()) selected[l == lang] { (l.native_name()) }
                }
            }
            button type="submit" { (t(lang, "language-choose")) }
        }
    }
}
