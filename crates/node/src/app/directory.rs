//! The directory in force, as shown: its version and dates, and each
//! State's node with its signing keys. Only what the registry and the
//! States signed, never anything of this node's own secrets.

use custos_model::StateCode;
use custos_protocol::Directory;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Node;

/// A verified directory, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryView {
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// After this, the directory verifies nothing and a newer one is needed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub entries: Vec<DirectoryEntryView>,
}

/// One State's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryEntryView {
    pub state: StateCode,
    /// The node's or authority's name, for people.
    pub name: String,
    /// The base URL of the State's node.
    pub node_url: String,
    pub signing_keys: Vec<DirectoryKeyView>,
}

/// A signing key a State's entry lists, with its validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryKeyView {
    pub key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// When it stopped being valid (`None`: current).
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// When the State marked it compromised; it then verifies nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&Directory> for DirectoryView {
    fn from(d: &Directory) -> Self {
        DirectoryView {
            version: d.version(),
            issued_at: d.issued_at(),
            expires_at: d.expires_at(),
            entries: d
                .entries()
                .map(|e| DirectoryEntryView {
                    state: e.state,
                    name: e.name.clone(),
                    node_url: e.node_url.clone(),
                    signing_keys: e
                        .signing_keys
                        .iter()
                        .map(|k| DirectoryKeyView {
                            key_id: k.key.key_id(),
                            valid_from: k.valid_from,
                            valid_until: k.valid_until,
                            revoked_at: k.revoked_at,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl Node {
    /// The directory in force, if the node has one.
    pub async fn directory_view(
        &self,
        actor: &super::Actor,
    ) -> Result<Option<DirectoryView>, crate::NodeError> {
        self.authorize(actor, super::Operation::ReadDirectory, None)
            .await?;
        Ok(self.directory().map(|d| DirectoryView::from(d.as_ref())))
    }
}
