//! No personal data where it does not belong (issue 18, item 6): a whole
//! scenario between two `custos serve` processes, with alerts by mail (a
//! real SMTP server) and webhook, then every log line, every metric, every
//! alert (mail, webhook call, `custos alerts list`) and every statistics
//! report of both nodes is searched for the drafts' facts, the names and
//! identifiers of the persons they name, their references and the free
//! text of the decisions taken on them, and none is found.
//!
//! The same strings are first found where they belong (the case as shown
//! to its caseworker), so the search cannot pass because nothing was sent.

use std::ffi::OsStr;
use std::time::Duration;

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::alerts::{Smtp, free_port, smtp_server_available, utc, webhook_receiver};
use crate::case::{act, args};
use crate::common::{Network, draft, wait_until};

/// Strings written into the drafts and the decisions: each is a fact, a
/// name, an identifier, a reference or a reason of some case.
const CASE_DATA: [&str; 9] = [
    "WOMBAT-FACTS-3319",
    "WOMBAT-REF-3319",
    "Wombat Quillfeather",
    "wombat.3319@mail.example",
    "203.0.113.77",
    "WOMBAT-ACCOUNT-3319",
    "WOMBAT-CONDITION-3319",
    "WOMBAT-NOTE-3319",
    "WOMBAT-REASONS-3319",
];

fn drafts() -> [Value; 3] {
    let mut emergency = draft(RequestKind::EmergencyData, "FR", "DE");
    emergency["facts"] = json!(format!(
        "{} a hospital's servers were encrypted",
        CASE_DATA[0]
    ));
    emergency["reference"] = json!(CASE_DATA[1]);

    let mut preservation = draft(RequestKind::Preservation, "FR", "DE");
    preservation["urgency"] = json!("urgent");
    preservation["facts"] = json!(format!("{} staging server abroad", CASE_DATA[0]));
    preservation["data"]["description"] = json!(format!(
        "Connection logs of the hosting account {}",
        CASE_DATA[5]
    ));

    let mut mla = draft(RequestKind::Mla, "FR", "DE");
    mla["reference"] = json!(CASE_DATA[1]);
    mla["facts"] = json!(format!("{} ransom demanded", CASE_DATA[0]));
    mla["persons"][0]["name"] = json!(CASE_DATA[2]);
    mla["persons"][0]["identifiers"] = json!([CASE_DATA[3], CASE_DATA[4]]);
    [emergency, preservation, mla]
}

/// `custos case act` on `cc`, which must be delivered.
fn acted(net: &Network, cc: &str, id: &str, action: &str, body: Option<&Value>) {
    let out = act(net, cc, id, action, body);
    assert!(
        out.status.success(),
        "{cc} {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("`case act --json` prints JSON");
    assert_eq!(answer["delivery"], "delivered", "{cc} {action}: {answer}");
}

fn assert_free_of_case_data(what: &str, text: &str) {
    for s in CASE_DATA {
        assert!(!text.contains(s), "{what} carries case data ({s}):\n{text}");
    }
}

#[test]
fn no_log_line_metric_alert_or_statistic_carries_case_data() {
    if !smtp_server_available() {
        return;
    }
    let mut net = Network::start(&["FR", "DE"]);
    let mail_folder = net.scratch("mail");
    let smtp_port = free_port();
    let smtp = Smtp::start(smtp_port, &mail_folder);
    let (hook_port, calls) = webhook_receiver();

    // Both nodes log everything they would log at the most talkative level;
    // Germany alerts its duty officer by mail and webhook.
    net.set_env(
        "CUSTOS_LOG",
        "trace,hyper=info,h2=info,reqwest=info,sqlx=info,rustls=info",
    );
    net.stop("FR");
    net.start_node("FR");
    net.stop("DE");
    let dir = net.dir("DE");
    let mut config = std::fs::read_to_string(dir.join("custos.toml")).expect("the config");
    config.push_str(&format!(
        "\n[alerts]\npublic_url = \"https://custos.de.example\"\n\n\
         [alerts.smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\nfrom = \"Custos DE <custos@de.example>\"\n\n\
         [[alerts.webhooks]]\nname = \"pager\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
    ));
    std::fs::write(dir.join("custos.toml"), config).expect("the config is written");
    net.start_node("DE");
    let data = dir.to_str().expect("utf-8");
    for name in ["ana", "bo"] {
        let email = format!("{name}@de.example");
        net.run_ok(&[
            "user",
            "add",
            "--data",
            data,
            name,
            "--roles",
            "duty-officer",
            "--email",
            &email,
        ]);
    }
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let from = utc(now - time::Duration::hours(1));
    let until = utc(now + time::Duration::days(1));
    net.run_ok(&[
        "rota", "add", "--data", data, "--person", "ana", "--deputy", "bo", "--from", &from,
        "--until", &until,
    ]);

    // France sends three requests; Germany answers each.
    let [emergency, preservation, mla] = drafts();
    let ids: Vec<String> = [&emergency, &preservation, &mla]
        .into_iter()
        .map(|d| {
            let sent = net.send("FR", d, &[]);
            assert_eq!(sent.delivery, "delivered", "{sent:?}");
            sent.id
        })
        .collect();
    let note = json!({ "note": format!("Received. {}", CASE_DATA[7]) });
    acted(&net, "DE", &ids[0], "acknowledge", Some(&note));
    acted(&net, "DE", &ids[1], "acknowledge", None);
    acted(&net, "DE", &ids[2], "acknowledge", None);
    let conditions = json!({ "conditions": [format!("Not for use against {}", CASE_DATA[6])] });
    acted(&net, "DE", &ids[2], "consult", Some(&conditions));
    let declined = json!({ "note": format!("We cannot. {}", CASE_DATA[7]) });
    acted(&net, "FR", &ids[2], "decline-conditions", Some(&declined));
    let refusal = json!({ "refusal": {
        "grounds": ["R2"],
        "reasons": format!("Essential interests. {}", CASE_DATA[8]),
    }});
    acted(&net, "DE", &ids[2], "refuse", Some(&refusal));

    // The case data is where it belongs: in the requests and cases as shown.
    let shown: String = ids
        .iter()
        .flat_map(|id| {
            [
                net.run_ok(&args(&["request", "show", id, "--json"], &dir)),
                net.run_ok(&args(&["case", "show", id, "--json"], &dir)),
            ]
        })
        .collect();
    for s in CASE_DATA {
        assert!(shown.contains(s), "the scenario never carried {s}");
    }

    // Alerts went out: the emergency and the urgent preservation.
    wait_until(
        Duration::from_secs(30),
        "both alerts' mails and webhook calls",
        || smtp.mails().len() >= 2 && calls.lock().expect("lock").len() >= 2,
    );

    // Everything that leaves a case's people: searched.
    let mut searched = 0;
    for cc in ["FR", "DE"] {
        let log = net.log(cc);
        assert!(
            log.contains("serving on"),
            "{cc}'s log is not the node's log:\n{log}"
        );
        assert_free_of_case_data(&format!("{cc}'s server log"), &log);
        let metrics = net.metrics(cc);
        assert!(metrics.contains("custos_"), "{metrics}");
        assert_free_of_case_data(&format!("{cc}'s /metrics"), &metrics);
        let stats = net.get_as_monitor(cc, "/api/v1/statistics");
        assert_eq!(stats.status, 200);
        assert_free_of_case_data(
            &format!("{cc}'s statistics"),
            &String::from_utf8_lossy(&stats.bytes),
        );
        let listed = net.run_ok(&[
            OsStr::new("alerts"),
            OsStr::new("list"),
            OsStr::new("--json"),
            OsStr::new("--data"),
            net.dir(cc).as_os_str(),
        ]);
        assert_free_of_case_data(&format!("{cc}'s alerts"), &listed);
        searched += 4;
    }
    for (to, mail) in smtp.mails() {
        assert_free_of_case_data(&format!("the mail to {to}"), &mail);
        searched += 1;
    }
    for call in calls.lock().expect("lock").iter() {
        assert_free_of_case_data("a webhook call", &String::from_utf8_lossy(&call.body));
        searched += 1;
    }
    assert!(searched >= 12, "only {searched} outputs searched");
}
