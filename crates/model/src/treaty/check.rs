//! Semantic validation of a [`Registry`]: what a well-formed file can still
//! get wrong (unknown codes, a code listed twice, dates in an impossible
//! order, a sample that does not say so).
//!
//! Each finding names the field by its path in the file (`party[3].deposit.date`,
//! counting entries from 0 in file order) and says what is wrong in words a
//! registry operator can act on.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use time::Date;

use super::date_text::format as day;
use super::figures::{SIGNATURE_CLOSES, SIGNATURE_OPENS};
use super::registry::{Designations, InstrumentKind, PartyEntry, Registry};
use crate::article;
use crate::state::{PartyKind, StateCode};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueLevel {
    /// The record cannot be right; status computed from it would mislead.
    Error,
    /// Unusual but possible; worth a second look.
    Warning,
}

/// One finding of [`Registry::check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryIssue {
    pub level: IssueLevel,
    /// Where in the file: `as_of`, `party[3].deposit.date`, ...
    pub path: String,
    pub message: String,
}

impl fmt::Display for RegistryIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            IssueLevel::Error => "error",
            IssueLevel::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.path, self.message)
    }
}

/// Collects findings.
struct Findings(Vec<RegistryIssue>);

impl Findings {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(IssueLevel::Error, path.into(), message.into());
    }
    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(IssueLevel::Warning, path.into(), message.into());
    }
    fn push(&mut self, level: IssueLevel, path: String, message: String) {
        self.0.push(RegistryIssue {
            level,
            path,
            message,
        });
    }
}

impl Registry {
    /// Everything wrong or odd in the record, errors and warnings, in file order.
    pub fn check(&self) -> Vec<RegistryIssue> {
        let mut out = Findings(Vec::new());
        let note_is_blank = self.note.as_deref().is_none_or(|n| n.trim().is_empty());
        if self.sample && note_is_blank {
            out.error(
                "note",
                "the registry is marked sample = true, so its note must say what the data is \
                 (for example that the dates are invented)",
            );
        }
        let mut first_seen: BTreeMap<StateCode, usize> = BTreeMap::new();
        for (i, party) in self.parties.iter().enumerate() {
            let at = format!("party[{i}]");
            match first_seen.get(&party.code) {
                Some(first) => out.error(
                    format!("{at}.code"),
                    format!(
                        "{} is listed twice (first at party[{first}]); keep one entry per party",
                        party.code
                    ),
                ),
                None => {
                    first_seen.insert(party.code, i);
                }
            }
            check_party(&mut out, &at, party, self.as_of);
        }
        out.0
    }
}

fn check_party(out: &mut Findings, at: &str, party: &PartyEntry, as_of: Date) {
    let code = party.code;
    let kind = code.party_kind();
    if kind.is_none() {
        out.error(
            format!("{at}.code"),
            format!("{code} is neither an ISO 3166-1 alpha-2 code nor a known REIO"),
        );
    }

    let after_as_of = |out: &mut Findings, path: String, what: &str, date: Date| {
        if date > as_of {
            out.warning(
                path,
                format!(
                    "{code}'s {what} on {} is after the registry's as_of date {}",
                    day(date),
                    day(as_of)
                ),
            );
        }
    };

    if let Some(signed) = party.signature {
        let path = format!("{at}.signature");
        if signed < SIGNATURE_OPENS.value {
            out.error(
                path.clone(),
                format!(
                    "{code} signed on {}, before the Convention opened for signature on {} ({})",
                    day(signed),
                    day(SIGNATURE_OPENS.value),
                    SIGNATURE_OPENS.article
                ),
            );
        } else if signed > SIGNATURE_CLOSES.value {
            out.error(
                path.clone(),
                format!(
                    "{code} signed on {}, after signature closed on {} ({}); a State that did not \
                     sign in time deposits an instrument of accession",
                    day(signed),
                    day(SIGNATURE_CLOSES.value),
                    SIGNATURE_CLOSES.article
                ),
            );
        }
        after_as_of(out, path, "signature", signed);
    }

    if let Some(deposit) = party.deposit {
        let path = format!("{at}.deposit.date");
        let what = deposit.instrument;
        if deposit.date < SIGNATURE_OPENS.value {
            out.error(
                path.clone(),
                format!(
                    "{code}'s {what} is dated {}, before the Convention opened for signature on {}",
                    day(deposit.date),
                    day(SIGNATURE_OPENS.value)
                ),
            );
        }
        match (what, party.signature) {
            (InstrumentKind::Accession, Some(signed)) => out.warning(
                format!("{at}.deposit.instrument"),
                format!(
                    "{code} signed on {} yet deposited an instrument of accession; a signatory \
                     usually ratifies, accepts or approves ({})",
                    day(signed),
                    article::SIGNATURE
                ),
            ),
            (InstrumentKind::Accession, None) => {}
            (_, None) => out.error(
                format!("{at}.deposit.instrument"),
                format!(
                    "{what} follows a signature, but {code} has no signature date; a party that \
                     did not sign deposits an instrument of accession ({})",
                    article::SIGNATURE
                ),
            ),
            (_, Some(signed)) if deposit.date < signed => out.error(
                path.clone(),
                format!(
                    "{code}'s {what} on {} comes before its signature on {}; only accession may \
                     come without a prior signature ({})",
                    day(deposit.date),
                    day(signed),
                    article::SIGNATURE
                ),
            ),
            (_, Some(_)) => {}
        }
        after_as_of(out, path, "deposit", deposit.date);
    }

    if let Some(notice) = party.denunciation_notice {
        let path = format!("{at}.denunciation_notice");
        match party.deposit {
            None => out.error(
                path.clone(),
                format!(
                    "{code} has no deposited instrument, so it has nothing to denounce ({})",
                    article::DENUNCIATION
                ),
            ),
            Some(deposit) if notice < deposit.date => out.error(
                path.clone(),
                format!(
                    "{code}'s denunciation notice on {} comes before its deposit on {} ({})",
                    day(notice),
                    day(deposit.date),
                    article::DENUNCIATION
                ),
            ),
            Some(_) => {}
        }
        after_as_of(out, path, "denunciation notice", notice);
    }

    check_members(out, at, party, kind);
    check_designations(out, at, &party.designations);
}

fn check_members(out: &mut Findings, at: &str, party: &PartyEntry, kind: Option<PartyKind>) {
    let code = party.code;
    match kind {
        Some(PartyKind::Reio) if party.members.is_empty() => out.error(
            format!("{at}.members"),
            format!(
                "{code} is a REIO: list its member States, whose instruments count toward entry \
                 into force while its own does not ({})",
                article::ENTRY_INTO_FORCE
            ),
        ),
        Some(PartyKind::Reio) => {}
        _ if !party.members.is_empty() => out.error(
            format!("{at}.members"),
            format!("{code} is not a REIO; only a REIO lists member States"),
        ),
        _ => {}
    }
    let mut seen = BTreeMap::new();
    for (k, member) in party.members.iter().enumerate() {
        let path = format!("{at}.members[{k}]");
        if let Some(first) = seen.insert(*member, k) {
            out.error(
                path,
                format!("{member} is listed twice (first at members[{first}])"),
            );
            continue;
        }
        match member.party_kind() {
            None => out.error(path, format!("{member} is not an ISO 3166-1 alpha-2 code")),
            Some(PartyKind::Reio) => {
                out.error(
                    path,
                    format!("{member} is a REIO; members of a REIO are States"),
                );
            }
            Some(PartyKind::State) => {}
        }
    }
}

fn check_designations(out: &mut Findings, at: &str, designations: &Designations) {
    let blank = |s: &str| s.trim().is_empty();
    let empty_text = "is empty; write the designation or leave the key out";
    if designations.central_authority.as_deref().is_some_and(blank) {
        out.error(format!("{at}.designations.central_authority"), empty_text);
    }
    if designations.contact_24_7.as_deref().is_some_and(blank) {
        out.error(format!("{at}.designations.contact_24_7"), empty_text);
    }
    for (k, language) in designations.languages.iter().enumerate() {
        if blank(language) {
            out.error(format!("{at}.designations.languages[{k}]"), empty_text);
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::treaty::Deposit;

    fn code(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    fn party(c: &str) -> PartyEntry {
        PartyEntry {
            code: code(c),
            signature: Some(date!(2025 - 10 - 25)),
            deposit: Some(Deposit {
                date: date!(2026 - 03 - 01),
                instrument: InstrumentKind::Ratification,
            }),
            members: vec![],
            denunciation_notice: None,
            designations: Designations::default(),
        }
    }

    fn registry(parties: Vec<PartyEntry>) -> Registry {
        Registry {
            sample: false,
            note: None,
            as_of: date!(2027 - 01 - 01),
            parties,
        }
    }

    /// The (level, path) of every finding.
    fn found(r: &Registry) -> Vec<(IssueLevel, String)> {
        r.check().into_iter().map(|i| (i.level, i.path)).collect()
    }

    fn err(path: &str) -> (IssueLevel, String) {
        (IssueLevel::Error, path.to_owned())
    }

    fn warn(path: &str) -> (IssueLevel, String) {
        (IssueLevel::Warning, path.to_owned())
    }

    #[test]
    fn a_clean_registry_has_no_findings() {
        let mut eu = party("EU");
        eu.deposit.as_mut().unwrap().instrument = InstrumentKind::Approval;
        eu.members = vec![code("FR"), code("DE")];
        let r = registry(vec![party("FR"), party("DE"), eu]);
        assert_eq!(r.check(), vec![]);
    }

    #[test]
    fn a_sample_must_say_so() {
        let mut r = registry(vec![]);
        r.sample = true;
        assert_eq!(found(&r), vec![err("note")]);
        r.note = Some("   ".into());
        assert_eq!(found(&r), vec![err("note")]);
        r.note = Some("invented data".into());
        assert_eq!(found(&r), vec![]);
    }

    #[test]
    fn unknown_and_duplicate_codes() {
        let r = registry(vec![party("FR"), party("XX"), party("FR")]);
        assert_eq!(found(&r), vec![err("party[1].code"), err("party[2].code")]);
        let issues = r.check();
        assert!(
            issues[1].message.contains("first at party[0]"),
            "{}",
            issues[1].message
        );
        assert_eq!(
            issues[0].to_string(),
            "error: party[1].code: XX is neither an ISO 3166-1 alpha-2 code nor a known REIO"
        );
    }

    #[test]
    fn deposit_before_signature_only_for_accession() {
        let mut p = party("FR");
        p.signature = Some(date!(2026 - 04 - 01));
        let r = registry(vec![p.clone()]);
        assert_eq!(found(&r), vec![err("party[0].deposit.date")]);
        assert!(r.check()[0].message.contains("Art. 64"));

        p.deposit.as_mut().unwrap().instrument = InstrumentKind::Accession;
        assert_eq!(
            found(&registry(vec![p.clone()])),
            vec![warn("party[0].deposit.instrument")]
        );

        p.signature = None;
        assert_eq!(found(&registry(vec![p.clone()])), vec![]);

        p.deposit.as_mut().unwrap().instrument = InstrumentKind::Acceptance;
        assert_eq!(
            found(&registry(vec![p])),
            vec![err("party[0].deposit.instrument")]
        );
    }

    #[test]
    fn signature_period() {
        let mut p = party("FR");
        p.signature = Some(date!(2025 - 10 - 24));
        p.deposit = None;
        assert_eq!(
            found(&registry(vec![p.clone()])),
            vec![err("party[0].signature")]
        );
        p.signature = Some(date!(2026 - 12 - 31));
        assert_eq!(found(&registry(vec![p.clone()])), vec![]);
        p.signature = Some(date!(2027 - 01 - 01));
        assert_eq!(found(&registry(vec![p])), vec![err("party[0].signature")]);
    }

    #[test]
    fn denunciation_needs_an_earlier_deposit() {
        let mut p = party("FR");
        p.denunciation_notice = Some(date!(2026 - 02 - 01));
        assert_eq!(
            found(&registry(vec![p.clone()])),
            vec![err("party[0].denunciation_notice")]
        );
        p.denunciation_notice = Some(date!(2026 - 03 - 01));
        assert_eq!(found(&registry(vec![p.clone()])), vec![]);
        p.deposit = None;
        assert_eq!(
            found(&registry(vec![p])),
            vec![err("party[0].denunciation_notice")]
        );
    }

    #[test]
    fn dates_after_as_of_are_warnings() {
        let mut p = party("FR");
        p.deposit.as_mut().unwrap().date = date!(2027 - 02 - 01);
        p.denunciation_notice = Some(date!(2027 - 03 - 01));
        assert_eq!(
            found(&registry(vec![p])),
            vec![
                warn("party[0].deposit.date"),
                warn("party[0].denunciation_notice")
            ]
        );
    }

    #[test]
    fn reio_members() {
        let mut eu = party("EU");
        let r = registry(vec![eu.clone()]);
        assert_eq!(found(&r), vec![err("party[0].members")]);
        eu.members = vec![code("FR"), code("XX"), code("FR"), code("EU")];
        assert_eq!(
            found(&registry(vec![eu])),
            vec![
                err("party[0].members[1]"),
                err("party[0].members[2]"),
                err("party[0].members[3]")
            ]
        );
        let mut fr = party("FR");
        fr.members = vec![code("DE")];
        assert_eq!(found(&registry(vec![fr])), vec![err("party[0].members")]);
    }

    #[test]
    fn blank_designations() {
        let mut p = party("FR");
        p.designations = Designations {
            central_authority: Some(" ".into()),
            contact_24_7: Some("".into()),
            languages: vec!["French".into(), "".into()],
        };
        assert_eq!(
            found(&registry(vec![p])),
            vec![
                err("party[0].designations.central_authority"),
                err("party[0].designations.contact_24_7"),
                err("party[0].designations.languages[1]"),
            ]
        );
    }
}
