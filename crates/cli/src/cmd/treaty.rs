//! `custos treaty`: a registry file to fill in, and the treaty status read
//! from one — entry into force of the Convention and for each party, and
//! whether the Convention is a legal basis between two parties on a day.
//!
//! The rules live in `custos_model::treaty`; this module reads the TOML file,
//! turns every problem in it into a message naming the file, the field and
//! the fault (exit status 1), and renders the answer as tables or JSON. It
//! reads no clock: the day reported on is `--at` or the registry's `as_of`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use custos_model::state::{PartyKind, StateCode};
use custos_model::treaty::figures::{
    DAYS_AFTER_LAST_NEEDED_INSTRUMENT, DAYS_AFTER_OWN_DEPOSIT, DENUNCIATION_YEARS,
    INSTRUMENTS_FOR_ENTRY_INTO_FORCE,
};
use custos_model::treaty::{
    IssueLevel, LegalBasisCheck, PartyStatus, Registry, RegistryIssue, TreatyStatus, date_text,
};
use serde_json::json;
use time::Date;

/// `custos treaty ...`
#[derive(Subcommand, Debug)]
pub enum TreatyCommand {
    /// Print a commented registry file to fill in (a template: its entries are
    /// placeholders and it is marked as sample data until you change that).
    Template,
    /// Read a registry file and print when the Convention enters into force,
    /// for itself and for each party, and optionally whether it is a legal
    /// basis between two parties.
    Status(StatusArgs),
}

/// Arguments of `custos treaty status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The registry file (TOML) holding signatures, deposits, denunciations
    /// and designations. `custos treaty template` prints one to fill in; the
    /// format is described in docs/treaty-registry.md.
    #[arg(long, value_name = "FILE")]
    pub registry: PathBuf,

    /// The day to report on, written YYYY-MM-DD. Defaults to the registry's
    /// own `as_of` date: this command does not read the system clock.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<Date>,

    /// Two party codes (ISO 3166-1 alpha-2, or EU): also say whether the
    /// Convention can serve as legal basis between them on that day, and if
    /// not, why. Example: --between FR DE
    #[arg(long, num_args = 2, value_names = ["CC", "CC"], value_parser = parse_party)]
    pub between: Option<Vec<StateCode>>,

    /// Print one JSON document (status, legal-basis check, warnings) on
    /// standard output instead of tables; the sample-data banner, if any,
    /// then goes to standard error.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `custos treaty` command. A registry that cannot be read or is
/// wrong prints its problems on standard error and gives exit status 1.
pub fn run(cmd: TreatyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TreatyCommand::Template => {
            print!("{TEMPLATE}");
            Ok(ExitCode::SUCCESS)
        }
        TreatyCommand::Status(args) => status(&args),
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let loaded = match load(&args.registry) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "hint: correct the registry file (`custos treaty template` prints a complete one)"
            );
            return Ok(ExitCode::from(1));
        }
    };
    let registry = &loaded.registry;
    let at = args.at.unwrap_or(registry.as_of);
    let pair = args.between.as_deref().and_then(|codes| match codes {
        [a, b] => Some((*a, *b)),
        _ => None,
    });
    let file = args.registry.display();
    if args.json {
        if registry.sample {
            eprint!("{}", banner(registry.note.as_deref()));
        }
        for w in &loaded.warnings {
            eprintln!("{file}: {w}");
        }
        let doc = render_json(&args.registry, registry, at, pair, &loaded.warnings);
        let text = serde_json::to_string_pretty(&doc).context("cannot write the JSON output")?;
        println!("{text}");
    } else {
        for w in &loaded.warnings {
            eprintln!("{file}: {w}");
        }
        print!("{}", render_text(registry, at, pair));
    }
    Ok(ExitCode::SUCCESS)
}

/// A registry read from a file, with the warnings its check raised.
#[derive(Debug)]
pub struct Loaded {
    pub registry: Registry,
    pub warnings: Vec<RegistryIssue>,
}

/// Why a registry file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryFileError {
    #[error("cannot read the registry file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid treaty registry:\n{}", path.display(), indent(detail))]
    Syntax { path: PathBuf, detail: String },
    #[error("{} has {} problem(s) to fix:\n{}", path.display(), issues.len(), list(issues))]
    Invalid {
        path: PathBuf,
        issues: Vec<RegistryIssue>,
    },
}

/// Reads and checks a registry file.
pub fn load(path: &Path) -> Result<Loaded, RegistryFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| RegistryFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks registry text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, RegistryFileError> {
    let registry: Registry = toml::from_str(text).map_err(|e| RegistryFileError::Syntax {
        path: path.to_owned(),
        detail: e.to_string().trim_end().to_owned(),
    })?;
    let (errors, warnings): (Vec<_>, Vec<_>) = registry
        .check()
        .into_iter()
        .partition(|issue| issue.level == IssueLevel::Error);
    if errors.is_empty() {
        Ok(Loaded { registry, warnings })
    } else {
        Err(RegistryFileError::Invalid {
            path: path.to_owned(),
            issues: errors,
        })
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn list(issues: &[RegistryIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {}: {}", i.path, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_day(text: &str) -> Result<Date, String> {
    date_text::parse(text).map_err(|e| e.to_string())
}

fn parse_party(text: &str) -> Result<StateCode, String> {
    let code: StateCode = text
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|e: custos_model::state::StateCodeError| e.to_string())?;
    if code.is_known() {
        Ok(code)
    } else {
        Err(format!(
            "{code} is not an ISO 3166-1 alpha-2 code nor a known REIO (such as EU)"
        ))
    }
}

/// The banner printed above anything computed from sample data.
pub fn banner(note: Option<&str>) -> String {
    let rule = "#".repeat(76);
    let mut out =
        format!("{rule}\n##  SAMPLE DATA: illustrative only, NOT the real treaty status.\n");
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        for line in wrap(note, 70) {
            let _ = writeln!(out, "##  {line}");
        }
    }
    let _ = writeln!(out, "{rule}");
    out
}

/// Splits text into lines of at most `width` characters where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn day(date: Date) -> String {
    date_text::format(date)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The status report as text: banner, the Convention, the parties, the
/// legal-basis answer if asked, and the rules applied.
pub fn render_text(registry: &Registry, at: Date, pair: Option<(StateCode, StateCode)>) -> String {
    let status = registry.status_at(at);
    let mut out = String::new();
    if registry.sample {
        out.push_str(&banner(registry.note.as_deref()));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Treaty status on {} (registry complete to {})\n",
        day(at),
        day(registry.as_of)
    );
    render_convention(&mut out, &status);
    render_parties(&mut out, &status);
    if let Some((a, b)) = pair {
        render_legal_basis(&mut out, registry, a, b, at);
    }
    render_rules(&mut out);
    out
}

fn render_convention(out: &mut String, status: &TreatyStatus) {
    let c = &status.convention;
    let at = day(status.at);
    let counted = if c.still_needed > 0 {
        format!(
            "{} by {at}, of {} needed: {} more to go",
            c.counted, c.required, c.still_needed
        )
    } else {
        format!("{} by {at} ({} needed)", c.counted, c.required)
    };
    let last = match c.last_needed_deposit {
        Some(d) => day(d),
        None => "not yet".to_owned(),
    };
    let eif = match c.entry_into_force {
        Some(d) => format!(
            "{} ({}th day after the {}th instrument)",
            day(d),
            DAYS_AFTER_LAST_NEEDED_INSTRUMENT.value,
            c.required
        ),
        None => "not yet known: too few instruments".to_owned(),
    };
    let not_counted: Vec<String> = status
        .parties
        .iter()
        .filter(|p| p.deposited && !p.counted)
        .map(|p| p.code.to_string())
        .collect();
    let deposited = if not_counted.is_empty() {
        format!("{} by {at}, all counted", c.deposited)
    } else {
        format!(
            "{} by {at}, of which {} counted: not counted {} (a REIO's instrument)",
            c.deposited,
            c.counted,
            not_counted.join(", ")
        )
    };
    let rows = vec![
        vec!["Instruments deposited:".to_owned(), deposited],
        vec!["Instruments counted:".to_owned(), counted],
        vec![format!("{}th instrument deposited:", c.required), last],
        vec!["Entry into force:".to_owned(), eif],
        vec![format!("In force on {at}:"), yes_no(c.in_force).to_owned()],
    ];
    out.push_str("UN Convention against Cybercrime\n");
    out.push_str(&table(None, &rows, "  "));
    out.push('\n');
}

fn render_parties(out: &mut String, status: &TreatyStatus) {
    let at = day(status.at);
    let in_force = status.parties.iter().filter(|p| p.in_force).count();
    let _ = writeln!(
        out,
        "Parties and signatories ({} listed; in force for {in_force} on {at})",
        status.parties.len()
    );
    if status.parties.is_empty() {
        out.push_str("  (none listed)\n\n");
        return;
    }
    let headers = [
        "CODE",
        "NAME",
        "KIND",
        "SIGNED",
        "DEPOSIT",
        "INSTRUMENT",
        "COUNTED",
        "IN FORCE FROM",
        "IN FORCE",
        "DENUNCIATION EFFECTIVE",
    ];
    let rows: Vec<Vec<String>> = status.parties.iter().map(party_row).collect();
    out.push_str(&table(Some(&headers), &rows, "  "));
    let any_reio = status
        .parties
        .iter()
        .any(|p| p.kind == Some(PartyKind::Reio) && p.deposit.is_some());
    out.push_str(
        "  Dates are those in the record; COUNTED and IN FORCE answer for the day reported on.\n",
    );
    if any_reio {
        out.push_str(
            "  A REIO's instrument is deposited but not counted toward entry into force; its member States' are.\n",
        );
    }
    out.push('\n');
}

fn party_row(p: &PartyStatus) -> Vec<String> {
    let dash = || "-".to_owned();
    let kind = match p.kind {
        Some(PartyKind::State) => "State".to_owned(),
        Some(PartyKind::Reio) => "REIO".to_owned(),
        None => "?".to_owned(),
    };
    vec![
        p.code.to_string(),
        p.name.unwrap_or("(not in the catalogue)").to_owned(),
        kind,
        p.signature.map_or_else(dash, day),
        p.deposit.map_or_else(dash, |d| day(d.date)),
        p.deposit.map_or_else(dash, |d| d.instrument.to_string()),
        counted(p).to_owned(),
        p.in_force_from.map_or_else(dash, day),
        yes_no(p.in_force).to_owned(),
        p.denunciation_effective.map_or_else(dash, day),
    ]
}

/// Whether a party's instrument counts on the day reported on: not
/// deposited yet, deposited and counted, or deposited and not counted.
fn counted(p: &PartyStatus) -> &'static str {
    match (p.deposit, p.deposited, p.counted) {
        (None, ..) => "-",
        (Some(_), false, _) => "not yet",
        (Some(_), true, true) => "yes",
        (Some(_), true, false) => "no: REIO",
    }
}

fn render_legal_basis(out: &mut String, registry: &Registry, a: StateCode, b: StateCode, at: Date) {
    let name = |c: StateCode| match c.name() {
        Some(n) => format!("{c} ({n})"),
        None => c.to_string(),
    };
    let _ = writeln!(
        out,
        "Legal basis between {} and {} on {}",
        name(a),
        name(b),
        day(at)
    );
    match registry.convention_applies(a, b, at) {
        LegalBasisCheck::Applies { since } => {
            let _ = writeln!(
                out,
                "  The Convention APPLIES: in force between them since {}.",
                day(since)
            );
        }
        LegalBasisCheck::DoesNotApply { reasons } => {
            out.push_str("  The Convention DOES NOT APPLY:\n");
            for r in reasons {
                let _ = writeln!(out, "  - {r}");
            }
        }
    }
    out.push('\n');
}

fn render_rules(out: &mut String) {
    let years = match DENUNCIATION_YEARS.value {
        1 => "one year".to_owned(),
        n => format!("{n} years"),
    };
    let rules = format!(
        "Rules applied: the Convention enters into force on the {}th day after the {}th \
         instrument ({}); for a party depositing later, on the {}th day after its own deposit \
         or that day, whichever is later ({}); a REIO's instrument is not counted ({}); a \
         denunciation takes effect {years} after the notice is received ({}).",
        DAYS_AFTER_LAST_NEEDED_INSTRUMENT.value,
        INSTRUMENTS_FOR_ENTRY_INTO_FORCE.value,
        DAYS_AFTER_LAST_NEEDED_INSTRUMENT.article,
        DAYS_AFTER_OWN_DEPOSIT.value,
        DAYS_AFTER_OWN_DEPOSIT.article,
        INSTRUMENTS_FOR_ENTRY_INTO_FORCE.article,
        DENUNCIATION_YEARS.article,
    );
    for line in wrap(&rules, 96) {
        let _ = writeln!(out, "{line}");
    }
}

/// Lays out rows in columns, left-aligned, without trailing spaces.
fn table(headers: Option<&[&str]>, rows: &[Vec<String>], margin: &str) -> String {
    let columns = rows
        .iter()
        .map(Vec::len)
        .chain(headers.map(<[&str]>::len))
        .max()
        .unwrap_or(0);
    let mut widths = vec![0; columns];
    let header_cells: Option<Vec<String>> =
        headers.map(|h| h.iter().map(|s| (*s).to_owned()).collect());
    for row in header_cells.iter().chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in header_cells.iter().chain(rows) {
        let mut line = margin.to_owned();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The status report as one JSON document.
pub fn render_json(
    file: &Path,
    registry: &Registry,
    at: Date,
    pair: Option<(StateCode, StateCode)>,
    warnings: &[RegistryIssue],
) -> serde_json::Value {
    let legal_basis = pair.map(|(a, b)| {
        let check = registry.convention_applies(a, b, at);
        let messages: Vec<String> = match &check {
            LegalBasisCheck::Applies { .. } => vec![],
            LegalBasisCheck::DoesNotApply { reasons } => {
                reasons.iter().map(ToString::to_string).collect()
            }
        };
        json!({
            "between": [a, b],
            "at": day(at),
            "applies": check.applies(),
            "check": check,
            "messages": messages,
        })
    });
    json!({
        "registry": file.display().to_string(),
        "sample": registry.sample,
        "note": registry.note,
        "status": registry.status_at(at),
        "legal_basis": legal_basis,
        "warnings": warnings,
    })
}

/// The sample registry shipped in `docs/samples/`, built into the binary for
/// `custos demo`.
pub const SAMPLE_REGISTRY: &str = include_str!("../../../../docs/samples/registry.sample.toml");

/// A short report on the bundled sample registry for `custos demo`: the text
/// to print (with its SAMPLE DATA banner) and a JSON summary.
pub fn demo_summary() -> anyhow::Result<(String, serde_json::Value)> {
    let path = Path::new("docs/samples/registry.sample.toml");
    let registry = parse(path, SAMPLE_REGISTRY)
        .context("the bundled sample registry does not load")?
        .registry;
    let at = registry.as_of;
    let status = registry.status_at(at);
    let mut text = String::new();
    if registry.sample {
        text.push_str(&banner(registry.note.as_deref()));
    }
    let _ = writeln!(text, "Treaty status on {} from {}", day(at), path.display());
    render_convention(&mut text, &status);
    let pairs = [("FR", "DE"), ("FR", "BG")].map(|(a, b)| {
        a.parse::<StateCode>()
            .and_then(|a| Ok((a, b.parse::<StateCode>()?)))
    });
    let mut checks = Vec::new();
    for pair in pairs {
        let (a, b) = pair.context("a demo party code has the wrong shape")?;
        render_legal_basis(&mut text, &registry, a, b, at);
        let check = registry.convention_applies(a, b, at);
        checks.push(json!({ "between": [a, b], "applies": check.applies(), "check": check }));
    }
    let summary = json!({
        "sample": registry.sample,
        "at": day(at),
        "entry_into_force": status.convention.entry_into_force.map(day),
        "legal_basis": checks,
    });
    Ok((text, summary))
}

/// The commented registry printed by `custos treaty template`.
pub const TEMPLATE: &str = r#"# Custos treaty registry -- TEMPLATE TO FILL IN
#
# The entries below are PLACEHOLDERS showing the format; they are not the
# status of any State. Replace them with the depositary's record, then set
# `sample = false` and rewrite the note. Until then the file stays marked as
# sample data and `custos treaty status` prints it under a SAMPLE DATA banner.
#
# Dates are written YYYY-MM-DD, bare (2026-06-01) or quoted ("2026-06-01").
# Party codes are ISO 3166-1 alpha-2 codes (FR, DE, VN, ...) or EU for the
# European Union. The format is described in docs/treaty-registry.md.
# Check the file with:  custos treaty status --registry FILE

# true while the data is illustrative or not yet filled in; false for the real record.
sample = true
# Required while sample = true: say what the data is.
note = "TEMPLATE: placeholder entries, not the real treaty status."
# The day up to which this record is complete; `custos treaty status`
# reports on this day unless --at is given.
as_of = 2027-06-30

# One [[party]] table per State or REIO, in any order.
[[party]]
code = "FR"
# Day of signature (Art. 64); leave the key out if the party did not sign.
signature = 2025-10-25
# The instrument deposited with the Secretary-General (Art. 64); leave the
# key out until it is deposited. instrument is one of: ratification,
# acceptance, approval (after a signature), or accession (without one).
deposit = { date = 2026-06-01, instrument = "ratification" }
# Day the Secretary-General received a notice of denunciation (Art. 67);
# the Convention ceases to be in force for the party one year later.
# denunciation_notice = 2030-01-15

# Designations notified to the Secretary-General; every key is optional.
[party.designations]
# The central authority for mutual legal assistance (Art. 40).
central_authority = "Placeholder: name and address of the central authority"
# The 24/7 point of contact (Art. 41).
contact_24_7 = "Placeholder: telephone and e-mail of the 24/7 point of contact"
# Languages in which requests are accepted (Art. 40).
languages = ["French", "English"]

# A signatory that has not deposited yet: only its signature.
[[party]]
code = "DE"
signature = 2025-10-25

# A State that did not sign joins by accession.
[[party]]
code = "UY"
deposit = { date = 2027-03-01, instrument = "accession" }

# A regional economic integration organisation lists its member States. Its
# own instrument is not counted toward the forty needed for entry into
# force (Art. 65); its members' instruments are.
# [[party]]
# code = "EU"
# signature = 2025-10-25
# deposit = { date = 2027-06-01, instrument = "approval" }
# members = ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR",
#            "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL",
#            "PT", "RO", "SE", "SI", "SK"]
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const SAMPLE: &str = SAMPLE_REGISTRY;

    fn code(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    fn sample() -> Loaded {
        parse(Path::new("registry.sample.toml"), SAMPLE).unwrap()
    }

    /// The cells of a table line: text separated by two spaces or more.
    fn cells(line: &str) -> Vec<&str> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// The cells of the first line whose first cell is `first`.
    fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
        text.lines()
            .map(cells)
            .find(|c| c.first() == Some(&first))
            .unwrap_or_else(|| panic!("no line starting with {first:?} in\n{text}"))
    }

    fn error_text(text: &str) -> String {
        parse(Path::new("reg.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn the_sample_is_marked_valid_and_enters_into_force() {
        let loaded = sample();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let r = &loaded.registry;
        assert!(r.sample);
        assert!(
            r.note
                .as_deref()
                .unwrap()
                .contains("not the real treaty status")
        );
        assert_eq!(r.last_needed_deposit(), Some(date!(2027 - 09 - 15)));
        assert_eq!(r.entry_into_force(), Some(date!(2027 - 12 - 14)));
        // Spain deposits 70 days before entry into force and gets its day;
        // Sweden deposits after it and waits thirty days.
        assert_eq!(r.in_force_from(code("ES")), Some(date!(2027 - 12 - 14)));
        assert_eq!(r.in_force_from(code("SE")), Some(date!(2028 - 03 - 02)));
        assert_eq!(r.in_force_from(code("UY")), Some(date!(2028 - 06 - 19)));
        let s = r.status_at(r.as_of);
        assert_eq!(s.convention.counted, 43);
        assert!(!s.party(code("EU")).unwrap().counted);
    }

    #[test]
    fn the_template_parses_and_is_marked() {
        let loaded = parse(Path::new("template.toml"), TEMPLATE).unwrap();
        assert!(loaded.registry.sample);
        assert!(
            loaded
                .registry
                .note
                .as_deref()
                .unwrap()
                .starts_with("TEMPLATE")
        );
        assert!(TEMPLATE.starts_with("# Custos treaty registry -- TEMPLATE"));
        assert_eq!(loaded.registry.parties.len(), 3);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let text = render_text(&loaded.registry, loaded.registry.as_of, None);
        assert!(text.contains("SAMPLE DATA"));
        // The commented-out REIO example is valid once uncommented.
        let uncommented = TEMPLATE
            .replace("# [[party]]", "[[party]]")
            .replace("\n# code = \"EU\"", "\ncode = \"EU\"");
        let uncommented = uncommented
            .lines()
            .map(|l| {
                for key in [
                    "# signature = 2025",
                    "# deposit = { date = 2027-06-01",
                    "# members",
                    "#            \"",
                ] {
                    if l.starts_with(key) {
                        return l.trim_start_matches('#').trim_start().to_owned();
                    }
                }
                l.to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n");
        let loaded = parse(Path::new("template.toml"), &uncommented).unwrap();
        assert_eq!(loaded.registry.parties.len(), 4);
        assert_eq!(loaded.registry.parties[3].members.len(), 27);
    }

    #[test]
    fn text_report_of_the_sample() {
        let r = sample().registry;
        let text = render_text(&r, r.as_of, Some((code("FR"), code("DE"))));
        assert!(text.starts_with("####"), "{text}");
        assert!(text.contains("SAMPLE DATA: illustrative only, NOT the real treaty status."));
        assert!(text.contains("Treaty status on 2028-06-30 (registry complete to 2028-06-30)"));
        assert_eq!(
            row(&text, "Instruments counted:"),
            ["Instruments counted:", "43 by 2028-06-30 (40 needed)"]
        );
        assert_eq!(
            row(&text, "40th instrument deposited:"),
            ["40th instrument deposited:", "2027-09-15"]
        );
        assert_eq!(
            row(&text, "Entry into force:"),
            [
                "Entry into force:",
                "2027-12-14 (90th day after the 40th instrument)"
            ]
        );
        assert_eq!(
            row(&text, "In force on 2028-06-30:"),
            ["In force on 2028-06-30:", "yes"]
        );
        assert_eq!(
            row(&text, "CODE"),
            [
                "CODE",
                "NAME",
                "KIND",
                "SIGNED",
                "DEPOSIT",
                "INSTRUMENT",
                "COUNTED",
                "IN FORCE FROM",
                "IN FORCE",
                "DENUNCIATION EFFECTIVE"
            ]
        );
        assert_eq!(
            row(&text, "SE"),
            [
                "SE",
                "Sweden",
                "State",
                "2026-02-10",
                "2028-02-01",
                "ratification",
                "yes",
                "2028-03-02",
                "yes",
                "-"
            ]
        );
        assert_eq!(
            row(&text, "UY"),
            [
                "UY",
                "Uruguay",
                "State",
                "-",
                "2028-05-20",
                "accession",
                "yes",
                "2028-06-19",
                "yes",
                "-"
            ]
        );
        assert_eq!(row(&text, "EU")[2], "REIO");
        // The REIO's instrument is deposited, and said not to be counted.
        assert_eq!(
            row(&text, "EU")[4..7],
            ["2027-06-01", "approval", "no: REIO"]
        );
        assert_eq!(
            row(&text, "Instruments deposited:"),
            [
                "Instruments deposited:",
                "44 by 2028-06-30, of which 43 counted: not counted EU (a REIO's instrument)"
            ]
        );
        assert_eq!(row(&text, "BG")[4..], ["-", "-", "-", "-", "no", "-"]);
        assert!(
            text.contains("Parties and signatories (50 listed; in force for 44 on 2028-06-30)")
        );
        assert!(
            text.contains(
                "A REIO's instrument is deposited but not counted toward entry into force"
            )
        );
        assert!(text.contains("Legal basis between FR (France) and DE (Germany) on 2028-06-30"));
        assert!(text.contains("The Convention APPLIES: in force between them since 2027-12-14."));
        let rules: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("Rules applied:"))
            .collect();
        assert!(rules.iter().all(|l| l.chars().count() <= 96), "{rules:?}");
        let rules = rules.join(" ");
        assert!(
            rules.starts_with(
                "Rules applied: the Convention enters into force on the 90th day after the 40th \
                 instrument (Art. 65)"
            ),
            "{rules}"
        );
        assert!(rules.ends_with("takes effect one year after the notice is received (Art. 67)."));
        assert!(
            text.lines().all(|l| l == l.trim_end()),
            "no trailing spaces"
        );
    }

    #[test]
    fn text_report_before_entry_into_force_and_a_refusal() {
        let r = sample().registry;
        let text = render_text(&r, date!(2027 - 05 - 01), Some((code("FR"), code("BG"))));
        assert_eq!(
            row(&text, "Instruments counted:")[1],
            "30 by 2027-05-01, of 40 needed: 10 more to go"
        );
        assert_eq!(row(&text, "In force on 2027-05-01:")[1], "no");
        // Spain's deposit lies after the day asked: its dates show, it is not in force.
        assert_eq!(
            row(&text, "ES")[4..],
            [
                "2027-10-05",
                "ratification",
                "not yet",
                "2027-12-14",
                "no",
                "-"
            ]
        );
        // Neither the REIO nor Spain had deposited by then.
        assert_eq!(row(&text, "EU")[6], "not yet");
        assert_eq!(
            row(&text, "Instruments deposited:")[1],
            "30 by 2027-05-01, all counted"
        );
        assert!(text.contains("The Convention DOES NOT APPLY:"));
        assert!(
            text.contains(
                "  - the Convention is not in force yet: it enters into force on 2027-12-14 \
                 (Art. 65)"
            ),
            "{text}"
        );
        assert!(
            text.contains("  - BG has signed but has not deposited"),
            "{text}"
        );
    }

    #[test]
    fn denunciation_shows_in_the_table_and_the_check() {
        let r = sample().registry;
        let text = render_text(&r, date!(2029 - 03 - 15), Some((code("NZ"), code("FR"))));
        assert_eq!(row(&text, "NZ")[8..], ["no", "2029-03-15"]);
        assert!(
            text.contains("  - NZ's denunciation took effect on 2029-03-15 (Art. 67)"),
            "{text}"
        );
        let day_before = render_text(&r, date!(2029 - 03 - 14), Some((code("NZ"), code("FR"))));
        assert_eq!(row(&day_before, "NZ")[8..], ["yes", "2029-03-15"]);
        assert!(
            day_before.contains("The Convention APPLIES"),
            "{day_before}"
        );
    }

    #[test]
    fn json_report() {
        let loaded = sample();
        let doc = render_json(
            Path::new("registry.sample.toml"),
            &loaded.registry,
            date!(2027 - 05 - 01),
            Some((code("DE"), code("FR"))),
            &loaded.warnings,
        );
        assert_eq!(doc["sample"], true);
        assert_eq!(
            doc["status"]["convention"]["entry_into_force"],
            "2027-12-14"
        );
        assert_eq!(doc["status"]["convention"]["in_force"], false);
        assert_eq!(doc["legal_basis"]["applies"], false);
        assert_eq!(doc["legal_basis"]["between"], json!(["DE", "FR"]));
        assert_eq!(doc["legal_basis"]["check"]["outcome"], "does-not-apply");
        assert_eq!(
            doc["legal_basis"]["messages"][0],
            "the Convention is not in force yet: it enters into force on 2027-12-14 (Art. 65)"
        );
        assert_eq!(doc["warnings"], json!([]));
    }

    #[test]
    fn toml_errors_name_the_file_the_place_and_the_problem() {
        let base = "sample = false\nas_of = 2027-01-01\n";
        // A bare date is checked by the TOML parser, a quoted one by ours.
        let bad_date = format!("{base}[[party]]\ncode = \"FR\"\nsignature = 2026-02-30\n");
        let msg = error_text(&bad_date);
        assert!(
            msg.starts_with("reg.toml is not a valid treaty registry:"),
            "{msg}"
        );
        assert!(
            msg.contains("line 5") && msg.contains("invalid date"),
            "{msg}"
        );
        let bad_date = format!("{base}[[party]]\ncode = \"FR\"\nsignature = \"2026-02-30\"\n");
        let msg = error_text(&bad_date);
        assert!(
            msg.contains("line 5") && msg.contains("not a day of the calendar"),
            "{msg}"
        );

        let bad_code = format!("{base}[[party]]\ncode = \"fr\"\n");
        let msg = error_text(&bad_code);
        assert!(
            msg.contains("line 4") && msg.contains("two capital letters"),
            "{msg}"
        );

        let typo = format!("{base}[[party]]\ncode = \"FR\"\nsignatur = 2026-01-01\n");
        let msg = error_text(&typo);
        assert!(msg.contains("unknown field `signatur`"), "{msg}");

        let bad_kind = format!(
            "{base}[[party]]\ncode = \"FR\"\nsignature = 2025-11-01\ndeposit = {{ date = 2026-01-01, instrument = \"ratify\" }}\n"
        );
        let msg = error_text(&bad_kind);
        assert!(msg.contains("unknown variant `ratify`"), "{msg}");

        let with_time = "sample = false\nas_of = 2027-01-01T10:00:00\n";
        let msg = error_text(with_time);
        assert!(msg.contains("time of day"), "{msg}");

        let msg = error_text("");
        assert!(msg.contains("missing field `sample`"), "{msg}");

        let msg = error_text("sample = false\nas_of = 2027-01-01\n[[party]\n");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn quoted_dates_are_accepted_too() {
        let text = "sample = false\nas_of = \"2027-01-01\"\n[[party]]\ncode = \"FR\"\nsignature = \"2025-10-25\"\n";
        let loaded = parse(Path::new("reg.toml"), text).unwrap();
        assert_eq!(loaded.registry.as_of, date!(2027 - 01 - 01));
    }

    #[test]
    fn semantic_errors_are_listed_with_their_paths() {
        let text = "sample = true\nas_of = 2027-01-01\n\
                    [[party]]\ncode = \"FR\"\nsignature = 2026-05-01\ndeposit = { date = 2026-03-01, instrument = \"ratification\" }\n\
                    [[party]]\ncode = \"XX\"\n";
        let msg = error_text(text);
        assert!(
            msg.starts_with("reg.toml has 3 problem(s) to fix:"),
            "{msg}"
        );
        assert!(msg.contains("  - note: "), "{msg}");
        assert!(msg.contains("  - party[0].deposit.date: FR's ratification on 2026-03-01 comes before its signature on 2026-05-01"), "{msg}");
        assert!(msg.contains("  - party[1].code: XX is neither"), "{msg}");
    }

    #[test]
    fn warnings_do_not_stop_the_report() {
        let text = "sample = false\nas_of = 2026-01-01\n[[party]]\ncode = \"FR\"\nsignature = 2026-05-01\n";
        let loaded = parse(Path::new("reg.toml"), text).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].path, "party[0].signature");
        let out = render_text(&loaded.registry, loaded.registry.as_of, None);
        assert!(!out.contains("SAMPLE DATA"));
    }

    #[test]
    fn unreadable_file() {
        let err = load(Path::new("/nonexistent/registry.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the registry file /nonexistent/registry.toml:"),
            "{err}"
        );
    }

    #[test]
    fn argument_parsers() {
        assert_eq!(parse_party("fr"), Ok(code("FR")));
        assert_eq!(parse_party("EU"), Ok(code("EU")));
        assert!(parse_party("XX").unwrap_err().contains("not an ISO 3166-1"));
        assert!(parse_party("FRA").is_err());
        assert_eq!(parse_day("2027-01-31"), Ok(date!(2027 - 01 - 31)));
        assert!(parse_day("31/01/2027").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn clap_wiring() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Cli {
            #[command(subcommand)]
            cmd: TreatyCommand,
        }
        let cli = Cli::try_parse_from([
            "custos",
            "status",
            "--registry",
            "r.toml",
            "--at",
            "2027-01-02",
            "--between",
            "fr",
            "DE",
            "--json",
        ])
        .unwrap();
        let TreatyCommand::Status(args) = cli.cmd else {
            panic!("not status")
        };
        assert_eq!(args.at, Some(date!(2027 - 01 - 02)));
        assert_eq!(args.between, Some(vec![code("FR"), code("DE")]));
        assert!(args.json);
        assert!(
            Cli::try_parse_from([
                "custos",
                "status",
                "--registry",
                "r.toml",
                "--between",
                "FR"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["custos", "status", "--registry", "r.toml", "--at", "soon"])
                .is_err()
        );
        let help = Cli::try_parse_from(["custos", "status", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("Defaults to the registry's own"), "{help}");
        assert!(help.contains("does not read the system clock"), "{help}");
    }

    #[test]
    fn demo_summary_of_the_sample() {
        let (text, summary) = demo_summary().unwrap();
        assert!(text.contains("SAMPLE DATA"), "{text}");
        assert!(
            text.contains("Legal basis between FR (France) and DE (Germany) on 2028-06-30"),
            "{text}"
        );
        assert!(
            text.contains("  - BG has signed but has not deposited"),
            "{text}"
        );
        assert_eq!(summary["entry_into_force"], "2027-12-14");
        assert_eq!(summary["legal_basis"][0]["applies"], true);
        assert_eq!(summary["legal_basis"][1]["applies"], false);
    }

    #[test]
    fn banner_wraps_the_note() {
        let b = banner(Some(&"word ".repeat(40)));
        assert!(b.lines().all(|l| l.chars().count() <= 76), "{b}");
        assert!(b.lines().count() >= 5);
        assert_eq!(wrap("", 10), Vec::<String>::new());
    }
}
