//! Checking a draft at the application layer: a request draft or a decision
//! draft validated as `custos request validate` does, with, for a request
//! draft, the legal-basis check the node runs before sending (against its
//! configured treaty registry, on its own date). Nothing is read from the
//! node's records and nothing is written except the decision to allow the
//! check (the access record every operation keeps).
//!
//! Saving a draft is [`Node::save_draft`] (`requests.rs`).

use custos_model::basis;
use custos_model::validate::{self, Issue, Report, Severity};
use custos_model::{Decision, RequestKind};
use serde::Serialize;
use serde_json::Value;

use super::Actor;
use super::access::Operation;
use crate::{Node, NodeError};

/// What checking a draft found: whether it may be sent (or the decision
/// taken), what it is, and every problem in draft order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DraftReport {
    /// True when no issue is an error (warnings do not stop a draft).
    pub valid: bool,
    /// The request kind, when the draft names a known one.
    pub kind: Option<RequestKind>,
    /// The decision, when the draft is a decision draft naming a known one.
    pub decision: Option<Decision>,
    pub errors: usize,
    pub warnings: usize,
    /// One per problem: severity, code, field, article and a sentence.
    pub issues: Vec<Issue>,
}

impl From<Report> for DraftReport {
    fn from(report: Report) -> Self {
        let errors = report.errors();
        DraftReport {
            valid: report.is_valid(),
            kind: report.kind,
            decision: report.decision,
            errors,
            warnings: report
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Warning)
                .count(),
            issues: report.issues,
        }
    }
}

impl Node {
    /// Validates `draft` for `actor` (operation `validate-draft`, allowed to
    /// every role): a decision draft (one with a `decision` field) against
    /// the decision catalogue, a request draft against the request kinds
    /// and, when the node has a treaty registry, its legal basis on the
    /// node's date, as sending it would. A draft that does not validate is
    /// an answer, not an error.
    pub async fn validate_draft(
        &self,
        actor: &Actor,
        draft: &Value,
    ) -> Result<DraftReport, NodeError> {
        self.authorize(actor, Operation::ValidateDraft, None)
            .await?;
        let mut report = validate::validate(draft);
        let is_request = draft.get("decision").is_none();
        if is_request
            && let Some(registry) = self.settings.treaty_registry.as_deref()
            && let Err(refused) = basis::check(draft, Some(registry), self.clock.today())
        {
            report.issues.push(refused.issue());
        }
        Ok(report.into())
    }
}
