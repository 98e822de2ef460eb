//! The custody ledger's checks as shown: a full verification's verdict and
//! the deep check of every stored record against the ledger.

use serde::Serialize;

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
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<LedgerVerdict, NodeError> {
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
