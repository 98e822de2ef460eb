//! Deep verification: every stored record against its signature and its ledger entry.
//!
//! `custos ledger verify --deep` runs [`Node::verify_deep`]: one streaming
//! pass over the ledger builds, for every message, the entry that logged
//! it (index and envelope hash) and the entries of its receipt; one pass
//! over the messages in recording order opens each sealed envelope and
//! checks it as a read does (`reads.rs`: signature, id, columns), then
//! against the ledger: an entry must log it, with its hash, at or after
//! the ledger size sealed with it; within a thread, messages recorded
//! later must be logged later; a receipt must verify, name the message and
//! have the hash its ledger entry logged. Then every request's columns are
//! checked against its first message or its sealed draft. Every mismatch
//! is named (a changed, removed, moved or inserted record) and the pass
//! goes on. Message pages are checked on two threads (signature checks
//! dominate the cost).

use std::collections::{HashMap, HashSet};

use custos_model::StateCode;
use custos_store::{Direction, RequestFilter, StoredMessage};
use serde_json::Value;
use time::OffsetDateTime;

use crate::reads::{Checker, LoggedEntry, check_request_columns};
use crate::{Node, NodeError};

/// Messages read per page.
const PAGE: u32 = 4096;
/// Ledger entries read per page.
const LEDGER_PAGE: u32 = 10_000;

/// What deep verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeepReport {
    /// Ledger entries read.
    pub ledger_entries: u64,
    /// Messages checked.
    pub messages: u64,
    /// Receipts checked.
    pub receipts: u64,
    /// Requests checked.
    pub requests: u64,
    /// One line per mismatch, naming the record.
    pub problems: Vec<String>,
}

impl DeepReport {
    /// Records checked (messages, receipts, requests).
    pub fn records(&self) -> u64 {
        self.messages + self.receipts + self.requests
    }
}

/// What the ledger says of one message.
#[derive(Default)]
struct Logged {
    /// The entry logging the message: index and envelope hash.
    message: Option<(u64, Option<String>)>,
    /// The entry logging its receipt's hash.
    receipt: Option<String>,
}

/// What the message pass keeps for the request pass: the thread's first
/// message, as signed.
struct Opening {
    draft: Option<Value>,
    direction: Direction,
    counterpart: StateCode,
    logged_at: OffsetDateTime,
}

/// One message's outcome, computed on a worker thread.
struct Outcome {
    problems: Vec<String>,
    receipt_checked: bool,
    opening: Option<Opening>,
    /// The index of its ledger entry, when it has one.
    index: Option<u64>,
}

fn check_one(checker: &Checker, logged: &HashMap<String, Logged>, s: &StoredMessage) -> Outcome {
    let m = &s.message;
    let name = format!("message {}", m.id);
    let mut out = Outcome {
        problems: Vec::new(),
        receipt_checked: false,
        opening: None,
        index: None,
    };
    let on_ledger = logged.get(&m.id);
    match checker.message(m) {
        Err(p) => out.problems.push(format!("{name}: {p}")),
        Ok(checked) => {
            let hash = custos_seal::content_id(&checked.opened.content);
            match on_ledger.and_then(|l| l.message.as_ref()) {
                None => out.problems.push(format!(
                    "{name}: no ledger entry logs it (a row inserted, or its entry removed)"
                )),
                Some((index, logged_hash)) => {
                    if logged_hash.as_deref() != Some(hash.as_str()) {
                        out.problems.push(format!(
                            "{name}: ledger entry {index} logs another envelope hash"
                        ));
                    } else if *index < checked.opened.ledger_from {
                        out.problems.push(format!(
                            "{name}: ledger entry {index} is older than the message"
                        ));
                    }
                    out.index = Some(*index);
                }
            }
            out.opening = checked.message.draft().is_some().then(|| Opening {
                draft: checked.message.draft().cloned(),
                direction: m.direction,
                counterpart: m.counterpart,
                logged_at: checked.entry.at,
            });
        }
    }
    match (&s.receipt, on_ledger.and_then(|l| l.receipt.as_ref())) {
        (Some(r), logged_hash) => {
            out.receipt_checked = true;
            if let Err(p) = checker.receipt(m, r) {
                out.problems.push(format!("{name}: {p}"));
            } else if logged_hash.map(String::as_str) != Some(custos_seal::content_id(r).as_str()) {
                out.problems.push(format!(
                    "{name}: its receipt is not the one the ledger logged"
                ));
            }
        }
        (None, Some(_)) => out.problems.push(format!(
            "{name}: the ledger logged a receipt for it, but none is held"
        )),
        (None, None) => {}
    }
    out
}

impl Node {
    /// Checks every stored message, receipt and request against its
    /// signature and its ledger entry; see the module documentation.
    /// Mismatches are reported, not returned as errors; an error means the
    /// check itself could not run.
    pub async fn verify_deep(&self) -> Result<DeepReport, NodeError> {
        let mut report = DeepReport::default();
        // Entries still queued are logged once sequenced: sequence first.
        self.sequence_all().await?;

        // Pass 1: the ledger.
        let size = self.store.ledger_size().await?;
        let mut logged: HashMap<String, Logged> = HashMap::new();
        let mut drafted: HashMap<String, Vec<String>> = HashMap::new();
        let mut from = 0;
        while from < size {
            let page = self.store.ledger_entries(from, LEDGER_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let Ok(entry) = serde_json::from_slice::<LoggedEntry>(&e.entry) else {
                    report.problems.push(format!(
                        "ledger entry {}: does not parse (`ledger verify` checks the log itself)",
                        e.index
                    ));
                    continue;
                };
                match (entry.kind.as_str(), entry.subject) {
                    ("message-sent" | "message-received", Some(subject)) => {
                        logged.entry(subject).or_default().message =
                            Some((e.index, entry.envelope_sha256));
                    }
                    ("receipt-issued" | "receipt-received", Some(subject)) => {
                        if let Some(h) = entry.envelope_sha256 {
                            logged.entry(subject).or_default().receipt = Some(h);
                        }
                    }
                    ("decision", None) => {
                        if let (Some(request), Some(h)) = (entry.request, entry.envelope_sha256) {
                            drafted.entry(request).or_default().push(h);
                        }
                    }
                    _ => {}
                }
            }
            report.ledger_entries += page.len() as u64;
            from += page.len() as u64;
        }

        // Pass 2: the messages, in recording order.
        let checker = self.checker();
        let mut held: HashSet<String> = HashSet::new();
        let mut last_index: HashMap<String, (u64, String)> = HashMap::new();
        let mut openings: HashMap<String, Opening> = HashMap::new();
        let mut first_of_thread: HashSet<String> = HashSet::new();
        let mut after = 0;
        loop {
            let page = self.store.messages_page(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let outcomes = {
                let (checker, logged) = (&checker, &logged);
                let half = page.len().div_ceil(2);
                std::thread::scope(|scope| {
                    let (a, b) = page.split_at(half);
                    let other = scope.spawn(move || {
                        b.iter()
                            .map(|s| check_one(checker, logged, s))
                            .collect::<Vec<_>>()
                    });
                    let mut mine: Vec<Outcome> =
                        a.iter().map(|s| check_one(checker, logged, s)).collect();
                    match other.join() {
                        Ok(rest) => mine.extend(rest),
                        Err(_) => {
                            return Err(NodeError::Internal("a deep-check thread stopped".into()));
                        }
                    }
                    Ok(mine)
                })?
            };
            for (s, outcome) in page.iter().zip(outcomes) {
                let m = &s.message;
                report.messages += 1;
                report.receipts += u64::from(outcome.receipt_checked);
                report.problems.extend(outcome.problems);
                if !held.insert(m.id.clone()) {
                    report
                        .problems
                        .push(format!("message {}: held twice", m.id));
                }
                if let Some(index) = outcome.index
                    && let Some((prev, prev_id)) =
                        last_index.insert(m.thread.clone(), (index, m.id.clone()))
                    && prev > index
                {
                    report.problems.push(format!(
                        "message {}: recorded after message {prev_id} of its thread, which the ledger logged later (rows reordered)",
                        m.id
                    ));
                }
                if first_of_thread.insert(m.thread.clone()) {
                    match outcome.opening {
                        Some(o) => {
                            openings.insert(m.thread.clone(), o);
                        }
                        None => report.problems.push(format!(
                            "request {}: its thread does not open with its signed submission (message {})",
                            m.thread, m.id
                        )),
                    }
                }
            }
        }
        let mut missing: Vec<(u64, &String)> = logged
            .iter()
            .filter(|(id, l)| l.message.is_some() && !held.contains(*id))
            .filter_map(|(id, l)| l.message.as_ref().map(|(i, _)| (*i, id)))
            .collect();
        missing.sort();
        for (index, id) in missing {
            report.problems.push(format!(
                "message {id}: logged by ledger entry {index}, but not held (a row removed)"
            ));
        }

        // Pass 3: the requests.
        let requests = self.store.list_requests(&RequestFilter::default()).await?;
        for r in requests {
            report.requests += 1;
            let name = format!("request {}", r.id);
            let problem = if let Some(o) = openings.get(&r.id) {
                match &o.draft {
                    Some(d) => {
                        check_request_columns(&r, d, o.direction, o.counterpart, o.logged_at).err()
                    }
                    None => Some("its submission holds no draft".into()),
                }
            } else if first_of_thread.contains(&r.id) {
                // Already named in the message pass.
                None
            } else {
                match self.store.get_request(&r.id).await?.and_then(|r| r.draft) {
                    None => Some("neither its signed submission nor a sealed draft is held".into()),
                    Some(sealed) => match checker.saved_draft(&r, &sealed) {
                        Err(p) => Some(p),
                        Ok((d, opened, logged_at)) => {
                            let hash = custos_seal::content_id(&opened.content);
                            let to = d
                                .get("requested_state")
                                .and_then(Value::as_str)
                                .and_then(|s| s.parse::<StateCode>().ok());
                            if !drafted.get(&r.id).is_some_and(|h| h.contains(&hash)) {
                                Some("no ledger entry logs its draft".into())
                            } else {
                                match to {
                                    None => Some("its draft names no requested State".into()),
                                    Some(to) => check_request_columns(
                                        &r,
                                        &d,
                                        Direction::Outgoing,
                                        to,
                                        logged_at,
                                    )
                                    .err(),
                                }
                            }
                        }
                    },
                }
            };
            if let Some(p) = problem {
                report.problems.push(format!("{name}: {p}"));
            }
        }
        if !report.problems.is_empty() {
            self.records_tampered_add(report.problems.len() as u64);
            for p in &report.problems {
                tracing::error!(problem = %p, "deep verification found a tampered record");
            }
        }
        Ok(report)
    }
}
