//! The `custos` binary's integration tests, in one test binary.
//!
//! One binary links the harness and the crates once, where a binary per
//! file compiled them again for each. Each module is one story; run one
//! with a name filter, for example `cargo test -p custos-cli --test it
//! security::` or `UPDATE_DOCS=1 cargo test -p custos-cli --test it docs::`.
//!
//! - `common`: the harness, a small network of real `custos` processes on
//!   loopback.
//! - `alerts`: the on-call rota and alerts reaching the person on duty by
//!   mail (a real SMTP server) and signed webhooks, escalated, acknowledged.
//! - `architecture`: the dependency rules between crates.
//! - `case`: cases between two nodes, shown, acted on and listed.
//! - `case_scenarios`: whole cases between two nodes (executed and closed,
//!   refused after consultation), the refusals the Convention forbids and
//!   illegal transitions refused before sending and at intake, both nodes
//!   showing the same case after every step.
//! - `clocks`: the cases' clocks run by two serving nodes whose time the
//!   test moves (preservation ends, escalation, a restarted scheduler).
//! - `cli`: commands of one node, without a network.
//! - `desk`: the web desk in headless Chromium against real nodes.
//! - `docs`: generated documents under `docs/` are fresh.
//! - `drafts`: drafts read from files (size limit, unreadable files) and
//!   checked against the treaty registry; treaty status.
//! - `evidence`, `evidence_transfer`: evidence packages sealed, verified,
//!   opened and sent between nodes.
//! - `federation`: requests between nodes, refusals, keys and directories.
//! - `first_hour`: what a newcomer meets first: exit statuses, errors that
//!   name the next step, empty listings said, `CUSTOS_DATA`, State codes in
//!   any case, templates and the sample marker, the demo's closing words and
//!   the README's three-node walk run twice in a row.
//! - `ledger`, `witness`: the custody ledger, its proofs and cosignatures.
//! - `people`: users added at the command line signing in through the API
//!   of a serving node; their tokens created, listed and revoked.
//! - `privacy`: no log line, metric, alert or statistics report of a
//!   whole scenario carries a case's facts, names or identifiers.
//! - `audit`: the record of who saw what, and a case's grants, through the binary.
//! - `backup`: a node backed up while messages arrive, restored elsewhere,
//!   every record found and the witness accepting the same log.
//! - `stats`: the oversight statistics report, its forms, signed and verified.
//! - `retention`: a case's retention shown, changed, held and purged, the
//!   other node told (issue 18).
//! - `tls`: serving over TLS, with and without client certificates.
//! - `security`: Custos tried as an attacker would, one module per attacker.
//! - `service`: the systemd unit's command line serving a ready node with
//!   JSON logs; `custos --version`.

mod common;

mod alerts;
mod architecture;
mod audit;
mod backup;
mod case;
mod case_scenarios;
mod cli;
mod clocks;
mod desk;
mod docs;
mod drafts;
mod evidence;
mod evidence_transfer;
mod federation;
mod first_hour;
mod ledger;
mod people;
mod privacy;
mod retention;
mod security;
mod service;
mod stats;
mod tls;
mod upgrade;
mod witness;
