//! The floor of the federation benchmark: the same pipeline as two nodes,
//! on the same HTTP stack, store calls and ledger, without the
//! cryptography (see the benchmark's documentation).

use super::*;

/// The sending side of the floor pipeline.
#[derive(Debug)]
pub(crate) struct FloorSender {
    pub(crate) state: StateCode,
    pub(crate) peer: StateCode,
    pub(crate) url: String,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) http: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) wake: Notify,
}

/// The receiving side of the floor pipeline.
#[derive(Debug)]
pub(crate) struct FloorReceiver {
    pub(crate) state: StateCode,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) max_bytes: usize,
    /// A node over the same store, for its ledger: sequencing and custody proofs.
    pub(crate) ledger: Arc<Node>,
}

/// The two sides, the receiver served on loopback, each with a ledger sequencer.
#[derive(Debug)]
pub(crate) struct FloorPair {
    pub(crate) sender: Arc<FloorSender>,
    pub(crate) receiver: Arc<FloorReceiver>,
    pub(crate) handle: axum_server::Handle<SocketAddr>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl FloorPair {
    pub(crate) async fn start(root: &Path, clock: Arc<TestClock>) -> anyhow::Result<Self> {
        let listener = loopback_listener()?;
        let addr = listener.local_addr()?;
        // The custody ledger of each side is kept as on a node, by a node
        // over the floor's store: its sequencer runs as `custos serve` runs
        // it, and the receiver asks it for the proof that goes with a receipt.
        let fr = node(&root.join("fr"), "FR", &clock).await?;
        let de = node(&root.join("de"), "DE", &clock).await?;
        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        for ledger in [&fr, &de] {
            tasks.push(tokio::spawn(
                Arc::clone(&ledger.node).run_sequencer(shutdown.subscribe()),
            ));
        }
        let receiver = Arc::new(FloorReceiver {
            state: de.state(),
            store: Arc::clone(&de.store),
            clock: Arc::clone(&clock),
            max_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            ledger: Arc::clone(&de.node),
        });
        let sender = Arc::new(FloorSender {
            state: fr.state(),
            peer: receiver.state,
            url: format!("http://{addr}"),
            store: Arc::clone(&fr.store),
            clock: Arc::clone(&clock),
            http: http_client()?,
            retry: RetryPolicy::default(),
            wake: Notify::new(),
        });

        // The same server as `custos_http::serve` on plain HTTP.
        let app = Router::new()
            .route("/federation/v1/messages", post(floor_post))
            .layer(DefaultBodyLimit::max(receiver.max_bytes))
            .with_state(Arc::clone(&receiver))
            .into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp(listener)?.handle(handle.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server.serve(app).await {
                eprintln!("federation bench: the floor receiver stopped serving: {e}");
            }
        }));
        Ok(FloorPair {
            sender,
            receiver,
            handle,
            shutdown,
            tasks,
        })
    }

    pub(crate) async fn stop(self) {
        self.handle
            .graceful_shutdown(Some(StdDuration::from_secs(5)));
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.sender.store.close().await;
        self.receiver.store.close().await;
    }
}

impl FloorSender {
    /// What `Node::submit` does, minus the signature and the encryption.
    pub(crate) async fn submit(&self, draft: Value) -> anyhow::Result<String> {
        ensure!(
            validate::validate(&draft).is_valid(),
            "the draft does not validate"
        );
        let text = |k: &str| draft.get(k).and_then(Value::as_str).unwrap_or_default();
        ensure!(
            text("requesting_state") == self.state.as_str(),
            "the draft is not from {}",
            self.state
        );
        let to: StateCode = text("requested_state").parse()?;
        ensure!(to == self.peer, "the draft is not for {}", self.peer);
        let kind: RequestKind = text("kind").parse()?;
        let now = self.clock.now();
        let thread = thread_id_at(now);
        let request = RequestRecord {
            id: thread.clone(),
            kind,
            direction: Direction::Outgoing,
            counterpart: to,
            draft: None,
            created_at: now,
        };
        let message = Message::submit(self.state, to, thread.clone(), None, now, draft);
        validate_message(&message)?;
        let payload = message.to_canonical_json()?;
        let id = MessageId::of_payload(&payload).to_string();
        let actor = "bench";
        let ledger = vec![
            Entry::new(EntryKind::MessageSent, now, actor)
                .request(thread.clone())
                .subject(id.clone())
                .envelope(&payload)
                .detail(json!({ "kind": message.kind.as_str(), "to": to }))
                .encode()?,
        ];
        // The sender's access record, written with the message as the node
        // writes it.
        let access = custos_store::AccessRecord {
            id: 0,
            at: now,
            person: actor.to_owned(),
            actor: actor.to_owned(),
            operation: "send-request".to_owned(),
            case_id: Some(thread.clone()),
            outcome: custos_store::ALLOWED.to_owned(),
            reason: None,
            entry_sha256: custos_seal::content_id(&ledger[0]),
        };
        let out = OutgoingMessage {
            message: MessageRecord {
                id: id.clone(),
                thread: thread.clone(),
                direction: Direction::Outgoing,
                counterpart: to,
                kind: message.kind.as_str().to_owned(),
                prev: None,
                created_at: now,
                recorded_at: now,
                envelope: payload.clone(),
            },
            new_request: Some(request),
            event: NewEvent {
                request_id: thread,
                at: now,
                actor: actor.to_owned(),
                kind: format!("sent:{}", message.kind.as_str()),
                detail: json!({ "message_id": id, "to": to }),
                ledger: None,
            },
            outbox: OutboxItem {
                message_id: id.clone(),
                recipient: to,
                url: self.url.clone(),
                ciphertext: payload,
                created_at: now,
                next_attempt_at: now,
                attempts: 0,
                state: OutboxState::Pending,
                last_error: None,
                delivered_at: None,
            },
            ledger,
            access: Some(access),
        };
        self.store.record_outgoing(&out).await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// The loop of `Node::run_outbox`.
    pub(crate) async fn run_outbox(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let worked = match self.deliver_due(CLAIM_LIMIT).await {
                Ok(n) => n > 0,
                Err(e) => {
                    eprintln!("floor outbox: {e:#}");
                    false
                }
            };
            if worked {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.retry.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// The claim-and-attempt pass of `Node::deliver_due`.
    pub(crate) async fn deliver_due(self: &Arc<Self>, limit: u32) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let items = self.store.claim_due(now, self.retry.lease, limit).await?;
        let n = items.len();
        let mut tasks = tokio::task::JoinSet::new();
        for item in items {
            let sender = Arc::clone(self);
            tasks.spawn(async move { sender.attempt(item).await });
        }
        while let Some(r) = tasks.join_next().await {
            r.context("a floor delivery task panicked")??;
        }
        Ok(n)
    }

    pub(crate) async fn attempt(&self, item: OutboxItem) -> anyhow::Result<()> {
        match self.post(&item).await {
            Ok((receipt, custody)) => {
                let now = self.clock.now();
                let entry = Entry::new(
                    EntryKind::ReceiptReceived,
                    now,
                    format!("node:{}", item.recipient),
                )
                .subject(item.message_id.clone())
                .envelope(&receipt)
                .detail(json!({ "from": item.recipient, "custody": custody }))
                .encode()?;
                self.store
                    .mark_delivered(&item.message_id, &receipt, now, &[entry])
                    .await?;
            }
            Err(e) => {
                let now = self.clock.now();
                let attempts = item.attempts + 1;
                self.store
                    .mark_retry(
                        &item.message_id,
                        attempts,
                        now + self.retry.delay(attempts),
                        &format!("{e:#}"),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Posts the plain message; reads the unsigned receipt and checks it
    /// names the message; reads the custody proof and checks the entry it
    /// proves, without verifying the proof itself.
    pub(crate) async fn post(&self, item: &OutboxItem) -> anyhow::Result<(Vec<u8>, Value)> {
        let url = format!("{}/federation/v1/messages", item.url.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .timeout(self.retry.request_timeout)
            .header("content-type", "application/octet-stream")
            .header("custos-from", self.state.as_str())
            .body(item.ciphertext.clone())
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(
            status == StatusCode::OK,
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let answer: Value = serde_json::from_slice(&body).context("the answer")?;
        let receipt = serde_json::to_vec(&answer["receipt"])?;
        let read: Receipt = serde_json::from_slice(&receipt).context("the receipt")?;
        ensure!(
            read.message_id.as_str() == item.message_id && read.receiver == item.recipient,
            "the receipt names another message or receiver"
        );
        let custody = match answer.get("custody").filter(|c| !c.is_null()) {
            None => json!({ "provided": false }),
            Some(value) => {
                let bundle = custos_ledger::ProofBundle::from_json(&value.to_string())?;
                let sent = self
                    .store
                    .get_message(&item.message_id)
                    .await?
                    .ok_or_else(|| anyhow!("message {} is not stored", item.message_id))?;
                let logged: Value = serde_json::from_slice(&bundle.entry)?;
                ensure!(
                    logged["kind"] == "message-received"
                        && logged["subject"] == item.message_id.as_str()
                        && logged["envelope_sha256"]
                            == custos_seal::content_id(&sent.envelope).as_str(),
                    "the custody proof is about another entry"
                );
                json!({ "provided": true, "valid": null, "checkpoint_size": bundle.tree_size, "bundle": value })
            }
        };
        Ok((receipt, custody))
    }
}

/// A refusal of the floor receiver: status, code, explanation.
type Refusal = (StatusCode, ErrorCode, String);

pub(crate) fn refusal(code: ErrorCode, message: impl Into<String>) -> Refusal {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, code, message.into())
}

/// The floor's federation endpoint.
pub(crate) async fn floor_post(
    State(receiver): State<Arc<FloorReceiver>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let claimed = headers
        .get("custos-from")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    let outcome = match body {
        Ok(body) => receiver.receive(&body).await,
        Err(rejection) => Err(refusal(
            ErrorCode::MalformedCiphertext,
            rejection.body_text(),
        )),
    };
    match outcome {
        Ok((receipt, custody)) => {
            let receipt: Value = serde_json::from_slice(&receipt).unwrap_or_default();
            let custody = custody.and_then(|b| serde_json::from_str::<Value>(&b.to_json()).ok());
            (
                StatusCode::OK,
                axum::Json(json!({ "receipt": receipt, "custody": custody })),
            )
                .into_response()
        }
        Err((status, code, message)) => {
            eprintln!(
                "floor receiver: refused a message from {peer} (says {claimed}): {}: {message}",
                code.as_str()
            );
            let body = json!({ "error": { "code": code.as_str(), "message": message } });
            (status, axum::Json(body)).into_response()
        }
    }
}

impl FloorReceiver {
    /// What `Node::receive` does, minus decryption, signature checks and
    /// signing: returns the receipt and the custody proof.
    pub(crate) async fn receive(
        &self,
        body: &[u8],
    ) -> Result<(Vec<u8>, Option<custos_ledger::ProofBundle>), Refusal> {
        if body.len() > self.max_bytes {
            return Err(refusal(ErrorCode::TooLarge, "too large"));
        }
        let refused = |e: custos_protocol::ProtocolError| refusal(e.code(), e.to_string());
        let msg = Message::from_json(body).map_err(refused)?;
        custos_seal::ensure_canonical(body)
            .map_err(|e| refusal(ErrorCode::NotCanonical, e.to_string()))?;
        if msg.to_canonical_json().map_err(refused)? != body {
            return Err(refusal(
                ErrorCode::NotCanonical,
                "not the standard encoding",
            ));
        }
        if msg.to != self.state {
            return Err(refusal(ErrorCode::WrongRecipient, "not for this node"));
        }
        let now = self.clock.now();
        if msg.created_at > now + MAX_CLOCK_AHEAD {
            return Err(refusal(ErrorCode::FromTheFuture, "from the future"));
        }
        if msg.created_at < now - MAX_MESSAGE_AGE {
            return Err(refusal(ErrorCode::MessageExpired, "too old"));
        }
        validate_message(&msg).map_err(refused)?;
        let id = MessageId::of_payload(body);

        let new_request = match msg.draft() {
            Some(draft) => {
                let kind = draft
                    .get("kind")
                    .and_then(Value::as_str)
                    .and_then(|k| k.parse().ok())
                    .ok_or_else(|| refusal(ErrorCode::InvalidBody, "no request kind"))?;
                Some(RequestRecord {
                    id: msg.thread.clone(),
                    kind,
                    direction: Direction::Incoming,
                    counterpart: msg.from,
                    draft: None,
                    created_at: now,
                })
            }
            None => None,
        };
        let receipt = Receipt {
            v: 1,
            message_id: id.clone(),
            thread: msg.thread.clone(),
            sender: msg.from,
            receiver: self.state,
            received_at: now,
        };
        let internal = |e: &dyn std::fmt::Display| refusal(ErrorCode::Internal, e.to_string());
        let receipt = custos_seal::canonical_json(&receipt).map_err(|e| internal(&e))?;
        let actor = format!("node:{}", msg.from);
        let ledger = vec![
            Entry::new(EntryKind::MessageReceived, now, actor.clone())
                .request(msg.thread.clone())
                .subject(id.to_string())
                .envelope(body)
                .detail(json!({ "kind": msg.kind.as_str(), "from": msg.from, "signed_by": null }))
                .encode()
                .map_err(|e| internal(&e))?,
            Entry::new(
                EntryKind::ReceiptIssued,
                now,
                format!("node:{}", self.state),
            )
            .request(msg.thread.clone())
            .subject(id.to_string())
            .envelope(&receipt)
            .encode()
            .map_err(|e| internal(&e))?,
        ];
        let received_entry = ledger[0].clone();
        let ledger_base = self.store.ledger_size().await.map_err(|e| internal(&e))?;
        let incoming = IncomingMessage {
            message: MessageRecord {
                id: id.to_string(),
                thread: msg.thread.clone(),
                direction: Direction::Incoming,
                counterpart: msg.from,
                kind: msg.kind.as_str().to_owned(),
                prev: msg.prev.as_ref().map(|p| p.to_string()),
                created_at: msg.created_at,
                recorded_at: now,
                envelope: body.to_vec(),
            },
            new_request,
            event: NewEvent {
                request_id: msg.thread.clone(),
                at: now,
                actor,
                kind: format!("received:{}", msg.kind.as_str()),
                detail: json!({ "message_id": id.to_string(), "signed_by": null }),
                ledger: None,
            },
            receipt: receipt.clone(),
            ledger,
        };
        match self.store.accept_incoming(&incoming).await {
            Ok(AcceptOutcome::Accepted) => {
                // As on a node: no proof (rather than a refusal) if it cannot be made.
                let custody = self
                    .ledger
                    .custody_proof(&received_entry, ledger_base)
                    .await
                    .unwrap_or(None);
                Ok((receipt, custody))
            }
            Ok(AcceptOutcome::Duplicate { .. }) => {
                Err(refusal(ErrorCode::DuplicateMessage, "received before"))
            }
            Err(e) => Err(internal(&e)),
        }
    }
}
