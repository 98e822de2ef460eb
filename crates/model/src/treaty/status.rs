//! Entry into force of the Convention and, party by party, whether and from
//! when it is in force (Arts 65 and 67).
//!
//! Everything here is computed from the whole record in a [`Registry`]; the
//! `at` date only decides the yes/no answers ("signed on that day?", "in
//! force on that day?") and the count of instruments deposited by then.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Duration};

use super::date_text;
use super::figures::{
    DAYS_AFTER_LAST_NEEDED_INSTRUMENT, DAYS_AFTER_OWN_DEPOSIT, DENUNCIATION_YEARS,
    INSTRUMENTS_FOR_ENTRY_INTO_FORCE,
};
use super::registry::{Deposit, PartyEntry, Registry};
use crate::state::{PartyKind, StateCode};

/// Whether a party's instrument counts toward the forty.
///
/// A REIO's instrument is never counted: Art. 65 says it does not count in
/// addition to those of its member States, and its members deposit their own.
/// Every other code counts, including one missing from the catalogue (which
/// [`Registry::check`] reports as an error).
pub fn counts_toward_entry_into_force(code: StateCode) -> bool {
    code.party_kind() != Some(PartyKind::Reio)
}

/// The day the Convention enters into force, given the day the last
/// instrument needed was deposited.
pub fn convention_entry_into_force(last_needed_deposit: Date) -> Date {
    last_needed_deposit.saturating_add(Duration::days(DAYS_AFTER_LAST_NEEDED_INSTRUMENT.value))
}

/// The day the Convention enters into force for a party, given its deposit
/// and the Convention's own day: the 30th day after the deposit or the
/// Convention's day, whichever is later. For a party that deposited before
/// the Convention's day by 30 days or more this is the Convention's day.
pub fn party_entry_into_force(deposit: Date, convention: Date) -> Date {
    deposit
        .saturating_add(Duration::days(DAYS_AFTER_OWN_DEPOSIT.value))
        .max(convention)
}

/// The day a denunciation takes effect: the same calendar day one year after
/// the notice was received. A notice received on 29 February takes effect on
/// 28 February of the next year (the last day of that month).
pub fn denunciation_effective(notice: Date) -> Date {
    let year = notice.year().saturating_add(DENUNCIATION_YEARS.value);
    let month = notice.month();
    let day = notice.day().min(month.length(year));
    // Past the last year the calendar type holds, the denunciation never
    // takes effect within it: saturate to its last day.
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MAX)
}

impl Registry {
    /// One entry per code.
    ///
    /// A code listed twice is an error that [`Registry::check`] reports; until
    /// it is fixed, the entry kept is the one with the earliest deposit
    /// (entries without one last), then the earliest signature, then the
    /// earliest denunciation notice, so that the result never depends on the
    /// order of the file.
    pub fn parties_by_code(&self) -> BTreeMap<StateCode, &PartyEntry> {
        fn key(e: &PartyEntry) -> impl Ord {
            let last_if_none = |d: Option<Date>| (d.is_none(), d);
            (
                last_if_none(e.deposit.map(|d| d.date)),
                e.deposit.map(|d| d.instrument),
                last_if_none(e.signature),
                last_if_none(e.denunciation_notice),
            )
        }
        let mut out: BTreeMap<StateCode, &PartyEntry> = BTreeMap::new();
        for entry in &self.parties {
            out.entry(entry.code)
                .and_modify(|kept| {
                    if key(entry) < key(kept) {
                        *kept = entry;
                    }
                })
                .or_insert(entry);
        }
        out
    }

    /// The entry for a code, chosen as in [`Registry::parties_by_code`].
    pub fn party(&self, code: StateCode) -> Option<&PartyEntry> {
        self.parties_by_code().remove(&code)
    }

    /// Deposit days of the instruments that count toward the forty, earliest first.
    fn counted_deposits(&self) -> Vec<Date> {
        let mut days: Vec<Date> = self
            .parties_by_code()
            .into_iter()
            .filter(|(code, _)| counts_toward_entry_into_force(*code))
            .filter_map(|(_, e)| e.deposit.map(|d| d.date))
            .collect();
        days.sort_unstable();
        days
    }

    /// The day the last instrument needed for entry into force (the fortieth
    /// counted) was deposited. Several deposits on one day are counted
    /// together, so the day is the same whichever of them is "the fortieth".
    pub fn last_needed_deposit(&self) -> Option<Date> {
        let index = INSTRUMENTS_FOR_ENTRY_INTO_FORCE.value.checked_sub(1)?;
        self.counted_deposits().get(index).copied()
    }

    /// The day the Convention enters (or entered) into force, if the record
    /// holds enough counted instruments.
    pub fn entry_into_force(&self) -> Option<Date> {
        self.last_needed_deposit().map(convention_entry_into_force)
    }

    /// How many instruments, counted or not (a REIO's), were deposited on
    /// or before `date`.
    pub fn instruments_deposited_by(&self, date: Date) -> usize {
        self.parties_by_code()
            .values()
            .filter(|e| e.deposit.is_some_and(|d| d.date <= date))
            .count()
    }

    /// How many counted instruments were deposited on or before `date`.
    pub fn counted_instruments_by(&self, date: Date) -> usize {
        self.counted_deposits()
            .iter()
            .filter(|d| **d <= date)
            .count()
    }

    /// The day the Convention enters into force for `code`, if it has
    /// deposited and the Convention's day is known. A denunciation does not
    /// change this day; see [`Registry::in_force_on`].
    pub fn in_force_from(&self, code: StateCode) -> Option<Date> {
        entry_in_force_from(self.party(code)?, self.entry_into_force())
    }

    /// Whether the Convention is in force for `code` on `date`: on or after
    /// its entry into force for that party and before its denunciation
    /// takes effect.
    pub fn in_force_on(&self, code: StateCode, date: Date) -> bool {
        self.party(code)
            .is_some_and(|entry| entry_in_force_on(entry, self.entry_into_force(), date))
    }

    /// The status of the Convention and of every party on `at`.
    pub fn status_at(&self, at: Date) -> TreatyStatus {
        let entry_into_force = self.entry_into_force();
        let counted = self.counted_instruments_by(at);
        let required = INSTRUMENTS_FOR_ENTRY_INTO_FORCE.value;
        let convention = ConventionStatus {
            required,
            deposited: self.instruments_deposited_by(at),
            counted,
            still_needed: required.saturating_sub(counted),
            last_needed_deposit: self.last_needed_deposit(),
            entry_into_force,
            in_force: entry_into_force.is_some_and(|d| d <= at),
        };
        let parties = self
            .parties_by_code()
            .into_iter()
            .map(|(code, e)| {
                let deposited = e.deposit.is_some_and(|d| d.date <= at);
                PartyStatus {
                    code,
                    name: code.name(),
                    kind: code.party_kind(),
                    signature: e.signature,
                    signed: e.signature.is_some_and(|d| d <= at),
                    deposit: e.deposit,
                    deposited,
                    counted: deposited && counts_toward_entry_into_force(code),
                    in_force_from: entry_in_force_from(e, entry_into_force),
                    in_force: entry_in_force_on(e, entry_into_force, at),
                    denunciation_notice: e.denunciation_notice,
                    denunciation_effective: e.denunciation_notice.map(denunciation_effective),
                }
            })
            .collect();
        TreatyStatus {
            at,
            as_of: self.as_of,
            sample: self.sample,
            convention,
            parties,
        }
    }
}

/// Entry into force for one entry, given the Convention's day.
pub(super) fn entry_in_force_from(entry: &PartyEntry, convention: Option<Date>) -> Option<Date> {
    Some(party_entry_into_force(entry.deposit?.date, convention?))
}

/// Whether the Convention is in force for one entry on `date`.
pub(super) fn entry_in_force_on(entry: &PartyEntry, convention: Option<Date>, date: Date) -> bool {
    let ended = entry.denunciation_notice.map(denunciation_effective);
    entry_in_force_from(entry, convention)
        .is_some_and(|from| from <= date && ended.is_none_or(|end| date < end))
}

/// The status of the Convention and its parties on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreatyStatus {
    /// The day the yes/no answers refer to.
    #[serde(with = "date_text")]
    pub at: Date,
    /// The day up to which the registry is complete.
    #[serde(with = "date_text")]
    pub as_of: Date,
    /// Copied from the registry: true for illustrative data.
    pub sample: bool,
    pub convention: ConventionStatus,
    /// One line per party, in code order.
    pub parties: Vec<PartyStatus>,
}

impl TreatyStatus {
    /// The line for one party.
    pub fn party(&self, code: StateCode) -> Option<&PartyStatus> {
        self.parties.iter().find(|p| p.code == code)
    }
}

/// Entry into force of the Convention itself (Art. 65).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConventionStatus {
    /// Instruments needed (forty).
    pub required: usize,
    /// Instruments deposited on or before the day asked, a REIO's included.
    pub deposited: usize,
    /// Counted instruments deposited on or before the day asked (a REIO's
    /// instrument is deposited but not counted).
    pub counted: usize,
    /// How many more were needed on the day asked (zero once enough).
    pub still_needed: usize,
    /// The day the last instrument needed was deposited, from the whole record.
    #[serde(with = "date_text::option")]
    pub last_needed_deposit: Option<Date>,
    /// The Convention's entry into force, from the whole record.
    #[serde(with = "date_text::option")]
    pub entry_into_force: Option<Date>,
    /// Whether it is in force on the day asked.
    pub in_force: bool,
}

/// One party's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartyStatus {
    pub code: StateCode,
    /// English short name, if the code is in the catalogue.
    pub name: Option<&'static str>,
    /// State or REIO, if the code is in the catalogue.
    pub kind: Option<PartyKind>,
    #[serde(with = "date_text::option")]
    pub signature: Option<Date>,
    /// Signed on or before the day asked.
    pub signed: bool,
    pub deposit: Option<Deposit>,
    /// Deposited on or before the day asked.
    pub deposited: bool,
    /// Whether, on the day asked, its instrument is deposited and counts
    /// toward the forty (a REIO's never does).
    pub counted: bool,
    /// Entry into force for this party, from the whole record.
    #[serde(with = "date_text::option")]
    pub in_force_from: Option<Date>,
    /// In force for this party on the day asked.
    pub in_force: bool,
    #[serde(with = "date_text::option")]
    pub denunciation_notice: Option<Date>,
    /// The day the Convention ceases to be in force for this party.
    #[serde(with = "date_text::option")]
    pub denunciation_effective: Option<Date>,
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::state::catalogue;
    use crate::treaty::InstrumentKind;

    /// The first `n` State codes of the catalogue.
    fn states(n: usize) -> Vec<StateCode> {
        catalogue()
            .filter(|e| e.kind == PartyKind::State)
            .map(|e| e.code)
            .take(n)
            .collect()
    }

    use crate::treaty::fixtures::{code, entry};

    fn registry(parties: Vec<PartyEntry>) -> Registry {
        Registry {
            sample: true,
            note: Some("test".into()),
            as_of: date!(2030 - 01 - 01),
            parties,
        }
    }

    /// `n` States depositing one a day from `first`.
    fn daily_deposits(n: usize, first: Date) -> Vec<PartyEntry> {
        states(n)
            .into_iter()
            .enumerate()
            .map(|(i, c)| entry(c, Some(first + Duration::days(i as i64))))
            .collect()
    }

    const FIRST: Date = date!(2026 - 01 - 05);

    #[test]
    fn thirty_nine_deposits_are_not_enough() {
        let r = registry(daily_deposits(39, FIRST));
        assert_eq!(r.entry_into_force(), None);
        let s = r.status_at(date!(2029 - 01 - 01));
        assert_eq!(s.convention.counted, 39);
        assert_eq!(s.convention.still_needed, 1);
        assert!(!s.convention.in_force);
        assert!(
            s.parties
                .iter()
                .all(|p| p.deposited && !p.in_force && p.in_force_from.is_none())
        );
    }

    #[test]
    fn the_fortieth_deposit_starts_the_ninety_days() {
        let r = registry(daily_deposits(40, FIRST));
        let fortieth = FIRST + Duration::days(39);
        assert_eq!(fortieth, date!(2026 - 02 - 13));
        assert_eq!(r.last_needed_deposit(), Some(fortieth));
        // 13 February + 90 days = 14 May.
        assert_eq!(r.entry_into_force(), Some(date!(2026 - 05 - 14)));
        let before = r.status_at(date!(2026 - 05 - 13));
        assert!(!before.convention.in_force);
        assert_eq!(before.convention.counted, 40);
        assert_eq!(before.convention.still_needed, 0);
        let on = r.status_at(date!(2026 - 05 - 14));
        assert!(on.convention.in_force);
        assert!(on.parties.iter().all(|p| p.in_force));
        // Counting at a day before the fortieth deposit sees fewer.
        assert_eq!(
            r.status_at(fortieth - Duration::days(1)).convention.counted,
            39
        );
    }

    #[test]
    fn a_party_depositing_after_entry_into_force_waits_thirty_days() {
        let mut parties = daily_deposits(40, FIRST);
        let late = code("ZW");
        parties.push(entry(late, Some(date!(2026 - 08 - 01))));
        let r = registry(parties);
        assert_eq!(r.entry_into_force(), Some(date!(2026 - 05 - 14)));
        assert_eq!(r.in_force_from(late), Some(date!(2026 - 08 - 31)));
        assert!(!r.in_force_on(late, date!(2026 - 08 - 30)));
        assert!(r.in_force_on(late, date!(2026 - 08 - 31)));
    }

    #[test]
    fn a_party_depositing_between_the_fortieth_and_entry_into_force() {
        let eif = date!(2026 - 05 - 14);
        let cases = [
            (70, eif),                     // 30 days end long before
            (30, eif),                     // 30 days end on the day itself
            (29, eif + Duration::days(1)), // 30 days end one day later
            (1, eif + Duration::days(29)),
        ];
        for (days_before, expected) in cases {
            let mut parties = daily_deposits(40, FIRST);
            let late = code("ZW");
            parties.push(entry(late, Some(eif - Duration::days(days_before))));
            let r = registry(parties);
            assert_eq!(r.entry_into_force(), Some(eif), "{days_before}");
            assert_eq!(
                r.in_force_from(late),
                Some(expected),
                "{days_before} days before"
            );
        }
    }

    #[test]
    fn a_reio_instrument_is_not_counted() {
        let eu = code("EU");
        let mut reio = entry(eu, Some(FIRST));
        reio.instrument_is(InstrumentKind::Approval);
        reio.members = states(3);
        let mut parties = daily_deposits(39, FIRST);
        parties.push(reio.clone());
        let r = registry(parties);
        assert_eq!(r.entry_into_force(), None);
        let s = r.status_at(date!(2029 - 01 - 01));
        assert_eq!(s.convention.counted, 39);
        assert_eq!(s.convention.deposited, 40);
        let eu_status = s.party(eu).unwrap();
        assert!(eu_status.deposited && !eu_status.counted);
        // Before its deposit the REIO is neither deposited nor counted.
        let s = r.status_at(FIRST - Duration::days(1));
        assert_eq!((s.convention.deposited, s.convention.counted), (0, 0));
        assert!(!s.party(eu).unwrap().deposited);

        // With forty States, the REIO's earlier deposit changes nothing, and
        // it enters into force for the REIO on the Convention's day.
        let mut parties = daily_deposits(40, FIRST + Duration::days(10));
        parties.push(reio);
        let r = registry(parties);
        let fortieth = FIRST + Duration::days(49);
        assert_eq!(r.entry_into_force(), Some(fortieth + Duration::days(90)));
        assert_eq!(r.in_force_from(eu), r.entry_into_force());
    }

    #[test]
    fn denunciation_takes_effect_one_year_after_notice() {
        let mut parties = daily_deposits(40, FIRST);
        let leaving = parties[3].code;
        parties[3].denunciation_notice = Some(date!(2027 - 03 - 10));
        let r = registry(parties);
        let s = r.status_at(date!(2027 - 06 - 01));
        let p = s.party(leaving).unwrap();
        assert!(p.in_force);
        assert_eq!(p.denunciation_effective, Some(date!(2028 - 03 - 10)));
        assert!(r.in_force_on(leaving, date!(2028 - 03 - 09)));
        assert!(!r.in_force_on(leaving, date!(2028 - 03 - 10)));
        assert!(!r.in_force_on(leaving, date!(2031 - 01 - 01)));
        // The Convention itself stays in force.
        assert!(r.status_at(date!(2028 - 03 - 10)).convention.in_force);
    }

    #[test]
    fn leap_day_notice() {
        assert_eq!(
            denunciation_effective(date!(2028 - 02 - 29)),
            date!(2029 - 02 - 28)
        );
        assert_eq!(
            denunciation_effective(date!(2027 - 02 - 28)),
            date!(2028 - 02 - 28)
        );
        assert_eq!(
            denunciation_effective(date!(2027 - 12 - 31)),
            date!(2028 - 12 - 31)
        );
        assert_eq!(denunciation_effective(date!(9999 - 06 - 01)), Date::MAX);
    }

    #[test]
    fn same_day_deposits_count_together() {
        let day_a = date!(2026 - 03 - 01);
        let day_b = date!(2026 - 04 - 15);
        let codes = states(41);
        let parties: Vec<PartyEntry> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| entry(*c, Some(if i < 38 { day_a } else { day_b })))
            .collect();
        let r = registry(parties);
        assert_eq!(r.last_needed_deposit(), Some(day_b));
        let eif = day_b + Duration::days(90);
        assert_eq!(r.entry_into_force(), Some(eif));
        for c in &codes {
            assert_eq!(r.in_force_from(*c), Some(eif));
        }
        assert_eq!(r.status_at(day_b).convention.counted, 41);
        assert_eq!(r.status_at(day_a).convention.counted, 38);
    }

    #[test]
    fn duplicates_keep_the_earliest_deposit_whatever_the_order() {
        let fr = code("FR");
        let early = entry(fr, Some(date!(2026 - 02 - 01)));
        let late = entry(fr, Some(date!(2026 - 07 - 01)));
        let none = entry(fr, None);
        let a = registry(vec![late.clone(), none.clone(), early.clone()]);
        let b = registry(vec![early, late, none]);
        assert_eq!(
            a.party(fr).unwrap().deposit.unwrap().date,
            date!(2026 - 02 - 01)
        );
        assert_eq!(
            a.status_at(date!(2027 - 01 - 01)),
            b.status_at(date!(2027 - 01 - 01))
        );
    }

    #[test]
    fn a_deposit_after_the_day_asked_is_neither_deposited_nor_counted_yet() {
        let parties = daily_deposits(40, FIRST);
        let last = parties[39].code;
        let r = registry(parties);
        let day_before = FIRST + Duration::days(38);
        let s = r.status_at(day_before);
        let p = s.party(last).unwrap();
        assert!(!p.deposited && !p.counted, "{p:?}");
        assert_eq!((s.convention.deposited, s.convention.counted), (39, 39));
        let p = r.status_at(day_before + Duration::days(1));
        let p = p.party(last).unwrap();
        assert!(p.deposited && p.counted);
    }

    #[test]
    fn a_signatory_without_deposit_is_not_in_force() {
        let mut parties = daily_deposits(40, FIRST);
        parties.push(entry(code("ZW"), None));
        let r = registry(parties);
        let s = r.status_at(date!(2028 - 01 - 01));
        let zw = s.party(code("ZW")).unwrap();
        assert!(zw.signed && !zw.deposited && !zw.in_force && !zw.counted);
        assert_eq!(zw.in_force_from, None);
    }

    #[test]
    fn status_serialises_dates_as_text() {
        let r = registry(daily_deposits(40, FIRST));
        let json = serde_json::to_value(r.status_at(date!(2026 - 06 - 01))).unwrap();
        assert_eq!(json["convention"]["entry_into_force"], "2026-05-14");
        assert_eq!(json["parties"][0]["deposit"]["instrument"], "ratification");
        assert_eq!(json["parties"][0]["kind"], "state");
        assert_eq!(json["at"], "2026-06-01");
    }

    impl PartyEntry {
        fn instrument_is(&mut self, kind: InstrumentKind) {
            if let Some(d) = self.deposit.as_mut() {
                d.instrument = kind;
            }
        }
    }
}
