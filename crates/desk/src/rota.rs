//! The rota of who is on duty (list, add, remove shifts) and the alerts
//! raised for the people on it (list, acknowledge). The node parses the
//! times and zones, checks the people named and records every change.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_node::Node;
use custos_node::app::{AlertView, Operation, Role, ShiftInput, ShiftView};
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::DeskError;
use crate::guard::CSRF_FIELD;
use crate::i18n::{Lang, t};
use crate::layout;
use crate::session::Desk;

pub const ROTA: &str = "/desk/rota";
/// Removing shift `{id}`.
pub const REMOVE_SHIFT: &str = "/desk/rota/{id}/remove";
pub const ALERTS: &str = "/desk/alerts";
/// Acknowledging alert `{id}`.
pub const ACKNOWLEDGE: &str = "/desk/alerts/{id}/acknowledge";

/// How many alerts the page lists.
const ALERTS_PAGE: u32 = 200;

/// The shift form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ShiftForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    deputy: String,
    #[serde(default)]
    deputy_email: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
}

/// The rota page: the shifts now and to come.
pub async fn page(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let shifts = node.rota(&desk.actor, false).await?;
    Ok(rota_page(&desk, &shifts, None, &ShiftForm::default()))
}

fn rota_page(desk: &Desk, shifts: &[ShiftView], problem: Option<&str>, form: &ShiftForm) -> Markup {
    let lang = desk.lang;
    let title = t(lang, "rota-title");
    let manage = desk.may(Operation::ManageRota);
    layout::page(
        desk,
        ROTA,
        &title,
        html! {
            h1 { (title) }
            @if shifts.is_empty() {
                p.empty { (t(lang, "rota-empty")) }
            } @else {
                table.data #rota {
                    thead { tr {
                        th scope="col" { (t(lang, "rota-role")) }
                        th scope="col" { (t(lang, "rota-person")) }
                        th scope="col" { (t(lang, "rota-deputy")) }
                        th scope="col" { (t(lang, "rota-starts")) }
                        th scope="col" { (t(lang, "rota-ends")) }
                        @if manage { th scope="col" { (t(lang, "user-actions")) } }
                    } }
                    tbody {
                        @for s in shifts {
                            tr.on-duty[s.on_duty] {
                                td {
                                    (t(lang, &format!("role-{}", s.role)))
                                    @if s.on_duty { " " strong.badge { (t(lang, "rota-on-duty")) } }
                                }
                                td { (s.person) }
                                td { (s.deputy) }
                                td { time datetime=(layout::rfc3339(s.starts_at)) { (s.starts_local) } }
                                td { time datetime=(layout::rfc3339(s.ends_at)) { (s.ends_local) } }
                                @if manage {
                                    td {
                                        form.inline method="post" action=(REMOVE_SHIFT.replace("{id}", &s.id)) {
                                            input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                                            button type="submit" { (t(lang, "rota-remove")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if manage {
                section aria-labelledby="shift-h" {
                    h2 #shift-h { (t(lang, "rota-add")) }
                    @if let Some(problem) = problem {
                        p.problem #shift-problem role="alert" { (problem) }
                    }
                    form.stack method="post" action=(ROTA) {
                        input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                        label for="shift-role" { (t(lang, "rota-role")) }
                        select #shift-role name="role" {
                            @for r in Role::ALL {
                                option value=(r.name()) selected[form.role == r.name()] { (t(lang, &format!("role-{}", r.name()))) }
                            }
                        }
                        label for="shift-person" { (t(lang, "rota-person")) }
                        input #shift-person name="person" type="text" required value=(form.person);
                        label for="shift-email" { (t(lang, "rota-email")) }
                        input #shift-email name="email" type="email" value=(form.email)
                            aria-describedby="shift-email-help";
                        label for="shift-deputy" { (t(lang, "rota-deputy")) }
                        input #shift-deputy name="deputy" type="text" required value=(form.deputy);
                        label for="shift-deputy-email" { (t(lang, "rota-deputy-email")) }
                        input #shift-deputy-email name="deputy_email" type="email" value=(form.deputy_email)
                            aria-describedby="shift-email-help";
                        small #shift-email-help { (t(lang, "rota-email-help")) }
                        label for="shift-starts" { (t(lang, "rota-starts")) }
                        input #shift-starts name="starts" type="text" required value=(form.starts)
                            aria-describedby=(described("shift-time-help", problem));
                        label for="shift-ends" { (t(lang, "rota-ends")) }
                        input #shift-ends name="ends" type="text" required value=(form.ends)
                            aria-describedby=(described("shift-time-help", problem));
                        small #shift-time-help { (t(lang, "rota-time-help")) }
                        button type="submit" { (t(lang, "rota-add-submit")) }
                    }
                }
            }
        },
    )
}

fn described(help: &str, problem: Option<&str>) -> String {
    match problem {
        Some(_) => format!("{help} shift-problem"),
        None => help.to_owned(),
    }
}

/// Adds a shift; a problem with it is shown beside the form.
pub async fn add(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Form(form): Form<ShiftForm>,
) -> Result<Response, DeskError> {
    let role: Result<Role, _> = form.role.parse();
    let added = match role {
        Ok(role) => {
            node.add_shift(
                &desk.actor,
                &ShiftInput {
                    role,
                    person: form.person.clone(),
                    email: optional(&form.email),
                    deputy: form.deputy.clone(),
                    deputy_email: optional(&form.deputy_email),
                    starts: form.starts.clone(),
                    ends: form.ends.clone(),
                },
            )
            .await
        }
        Err(e) => Err(custos_node::NodeError::InvalidDraft(e.to_string())),
    };
    match added {
        Ok(_) => Ok(Redirect::to(ROTA).into_response()),
        Err(e) if matches!(e.public_code().http_status(), 400 | 404 | 409 | 422) => {
            let shifts = node.rota(&desk.actor, false).await?;
            let problem = e.to_string();
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                rota_page(&desk, &shifts, Some(&problem), &form),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Removes a shift from the rota.
pub async fn remove(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
) -> Result<Response, DeskError> {
    node.remove_shift(&desk.actor, &id).await?;
    Ok(Redirect::to(ROTA).into_response())
}

/// The alerts page's query: `all=1` lists acknowledged alerts too.
#[derive(Debug, Default, Deserialize)]
pub struct AlertsQuery {
    #[serde(default)]
    all: Option<String>,
}

/// The alerts, newest first.
pub async fn alerts(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(q): Query<AlertsQuery>,
) -> Result<Markup, DeskError> {
    let all = q.all.as_deref() == Some("1");
    let alerts = node.alerts(&desk.actor, !all, ALERTS_PAGE).await?;
    let lang = desk.lang;
    let title = t(lang, "alerts-title");
    Ok(layout::page(
        &desk,
        ALERTS,
        &title,
        html! {
            h1 { (title) }
            p {
                @if all {
                    a href=(ALERTS) { (t(lang, "alerts-show-open")) }
                } @else {
                    a href=(format!("{ALERTS}?all=1")) { (t(lang, "alerts-show-all")) }
                }
            }
            (alerts_table(&desk, lang, &alerts))
        },
    ))
}

fn alerts_table(desk: &Desk, lang: Lang, alerts: &[AlertView]) -> Markup {
    let ack = desk.may(Operation::AcknowledgeAlert);
    html! {
        @if alerts.is_empty() {
            p.empty { (t(lang, "alerts-empty")) }
        } @else {
            table.data #alert-list {
                thead { tr {
                    th scope="col" { (t(lang, "alerts-raised")) }
                    th scope="col" { (t(lang, "alerts-kind")) }
                    th scope="col" { (t(lang, "case-urgency")) }
                    th scope="col" { (t(lang, "alerts-case")) }
                    th scope="col" { (t(lang, "case-counterpart")) }
                    th scope="col" { (t(lang, "alerts-level")) }
                    th scope="col" { (t(lang, "alerts-acknowledged")) }
                } }
                tbody {
                    @for a in alerts {
                        tr.(a.urgency) {
                            td { time datetime=(layout::rfc3339(a.raised_at)) { (layout::rfc3339(a.raised_at)) } }
                            td { (t(lang, &format!("alert-kind-{}", a.kind))) }
                            td { (t(lang, &format!("urgency-{}", a.urgency))) }
                            td { a href=(format!("/desk/cases/{}", a.case_id)) { (a.case_id) } }
                            td { (a.counterpart) }
                            td.number { (a.level) }
                            td {
                                @if let (Some(at), Some(by)) = (a.acknowledged_at, &a.acknowledged_by) {
                                    (by) " " time datetime=(layout::rfc3339(at)) { (layout::rfc3339(at)) }
                                } @else if ack {
                                    form.inline method="post" action=(ACKNOWLEDGE.replace("{id}", &a.id)) {
                                        input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                                        button type="submit" { (t(lang, "alerts-acknowledge")) }
                                    }
                                } @else {
                                    "—"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Acknowledges an alert, stopping its escalation.
pub async fn acknowledge(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path(id): Path<String>,
) -> Result<Response, DeskError> {
    node.acknowledge_alert(&desk.actor, &id).await?;
    Ok(Redirect::to(ALERTS).into_response())
}
