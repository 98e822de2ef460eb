//! `custos evidence`: seal, verify, open, print and list evidence packages
//! (and send them, in `send.rs`), with a progress bar on a terminal
//! and plain progress lines otherwise.

pub mod send;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use custos_model::StateCode;
use custos_node::app::evidence::{PackageStatus, SealMarks, SealedView};
use custos_node::evidence::layout::DEFAULT_SEGMENT_SIZE;
use custos_node::evidence::open::Report;
use custos_node::evidence::pipeline::Progress;
use custos_protocol::case_bodies::PersonalData;
use custos_protocol::text::escape;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Evidence package commands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Seal files and folders into a signed, encrypted, segmented package for the
    /// recipient States of a request (custody event `evidence-sealed`).
    Seal(SealArgs),
    /// Check a package: the manifest signature against the directory, every segment's
    /// size and hash (BLAKE3; SHA-256 in a version 1 package), and (when this node can
    /// decrypt it) every file's size and SHA-256. Exits non-zero on any mismatch.
    Verify(VerifyArgs),
    /// Decrypt a package into a new folder, keeping only files whose size and SHA-256
    /// match the manifest. Exits non-zero when anything mismatched.
    Open(OpenArgs),
    /// Print a package's manifest (in clear; no keys needed).
    Manifest(ManifestArgs),
    /// List the packages this node has received.
    List(ListArgs),
    /// Upload a package to a peer node in verified chunks, resuming where it stopped.
    Send(send::SendArgs),
}

/// Arguments of `custos evidence seal`.
#[derive(clap::Args, Debug)]
pub struct SealArgs {
    /// Files and folders to seal. Each is stored under its own name; folders are walked
    /// in name order. Symbolic links, devices, FIFOs, sockets and paths with `..` are refused.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The id of the request (stored on this node) the evidence answers; its use
    /// conditions and confidentiality go into the manifest.
    #[arg(long, value_name = "ID")]
    pub request: String,
    /// A recipient State (ISO 3166-1 alpha-2), listed in the directory with an
    /// encryption key. Repeat for several. This node can always decrypt its own packages.
    #[arg(long = "to", value_name = "CC", required = true, value_parser = crate::cmd::state_code)]
    pub to: Vec<StateCode>,
    /// The package folder to create (must not exist, or be empty).
    #[arg(long, value_name = "PKG")]
    pub out: PathBuf,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Plaintext bytes per encrypted segment (at least 1 MiB = 1048576).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SEGMENT_SIZE)]
    pub segment_size: u64,
    /// Mark the package confidential, with the reasons (may be ""): the
    /// receiving node shows it only to the people assigned to the case.
    #[arg(long, value_name = "REASONS")]
    pub confidential: Option<String>,
    /// A condition on the use of the package, added to the request's own.
    /// Repeat for several.
    #[arg(long = "condition", value_name = "TEXT")]
    pub conditions: Vec<String>,
    /// A category of personal data in the package (such as "subscriber
    /// data"). Repeat for several; the conditions and deletion date below
    /// need at least one.
    #[arg(long = "personal-data", value_name = "CATEGORY")]
    pub personal_data: Vec<String>,
    /// A condition attached to the personal data. Repeat for several.
    #[arg(long = "personal-data-condition", value_name = "TEXT")]
    pub personal_data_conditions: Vec<String>,
    /// The date by which the receiving State is to delete the personal data.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::cmd::date)]
    pub delete_by: Option<time::Date>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl SealArgs {
    /// What the sealing State adds to the package, as given.
    fn marks(&self) -> SealMarks {
        SealMarks::new(
            self.confidential.clone(),
            self.conditions.clone(),
            PersonalData {
                categories: self.personal_data.clone(),
                conditions: self.personal_data_conditions.clone(),
                delete_by: self.delete_by,
            },
        )
    }
}

/// Arguments of `custos evidence verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The package folder.
    #[arg(value_name = "PKG")]
    pub package: PathBuf,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `custos evidence open`.
#[derive(clap::Args, Debug)]
pub struct OpenArgs {
    /// The package folder.
    #[arg(value_name = "PKG")]
    pub package: PathBuf,
    /// The folder to write the files to (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The case the files are opened for, when it is not the one the
    /// package answers: a package another State provided is used in
    /// another case only with its consent (`ask-consent` in the case it was
    /// provided in), which the custody entries then cite.
    #[arg(long, value_name = "ID")]
    pub for_case: Option<String>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `custos evidence manifest`.
#[derive(clap::Args, Debug)]
pub struct ManifestArgs {
    /// The package folder.
    #[arg(value_name = "PKG")]
    pub package: PathBuf,
    /// Print `<sha256>  <path>` lines for `sha256sum -c`, run inside the opened folder.
    #[arg(long, conflicts_with = "json")]
    pub sha256sum: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
    /// A node's data directory: when given, the signature is checked against its directory.
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: Option<PathBuf>,
}

/// Arguments of `custos evidence list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// The node's data directory (packages are in DIR/evidence/received/).
    #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvidenceCommand::Seal(args) => seal(args),
        EvidenceCommand::Verify(args) => verify(args),
        EvidenceCommand::Open(args) => open(args),
        EvidenceCommand::Manifest(args) => manifest(args),
        EvidenceCommand::List(args) => list(args),
        EvidenceCommand::Send(args) => send::run(args),
    }
}

fn seal(args: SealArgs) -> anyhow::Result<ExitCode> {
    let sealed = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let options = node
            .evidence_seal_options(
                &args.request,
                &args.to,
                args.segment_size,
                &args.marks(),
                &crate::operator::operator()?,
            )
            .await?;
        let progress: Arc<dyn Progress> = Arc::new(CliProgress::new());
        let sealed = node
            .seal_evidence(
                args.paths.clone(),
                options,
                args.out.clone(),
                progress,
                &crate::operator::operator()?,
            )
            .await?;
        anyhow::Ok(sealed)
    })?;
    let m = &sealed.manifest;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&SealedView::from(&sealed))?
        );
    } else {
        println!(
            "Sealed {} files ({}) into {} segments: {}",
            m.totals.files,
            human_bytes(m.totals.bytes),
            m.segments.len(),
            sealed.dir.display()
        );
        println!("Package id {}", sealed.package_id);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report, as_json: bool, action: &str) -> anyhow::Result<ExitCode> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("Package {}", report.package_id);
        println!(
            "  request {}, from {}, signed by key {}",
            escape(&report.request),
            report.sender,
            escape(&report.signed_by)
        );
        if report.decrypted {
            println!(
                "  {} of {} files verified ({}), {} segments",
                report.files_verified,
                report.files_total,
                human_bytes(report.bytes_total),
                report.segments
            );
        } else {
            println!(
                "  this node cannot decrypt the package: only the signature and the {} segments' hashes were checked",
                report.segments
            );
        }
        if !report.files_written.is_empty() {
            println!("  {} files written", report.files_written.len());
        }
        // Subjects and problems quote names from the package: a tar entry
        // name may hold escape sequences or newlines, shown escaped.
        for m in &report.mismatches {
            eprintln!("MISMATCH {}: {}", escape(&m.subject), escape(&m.problem));
        }
    }
    if report.is_ok() {
        if !as_json {
            println!("{action}: everything matches the signed manifest.");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{action} FAILED: {} mismatches (nothing unverified was kept)",
            report.mismatches.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let progress: Arc<dyn Progress> = Arc::new(CliProgress::new());
        anyhow::Ok(
            node.verify_evidence(
                args.package.clone(),
                progress,
                &crate::operator::operator()?,
            )
            .await?,
        )
    })?;
    print_report(&report, args.json, "Verify")
}

fn open(args: OpenArgs) -> anyhow::Result<ExitCode> {
    let report = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let progress: Arc<dyn Progress> = Arc::new(CliProgress::new());
        anyhow::Ok(
            node.open_evidence_for(
                args.package.clone(),
                args.out.clone(),
                args.for_case.as_deref(),
                progress,
                &crate::operator::operator()?,
            )
            .await?,
        )
    })?;
    print_report(&report, args.json, "Open")
}

fn manifest(args: ManifestArgs) -> anyhow::Result<ExitCode> {
    let view = match &args.data {
        Some(data) => super::runtime()?.block_on(async {
            let (_, node) = super::node::open(data).await?;
            let view = node
                .package_manifest(&crate::operator::operator()?, &args.package)
                .await;
            node.close().await;
            anyhow::Ok(view?)
        })?,
        None => custos_node::app::evidence::unverified_manifest(&args.package)?,
    };
    let (manifest, package_id, checked) =
        (&view.manifest, &view.package_id, view.signature_checked);
    if args.sha256sum {
        print!("{}", manifest.sha256sum_lines());
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Package {package_id}");
    println!(
        "  signature: {}",
        if checked {
            "verified against the directory"
        } else {
            "NOT checked (give --data to check it)"
        }
    );
    println!("  request {}", escape(&manifest.request));
    println!(
        "  from {} to {}",
        manifest.sender,
        manifest
            .recipients
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  created {}",
        custos_protocol::timestamp::format(manifest.created_at)
    );
    let limits = manifest.limits();
    println!("  use limits: case {}", escape(&limits.case));
    if let Some(purpose) = &limits.purpose {
        println!("    purpose: {}", escape(purpose));
    }
    for c in &limits.conditions {
        println!("    condition: {}", escape(c));
    }
    println!("    any other use needs the consent of {}", manifest.sender);
    println!(
        "  confidentiality: {}",
        escape(&manifest.confidentiality.to_string())
    );
    // issue 18: the personal data and the providing State's conditions.
    if let Some(pd) = &manifest.personal_data {
        println!(
            "  personal data: {}",
            escape(&serde_json::to_string(pd).unwrap_or_default())
        );
    }
    println!(
        "  {} files, {}; {} segments of {}",
        manifest.totals.files,
        human_bytes(manifest.totals.bytes),
        manifest.segments.len(),
        human_bytes(manifest.content.segment_size)
    );
    for f in &manifest.files {
        println!("  {}  {:>12}  {}", f.sha256, f.size, escape(&f.path));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let packages = super::runtime()?.block_on(async {
        let (_, node) = super::node::open(&args.data).await?;
        let packages = node.received_packages(&crate::operator::operator()?).await;
        node.close().await;
        anyhow::Ok(packages?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&packages)?);
        return Ok(ExitCode::SUCCESS);
    }
    if packages.is_empty() {
        println!(
            "No packages received (looked in {}).",
            custos_node::evidence::receive::received_root(&args.data).display()
        );
    }
    for p in &packages {
        let folder = p.folder.display().to_string();
        match (&p.manifest, &p.problem) {
            // What a peer wrote in its manifest is shown escaped.
            (Some(m), _) => println!(
                "{}  {}  from {}  request {}  {} files  {}",
                m.package_id,
                escape(&folder),
                m.sender,
                escape(&m.request),
                m.files,
                if p.status == PackageStatus::Complete {
                    "complete"
                } else {
                    "incomplete"
                },
            ),
            (None, problem) => println!(
                "?  {}  {}",
                escape(&folder),
                escape(problem.as_deref().unwrap_or("unreadable"))
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `1.2 GiB`, `850 MiB`, `12 KiB`, `7 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// How often plain progress lines are printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Progress on stderr: an `indicatif` bar with rate and time left on a
/// terminal, otherwise a plain line every two seconds and at the end.
#[derive(Debug)]
pub struct CliProgress {
    bar: Option<ProgressBar>,
    lines: Mutex<Lines>,
    done: AtomicU64,
}

#[derive(Debug)]
struct Lines {
    label: String,
    total: u64,
    started: Instant,
    last: Instant,
    active: bool,
}

impl CliProgress {
    pub fn new() -> Self {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({percent}%), {binary_bytes_per_sec}, {eta} left",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            lines: Mutex::new(Lines {
                label: String::new(),
                total: 0,
                started: now,
                last: now,
                active: false,
            }),
            done: AtomicU64::new(0),
        }
    }

    fn line(lines: &Lines, done: u64) -> String {
        let elapsed = lines.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / elapsed;
        let percent = done
            .saturating_mul(100)
            .checked_div(lines.total)
            .map_or(100, |p| p.min(100));
        let left = if rate > 0.0 {
            (lines.total.saturating_sub(done) as f64 / rate).ceil() as u64
        } else {
            0
        };
        format!(
            "{} {} of {} ({percent}%), {}/s, {left} s left",
            lines.label,
            human_bytes(done),
            human_bytes(lines.total),
            human_bytes(rate as u64)
        )
    }
}

impl Default for CliProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for CliProgress {
    fn start(&self, total_bytes: u64, label: &str) {
        self.done.store(0, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total_bytes);
            bar.set_position(0);
            bar.set_message(label.to_owned());
            bar.reset_elapsed();
            bar.reset_eta();
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        *lines = Lines {
            label: label.to_owned(),
            total: total_bytes,
            started: now,
            last: now,
            active: true,
        };
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            return;
        }
        let Ok(mut lines) = self.lines.try_lock() else {
            return;
        };
        if lines.last.elapsed() >= LINE_EVERY {
            lines.last = Instant::now();
            eprintln!("{}", Self::line(&lines, done));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
            return;
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.active {
            lines.active = false;
            let done = self.done.load(Ordering::Relaxed);
            let elapsed = lines.started.elapsed().as_secs_f64();
            let mut text = Self::line(&lines, done);
            if let Some(cut) = text.rfind(", ") {
                text.truncate(cut);
            }
            eprintln!("{text}, in {elapsed:.1} s");
        }
    }
}
