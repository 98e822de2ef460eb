//! The evidence part of `custos demo`: the requested State answers the MLA
//! request with a sealed package, and the requesting State checks and opens it.
//!
//! Every step runs the real `custos evidence` commands as child processes
//! against the demo nodes' data directories while the nodes are serving:
//! Germany seals invented sample files for France, uploads the package to
//! France's node in verified segments and keeps France's signed receipt;
//! France verifies the package against the directory and opens it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Plaintext bytes per segment in the demo: small, so the sample spans several segments.
const DEMO_SEGMENT_SIZE: u64 = 1024 * 1024;

/// Seals, sends, verifies and opens a sample package answering `request`.
pub fn deliver(
    exe: &Path,
    sender_data: &Path,
    receiver_data: &Path,
    request: &str,
    work: &Path,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<Value> {
    let sample = work.join("evidence-sample");
    write_sample(&sample)?;

    let package = work.join("evidence-package");
    let t0 = Instant::now();
    let sealed = run_json(
        Command::new(exe)
            .args(["evidence", "seal"])
            .arg(sample.join("hosting-account"))
            .arg(sample.join("mail-export"))
            .args(["--request", request, "--to", "FR", "--out"])
            .arg(&package)
            .arg("--data")
            .arg(sender_data)
            .args(["--segment-size", &DEMO_SEGMENT_SIZE.to_string(), "--json"]),
        "evidence seal",
    )?;
    let package_id = sealed["package_id"].as_str().unwrap_or_default().to_owned();
    say(&format!(
        "DE executing authority seals {} files ({} bytes) in {} encrypted segments for FR: package {} ({} ms)",
        sealed["files"],
        sealed["bytes"],
        sealed["segments"],
        short(&package_id),
        t0.elapsed().as_millis()
    ));

    let t0 = Instant::now();
    let sent = run_json(
        Command::new(exe)
            .args(["evidence", "send"])
            .arg(&package)
            .arg("--data")
            .arg(sender_data)
            .arg("--json"),
        "evidence send",
    )?;
    say(&format!(
        "DE sends the package to FR's node segment by segment; FR verifies each segment and returns a signed receipt, checked by DE ({} ms)",
        t0.elapsed().as_millis()
    ));

    let listed = run_json(
        Command::new(exe)
            .args(["evidence", "list", "--data"])
            .arg(receiver_data)
            .arg("--json"),
        "evidence list",
    )?;
    let received = received_path(&listed, &package_id).with_context(|| {
        format!("FR's node does not list package {package_id} as received: {listed}")
    })?;

    let t0 = Instant::now();
    let verified = run_json(
        Command::new(exe)
            .args(["evidence", "verify"])
            .arg(&received)
            .arg("--data")
            .arg(receiver_data)
            .arg("--json"),
        "evidence verify",
    )?;
    let opened_dir = work.join("evidence-opened");
    let opened = run_json(
        Command::new(exe)
            .args(["evidence", "open"])
            .arg(&received)
            .arg("--out")
            .arg(&opened_dir)
            .arg("--data")
            .arg(receiver_data)
            .arg("--json"),
        "evidence open",
    )?;
    say(&format!(
        "FR verifies the package (signature against the directory, {} segments, {} of {} files by SHA-256) and opens it into {} ({} ms)",
        verified["segments"],
        verified["files_verified"],
        verified["files_total"],
        opened_dir.display(),
        t0.elapsed().as_millis()
    ));

    Ok(json!({
        "package_id": package_id,
        "request": request,
        "from": "DE",
        "to": "FR",
        "files": sealed["files"],
        "bytes": sealed["bytes"],
        "segments": sealed["segments"],
        "send": sent,
        "verified": verified["mismatches"].as_array().is_some_and(Vec::is_empty),
        "opened_files": opened["files_written"].as_array().map_or(0, Vec::len),
        "opened_into": opened_dir,
    }))
}

/// Runs a command that prints JSON on success; its failure becomes an error with its output.
fn run_json(command: &mut Command, what: &str) -> anyhow::Result<Value> {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .with_context(|| format!("cannot run `custos {what}`"))?;
    if !status.success() {
        bail!(
            "`custos {what}` failed ({status}): {}{}",
            String::from_utf8_lossy(&stderr),
            String::from_utf8_lossy(&stdout)
        );
    }
    let text = String::from_utf8_lossy(&stdout);
    // One JSON document, or one per line (the last one is the outcome).
    serde_json::from_str(&text)
        .or_else(|_| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .unwrap_or(Ok(Value::Null))
        })
        .with_context(|| format!("`custos {what}` printed something other than JSON: {text}"))
}

/// The folder of `package_id` in `custos evidence list --json` output.
fn received_path(listed: &Value, package_id: &str) -> Option<std::path::PathBuf> {
    let rows = listed
        .as_array()
        .or_else(|| listed["packages"].as_array())?;
    rows.iter()
        .find(|p| p["package_id"] == package_id)
        .and_then(|p| p["folder"].as_str())
        .map(Into::into)
}

/// Invented files standing for a hosting account's logs and a mailbox export.
fn write_sample(dir: &Path) -> anyhow::Result<()> {
    let hosting = dir.join("hosting-account");
    let mail = dir.join("mail-export");
    for d in [&hosting, &mail] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut log = String::new();
    for i in 0..40_000u32 {
        log.push_str(&format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z 203.0.113.{} GET /panel/upload?id={} 200 (sample)\n",
            1 + i % 27,
            i % 24,
            i % 60,
            (i * 7) % 60,
            i % 250,
            i.wrapping_mul(2_654_435_761)
        ));
    }
    let files: [(std::path::PathBuf, Vec<u8>); 3] = [
        (hosting.join("access.log"), log.into_bytes()),
        (
            hosting.join("ransom-note.txt"),
            b"Your files are encrypted. (invented sample for the Custos demo)\n".to_vec(),
        ),
        (
            mail.join("account-export.mbox"),
            b"From sample@example.invalid Sat Nov 28 00:00:00 2026\nSubject: sample\n\n(invented sample for the Custos demo)\n".to_vec(),
        ),
    ];
    for (path, bytes) in files {
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn short(id: &str) -> String {
    id.chars().take(23).collect::<String>() + "…"
}
