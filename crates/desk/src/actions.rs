//! The actions of the case page: one form per action that both the case
//! (its `allowed` list, the node's derivation) and the person's roles (the
//! node's access matrix) allow, generated from the decision catalogue and
//! checked as one types by the node's decision validation. Taking it is
//! [`Node::act`], which decides again: a refused action (by role or by the
//! case's state) comes back with the node's typed error.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_model::contents::DRAFT_FORMAT;
use custos_model::validate::Issue;
use custos_node::app::{CaseAction, CaseDetail, Operation};
use custos_node::{Node, NodeError};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use crate::error::DeskError;
use crate::fields::{self, FormField};
use crate::guard::CSRF_FIELD;
use crate::i18n::t;
use crate::session::Desk;

/// Where an action's form is posted, and checked as typed.
pub const ACT: &str = "/desk/cases/{id}/act/{action}";
pub const CHECK: &str = "/desk/cases/{id}/check/{action}";

/// An action form shown open after the node answered it: what was typed,
/// the problems found, or the node's refusal.
#[derive(Debug)]
pub struct Open {
    pub action: CaseAction,
    pub draft: Value,
    pub issues: Vec<Issue>,
    /// The node's typed error, when it refused the action itself.
    pub refused: Option<String>,
}

/// The actions offered on `case` to this person: allowed by the case now
/// and by the access matrix, each with a decision to draft.
pub fn offered(desk: &Desk, case: &CaseDetail) -> Vec<CaseAction> {
    case.allowed
        .iter()
        .copied()
        .filter(|a| a.decision().is_some() && desk.may(Operation::Act(*a)))
        .collect()
}

/// The section of the case page with the action forms.
pub fn section(desk: &Desk, case: &CaseDetail, open: Option<&Open>) -> Markup {
    let lang = desk.lang;
    let actions = offered(desk, case);
    html! {
        section #actions aria-labelledby="actions-h" {
            h2 #actions-h { (t(lang, "actions-title")) }
            @if actions.is_empty() {
                p.empty { (t(lang, "actions-none")) }
            }
            @for a in actions {
                @let this = open.filter(|o| o.action == a && o.refused.is_none());
                (form(desk, &case.id, a, this))
            }
        }
    }
}

fn form(desk: &Desk, id: &str, action: CaseAction, open: Option<&Open>) -> Markup {
    let lang = desk.lang;
    let Some(decision) = action.decision() else {
        return html! {};
    };
    let fields = fields::decision_fields(decision);
    let empty = Value::Object(Map::new());
    let draft = open.map_or(&empty, |o| &o.draft);
    let issues = open.map(|o| o.issues.as_slice()).unwrap_or_default();
    let name = action.as_str();
    let act = ACT.replace("{id}", id).replace("{action}", name);
    let check = CHECK.replace("{id}", id).replace("{action}", name);
    html! {
        details.action #(format!("action-{name}")) open[open.is_some()] {
            summary { (t(lang, &format!("action-{name}"))) " " small { "(" (decision.article()) ")" } }
            form.draft method="post" action=(act) novalidate
                hx-post=(check) hx-trigger="input delay:600ms, change delay:100ms"
                hx-target=(format!("#check-{name}")) hx-swap="innerHTML" {
                input type="hidden" name=(CSRF_FIELD) value=(desk.csrf);
                div #(format!("check-{name}")) role="status" aria-live="polite" {
                    @let rest = fields::unplaced(&fields, issues);
                    @if !rest.is_empty() { ul { @for i in rest { (fields::issue_item(lang, i)) } } }
                }
                @for f in &fields {
                    (fields::render(lang, f, draft, &fields::problems_of(&fields, f, issues)))
                }
                button type="submit" { (t(lang, &format!("action-{name}"))) }
            }
        }
    }
}

/// The decision draft a posted action form says.
fn posted(action: CaseAction, pairs: &[(String, String)]) -> (Vec<FormField>, Value) {
    let Some(decision) = action.decision() else {
        return (Vec::new(), Value::Object(Map::new()));
    };
    let fields = fields::decision_fields(decision);
    let mut base = Map::new();
    base.insert("format".into(), json!(DRAFT_FORMAT));
    base.insert("decision".into(), json!(decision.as_str()));
    let draft = fields::build(&fields, pairs, base);
    (fields, draft)
}

fn parse_action(name: &str) -> Result<CaseAction, DeskError> {
    CaseAction::ALL
        .into_iter()
        .find(|a| a.as_str() == name)
        .ok_or_else(|| NodeError::NotFound(format!("action {name}")).into())
}

/// Checks an action's form as typed (htmx).
pub async fn check(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path((_id, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Markup, DeskError> {
    let action = parse_action(&action)?;
    let (fields, draft) = posted(action, &pairs);
    let report = node.validate_draft(&desk.actor, &draft).await?;
    let lang = desk.lang;
    Ok(html! {
        @let rest = fields::unplaced(&fields, &report.issues);
        @if !rest.is_empty() { ul { @for i in rest { (fields::issue_item(lang, i)) } } }
        @for f in &fields {
            (fields::problems_list(lang, f, &fields::problems_of(&fields, f, &report.issues), true))
        }
    })
}

/// Takes the action; back to the case page, or the page again with the
/// node's problems or refusal.
pub async fn act(
    State(node): State<Arc<Node>>,
    desk: Desk,
    Path((id, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, DeskError> {
    let action = parse_action(&action)?;
    let (_, draft) = posted(action, &pairs);
    let (status, open) = match node.act(&id, action, draft.clone(), &desk.actor).await {
        Ok(_) => return Ok(Redirect::to(&crate::case::path(&id)).into_response()),
        Err(NodeError::InvalidDecision(report)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Open {
                action,
                draft,
                issues: report.issues,
                refused: None,
            },
        ),
        Err(e) => {
            let e = DeskError::from(e);
            (
                e.status,
                Open {
                    action,
                    draft,
                    issues: Vec::new(),
                    refused: Some(format!("{} ({})", e.message, e.code)),
                },
            )
        }
    };
    let case = node.case(&id, &desk.actor).await?;
    Ok((status, crate::case::render(&desk, &case, Some(&open))).into_response())
}
