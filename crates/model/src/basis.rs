//! The legal basis a draft cites, and whether the Convention is one on the
//! day the request is sent.
//!
//! A draft names its basis in `legal_basis.basis`: the Convention, the
//! Budapest Convention, a bilateral treaty or another multilateral
//! instrument (named in `legal_basis.treaty`), or reciprocity. Only the
//! Convention is in the treaty registry, so only a draft citing it is
//! checked there: the Convention must be in force for both States on the
//! sending date (entry into force, denunciation; [`Registry::convention_applies`]).
//! When it is not, the draft is refused with every reason, and may cite
//! another basis instead, which is then recorded as what it is.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use time::Date;

use crate::state::StateCode;
use crate::treaty::{LegalBasisCheck, NotApplicable, Registry, date_text};
use crate::validate::{Code, Issue, Severity};

/// The kinds of legal basis a draft may cite (`legal_basis.basis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The UN Convention against Cybercrime.
    UnConvention,
    /// The Council of Europe Convention on Cybercrime (ETS 185).
    Budapest,
    /// A treaty between the two States.
    Bilateral,
    /// Another multilateral instrument.
    Multilateral,
    /// Reciprocity, without a treaty.
    Reciprocity,
}

impl Basis {
    /// Every basis, in the order of [`crate::contents::LEGAL_BASES`].
    pub const ALL: [Basis; 5] = [
        Basis::UnConvention,
        Basis::Budapest,
        Basis::Bilateral,
        Basis::Multilateral,
        Basis::Reciprocity,
    ];

    /// The word a draft uses, such as `un-convention`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::UnConvention => "un-convention",
            Basis::Budapest => "budapest",
            Basis::Bilateral => "bilateral",
            Basis::Multilateral => "multilateral",
            Basis::Reciprocity => "reciprocity",
        }
    }

    /// The basis a word names, if any.
    pub fn from_word(word: &str) -> Option<Basis> {
        Basis::ALL.into_iter().find(|b| b.as_str() == word)
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A draft's legal basis as the node records it when the request is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BasisRecord {
    pub basis: Basis,
    /// The treaty or instrument the draft names, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// For the Convention: what the treaty registry said on the sending
    /// date; absent when no registry was configured (nothing was checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_check: Option<RegistryCheck>,
}

/// The Convention found in force between the two States.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryCheck {
    /// The sending date checked.
    #[serde(with = "date_text")]
    pub on: Date,
    /// The day up to which the registry was complete.
    #[serde(with = "date_text")]
    pub registry_as_of: Date,
    /// The Convention is in force between them since this day.
    #[serde(with = "date_text")]
    pub in_force_since: Date,
}

/// A draft cites the Convention, and the registry says it is not in force
/// between the two States on the sending date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConventionDoesNotApply {
    /// The requesting and the requested State.
    pub between: [StateCode; 2],
    /// The sending date checked.
    #[serde(with = "date_text")]
    pub on: Date,
    /// Every reason, in the registry check's order.
    pub reasons: Vec<NotApplicable>,
}

impl fmt::Display for ConventionDoesNotApply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.between;
        write!(
            f,
            "the Convention is not a legal basis between {a} and {b} on {}: ",
            date_text::format(self.on)
        )?;
        for (n, reason) in self.reasons.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        f.write_str(
            ". Cite another basis instead in legal_basis (bilateral or multilateral with the \
             treaty named, or reciprocity)",
        )
    }
}

impl ConventionDoesNotApply {
    /// The problem as a validation issue, on `legal_basis.basis`.
    pub fn issue(&self) -> Issue {
        Issue {
            severity: Severity::Error,
            code: Code::ConventionNotApplicable,
            path: "legal_basis.basis".into(),
            // Each reason names its own article (65 or 67).
            article: None,
            message: self.to_string(),
        }
    }
}

/// The basis a draft cites and the treaty or instrument it names; `None`
/// when it names no basis this format knows (validation reports that).
pub fn cited(draft: &Value) -> Option<(Basis, Option<String>)> {
    let basis = draft.get("legal_basis")?;
    let word = basis.get("basis")?.as_str()?;
    let instrument = basis
        .get("treaty")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    Some((Basis::from_word(word)?, instrument))
}

/// Checks the legal basis of a draft to be sent on `on`.
///
/// A draft citing the Convention is checked against `registry`, when one
/// is given, for its requesting and requested States; any other basis is
/// taken as cited. Returns what to record (`None` for a draft that names no
/// known basis or lacks a State, which validation reports), or why the
/// Convention does not apply.
pub fn check(
    draft: &Value,
    registry: Option<&Registry>,
    on: Date,
) -> Result<Option<BasisRecord>, ConventionDoesNotApply> {
    let Some((basis, instrument)) = cited(draft) else {
        return Ok(None);
    };
    let mut record = BasisRecord {
        basis,
        instrument,
        registry_check: None,
    };
    let (Basis::UnConvention, Some(registry)) = (basis, registry) else {
        return Ok(Some(record));
    };
    let state = |key: &str| {
        draft
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<StateCode>().ok())
    };
    let (Some(from), Some(to)) = (state("requesting_state"), state("requested_state")) else {
        return Ok(None);
    };
    match registry.convention_applies(from, to, on) {
        LegalBasisCheck::Applies { since } => {
            record.registry_check = Some(RegistryCheck {
                on,
                registry_as_of: registry.as_of,
                in_force_since: since,
            });
            Ok(Some(record))
        }
        LegalBasisCheck::DoesNotApply { reasons } => Err(ConventionDoesNotApply {
            between: [from, to],
            on,
            reasons,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::Duration;
    use time::macros::date;

    use super::*;
    use crate::state::{PartyKind, catalogue};
    use crate::treaty::{Deposit, InstrumentKind, PartyEntry};
    use crate::{RequestKind, template, validate};

    fn party(code: StateCode, deposit: Date) -> PartyEntry {
        PartyEntry {
            code,
            signature: Some(date!(2025 - 10 - 25)),
            deposit: Some(Deposit {
                date: deposit,
                instrument: InstrumentKind::Ratification,
            }),
            members: vec![],
            denunciation_notice: None,
            designations: Default::default(),
        }
    }

    fn code(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    /// Forty other States deposit from 1 November 2025 (in force from
    /// 10 March 2026); France deposits early, Germany gives notice of
    /// denunciation on 1 December 2026 (effective 1 December 2027).
    fn registry() -> Registry {
        let skip = ["FR", "DE"].map(code);
        let mut parties: Vec<PartyEntry> = catalogue()
            .filter(|e| e.kind == PartyKind::State && !skip.contains(&e.code))
            .take(40)
            .enumerate()
            .map(|(i, e)| party(e.code, date!(2025 - 11 - 01) + Duration::days(i as i64)))
            .collect();
        parties.push(party(code("FR"), date!(2026 - 01 - 05)));
        let mut de = party(code("DE"), date!(2026 - 01 - 06));
        de.denunciation_notice = Some(date!(2026 - 12 - 01));
        parties.push(de);
        Registry {
            sample: false,
            note: None,
            as_of: date!(2026 - 12 - 31),
            parties,
        }
    }

    fn mla() -> Value {
        validate::parse(&template::render(RequestKind::Mla)).unwrap()
    }

    #[test]
    fn the_convention_in_force_for_both_is_recorded_with_its_check() {
        let r = registry();
        let on = date!(2026 - 11 - 01);
        let record = check(&mla(), Some(&r), on).unwrap().unwrap();
        assert_eq!(record.basis, Basis::UnConvention);
        assert_eq!(
            record.registry_check,
            Some(RegistryCheck {
                on,
                registry_as_of: date!(2026 - 12 - 31),
                in_force_since: date!(2026 - 03 - 10),
            })
        );
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({"basis": "un-convention", "registry_check": {
                "on": "2026-11-01", "registry_as_of": "2026-12-31", "in_force_since": "2026-03-10"
            }})
        );
    }

    #[test]
    fn before_entry_into_force_and_after_denunciation_the_draft_is_refused() {
        let r = registry();
        let refused = check(&mla(), Some(&r), date!(2026 - 03 - 09)).unwrap_err();
        assert_eq!(refused.between, [code("FR"), code("DE")]);
        assert_eq!(refused.reasons.len(), 1);
        let text = refused.to_string();
        assert!(
            text.starts_with(
                "the Convention is not a legal basis between FR and DE on 2026-03-09: the \
                 Convention is not in force yet: it enters into force on 2026-03-10 (Art. 65)"
            ),
            "{text}"
        );
        assert!(text.ends_with("or reciprocity)"), "{text}");

        let refused = check(&mla(), Some(&r), date!(2027 - 12 - 01)).unwrap_err();
        assert_eq!(
            refused.reasons,
            vec![NotApplicable::Denounced {
                party: code("DE"),
                effective: date!(2027 - 12 - 01)
            }]
        );
        let issue = refused.issue();
        assert_eq!(issue.code, Code::ConventionNotApplicable);
        assert_eq!(issue.severity, Severity::Error);
        assert_eq!(issue.path, "legal_basis.basis");
        assert!(
            issue
                .message
                .contains("DE's denunciation took effect on 2027-12-01 (Art. 67)")
        );
        // The day before, it still applies.
        assert!(check(&mla(), Some(&r), date!(2027 - 11 - 30)).is_ok());
    }

    #[test]
    fn another_basis_is_taken_as_cited_and_recorded_as_such() {
        let r = registry();
        let on = date!(2027 - 12 - 01);
        let mut d = mla();
        d["legal_basis"] =
            json!({"basis": "bilateral", "treaty": "Treaty of 2001 on mutual assistance"});
        let record = check(&d, Some(&r), on).unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({"basis": "bilateral", "instrument": "Treaty of 2001 on mutual assistance"})
        );
        d["legal_basis"] = json!({"basis": "reciprocity"});
        let record = check(&d, Some(&r), on).unwrap().unwrap();
        assert_eq!(record.basis, Basis::Reciprocity);
        assert_eq!(record.registry_check, None);
    }

    #[test]
    fn without_a_registry_nothing_is_checked() {
        let record = check(&mla(), None, date!(2020 - 01 - 01)).unwrap().unwrap();
        assert_eq!(record.basis, Basis::UnConvention);
        assert_eq!(record.registry_check, None);
        // A draft without a known basis or its States is left to validation.
        assert_eq!(check(&json!({}), None, date!(2020 - 01 - 01)), Ok(None));
        let mut d = mla();
        d.as_object_mut().unwrap().remove("requested_state");
        assert_eq!(
            check(&d, Some(&registry()), date!(2020 - 01 - 01)),
            Ok(None)
        );
    }

    #[test]
    fn every_basis_word_is_a_legal_basis_of_the_format() {
        let words: Vec<&str> = Basis::ALL.iter().map(|b| b.as_str()).collect();
        assert_eq!(words, crate::contents::LEGAL_BASES);
    }
}
