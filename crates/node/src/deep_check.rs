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
//! goes on. A reader fetches the next page of messages while two threads
//! check the current one; signatures are checked in batches of 64 messages
//! (`custos_seal::verify_batch`, about half the cost of one by one), and a
//! batch that fails is checked again one signature at a time, strictly, so
//! the records that fail are named. Batch verification is not strict
//! verification, which is sound here because every envelope must also have
//! the hash its ledger entry logged when it was first verified strictly.
//! Meanwhile the evidence packages the node accepted are checked against
//! their signed manifests and the entries of their acceptance, which the
//! ledger pass gathers (`evidence/audit.rs`). Last, every confidentiality
//! mark that a signed request, answer or package manifest calls for must be
//! held (issue 18).

use std::collections::{HashMap, HashSet};

use custos_model::StateCode;
use custos_seal::SignatureCheck;
use custos_store::{Direction, RequestFilter, StoredMessage};
use serde_json::Value;
use time::OffsetDateTime;

use crate::evidence::audit::EvidenceLog;
use crate::reads::{Checker, LoggedEntry, check_request_columns, draft_kind};
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
    /// Evidence packages received and accepted that were checked (folders
    /// held and acceptances logged).
    pub evidence: u64,
    /// One line per mismatch, naming the record.
    pub problems: Vec<String>,
}

impl DeepReport {
    /// Records checked (messages, receipts, requests, evidence packages).
    pub fn records(&self) -> u64 {
        self.messages + self.receipts + self.requests + self.evidence
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
    /// The request kind its draft names.
    draft_kind: Option<String>,
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
    /// issue 18: the confidentiality mark its signed content calls for on
    /// its case (a peer's request or answer marked confidential).
    mark: Option<String>,
}

/// `work` over `items`, the first half on this thread and the second on
/// another, the results in the items' order.
fn on_two_threads<I: Sync, T: Send>(
    items: &[I],
    work: impl Fn(&[I]) -> Vec<T> + Sync,
) -> Result<Vec<T>, NodeError> {
    let (a, b) = items.split_at(items.len().div_ceil(2));
    std::thread::scope(|scope| {
        let other = scope.spawn(|| work(b));
        let mut mine = work(a);
        other.join().map(|rest| {
            mine.extend(rest);
            mine
        })
    })
    .map_err(|_| NodeError::Internal("a deep-check thread stopped".into()))
}

/// A signature held back for a batch: the outcome it belongs to, and
/// whether it is the message's own or its receipt's.
struct Held {
    outcome: usize,
    receipt: bool,
}

/// Messages whose signatures are checked in one batch.
const BATCH: usize = 64;

/// Checks a run of messages: everything but signatures one by one, then
/// the signatures as batches; a batch that fails is checked again one
/// signature at a time, strictly, to name the records.
fn check_run(
    checker: &Checker,
    logged: &HashMap<String, Logged>,
    deleted: &HashSet<String>,
    run: &[StoredMessage],
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(run.len());
    for chunk in run.chunks(BATCH) {
        let first = outcomes.len();
        let mut held = Vec::with_capacity(2 * chunk.len());
        let mut checks = Vec::with_capacity(2 * chunk.len());
        for s in chunk {
            if s.message.envelope.is_empty() && deleted.contains(&s.message.thread) {
                outcomes.push(check_deleted(logged, s));
                continue;
            }
            let (outcome, signatures) = check_unsigned(checker, logged, s);
            for (receipt, check) in signatures {
                held.push(Held {
                    outcome: outcomes.len(),
                    receipt,
                });
                checks.push(check);
            }
            outcomes.push(outcome);
        }
        if custos_seal::verify_batch(&checks) {
            continue;
        }
        for h in held {
            let s = &chunk[h.outcome - first];
            let m = &s.message;
            let failed = if h.receipt {
                s.receipt.as_ref().and_then(|r| checker.receipt(m, r).err())
            } else {
                checker.message(m).err()
            };
            if let Some(p) = failed {
                let o = &mut outcomes[h.outcome];
                o.problems.push(format!("message {}: {p}", m.id));
                if !h.receipt {
                    // What an unsigned message says is not taken.
                    o.opening = None;
                    o.mark = None;
                }
            }
        }
    }
    outcomes
}

/// issue 18: retention. A message whose envelope was deleted with its
/// case's content: the ledger must still log it, and its receipt (kept) must
/// have the hash the ledger logged; the content is not there to check.
fn check_deleted(logged: &HashMap<String, Logged>, s: &StoredMessage) -> Outcome {
    let m = &s.message;
    let mut out = Outcome {
        problems: Vec::new(),
        receipt_checked: false,
        opening: None,
        index: None,
        mark: None,
    };
    let on_ledger = logged.get(&m.id);
    match on_ledger.and_then(|l| l.message.as_ref()) {
        None => out.problems.push(format!(
            "message {}: no ledger entry logs it (a row inserted, or its entry removed)",
            m.id
        )),
        Some((index, _)) => out.index = Some(*index),
    }
    if let Some(r) = &s.receipt {
        out.receipt_checked = true;
        let logged_hash = on_ledger.and_then(|l| l.receipt.as_deref());
        if logged_hash != Some(custos_seal::content_id(r).as_str()) {
            out.problems.push(format!(
                "message {}: its receipt is not the one the ledger logged",
                m.id
            ));
        }
    }
    out
}

/// Checks one message and its receipt, all but their signatures, which
/// it gives back for a batch (`true`: the receipt's).
fn check_unsigned(
    checker: &Checker,
    logged: &HashMap<String, Logged>,
    s: &StoredMessage,
) -> (Outcome, Vec<(bool, SignatureCheck)>) {
    let m = &s.message;
    // Named only when something is wrong: most messages have nothing to say.
    let name = MessageName(&m.id);
    let mut out = Outcome {
        problems: Vec::new(),
        receipt_checked: false,
        opening: None,
        index: None,
        mark: None,
    };
    let mut signatures = Vec::with_capacity(2);
    let on_ledger = logged.get(&m.id);
    let checked = checker.message_unsigned(m).and_then(|(checked, envelope)| {
        let check = checker.message_signature(&checked, &envelope)?;
        signatures.push((false, check));
        Ok(checked)
    });
    match checked {
        Err(p) => out.problems.push(format!("{name}: {p}")),
        Ok(checked) => {
            // The hash the entry sealed with the envelope logs, which
            // `message_unsigned` checked against the envelope itself.
            let hash = checked.entry.envelope_sha256.as_deref();
            match on_ledger.and_then(|l| l.message.as_ref()) {
                None => out.problems.push(format!(
                    "{name}: no ledger entry logs it (a row inserted, or its entry removed)"
                )),
                Some((index, logged_hash)) => {
                    if logged_hash.as_deref() != hash {
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
            if m.direction == Direction::Incoming {
                out.mark = crate::intake::confidential_source(&checked.message, &m.id);
            }
            out.opening = checked.message.draft().map(|d| Opening {
                draft_kind: draft_kind(d).map(str::to_owned),
                direction: m.direction,
                counterpart: m.counterpart,
                logged_at: checked.entry.at,
            });
        }
    }
    match (&s.receipt, on_ledger.and_then(|l| l.receipt.as_ref())) {
        (Some(r), logged_hash) => {
            out.receipt_checked = true;
            match checker.receipt_signature(m, r) {
                Err(p) => out.problems.push(format!("{name}: {p}")),
                Ok(check) => {
                    signatures.push((true, check));
                    if logged_hash.map(String::as_str) != Some(custos_seal::content_id(r).as_str())
                    {
                        out.problems.push(format!(
                            "{name}: its receipt is not the one the ledger logged"
                        ));
                    }
                }
            }
        }
        (None, Some(_)) => out.problems.push(format!(
            "{name}: the ledger logged a receipt for it, but none is held"
        )),
        (None, None) => {}
    }
    (out, signatures)
}

/// "message ID", written only when a problem is named.
struct MessageName<'a>(&'a str);

impl std::fmt::Display for MessageName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {}", self.0)
    }
}

/// What the message pass keeps between pages.
struct MessagePass {
    /// Every message id seen.
    held: HashSet<String>,
    /// Per thread, the ledger index of the last message seen and its id.
    last_index: HashMap<String, (u64, String)>,
    /// Per thread, its first message as signed.
    openings: HashMap<String, Opening>,
    /// Every thread seen.
    first_of_thread: HashSet<String>,
    /// issue 18: the cases whose content was deleted.
    deleted: HashSet<String>,
    /// issue 18: the confidentiality marks the signed messages call for,
    /// as (case, source).
    marks: HashSet<(String, String)>,
}

/// A page of messages and their outcomes, as a checking task ends.
type Checked =
    Result<(Vec<StoredMessage>, Result<Vec<Outcome>, NodeError>), tokio::task::JoinError>;

impl MessagePass {
    /// Room for `messages` messages, so that the maps do not rehash.
    fn with_capacity(messages: usize, deleted: HashSet<String>) -> Self {
        MessagePass {
            deleted,
            held: HashSet::with_capacity(messages),
            last_index: HashMap::with_capacity(messages),
            openings: HashMap::with_capacity(messages),
            first_of_thread: HashSet::with_capacity(messages),
            marks: HashSet::new(),
        }
    }

    /// Adds a checked page's outcomes to the report, in recording order.
    fn merge(&mut self, checked: Checked, report: &mut DeepReport) -> Result<(), NodeError> {
        let (page, outcomes) = checked
            .map_err(|e| NodeError::Internal(format!("a deep-check thread stopped: {e}")))?;
        for (s, outcome) in page.iter().zip(outcomes?) {
            let m = &s.message;
            report.messages += 1;
            report.receipts += u64::from(outcome.receipt_checked);
            report.problems.extend(outcome.problems);
            if let Some(source) = outcome.mark {
                self.marks.insert((m.thread.clone(), source));
            }
            if !self.held.insert(m.id.clone()) {
                report
                    .problems
                    .push(format!("message {}: held twice", m.id));
            }
            if let Some(index) = outcome.index {
                match self.last_index.get_mut(&m.thread) {
                    Some((prev, prev_id)) => {
                        if *prev > index {
                            report.problems.push(format!(
                                "message {}: recorded after message {prev_id} of its thread, which the ledger logged later (rows reordered)",
                                m.id
                            ));
                        }
                        *prev = index;
                        prev_id.clone_from(&m.id);
                    }
                    None => {
                        self.last_index
                            .insert(m.thread.clone(), (index, m.id.clone()));
                    }
                }
            }
            if !self.first_of_thread.contains(&m.thread) {
                self.first_of_thread.insert(m.thread.clone());
                match outcome.opening {
                    Some(o) => {
                        self.openings.insert(m.thread.clone(), o);
                    }
                    None if self.deleted.contains(&m.thread) => {}
                    None => report.problems.push(format!(
                        "request {}: its thread does not open with its signed submission (message {})",
                        m.thread, m.id
                    )),
                }
            }
        }
        Ok(())
    }
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

        // The requests are read meanwhile, for pass 3 (a request made
        // after this read is not checked; one read later could lack the
        // messages pass 2 saw).
        let store = self.store.clone();
        let requests =
            tokio::spawn(async move { store.list_requests(&RequestFilter::default()).await });

        // Pass 1: the ledger, each page parsed on two threads.
        let size = self.store.ledger_size().await?;
        // Sized for the ledger at once: growing maps of a million keys
        // rehash them again and again.
        let expected = usize::try_from(size).unwrap_or(0);
        let mut logged: HashMap<String, Logged> = HashMap::with_capacity(expected);
        let mut drafted: HashMap<String, Vec<String>> = HashMap::new();
        let mut evidence = EvidenceLog::default();
        let mut from = 0;
        while from < size {
            let page = self.store.ledger_entries(from, LEDGER_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let parsed = on_two_threads(&page, |part| {
                part.iter()
                    .map(|e| serde_json::from_slice::<LoggedEntry>(&e.entry).ok())
                    .collect()
            })?;
            for (e, entry) in page.iter().zip(parsed) {
                let Some(entry) = entry else {
                    report.problems.push(format!(
                        "ledger entry {}: does not parse (`ledger verify` checks the log itself)",
                        e.index
                    ));
                    continue;
                };
                evidence.see(e.index, &entry);
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

        // The evidence packages, on the blocking pool meanwhile.
        let evidence = self.audit_evidence(evidence);

        // Pass 2: the messages, in recording order.
        let checker = self.checker();
        let deleted: HashSet<String> = self.store.deleted_cases().await?.into_iter().collect();
        let mut pass = MessagePass::with_capacity(logged.len(), deleted.clone());
        // A reader fetches the next page while two threads check this one,
        // and the outcomes of the page before are merged meanwhile.
        let (pages, mut next_page) = tokio::sync::mpsc::channel(2);
        let store = self.store.clone();
        let reader = tokio::spawn(async move {
            let mut after = 0;
            loop {
                let page = store.messages_page(after, PAGE).await;
                let last = page.as_ref().ok().and_then(|p| p.last().map(|m| m.seq));
                let end = !matches!(page, Ok(ref p) if !p.is_empty());
                if pages.send(page).await.is_err() || end {
                    return;
                }
                after = last.unwrap_or(after);
            }
        });
        let shared = std::sync::Arc::new((checker, logged, deleted));
        let mut in_flight = None;
        while let Some(page) = next_page.recv().await {
            let page = page?;
            if page.is_empty() {
                break;
            }
            let work = shared.clone();
            let checking = tokio::task::spawn_blocking(move || {
                let (checker, logged, deleted) = &*work;
                let outcomes =
                    on_two_threads(&page, |part| check_run(checker, logged, deleted, part));
                (page, outcomes)
            });
            if let Some(previous) = in_flight.replace(checking) {
                pass.merge(previous.await, &mut report)?;
            }
        }
        if let Some(last) = in_flight {
            pass.merge(last.await, &mut report)?;
        }
        reader
            .await
            .map_err(|e| NodeError::Internal(format!("the deep-check reader stopped: {e}")))?;
        let MessagePass {
            held,
            openings,
            first_of_thread,
            marks: mut expected_marks,
            ..
        } = pass;
        let (checker, logged, deleted) = &*shared;
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
        let requests = requests.await.map_err(|e| {
            NodeError::Internal(format!("the deep-check request reader stopped: {e}"))
        })??;
        for r in requests {
            report.requests += 1;
            let name = format!("request {}", r.id);
            let problem = if deleted.contains(&r.id) {
                // Its content was deleted: the columns stay, unchecked.
                None
            } else if let Some(o) = openings.get(&r.id) {
                check_request_columns(
                    &r,
                    o.draft_kind.as_deref(),
                    o.direction,
                    o.counterpart,
                    o.logged_at,
                )
                .err()
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
                                        draft_kind(&d),
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
        let evidence = evidence.finish().await?;
        report.evidence = evidence.checked;
        report.problems.extend(evidence.problems);

        // issue 18: every mark the signed content calls for is held. A mark
        // removed would show a confidential case to people not assigned to
        // it; a mark no content explains only hides more, and is not named.
        expected_marks.extend(evidence.marks);
        let held_marks: HashSet<(String, String)> = self
            .store
            .all_confidential_marks()
            .await?
            .into_iter()
            .map(|m| (m.case_id, m.source))
            .collect();
        let mut unmarked: Vec<&(String, String)> = expected_marks
            .iter()
            .filter(|m| !held_marks.contains(*m))
            .collect();
        unmarked.sort();
        for (case, source) in unmarked {
            report.problems.push(format!(
                "case {case}: its signed content ({source}) marks it confidential, but the node holds no such mark (removed: the case would be shown to people not assigned to it)"
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at_rest::{RecordKind, StorageKey};
    use crate::custody::{Entry, EntryKind};
    use custos_model::{RequestKind, template, validate};
    use custos_protocol::{KeyValidity, Message, MessageId, new_thread_id};
    use custos_seal::{Envelope, SigningKey};
    use custos_store::MessageRecord;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

    /// `n` outgoing submissions from FR to DE, stored as a node stores them
    /// (sealed, with the entry that logs each), and the ledger's view of
    /// them. The message at `forged` carries a signature by another key,
    /// with an entry logging exactly that envelope, as someone holding the
    /// database and the storage key but not the signing key could write.
    fn stored(n: usize, forged: usize) -> (Checker, HashMap<String, Logged>, Vec<StoredMessage>) {
        let (me, to) = ("FR".parse().unwrap(), "DE".parse().unwrap());
        let (ours, other) = (SigningKey::generate(), SigningKey::generate());
        let storage = StorageKey::from_bytes(&[7; 32]);
        let draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
        let mut logged = HashMap::new();
        let mut rows = Vec::new();
        for i in 0..n {
            let thread = new_thread_id(uuid::Uuid::new_v4());
            let message = Message::submit(me, to, thread.clone(), None, AT, draft.clone());
            let payload = message.to_canonical_json().unwrap();
            let id = MessageId::of_payload(&payload).to_string();
            let signer = if i == forged { &other } else { &ours };
            let envelope = Envelope::sign(message.kind.payload_type(), &payload, signer).to_json();
            let entry = Entry::new(EntryKind::MessageSent, AT, "test")
                .request(thread.clone())
                .subject(id.clone())
                .envelope(&envelope)
                .encode()
                .unwrap();
            let sealed = storage
                .seal(RecordKind::Message, &id, 0, &entry, &envelope)
                .unwrap();
            logged.insert(
                id.clone(),
                Logged {
                    message: Some((i as u64, Some(custos_seal::content_id(&envelope)))),
                    receipt: None,
                },
            );
            rows.push(StoredMessage {
                seq: i as u64 + 1,
                receipt: None,
                message: MessageRecord {
                    id,
                    thread,
                    direction: Direction::Outgoing,
                    counterpart: to,
                    kind: "submit".into(),
                    prev: None,
                    created_at: AT,
                    recorded_at: AT,
                    envelope: sealed,
                },
            });
        }
        // The forged message names our key id, so its signature is checked
        // against our key.
        let checker = Checker {
            me,
            storage,
            own_keys: vec![KeyValidity {
                key: ours.verifying_key(),
                valid_from: AT - time::Duration::days(1),
                valid_until: None,
                revoked_at: None,
            }],
            directory: None,
        };
        (checker, logged, rows)
    }

    #[test]
    fn a_bad_signature_in_a_batch_is_named_and_the_rest_pass() {
        let (checker, logged, mut rows) = stored(70, 41);
        // The forged envelope names our key id, as a forger would.
        let forged = &mut rows[41].message;
        let opened = checker
            .storage
            .open(RecordKind::Message, &forged.id, &forged.envelope)
            .unwrap();
        let mut envelope = Envelope::from_json(&opened.content).unwrap();
        envelope.signatures[0].keyid = checker.own_keys[0].key.key_id();
        let json = envelope.to_json();
        let entry = Entry::new(EntryKind::MessageSent, AT, "test")
            .request(forged.thread.clone())
            .subject(forged.id.clone())
            .envelope(&json)
            .encode()
            .unwrap();
        forged.envelope = checker
            .storage
            .seal(RecordKind::Message, &forged.id, 0, &entry, &json)
            .unwrap();
        let mut logged = logged;
        logged.get_mut(&forged.id).unwrap().message =
            Some((41, Some(custos_seal::content_id(&json))));

        let outcomes = check_run(&checker, &logged, &HashSet::new(), &rows);
        assert_eq!(outcomes.len(), 70);
        for (i, o) in outcomes.iter().enumerate() {
            if i == 41 {
                assert_eq!(o.problems.len(), 1, "{:?}", o.problems);
                assert!(
                    o.problems[0].contains(&rows[41].message.id)
                        && o.problems[0].contains("signature does not verify"),
                    "{:?}",
                    o.problems
                );
                assert!(o.opening.is_none(), "an unsigned submission opens nothing");
            } else {
                assert!(o.problems.is_empty(), "message {i}: {:?}", o.problems);
                assert!(o.opening.is_some());
            }
        }
    }

    #[test]
    fn batches_that_pass_leave_nothing_to_report() {
        let (checker, logged, rows) = stored(3, usize::MAX);
        let outcomes = check_run(&checker, &logged, &HashSet::new(), &rows);
        assert!(
            outcomes
                .iter()
                .all(|o| o.problems.is_empty() && o.opening.is_some())
        );
    }
}
