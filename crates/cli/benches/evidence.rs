//! Evidence package throughput and memory: `custos evidence seal`, `open`
//! and `verify` on one file of incompressible data, against `openssl dgst
//! -sha256` (hashing alone) and `rage` (age encryption and decryption alone),
//! with the peak resident memory of every custos process (VmHWM, read from
//! /proc while it runs).
//!
//! rage encrypts twice: to `/dev/null` (encryption alone, nothing written)
//! and to a file beside the package followed by `sync FILE`. A seal leaves
//! its package synced to disk, so the seal's rage target is taken against the
//! second; the first is printed for reference. rage decrypts the same way
//! twice: to `/dev/null`, the reference for `verify` (which writes nothing),
//! and to a file followed by `sync FILE`, the reference for `open` (which
//! leaves its files synced to disk).
//!
//! `CUSTOS_BENCH_EVIDENCE_KEEP=1` keeps the work folder (data, package and
//! nodes) for profiling by hand; `CUSTOS_BENCH_EVIDENCE_RUNS=N` sets the
//! number of runs.
//!
//! Run: `cargo bench -p custos-cli --bench evidence` (2 GiB, median of 3);
//! `CUSTOS_BENCH_EVIDENCE_GIB=8` for the 8 GiB memory measurement (one run).
//! Prints figures and PASS/MISS against the targets; asserts nothing.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod common;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Network, draft};
use custos_model::RequestKind;
use serde_json::Value;

const GIB: u64 = 1 << 30;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Writes `size` bytes of xorshift output (incompressible) to `path`.
fn generate(path: &Path, size: u64) {
    let mut out = BufWriter::with_capacity(8 << 20, File::create(path).expect("data file"));
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut block = vec![0u8; 8 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("write data");
        left -= n as u64;
    }
    out.flush().expect("flush data");
}

/// CPU time (user plus system) of this process's children that have been
/// waited for, from `/proc/self/stat` (in clock ticks of 10 ms).
fn children_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| -> u64 {
        rest.split_whitespace()
            .nth(n)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // cutime and cstime are fields 16 and 17 of the whole line.
    Duration::from_millis((field(13) + field(14)) * 10)
}

/// Runs a command, returning its wall time, its peak resident memory in
/// KiB (VmHWM, polled every 5 ms until it exits; 0 if never seen) and the
/// CPU time it used.
fn measure(program: &Path, args: &[&OsStr]) -> (Duration, u64, Duration) {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("{} {:?} failed: {err}", program.display(), args);
    }
    (elapsed, peak, children_cpu().saturating_sub(cpu_before))
}

/// Reads every file in `dir` once, so that the page cache holds them.
fn warm(dir: &Path) {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("package segments")
        .map(|e| e.expect("segment entry").path())
        .collect();
    files.sort();
    let mut sink = vec![0u8; 1 << 20];
    for f in &files {
        let mut file = File::open(f).expect("segment opens");
        while std::io::Read::read(&mut file, &mut sink).expect("segment reads") > 0 {}
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A rage command line: `mode` (`-e` or `-d`), the key (`-r RECIPIENT` or
/// `-i IDENTITY`), the output and the input.
fn rage_args<'a>(
    mode: &'a str,
    key_flag: &'a str,
    key: &'a OsStr,
    out: &'a OsStr,
    input: &'a OsStr,
) -> [&'a OsStr; 6] {
    [os(mode), os(key_flag), key, os("-o"), out, input]
}

/// The median wall time of `runs` runs of `program` with `args`.
fn median_time(runs: usize, program: &Path, args: &[&OsStr]) -> Duration {
    median((0..runs).map(|_| measure(program, args).0).collect())
}

/// The median wall time of `runs` runs of `program` writing `out` (removed
/// first) followed by `sync out`, timed together, and the median of the
/// syncs alone. The last run's file is left in place.
fn median_time_synced(
    runs: usize,
    program: &Path,
    args: &[&OsStr],
    out: &Path,
) -> (Duration, Duration) {
    let (mut times, mut syncs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = fs::remove_file(out);
        let (t, _, _) = measure(program, args);
        let (s, _, _) = measure(Path::new("sync"), &[out.as_os_str()]);
        times.push(t + s);
        syncs.push(s);
    }
    (median(times), median(syncs))
}

fn find_rage() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("rage")).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/rage"));
    }
    candidates.push(PathBuf::from("/tmp/rage/bin/rage"));
    candidates.into_iter().find(|p| p.is_file())
}

fn rate(size: u64, t: Duration) -> f64 {
    size as f64 / GIB as f64 / t.as_secs_f64()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn main() {
    let gib: u64 = std::env::var("CUSTOS_BENCH_EVIDENCE_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let runs = std::env::var("CUSTOS_BENCH_EVIDENCE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if gib <= 2 { 3 } else { 1 });
    let size = gib * GIB;
    let custos = PathBuf::from(env!("CARGO_BIN_EXE_custos"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-bench");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("src")).expect("bench folder");
    let data = work.join("src").join("evidence.bin");
    println!("evidence benchmark: {gib} GiB of incompressible data, {runs} run(s) each");
    let t = Instant::now();
    generate(&data, size);
    println!(
        "  generated {} in {:.1} s",
        data.display(),
        t.elapsed().as_secs_f64()
    );

    let net = Network::offline(&["DE", "FR"]);
    let request = net.save_request("DE", &draft(RequestKind::Preservation, "DE", "FR"));
    let (de, fr) = (net.dir("DE"), net.dir("FR"));
    let keys: Value = serde_json::from_str(&net.run_ok(&[
        os("keys"),
        os("show"),
        os("--json"),
        os("--data"),
        fr.as_os_str(),
    ]))
    .expect("keys JSON");
    let recipient = keys["encryption"][0]["key"]
        .as_str()
        .expect("FR's age recipient")
        .to_owned();

    // Warm the page cache so every contender reads from memory.
    let _ = measure(
        Path::new("/usr/bin/cat"),
        &[data.as_os_str(), os("/dev/null")],
    );

    let openssl = median_time(
        runs,
        Path::new("openssl"),
        &[os("dgst"), os("-sha256"), data.as_os_str()],
    );

    let rage = find_rage();
    let (mut rage_enc, mut rage_enc_synced, mut rage_dec, mut rage_dec_synced) =
        (None, None, None, None);
    match &rage {
        None => println!("  rage not found: install with cargo install rage --locked"),
        Some(rage) => {
            let encrypt = |out| rage_args("-e", "-r", os(&recipient), out, data.as_os_str());
            rage_enc = Some(median_time(runs, rage, &encrypt(os("/dev/null"))));
            // The same encryption writing a file on the package's disk, then
            // `sync FILE` (an fsync of that file), timed together: the output
            // a seal leaves is a package synced to disk, so this is the
            // like-for-like reference. The last run's file is kept for `-d`.
            let enc = work.join("rage.age");
            rage_enc_synced = Some(median_time_synced(
                runs,
                rage,
                &encrypt(enc.as_os_str()),
                &enc,
            ));
            let identity = work.join("fr-identity.txt");
            net.run_ok(&[
                os("keys"),
                os("export-identity"),
                os("--data"),
                fr.as_os_str(),
                os("--out"),
                identity.as_os_str(),
                os("--reason"),
                os("benchmark"),
            ]);
            let decrypt = |out| rage_args("-d", "-i", identity.as_os_str(), out, enc.as_os_str());
            rage_dec = Some(median_time(runs, rage, &decrypt(os("/dev/null"))));
            // Decryption writing a file on the same disk, then `sync FILE`,
            // timed together: open leaves its files synced to disk, so this
            // is open's like-for-like reference.
            let dec = work.join("rage.out");
            rage_dec_synced = Some(median_time_synced(
                runs,
                rage,
                &decrypt(dec.as_os_str()),
                &dec,
            ));
            let _ = fs::remove_file(&dec);
            let _ = fs::remove_file(&enc);
        }
    }

    let pkg = work.join("pkg");
    let opened = work.join("opened");
    let (mut seal_t, mut open_t, mut verify_t) = (Vec::new(), Vec::new(), Vec::new());
    let (mut seal_cpu, mut open_cpu, mut verify_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let (mut seal_rss, mut open_rss, mut verify_rss) = (0u64, 0u64, 0u64);
    for run in 0..runs {
        let _ = fs::remove_dir_all(&pkg);
        let (t, rss, cpu) = measure(
            &custos,
            &[
                os("evidence"),
                os("seal"),
                data.as_os_str(),
                os("--request"),
                os(&request),
                os("--to"),
                os("FR"),
                os("--out"),
                pkg.as_os_str(),
                os("--data"),
                de.as_os_str(),
            ],
        );
        seal_t.push(t);
        seal_cpu.push(cpu);
        seal_rss = seal_rss.max(rss);
        // The seal leaves its segments out of the page cache; read them back
        // in so that verify and open, like every other contender, read from
        // memory.
        warm(&pkg.join("segments"));
        let (t, rss, cpu) = measure(
            &custos,
            &[
                os("evidence"),
                os("verify"),
                pkg.as_os_str(),
                os("--data"),
                fr.as_os_str(),
            ],
        );
        verify_t.push(t);
        verify_cpu.push(cpu);
        verify_rss = verify_rss.max(rss);
        let _ = fs::remove_dir_all(&opened);
        let (t, rss, cpu) = measure(
            &custos,
            &[
                os("evidence"),
                os("open"),
                pkg.as_os_str(),
                os("--out"),
                opened.as_os_str(),
                os("--data"),
                fr.as_os_str(),
            ],
        );
        open_t.push(t);
        open_cpu.push(cpu);
        open_rss = open_rss.max(rss);
        if run + 1 < runs {
            let _ = fs::remove_dir_all(&opened);
        }
    }
    let (seal_t, open_t, verify_t) = (median(seal_t), median(open_t), median(verify_t));
    // CPU per GiB shows whether a contender is short of cores or waiting.
    for (what, cpu) in [
        ("seal", seal_cpu),
        ("verify", verify_cpu),
        ("open", open_cpu),
    ] {
        let cpu = median(cpu);
        println!(
            "  {what}: {:.2} CPU-s per GiB",
            cpu.as_secs_f64() * GIB as f64 / size as f64
        );
    }
    if std::env::var_os("CUSTOS_BENCH_EVIDENCE_KEEP").is_some() {
        println!(
            "  kept {} (package {}, recipient node {})",
            work.display(),
            pkg.display(),
            fr.display()
        );
        // The nodes live in the network's temporary folder: keep it too.
        std::mem::forget(net);
    } else {
        let _ = fs::remove_dir_all(&work);
    }

    let g = |t: Duration| rate(size, t);
    println!("\n| what | time | GiB/s | peak RSS |");
    println!("|---|---|---|---|");
    println!(
        "| openssl dgst -sha256 | {:.2} s | {:.2} | |",
        openssl.as_secs_f64(),
        g(openssl)
    );
    if let Some(t) = rage_enc {
        println!(
            "| rage -e -o /dev/null (encrypt alone) | {:.2} s | {:.2} | |",
            t.as_secs_f64(),
            g(t)
        );
    }
    if let Some((t, sync)) = rage_enc_synced {
        println!(
            "| rage -e -o FILE, then sync FILE (of which the sync {:.2} s) | {:.2} s | {:.2} | |",
            sync.as_secs_f64(),
            t.as_secs_f64(),
            g(t)
        );
    }
    if let Some(t) = rage_dec {
        println!(
            "| rage -d -o /dev/null (decrypt alone) | {:.2} s | {:.2} | |",
            t.as_secs_f64(),
            g(t)
        );
    }
    if let Some((t, sync)) = rage_dec_synced {
        println!(
            "| rage -d -o FILE, then sync FILE (of which the sync {:.2} s) | {:.2} s | {:.2} | |",
            sync.as_secs_f64(),
            t.as_secs_f64(),
            g(t)
        );
    }
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "| custos evidence seal | {:.2} s | {:.2} | {:.0} MiB |",
        seal_t.as_secs_f64(),
        g(seal_t),
        mib(seal_rss)
    );
    println!(
        "| custos evidence open (decrypt, verify, write) | {:.2} s | {:.2} | {:.0} MiB |",
        open_t.as_secs_f64(),
        g(open_t),
        mib(open_rss)
    );
    println!(
        "| custos evidence verify (decrypt, verify) | {:.2} s | {:.2} | {:.0} MiB |",
        verify_t.as_secs_f64(),
        g(verify_t),
        mib(verify_rss)
    );

    println!();
    // (ours, against, reference, target)
    let comparisons = [
        ("seal", seal_t, "openssl dgst", Some(openssl), 0.6),
        (
            "seal",
            seal_t,
            "rage -e to a synced file",
            rage_enc_synced.map(|(t, _)| t),
            1.2,
        ),
        ("open", open_t, "openssl dgst", Some(openssl), 0.6),
        (
            "open",
            open_t,
            "rage -d to a synced file",
            rage_dec_synced.map(|(t, _)| t),
            1.2,
        ),
        ("verify", verify_t, "openssl dgst", Some(openssl), 0.6),
        ("verify", verify_t, "rage -d to /dev/null", rage_dec, 1.2),
    ];
    for (ours, t, reference, against, target) in comparisons {
        if let Some(against) = against {
            let r = g(t) / g(against);
            println!(
                "{ours} vs {reference}: {r:.2}x (target >= {target}x) {}",
                verdict(r >= target)
            );
        }
    }
    if let Some(t) = rage_enc {
        let r = g(seal_t) / g(t);
        println!("seal vs rage -e to /dev/null: {r:.2}x (for reference; writes nothing)");
        let r = g(open_t) / g(t);
        println!("open vs rage -e: {r:.2}x (for reference)");
    }
    if let Some(t) = rage_dec {
        let r = g(open_t) / g(t);
        println!("open vs rage -d to /dev/null: {r:.2}x (for reference; writes nothing)");
    }
    for (what, kib) in [
        ("seal", seal_rss),
        ("open", open_rss),
        ("verify", verify_rss),
    ] {
        println!(
            "peak RSS {what}: {:.0} MiB (target <= 128 MiB) {}",
            mib(kib),
            verdict(kib <= 128 * 1024)
        );
    }
}
