//! Evidence at the desk in a real browser against two node processes:
//! France asks Germany for stored data; Germany's executing authority
//! follows the case page's link to its evidence page, uploads two files
//! through the page's file input (one of several chunks), watches the
//! progress bar reach the end, seals them for France and sends the
//! package; France's caseworker sees it arrive verified, opens it and
//! downloads its files, each download byte for byte what was uploaded and
//! each in the record of who saw what. A data-protection officer, whose
//! role may read the evidence but not upload it, is refused by the node.
//!
//! And an upload cut half-way through a chunk (the connection dropped, the
//! node killed and started again) is finished by sending the range the
//! node reports missing, its last chunk first, through the desk's routes with the session cookie and the CSRF
//! token as `upload.js` uses them; the sealed package's digest is the
//! file's. In the browser, an upload whose node is killed and started
//! again while chunks are in flight goes on by itself (`upload.js` asks the
//! status and sends what is missing) and the node holds the file byte for
//! byte.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use custos_model::RequestKind;
use fantoccini::Locator;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::common::browser::Browser;
use crate::common::{Network, Person, draft, noise, totp_unused};

const MIB: usize = 1 << 20;

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A stored-data request from FR to DE that everyone at DE with a role on
/// cases may see (not confidential); returns its id.
fn request_to_de(net: &Network) -> String {
    let mut d = draft(RequestKind::StoredData, "FR", "DE");
    if let Some(c) = d.get_mut("confidentiality").and_then(Value::as_object_mut) {
        c.insert("required".into(), json!(false));
    }
    let sent = net.send("FR", &d, &[]);
    assert_eq!(sent.delivery, "delivered", "{sent:?}");
    sent.id
}

/// The text of `css` including what a closed `<details>` hides.
fn text_content(b: &Browser, css: &str) -> String {
    b.eval(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        vec![json!(css)],
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Chooses `files` through the evidence page's real file input, as a
/// person would (WebDriver takes several paths one per line).
fn choose_files(b: &Browser, files: &[&Path]) {
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    b.block_on(async {
        let input = b
            .client
            .find(Locator::Css("#evidence-file"))
            .await
            .expect("the file input");
        input
            .send_keys(&paths.join("\n"))
            .await
            .expect("the files are chosen");
    });
}

/// Waits until the page lists the uploads (it reloads once every file
/// arrived), failing with the page's status line after `within`.
fn uploads_listed(b: &Browser, within: Duration) {
    let deadline = Instant::now() + within;
    while !b.exists("table.uploads") {
        assert!(
            Instant::now() < deadline,
            "the upload never ended; the status says {:?}",
            text_content(b, "#evidence-status")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A browser signed in at Germany's desk as `person`, on case `id`'s
/// evidence page; `None` where no browser is installed.
fn evidence_page(net: &Network, person: &Person, id: &str) -> Option<Browser> {
    let de = Browser::start(&net.url("DE"), "en")?;
    de.sign_in(person);
    de.goto(&format!("/desk/cases/{id}/evidence"));
    de.wait_text("#evidence-upload-section", "Upload files to seal");
    Some(de)
}

/// Reloads `path` until an element `css` is on it.
fn reload_until(b: &Browser, path: &str, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(path);
        if b.exists(css) {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never showed {css}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Reloads `path` until the text of `css` (closed `<details>` included)
/// holds every one of `parts`: the custody ledger takes in its entries a
/// moment after the step they record.
fn reload_until_text(b: &Browser, path: &str, css: &str, parts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(path);
        let text = text_content(b, css);
        if parts.iter().all(|p| text.contains(p)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} on {path} never held {parts:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The rows of `custos audit` for `person` on `case` whose operation is
/// `open-evidence` and which were allowed.
fn evidence_opens(net: &Network, cc: &str, person: &str, case: &str) -> usize {
    let dir = net.dir(cc);
    let out = net.run_ok(&[
        "audit",
        "--data",
        dir.to_str().expect("a UTF-8 path"),
        "--person",
        person,
        "--case",
        case,
        "--limit",
        "1000",
        "--json",
    ]);
    let rows: Value = serde_json::from_str(&out).expect("audit --json prints JSON");
    rows.as_array()
        .expect("a list of rows")
        .iter()
        .filter(|r| r["operation"] == "open-evidence" && r["outcome"] == "allowed")
        .count()
}

#[test]
fn evidence_is_uploaded_sealed_and_sent_in_the_browser_then_opened_and_downloaded_on_the_other_side()
 {
    let net = Network::start(&["FR", "DE"]);
    let camille = net.add_person("FR", "camille", "caseworker");
    let erik = net.add_person("DE", "erik", "executing-authority");
    let dora = net.add_person("DE", "dora", "data-protection-officer");
    let id = request_to_de(&net);
    let Some(de) = Browser::start(&net.url("DE"), "en") else {
        return;
    };
    let Some(fr) = Browser::start(&net.url("FR"), "en") else {
        return;
    };

    // Two files: one of several 8 MiB chunks, one small.
    let large = noise(20 * MIB + 12_345, 0x9e37_79b9_7f4a_7c15);
    let small = b"Subscriber records, exported 2026-12-01.\n".repeat(100);
    let large_path = net.scratch("image.dd");
    let small_path = net.scratch("subscriber.txt");
    std::fs::write(&large_path, &large).expect("the large file is written");
    std::fs::write(&small_path, &small).expect("the small file is written");

    // Germany's executing authority: from the case page to its evidence.
    de.sign_in(&erik);
    let case_page = format!("/desk/cases/{id}");
    let evidence_page = format!("{case_page}/evidence");
    reload_until(&de, &case_page, "#case-evidence-link");
    de.click("#case-evidence-link");
    de.wait_path(&evidence_page);
    de.wait_text("h1", "Evidence");
    // And back.
    de.click("#evidence-case-link");
    de.wait_path(&case_page);
    de.click("#case-evidence-link");
    de.wait_path(&evidence_page);
    de.wait_text("#evidence-upload-section", "Upload files to seal");
    assert!(!de.exists("article.package"), "no package yet");

    // Every change of the progress bar and the status line is kept in the
    // tab's session storage, which outlives the reload that ends an upload,
    // and so is the way `upload.js` chose to send the large file's slices.
    // Slices of 512 KiB: the large file is enough of them for `upload.js` to
    // send rounds each way (read into memory, streamed from the file)
    // before it chooses one for the rest.
    de.eval(
        r#"sessionStorage.setItem('seen', '[]');
           sessionStorage.removeItem('way');
           window.custosUploadTuning = { chunk: 524288 };
           const bar = document.getElementById('evidence-progress');
           const out = document.getElementById('evidence-status');
           const keep = () => {
             const seen = JSON.parse(sessionStorage.getItem('seen'));
             seen.push([Number(bar.value), out.textContent]);
             sessionStorage.setItem('seen', JSON.stringify(seen));
             if (window.custosUploadWay && !sessionStorage.getItem('way')) {
               sessionStorage.setItem('way', window.custosUploadWay);
             }
           };
           new MutationObserver(keep).observe(bar, { attributes: true });
           new MutationObserver(keep).observe(out, { childList: true, characterData: true, subtree: true });
           return true;"#,
        vec![],
    );
    // The files are chosen through the real file input, as a person would.
    choose_files(&de, &[large_path.as_path(), small_path.as_path()]);
    assert_eq!(
        de.eval(
            "return document.getElementById('evidence-file').files.length",
            vec![]
        ),
        json!(2)
    );
    de.click("#evidence-upload");

    // The page reloads once every file arrived: both are listed, complete
    // and ticked for sealing.
    uploads_listed(&de, Duration::from_secs(60));
    let seen = de.eval("return sessionStorage.getItem('seen')", vec![]);
    let seen: Vec<(f64, String)> =
        serde_json::from_str(seen.as_str().expect("the record")).expect("the record parses");
    let values: Vec<f64> = seen.iter().map(|(v, _)| *v).collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "the bar went back: {values:?}"
    );
    let between: std::collections::BTreeSet<u64> = values
        .iter()
        .filter(|v| **v > 0.0 && **v < 100.0)
        .map(|v| *v as u64)
        .collect();
    assert!(
        between.len() >= 2,
        "the bar showed no progress between the ends: {values:?}"
    );
    assert_eq!(values.last(), Some(&100.0), "{seen:?}");
    assert!(
        seen.iter().any(|(_, s)| s == "Every file arrived."),
        "the page never said the upload ended: {seen:?}"
    );
    assert!(!seen.iter().any(|(_, s)| s.contains("failed")), "{seen:?}");
    let way = de.eval("return sessionStorage.getItem('way')", vec![]);
    assert!(
        way == json!("memory") || way == json!("file"),
        "upload.js chose no way to send the slices: {way}"
    );
    let rows = de.eval(
        "return Array.from(document.querySelectorAll('table.uploads tbody tr'))\
           .map(r => [r.innerText, r.querySelector('input').checked]);",
        vec![],
    );
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (name, len) in [("image.dd", large.len()), ("subscriber.txt", small.len())] {
        assert!(
            rows.iter().any(|r| {
                let text = r[0].as_str().unwrap_or_default();
                text.contains(name)
                    && text.contains(&format!("{len} / {len}"))
                    && r[1] == json!(true)
            }),
            "{name} is not listed complete and ticked: {rows:?}"
        );
    }

    // Sealed for France with the personal data in it and a condition on
    // its use, then sent.
    de.fill("#seal-personal-data-categories", "traffic data");
    de.fill("#seal-personal-data-conditions", "Delete after the trial.");
    de.fill(
        "#seal-conditions",
        "Only for the prosecution of the attack.",
    );
    de.click("form.seal button[type=submit]");
    reload_until(&de, &evidence_page, "article.package form.send");
    assert!(!de.exists("table.uploads"), "sealed uploads are gone");
    assert_eq!(de.text("article.package dd.signature"), "verified");
    let listed = de.text("article.package dl");
    assert!(
        listed.contains(&format!("2 · {}", large.len() + small.len())),
        "{listed}"
    );
    de.click("article.package form.send button[type=submit]");
    de.wait_text("article.package dd.receipted", "FR");
    reload_until_text(
        &de,
        &evidence_page,
        "article.package details.custody",
        &["evidence-sealed · desk:erik", "evidence-sent"],
    );

    // France's caseworker sees the package arrive, verified, and opens it.
    fr.sign_in(&camille);
    reload_until(&fr, &case_page, "#case-evidence-link");
    fr.click("#case-evidence-link");
    fr.wait_path(&evidence_page);
    reload_until(&fr, &evidence_page, "article.package form.open");
    assert_eq!(fr.text("article.package dd.signature"), "verified");
    assert_eq!(fr.text("article.package dd.checked"), "not yet");
    let before_open = evidence_opens(&net, "FR", "camille", &id);
    fr.click("article.package form.open button[type=submit]");
    fr.wait_text("article.package ul.opened", "image.dd");
    // The outcome is read from the custody ledger, once the opening's entry
    // is sequenced (within the sequencer's pass).
    reload_until_text(
        &fr,
        &evidence_page,
        "article.package dd.checked",
        &["everything matches"],
    );
    reload_until_text(
        &fr,
        &evidence_page,
        "article.package details.custody",
        &["evidence-received", "evidence-opened · desk:camille"],
    );
    let opened = evidence_opens(&net, "FR", "camille", &id);
    assert!(opened > before_open, "the opening is recorded");
    // What Germany added at the desk is in the signed manifest France holds.
    let fr_dir = net.dir("FR");
    let held = net.run_ok(&[
        "case",
        "personal-data",
        &id,
        "--data",
        fr_dir.to_str().expect("a UTF-8 path"),
        "--json",
    ]);
    for part in ["traffic data", "Delete after the trial."] {
        assert!(held.contains(part), "{part:?} not in {held}");
    }

    // The large file, downloaded with the session's cookie: the same bytes,
    // and one more `open-evidence` under camille's name.
    let links = fr.eval(
        "return Array.from(document.querySelectorAll('ul.opened a.download'))\
           .map(a => [a.textContent, a.getAttribute('href')]);",
        vec![],
    );
    let href = |name: &str| -> String {
        links
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l[0] == name)
            .and_then(|l| l[1].as_str())
            .unwrap_or_else(|| panic!("no download link for {name}: {links}"))
            .to_owned()
    };
    let session = fr
        .block_on(fr.client.get_named_cookie("custos_session"))
        .expect("the session cookie")
        .value()
        .to_owned();
    let client = reqwest::Client::new();
    let url = format!("{}{}", net.url("FR"), href("image.dd"));
    let (status, disposition, body) = fr.block_on(async {
        let r = client
            .get(&url)
            .header("cookie", format!("custos_session={session}"))
            .send()
            .await
            .expect("the download answers");
        let status = r.status().as_u16();
        let disposition = r
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, disposition, r.bytes().await.expect("the body"))
    });
    assert_eq!(status, 200);
    assert!(disposition.contains("image.dd"), "{disposition}");
    assert!(body[..] == large[..], "the downloaded file differs");
    assert_eq!(evidence_opens(&net, "FR", "camille", &id), opened + 1);

    // The small one fetched by the page itself, its digest taken there.
    let digest = fr.block_on(fr.client.execute_async(
        "const done = arguments[arguments.length - 1];\
         fetch(arguments[0], { credentials: 'same-origin' })\
           .then(r => r.arrayBuffer())\
           .then(b => crypto.subtle.digest('SHA-256', b))\
           .then(d => done(Array.from(new Uint8Array(d)).map(x => x.toString(16).padStart(2, '0')).join('')))\
           .catch(e => done('failed: ' + e));",
        vec![json!(href("subscriber.txt"))],
    ));
    assert_eq!(
        digest.expect("the page's fetch ran"),
        json!(sha256_hex(&small))
    );
    assert_eq!(evidence_opens(&net, "FR", "camille", &id), opened + 2);

    // Germany's data-protection officer reads the evidence but may not
    // upload, seal or send: nothing offers it, and a crafted upload and
    // seal are refused by the node with its typed error.
    de.click("header form.inline button[type=submit]");
    de.wait_path("/desk/sign-in");
    de.sign_in(&dora);
    de.goto(&evidence_page);
    de.wait_text("article.package dd.receipted", "FR");
    assert!(!de.exists("#evidence-upload-section"));
    assert!(!de.exists("form.send"));
    de.post_form(
        &format!("{evidence_page}/uploads"),
        &[("name", "more.dd"), ("size", "10")],
    );
    let answer = de.wait_text("body", "forbidden");
    let answer: Value = serde_json::from_str(&answer).expect("the refusal is JSON");
    assert_eq!(answer["code"], "forbidden", "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains("seal-evidence"), "{message}");
    de.goto(&evidence_page);
    de.post_form(&format!("{evidence_page}/seal"), &[("upload", "0")]);
    let page = de.wait_text("main.error", "403 forbidden");
    assert!(page.contains("seal-evidence"), "{page}");
    let refusals: Value = serde_json::from_str(&net.run_ok(&[
        "audit",
        "--data",
        net.dir("DE").to_str().expect("a UTF-8 path"),
        "--person",
        "dora",
        "--json",
    ]))
    .expect("audit --json prints JSON");
    let refused = refusals
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["operation"] == "seal-evidence" && r["outcome"] == "refused")
        .count();
    assert_eq!(refused, 2, "both refusals are recorded: {refusals}");
}

/// `s` percent-encoded for a form body.
fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A desk session opened over HTTP, as a browser holds it: the session
/// cookie and the CSRF token the pages carry.
struct DeskSession {
    base: String,
    cookie: String,
    csrf: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl DeskSession {
    fn sign_in(base: &str, person: &Person) -> DeskSession {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A connection kept from before a restart would be dead.
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client");
        let cookie = runtime.block_on(async {
            let r = client
                .post(format!("{base}/desk/sign-in"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "user={}&password={}&code={}",
                    form_value(&person.name),
                    form_value(&person.password),
                    totp_unused(&person.totp_secret)
                ))
                .send()
                .await
                .expect("the sign-in answers");
            let set = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("custos_session="))
                .unwrap_or_else(|| panic!("no session cookie ({})", r.status()))
                .to_owned();
            set.split(';').next().expect("name=value").to_owned()
        });
        let page = runtime.block_on(async {
            client
                .get(format!("{base}/desk"))
                .header("cookie", &cookie)
                .send()
                .await
                .expect("the inbox answers")
                .text()
                .await
                .expect("the inbox's text")
        });
        let at = page
            .find("name=\"_csrf\" value=\"")
            .expect("a form with the CSRF token")
            + "name=\"_csrf\" value=\"".len();
        let csrf = page[at..].split('"').next().expect("the token").to_owned();
        DeskSession {
            base: base.to_owned(),
            cookie,
            csrf,
            client,
            runtime,
        }
    }

    /// Sends `method path` with the cookie and the token; gives the status
    /// and the body as JSON (`Null` when it is not).
    fn call(&self, method: &str, path: &str, body: Vec<u8>, form: bool) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        self.runtime.block_on(async {
            let r = self
                .client
                .request(method, format!("{}{path}", self.base))
                .header("cookie", &self.cookie)
                .header("x-csrf-token", &self.csrf)
                .header(
                    "content-type",
                    if form {
                        "application/x-www-form-urlencoded"
                    } else {
                        "application/octet-stream"
                    },
                )
                .body(body)
                .send()
                .await
                .expect("the node answers");
            let status = r.status().as_u16();
            let bytes = r.bytes().await.expect("the body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

/// Sends the head of a chunk `PUT` and `sent` of its `len` bytes, then
/// drops the connection, as a network cut would.
fn cut_chunk(base: &str, path: &str, cookie: &str, csrf: &str, data: &[u8], sent: usize) {
    let addr = base.strip_prefix("http://").expect("an http URL");
    let mut stream = std::net::TcpStream::connect(addr).expect("the node listens");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    stream.write_all(head.as_bytes()).expect("the head is sent");
    stream
        .write_all(&data[..sent])
        .expect("part of the body is sent");
    stream.flush().expect("flushed");
    // Let the node take in what arrived before the line goes dead.
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
}

#[test]
fn an_upload_cut_half_way_is_finished_by_sending_the_range_the_node_reports_missing() {
    let mut net = Network::start(&["FR", "DE"]);
    let erik = net.add_person("DE", "erik", "executing-authority");
    let id = request_to_de(&net);
    let data = noise(20 * MIB + 777, 0x51_7cc1_b727_220a);
    let chunk = 8 * MIB;
    let base = net.url("DE");

    let desk = DeskSession::sign_in(&base, &erik);
    let start = format!("name=image.dd&size={}&_csrf={}", data.len(), desk.csrf);
    let (status, upload) = desk.call(
        "POST",
        &format!("/desk/cases/{id}/evidence/uploads"),
        start.into_bytes(),
        true,
    );
    assert_eq!(status, 200, "{upload}");
    let upload_id = upload["id"].as_str().expect("an upload id").to_owned();
    assert_eq!(upload["received"], 0);
    let chunk_path = |offset: usize| format!("/desk/uploads/{upload_id}?offset={offset}");

    let (status, view) = desk.call("PUT", &chunk_path(0), data[..chunk].to_vec(), false);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["received"], chunk);

    // The second chunk is cut half-way; then the node itself is killed and
    // started again.
    cut_chunk(
        &base,
        &chunk_path(chunk),
        &desk.cookie,
        &desk.csrf,
        &data[chunk..2 * chunk],
        chunk / 2,
    );
    net.kill("DE");
    net.start_node("DE");

    // The status tells what is missing: everything after the whole chunk.
    let (status, view) = desk.call("GET", &format!("/desk/uploads/{upload_id}"), vec![], false);
    assert_eq!(status, 200, "{view}");
    let offset = view["received"].as_u64().expect("a count") as usize;
    assert_eq!(offset, chunk, "only whole chunks are kept: {view}");
    assert_eq!(
        view["missing"],
        json!([{"start": chunk, "end": data.len()}]),
        "{view}"
    );
    assert_eq!(view["complete"], false);
    // A client that lost count and starts again from zero writes the same
    // bytes again; nothing more counts.
    let (status, again) = desk.call("PUT", &chunk_path(0), data[..chunk].to_vec(), false);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["received"], chunk, "{again}");
    // A chunk crossing the declared size is refused, typed.
    let tail = data.len() - 10;
    let (status, refused) = desk.call("PUT", &chunk_path(tail), vec![0; 11], false);
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["code"], "too-large", "{refused}");
    // Sealing the unfinished upload is refused.
    let seal = format!("_csrf={}&upload={upload_id}", desk.csrf);
    let (status, _) = desk.call(
        "POST",
        &format!("/desk/cases/{id}/evidence/seal"),
        seal.clone().into_bytes(),
        true,
    );
    assert!(status >= 400, "an unfinished upload was sealed ({status})");

    // The missing range sent, its last chunk first.
    let mut starts: Vec<usize> = (offset..data.len()).step_by(chunk).collect();
    starts.reverse();
    let mut received = offset;
    for at in starts {
        let end = (at + chunk).min(data.len());
        let (status, view) = desk.call("PUT", &chunk_path(at), data[at..end].to_vec(), false);
        assert_eq!(status, 200, "{view}");
        received += end - at;
        assert_eq!(view["received"], received, "{view}");
    }
    let (_, view) = desk.call("GET", &format!("/desk/uploads/{upload_id}"), vec![], false);
    assert_eq!(view["complete"], true, "{view}");

    let (status, _) = desk.call(
        "POST",
        &format!("/desk/cases/{id}/evidence/seal"),
        seal.into_bytes(),
        true,
    );
    assert_eq!(status, 303, "sealing shows the evidence page again");

    // The package sealed on the node names the file with its digest.
    let sealed = net.dir("DE").join("evidence").join("sealed");
    let packages: Vec<_> = std::fs::read_dir(&sealed)
        .expect("the sealed packages")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    assert_eq!(packages.len(), 1, "{packages:?}");
    let manifest = manifest_of(&net, &packages[0]);
    let files = manifest["files"].as_array().expect("the manifest's files");
    assert_eq!(files.len(), 1, "{manifest}");
    assert_eq!(files[0]["path"], "image.dd");
    assert_eq!(files[0]["size"], data.len());
    assert_eq!(files[0]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(manifest["request"], id.as_str());
}

/// `custos evidence manifest PKG --json` with the node's directory.
fn manifest_of(net: &Network, package: &Path) -> Value {
    let dir = net.dir("DE");
    let out = net.run_ok(&[
        std::ffi::OsStr::new("evidence"),
        std::ffi::OsStr::new("manifest"),
        package.as_os_str(),
        std::ffi::OsStr::new("--data"),
        dir.as_os_str(),
        std::ffi::OsStr::new("--json"),
    ]);
    let v: Value = serde_json::from_str(&out).expect("manifest --json prints JSON");
    v.get("manifest").cloned().unwrap_or(v)
}

#[test]
fn a_browser_upload_outlives_a_restart_of_the_node_and_sends_only_what_is_missing() {
    let mut net = Network::start(&["FR", "DE"]);
    let erik = net.add_person("DE", "erik", "executing-authority");
    let id = request_to_de(&net);
    // Large enough that the node can be stopped while chunks are in flight.
    let data = noise(256 * MIB + 4_321, 0x2d35_8dcc_aa6c_78a5);
    let path = net.scratch("image.dd");
    std::fs::write(&path, &data).expect("the file is written");
    let Some(de) = evidence_page(&net, &erik, &id) else {
        return;
    };
    de.eval(
        r#"sessionStorage.setItem('said', '[]');
           const out = document.getElementById('evidence-status');
           performance.setResourceTimingBufferSize(100000);
           new MutationObserver(() => {
             const said = JSON.parse(sessionStorage.getItem('said'));
             said.push(out.textContent);
             sessionStorage.setItem('said', JSON.stringify(said));
             // The chunks sent, counted before the page reloads.
             const puts = performance.getEntriesByType('resource')
               .filter(e => e.name.includes('offset=')).length;
             sessionStorage.setItem('puts', String(puts));
           }).observe(out, { childList: true, characterData: true, subtree: true });
           return true;"#,
        vec![],
    );
    choose_files(&de, &[path.as_path()]);
    de.click("#evidence-upload");

    // Once a quarter arrived, the node is killed and started again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bar = de.eval(
            "return Number(document.getElementById('evidence-progress').value)",
            vec![],
        );
        if bar.as_f64().is_some_and(|v| v >= 25.0) {
            assert!(bar.as_f64() < Some(100.0), "the upload ended first");
            break;
        }
        assert!(Instant::now() < deadline, "no byte arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    net.kill("DE");
    std::thread::sleep(Duration::from_millis(500));
    net.start_node("DE");

    // The page goes on by itself and reloads once the file is whole.
    uploads_listed(&de, Duration::from_secs(180));
    let said = de.eval("return sessionStorage.getItem('said')", vec![]);
    let said: Vec<String> =
        serde_json::from_str(said.as_str().expect("the record")).expect("the record parses");
    assert!(
        said.iter().any(|s| s.starts_with("The connection was cut")),
        "the page never said it was resuming: {said:?}"
    );
    assert!(!said.iter().any(|s| s.contains("failed")), "{said:?}");
    // Only what was missing was sent again: the file's 33 chunks, and at
    // most the four in flight when the node stopped (sent again from the
    // start, a quarter of the file would add eight more).
    let puts: usize = de
        .eval("return sessionStorage.getItem('puts')", vec![])
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("the count of chunks");
    assert!((33..=37).contains(&puts), "{puts} chunks were sent");
    let len = data.len();
    assert!(
        text_content(&de, "table.uploads").contains(&format!("{len} / {len}")),
        "{}",
        text_content(&de, "table.uploads")
    );
    // What the node holds is the file, byte for byte.
    let uploads = net.dir("DE").join("evidence").join("uploads");
    let held: Vec<_> = std::fs::read_dir(&uploads)
        .expect("the uploads")
        .filter_map(Result::ok)
        .map(|e| e.path().join("files").join("image.dd"))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(
        std::fs::read(&held[0]).expect("the uploaded file") == data,
        "the node's copy differs from the file"
    );
}

/// A file changed on the disk after it was chosen cannot be read any more
/// (the browser refuses what is no longer the file the person chose): the
/// page says the upload failed at once instead of trying again for minutes,
/// and the node holds none of the changed bytes.
#[test]
fn a_file_changed_after_it_was_chosen_fails_at_once_without_retrying() {
    // Either way `upload.js` may send a slice: read into memory first, or
    // streamed by the browser from the file.
    for way in ["memory", "file"] {
        a_changed_file_fails_at_once(way);
    }
}

fn a_changed_file_fails_at_once(way: &str) {
    let net = Network::start(&["FR", "DE"]);
    let erik = net.add_person("DE", "erik", "executing-authority");
    let id = request_to_de(&net);
    let data = noise(24 * MIB, 0x51f0_77a2_03c4_9e1b);
    let path = net.scratch("changed.dd");
    std::fs::write(&path, &data).expect("the file is written");
    let Some(de) = evidence_page(&net, &erik, &id) else {
        return;
    };
    choose_files(&de, &[path.as_path()]);
    // Written again after it was chosen: a new modification time and a
    // new length.
    std::thread::sleep(Duration::from_millis(1_100));
    std::fs::write(&path, noise(MIB, 0x0dd5_eed5)).expect("the file is changed");
    de.eval(
        "window.custosUploadTuning = { way: arguments[0] }; return true;",
        vec![json!(way)],
    );
    let start = Instant::now();
    de.click("#evidence-upload");
    let deadline = start + Duration::from_secs(20);
    let said = loop {
        let said = text_content(&de, "#evidence-status");
        if said.starts_with("The upload failed") {
            break said;
        }
        assert!(
            !said.starts_with("The connection was cut"),
            "the page retries a file it cannot read ({way}): {said:?}"
        );
        assert!(
            Instant::now() < deadline,
            "the page never said the upload failed ({way}): {said:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!de.exists("table.uploads"), "{way}: {said}");
    // Nothing of the file reached the node: the upload it started records
    // no range received.
    let uploads = net.dir("DE").join("evidence").join("uploads");
    let started: Vec<_> = std::fs::read_dir(&uploads)
        .expect("the uploads")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    let received = std::fs::read(started[0].join("received.json")).unwrap_or_default();
    let ranges: Vec<(u64, u64)> = if received.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&received).expect("received.json parses")
    };
    assert!(
        ranges.is_empty(),
        "the node holds {ranges:?} of a file that changed ({way})"
    );
}
