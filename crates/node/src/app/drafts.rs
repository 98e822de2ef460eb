//! Checking a draft at the application layer: a request draft or a decision
//! draft validated as `custos request validate` does, with, for a request
//! draft, the legal-basis check the node runs before sending (against its
//! configured treaty registry, on its own date). Nothing is read from the
//! node's records and nothing is written except the decision to allow the
//! check (the access record every operation keeps).
//!
//! Saving a draft is [`Node::save_draft`] (`requests.rs`); the drafts
//! saved and not sent are listed by [`Node::drafts`] and read back, to
//! resume, by [`Node::draft`].

use custos_model::basis;
use custos_model::validate::{self, Issue, Report, Severity};
use custos_model::{Decision, RequestKind};
use serde::Serialize;
use serde_json::Value;

use super::access::Operation;
use super::{Actor, RequestSummary};
use crate::{Node, NodeError};
use custos_store::{Direction, RequestFilter};

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

/// How many of the newest outgoing requests [`Node::drafts`] looks among.
const DRAFTS_LOOKED_AT: u32 = 200;

impl Node {
    /// The request drafts saved on this node and not sent, newest first,
    /// at most `limit`, among the newest outgoing requests (operation
    /// `list-cases`; a confidential one only for the people assigned).
    pub async fn drafts(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> Result<Vec<RequestSummary>, NodeError> {
        self.authorize(actor, Operation::ListCases, None).await?;
        let outgoing = self
            .store
            .list_requests(&RequestFilter {
                direction: Some(Direction::Outgoing),
                limit: Some(DRAFTS_LOOKED_AT),
                hidden_from: Self::listing_person(actor),
                ..RequestFilter::default()
            })
            .await?;
        let mut drafts = Vec::new();
        for r in &outgoing {
            if drafts.len() >= limit {
                break;
            }
            // Listing reads metadata only: the record itself says whether
            // the request is a draft kept without a message.
            if let Some(full) = self.store.get_request(&r.id).await?
                && full.draft.is_some()
            {
                drafts.push(RequestSummary::from(r));
            }
        }
        Ok(drafts)
    }

    /// The saved draft `id` as `actor` reads it to resume it (operation
    /// `read-case`, recorded), checked against its ledger entry. A request
    /// already sent is not a draft: [`NodeError::NotFound`].
    pub async fn draft(&self, actor: &Actor, id: &str) -> Result<Value, NodeError> {
        self.authorize(actor, Operation::ReadCase, Some(id)).await?;
        let view = self.request_detail(id).await?;
        if view.signed || view.direction != Direction::Outgoing {
            return Err(NodeError::NotFound(id.to_owned()));
        }
        Ok(view.draft)
    }
}
