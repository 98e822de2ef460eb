//! Sending an evidence package to a peer node: verified chunks, resumed
//! after any interruption.
//!
//! The package is checked locally first ([`Node::check_package_for_send`]):
//! the manifest verifies against the directory and is this node's, and every
//! segment file is there with the size the manifest declares. Then, for each
//! recipient, [`Node::send_evidence`] offers the manifest, learns which
//! segments the receiver already verified, streams only the missing ones
//! from disk (constant memory), asks for acceptance, and checks the signed
//! evidence receipt and the custody proof that come back. The receipt is
//! kept in `PKG/receipts/<CC>.json` and the send logged in the custody
//! ledger (`evidence-sent`, `receipt-received`).
//!
//! Connection failures and 5xx answers are retried with back-off (1 s
//! doubling to 30 s) for as long as the caller allows; every retry asks the
//! receiver's status again, so verified segments are never sent twice. A
//! typed refusal (4xx, or `insufficient-storage`) ends the send at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use custos_ledger::ProofBundle;
use custos_model::StateCode;
use custos_protocol::evidence::{VerifiedManifest, verify_manifest};
use custos_protocol::evidence_transfer::{
    EvidenceReceipt, UploadStatus, package_hex, verify_evidence_receipt,
};
use custos_protocol::evidence_upload::{UPLOAD_AUTH_HEADER, sign_upload_auth};
use custos_protocol::federation::SegmentVerified;
use custos_protocol::{ErrorCode, ErrorResponse, routes};
use serde_json::{Value, json};

use super::layout::{RECEIPTS_DIR, manifest_path, segment_path};
use crate::custody::{Entry, EntryKind, ProvedReceipt};
use crate::{Node, NodeError};

/// The first wait after a failed attempt; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a send keeps retrying by default.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(600);
/// The history event of a request recording an evidence package sent for
/// it and receipted by the State it went to (`detail.package`, `detail.to`).
pub const EVIDENCE_SENT_EVENT: &str = "evidence-sent";

/// How many bytes of a segment file are read and sent at a time.
const READ_CHUNK: usize = 256 * 1024;

/// How a send behaves.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// How long to keep retrying after connection failures and 5xx answers.
    pub retry_for: Duration,
    /// At most this many bytes per second (none: as fast as the link goes).
    pub limit_rate: Option<u64>,
    /// An upload that moves no byte and gets no answer for this long is
    /// abandoned (and retried).
    pub idle_timeout: Duration,
    /// The timeout of the small requests (manifest, status, acceptance).
    pub request_timeout: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            retry_for: DEFAULT_RETRY_FOR,
            limit_rate: None,
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// What the sender reports while it works: plain lines, and byte progress.
pub trait SendObserver: Send + Sync {
    /// A line for the operator, such as "FR already has 12 of 40 segments; sending 28".
    fn say(&self, line: &str);
    /// A round of uploads of `total` bytes starts.
    fn start(&self, total: u64, label: &str);
    /// `bytes` more were sent.
    fn advance(&self, bytes: u64);
    /// The round ended.
    fn finish(&self);
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The receiving node refused with a typed error.
    #[error("{to} refused ({status} {code}): {message}")]
    Refused {
        to: StateCode,
        status: u16,
        code: String,
        message: String,
    },
    /// Retrying did not get through in the time allowed.
    #[error("gave up sending to {to} after {:.1} s: {last}", .after.as_secs_f64())]
    GaveUp {
        to: StateCode,
        after: Duration,
        last: String,
    },
    /// The receipt or its custody proof does not verify.
    #[error("the receipt from {to} does not verify: {problem}")]
    BadReceipt { to: StateCode, problem: String },
    /// A failure of this node's own, or of the request itself, with its
    /// one typed cause: among them the local package not fit to send
    /// ([`NodeError::EvidencePackage`]: nothing was uploaded), a recipient
    /// without an entry in the directory ([`NodeError::NotInDirectory`]),
    /// no directory at all, and a receipt that cannot be kept.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// The local package at `path` is not fit to send.
fn package_problem(path: &Path, problem: String) -> TransferError {
    TransferError::Node(NodeError::EvidencePackage {
        path: path.display().to_string(),
        problem,
    })
}

impl TransferError {
    /// The receiver's stable error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            TransferError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A package checked and ready to send.
#[derive(Debug, Clone)]
pub struct LocalPackage {
    pub dir: PathBuf,
    pub verified: VerifiedManifest,
}

impl LocalPackage {
    fn segment_path(&self, index: u64) -> PathBuf {
        segment_path(&self.dir, index)
    }
}

/// What a finished send came to.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub to: StateCode,
    pub package: String,
    pub receipt: EvidenceReceipt,
    /// Where the receipt and custody proof were written.
    pub receipt_file: PathBuf,
    /// Segments uploaded by this run.
    pub segments_sent: u32,
    /// Bytes uploaded by this run.
    pub bytes_sent: u64,
    /// The custody proof's checkpoint size, when it came and verified.
    pub custody_checkpoint: Option<u64>,
}

/// Ends one attempt: retry later, or stop for good.
enum Stop {
    Transient(String),
    Final(TransferError),
}

impl From<TransferError> for Stop {
    fn from(e: TransferError) -> Self {
        Stop::Final(e)
    }
}

impl Node {
    /// Checks a package before anything is uploaded: the manifest verifies
    /// against the directory and is signed by this node, and every segment
    /// file exists with the size the manifest declares.
    pub fn check_package_for_send(&self, dir: &Path) -> Result<LocalPackage, TransferError> {
        let problem = |path: PathBuf, problem: String| package_problem(&path, problem);
        let manifest_path = manifest_path(dir);
        let bytes = std::fs::read(&manifest_path).map_err(|e| {
            problem(
                manifest_path.clone(),
                format!("cannot read the manifest: {e}"),
            )
        })?;
        let directory = self
            .directory()
            .ok_or(TransferError::Node(NodeError::NoDirectory))?;
        let verified = verify_manifest(&bytes, &directory).map_err(|e| {
            problem(
                manifest_path.clone(),
                format!("the manifest does not verify: {e}"),
            )
        })?;
        if verified.manifest.sender != self.state() {
            return Err(problem(
                manifest_path,
                format!(
                    "the package was sealed by {}, not by this node ({}); only the sender sends it",
                    verified.manifest.sender,
                    self.state()
                ),
            ));
        }
        let package = LocalPackage {
            dir: dir.to_owned(),
            verified,
        };
        for s in &package.verified.manifest.segments {
            let path = package.segment_path(s.index);
            match std::fs::metadata(&path) {
                Err(e) => {
                    return Err(problem(
                        path,
                        format!(
                            "segment {} is missing ({e}); the package is incomplete",
                            s.index
                        ),
                    ));
                }
                Ok(m) if m.len() != s.size => {
                    return Err(problem(
                        path,
                        format!(
                            "segment {} is {} bytes, the manifest declares {}; the package is truncated or damaged",
                            s.index,
                            m.len(),
                            s.size
                        ),
                    ));
                }
                Ok(_) => {}
            }
        }
        Ok(package)
    }

    /// Sends `package` to `to` until it is accepted, resuming after
    /// interruptions for up to `options.retry_for`.
    pub async fn send_evidence(
        &self,
        package: &LocalPackage,
        to: StateCode,
        options: &SendOptions,
        observer: &dyn SendObserver,
        actor: &crate::app::Actor,
    ) -> Result<SendOutcome, TransferError> {
        self.authorize(
            actor,
            crate::app::Operation::SendEvidence,
            Some(&package.verified.manifest.request),
        )
        .await?;
        let manifest = &package.verified.manifest;
        if !manifest.recipients.contains(&to) {
            return Err(package_problem(
                &manifest_path(&package.dir),
                format!(
                    "{to} is not a recipient of this package (it is sealed for {})",
                    manifest
                        .recipients
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        // A package another State sealed goes on to a third State only
        // with that State's consent (issue 18).
        self.check_forward_use(manifest, &package.verified.package_id, to)
            .await?;
        let started = Instant::now();
        let mut delay = FIRST_BACKOFF;
        let mut sent = Tally::default();
        loop {
            let before = sent.segments;
            match self
                .send_round(package, to, options, observer, &mut sent)
                .await
            {
                Ok((status, receipt_bytes)) => {
                    return self
                        .conclude(package, to, status, receipt_bytes, sent)
                        .await;
                }
                Err(Stop::Final(e)) => return Err(e),
                Err(Stop::Transient(error)) => {
                    if sent.segments > before {
                        delay = FIRST_BACKOFF;
                    }
                    // Retry for the whole window: the last wait is cut to
                    // what is left of it, and one more attempt is made at its end.
                    let elapsed = started.elapsed();
                    if elapsed >= options.retry_for {
                        return Err(TransferError::GaveUp {
                            to,
                            after: elapsed,
                            last: error,
                        });
                    }
                    let wait = delay.min(options.retry_for - elapsed);
                    observer.say(&format!(
                        "{to}: {error}; retrying in {:.1} s",
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The `custos-upload-auth` header value for a call about `package` to
    /// `to`, signed now with this node's signing key.
    fn upload_auth(&self, package: &str, to: StateCode) -> Result<String, Stop> {
        let now = self.clock.now();
        self.with_keys(|k| sign_upload_auth(package, self.state(), to, now, &k.signing))
            .map_err(|e| Stop::Final(TransferError::Node(NodeError::Internal(e.to_string()))))
    }

    fn peer_url(&self, to: StateCode) -> Result<String, TransferError> {
        let directory = self
            .directory()
            .ok_or(TransferError::Node(NodeError::NoDirectory))?;
        let url = directory
            .node_url(to)
            .ok_or(NodeError::NotInDirectory(to))?;
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// One attempt: offer, upload what is missing, ask for acceptance.
    async fn send_round(
        &self,
        package: &LocalPackage,
        to: StateCode,
        options: &SendOptions,
        observer: &dyn SendObserver,
        sent: &mut Tally,
    ) -> Result<(UploadStatus, Vec<u8>), Stop> {
        let node_url = self.peer_url(to)?;
        let base = routes::url(&node_url, routes::EVIDENCE, &[]);
        let hex = package_hex(&package.verified.package_id)
            .unwrap_or_default()
            .to_owned();
        let response = self
            .http
            .post(&base)
            .timeout(options.request_timeout)
            .header("content-type", "application/json")
            .header("custos-from", self.state().as_str())
            .header(
                UPLOAD_AUTH_HEADER,
                self.upload_auth(&package.verified.package_id, to)?,
            )
            .body(package.verified.envelope_bytes.clone())
            .send()
            .await
            .map_err(|e| Stop::Transient(crate::reach::cannot_reach(&base, &e)))?;
        let status: UploadStatus = read_answer(to, &base, response).await?;
        if status.package != package.verified.package_id {
            return Err(Stop::Final(TransferError::Refused {
                to,
                status: 200,
                code: "unexpected-answer".into(),
                message: format!(
                    "the answer is about package {}, not {}",
                    status.package, package.verified.package_id
                ),
            }));
        }
        if !status.accepted {
            let segments = &package.verified.manifest.segments;
            let Some(missing) = status.missing(segments.len()) else {
                return Err(Stop::Final(TransferError::Refused {
                    to,
                    status: 200,
                    code: "unexpected-answer".into(),
                    message: format!(
                        "the answer counts {} segments; the manifest lists {}",
                        status.segments,
                        segments.len()
                    ),
                }));
            };
            let total: u64 = missing
                .iter()
                .filter_map(|&i| segments.get(i as usize))
                .map(|s| s.size)
                .sum();
            observer.say(&format!(
                "{to} already has {} of {} segments; sending {}",
                status.segments as usize - missing.len(),
                status.segments,
                missing.len()
            ));
            observer.start(total, &format!("to {to}"));
            let result = async {
                for &i in &missing {
                    let Some(segment) = segments.get(i as usize) else {
                        continue;
                    };
                    let url =
                        routes::url(&node_url, routes::EVIDENCE_SEGMENT, &[&hex, &i.to_string()]);
                    self.put_segment(
                        package,
                        segment.index,
                        segment.size,
                        &url,
                        to,
                        options,
                        observer,
                    )
                    .await?;
                    sent.segments += 1;
                    sent.bytes += segment.size;
                }
                Ok::<(), Stop>(())
            }
            .await;
            observer.finish();
            result?;
        }
        let url = routes::url(&node_url, routes::EVIDENCE_COMPLETE, &[&hex]);
        let response = self
            .http
            .post(&url)
            .timeout(options.request_timeout)
            .header("custos-from", self.state().as_str())
            .header(
                UPLOAD_AUTH_HEADER,
                self.upload_auth(&package.verified.package_id, to)?,
            )
            .send()
            .await
            .map_err(|e| Stop::Transient(crate::reach::cannot_reach(&url, &e)))?;
        let status: UploadStatus = match read_answer(to, &url, response).await {
            Err(Stop::Final(TransferError::Refused { code, message, .. }))
                if code == ErrorCode::PackageIncomplete.as_str() =>
            {
                // The receiver lost a segment (or never kept it): the next
                // round asks for its status and sends what is missing.
                return Err(Stop::Transient(format!("{to} says: {message}")));
            }
            other => other?,
        };
        let Some(receipt) = status.receipt.clone() else {
            return Err(Stop::Transient(format!(
                "{to} answered the acceptance without a receipt"
            )));
        };
        let bytes = serde_json::to_vec(&receipt)
            .map_err(|e| Stop::Transient(format!("the receipt of {to}: {e}")))?;
        Ok((status, bytes))
    }

    /// Streams one segment file to `url`, with progress, an optional rate
    /// limit and an idle watchdog.
    #[allow(clippy::too_many_arguments)]
    async fn put_segment(
        &self,
        package: &LocalPackage,
        index: u64,
        size: u64,
        url: &str,
        to: StateCode,
        options: &SendOptions,
        observer: &dyn SendObserver,
    ) -> Result<(), Stop> {
        let path = package.segment_path(index);
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            Stop::Final(package_problem(
                &path,
                format!("cannot read segment {index}: {e}"),
            ))
        })?;
        let counter = Arc::new(AtomicU64::new(0));
        let body = reqwest::Body::wrap_stream(file_stream(
            file,
            size,
            Arc::clone(&counter),
            options.limit_rate,
        ));
        let request = self
            .http
            .put(url)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .header("custos-from", self.state().as_str())
            .header(
                UPLOAD_AUTH_HEADER,
                self.upload_auth(&package.verified.package_id, to)?,
            )
            .body(body)
            .send();
        tokio::pin!(request);
        let mut reported = 0u64;
        let mut last_move = Instant::now();
        let response = loop {
            tokio::select! {
                r = &mut request => break r,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    let now = counter.load(Ordering::Relaxed);
                    if now != reported {
                        observer.advance(now - reported);
                        reported = now;
                        last_move = Instant::now();
                    } else if last_move.elapsed() > options.idle_timeout {
                        return Err(Stop::Transient(format!(
                            "segment {index}: nothing moved for {} s",
                            options.idle_timeout.as_secs()
                        )));
                    }
                }
            }
        };
        let now = counter.load(Ordering::Relaxed);
        if now > reported {
            observer.advance(now - reported);
        }
        let response =
            response.map_err(|e| Stop::Transient(format!("segment {index} to {url}: {e}")))?;
        let _: SegmentVerified = read_answer(to, url, response).await?;
        Ok(())
    }

    /// Checks the receipt and custody proof, keeps them, logs the send.
    async fn conclude(
        &self,
        package: &LocalPackage,
        to: StateCode,
        status: UploadStatus,
        receipt_bytes: Vec<u8>,
        sent: Tally,
    ) -> Result<SendOutcome, TransferError> {
        let bad = |problem: String| TransferError::BadReceipt { to, problem };
        let directory = self
            .directory()
            .ok_or(TransferError::Node(NodeError::NoDirectory))?;
        let manifest = &package.verified.manifest;
        let package_id = &package.verified.package_id;
        let receipt =
            verify_evidence_receipt(&receipt_bytes, &directory, package_id, to, self.clock.now())
                .map_err(|e| bad(e.to_string()))?;
        let bytes: u64 = manifest.segments.iter().map(|s| s.size).sum();
        if receipt.sender != self.state()
            || receipt.request != manifest.request
            || receipt.bytes != bytes
            || receipt.segments as usize != manifest.segments.len()
        {
            return Err(bad(format!(
                "it does not describe this package as sent: {receipt:?}"
            )));
        }
        let custody = match status.custody.clone() {
            None => json!({ "provided": false }),
            Some(value) => match self.check_evidence_custody(
                &value,
                to,
                package_id,
                &package.verified.envelope_bytes,
            ) {
                Ok(size) => json!({ "provided": true, "valid": true, "checkpoint_size": size }),
                Err(e) => {
                    let problem = e.to_string();
                    tracing::error!(to = %to, problem = %custos_protocol::text::escape(&problem), "a receiver's custody proof for evidence does not verify");
                    json!({ "provided": true, "valid": false, "error": problem })
                }
            },
        };
        let custody_checkpoint = custody["checkpoint_size"].as_u64();
        let receipt_json: Value =
            serde_json::from_slice(&receipt_bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let record = json!({
            "receipt": receipt_json,
            "custody": status.custody.clone().unwrap_or(Value::Null),
        });
        let receipts = package.dir.join(RECEIPTS_DIR);
        let file = receipts.join(format!("{to}.json"));
        let previous = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let already_logged = previous.is_some_and(|p| p["receipt"] == record["receipt"]);
        let text = serde_json::to_vec_pretty(&record).map_err(|e| bad(e.to_string()))?;
        write_file_atomically(&receipts, &file, &text).map_err(|e| NodeError::Io {
            path: file.display().to_string(),
            problem: format!("cannot keep the receipt: {e}"),
        })?;
        if !already_logged {
            // The consent a forwarded package relies on, cited (issue 18).
            let consent = self
                .check_forward_use(manifest, package_id, to)
                .await
                .ok()
                .flatten()
                .map(|c| c.grant);
            let now = self.clock.now();
            let sent_entry = Entry::new(
                EntryKind::EvidenceSent,
                now,
                crate::Actor::Peer(self.state()).label(),
            )
            .request(manifest.request.clone())
            .subject(package_id.clone())
            .envelope(&package.verified.envelope_bytes)
            .detail(json!({
                "to": to,
                "segments": manifest.segments.len(),
                "bytes": bytes,
                "sent_by_this_run": { "segments": sent.segments, "bytes": sent.bytes },
                "consent": consent,
            }))
            .encode()?;
            let receipt_entry = Entry::new(
                EntryKind::ReceiptReceived,
                now,
                crate::Actor::Peer(to).label(),
            )
            .request(manifest.request.clone())
            .subject(package_id.clone())
            .envelope(&receipt_bytes)
            .detail(json!({ "from": to, "for": "evidence", "custody": custody }))
            .encode()?;
            // The package joins its request's history (what an execution
            // may cite), in the transaction that queues its ledger entry;
            // a package for a request this node does not hold is only logged.
            let event = custos_store::NewEvent {
                request_id: manifest.request.clone(),
                at: now,
                actor: crate::Actor::Peer(self.state()).label(),
                kind: EVIDENCE_SENT_EVENT.to_owned(),
                detail: json!({ "package": package_id, "to": to, "bytes": bytes }),
                ledger: Some(sent_entry.clone()),
            };
            match self.store.append_event(&event).await {
                Ok(_) => self.store.queue_ledger(&[receipt_entry], now).await,
                Err(custos_store::StoreError::UnknownRequest(_)) => {
                    self.store
                        .queue_ledger(&[sent_entry, receipt_entry], now)
                        .await
                }
                Err(e) => Err(e),
            }
            .map_err(NodeError::from)?;
        }
        Ok(SendOutcome {
            to,
            package: package_id.clone(),
            receipt,
            receipt_file: file,
            segments_sent: sent.segments,
            bytes_sent: sent.bytes,
            custody_checkpoint,
        })
    }

    /// Checks the custody proof a receiver returned with its evidence
    /// receipt: signed by the receiver's ledger key as the directory lists
    /// it, and proving an `evidence-received` entry for this package and
    /// exactly this manifest (the check of a message's proof,
    /// [`Node::check_custody_proof`], with the package's names). Returns the
    /// checkpoint size.
    pub fn check_evidence_custody(
        &self,
        bundle: &Value,
        receiver: StateCode,
        package_id: &str,
        manifest_bytes: &[u8],
    ) -> Result<u64, NodeError> {
        let bundle = ProofBundle::from_json(&bundle.to_string()).map_err(|e| {
            NodeError::CustodyProofInvalid {
                from: receiver,
                problem: e.to_string(),
            }
        })?;
        self.check_receivers_entry(
            &bundle,
            receiver,
            ProvedReceipt {
                kind: "evidence-received",
                subject: package_id,
                content: manifest_bytes,
                what: "package",
            },
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    segments: u32,
    bytes: u64,
}

/// Reads a receiver's answer: the JSON body of a 2xx, or a typed refusal
/// (final for 4xx and `insufficient-storage`, retried for other 5xx).
async fn read_answer<T: serde::de::DeserializeOwned>(
    to: StateCode,
    url: &str,
    response: reqwest::Response,
) -> Result<T, Stop> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| Stop::Transient(format!("reading the answer of {url}: {e}")))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&body).map_err(|e| {
            Stop::Transient(format!(
                "{url} answered {status} with an unreadable body: {e}"
            ))
        });
    }
    let (code, message) = match serde_json::from_slice::<ErrorResponse>(&body) {
        Ok(r) => (r.error.code, r.error.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body).chars().take(300).collect(),
        ),
    };
    let final_refusal = (400..500).contains(&status)
        || code == ErrorCode::InsufficientStorage.as_str()
        || code == ErrorCode::SegmentTooLarge.as_str();
    if final_refusal {
        Err(Stop::Final(TransferError::Refused {
            to,
            status,
            code,
            message,
        }))
    } else {
        Err(Stop::Transient(format!(
            "{url} answered {status} {code}: {message}"
        )))
    }
}

/// The bytes of a segment file as a body stream of `size` bytes, counting
/// what was handed to the connection and keeping to `limit_rate`.
fn file_stream(
    file: tokio::fs::File,
    size: u64,
    counter: Arc<AtomicU64>,
    limit_rate: Option<u64>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    let chunk = match limit_rate {
        Some(rate) => (rate / 8).clamp(4096, READ_CHUNK as u64) as usize,
        None => READ_CHUNK,
    };
    let started = Instant::now();
    futures_util::stream::unfold((file, 0u64), move |(mut file, done)| {
        let counter = Arc::clone(&counter);
        async move {
            if done >= size {
                return None;
            }
            if let Some(rate) = limit_rate.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(done as f64 / rate as f64);
                let elapsed = started.elapsed();
                if due > elapsed {
                    tokio::time::sleep(due - elapsed).await;
                }
            }
            let want = (size - done).min(chunk as u64) as usize;
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                match file.read(&mut buf[filled..]).await {
                    Ok(0) => {
                        let e = std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the segment file became shorter while it was sent",
                        );
                        return Some((Err(e), (file, size)));
                    }
                    Ok(n) => filled += n,
                    Err(e) => return Some((Err(e), (file, size))),
                }
            }
            counter.fetch_add(want as u64, Ordering::Relaxed);
            Some((Ok(buf), (file, done + want as u64)))
        }
    })
}

fn write_file_atomically(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = file.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    std::fs::File::open(dir)?.sync_all()
}
