//! A real browser for the desk's tests: Debian's headless Chromium driven
//! through its `chromedriver` (W3C WebDriver) with the `fantoccini` client.
//!
//! [`Browser::start`] starts a `chromedriver` child on a free port and opens
//! one browser session with a 1366×768 window; both end when the
//! [`Browser`] is dropped. Without `chromedriver` on the machine the tests
//! are skipped with a printed reason, unless `CUSTOS_TEST_REQUIRE_BROWSER`
//! is set (as `.ci/run` does), which makes a missing browser a failure.

use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Where Debian's packages put the driver and the browser itself (not its
/// wrapper script).
const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// How long one wait for the page may take.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(20);

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    pub client: Client,
    runtime: tokio::runtime::Runtime,
    /// The desk's origin, such as `http://localhost:7701`.
    pub base: String,
}

impl Browser {
    /// A browser pointed at the node served at `node_url` (its desk is
    /// reached as `localhost`, a secure context for the desk's `Secure`
    /// cookies), with `lang` as the browser's language; `None` when the
    /// machine has no browser and the tests may skip.
    pub fn start(node_url: &str, lang: &str) -> Option<Browser> {
        if !Path::new(DRIVER).exists() || !Path::new(CHROMIUM).exists() {
            let why = format!(
                "SKIPPED: no headless Chromium ({DRIVER}, {CHROMIUM}); install Debian's chromium and chromium-driver"
            );
            assert!(
                std::env::var_os("CUSTOS_TEST_REQUIRE_BROWSER").is_none(),
                "{why}"
            );
            eprintln!("{why}");
            return None;
        }
        let port = super::free_port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1366,768".to_owned(),
            format!("--lang={lang}"),
        ];
        // Chromium shares memory between its processes through /dev/shm;
        // where that is small (a container's 64 MiB), it is told to use
        // /tmp instead, which costs it more work per byte moved.
        if small_dev_shm() {
            args.push("--disable-dev-shm-usage".to_owned());
        }
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": { "intl.accept_languages": lang },
            }
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        };
        let driver_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PAGE_DEADLINE;
        let client = runtime.block_on(async {
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&driver_url)
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("chromedriver on {driver_url} did not start a session: {e}"),
                }
            }
        });
        let base = node_url.replace("127.0.0.1", "localhost");
        Some(Browser {
            driver,
            client,
            runtime,
            base,
        })
    }

    /// Runs `f` on the browser's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Loads desk path `path` (such as `/desk`).
    pub fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.block_on(self.client.goto(&url))
            .unwrap_or_else(|e| panic!("loading {url}: {e}"));
    }

    /// The current path (without the origin).
    pub fn path(&self) -> String {
        let url = self
            .block_on(self.client.current_url())
            .expect("the current URL");
        url.path().to_owned()
    }

    /// Waits (up to the page deadline) for the element `css` to be on the
    /// page, and gives it.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Waits for the element `css` and returns its text.
    pub fn text(&self, css: &str) -> String {
        self.block_on(async {
            let el = self.element(css).await;
            el.text().await.expect("the element's text")
        })
    }

    /// Fills the field `css` with `value` (replacing what it held).
    pub fn fill(&self, css: &str, value: &str) {
        self.block_on(async {
            let el = self.element(css).await;
            el.clear().await.expect("the field clears");
            el.send_keys(value).await.expect("the field takes keys");
        });
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) {
        self.block_on(async {
            let el = self.element(css).await;
            el.click().await.expect("the element is clickable");
        });
    }

    /// Runs `script` in the page (its arguments in `args`) and returns its
    /// value.
    pub fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.block_on(self.client.execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Waits until the page's path is `path`.
    pub fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + PAGE_DEADLINE;
        while self.path() != path {
            assert!(
                Instant::now() < deadline,
                "the browser stayed on {} instead of {path}",
                self.path()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Signs in on the desk's sign-in page as `person`.
    pub fn sign_in(&self, person: &super::Person) {
        self.goto("/desk/sign-in");
        self.fill("#user", &person.name);
        self.fill("#password", &person.password);
        self.fill("#code", &super::totp_unused(&person.totp_secret));
        self.click("form.stack button[type=submit]");
        self.wait_path("/desk");
    }

    /// A PNG screenshot of the page, written to `file`.
    pub fn screenshot(&self, file: &Path) {
        let png = self
            .block_on(self.client.screenshot())
            .expect("a screenshot");
        std::fs::write(file, png).expect("the screenshot is written");
    }

    // -- deskcase: compose and the case page.

    /// Waits until the element `css` exists (and, polling, until its text
    /// contains `part`); returns its text.
    pub fn wait_text(&self, css: &str, part: &str) -> String {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let text = self.eval(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            );
            if let Some(t) = text.as_str()
                && t.contains(part)
            {
                return t.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{css} never held {part:?}; it holds {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether an element `css` is on the page now.
    pub fn exists(&self, css: &str) -> bool {
        self.eval(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        ) == json!(true)
    }

    /// Sets the fields of form `form` by name (`pairs`: name, value; a
    /// yes/no box is checked by `true`, a box of several by its value),
    /// then fires `change` on the form as typing would.
    pub fn set_fields(&self, form: &str, pairs: &[(String, String)]) {
        let script = r#"
            const form = document.querySelector(arguments[0]);
            for (const [name, value] of arguments[1]) {
              const all = form.querySelectorAll(`[name="${name}"]`);
              for (const el of all) {
                if (el.type === 'checkbox') {
                  el.checked = el.value === 'true' ? value === 'true' : value.split(String.fromCharCode(10)).includes(el.value);
                } else {
                  el.value = value;
                }
              }
            }
            form.dispatchEvent(new Event('change', { bubbles: true }));
            return true;"#;
        let pairs: Vec<Value> = pairs.iter().map(|(k, v)| json!([k, v])).collect();
        self.eval(script, vec![json!(form), Value::Array(pairs)]);
    }

    /// Posts a form built in the page to desk path `action` with `pairs`
    /// and this session's CSRF token, as a crafted request would.
    pub fn post_form(&self, action: &str, pairs: &[(&str, &str)]) {
        let script = r#"
            const f = document.createElement('form');
            f.method = 'post';
            f.action = arguments[0];
            const token = document.querySelector('input[name=_csrf]').value;
            for (const [k, v] of [['_csrf', token], ...arguments[1]]) {
              const i = document.createElement('input');
              i.type = 'hidden'; i.name = k; i.value = v;
              f.appendChild(i);
            }
            document.body.appendChild(f);
            f.submit();
            return true;"#;
        let pairs: Vec<Value> = pairs.iter().map(|(k, v)| json!([k, v])).collect();
        self.eval(script, vec![json!(action), Value::Array(pairs)]);
    }

    // --- Oversight part: accessibility checks, page weight, window size. ---

    /// Runs axe-core in the page and returns its serious and critical
    /// violations; `None` (with a printed reason) when axe-core is not
    /// installed and the browser tests may skip it.
    pub fn axe(&self) -> Option<Vec<Violation>> {
        let source = axe_source()?;
        // WebDriver's scripts are not the page's: the CSP does not apply.
        self.eval(&format!("{source}\n;return typeof axe;"), vec![]);
        let found = self
            .block_on(self.client.execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact || '',\
                     help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))))\
                   .catch(e => done({ error: String(e) }));",
                vec![],
            ))
            .unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
        if let Some(e) = found.get("error") {
            panic!("axe-core failed: {e}");
        }
        let all: Vec<Violation> = serde_json::from_value(found).expect("axe-core's violations");
        Some(
            all.into_iter()
                .filter(|v| v.impact == "serious" || v.impact == "critical")
                .collect(),
        )
    }

    /// The bytes the current page cost: the document and every resource it
    /// loaded, each counted whole (as on a cold cache, even when this load
    /// found it cached), from the browser's resource timing.
    pub fn page_bytes(&self) -> u64 {
        let v = self.eval(
            "const all = performance.getEntriesByType('navigation')\
               .concat(performance.getEntriesByType('resource'));\
             return all.reduce((sum, e) => sum + Math.max(e.transferSize || 0,\
               (e.encodedBodySize || 0) + 300), 0);",
            vec![],
        );
        v.as_f64().expect("a number of bytes") as u64
    }

    /// Resizes the window (such as 390×844 for a phone).
    pub fn window(&self, width: u32, height: u32) {
        self.block_on(self.client.set_window_size(width, height))
            .expect("the window resizes");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One accessibility rule axe-core found broken on a page.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    /// The first elements that break it (CSS selectors).
    pub nodes: Vec<String>,
}

/// Where `npm ci --prefix crates/cli/tests/browser` puts axe-core.
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);

/// axe-core's source, or `None` (printing why) when it is not installed
/// and `CUSTOS_TEST_REQUIRE_BROWSER` is not set.
fn axe_source() -> Option<String> {
    match std::fs::read_to_string(AXE) {
        Ok(s) => Some(s),
        Err(e) => {
            let why = format!(
                "SKIPPED: the accessibility check: {AXE}: {e}; run `npm ci --prefix crates/cli/tests/browser`"
            );
            assert!(
                std::env::var_os("CUSTOS_TEST_REQUIRE_BROWSER").is_none(),
                "{why}"
            );
            eprintln!("{why}");
            None
        }
    }
}

/// Whether /dev/shm is missing or holds less than 1 GiB.
fn small_dev_shm() -> bool {
    rustix::fs::statvfs("/dev/shm")
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize) < 1 << 30)
        .unwrap_or(true)
}
