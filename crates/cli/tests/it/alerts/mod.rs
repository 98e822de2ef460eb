//! Alerts that reach the person on duty, with real parts: two `custos
//! serve` processes, a real SMTP server on loopback (Python's `aiosmtpd`,
//! `crates/testkit/smtp_sink.py`, writing each mail it accepts to a folder) and a real
//! webhook receiver (an HTTP server in this test recording each call).
//!
//! One story: France sends Germany an emergency request; Germany's duty
//! officer gets exactly one mail and Germany's webhook one call whose
//! Standard Webhooks signature verifies, neither carrying the draft's
//! content; nobody acknowledges, so the deputy gets the escalation; the
//! officer acknowledges with `custos alerts ack`. Then the SMTP server goes
//! down while an urgent request arrives, comes back, and the mail arrives
//! (nothing lost); and a restart of the node sends nothing twice.
//!
//! Without `aiosmtpd` the test says why and passes, unless
//! `CUSTOS_TEST_REQUIRE_SMTP=1` (as CI sets it), where it fails.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use custos_model::RequestKind;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Network, draft, wait_until};

/// The webhook secret the node is given (Standard Webhooks form).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Strings of the draft that no alert may carry.
const MARKERS: [&str; 2] = ["QUOKKA-FACTS-7731", "QUOKKA-REF-7731"];

pub(crate) fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether Python's aiosmtpd can be imported; panics when CI requires it.
pub(crate) fn smtp_server_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CUSTOS_TEST_REQUIRE_SMTP").as_deref() != Ok("1"),
            "CUSTOS_TEST_REQUIRE_SMTP=1 but Python's aiosmtpd is missing: pip install aiosmtpd"
        );
        custos_testkit::skipped(
            &custos_testkit::current_test(),
            "Python's aiosmtpd is not installed (pip install aiosmtpd); the alert tests need a real SMTP server",
        );
    }
    ok
}

/// The SMTP server process.
pub(crate) struct Smtp {
    folder: PathBuf,
    child: Option<Child>,
}

impl Smtp {
    pub(crate) fn start(port: u16, folder: &Path) -> Smtp {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(folder)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        std::io::BufRead::read_line(&mut out, &mut line).expect("the SMTP server says it is ready");
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        // Its later lines name each mail accepted; the folder says the same.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Smtp {
            folder: folder.to_owned(),
            child: Some(child),
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every mail received: (recipients, the message as text).
    pub(crate) fn mails(&self) -> Vec<(String, String)> {
        let mut names: Vec<_> = std::fs::read_dir(&self.folder)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension() == Some(OsStr::new("eml")))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("a mail file");
                let (to, rest) = text.split_once('\n').expect("a recipients line");
                // Long lines come quoted-printable: undo its soft breaks.
                let rest = rest
                    .replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=");
                (to.trim_start_matches("To: ").to_owned(), rest)
            })
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One webhook call received.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    id: String,
    timestamp: String,
    signature: String,
    pub(crate) body: Vec<u8>,
}

/// A webhook receiver on loopback, on its own thread and runtime.
pub(crate) fn webhook_receiver() -> (u16, Arc<Mutex<Vec<Call>>>) {
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("an address").port();
    let recorded = Arc::clone(&calls);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let recorded = Arc::clone(&recorded);
                        async move {
                            let h = |k: &str| {
                                headers
                                    .get(k)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_owned()
                            };
                            recorded.lock().expect("the lock").push(Call {
                                id: h("webhook-id"),
                                timestamp: h("webhook-timestamp"),
                                signature: h("webhook-signature"),
                                body: body.to_vec(),
                            });
                            "ok"
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
            axum::serve(listener, app)
                .await
                .expect("the receiver serves");
        });
    });
    (port, calls)
}

/// Checks a call's Standard Webhooks signature with the shared secret.
fn verify(call: &Call) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("the secret's key");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("a key");
    mac.update(format!("{}.{}.", call.id, call.timestamp).as_bytes());
    mac.update(&call.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        call.signature.split(' ').any(|s| s == expected),
        "the webhook signature {:?} does not verify",
        call.signature
    );
    let ts: i64 = call.timestamp.parse().expect("a Unix timestamp");
    // The serving node stamps its webhooks with the wall clock.
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - ts).abs() < 300, "the webhook timestamp is off");
}

fn assert_no_content(what: &str, text: &str) {
    for m in MARKERS {
        assert!(
            !text.contains(m),
            "{what} carries case content ({m}):\n{text}"
        );
    }
}

pub(crate) fn utc(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    format!("{} UTC", t.format(&f).expect("a time"))
}

fn alerts(net: &Network, cc: &str) -> Vec<Value> {
    let dir = net.dir(cc);
    let out = net.run_ok(&[
        OsStr::new("alerts"),
        OsStr::new("list"),
        OsStr::new("--data"),
        dir.as_os_str(),
        OsStr::new("--json"),
    ]);
    serde_json::from_str(&out).expect("`alerts list --json` prints JSON")
}

fn emergency_draft() -> Value {
    let mut d = draft(RequestKind::EmergencyData, "FR", "DE");
    d["facts"] = json!(format!(
        "{} the hospital's servers were encrypted",
        MARKERS[0]
    ));
    d["reference"] = json!(MARKERS[1]);
    d
}

#[test]
fn an_emergency_wakes_the_duty_officer_escalates_and_nothing_is_lost_or_sent_twice() {
    if !smtp_server_available() {
        return;
    }
    let mut net = Network::start(&["FR", "DE"]);
    let scratch = net.scratch("mail");
    let smtp_port = free_port();
    let mut smtp = Smtp::start(smtp_port, &scratch);
    let (hook_port, calls) = webhook_receiver();

    // Germany's node: alerts by mail and webhook, escalation after 3 s.
    net.stop("DE");
    let dir = net.dir("DE");
    let mut config = std::fs::read_to_string(dir.join("custos.toml")).expect("the config");
    config.push_str(&format!(
        "\n[alerts]\npublic_url = \"https://custos.de.example\"\nescalate_after = \"3s\"\nretry_after = \"1s\"\n\n\
         [alerts.smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\nfrom = \"Custos DE <custos@de.example>\"\n\n\
         [[alerts.webhooks]]\nname = \"pager\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"{SECRET}\"\n"
    ));
    std::fs::write(dir.join("custos.toml"), config).expect("the config is written");
    net.start_node("DE");
    // The rota's shift must cover the serving node's wall-clock now.
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let from = utc(now - time::Duration::hours(1));
    let until = utc(now + time::Duration::days(1));
    let data = dir.to_str().expect("utf-8");
    // The rota names users of the node: a stranger is refused with a hint.
    let stranger = net.run(&[
        "rota", "add", "--data", data, "--person", "ana", "--deputy", "bo", "--from", &from,
        "--until", &until,
    ]);
    let said = String::from_utf8_lossy(&stranger.stderr);
    assert!(
        !stranger.status.success() && said.contains("custos user add ana"),
        "{said}"
    );
    for (name, email) in [("ana", "ana@de.example"), ("bo", "bo@old.example")] {
        net.run_ok(&[
            "user",
            "add",
            "--data",
            data,
            name,
            "--roles",
            "duty-officer",
            "--email",
            email,
        ]);
    }
    // Ana's address comes from her profile; Bo's is given.
    net.run_ok(&[
        "rota",
        "add",
        "--data",
        data,
        "--person",
        "ana",
        "--deputy",
        "bo",
        "--deputy-email",
        "bo@de.example",
        "--from",
        &from,
        "--until",
        &until,
    ]);
    let now_out = net.run_ok(&["rota", "now", "--data", dir.to_str().expect("utf-8")]);
    assert!(
        now_out.contains("ana") && now_out.contains("[on duty]"),
        "{now_out}"
    );

    // An emergency request: one mail to the officer, one signed webhook.
    let sent = net.send("FR", &emergency_draft(), &[]);
    assert_eq!(sent.delivery, "delivered", "{sent:?}");
    wait_until(
        Duration::from_secs(20),
        "the officer's mail and the webhook arrive",
        || !smtp.mails().is_empty() && !calls.lock().expect("lock").is_empty(),
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "ana@de.example");
    assert!(
        mails[0].1.contains("Emergency request received"),
        "{}",
        mails[0].1
    );
    assert!(
        mails[0]
            .1
            .contains(&format!("https://custos.de.example/cases/{}", sent.id))
    );
    assert_no_content("the mail", &mails[0].1);
    let first: Vec<Call> = calls.lock().expect("lock").clone();
    assert_eq!(first.len(), 1, "{first:?}");
    verify(&first[0]);
    let body: Value = serde_json::from_slice(&first[0].body).expect("JSON");
    assert_eq!(body["type"], "alert.raised");
    assert_eq!(body["data"]["counterpart"], "FR");
    assert_eq!(body["data"]["urgency"], "emergency");
    assert_no_content("the webhook", &String::from_utf8_lossy(&first[0].body));

    // Nobody acknowledges: the deputy is alerted, then the officer acknowledges.
    wait_until(Duration::from_secs(20), "the deputy's mail arrives", || {
        smtp.mails().iter().any(|(to, _)| to == "bo@de.example")
    });
    let listed = alerts(&net, "DE");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(listed[0]["level"], 1);
    let ack = net.run_ok(&["alerts", "ack", "--data", dir.to_str().expect("utf-8"), &id]);
    assert!(ack.contains("acknowledged"), "{ack}");
    let escalated_mails = smtp.mails().len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        smtp.mails().len(),
        escalated_mails,
        "an acknowledged alert escalated again"
    );

    // The SMTP server down while an urgent request arrives; back, nothing lost.
    smtp.stop();
    let mut urgent = draft(RequestKind::Preservation, "FR", "DE");
    urgent["urgency"] = json!("urgent");
    let sent2 = net.send("FR", &urgent, &[]);
    assert_eq!(sent2.delivery, "delivered");
    wait_until(
        Duration::from_secs(20),
        "a mail delivery fails and is retried",
        || {
            alerts(&net, "DE").iter().any(|a| {
                a["case_id"] == sent2.id
                    && a["deliveries"].as_array().is_some_and(|ds| {
                        ds.iter().any(|d| {
                            d["channel"] == "email"
                                && d["state"] == "pending"
                                && d["attempts"].as_u64() >= Some(1)
                        })
                    })
            })
        },
    );
    smtp = Smtp::start(smtp_port, &scratch);
    wait_until(
        Duration::from_secs(30),
        "the held mail arrives once the server is back",
        || {
            smtp.mails()
                .iter()
                .any(|(_, m)| m.contains("Urgent request received"))
        },
    );
    let urgent_id = alerts(&net, "DE")
        .into_iter()
        .find(|a| a["case_id"] == sent2.id)
        .and_then(|a| a["id"].as_str().map(str::to_owned))
        .expect("the urgent request's alert");
    net.run_ok(&[
        "alerts",
        "ack",
        "--data",
        dir.to_str().expect("utf-8"),
        &urgent_id,
    ]);

    // A restart sends nothing twice.
    let mails_before = smtp.mails().len();
    let calls_before = calls.lock().expect("lock").len();
    net.stop("DE");
    net.start_node("DE");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        smtp.mails().len(),
        mails_before,
        "a restart sent a mail again"
    );
    assert_eq!(
        calls.lock().expect("lock").len(),
        calls_before,
        "a restart called a webhook again"
    );
    let all = alerts(&net, "DE");
    assert_eq!(all.len(), 2, "{all:?}");
    for a in &all {
        assert!(
            a["acknowledged_by"]
                .as_str()
                .is_some_and(|b| b.starts_with("cli:")),
            "{a}"
        );
    }
    // Every webhook call verified, none with content.
    for call in calls.lock().expect("lock").iter() {
        verify(call);
        assert_no_content("a webhook", &String::from_utf8_lossy(&call.body));
    }
    for (_, mail) in smtp.mails() {
        assert_no_content("a mail", &mail);
    }
}
