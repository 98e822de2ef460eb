//! Sealing what an earlier version kept in clear, once, when the node opens.
//!
//! Before schema version 6 a node stored each message's signed envelope as
//! clear JSON, and each draft saved without a message as clear JSON in the
//! request's row (migration 0006 moves those drafts to `requests.draft`).
//! [`Node::seal_legacy_records`] seals them under the storage key
//! (`at_rest.rs`): an envelope with the ledger entry that logged it (found
//! by one pass over the ledger); a draft, which no entry logged by hash,
//! with a new `decision` entry (`sealed-at-rest`) that logs its hash now.
//! Messages are recorded in order and every message stored since the
//! upgrade is sealed, so a store whose first message is sealed needs
//! nothing: opening an upgraded node costs one row read.

use std::collections::HashMap;

use serde_json::json;

use crate::at_rest::RecordKind;
use crate::custody::{Entry, EntryKind};
use crate::reads::LoggedEntry;
use crate::{Node, NodeError};

fn is_clear(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

impl Node {
    /// Seals envelopes and drafts kept in clear by an earlier version;
    /// returns how many records it sealed.
    pub async fn seal_legacy_records(&self) -> Result<usize, NodeError> {
        let mut sealed = 0;
        let storage = self.with_keys(|k| k.storage.clone());
        let first = self.store.messages_page(0, 1).await?;
        if first.first().is_some_and(|m| is_clear(&m.message.envelope)) {
            self.sequence_all().await?;
            // The entries that logged messages, by message id.
            let size = self.store.ledger_size().await?;
            let mut logged: HashMap<String, (u64, Vec<u8>)> = HashMap::new();
            let mut from = 0;
            while from < size {
                let page = self.store.ledger_entries(from, 10_000).await?;
                if page.is_empty() {
                    break;
                }
                for e in page.iter() {
                    if let Ok(entry) = serde_json::from_slice::<LoggedEntry>(&e.entry)
                        && matches!(entry.kind.as_str(), "message-sent" | "message-received")
                        && let Some(subject) = entry.subject
                    {
                        logged.insert(subject, (e.index, e.entry.clone()));
                    }
                }
                from += page.len() as u64;
            }
            let mut after = 0;
            loop {
                let page = self.store.messages_page(after, 4096).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for s in &page {
                    let m = &s.message;
                    if !is_clear(&m.envelope) {
                        continue;
                    }
                    // A message no entry logged stays as it is: the checks
                    // name it, which is what it is.
                    let Some((index, entry)) = logged.get(&m.id) else {
                        tracing::error!(message = %m.id, "a message kept in clear has no ledger entry; left as it is");
                        continue;
                    };
                    let new =
                        storage.seal(RecordKind::Message, &m.id, *index, entry, &m.envelope)?;
                    if self.store.reseal_message(&m.id, &m.envelope, &new).await? {
                        sealed += 1;
                    }
                }
            }
        }
        for (id, draft) in self.store.unsealed_drafts().await? {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&draft) else {
                tracing::error!(request = %id, "a draft kept in clear does not parse; left as it is");
                continue;
            };
            let content = custos_seal::canonical_json(&value)
                .map_err(|e| NodeError::Internal(format!("a stored draft: {e}")))?;
            let now = self.clock.now();
            let entry = Entry::new(
                EntryKind::Decision,
                now,
                crate::Actor::Peer(self.state()).label(),
            )
            .request(id.clone())
            .envelope(&content)
            .detail(json!({ "decision": "sealed-at-rest" }))
            .encode()?;
            let from = self.store.ledger_size().await?;
            let new = storage.seal(RecordKind::Draft, &id, from, &entry, &content)?;
            // The entry first: a crash between the two leaves a logged hash
            // and a clear draft, which the next opening seals again.
            self.store.queue_ledger(&[entry], now).await?;
            if self.store.reseal_draft(&id, &draft, &new).await? {
                sealed += 1;
            }
        }
        if sealed > 0 {
            self.sequence_all().await?;
            tracing::info!(
                records = sealed,
                "sealed case content an earlier version kept in clear"
            );
        }
        Ok(sealed)
    }
}
