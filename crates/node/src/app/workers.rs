//! The node's background workers, started and stopped together: the outbox
//! (delivery with back-off), the ledger sequencer, the expiry of partial
//! evidence uploads, the rounds asking peers to cosign checkpoints, and the
//! scheduler that fires the cases' clock events (`clocks.rs`), and the
//! delivery of alerts to the people on duty (`alerts.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Node;

/// The running workers of a node; [`Workers::shutdown`] stops them.
#[derive(Debug)]
#[must_use = "workers run until shut down"]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts every background worker of a serving node; peers are asked to
    /// cosign the ledger's checkpoint every `witness_every`.
    pub fn start_workers(self: &Arc<Self>, witness_every: Duration) -> Workers {
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(Arc::clone(self).run_outbox(stopped.clone())),
            tokio::spawn(Arc::clone(self).run_sequencer(stopped.clone())),
            tokio::spawn(Arc::clone(self).run_evidence_expiry(stopped.clone())),
            tokio::spawn(Arc::clone(self).run_witnessing(witness_every, stopped.clone())),
            tokio::spawn(Arc::clone(self).run_scheduler(stopped.clone())),
            tokio::spawn(Arc::clone(self).run_alerts(stopped.clone())),
            // issue 18: retention
            tokio::spawn(Arc::clone(self).run_retention(stopped)),
        ];
        Workers { stop, tasks }
    }
}

impl Workers {
    /// Asks every worker to stop and waits until each has finished its
    /// current step.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background worker ended abnormally");
            }
        }
    }
}
