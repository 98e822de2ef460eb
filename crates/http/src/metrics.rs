//! `GET /metrics`: the node's state in the Prometheus text format, for the operator's monitoring.
//!
//! A detected ledger fork shows as `custos_ledger_forks_detected > 0`, so an
//! alert rule can page the operator; queued and failed deliveries and refused
//! messages are there too. Values are read from the store at each scrape.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use custos_node::Node;

use crate::error::ApiError;

/// The most rows counted per family; a count at this value means "at least".
const COUNT_CAP: u32 = 100_000;

/// The counters, for a bearer allowed `read-metrics` (the monitoring
/// scope): a scrape is a read of the node like any other, recorded.
pub async fn metrics(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = crate::api::authenticate(&node, &headers).await?;
    let counts = node.metrics_counts(&who, COUNT_CAP).await?;
    let (ledger, forks, pending, failed, refused) = (
        counts.ledger_entries,
        counts.forks,
        counts.outbox_pending,
        counts.outbox_failed,
        counts.refusals,
    );
    let directory = node.directory().map(|d| d.version()).unwrap_or(0);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    gauge(
        "custos_ledger_entries",
        "Entries in this node's custody ledger.",
        ledger.to_string(),
    );
    gauge(
        "custos_ledger_forks_detected",
        "Forks this node, as a witness, found in peers' ledgers (alert when above 0).",
        forks.to_string(),
    );
    gauge(
        "custos_outbox_pending",
        "Outgoing messages waiting for delivery.",
        pending.to_string(),
    );
    gauge(
        "custos_outbox_failed",
        "Outgoing messages given up on.",
        failed.to_string(),
    );
    gauge(
        "custos_refused_messages",
        "Incoming messages refused (duplicates included).",
        refused.to_string(),
    );
    gauge(
        "custos_custody_unavailable",
        "1 while the custody ledger cannot be extended and messages and evidence are refused (the log says why).",
        u8::from(node.custody_fault().is_some()).to_string(),
    );
    gauge(
        "custos_directory_version",
        "Version of the directory in force (0: none).",
        directory.to_string(),
    );
    let around = node.surroundings();
    if let Some(seconds) = around.directory_expires_in {
        gauge(
            "custos_directory_expires_in_seconds",
            "Seconds until the directory in force expires (negative once it has; absent without a directory).",
            seconds.to_string(),
        );
    }
    if around.signing_key_listed {
        gauge(
            "custos_signing_key_expires_in_seconds",
            "Seconds until this node's signing key ends its validity in the directory (+Inf: no end; absent while the directory does not list it).",
            around
                .signing_key_expires_in
                .map_or_else(|| "+Inf".to_owned(), |s| s.to_string()),
        );
    }
    if let Some(free) = around.disk_free_bytes {
        gauge(
            "custos_disk_free_bytes",
            "Bytes free for the node on the data folder's file system.",
            free.to_string(),
        );
    }
    gauge(
        "custos_disk_reserve_bytes",
        "Free space below which messages are refused as insufficient-storage (0: no reserve).",
        around.disk_reserve_bytes.to_string(),
    );
    gauge(
        "custos_ready",
        "1 when the node is ready (the checks of /readyz), 0 otherwise.",
        u8::from(node.readiness().await.ready).to_string(),
    );
    let _ = write!(
        out,
        "# HELP custos_records_tampered_total Stored records that failed their check on a read by this process (content, column or ledger entry changed, or a record removed, moved or inserted).\n\
         # TYPE custos_records_tampered_total counter\ncustos_records_tampered_total {}\n",
        node.records_tampered()
    );
    let clocks = node.clock_counts();
    let _ = write!(
        out,
        "# HELP custos_clock_events_total Case clock events this process's scheduler fired (each once per case, clock, event and due instant), by event.\n\
         # TYPE custos_clock_events_total counter\n\
         custos_clock_events_total{{event=\"warning\"}} {}\n\
         custos_clock_events_total{{event=\"overdue\"}} {}\n\
         custos_clock_events_total{{event=\"ended\"}} {}\n\
         custos_clock_events_total{{event=\"escalation\"}} {}\n",
        clocks.warnings, clocks.overdue, clocks.ended, clocks.escalations_sent
    );
    let _ = write!(
        out,
        "# HELP custos_escalations_received_total Status queries received marked as an escalation (a peer's emergency request not acknowledged in its target).\n\
         # TYPE custos_escalations_received_total counter\ncustos_escalations_received_total {}\n",
        clocks.escalations_received
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
