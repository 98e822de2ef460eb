//! Composing a request: choose its kind and the State asked, then fill the
//! form the kind's required contents generate (`fields`), checked as one
//! types by the node's own validation (the rules of `custos request
//! validate`, with the legal-basis check), each problem beside its field
//! with its article. A draft may be saved and resumed; sending it opens
//! the case page.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_model::RequestKind;
use custos_model::contents::DRAFT_FORMAT;
use custos_model::validate::Code;
use custos_node::app::{DraftReport, Operation};
use custos_node::{Node, NodeError};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::DeskError;
use crate::fields::{self, FormField};
use crate::guard::CSRF_FIELD;
use crate::i18n::{Lang, t};
use crate::layout;
use crate::session::Desk;

pub const COMPOSE: &str = "/desk/compose";
pub const CHECK: &str = "/desk/compose/check";
pub const DRAFTS: &str = "/desk/drafts";

/// What the compose page is asked for.
#[derive(Debug, Default, Deserialize)]
pub struct ComposeQuery {
    kind: Option<String>,
    to: Option<String>,
    /// A saved draft to resume.
    draft: Option<String>,
}

/// The compose page: the choice of kind and State, or the kind's form.
pub async fn page(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Query(q): Query<ComposeQuery>,
) -> Result<Response, DeskError> {
    if let Some(id) = q.draft.as_deref() {
        let draft = node.draft(&desk.actor, id).await?;
        let Some(kind) = kind_of(&draft) else {
            return Err(NodeError::InvalidDraft("the saved draft names no kind".into()).into());
        };
        return Ok(form_page(&desk, kind, &draft, None, Some(id)).into_response());
    }
    let kind = q
        .kind
        .as_deref()
        .and_then(|k| k.parse::<RequestKind>().ok());
    match kind {
        Some(kind) => {
            let mut draft = json!({ "requesting_state": node.state().as_str() });
            if let Some(to) = q.to.as_deref().filter(|s| !s.trim().is_empty()) {
                draft["requested_state"] = json!(to.trim().to_ascii_uppercase());
            }
            Ok(form_page(&desk, kind, &draft, None, None).into_response())
        }
        None => {
            let directory = node.directory_view(&desk.actor).await?;
            let states: Vec<String> = directory
                .map(|d| {
                    d.entries
                        .iter()
                        .map(|e| e.state)
                        .filter(|s| *s != node.state())
                        .map(|s| s.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            Ok(chooser(&desk, &states).into_response())
        }
    }
}

fn chooser(desk: &Desk, states: &[String]) -> Markup {
    let lang = desk.lang;
    let title = t(lang, "compose-title");
    layout::page(
        desk,
        COMPOSE,
        &title,
        html! {
            h1 { (title) }
            form.stack #compose-choose method="get" action=(COMPOSE) {
                label for="kind" { (t(lang, "compose-kind")) }
                select #kind name="kind" required {
                    @for k in RequestKind::ALL {
                        option value=(k.as_str()) { (t(lang, &format!("kind-{}", k.as_str()))) }
                    }
                }
                label for="to" { (t(lang, "compose-to")) }
                select #to name="to" required {
                    @for s in states { option value=(s) { (s) } }
                }
                button type="submit" { (t(lang, "compose-start")) }
            }
            p { a href=(DRAFTS) { (t(lang, "drafts-title")) } }
        },
    )
}

/// The guided form of `kind` holding `draft`; `report` shows the node's
/// last check; `resumed` names the saved draft it was opened from.
fn form_page(
    desk: &Desk,
    kind: RequestKind,
    draft: &Value,
    report: Option<&DraftReport>,
    resumed: Option<&str>,
) -> Markup {
    let lang = desk.lang;
    let fields = fields::request_fields(kind);
    let title = t(lang, &format!("kind-{}", kind.as_str()));
    let issues = report.map(|r| r.issues.as_slice()).unwrap_or_default();
    html! {
        (layout::page(desk, COMPOSE, &title, html! {
            h1 { (t(lang, "compose-title")) ": " (title) }
            p.article { (custos_model::contents::governing_article(kind)) }
            @if let Some(id) = resumed {
                p.note { (t(lang, "compose-resumed")) " " code { (id) } }
            }
            form.draft #compose method="post" action=(COMPOSE) novalidate
                hx-post=(CHECK) hx-trigger="input delay:600ms, change delay:100ms"
                hx-target="#check" hx-swap="innerHTML" {
                input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                input type="hidden" name="kind" value=(kind.as_str());
                div #check role="status" aria-live="polite" {
                    @if let Some(r) = report { (summary(lang, &fields, r)) }
                }
                @for f in &fields {
                    (fields::render(lang, f, draft, &fields::problems_of(&fields, f, issues)))
                }
                div.buttons {
                    @if desk.may(Operation::SaveDraft) {
                        button type="submit" name="intent" value="save" { (t(lang, "compose-save")) }
                    }
                    @if desk.may(Operation::SendRequest) {
                        button type="submit" name="intent" value="send" #send { (t(lang, "compose-send")) }
                    }
                }
            }
        }))
    }
}

/// The check's summary: valid or not, the counts, the legal-basis check,
/// and the problems no field shows.
fn summary(lang: Lang, fields: &[FormField], report: &DraftReport) -> Markup {
    let basis_refused = report
        .issues
        .iter()
        .find(|i| i.code == Code::ConventionNotApplicable);
    html! {
        div.summary.(if report.valid { "valid" } else { "invalid" }) #check-summary {
            p {
                strong {
                    (t(lang, if report.valid { "check-valid" } else { "check-invalid" }))
                }
                " " (t_count(lang, report.errors, report.warnings))
            }
            p #legal-basis {
                (t(lang, "check-legal-basis")) ": "
                @match basis_refused {
                    Some(i) => span.error { (i.message) },
                    None => span.ok { (t(lang, "check-legal-basis-ok")) },
                }
            }
            @let rest = fields::unplaced(fields, &report.issues);
            @if !rest.is_empty() {
                ul { @for i in rest { (fields::issue_item(lang, i)) } }
            }
        }
    }
}

fn t_count(lang: Lang, errors: usize, warnings: usize) -> String {
    crate::i18n::t_args(
        lang,
        "check-counts",
        &[
            ("errors", (errors as u64).into()),
            ("warnings", (warnings as u64).into()),
        ],
    )
}

/// The draft a posted compose form says, and its kind.
fn posted(pairs: &[(String, String)]) -> Result<(RequestKind, Vec<FormField>, Value), DeskError> {
    let kind = pairs
        .iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| v.parse::<RequestKind>().ok())
        .ok_or_else(|| DeskError::from(NodeError::InvalidDraft("no request kind".into())))?;
    let fields = fields::request_fields(kind);
    let mut base = Map::new();
    base.insert("format".into(), json!(DRAFT_FORMAT));
    base.insert("kind".into(), json!(kind.as_str()));
    let draft = fields::build(&fields, pairs, base);
    Ok((kind, fields, draft))
}

/// Checks the form as typed (htmx): the summary, and every field's
/// problems swapped in beside it.
pub async fn check(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Markup, DeskError> {
    let (_, fields, draft) = posted(&pairs)?;
    let report = node.validate_draft(&desk.actor, &draft).await?;
    Ok(html! {
        (summary(desk.lang, &fields, &report))
        @for f in &fields {
            (fields::problems_list(desk.lang, f, &fields::problems_of(&fields, f, &report.issues), true))
        }
    })
}

/// Saves or sends the draft. A draft the node refuses comes back with its
/// problems beside its fields.
pub async fn submit(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, DeskError> {
    let (kind, _, draft) = posted(&pairs)?;
    let send = pairs.iter().any(|(k, v)| k == "intent" && v == "send");
    let outcome = if send {
        node.send_request(draft.clone(), &desk.actor, true, false)
            .await
            .map(|r| format!("/desk/cases/{}", r.sent.thread))
    } else {
        node.save_draft(draft.clone(), &desk.actor)
            .await
            .map(|id| format!("{COMPOSE}?draft={id}"))
    };
    match outcome {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(NodeError::InvalidDraft(_) | NodeError::NotOurs(_)) => {
            let report = node.validate_draft(&desk.actor, &draft).await?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                form_page(&desk, kind, &draft, Some(&report), None),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The drafts saved and not sent, to resume.
pub async fn drafts(State(node): State<Arc<Node>>, desk: Desk) -> Result<Markup, DeskError> {
    let list = node.drafts(&desk.actor, 100).await?;
    let lang = desk.lang;
    let title = t(lang, "drafts-title");
    Ok(layout::page(
        &desk,
        DRAFTS,
        &title,
        html! {
            h1 { (title) }
            @if list.is_empty() {
                p.empty { (t(lang, "drafts-empty")) }
            } @else {
                table.cases {
                    thead { tr {
                        th scope="col" { (t(lang, "case-kind")) }
                        th scope="col" { (t(lang, "case-counterpart")) }
                        th scope="col" { (t(lang, "drafts-saved")) }
                    } }
                    tbody {
                        @for d in &list {
                            tr {
                                td { a href=(format!("{COMPOSE}?draft={}", d.id)) {
                                    (t(lang, &format!("kind-{}", d.kind.as_str())))
                                } }
                                td { (d.counterpart.as_str()) }
                                // i18n::date will format it per language.
                                td { time datetime=(layout::rfc3339(d.created_at)) { (layout::rfc3339(d.created_at)) } }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn kind_of(draft: &Value) -> Option<RequestKind> {
    draft.get("kind")?.as_str()?.parse().ok()
}
