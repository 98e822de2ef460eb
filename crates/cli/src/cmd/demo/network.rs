//! The network part of `custos demo`: three nodes on loopback exchanging signed, encrypted requests.
//!
//! A sample registry signs a directory of three sample nodes (France, Germany,
//! the Netherlands). Each node runs as its own `custos serve` process. France's
//! 24/7 desk sends expedited preservation requests in a ransomware case to
//! Germany and the Netherlands through its client API, then France's central
//! authority sends the follow-up request for the preserved data to Germany.
//! That request becomes a case (`cases.rs`): Germany acknowledges it, asks
//! for more information, which France gives, and consults France on
//! conditions, which France accepts; Germany executes part of it with a
//! sealed evidence package that France verifies and opens, and France closes
//! it. A second MLA request, to the Netherlands, is refused with grounds
//! after a consultation whose conditions France declines (the refusal tried
//! before the consultation is stopped by the Netherlands' own node).
//! Every message's signature and every receipt is checked again at the end.
//! The child processes are stopped whatever happens.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use custos_model::clock::Clock;
use custos_model::{RequestKind, StateCode};
use custos_node::app::Direction;
use custos_node::directory::EntryDetails;
use custos_protocol::{Directory, DirectoryList, verify_receipt};
use custos_seal::{Envelope, SigningKey};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::cmd::init;

/// The sample States of the demo network.
const STATES: [(&str, &str); 3] = [
    (
        "FR",
        "France (sample) - 24/7 point of contact and central authority",
    ),
    (
        "DE",
        "Germany (sample) - 24/7 point of contact and central authority",
    ),
    (
        "NL",
        "Netherlands (sample) - 24/7 point of contact and central authority",
    ),
];

/// Child processes that are stopped when this value is dropped, on every path.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            stop(child);
        }
    }
}

fn stop(child: &mut Child) {
    #[cfg(unix)]
    {
        // Ask politely first, so the node closes its database cleanly.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A node of the demo network, with its client-API token.
pub(super) struct DemoNode {
    pub state: StateCode,
    pub dir: PathBuf,
    pub url: String,
    pub token: String,
}

/// Runs the network scenario; `say` prints narration unless the demo is in JSON mode.
pub fn walk(dir: &Path, say: &mut dyn FnMut(&str), clock: &dyn Clock) -> anyhow::Result<Value> {
    let started = Instant::now();
    let rt = crate::cmd::runtime()?;

    // 1. The registry and the three nodes.
    let registry = SigningKey::generate();
    let registry_pub = registry.verifying_key().to_text();
    say(&format!("sample registry key {registry_pub}"));
    let mut nodes = Vec::new();
    for (code, name) in STATES {
        let data = dir.join("network").join(code.to_lowercase());
        init::init(
            &init::InitArgs {
                data: data.clone(),
                state: code.parse()?,
                name: name.into(),
                database: None,
                registry_key: Some(registry_pub.clone()),
                admin_user: None,
                no_admin: true,
            },
            clock,
        )?;
        let port = free_port()?;
        nodes.push(DemoNode {
            state: code.parse()?,
            dir: data,
            url: format!("http://127.0.0.1:{port}"),
            token: String::new(),
        });
        say(&format!(
            "{code}: node created, will listen on 127.0.0.1:{port}"
        ));
    }

    // 2. Each State signs its entry; the registry signs the list; every node imports it.
    let mut entries = Vec::new();
    for n in &nodes {
        let details = EntryDetails {
            node_url: n.url.clone(),
            contact_24_7: Some(format!("24/7 desk of {} (sample), +00 0000 0000", n.state)),
            central_authority: Some(format!("Ministry of Justice of {} (sample)", n.state)),
            languages: vec!["en".into()],
            treaty_status: Some(format!("docs/samples/registry.sample.toml#{}", n.state)),
        };
        let entry: Envelope = rt.block_on(async {
            let (_, node) = crate::cmd::node::open(&n.dir).await?;
            let e = node.signed_entry(&details)?;
            node.close().await;
            anyhow::Ok(e)
        })?;
        entries.push(entry);
    }
    let now = clock.now();
    let list = DirectoryList {
        v: 1,
        version: 1,
        registry: "Sample registry".into(),
        issued_at: now,
        expires_at: now + time::Duration::days(30),
        entries,
    };
    let signed = list.sign(&registry)?;
    let directory = Directory::verify(&signed, &registry.verifying_key(), now)?;
    for n in &mut nodes {
        n.token = rt.block_on(async {
            let (_, node) = crate::cmd::node::open(&n.dir).await?;
            node.import_directory(&crate::operator::operator()?, &signed)
                .await?;
            let token = demo_desk_token(&node).await;
            node.close().await;
            token
        })?;
    }
    say("directory version 1 signed by the registry and imported by FR, DE and NL");

    // 3. Start the three nodes as separate processes.
    let exe = std::env::current_exe().context("cannot find the custos binary")?;
    let mut children = Children(Vec::new());
    for n in &nodes {
        let log =
            std::fs::File::create(n.dir.join("serve.log")).context("cannot create a log file")?;
        let addr = n.url.trim_start_matches("http://");
        let child = Command::new(&exe)
            .args(["serve", "--data"])
            .arg(&n.dir)
            .args(["--listen", addr])
            .env("CUSTOS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start the {} node", n.state))?;
        children.0.push((n.state.to_string(), child));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()?;
    rt.block_on(async {
        for n in &nodes {
            wait_healthy(&client, &n.url).await.with_context(|| {
                format!(
                    "the {} node did not start (see {}/serve.log)",
                    n.state,
                    n.dir.display()
                )
            })?;
        }
        anyhow::Ok(())
    })?;
    say("FR, DE and NL nodes are up (three `custos serve` processes)");

    // 4. The requests.
    let fr = &nodes[0];
    let mut timeline = Vec::new();
    let mut exchanges = Vec::new();
    let steps: [(&str, RequestKind, &str, &str); 3] = [
        (
            "FR 24/7 desk asks DE to preserve the hosting account's data",
            RequestKind::Preservation,
            "DE",
            "24/7",
        ),
        (
            "FR 24/7 desk asks NL to preserve the mail account's data",
            RequestKind::Preservation,
            "NL",
            "24/7",
        ),
        (
            "FR central authority requests the data DE preserved (follow-up MLA)",
            RequestKind::StoredData,
            "DE",
            "central authority",
        ),
    ];
    for (what, kind, to, _) in steps {
        let mut draft = crate::cmd::request::parse_template(kind)?;
        draft["requested_state"] = json!(to);
        if kind == RequestKind::StoredData
            && let Some(first) = exchanges.first().and_then(|e: &Value| e["id"].as_str())
        {
            draft["reference"] = json!(format!("Follow-up to preservation request {first}"));
        }
        let t0 = Instant::now();
        let (id, message_id, delivered) = rt.block_on(send_via_api(&client, fr, draft))?;
        let ms = t0.elapsed().as_millis();
        say(&format!(
            "{what}: request {id} {} in {ms} ms",
            if delivered {
                "delivered, signed receipt verified"
            } else {
                "NOT delivered"
            }
        ));
        if !delivered {
            bail!(
                "the demo request to {to} was not delivered; see the node logs in {}",
                dir.display()
            );
        }
        timeline.push(json!({ "step": what, "kind": kind, "from": "FR", "to": to, "request": id, "message": message_id, "ms": ms }));
        exchanges.push(json!({ "id": id, "to": to, "message_id": message_id }));
    }

    // 5. The MLA request for the preserved data becomes a case: DE
    // acknowledges, asks for more information and consults on conditions,
    // FR answers and accepts them, DE executes part of the request with a
    // sealed evidence package that FR verifies and opens, and FR closes it.
    let mla = exchanges
        .last()
        .and_then(|e| e["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let (fr, de, nl) = (&nodes[0], &nodes[1], &nodes[2]);
    say(
        "the MLA request as a case (each step through the acting State's client API; both nodes' states shown):",
    );
    let mut case = super::cases::Case::new(&client, &mla, fr, de);
    rt.block_on(async {
        case.act("DE", "acknowledge", json!({}), &mut *say).await?;
        case.act(
            "DE",
            "request-info",
            json!({"note": "Which accounts, and which period of logs? (sample)"}),
            &mut *say,
        )
        .await?;
        case.act(
            "FR",
            "provide-info",
            json!({"note": "The hosting account and the mailbox, 1 to 27 November 2026. (sample)"}),
            &mut *say,
        )
        .await?;
        case.act(
            "DE",
            "consult",
            json!({
                "conditions": [
                    "Use the data only in the ransomware proceedings named in the request.",
                    "Pass nothing on to a third State without Germany's consent."
                ],
                "note": "Germany can assist on these conditions. (sample)"
            }),
            &mut *say,
        )
        .await?;
        case.act("FR", "accept-conditions", json!({}), &mut *say)
            .await?;
        anyhow::Ok(())
    })?;
    let evidence = super::evidence::deliver(&exe, &de.dir, &fr.dir, &mla, dir, &mut *say)?;
    timeline.push(json!({ "step": "DE delivers the preserved data to FR as a sealed evidence package", "kind": "evidence", "from": "DE", "to": "FR", "request": mla, "package": evidence["package_id"] }));
    let executed = rt.block_on(async {
        case.act(
            "DE",
            "execute-partly",
            json!({
                "evidence": [evidence["package_id"]],
                "note": "The account's logs and mailbox; the payment records follow. (sample)"
            }),
            &mut *say,
        )
        .await?;
        case.act("FR", "close", json!({}), &mut *say).await?;
        case.summary(Vec::new()).await
    })?;

    // 6. Another MLA request, to NL, refused with grounds after a
    // consultation; a refusal before it is stopped by NL's own node.
    let mut draft = crate::cmd::request::parse_template(RequestKind::Mla)?;
    draft["requested_state"] = json!("NL");
    let what = "FR central authority asks NL for the suspect's bank records (MLA)";
    let t0 = Instant::now();
    let (refused_id, message_id, delivered) = rt.block_on(send_via_api(&client, fr, draft))?;
    let ms = t0.elapsed().as_millis();
    if !delivered {
        bail!(
            "the demo request to NL was not delivered; see the node logs in {}",
            dir.display()
        );
    }
    say(&format!(
        "{what}: request {refused_id} delivered, signed receipt verified in {ms} ms"
    ));
    timeline.push(json!({ "step": what, "kind": RequestKind::Mla, "from": "FR", "to": "NL", "request": refused_id, "message": message_id, "ms": ms }));
    let mut case = super::cases::Case::new(&client, &refused_id, fr, nl);
    let refused = rt.block_on(async {
        case.act("NL", "acknowledge", json!({}), &mut *say).await?;
        let refusal = json!({"refusal": {
            "grounds": ["R2"],
            "reasons": "Disclosure would compromise a national investigation. (sample)"
        }});
        let early = case
            .try_refused("NL", "refuse", refusal.clone(), &mut *say)
            .await?;
        case.act(
            "NL",
            "consult",
            json!({"conditions": ["Wait until the national investigation ends, about six months. (sample)"]}),
            &mut *say,
        )
        .await?;
        case.act(
            "FR",
            "decline-conditions",
            json!({"note": "The trial cannot wait six months. (sample)"}),
            &mut *say,
        )
        .await?;
        case.act("NL", "refuse", refusal, &mut *say).await?;
        case.summary(vec![early]).await
    })?;
    let cases = vec![executed, refused];

    // 7. Witnessing: every node asks the others to cosign its latest ledger checkpoint.
    let mut cosigned = Vec::new();
    for n in &nodes {
        let results = rt.block_on(async {
            let (_, node) = crate::cmd::node::open(&n.dir).await?;
            // The serving process sequences within milliseconds; make sure nothing is left queued.
            let deadline = Instant::now() + Duration::from_secs(5);
            while node.ledger_pending().await? && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let r = node.request_cosignatures().await?;
            node.close().await;
            anyhow::Ok(r)
        })?;
        for (peer, outcome) in results {
            say(&format!(
                "{} ledger checkpoint: witness {peer} {}",
                n.state,
                witness_words(&outcome)
            ));
            cosigned.push(json!({ "log": n.state, "witness": peer, "outcome": outcome }));
        }
    }

    // 8. Stop the nodes, then check every signature and receipt again from the stored records.
    drop(children);
    let summary = rt.block_on(verify_all(&nodes, &directory, clock))?;
    say(&format!(
        "verification: {} message signature(s) and {} receipt(s) checked on {} nodes, {} problem(s)",
        summary["signatures_checked"],
        summary["receipts_checked"],
        nodes.len(),
        summary["problems"].as_array().map_or(0, Vec::len)
    ));
    for row in summary["messages"].as_array().into_iter().flatten() {
        say(&format!(
            "  {} {:<8} {:<19} {}  signature {}  receipt {}",
            row["node"].as_str().unwrap_or(""),
            row["direction"].as_str().unwrap_or(""),
            row["kind"].as_str().unwrap_or(""),
            short(row["message"].as_str().unwrap_or("")),
            if row["signature_ok"] == true {
                "ok"
            } else {
                "BAD"
            },
            if row["receipt_ok"] == true {
                "ok"
            } else {
                "BAD"
            },
        ));
    }
    if summary["problems"]
        .as_array()
        .is_some_and(|p| !p.is_empty())
    {
        bail!("verification found problems: {}", summary["problems"]);
    }

    // 9. Every node's custody ledger recomputed; one entry proved and checked offline.
    let mut ledgers = Vec::new();
    for n in &nodes {
        let report = rt.block_on(async {
            let (_, node) = crate::cmd::node::open(&n.dir).await?;
            let r = node.verify_ledger(&mut |_, _| {}).await;
            node.close().await;
            anyhow::Ok(r?)
        })?;
        say(&format!(
            "{} ledger verified: {} entries, root {}",
            n.state, report.size, report.root
        ));
        ledgers.push(json!({ "state": n.state, "entries": report.size, "root": report.root }));
    }
    let de = &nodes[1];
    let (bundle, key, note) = rt.block_on(async {
        let (_, node) = crate::cmd::node::open(&de.dir).await?;
        let bundle = node.prove_entry(0).await?;
        let key = node.ledger_verifier_key()?;
        let note = node.cosigned_checkpoint().await?.unwrap_or_default();
        node.close().await;
        anyhow::Ok((bundle, key, note))
    })?;
    let checked = bundle
        .verify(&key)
        .map_err(|e| anyhow::anyhow!("the demo proof bundle does not verify: {e}"))?;
    say(&format!(
        "proof bundle: DE ledger entry 0 is included in DE's signed checkpoint of size {} (checked with only DE's key {key})",
        checked.size
    ));
    say("DE's latest checkpoint, signed by DE and cosigned by its witnesses:");
    for line in note.lines() {
        say(&format!("  {line}"));
    }
    let cosignature_lines = note
        .lines()
        .filter(|l| l.starts_with("— custos.witness/"))
        .count();

    Ok(json!({
        "nodes": nodes.iter().map(|n| json!({ "state": n.state, "url": n.url })).collect::<Vec<_>>(),
        "timeline": timeline,
        "evidence": evidence,
        "cases": cases,
        "verification": summary,
        "witnessing": cosigned,
        "ledgers": ledgers,
        "proof_bundle": { "node": "DE", "entry": 0, "tree_size": checked.size, "verified": true },
        "de_checkpoint_cosignatures": cosignature_lines,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// A witness's answer in words, as `custos ledger witness` prints it.
fn witness_words(outcome: &custos_node::witnessing::CosignOutcome) -> String {
    use custos_node::witnessing::CosignOutcome;
    match outcome {
        CosignOutcome::Cosigned { size } => format!("cosigned it at {size} entries"),
        CosignOutcome::AlreadyCosigned { size } => {
            format!("had already cosigned it at {size} entries")
        }
        CosignOutcome::Refused { reason } => format!("REFUSED: {reason}"),
        CosignOutcome::Unreachable { reason } => format!("could not be reached: {reason}"),
        CosignOutcome::Fork { .. } => "reports a FORK of this ledger".to_owned(),
    }
}

fn short(id: &str) -> String {
    id.chars().take(23).collect::<String>() + "…"
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

async fn wait_healthy(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no answer from {url}/healthz");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a draft through the client API and waits until the outbox reports it delivered.
async fn send_via_api(
    client: &reqwest::Client,
    node: &DemoNode,
    draft: Value,
) -> anyhow::Result<(String, String, bool)> {
    let r = client
        .post(format!("{}/api/v1/requests", node.url))
        .bearer_auth(&node.token)
        // The demo's drafts are the templates' invented examples, sent on purpose.
        .json(&json!({ "draft": draft, "allow_sample": true }))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_default();
    if status.as_u16() != 202 {
        bail!("the client API answered {status}: {body}");
    }
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let message_id = body["message_id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let detail: Value = client
            .get(format!("{}/api/v1/requests/{id}", node.url))
            .bearer_auth(&node.token)
            .send()
            .await?
            .json()
            .await?;
        let delivered = detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| {
                m["id"] == message_id.as_str()
                    && m["delivery"] == "delivered"
                    && m["receipt"] == true
            });
        if delivered {
            return Ok((id, message_id, true));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((id, message_id, false))
}

/// Re-verifies, from each node's store, every message envelope and every receipt.
async fn verify_all(
    nodes: &[DemoNode],
    directory: &Directory,
    clock: &dyn Clock,
) -> anyhow::Result<Value> {
    let (mut sigs, mut receipts, mut problems, mut rows) = (0, 0, Vec::<String>::new(), Vec::new());
    for n in nodes {
        let (_, node) = crate::cmd::node::open(&n.dir).await?;
        let held = node.held_messages(&crate::operator::operator()?).await;
        node.close().await;
        for m in held? {
            sigs += 1;
            let env = Envelope::from_json(&m.envelope)?;
            let ok_sig = env
                .verify(|keyid| {
                    directory
                        .entries()
                        .flat_map(|e| e.signing_keys.iter())
                        .find(|k| k.key.key_id() == keyid)
                        .map(|k| k.key)
                })
                .is_ok();
            if !ok_sig {
                problems.push(format!(
                    "{}: signature of message {} does not verify",
                    n.state, m.id
                ));
            }
            let receiver = match m.direction {
                Direction::Outgoing => m.counterpart,
                Direction::Incoming => n.state,
            };
            let ok_receipt = match &m.receipt {
                Some(r) => {
                    receipts += 1;
                    let id = m.id.parse()?;
                    verify_receipt(r, directory, &id, receiver, clock.now()).is_ok()
                }
                None => false,
            };
            if !ok_receipt {
                problems.push(format!(
                    "{}: no valid receipt for message {}",
                    n.state, m.id
                ));
            }
            rows.push(json!({
                "node": n.state, "request": m.request, "message": m.id, "direction": m.direction.as_str(),
                "kind": m.kind, "created_at": m.created_at.format(&Rfc3339).unwrap_or_default(),
                "signature_ok": ok_sig, "receipt_ok": ok_receipt,
            }));
        }
    }
    Ok(
        json!({ "signatures_checked": sigs, "receipts_checked": receipts, "problems": problems, "messages": rows }),
    )
}

/// A desk officer on a demo node, with the case roles, and a client-API
/// token of theirs.
async fn demo_desk_token(node: &custos_node::Node) -> anyhow::Result<String> {
    use custos_node::app::{NewUser, Role, TokenRequest};
    let demo = custos_node::Actor::Cli {
        user: "demo".to_owned(),
    };
    let roles = [
        Role::DutyOfficer,
        Role::Caseworker,
        Role::ExecutingAuthority,
    ]
    .into_iter()
    .collect();
    node.add_user(
        &demo,
        NewUser {
            name: "desk".to_owned(),
            display_name: Some("Demo desk officer".to_owned()),
            roles,
            ..Default::default()
        },
    )
    .await?;
    let token = node
        .create_token(
            &demo,
            TokenRequest {
                user: "desk".to_owned(),
                name: Some("demo desk officer".to_owned()),
                ..Default::default()
            },
        )
        .await?;
    Ok(token.secret)
}
