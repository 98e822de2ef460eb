//! The legal basis of a request, checked before it is sent.
//!
//! With a treaty registry configured ([`NodeSettings::treaty_registry`]), a
//! draft citing the Convention is sent only when the Convention is in force
//! for both States on the sending date (the node's clock); otherwise the
//! send is refused with every reason ([`NodeError::LegalBasis`]). A draft
//! citing another basis (a bilateral treaty, another multilateral
//! instrument, reciprocity) is sent on that basis. Either way the basis,
//! and what the registry said, is recorded with the request's first
//! message (its history event and its custody ledger entry).
//!
//! [`NodeSettings::treaty_registry`]: crate::NodeSettings::treaty_registry

use custos_model::basis::{self, BasisRecord};
use serde_json::Value;

use crate::{Node, NodeError};

impl Node {
    /// Checks a valid draft's legal basis on today's date; returns what to
    /// record with the request (`None` when the draft names no basis).
    pub(crate) fn check_legal_basis(
        &self,
        draft: &Value,
    ) -> Result<Option<BasisRecord>, NodeError> {
        let registry = self.settings.treaty_registry.as_deref();
        Ok(basis::check(draft, registry, self.clock.today())?)
    }
}
