//! Administration of the people who use the node: the list of users, adding
//! one (its password and second-factor secret shown once, never again),
//! enabling and disabling, changing roles, resetting the second factor.
//! Every change is the node's ([`Node::add_user`] and the others), which
//! checks the names, keeps an administrator and records the change.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_node::app::{NewUser, Operation, Role, RoleChange, Roles, SecondFactor, UserView};
use custos_node::{Node, NodeError};
use maud::{Markup, html};

use crate::error::DeskError;
use crate::guard::CSRF_FIELD;
use crate::i18n::{Lang, t};
use crate::layout;
use crate::session::Desk;

pub const USERS: &str = "/desk/users";
/// Enabling or disabling user `{name}`.
pub const ENABLED: &str = "/desk/users/{name}/enabled";
/// Setting the roles of user `{name}`.
pub const ROLES: &str = "/desk/users/{name}/roles";
/// A new second factor for user `{name}`.
pub const SECOND_FACTOR: &str = "/desk/users/{name}/second-factor";

/// The users page.
pub async fn page(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let users = node.users(&desk.actor).await?;
    Ok(users_page(&desk, &users, None, &[]))
}

fn users_page(
    desk: &Desk,
    users: &[UserView],
    problem: Option<&str>,
    form: &[(String, String)],
) -> Markup {
    let lang = desk.lang;
    let title = t(lang, "users-title");
    let manage = desk.may(Operation::ManageUsers);
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    layout::page(
        desk,
        USERS,
        &title,
        html! {
            h1 { (title) }
            table.data #users {
                thead { tr {
                    th scope="col" { (t(lang, "user-name")) }
                    th scope="col" { (t(lang, "user-display-name")) }
                    th scope="col" { (t(lang, "user-roles")) }
                    th scope="col" { (t(lang, "user-status")) }
                    th scope="col" { (t(lang, "user-recovery-left")) }
                    @if manage { th scope="col" { (t(lang, "user-actions")) } }
                } }
                tbody {
                    @for u in users {
                        tr #(format!("user-{}", u.name)) {
                            th scope="row" { (u.name) }
                            td { (u.display_name) }
                            td { (role_names(lang, u.roles)) }
                            td {
                                @if u.enabled { (t(lang, "user-enabled")) } @else { strong { (t(lang, "user-disabled")) } }
                                @if let Some(until) = u.locked_until {
                                    br; small { (t(lang, "user-locked")) " " time datetime=(layout::rfc3339(until)) { (layout::rfc3339(until)) } }
                                }
                            }
                            td.number { (u.recovery_codes_left) }
                            @if manage { td { (actions(desk, u)) } }
                        }
                    }
                }
            }
            @if manage {
                section aria-labelledby="add-h" {
                    h2 #add-h { (t(lang, "user-add")) }
                    @if let Some(problem) = problem {
                        p.problem #user-problem role="alert" { (problem) }
                    }
                    form.stack method="post" action=(USERS) {
                        input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                        label for="new-name" { (t(lang, "user-name")) }
                        input #new-name name="name" type="text" required autocomplete="off"
                            autocapitalize="none" spellcheck="false" value=(field("name"))
                            aria-describedby=[problem.map(|_| "user-problem")];
                        label for="new-display" { (t(lang, "user-display-name")) }
                        input #new-display name="display_name" type="text" value=(field("display_name"));
                        label for="new-email" { (t(lang, "user-email")) }
                        input #new-email name="email" type="email" value=(field("email"));
                        (role_boxes(lang, "new", |r| form.iter().any(|(k, v)| k == "role" && v == r.name())))
                        button type="submit" { (t(lang, "user-add-submit")) }
                    }
                }
            }
        },
    )
}

/// The roles as a person reads them.
fn role_names(lang: Lang, roles: Roles) -> String {
    roles
        .iter()
        .map(|r| t(lang, &format!("role-{}", r.name())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A group of check boxes, one per role; `held` says which are checked.
fn role_boxes(lang: Lang, prefix: &str, held: impl Fn(Role) -> bool) -> Markup {
    html! {
        fieldset.roles {
            legend { (t(lang, "user-roles")) }
            @for r in Role::ALL {
                @let id = format!("{prefix}-role-{}", r.name());
                span.choice {
                    input #(id) type="checkbox" name="role" value=(r.name()) checked[held(r)];
                    label for=(id) { (t(lang, &format!("role-{}", r.name()))) }
                }
            }
        }
    }
}

fn actions(desk: &Desk, u: &UserView) -> Markup {
    let lang = desk.lang;
    html! {
        form.inline method="post" action=(ENABLED.replace("{name}", &u.name)) {
            input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
            input type="hidden" name="enabled" value=(if u.enabled { "false" } else { "true" });
            button type="submit" { (t(lang, if u.enabled { "user-disable" } else { "user-enable" })) }
        }
        form.inline method="post" action=(SECOND_FACTOR.replace("{name}", &u.name)) {
            input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
            button type="submit" { (t(lang, "user-reset-factor")) }
        }
        details.roles {
            summary { (t(lang, "user-change-roles")) }
            form.stack method="post" action=(ROLES.replace("{name}", &u.name)) {
                input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                (role_boxes(lang, &u.name, |r| u.roles.contains(r)))
                button type="submit" { (t(lang, "user-roles-submit")) }
            }
        }
    }
}

/// The roles checked in a form.
fn checked_roles(form: &[(String, String)]) -> Result<Roles, NodeError> {
    let names: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.as_str())
        .collect();
    Roles::parse_names(&names.join(",")).map_err(|e| NodeError::InvalidDraft(e.to_string()))
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Adds a user; the answer shows their secrets once.
pub async fn add(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, DeskError> {
    let added = match checked_roles(&form) {
        Ok(roles) => {
            node.add_user(
                &desk.actor,
                NewUser {
                    name: field(&form, "name").unwrap_or_default(),
                    display_name: field(&form, "display_name"),
                    email: field(&form, "email"),
                    roles,
                    password: None,
                },
            )
            .await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(secrets) => {
            let lang = desk.lang;
            let title = t(lang, "user-added-title");
            Ok(layout::page(
                &desk,
                USERS,
                &title,
                html! {
                    h1 { (title) }
                    p.warning role="status" { (t(lang, "user-secrets-once")) }
                    dl.facts #secrets {
                        dt { (t(lang, "user-name")) } dd #secret-user { code { (secrets.user.name) } }
                        @if let Some(p) = &secrets.password {
                            dt { (t(lang, "user-password")) } dd #secret-password { code { (p) } }
                        }
                    }
                    (second_factor(lang, &secrets.second_factor))
                    p { a href=(USERS) { (t(lang, "user-back")) } }
                },
            )
            .into_response())
        }
        Err(e) if refusable(&e) => {
            let users = node.users(&desk.actor).await?;
            let problem = e.to_string();
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                users_page(&desk, &users, Some(&problem), &form),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether an error is a problem with what was typed (shown beside the
/// form) rather than a failure of the request.
fn refusable(e: &NodeError) -> bool {
    matches!(e.public_code().http_status(), 400 | 409 | 422)
}

fn second_factor(lang: Lang, f: &SecondFactor) -> Markup {
    html! {
        dl.facts #second-factor {
            dt { (t(lang, "user-totp-secret")) } dd #secret-totp { code { (f.totp_secret) } }
            dt { (t(lang, "user-totp-uri")) } dd #secret-uri { code.wrap { (f.totp_uri) } }
            dt { (t(lang, "user-recovery-codes")) }
            dd { ul.codes { @for c in &f.recovery_codes { li { code { (c) } } } } }
        }
    }
}

/// Enables or disables a user.
pub async fn set_enabled(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(name): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, DeskError> {
    let enabled = field(&form, "enabled").as_deref() == Some("true");
    node.set_user_enabled(&desk.actor, &name, enabled).await?;
    Ok(back())
}

/// Sets a user's roles to those checked.
pub async fn set_roles(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(name): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, DeskError> {
    let roles = checked_roles(&form)?;
    node.change_roles(&desk.actor, &name, RoleChange::Set(roles))
        .await?;
    Ok(back())
}

/// Gives a user a new second factor, shown once.
pub async fn reset_second_factor(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(name): Path<String>,
) -> Result<Markup, DeskError> {
    let f = node.reset_second_factor(&desk.actor, &name).await?;
    let lang = desk.lang;
    let title = t(lang, "user-factor-title");
    Ok(layout::page(
        &desk,
        USERS,
        &title,
        html! {
            h1 { (title) " — " (name) }
            p.warning role="status" { (t(lang, "user-secrets-once")) }
            (second_factor(lang, &f))
            p { a href=(USERS) { (t(lang, "user-back")) } }
        },
    ))
}

fn back() -> Response {
    Redirect::to(USERS).into_response()
}
