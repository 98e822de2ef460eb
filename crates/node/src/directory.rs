//! The node's side of the directory: importing a signed list, and writing the node's own entry.

use custos_protocol::{Directory, DirectoryEntry, ProtocolError};
use custos_seal::Envelope;
use custos_store::StoredDirectory;

use crate::{Node, NodeError};

/// What the operator supplies for the node's entry beyond its keys.
#[derive(Clone, Debug, Default)]
pub struct EntryDetails {
    pub node_url: String,
    pub contact_24_7: Option<String>,
    pub central_authority: Option<String>,
    pub languages: Vec<String>,
    pub treaty_status: Option<String>,
}

impl Node {
    /// Verifies a signed directory list against the configured registry key and makes it current.
    ///
    /// Refused when it does not verify, has expired, is not newer than the one in
    /// force, or drops a signing key that a State's previous entry listed (a
    /// registry must not be able to swap a State's keys silently).
    pub async fn import_directory(
        &self,
        actor: &crate::app::Actor,
        signed: &[u8],
    ) -> Result<Directory, NodeError> {
        self.authorize(actor, crate::app::Operation::ImportDirectory, None)
            .await?;
        let Some(registry) = self.settings.registry_key else {
            return Err(NodeError::NoRegistryKey);
        };
        let now = self.clock.now();
        let dir = Directory::verify(signed, &registry, now).map_err(NodeError::DirectoryInvalid)?;
        if let Some(previous) = self.directory() {
            dir.check_succession(&previous)
                .map_err(NodeError::DirectoryInvalid)?;
        }
        if dir.entry(self.state()).is_none() {
            return Err(NodeError::DirectoryInvalid(
                ProtocolError::InvalidDirectory {
                    detail: format!("it has no entry for this node's State {}", self.state()),
                },
            ));
        }
        self.store
            .put_directory(&StoredDirectory {
                version: dir.version(),
                signed: signed.to_vec(),
                imported_at: now,
            })
            .await?;
        self.reload_directory().await?;
        self.mark_directory_version(dir.version(), true);
        Ok(dir)
    }

    /// The signed directory file this node holds, byte for byte as it was
    /// imported; `None` before the first import.
    pub async fn directory_file(
        &self,
        actor: &crate::app::Actor,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        self.authorize(actor, crate::app::Operation::ReadDirectory, None)
            .await?;
        Ok(self.store.directory().await?.map(|d| d.signed))
    }

    /// The node's own directory entry, signed with its current key.
    pub fn signed_entry(&self, details: &EntryDetails) -> Result<Envelope, NodeError> {
        let now = self.clock.now();
        self.with_keys(|keys| {
            let entry = DirectoryEntry {
                v: 1,
                state: self.state(),
                name: self.settings.name.clone(),
                node_url: details.node_url.clone(),
                signing_keys: keys.history.signing.clone(),
                encryption_keys: keys.history.encryption.clone(),
                contact_24_7: details.contact_24_7.clone(),
                central_authority: details.central_authority.clone(),
                languages: details.languages.clone(),
                treaty_status: details.treaty_status.clone(),
                issued_at: now,
            };
            Ok(entry.sign(&keys.signing)?)
        })
    }
}
