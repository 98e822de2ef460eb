//! The cases' clocks run by two real `custos serve` processes whose time the
//! test moves through the development clock file of debug builds
//! (`CUSTOS_DEV_CLOCK_FILE`): a preservation that ends on day 61 and not
//! before, one extended and one held by a pending follow-up request; the
//! scheduler killed and restarted (and the index rebuilt by hand between)
//! firing nothing twice; an emergency request whose acknowledgement target
//! passes, escalated once by the requesting node and listed overdue by both.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::common::{Network, draft, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

fn args<'a>(words: &'a [&'a str], dir: &'a Path) -> Vec<&'a OsStr> {
    let mut out: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
    out.push(OsStr::new("--data"));
    out.push(dir.as_os_str());
    out
}

/// France and Germany, initialised with a scheduler tick of one second and
/// a development clock file (standing at the system time until written),
/// both serving.
fn network() -> (Network, PathBuf) {
    let mut net = Network::offline(&["FR", "DE"]);
    let clock = net.scratch("clock");
    std::fs::write(&clock, "+0").expect("the clock file is written");
    net.set_env("CUSTOS_DEV_CLOCK_FILE", clock.as_os_str());
    for cc in ["FR", "DE"] {
        let config = net.dir(cc).join("custos.toml");
        let mut text = std::fs::read_to_string(&config).expect("custos.toml reads");
        text.push_str("\n[cases]\ntick = \"1s\"\n");
        std::fs::write(&config, text).expect("custos.toml is written");
        net.start_node(cc);
    }
    (net, clock)
}

fn show(net: &Network, cc: &str, id: &str) -> Value {
    let dir = net.dir(cc);
    let out = net.run_ok(&args(&["case", "show", id, "--json"], &dir));
    serde_json::from_str(&out).expect("`case show --json` prints JSON")
}

fn act(net: &Network, cc: &str, id: &str, action: &str, body: Value) {
    let dir = net.dir(cc);
    let file = net.scratch(&format!("{cc}-{action}-{id}.json"));
    std::fs::write(&file, body.to_string()).expect("the body file is written");
    let file = file.to_str().expect("a UTF-8 path").to_owned();
    net.run_ok(&args(&["case", "act", id, action, "--file", &file], &dir));
}

fn list(net: &Network, cc: &str, filters: &[&str]) -> Vec<Value> {
    let dir = net.dir(cc);
    let mut words = vec!["case", "list", "--json"];
    words.extend_from_slice(filters);
    let out = net.run_ok(&args(&words, &dir));
    serde_json::from_str(&out).expect("`case list --json` prints JSON")
}

/// The kinds of the request's history events on the node of `cc`.
fn history(net: &Network, cc: &str, id: &str) -> Vec<String> {
    net.show(cc, id)["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

fn count(events: &[String], kind: &str) -> usize {
    events.iter().filter(|e| e.as_str() == kind).count()
}

/// Waits until both nodes show case `id` in `state`.
fn wait_state(net: &Network, id: &str, state: &str) {
    wait_until(DEADLINE, &format!("{id} {state} on both nodes"), || {
        ["FR", "DE"].iter().all(|cc| {
            net.run(&args(&["case", "show", id, "--json"], &net.dir(cc)))
                .status
                .success()
                && show(net, cc, id)["state"] == state
        })
    });
}

/// The due instant of the case's clock `kind` as node `cc` shows it.
fn due(net: &Network, cc: &str, id: &str, kind: &str) -> String {
    let case = show(net, cc, id);
    let clock = case["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} clock: {case}"));
    clock["due"].as_str().expect("a due instant").to_owned()
}

/// `instant` moved by `seconds`, in RFC 3339.
fn moved(instant: &str, seconds: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(instant, &Rfc3339).expect("an RFC 3339 instant");
    (t + time::Duration::seconds(seconds))
        .format(&Rfc3339)
        .expect("an instant formats")
}

/// France's preservation request, confirmed by Germany as taking effect on
/// the day it was sent, for 60 days; its id.
fn confirmed_preservation(net: &Network) -> String {
    let sent = net.send("FR", &draft(RequestKind::Preservation, "FR", "DE"), &[]);
    let id = sent.id;
    wait_state(net, &id, "submitted");
    act(net, "DE", &id, "acknowledge", json!({}));
    wait_state(net, &id, "acknowledged");
    let today = show(net, "DE", &id)["as_of"].as_str().expect("as_of")[..10].to_owned();
    act(
        net,
        "DE",
        &id,
        "confirm-preservation",
        json!({"took_effect": today, "days": 60}),
    );
    wait_state(net, &id, "preserved");
    id
}

#[test]
fn a_preservation_ends_on_day_61_once_across_a_killed_and_restarted_scheduler() {
    let (mut net, clock) = network();
    let ends = confirmed_preservation(&net);
    let extended = confirmed_preservation(&net);
    let held = confirmed_preservation(&net);
    let end = due(&net, "FR", &ends, "preservation");
    let later = moved(&end, 10 * 86_400);
    act(
        &net,
        "DE",
        &extended,
        "extend-preservation",
        json!({"until": &later[..10]}),
    );
    let follow_up = net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]).id;
    act(
        &net,
        "FR",
        &held,
        "announce-follow-up",
        json!({"request": follow_up}),
    );
    wait_until(
        DEADLINE,
        "the extension and the follow-up on both nodes",
        || {
            ["FR", "DE"].iter().all(|cc| {
                due(&net, cc, &extended, "preservation") == later
                    && show(&net, cc, &held)["clocks"][0]["status"] == "held"
            })
        },
    );

    // The last minute of day 60: both warnings (a week and a day before),
    // and no end.
    std::fs::write(&clock, moved(&end, -60)).expect("the clock moves");
    wait_until(DEADLINE, "the warnings on both nodes", || {
        ["FR", "DE"]
            .iter()
            .all(|cc| count(&history(&net, cc, &ends), "clock:warning:86400s") == 1)
    });
    for cc in ["FR", "DE"] {
        let events = history(&net, cc, &ends);
        assert_eq!(
            count(&events, "clock:warning:604800s"),
            1,
            "{cc}: {events:?}"
        );
        assert_eq!(count(&events, "clock:ended"), 0, "{cc}: {events:?}");
        assert_eq!(show(&net, cc, &ends)["clocks"][0]["status"], "running");
    }

    // Germany's scheduler is killed; day 61 comes; its index is rebuilt by
    // hand while it is down, and it starts again.
    net.kill("DE");
    std::fs::write(&clock, moved(&end, 60)).expect("the clock moves");
    let dir = net.dir("DE");
    let rebuilt = net.run_ok(&args(&["case", "reindex", "--json"], &dir));
    assert!(rebuilt.contains("\"derived\": 4"), "{rebuilt}");
    net.start_node("DE");
    wait_until(DEADLINE, "the end on both nodes", || {
        ["FR", "DE"]
            .iter()
            .all(|cc| count(&history(&net, cc, &ends), "clock:ended") == 1)
    });

    // Stopped and started again, then ten days on: the extended one ends
    // (the restarted scheduler runs), the first one does not end again,
    // the held one never ends.
    net.stop("DE");
    net.start_node("DE");
    std::fs::write(&clock, moved(&later, 60)).expect("the clock moves");
    wait_until(DEADLINE, "the extended one's end on both nodes", || {
        ["FR", "DE"]
            .iter()
            .all(|cc| count(&history(&net, cc, &extended), "clock:ended") == 1)
    });
    for cc in ["FR", "DE"] {
        let events = history(&net, cc, &ends);
        assert_eq!(count(&events, "clock:ended"), 1, "{cc}: {events:?}");
        assert_eq!(
            count(&events, "clock:warning:86400s"),
            1,
            "{cc}: {events:?}"
        );
        assert_eq!(
            count(&events, "clock:warning:604800s"),
            1,
            "{cc}: {events:?}"
        );
        let events = history(&net, cc, &held);
        assert!(
            !events.iter().any(|e| e.starts_with("clock:")),
            "{cc}: {events:?}"
        );
        assert_eq!(show(&net, cc, &ends)["clocks"][0]["status"], "ended");
        assert_eq!(show(&net, cc, &held)["clocks"][0]["status"], "held");
    }
}

#[test]
fn an_emergency_request_not_acknowledged_in_time_is_escalated_once() {
    let (net, clock) = network();
    let routine = net.send("FR", &draft(RequestKind::Mla, "FR", "DE"), &[]).id;
    let id = net
        .send("FR", &draft(RequestKind::EmergencyData, "FR", "DE"), &[])
        .id;
    wait_state(&net, &id, "submitted");
    wait_state(&net, &routine, "submitted");
    let listed = list(&net, "DE", &[]);
    assert_eq!(listed[0]["id"], id.as_str(), "{listed:?}");
    assert_eq!(listed[0]["urgency"], "emergency");

    // An hour and a minute later.
    let target = due(&net, "FR", &id, "acknowledgement");
    std::fs::write(&clock, moved(&target, 60)).expect("the clock moves");
    wait_until(DEADLINE, "the escalation received and answered", || {
        history(&net, "FR", &id).contains(&"received:status".to_owned())
    });
    let fr = history(&net, "FR", &id);
    assert_eq!(count(&fr, "sent:status-query"), 1, "{fr:?}");
    let de = history(&net, "DE", &id);
    assert_eq!(count(&de, "received:status-query"), 1, "{de:?}");
    assert_eq!(count(&de, "clock:overdue"), 1, "{de:?}");
    let sent = net.show("FR", &id)["history"]
        .as_array()
        .expect("a history")
        .iter()
        .find(|e| e["kind"] == "sent:status-query")
        .cloned()
        .expect("the escalation");
    assert_eq!(sent["actor"], "node:scheduler");
    assert_eq!(sent["detail"]["escalation"], true);
    assert!(
        net.log("DE").contains("the requesting State escalated"),
        "{}",
        net.log("DE")
    );
    let text = net.metrics("DE");
    assert!(
        text.contains("custos_escalations_received_total 1"),
        "{text}"
    );

    for cc in ["FR", "DE"] {
        let overdue = list(&net, cc, &["--overdue"]);
        let ids: Vec<&str> = overdue.iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, [id.as_str()], "{cc}");
        assert_eq!(show(&net, cc, &id)["overdue"], true);
    }
    // Later ticks send nothing more.
    std::fs::write(&clock, moved(&target, 600)).expect("the clock moves");
    act(
        &net,
        "DE",
        &id,
        "correspond",
        json!({"text": "Working on it."}),
    );
    wait_until(DEADLINE, "the correspondence on France's node", || {
        history(&net, "FR", &id).contains(&"received:correspondence".to_owned())
    });
    assert_eq!(count(&history(&net, "FR", &id), "sent:status-query"), 1);
}
