//! Benchmark of evidence transfer between two real `custos serve` processes
//! on loopback, against a plain HTTP upload of the same bytes.
//!
//! A package of `CUSTOS_BENCH_TRANSFER_GIB` GiB (default 2, default segments)
//! is sealed once. Then `custos evidence send` uploads it to the receiving
//! node (wall time, GiB/s, peak resident memory of the sending command and
//! of the receiving server), and a minimal axum PUT handler in this process
//! receives the same segment files, one request each, streamed to disk and
//! synced, uploaded by reqwest streaming from the files: the floor a chunked,
//! verified transfer is measured against (target: at least 0.8x). With
//! `CUSTOS_BENCH_TRANSFER_KILL=1` a second send is SIGKILLed a third of the
//! way and run again, and the receiver of that run is SIGKILLed two thirds
//! of the way and restarted; the bench reports where each run resumed and
//! that the send completed.
//!
//! Run: `cargo bench -p custos-cli --bench evidence_transfer`.

#[path = "../tests/it/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::{Body, HttpBody};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::put;
use common::Network;

const GIB: f64 = (1u64 << 30) as f64;
const MIB: u64 = 1 << 20;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evidence transfer bench failed: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let gib: u64 = std::env::var("CUSTOS_BENCH_TRANSFER_GIB")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("CUSTOS_BENCH_TRANSFER_GIB must be a whole number")?
        .unwrap_or(2);
    let kill = std::env::var("CUSTOS_BENCH_TRANSFER_KILL").is_ok_and(|v| v == "1");
    let states: &[&str] = if kill {
        &["DE", "FR", "IT"]
    } else {
        &["DE", "FR"]
    };
    let segment_mib = custos_protocol::evidence::DEFAULT_SEGMENT_SIZE >> 20;
    println!(
        "evidence transfer: {gib} GiB package, {segment_mib} MiB segments (the default), loopback, nodes {states:?}"
    );
    let mut net = Network::start(states);

    // The package, sealed once.
    let source = net.scratch("source.bin");
    write_source(&source, gib << 30)?;
    // Each receiver accepts only evidence answering a request it sent to
    // the sender, so the package answers FR's request (and, with the kill
    // run, a second package answers IT's).
    let seal_for = |to: &str, pkg: &Path| -> anyhow::Result<()> {
        let request = net
            .send(
                to,
                &common::draft(custos_model::RequestKind::Preservation, to, "DE"),
                &[],
            )
            .id;
        common::wait_until(
            std::time::Duration::from_secs(60),
            "DE holds the request",
            || {
                net.requests("DE")
                    .iter()
                    .any(|r| r["id"] == request.as_str())
            },
        );
        let mut seal = net.custos_command();
        seal.args(["evidence", "seal"])
            .arg(&source)
            .args(["--request", &request, "--to", to])
            .arg("--out")
            .arg(pkg)
            .arg("--data")
            .arg(net.dir("DE"))
            .stdout(Stdio::null());
        let status = seal.status()?;
        if !status.success() {
            bail!("custos evidence seal failed ({status})");
        }
        Ok(())
    };
    let pkg = net.scratch("pkg");
    let t = Instant::now();
    seal_for("FR", &pkg)?;
    println!("sealed in {:.1} s", t.elapsed().as_secs_f64());
    let pkg_it = net.scratch("pkg-it");
    if kill {
        seal_for("IT", &pkg_it)?;
    }
    std::fs::remove_file(&source)?;
    let segments = segment_files(&pkg)?;
    let bytes: u64 = segments
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<Result<u64, _>>()?;

    // Both contenders read the package as a node would some time after
    // sealing it: from the disk. (The seal writes around the page cache,
    // and whichever contender ran second would otherwise find the files
    // the first one had read.)
    evict(&segments)?;

    // custos evidence send, with the peaks of both processes.
    let receiver_pid = net.pid("FR").context("FR runs")?;
    let mut send = net.custos_command();
    send.args(["evidence", "send"])
        .arg(&pkg)
        .arg("--data")
        .arg(net.dir("DE"))
        .args(["--to", "FR"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let child = send.spawn()?;
    let (output, sender_peak, receiver_peak) = watch(child, receiver_pid)?;
    let custos_secs = t.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "custos evidence send failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The floor: a plain streamed HTTP upload of the same files.
    let floor_dir = net.scratch("plain-upload");
    std::fs::create_dir_all(&floor_dir)?;
    evict(&segments)?;
    let floor_secs = plain_upload(&segments, &floor_dir)?;
    std::fs::remove_dir_all(&floor_dir)?;

    let custos_rate = bytes as f64 / GIB / custos_secs;
    let floor_rate = bytes as f64 / GIB / floor_secs;
    let ratio = custos_rate / floor_rate;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!();
    println!("| what | time | GiB/s |");
    println!("|---|---|---|");
    println!(
        "| custos evidence send ({} segments, {:.2} GiB) | {custos_secs:.2} s | {custos_rate:.2} |",
        segments.len(),
        bytes as f64 / GIB
    );
    println!(
        "| plain HTTP PUT of the same files (axum -> file + fsync) | {floor_secs:.2} s | {floor_rate:.2} |"
    );
    println!();
    println!(
        "ratio custos/plain: {ratio:.2}x (target >= 0.8x): {}",
        verdict(ratio >= 0.8)
    );
    println!(
        "peak RSS: sender {} MiB, receiver (custos serve) {} MiB (target <= 128 MiB): {}",
        sender_peak / MIB,
        receiver_peak / MIB,
        verdict(sender_peak <= 128 * MIB && receiver_peak <= 128 * MIB)
    );

    if kill {
        kill_both_sides_mid_transfer(&mut net, &pkg_it, segments.len())?;
    }
    Ok(())
}

/// Writes `size` bytes of pseudo-random data, 1 MiB at a time.
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
        f.write_all(&block)?;
        written += MIB;
    }
    f.flush()?;
    f.get_ref().sync_all()?;
    Ok(())
}

fn segment_files(pkg: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(pkg.join("segments"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    Ok(files)
}

/// Peak resident memory (VmHWM) of a live process, in bytes.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Waits for the child, sampling both processes' peaks while it runs.
fn watch(mut child: Child, other: u32) -> anyhow::Result<(std::process::Output, u64, u64)> {
    let pid = child.id();
    let mut stdout = child.stdout.take().context("piped stdout")?;
    let mut stderr = child.stderr.take().context("piped stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut b);
        b
    });
    let (mut mine, mut theirs) = (0, 0);
    let status = loop {
        if let Some(v) = vm_hwm(pid) {
            mine = mine.max(v);
        }
        if let Some(v) = vm_hwm(other) {
            theirs = theirs.max(v);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    Ok((output, mine, theirs))
}

/// Receives PUT bodies into files in a folder, streamed, then synced.
async fn put_file(
    State(dir): State<PathBuf>,
    UrlPath(name): UrlPath<String>,
    mut body: Body,
) -> StatusCode {
    use tokio::io::AsyncWriteExt;
    let Ok(file) = tokio::fs::File::create(dir.join(name)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    // Written 1 MiB at a time, as the node does.
    let mut file = tokio::io::BufWriter::with_capacity(MIB as usize, file);
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(_)) => return StatusCode::BAD_REQUEST,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && file.write_all(&data).await.is_err()
                {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
        }
    }
    if file.flush().await.is_err() || file.get_ref().sync_all().await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

/// Uploads every file with one streamed PUT each to a minimal axum server on
/// loopback; returns the seconds it took.
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

fn plain_upload(files: &[PathBuf], dir: &Path) -> anyhow::Result<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/upload/{name}", put(put_file))
            .with_state(dir.to_owned());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::builder().no_proxy().build()?;
        let t = Instant::now();
        for (i, path) in files.iter().enumerate() {
            let file = tokio::fs::File::open(path).await?;
            let len = file.metadata().await?.len();
            let response = client
                .put(format!("http://{addr}/upload/{i:06}.age"))
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(chunks(file)))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("the plain upload answered {}", response.status());
            }
        }
        let secs = t.elapsed().as_secs_f64();
        server.abort();
        Ok(secs)
    })
}

/// A file as a body stream of 256 KiB chunks, as `custos evidence send` reads it.
fn chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some((Err(e), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        Some((Ok(buf), Some(file)))
    })
}

/// A second send, to IT, killed twice: the sending process is SIGKILLed a
/// third of the way and run again, and that run's receiving server is
/// SIGKILLed two thirds of the way and restarted. Each run must resume from
/// the segments IT verified, and the second must complete.
fn kill_both_sides_mid_transfer(
    net: &mut Network,
    pkg: &Path,
    segments: usize,
) -> anyhow::Result<()> {
    let hex = {
        let bytes = std::fs::read(pkg.join("manifest.dsse.json"))?;
        let envelope = custos_seal::Envelope::from_json(&bytes)?;
        custos_seal::content_id(&envelope.payload)
            .trim_start_matches("sha256:")
            .to_owned()
    };
    let staged = net
        .dir("IT")
        .join("evidence/incoming")
        .join(&hex)
        .join("segments");
    let verified = || {
        std::fs::read_dir(&staged)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".age"))
                    .count()
            })
            .unwrap_or(0)
    };
    let wait_for = |count: usize| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while verified() < count {
            if Instant::now() > deadline {
                bail!("IT never got {count} verified segments");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    };
    let send = |net: &Network| {
        let mut send = net.custos_command();
        send.args(["evidence", "send"])
            .arg(pkg)
            .arg("--data")
            .arg(net.dir("DE"))
            .args(["--to", "IT", "--retry-for", "5m"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        send.spawn()
    };

    let mut first = send(net)?;
    wait_for(segments / 3)?;
    first.kill()?;
    first.wait()?;
    let held_by_sender_kill = verified();

    let t = Instant::now();
    let second = send(net)?;
    wait_for(2 * segments / 3)?;
    net.kill("IT");
    let held_by_receiver_kill = verified();
    net.start_node("IT");
    let output = second.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let resumed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("IT already has"))
        .collect();
    println!();
    println!(
        "sender SIGKILLed with {held_by_sender_kill} of {segments} segments verified at IT; \
         sent again, receiver SIGKILLed with {held_by_receiver_kill} verified and restarted: \
         send {} in {:.1} s; status lines: {:?}",
        if output.status.success() {
            "resumed and completed"
        } else {
            "FAILED"
        },
        t.elapsed().as_secs_f64(),
        resumed
    );
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
