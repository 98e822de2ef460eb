//! Use limits (speciality) and onward-transfer consent (issue 18).
//!
//! What a State provides (an answer, an evidence package) serves the case
//! it answers and the purpose stated in the request, under the conditions
//! the providing State set ([`custos_protocol::use_limits::UseLimits`] in a
//! package's signed manifest; `use_conditions` in an execution's body). Any
//! other use needs that State's consent, asked and given in the case's
//! thread (`ask-consent`, then `grant-consent` or `refuse-consent`), which
//! the case derivation exposes ([`custos_case::Facts::consent_for`]). The
//! checks here refuse, with [`NodeError::ConsentRequired`] naming the
//! package, the providing State, the case and the use:
//!
//! - sealing files whose SHA-256 matches a file of a package received from
//!   another State, for a recipient other than that State
//!   ([`Node::check_seal_use`], from the index of received files, migration
//!   0013, filled as packages are received and lazily for older ones);
//! - sending on a received package to a third State
//!   ([`Node::check_forward_use`]);
//! - opening or exporting a received package for another case
//!   ([`Node::check_other_case_use`]).
//!
//! With consent, the grant's message id is returned for the ledger entry of
//! the use to cite. The Convention's exception for exculpatory material is
//! an `ask-consent` with `"exculpatory": true`: the notice, sent to the
//! providing State before the use, stands in for the consent at once (no
//! answer is awaited or accepted), and the use cites the notice's id.

use std::collections::BTreeMap;

use custos_case::{ConsentAnswer, ConsentUse};
use custos_model::StateCode;
use custos_protocol::evidence::{Manifest, read_manifest_unverified};
use custos_store::ReceivedOrigin;
use serde::Serialize;

use crate::evidence::layout::read_manifest_bytes;
use crate::evidence::receive::received_root;
use crate::{Node, NodeError};

/// A consent a use of something provided relies on, as its ledger entry
/// cites it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentCited {
    /// The package used.
    pub package: String,
    /// The State that provided it.
    pub provider: String,
    /// The case it was provided in, where the consent was given.
    pub case: String,
    /// The message id of the `grant-consent`, or of the notice of
    /// exculpatory use.
    pub grant: String,
    /// The use rests on a notice of exculpatory use, not on a consent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exculpatory: bool,
}

/// The use limits of a case as shown: what what was provided in it may
/// serve, and the consents asked for other uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UseLimitsView {
    /// The case what is provided answers (its thread id).
    pub case: String,
    /// The purpose stated in the request.
    pub purpose: Option<String>,
    /// The conditions the providing State set when it executed.
    pub conditions: Vec<String>,
    /// The asks for consent to other uses, with their answers.
    pub consents: Vec<ConsentView>,
}

/// An ask for consent and its answer, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentView {
    /// The message id of the `ask-consent`.
    pub ask: String,
    /// The packages named; empty: the answers given.
    pub evidence: Vec<String>,
    /// `other-case` or `onward-transfer`.
    pub use_for: String,
    /// The other case's id or the third State's code.
    pub target: String,
    /// `pending`, `granted` or `refused`; `notified` for a notice of
    /// exculpatory use, which awaits no answer.
    pub answer: String,
    /// The message id of the answer, once given.
    pub answered_by: Option<String>,
    /// A grant's conditions.
    pub conditions: Vec<String>,
}

/// The use limits of a derived case.
pub(crate) fn use_limits_view(
    case: &str,
    draft: &serde_json::Value,
    bodies: &std::collections::HashMap<String, serde_json::Value>,
    view: &custos_case::CaseView,
) -> UseLimitsView {
    let mut conditions = Vec::new();
    for t in &view.timeline {
        if matches!(
            t.action,
            custos_case::Action::ExecutePartly | custos_case::Action::ExecuteWholly
        ) && let Some(list) = bodies
            .get(&t.id)
            .and_then(|b| b.get("use_conditions"))
            .and_then(serde_json::Value::as_array)
        {
            for c in list.iter().filter_map(serde_json::Value::as_str) {
                if !conditions.iter().any(|x| x == c) {
                    conditions.push(c.to_owned());
                }
            }
        }
    }
    let consents = view
        .facts
        .consents
        .iter()
        .map(|c| {
            let (use_for, target) = match &c.use_for {
                ConsentUse::OtherCase(t) => ("other-case", t.clone()),
                ConsentUse::OnwardTransfer(t) => ("onward-transfer", t.clone()),
            };
            let (answer, answered_by, conditions) = match &c.answer {
                None if c.exculpatory => ("notified", None, Vec::new()),
                None => ("pending", None, Vec::new()),
                Some(ConsentAnswer::Granted { id, conditions }) => {
                    ("granted", Some(id.clone()), conditions.clone())
                }
                Some(ConsentAnswer::Refused { id, .. }) => {
                    ("refused", Some(id.clone()), Vec::new())
                }
            };
            ConsentView {
                ask: c.ask.clone(),
                evidence: c.evidence.clone(),
                use_for: use_for.to_owned(),
                target,
                answer: answer.to_owned(),
                answered_by,
                conditions,
            }
        })
        .collect();
    UseLimitsView {
        case: case.to_owned(),
        purpose: draft
            .get("purpose")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        conditions,
        consents,
    }
}

impl Node {
    /// Indexes the received packages the index does not hold yet (those
    /// received before it existed, or whose indexing at receipt failed),
    /// and returns every received package's origin. Only packages another
    /// State sealed are indexed.
    pub(crate) async fn index_received_packages(&self) -> Result<Vec<ReceivedOrigin>, NodeError> {
        let mut origins = self.store.received_origins().await?;
        let root = received_root(&self.settings.data_dir);
        let Ok(dirs) = std::fs::read_dir(&root) else {
            return Ok(origins);
        };
        // The folders already indexed are not read again: only a folder the
        // index does not name has its manifest read.
        let mut indexed: std::collections::HashSet<String> =
            origins.iter().map(|o| o.package_id.clone()).collect();
        let indexed_folders: std::collections::HashSet<std::path::PathBuf> = origins
            .iter()
            .filter_map(|o| {
                crate::evidence::receive::received_folder(&self.settings.data_dir, &o.package_id)
            })
            .collect();
        for entry in dirs.flatten() {
            let dir = entry.path();
            if indexed_folders.contains(&dir) {
                continue;
            }
            let Ok(bytes) = read_manifest_bytes(&dir) else {
                continue;
            };
            let Ok(u) = read_manifest_unverified(&bytes) else {
                continue;
            };
            if u.manifest.sender == self.state() || !indexed.insert(u.package_id.clone()) {
                continue;
            }
            let origin = self.index_manifest(&u.package_id, &u.manifest).await?;
            origins.push(origin);
        }
        Ok(origins)
    }

    /// Indexes one received package's files.
    pub(crate) async fn index_manifest(
        &self,
        package_id: &str,
        manifest: &Manifest,
    ) -> Result<ReceivedOrigin, NodeError> {
        let origin = ReceivedOrigin {
            package_id: package_id.to_owned(),
            provider: manifest.sender.to_string(),
            request: manifest.request.clone(),
        };
        let hashes: Vec<String> = manifest.files.iter().map(|f| f.sha256.clone()).collect();
        self.store.index_received(&origin, &hashes).await?;
        Ok(origin)
    }

    /// The message a use of `package` for `use_for` relies on in case
    /// `case` (a grant, or a notice of exculpatory use, which the flag
    /// tells), if there is one.
    async fn granted_consent(
        &self,
        case: &str,
        package: &str,
        use_for: &ConsentUse,
    ) -> Result<Option<(String, bool)>, NodeError> {
        if self.store.get_request(case).await?.is_none() {
            return Ok(None);
        }
        let derived = self.derived(case, self.clock.now()).await?;
        Ok(derived
            .view
            .facts
            .consent_for(Some(package), use_for)
            .and_then(|c| Some((c.authority()?.to_owned(), c.exculpatory))))
    }

    /// The consent a use needs, or the refusal naming what is missing.
    async fn needs_consent(
        &self,
        origin: &ReceivedOrigin,
        use_for: ConsentUse,
    ) -> Result<ConsentCited, NodeError> {
        match self
            .granted_consent(&origin.request, &origin.package_id, &use_for)
            .await?
        {
            Some((grant, exculpatory)) => Ok(ConsentCited {
                package: origin.package_id.clone(),
                provider: origin.provider.clone(),
                case: origin.request.clone(),
                grant,
                exculpatory,
            }),
            None => Err(NodeError::ConsentRequired {
                what: format!("package {}", origin.package_id),
                provider: origin.provider.clone(),
                case: origin.request.clone(),
                use_for: use_for.to_string(),
            }),
        }
    }

    /// Checks sealing the files of `manifest` for its recipients: a file
    /// that another State provided (its SHA-256 matches a received file)
    /// goes to a recipient other than that State only with its consent to
    /// the onward transfer. Gives the consents relied on.
    pub(crate) async fn check_seal_use(
        &self,
        manifest: &Manifest,
    ) -> Result<Vec<ConsentCited>, NodeError> {
        self.index_received_packages().await?;
        let mut hashes: Vec<String> = manifest.files.iter().map(|f| f.sha256.clone()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let found = self.store.received_files(&hashes).await?;
        let origins: BTreeMap<String, ReceivedOrigin> = found
            .into_iter()
            .map(|f| (f.origin.package_id.clone(), f.origin))
            .collect();
        let mut cited = Vec::new();
        for origin in origins.values() {
            for to in &manifest.recipients {
                if to.as_str() == origin.provider {
                    continue;
                }
                let use_for = ConsentUse::OnwardTransfer(to.to_string());
                cited.push(self.needs_consent(origin, use_for).await?);
            }
        }
        Ok(cited)
    }

    /// Checks sending the package `package_id` (sealed as `manifest`) to
    /// `to`: a package another State sealed is sent on to a third State
    /// only with its consent.
    pub(crate) async fn check_forward_use(
        &self,
        manifest: &Manifest,
        package_id: &str,
        to: StateCode,
    ) -> Result<Option<ConsentCited>, NodeError> {
        if manifest.sender == self.state() || manifest.sender == to {
            return Ok(None);
        }
        let origin = ReceivedOrigin {
            package_id: package_id.to_owned(),
            provider: manifest.sender.to_string(),
            request: manifest.request.clone(),
        };
        let use_for = ConsentUse::OnwardTransfer(to.to_string());
        self.needs_consent(&origin, use_for).await.map(Some)
    }

    /// Checks using the package `package_id` (sealed as `manifest`) in case
    /// `for_case`: a package another State provided for another case is
    /// used there only with its consent.
    pub(crate) async fn check_other_case_use(
        &self,
        manifest: &Manifest,
        package_id: &str,
        for_case: &str,
    ) -> Result<Option<ConsentCited>, NodeError> {
        if manifest.sender == self.state() || manifest.request == for_case {
            return Ok(None);
        }
        let origin = ReceivedOrigin {
            package_id: package_id.to_owned(),
            provider: manifest.sender.to_string(),
            request: manifest.request.clone(),
        };
        let use_for = ConsentUse::OtherCase(for_case.to_owned());
        self.needs_consent(&origin, use_for).await.map(Some)
    }
}
