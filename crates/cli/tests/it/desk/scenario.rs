//! The desk's acceptance scenario, in a real browser against two node
//! processes: a caseworker in France composes an emergency preservation
//! request, a duty officer in Germany acknowledges it and confirms the
//! preservation; the follow-up mutual legal assistance request goes out,
//! Germany asks for more information and France answers; a caseworker in
//! Germany consults and then refuses with grounds; an action the duty
//! officer's role does not allow is refused by the node; and the pages run
//! right to left in Arabic. The same steps run in English and in Arabic
//! (the checks rest on ids and states, the English run reads texts too).

use std::time::{Duration, Instant};

use custos_model::RequestKind;
use serde_json::{Value, json};

use crate::common::browser::{Browser, PAGE_DEADLINE};
use crate::common::{Network, draft};

#[test]
fn the_whole_case_in_english() {
    scenario("en");
}

#[test]
fn the_whole_case_in_arabic() {
    scenario("ar");
}

fn scenario(lang: &str) {
    let english = lang == "en";
    let net = Network::start(&["FR", "DE"]);
    let camille = net.add_person("FR", "camille", "caseworker");
    let dana = net.add_person("DE", "dana", "duty-officer");
    let karl = net.add_person("DE", "karl", "caseworker");
    let Some(fr) = Browser::start(&net.url("FR"), lang) else {
        return;
    };
    let Some(de) = Browser::start(&net.url("DE"), lang) else {
        return;
    };
    fr.sign_in(&camille);
    de.sign_in(&dana);

    // The page runs in the person's language and direction, the brand at
    // the start of the line: on the left in English, on the right in Arabic.
    let dir = fr.eval("return document.documentElement.dir", vec![]);
    assert_eq!(dir, json!(if english { "ltr" } else { "rtl" }));
    let brand_left = fr.eval(
        "const r = document.querySelector('header .brand').getBoundingClientRect(); \
         return r.left + r.width / 2 < window.innerWidth / 2;",
        vec![],
    );
    assert_eq!(brand_left, json!(english), "the header mirrors in {lang}");

    // FR composes the emergency preservation request; it is checked as
    // typed, saved, resumed from the drafts and sent.
    let mut preservation = draft(RequestKind::Preservation, "FR", "DE");
    preservation["urgency"] = json!("emergency");
    // A confidential request is shown only to the people assigned to it;
    // this one is not confidential, so the duty officer sees it arrive.
    open_to_all(&mut preservation);
    let preservation_id = compose(&fr, &preservation, english, true);

    // DE's duty officer sees the emergency arrive and acknowledges it.
    de.goto("/desk");
    de.wait_text("#inbox tr.emergency", "");
    wait_for_case(&de, &preservation_id);
    act(
        &de,
        "acknowledge",
        &[("note", "Received by the German 24/7 point of contact.")],
    );
    wait_state(&de, &preservation_id, "acknowledged");
    // The role decides what is offered: no refusal for a duty officer.
    assert!(!de.exists("#action-refuse"));
    act(
        &de,
        "confirm-preservation",
        &[("took_effect", "2026-12-06"), ("days", "90")],
    );
    wait_state(&de, &preservation_id, "preserved");
    wait_state(&fr, &preservation_id, "preserved");
    if english {
        de.wait_text("#clocks", "Preservation");
        fr.wait_text("#timeline", "Receipt verified");
    } else {
        fr.wait_text("#timeline .receipt", "");
    }

    // The follow-up mutual legal assistance request.
    let mut mla = draft(RequestKind::Mla, "FR", "DE");
    open_to_all(&mut mla);
    let mla_id = compose(&fr, &mla, english, false);
    wait_for_case(&de, &mla_id);
    act(&de, "acknowledge", &[]);
    wait_state(&de, &mla_id, "acknowledged");
    act(
        &de,
        "request-info",
        &[("note", "Which accounts does the request concern?")],
    );
    wait_state(&de, &mla_id, "awaiting-information");

    // The duty officer tries what only a caseworker may: the node refuses.
    de.post_form(
        &format!("/desk/cases/{mla_id}/act/refuse"),
        &[
            ("refusal.grounds", "R2"),
            ("refusal.reasons", "Essential interests."),
        ],
    );
    let refused = de.wait_text("#action-refused", "forbidden");
    assert!(refused.contains("act:refuse"), "{refused}");
    wait_state(&de, &mla_id, "awaiting-information");

    // FR answers.
    wait_state(&fr, &mla_id, "awaiting-information");
    act(
        &fr,
        "provide-info",
        &[("note", "The accounts listed in the annex.")],
    );
    wait_state(&fr, &mla_id, "acknowledged");

    // DE's caseworker consults, then refuses with grounds. A refusal
    // without reasons is first sent back with the problem beside its field.
    de.click("header form.inline button[type=submit]");
    de.wait_path("/desk/sign-in");
    de.sign_in(&karl);
    wait_state(&de, &mla_id, "acknowledged");
    act(
        &de,
        "consult",
        &[("conditions", "Use the data only for the named trial.")],
    );
    wait_state(&de, &mla_id, "consulting");
    act(&de, "refuse", &[("refusal.grounds", "R2")]);
    de.wait_text("#f-refuse-refusal-reasons-problems li.error", "");
    assert_eq!(
        de.eval("return document.getElementById('f-refuse-refusal-reasons').getAttribute('aria-describedby')", vec![]),
        json!("f-refuse-refusal-reasons-problems")
    );
    act(
        &de,
        "refuse",
        &[
            ("refusal.grounds", "R2"),
            (
                "refusal.reasons",
                "Execution would prejudice essential interests.",
            ),
        ],
    );
    wait_state(&de, &mla_id, "refused");
    wait_state(&fr, &mla_id, "refused");
    if english {
        fr.wait_text("#timeline", "Refuse with grounds");
        fr.wait_text("#timeline", "R2");
        fr.wait_text(
            "#consult-conditions",
            "Use the data only for the named trial.",
        );
    }
    // Nothing is left to do on a refused case but what each side may.
    assert!(!fr.exists("#action-provide-info"));
}

/// Composes `draft` on the desk of `b` and sends it; returns the new case's
/// id. With `via_drafts`, the draft is first saved, then resumed from the
/// list of drafts.
fn compose(b: &Browser, draft: &Value, english: bool, via_drafts: bool) -> String {
    b.goto("/desk/compose");
    let kind = draft["kind"].as_str().expect("a kind");
    b.set_fields(
        "#compose-choose",
        &[("kind".into(), kind.into()), ("to".into(), "DE".into())],
    );
    b.click("#compose-choose button[type=submit]");
    b.wait_text("#compose", "");
    // Typing checks the form: the missing contents show beside their fields.
    b.fill("#f-reference", "FR-2026-77");
    b.wait_text("#check-summary.invalid", "");
    b.wait_text("#f-legal-basis-basis-problems li.error", "Art.");
    if english {
        b.wait_text("#check-summary", "The draft cannot be sent yet.");
    }
    // The case's own reference, not the template's sample one (the node
    // refuses to send the invented example from the desk).
    let mut draft = draft.clone();
    draft["reference"] = json!("FR-2026-77");
    b.set_fields("#compose", &flatten(&draft));
    b.wait_text("#check-summary.valid", "");
    b.wait_text("#legal-basis .ok", "");
    if english {
        b.wait_text("#check-summary", "The draft may be sent.");
    }
    if via_drafts {
        b.click("#compose button[value=save]");
        wait_query(b, "draft=thr-");
        b.goto("/desk/drafts");
        b.click("table.cases tbody tr a");
        wait_query(b, "draft=thr-");
        b.wait_text("#compose", "");
    }
    b.click("#send");
    let deadline = Instant::now() + PAGE_DEADLINE;
    loop {
        let path = b.path();
        if let Some(id) = path.strip_prefix("/desk/cases/") {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "sending stayed on {path}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Opens the form of `action` on the case page shown, fills it and takes it.
fn act(b: &Browser, action: &str, fields: &[(&str, &str)]) {
    b.wait_text(&format!("#action-{action}"), "");
    if b.eval(
        &format!("return document.getElementById('action-{action}').open"),
        vec![],
    ) != json!(true)
    {
        b.click(&format!("#action-{action} summary"));
    }
    let form = format!("#action-{action} form");
    let pairs: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    b.set_fields(&form, &pairs);
    b.click(&format!("{form} button[type=submit]"));
}

/// Reloads case `id`'s page until its state is `state`.
fn wait_state(b: &Browser, id: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&format!("/desk/cases/{id}"));
        let now = b.eval(
            "const e = document.getElementById('case-state'); return e ? e.dataset.state : null;",
            vec![],
        );
        if now == json!(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "case {id} stayed {now} instead of {state}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits for case `id` to reach the node of `b` and opens it from the inbox.
fn wait_for_case(b: &Browser, id: &str) {
    b.goto("/desk");
    let link = format!("#inbox a[href='/desk/cases/{id}']");
    b.click(&link);
    b.wait_path(&format!("/desk/cases/{id}"));
}

fn wait_query(b: &Browser, part: &str) {
    let deadline = Instant::now() + PAGE_DEADLINE;
    loop {
        let url = b.eval("return location.search", vec![]);
        if url.as_str().is_some_and(|u| u.contains(part)) {
            return;
        }
        assert!(Instant::now() < deadline, "the page's query stayed {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A draft as the form's (name, value) pairs: `offences[0].category`, lists
/// of text one a line, yes/no as `true`/`false`.
fn flatten(draft: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            Value::Array(items) if items.iter().all(Value::is_object) => {
                if let Some(first) = items.first() {
                    walk(&format!("{prefix}[0]"), first, out);
                }
            }
            Value::Array(items) => out.push((
                prefix.to_owned(),
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", draft, &mut out);
    out
}

/// Makes a test draft not confidential.
fn open_to_all(draft: &mut Value) {
    if let Some(c) = draft
        .get_mut("confidentiality")
        .and_then(Value::as_object_mut)
    {
        c.insert("required".into(), json!(false));
    }
}
