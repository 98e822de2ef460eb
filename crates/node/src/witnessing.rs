//! Witnessing: nodes cosign each other's ledger checkpoints, and catch forks.
//!
//! As a log, a node sends its latest signed checkpoint to every peer in the
//! directory, with a consistency proof from the size that peer last cosigned.
//! As a witness, a node checks the log's signature against the directory,
//! checks the proof against the last checkpoint it holds for that log, and
//! either cosigns (C2SP tlog-cosignature) and remembers the new checkpoint, or
//! keeps the evidence of a fork and raises the alarm. A State that shows two
//! different histories to two peers, or rewrites its own, is caught the next
//! time it asks a witness that saw the earlier one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use custos_ledger::{
    AddCheckpoint, LedgerError, VerifierKey, Witness, WitnessDecision, WitnessedCheckpoint,
    peek_checkpoint, prove_consistency, verify_cosignature,
};
use custos_model::StateCode;
use custos_protocol::{ErrorResponse, routes};
use custos_store::{CosignatureRecord, StoreError, WitnessedState};
use serde::Serialize;

use crate::{CheckpointRefusal, LedgerFailure, Node, NodeError};

pub use custos_protocol::federation::WitnessAnswer;

/// What asking one peer to cosign came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CosignOutcome {
    Cosigned {
        size: u64,
    },
    AlreadyCosigned {
        size: u64,
    },
    /// The witness answered but gave no cosignature.
    Refused {
        reason: String,
    },
    /// The witness could not be reached (connection refused, timed out).
    Unreachable {
        reason: String,
    },
    /// The witness reports that this ledger contradicts a checkpoint it
    /// cosigned earlier; its evidence is attached.
    Fork {
        evidence: serde_json::Value,
    },
}

/// A failure of this node's own key to make or check a cosignature.
fn own_key(e: LedgerError) -> NodeError {
    NodeError::Ledger(LedgerFailure::OwnKey(e))
}

impl Node {
    /// The name this node cosigns under.
    pub fn witness_name(&self) -> String {
        format!("custos.witness/{}", self.state())
    }

    /// The witness verifier key (C2SP `cosignature/v1`, type `0x04`) that
    /// checks the cosignatures this node makes with its current signing
    /// key; peers find the same key in the directory under this State's
    /// signing keys.
    pub fn witness_verifier_key(&self) -> Result<String, NodeError> {
        let current = self.with_keys(|k| k.signing.verifying_key());
        let key = VerifierKey::cosignature_v1(&self.witness_name(), &current).map_err(own_key)?;
        Ok(key.to_text())
    }

    fn origin_state(origin: &str) -> Option<StateCode> {
        origin.strip_prefix("custos.ledger/")?.parse().ok()
    }

    /// Witness side: answers a peer's request to cosign its checkpoint.
    pub async fn witness_checkpoint(
        &self,
        request: &AddCheckpoint,
    ) -> Result<WitnessAnswer, NodeError> {
        // A revoked key must not get a checkpoint cosigned either.
        self.ensure_directory_current().await?;
        let claimed = peek_checkpoint(&request.note).map_err(CheckpointRefusal::Unreadable)?;
        let origin = claimed.origin.clone();
        let Some(log_state) = Self::origin_state(&origin) else {
            return Err(CheckpointRefusal::NotACustosLog(origin).into());
        };
        if log_state == self.state() {
            return Err(CheckpointRefusal::OwnLedger.into());
        }
        let directory = self.directory().ok_or(NodeError::NoDirectory)?;
        let entry = directory
            .entry(log_state)
            .ok_or(NodeError::NotInDirectory(log_state))?;
        let now = self.clock.now();
        let held = self.store.witnessed(&origin).await?;
        let held_cp = match &held {
            Some(h) => {
                let cp = peek_checkpoint(&h.note)
                    .map_err(|e| NodeError::Ledger(LedgerFailure::StoredNote(e)))?;
                Some(WitnessedCheckpoint {
                    origin: origin.clone(),
                    size: h.size,
                    root: cp.root,
                    note: h.note.clone(),
                })
            }
            None => None,
        };
        let witness = self
            .with_keys(|k| Witness::new(&self.witness_name(), k.signing.clone()))
            .map_err(own_key)?;
        let timestamp = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        // The log may have rotated its key: try each key the directory lists as usable now.
        let mut last_error = None;
        let mut decision = None;
        for k in entry
            .signing_keys
            .iter()
            .filter(|k| k.revoked_at.is_none() && k.valid_until.is_none_or(|u| u > now))
        {
            let log_key = VerifierKey::ed25519(&origin, &k.key).map_err(|cause| {
                CheckpointRefusal::BadOrigin {
                    origin: origin.clone(),
                    cause,
                }
            })?;
            match witness.add_checkpoint(&log_key, held_cp.as_ref(), request, timestamp) {
                Ok(d) => {
                    decision = Some(d);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(decision) = decision else {
            return Err(CheckpointRefusal::NotSigned {
                state: log_state,
                cause: last_error,
            }
            .into());
        };
        match decision {
            WitnessDecision::Cosign { cosignature, state } => {
                let record = WitnessedState {
                    origin: origin.clone(),
                    size: state.size,
                    note: state.note,
                    updated_at: now,
                };
                match self
                    .store
                    .put_witnessed(&record, held.as_ref().map(|h| h.size))
                    .await
                {
                    Ok(()) => Ok(WitnessAnswer::Cosigned { cosignature }),
                    Err(StoreError::WitnessConflict { actual, .. }) => {
                        Ok(WitnessAnswer::Conflict {
                            witness_size: actual.unwrap_or(0),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }
            WitnessDecision::Fork(evidence) => {
                let evidence = serde_json::to_value(&evidence)
                    .map_err(|e| LedgerFailure::ForkEvidence(e.to_string()))?;
                self.store.record_fork(&origin, &evidence, now).await?;
                tracing::error!(
                    origin = %origin,
                    alert = "ledger-fork",
                    "FORK DETECTED: {log_state}'s ledger contradicts a checkpoint this node cosigned earlier; the evidence is kept (custos ledger forks)"
                );
                Ok(WitnessAnswer::Fork { evidence })
            }
            WitnessDecision::Inconsistent { witness_size }
            | WitnessDecision::Stale { witness_size } => {
                Ok(WitnessAnswer::Conflict { witness_size })
            }
        }
    }

    /// Log side: asks every peer in the directory to cosign the latest checkpoint.
    pub async fn request_cosignatures(&self) -> Result<Vec<(StateCode, CosignOutcome)>, NodeError> {
        let Some(cp) = self.store.latest_checkpoint().await? else {
            return Ok(Vec::new());
        };
        let Some(directory) = self.directory() else {
            return Ok(Vec::new());
        };
        let peers: Vec<_> = directory
            .entries()
            .filter(|e| e.state != self.state())
            .cloned()
            .collect();
        let mut out = Vec::new();
        for peer in peers {
            let witness = format!("custos.witness/{}", peer.state);
            let from = self
                .store
                .latest_cosigned_size(&witness)
                .await?
                .unwrap_or(0);
            if from >= cp.size {
                out.push((peer.state, CosignOutcome::AlreadyCosigned { size: cp.size }));
                continue;
            }
            let outcome = match self
                .ask_peer(&peer, &witness, from, &cp.note, cp.size)
                .await
            {
                Ok(CosignOutcome::Refused { reason }) if reason.starts_with("conflict:") => {
                    // The witness holds another size: prove from there instead.
                    let size: u64 = reason.trim_start_matches("conflict:").parse().unwrap_or(0);
                    if size <= cp.size {
                        self.ask_peer(&peer, &witness, size, &cp.note, cp.size)
                            .await
                    } else {
                        Ok(CosignOutcome::Refused {
                            reason: format!(
                                "{} holds a larger checkpoint ({size}) than ours ({})",
                                peer.state, cp.size
                            ),
                        })
                    }
                }
                other => other,
            };
            let outcome = outcome.unwrap_or_else(|e| CosignOutcome::Refused {
                reason: e.to_string(),
            });
            out.push((peer.state, outcome));
        }
        Ok(out)
    }

    async fn ask_peer(
        &self,
        peer: &custos_protocol::DirectoryEntry,
        witness: &str,
        from: u64,
        note: &str,
        size: u64,
    ) -> Result<CosignOutcome, NodeError> {
        let mut known = HashMap::new();
        let proof = if from == 0 {
            Vec::new()
        } else {
            self.with_hashes(&mut known, |r| prove_consistency(from, size, r))
                .await?
        };
        let body = AddCheckpoint {
            old_size: from,
            proof,
            note: note.to_owned(),
        };
        let url = routes::url(&peer.node_url, routes::WITNESS, &[]);
        let response = self
            .http
            .post(&url)
            .timeout(self.settings.retry.request_timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| crate::reach::cannot_reach(&url, &e));
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Ok(CosignOutcome::Unreachable { reason: e });
            }
        };
        let status = response.status().as_u16();
        let answer = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<WitnessAnswer>(&answer) {
            Ok(WitnessAnswer::Cosigned { cosignature }) => {
                let cp = peek_checkpoint(note)
                    .map_err(|e| NodeError::Ledger(LedgerFailure::StoredNote(e)))?;
                let verified = peer
                    .signing_keys
                    .iter()
                    .filter_map(|k| VerifierKey::cosignature_v1(witness, &k.key).ok())
                    .any(|vk| verify_cosignature(&cp.to_note_body(), &cosignature, &vk).is_ok());
                if !verified {
                    return Ok(CosignOutcome::Refused {
                        reason: format!("{}'s cosignature does not verify", peer.state),
                    });
                }
                let at = self.clock.now();
                self.store
                    .put_cosignature(&CosignatureRecord {
                        size,
                        witness: witness.to_owned(),
                        line: cosignature,
                        at,
                    })
                    .await?;
                Ok(CosignOutcome::Cosigned { size })
            }
            Ok(WitnessAnswer::Conflict { witness_size }) => Ok(CosignOutcome::Refused {
                reason: format!("conflict:{witness_size}"),
            }),
            Ok(WitnessAnswer::Fork { evidence }) => {
                tracing::error!(peer = %peer.state, "a witness reports that this node's ledger forked");
                Ok(CosignOutcome::Fork { evidence })
            }
            Err(_) => Ok(CosignOutcome::Refused {
                reason: match serde_json::from_slice::<ErrorResponse>(&answer) {
                    Ok(r) => format!(
                        "{url} answered {status} {}: {}",
                        r.error.code, r.error.message
                    ),
                    Err(_) => format!(
                        "{url} answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ),
                },
            }),
        }
    }

    /// The latest checkpoint with every cosignature received for it appended.
    pub async fn cosigned_checkpoint(&self) -> Result<Option<String>, NodeError> {
        let Some(cp) = self.store.latest_checkpoint().await? else {
            return Ok(None);
        };
        let mut note = cp.note;
        for c in self.store.cosignatures(cp.size).await? {
            note.push_str(&c.line);
            if !c.line.ends_with('\n') {
                note.push('\n');
            }
        }
        Ok(Some(note))
    }

    /// Asks peers to cosign on a schedule until `shutdown` resolves.
    pub async fn run_witnessing(
        self: Arc<Self>,
        every: StdDuration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            match self.request_cosignatures().await {
                Ok(results) => {
                    for (peer, outcome) in results {
                        match outcome {
                            CosignOutcome::Refused { reason }
                            | CosignOutcome::Unreachable { reason } => {
                                tracing::warn!(%peer, %reason, "witnessing: no cosignature");
                            }
                            CosignOutcome::Fork { .. } => {
                                tracing::error!(%peer, "witnessing: the witness reports a fork of this ledger");
                            }
                            CosignOutcome::Cosigned { .. }
                            | CosignOutcome::AlreadyCosigned { .. } => {}
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "witnessing failed"),
            }
        }
    }
}
