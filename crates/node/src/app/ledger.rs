//! The custody ledger's checks as shown: a full verification's verdict and
//! the deep check of every stored record against the ledger.

use serde::Serialize;

use super::Actor;
use super::access::Operation;
use crate::custody::LedgerReport;
use crate::deep_check::DeepReport;
use crate::{Node, NodeError};

/// What verifying the whole ledger found.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum LedgerVerdict {
    /// Every entry recomputed to the root, which the latest signed
    /// checkpoint (if any) matches.
    Good(LedgerReport),
    /// An entry was changed, removed or reordered.
    Bad(LedgerTampered),
}

/// The first bad entry a verification met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerTampered {
    /// Always `false`.
    pub ok: bool,
    pub first_bad_entry: u64,
    pub problem: String,
}

/// The deep check's findings, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeepCheckView {
    /// Whether every record matched.
    pub ok: bool,
    pub ledger_entries: u64,
    pub messages: u64,
    pub receipts: u64,
    pub requests: u64,
    /// Evidence packages received and accepted that were checked.
    pub evidence: u64,
    /// Records checked (messages, receipts, requests and evidence packages).
    pub records: u64,
    /// One line per mismatch, naming the record.
    pub problems: Vec<String>,
}

impl From<&DeepReport> for DeepCheckView {
    fn from(r: &DeepReport) -> Self {
        DeepCheckView {
            ok: r.problems.is_empty(),
            ledger_entries: r.ledger_entries,
            messages: r.messages,
            receipts: r.receipts,
            requests: r.requests,
            evidence: r.evidence,
            records: r.records(),
            problems: r.problems.clone(),
        }
    }
}

impl Node {
    /// Verifies the whole ledger ([`Node::verify_ledger`]): a ledger that
    /// was tampered with is a verdict, not an error; errors are failures
    /// to read it.
    pub async fn check_ledger(
        &self,
        actor: &Actor,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<LedgerVerdict, NodeError> {
        self.authorize(actor, Operation::VerifyLedger, None).await?;
        match self.verify_ledger(progress).await {
            Ok(report) => Ok(LedgerVerdict::Good(report)),
            Err(NodeError::LedgerTampered { index, problem }) => {
                Ok(LedgerVerdict::Bad(LedgerTampered {
                    ok: false,
                    first_bad_entry: index,
                    problem,
                }))
            }
            Err(e) => Err(e),
        }
    }
}

/// The ledger's latest checkpoint as a person reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointView {
    /// The latest signed checkpoint (a C2SP signed note), if any.
    pub checkpoint: Option<String>,
    /// The checkpoint with the most witness cosignatures (the larger on a
    /// tie), with them appended.
    pub cosigned: Option<String>,
}

/// A proof bundle as shown: the bundle's members, and for an entry that
/// logged content deleted since, `content: "deleted"` with the deletion
/// (whose `entry` is the `content-deleted` ledger entry). The bundle alone
/// (`bundle` without the two members) is what `custos ledger check-proof`
/// reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProofView {
    #[serde(flatten)]
    pub bundle: custos_ledger::ProofBundle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion: Option<super::DeletionView>,
}

impl Node {
    /// The latest checkpoint, and the checkpoint that carries the most
    /// witness cosignatures (the latest, or one the witnesses cosigned
    /// before entries such as recorded reads were added), with them
    /// (operation `read-ledger`).
    pub async fn ledger_checkpoint(&self, actor: &Actor) -> Result<CheckpointView, NodeError> {
        self.authorize(actor, Operation::ReadLedger, None).await?;
        Ok(CheckpointView {
            checkpoint: self.latest_checkpoint().await?,
            cosigned: self.checkpoint_for_proof(0).await?.map(|c| c.note),
        })
    }

    /// The proof bundle of the entry at `index` (operation `read-ledger`),
    /// naming an entry whose case's content was deleted since as deleted
    /// (issue 18): its leaf still proves its inclusion.
    pub async fn ledger_proof(&self, actor: &Actor, index: u64) -> Result<ProofView, NodeError> {
        self.authorize(actor, Operation::ReadLedger, None).await?;
        let bundle = self.prove_entry(index).await?;
        let deletion = self.deleted_by(index, &bundle.entry).await?;
        Ok(ProofView {
            bundle,
            content: deletion.as_ref().map(|_| "deleted".to_owned()),
            deletion,
        })
    }

    /// The deep check of every record against the ledger (operation
    /// `verify-ledger`).
    pub async fn deep_check(&self, actor: &Actor) -> Result<DeepReport, NodeError> {
        self.authorize(actor, Operation::VerifyLedger, None).await?;
        self.verify_deep().await
    }

    /// Asks the node's witnesses to cosign its latest checkpoint now
    /// (operation `verify-ledger`).
    pub async fn witness_now(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(custos_model::StateCode, crate::witnessing::CosignOutcome)>, NodeError> {
        self.authorize(actor, Operation::VerifyLedger, None).await?;
        self.request_cosignatures().await
    }
}
