//! Evidence uploaded from the browser against `custos evidence send`, on
//! loopback, in one run and on the same file.
//!
//! Two node processes: France asks Germany for stored data; a person of
//! Germany's executing authority, signed in at Germany's desk in headless
//! Chromium, chooses the file through the evidence page's real file input
//! and uploads it (`upload.js`: 8 MiB chunks, four in flight, each at its
//! own offset). The time is the page's own, from the click on Upload to the
//! moment the page says every file arrived. Then `custos evidence seal`
//! (not timed) makes a package of the same file for France, and `custos
//! evidence send` uploads it to France's node (timed). Both read their
//! source from the disk (its pages dropped from the cache before each).
//! Each throughput is the file's bytes over the time; the target is the
//! browser at least 0.7x of the command.
//!
//! Beside them, the browser's own ceiling: the same Chromium sends as many
//! bytes, made in the page's memory, to a server in this process that
//! discards them (8 MiB `fetch` bodies, four in flight), with no file to
//! read and no node to store them. The processor time of Chromium's
//! processes is printed for the desk's upload and for the ceiling, per MiB.
//!
//! Run: `cargo bench -p custos-cli --bench desk_upload`; the file's size is
//! `CUSTOS_BENCH_UPLOAD_MIB` MiB (default 2048);
//! `CUSTOS_BENCH_UPLOAD_CHUNK_MIB` and `CUSTOS_BENCH_UPLOAD_IN_FLIGHT` try
//! another chunk size or number of chunks in flight than `upload.js`'s own,
//! and `CUSTOS_BENCH_UPLOAD_WAY` (`memory` or `file`) one way of sending
//! the slices instead of `upload.js`'s trial of both (through
//! `window.custosUploadTuning`). Prints figures, the way sent, and
//! PASS/MISS; needs Debian's chromium and chromium-driver, and about four
//! times the file's size free on the disk.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::browser::Browser;
use common::{Network, draft};
use custos_model::RequestKind;
use fantoccini::Locator;
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("desk upload bench failed: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mib: u64 = std::env::var("CUSTOS_BENCH_UPLOAD_MIB")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("CUSTOS_BENCH_UPLOAD_MIB must be a whole number")?
        .unwrap_or(2048);
    let size = mib * MIB;
    let knob = |name: &str| -> anyhow::Result<Option<u64>> {
        std::env::var(name)
            .ok()
            .map(|v| v.parse())
            .transpose()
            .with_context(|| format!("{name} must be a whole number"))
    };
    let chunk_mib = knob("CUSTOS_BENCH_UPLOAD_CHUNK_MIB")?;
    let in_flight = knob("CUSTOS_BENCH_UPLOAD_IN_FLIGHT")?;
    let way = std::env::var("CUSTOS_BENCH_UPLOAD_WAY").ok();
    if let Some(w) = &way
        && w != "memory"
        && w != "file"
    {
        bail!("CUSTOS_BENCH_UPLOAD_WAY is memory or file, not {w}");
    }
    let tuning = json!({
        "chunk": chunk_mib.map(|m| m * MIB),
        "inFlight": in_flight,
        "way": way,
    });
    println!("desk upload against custos evidence send: one file of {mib} MiB, loopback");

    let net = Network::start(&["FR", "DE"]);
    let exec = net.add_person("DE", "exec", "executing-authority");
    let mut request = draft(RequestKind::StoredData, "FR", "DE");
    if let Some(c) = request
        .get_mut("confidentiality")
        .and_then(Value::as_object_mut)
    {
        c.insert("required".into(), json!(false));
    }
    let id = net.send("FR", &request, &[]).id;
    common::wait_until(Duration::from_secs(60), "DE holds the request", || {
        net.requests("DE").iter().any(|r| r["id"] == id.as_str())
    });

    let source = net.scratch("evidence.bin");
    write_source(&source, size)?;
    evict(std::slice::from_ref(&source))?;

    // The browser's upload, timed by the page.
    let Some(browser) = Browser::start(&net.url("DE"), "en") else {
        eprintln!("desk_upload: no browser; nothing measured");
        return Ok(());
    };
    browser.sign_in(&exec);
    let page = format!("/desk/cases/{id}/evidence");
    browser.goto(&page);
    browser.text("#evidence-upload-section");
    browser.block_on(async {
        let input = browser
            .client
            .find(Locator::Css("#evidence-file"))
            .await
            .context("the file input")?;
        input
            .send_keys(&source.display().to_string())
            .await
            .context("choosing the file")
    })?;
    let cpu_before = chromium_cpu();
    let wall = Instant::now();
    browser.eval(
        r#"const section = document.getElementById('evidence-upload-section');
           const out = document.getElementById('evidence-status');
           const done = section.dataset.msgDone;
           sessionStorage.removeItem('upload_ms');
           // Keep the timing of every chunk (the default keeps 250 entries).
           performance.setResourceTimingBufferSize(100000);
           window.custosUploadTuning = arguments[0];
           const start = performance.now();
           new MutationObserver(() => {
             if (out.textContent === done) {
               const puts = performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/desk/uploads/') && e.name.includes('offset='))
                 .map(e => e.duration).sort((a, b) => a - b);
               sessionStorage.setItem('chunks', JSON.stringify(puts));
               sessionStorage.setItem('way', window.custosUploadWay || '');
               sessionStorage.setItem('upload_ms', String(performance.now() - start));
             } else if (out.textContent.startsWith(section.dataset.msgFailed)) {
               sessionStorage.setItem('upload_ms', 'failed: ' + out.textContent);
             }
           }).observe(out, { childList: true, characterData: true, subtree: true });
           document.getElementById('evidence-upload').click();
           return true;"#,
        vec![tuning],
    );
    let page_ms = page_time(
        &browser,
        "return sessionStorage.getItem('upload_ms')",
        "the browser's upload",
    )?;
    let wall_secs = wall.elapsed().as_secs_f64();
    let desk_cpu = chromium_cpu().saturating_sub(cpu_before);
    let chunks: Vec<f64> = browser
        .eval("return sessionStorage.getItem('chunks')", vec![])
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let page_secs = page_ms / 1000.0;
    let sent_way = browser
        .eval("return sessionStorage.getItem('way') || ''", vec![])
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    // What the node holds is the whole file.
    let uploads = net.dir("DE").join("evidence").join("uploads");
    let held = files_under(&uploads)?
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "evidence.bin"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<Result<u64, _>>()?;
    if held != size {
        bail!("the node holds {held} bytes of the {size} uploaded");
    }
    let ceiling = ceiling(&browser, size)?;
    drop(browser);
    // The uploaded copy is not needed any more: give its room back.
    std::fs::remove_dir_all(&uploads)?;

    // The same file sealed, then sent by the command line.
    let pkg = net.scratch("pkg");
    let t = Instant::now();
    let status = net
        .custos_command()
        .args(["evidence", "seal"])
        .arg(&source)
        .args(["--request", &id, "--to", "FR", "--out"])
        .arg(&pkg)
        .arg("--data")
        .arg(net.dir("DE"))
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("custos evidence seal failed ({status})");
    }
    let seal_secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(&source)?;
    let package_files = files_under(&pkg)?;
    let package_bytes = package_files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<Result<u64, _>>()?;
    evict(&package_files)?;
    let t = Instant::now();
    let out = net
        .custos_command()
        .args(["evidence", "send"])
        .arg(&pkg)
        .arg("--data")
        .arg(net.dir("DE"))
        .args(["--to", "FR"])
        .output()?;
    let send_secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "custos evidence send failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&pkg)?;
    let received = net.dir("FR").join("evidence").join("received");
    let _ = std::fs::remove_dir_all(&received);

    let rate = |secs: f64| size as f64 / MIB as f64 / secs;
    let ratio = rate(page_secs) / rate(send_secs);
    println!();
    println!("| what | time | MiB/s |");
    println!("|---|---:|---:|");
    println!(
        "| browser upload at the desk (page's time; {wall_secs:.2} s seen by the bench) | {page_secs:.2} s | {:.0} |",
        rate(page_secs)
    );
    println!(
        "| custos evidence send ({:.0} MiB package; sealed before in {seal_secs:.1} s) | {send_secs:.2} s | {:.0} |",
        package_bytes as f64 / MIB as f64,
        rate(send_secs)
    );
    println!(
        "| the same browser to a server that discards (bytes made in the page: no file, no node) | {:.2} s | {:.0} |",
        ceiling.secs,
        rate(ceiling.secs)
    );
    let per_mib = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / (size as f64 / MIB as f64);
    println!(
        "Chromium's processor time (all its processes): desk upload {:.1} s ({:.1} ms per MiB), to the discarding server {:.1} s ({:.1} ms per MiB)",
        desk_cpu.as_secs_f64(),
        per_mib(desk_cpu),
        ceiling.cpu.as_secs_f64(),
        per_mib(ceiling.cpu)
    );
    if !chunks.is_empty() {
        println!(
            "browser chunks ({} MiB, {} in flight, sent from {}{}): {} requests, median {:.0} ms, slowest {:.0} ms each",
            chunk_mib.map_or_else(|| "upload.js's".into(), |m| m.to_string()),
            in_flight.map_or_else(|| "upload.js's".into(), |n| n.to_string()),
            sent_way,
            if way.is_some() {
                ""
            } else {
                ", upload.js's choice"
            },
            chunks.len(),
            chunks[chunks.len() / 2],
            chunks[chunks.len() - 1]
        );
    }
    println!();
    println!(
        "ceiling/send: {:.2}x (the browser alone, sending to a server that does nothing)",
        rate(ceiling.secs) / rate(send_secs)
    );
    println!(
        "ratio browser/send: {ratio:.2}x (target >= 0.7x): {}",
        if ratio >= 0.7 { "PASS" } else { "MISS" }
    );
    Ok(())
}

/// Waits for the page's time of an upload, in milliseconds, which
/// `script` returns once the upload has ended: a number, or `failed: `
/// and why. `what` names the upload in errors.
fn page_time(browser: &common::browser::Browser, script: &str, what: &str) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let v = browser.eval(script, vec![]);
        if let Some(text) = v.as_str() {
            if let Some(why) = text.strip_prefix("failed: ") {
                bail!("{what} failed: {why}");
            }
            return text.parse::<f64>().context("the page's time");
        }
        if Instant::now() > deadline {
            bail!("{what} did not end within an hour");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the browser's ceiling run measured.
struct Ceiling {
    /// The page's time from its first request to the last answer.
    secs: f64,
    /// Processor time of Chromium's processes meanwhile.
    cpu: Duration,
}

/// Bytes the ceiling's page makes once and sends again and again.
const CEILING_BUFFER: u64 = 64 * MIB;

/// The browser sends `size` bytes made in the page's memory to a server
/// of this process that counts and discards them; the page's time and
/// Chromium's processor time.
fn ceiling(browser: &common::browser::Browser, size: u64) -> anyhow::Result<Ceiling> {
    use futures_util::StreamExt as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async {
                axum::response::Html("<!doctype html><title>sink</title><p>sink</p>")
            }),
        )
        .route(
            "/sink",
            axum::routing::put(move |body: axum::body::Body| async move {
                let mut stream = body.into_data_stream();
                while let Some(piece) = stream.next().await {
                    match piece {
                        Ok(bytes) => counter.fetch_add(bytes.len() as u64, Ordering::Relaxed),
                        Err(_) => return axum::http::StatusCode::BAD_REQUEST,
                    };
                }
                axum::http::StatusCode::NO_CONTENT
            }),
        );
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://localhost:{port}/");
    browser
        .block_on(browser.client.goto(&url))
        .with_context(|| format!("loading {url}"))?;
    browser.eval(
        r#"const [total, bufferBytes, slice, inFlight] = arguments;
           window.ceilingResult = null;
           const buf = new Uint8Array(bufferBytes);
           for (let i = 0; i < buf.length; i += 65536) {
             crypto.getRandomValues(buf.subarray(i, i + 65536));
           }
           (async () => {
             const start = performance.now();
             let next = 0;
             async function lane() {
               while (next < total) {
                 const offset = next;
                 const len = Math.min(slice, total - offset);
                 next += len;
                 const at = offset % bufferBytes;
                 const r = await fetch('/sink', { method: 'PUT', body: buf.subarray(at, at + len) });
                 if (!r.ok) throw new Error('the sink answered ' + r.status);
               }
             }
             const lanes = [];
             for (let i = 0; i < inFlight; i++) lanes.push(lane());
             await Promise.all(lanes);
             window.ceilingResult = String(performance.now() - start);
           })().catch(e => { window.ceilingResult = 'failed: ' + e; });
           return true;"#,
        vec![
            json!(size),
            json!(CEILING_BUFFER.min(size)),
            json!(8 * MIB),
            json!(4),
        ],
    );
    // The page has made its bytes (before the script returned) and started
    // sending: its processor time counts from here, as its clock does.
    let cpu_before = chromium_cpu();
    let ms = page_time(
        browser,
        "return window.ceilingResult",
        "the browser's upload to the discarding server",
    )?;
    let cpu = chromium_cpu().saturating_sub(cpu_before);
    let got = received.load(Ordering::Relaxed);
    if got != size {
        bail!("the discarding server counted {got} bytes of the {size} sent");
    }
    Ok(Ceiling {
        secs: ms / 1000.0,
        cpu,
    })
}

/// Processor time used so far by the machine's Chromium processes, the
/// living ones (user and system, their waited-for children included),
/// read from `/proc` as `federation.rs` and `evidence.rs` read their own.
fn chromium_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for e in dir.filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (name) state …`: the name may hold spaces.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head
            .split_once('(')
            .is_some_and(|(_, name)| name.starts_with("chromium"))
        {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime, stime, cutime, cstime: fields 14-17 of the line, the 12th
        // to 15th after the name.
        ticks += fields
            .get(11..15)
            .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
    }
    // Counted in USER_HZ, which is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Writes `size` bytes of pseudo-random (incompressible) data.
fn write_source(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; MIB as usize];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut written = 0;
    while written < size {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = (size - written).min(MIB) as usize;
        f.write_all(&block[..n])?;
        written += n as u64;
    }
    f.flush()?;
    f.get_ref().sync_all()?;
    Ok(())
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

/// Writes out and drops the files' pages from the page cache, so the next
/// read of them comes from the disk.
fn evict(files: &[PathBuf]) -> anyhow::Result<()> {
    for path in files {
        let file = std::fs::File::open(path)?;
        file.sync_all()?;
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
            .with_context(|| format!("dropping {} from the page cache", path.display()))?;
    }
    Ok(())
}
