//! Whether the Convention can serve as the legal basis for cooperation
//! between two parties on a given day, and if not, every reason why.
//!
//! The answer is symmetric (the pair is put in code order first) and
//! deterministic: the same registry, pair and day give the same reasons in
//! the same order.

use std::fmt;

use serde::Serialize;
use time::{Date, Duration};

use super::date_text::{self, format as day};
use super::figures::{DAYS_AFTER_OWN_DEPOSIT, INSTRUMENTS_FOR_ENTRY_INTO_FORCE};
use super::registry::Registry;
use super::status::{denunciation_effective, entry_in_force_from};
use crate::article;
use crate::state::StateCode;

/// The answer of [`Registry::convention_applies`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum LegalBasisCheck {
    /// In force for both; `since` is the later of the two entry-into-force days.
    Applies {
        #[serde(with = "date_text")]
        since: Date,
    },
    /// At least one reason stands in the way.
    DoesNotApply { reasons: Vec<NotApplicable> },
}

impl LegalBasisCheck {
    /// True for [`LegalBasisCheck::Applies`].
    pub fn applies(&self) -> bool {
        matches!(self, LegalBasisCheck::Applies { .. })
    }
}

/// One reason the Convention is not a legal basis between two parties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum NotApplicable {
    /// The two codes are the same party.
    SameParty { party: StateCode },
    /// Fewer than forty counted instruments, or the ninety days are still running.
    ConventionNotInForce {
        /// Counted instruments deposited by the day asked.
        counted: usize,
        required: usize,
        /// Known when enough instruments are in the record.
        #[serde(with = "date_text::option")]
        enters_into_force: Option<Date>,
    },
    /// No instrument in the record.
    NoInstrument { party: StateCode, signed: bool },
    /// Its instrument was deposited after the day asked.
    DepositedLater {
        party: StateCode,
        #[serde(with = "date_text")]
        deposited: Date,
    },
    /// Deposited, but its own thirty days are still running.
    NotYetInForceFor {
        party: StateCode,
        #[serde(with = "date_text")]
        deposited: Date,
        #[serde(with = "date_text")]
        from: Date,
    },
    /// Its denunciation has taken effect.
    Denounced {
        party: StateCode,
        #[serde(with = "date_text")]
        effective: Date,
    },
}

impl fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotApplicable::SameParty { party } => {
                write!(
                    f,
                    "both sides are {party}; the Convention governs cooperation between two parties"
                )
            }
            NotApplicable::ConventionNotInForce {
                counted,
                required,
                enters_into_force: None,
            } => {
                write!(
                    f,
                    "the Convention is not in force yet: {counted} of {required} instruments \
                     deposited ({})",
                    article::ENTRY_INTO_FORCE
                )
            }
            NotApplicable::ConventionNotInForce {
                enters_into_force: Some(eif),
                ..
            } => {
                write!(
                    f,
                    "the Convention is not in force yet: it enters into force on {} ({})",
                    day(*eif),
                    article::ENTRY_INTO_FORCE
                )
            }
            NotApplicable::NoInstrument {
                party,
                signed: true,
            } => write!(
                f,
                "{party} has signed but has not deposited an instrument of ratification, \
                 acceptance or approval"
            ),
            NotApplicable::NoInstrument {
                party,
                signed: false,
            } => write!(
                f,
                "{party} has not deposited an instrument of ratification, acceptance, approval \
                 or accession"
            ),
            NotApplicable::DepositedLater { party, deposited } => {
                write!(
                    f,
                    "{party} deposited its instrument only on {}",
                    day(*deposited)
                )
            }
            NotApplicable::NotYetInForceFor {
                party,
                deposited,
                from,
            } => write!(
                f,
                "the Convention enters into force for {party} only on {}, the {}th day after its \
                 deposit on {} ({})",
                day(*from),
                DAYS_AFTER_OWN_DEPOSIT.value,
                day(*deposited),
                DAYS_AFTER_OWN_DEPOSIT.article
            ),
            NotApplicable::Denounced { party, effective } => write!(
                f,
                "{party}'s denunciation took effect on {} ({})",
                day(*effective),
                article::DENUNCIATION
            ),
        }
    }
}

/// How one party stands on the day asked.
enum Standing {
    InForce {
        from: Date,
    },
    /// Held back only by the Convention's own entry into force.
    AwaitingConvention,
    Blocked(NotApplicable),
}

impl Registry {
    /// Whether the Convention is a legal basis between `a` and `b` on `date`:
    /// it must be in force for both on that day. Symmetric in `a` and `b`.
    pub fn convention_applies(&self, a: StateCode, b: StateCode, date: Date) -> LegalBasisCheck {
        if a == b {
            return LegalBasisCheck::DoesNotApply {
                reasons: vec![NotApplicable::SameParty { party: a }],
            };
        }
        let eif = self.entry_into_force();
        let (first, second) = if a < b { (a, b) } else { (b, a) };
        let mut reasons = Vec::new();
        let mut froms = Vec::new();
        let mut convention_holds_back = eif.is_none_or(|e| e > date);
        for party in [first, second] {
            match self.standing(party, eif, date) {
                Standing::InForce { from } => froms.push(from),
                Standing::AwaitingConvention => convention_holds_back = true,
                Standing::Blocked(reason) => reasons.push(reason),
            }
        }
        if convention_holds_back {
            reasons.insert(
                0,
                NotApplicable::ConventionNotInForce {
                    counted: self.counted_instruments_by(date),
                    required: INSTRUMENTS_FOR_ENTRY_INTO_FORCE.value,
                    enters_into_force: eif,
                },
            );
        }
        match (reasons.is_empty(), froms.iter().max()) {
            (true, Some(since)) => LegalBasisCheck::Applies { since: *since },
            _ => LegalBasisCheck::DoesNotApply { reasons },
        }
    }

    fn standing(&self, party: StateCode, eif: Option<Date>, date: Date) -> Standing {
        let Some(entry) = self.party(party) else {
            return Standing::Blocked(NotApplicable::NoInstrument {
                party,
                signed: false,
            });
        };
        let signed = entry.signature.is_some_and(|s| s <= date);
        let Some(deposit) = entry.deposit else {
            return Standing::Blocked(NotApplicable::NoInstrument { party, signed });
        };
        if let Some(effective) = entry.denunciation_notice.map(denunciation_effective)
            && effective <= date
        {
            return Standing::Blocked(NotApplicable::Denounced { party, effective });
        }
        if deposit.date > date {
            return Standing::Blocked(NotApplicable::DepositedLater {
                party,
                deposited: deposit.date,
            });
        }
        let Some(from) = entry_in_force_from(entry, eif) else {
            return Standing::AwaitingConvention;
        };
        if from <= date {
            return Standing::InForce { from };
        }
        let own_period_ends = deposit
            .date
            .saturating_add(Duration::days(DAYS_AFTER_OWN_DEPOSIT.value));
        if eif.is_some_and(|e| own_period_ends > e) {
            Standing::Blocked(NotApplicable::NotYetInForceFor {
                party,
                deposited: deposit.date,
                from,
            })
        } else {
            Standing::AwaitingConvention
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::state::{PartyKind, catalogue};
    use crate::treaty::PartyEntry;

    use crate::treaty::fixtures::{code, entry};

    /// Forty States other than FR, DE, GB and ZW, depositing one a day from
    /// 1 November 2025: the fortieth deposits on 10 December 2025, so the
    /// Convention enters into force on 10 March 2026.
    fn forty() -> Vec<PartyEntry> {
        let skip = ["FR", "DE", "GB", "ZW"].map(code);
        catalogue()
            .filter(|e| e.kind == PartyKind::State && !skip.contains(&e.code))
            .take(40)
            .enumerate()
            .map(|(i, e)| {
                entry(
                    e.code,
                    Some(date!(2025 - 11 - 01) + Duration::days(i as i64)),
                )
            })
            .collect()
    }

    const EIF: Date = date!(2026 - 03 - 10);

    fn registry(mut extra: Vec<PartyEntry>, with_forty: bool) -> Registry {
        let mut parties = if with_forty { forty() } else { vec![] };
        parties.append(&mut extra);
        Registry {
            sample: false,
            note: None,
            as_of: date!(2030 - 01 - 01),
            parties,
        }
    }

    fn reasons(check: LegalBasisCheck) -> Vec<String> {
        match check {
            LegalBasisCheck::Applies { since } => panic!("applies since {since}"),
            LegalBasisCheck::DoesNotApply { reasons } => {
                reasons.iter().map(|r| r.to_string()).collect()
            }
        }
    }

    #[test]
    fn applies_from_the_later_entry_into_force() {
        let r = registry(
            vec![
                entry(code("FR"), Some(date!(2026 - 02 - 01))),
                entry(code("DE"), Some(date!(2026 - 07 - 01))),
            ],
            true,
        );
        assert_eq!(r.entry_into_force(), Some(EIF));
        let on = date!(2026 - 08 - 01);
        let expected = LegalBasisCheck::Applies {
            since: date!(2026 - 07 - 31),
        };
        assert_eq!(r.convention_applies(code("FR"), code("DE"), on), expected);
        assert_eq!(r.convention_applies(code("DE"), code("FR"), on), expected);
        assert_eq!(
            reasons(r.convention_applies(code("FR"), code("DE"), date!(2026 - 07 - 30))),
            vec![
                "the Convention enters into force for DE only on 2026-07-31, the 30th day after \
                  its deposit on 2026-07-01 (Art. 65)"
            ]
        );
    }

    #[test]
    fn too_few_instruments() {
        let mut parties = forty();
        parties.truncate(37);
        parties.push(entry(code("FR"), Some(date!(2026 - 01 - 01))));
        parties.push(entry(code("DE"), None));
        let r = registry(parties, false);
        assert_eq!(
            reasons(r.convention_applies(code("FR"), code("DE"), date!(2027 - 01 - 01))),
            vec![
                "the Convention is not in force yet: 38 of 40 instruments deposited (Art. 65)",
                "DE has signed but has not deposited an instrument of ratification, acceptance \
                 or approval",
            ]
        );
    }

    #[test]
    fn waiting_for_the_ninety_days() {
        let r = registry(
            vec![
                entry(code("FR"), Some(date!(2026 - 01 - 01))),
                entry(code("DE"), Some(date!(2026 - 01 - 02))),
            ],
            true,
        );
        assert_eq!(
            reasons(r.convention_applies(code("FR"), code("DE"), EIF - Duration::days(1))),
            vec![
                "the Convention is not in force yet: it enters into force on 2026-03-10 (Art. 65)"
            ]
        );
        assert_eq!(
            r.convention_applies(code("FR"), code("DE"), EIF),
            LegalBasisCheck::Applies { since: EIF }
        );
    }

    #[test]
    fn denunciation_and_later_deposit_and_absence() {
        let mut de = entry(code("DE"), Some(date!(2026 - 02 - 01)));
        de.denunciation_notice = Some(date!(2027 - 04 - 01));
        let gb = entry(code("GB"), Some(date!(2028 - 01 - 01)));
        let fr = entry(code("FR"), Some(date!(2026 - 02 - 01)));
        let r = registry(vec![de, gb, fr], true);
        let day = date!(2028 - 04 - 01);
        assert_eq!(
            reasons(r.convention_applies(code("FR"), code("DE"), day)),
            vec!["DE's denunciation took effect on 2028-04-01 (Art. 67)"]
        );
        assert!(
            r.convention_applies(code("FR"), code("DE"), date!(2028 - 03 - 31))
                .applies()
        );
        assert_eq!(
            reasons(r.convention_applies(code("GB"), code("FR"), date!(2027 - 12 - 01))),
            vec!["GB deposited its instrument only on 2028-01-01"]
        );
        assert_eq!(
            reasons(r.convention_applies(code("ZW"), code("DE"), day)),
            vec![
                "DE's denunciation took effect on 2028-04-01 (Art. 67)",
                "ZW has not deposited an instrument of ratification, acceptance, approval or \
                 accession",
            ]
        );
    }

    #[test]
    fn same_party() {
        let r = registry(vec![entry(code("FR"), Some(date!(2026 - 01 - 01)))], true);
        assert!(
            !r.convention_applies(code("FR"), code("FR"), date!(2027 - 01 - 01))
                .applies()
        );
    }

    #[test]
    fn serialises_with_tags() {
        let r = registry(vec![], false);
        let json = serde_json::to_value(r.convention_applies(
            code("FR"),
            code("DE"),
            date!(2027 - 01 - 01),
        ))
        .unwrap();
        assert_eq!(json["outcome"], "does-not-apply");
        assert_eq!(json["reasons"][0]["reason"], "convention-not-in-force");
        assert_eq!(json["reasons"][1]["reason"], "no-instrument");
        assert_eq!(json["reasons"][1]["party"], "DE");
    }
}
