//! Property tests of the treaty-status rules: entry into force, per-party
//! dates, the legal-basis check and its independence from file order and
//! from REIO deposits.

use proptest::prelude::*;
use proptest::sample::select;
use time::macros::date;
use time::{Date, Duration};

use custos_model::state::{PartyKind, StateCode, catalogue};
use custos_model::treaty::figures::{
    DAYS_AFTER_LAST_NEEDED_INSTRUMENT, DAYS_AFTER_OWN_DEPOSIT, INSTRUMENTS_FOR_ENTRY_INTO_FORCE,
};
use custos_model::treaty::{
    Deposit, InstrumentKind, LegalBasisCheck, PartyEntry, Registry, counts_toward_entry_into_force,
    denunciation_effective,
};

const ORIGIN: Date = date!(2025 - 11 - 01);

fn state_pool() -> Vec<StateCode> {
    catalogue()
        .filter(|e| e.kind == PartyKind::State)
        .map(|e| e.code)
        .take(60)
        .collect()
}

fn eu() -> StateCode {
    "EU".parse().expect("EU has the shape of a party code")
}

fn day(offset: i64) -> Date {
    ORIGIN + Duration::days(offset)
}

/// What is drawn for one State: a deposit day (offset from ORIGIN) if it
/// deposited, and a denunciation notice (days after the deposit) if it left.
type Draw = (Option<i64>, Option<i64>);

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.85, 0i64..700),
            prop::option::weighted(0.15, 0i64..900),
        ),
        30..60,
    )
}

fn build(draws: &[Draw], reio_deposit: Option<i64>) -> Registry {
    let mut parties: Vec<PartyEntry> = state_pool()
        .into_iter()
        .zip(draws)
        .map(|(code, (deposit, notice))| PartyEntry {
            code,
            signature: Some(ORIGIN - Duration::days(7)),
            deposit: deposit.map(|d| Deposit {
                date: day(d),
                instrument: InstrumentKind::Ratification,
            }),
            members: vec![],
            denunciation_notice: deposit.zip(*notice).map(|(d, n)| day(d + n)),
            designations: Default::default(),
        })
        .collect();
    if let Some(d) = reio_deposit {
        parties.push(PartyEntry {
            code: eu(),
            signature: Some(ORIGIN - Duration::days(7)),
            deposit: Some(Deposit {
                date: day(d),
                instrument: InstrumentKind::Approval,
            }),
            members: state_pool().into_iter().take(5).collect(),
            denunciation_notice: None,
            designations: Default::default(),
        });
    }
    Registry {
        sample: true,
        note: Some("generated".into()),
        as_of: day(2000),
        parties,
    }
}

fn registries() -> impl Strategy<Value = Registry> {
    (draws(), prop::option::of(0i64..700)).prop_map(|(d, r)| build(&d, r))
}

/// A code to ask about: one from the pool, the REIO, or one not in the file.
fn any_party() -> impl Strategy<Value = StateCode> {
    let mut codes = state_pool();
    codes.push(eu());
    codes.push("ZW".parse().expect("ZW has the shape of a party code"));
    select(codes)
}

fn any_day() -> impl Strategy<Value = Date> {
    (-30i64..2200).prop_map(day)
}

proptest! {
    #[test]
    fn entry_into_force_is_ninety_days_after_the_fortieth_counted_deposit(r in registries()) {
        let mut counted: Vec<Date> = r
            .parties
            .iter()
            .filter(|p| counts_toward_entry_into_force(p.code))
            .filter_map(|p| p.deposit.map(|d| d.date))
            .collect();
        counted.sort();
        let needed = INSTRUMENTS_FOR_ENTRY_INTO_FORCE.value;
        let wait = Duration::days(DAYS_AFTER_LAST_NEEDED_INSTRUMENT.value);
        match r.entry_into_force() {
            None => prop_assert!(counted.len() < needed),
            Some(eif) => {
                prop_assert!(counted.len() >= needed);
                // Never earlier than 90 days after the fortieth, and not later either.
                prop_assert!(counted.iter().filter(|d| **d + wait <= eif).count() >= needed);
                prop_assert!(counted.iter().filter(|d| **d + wait < eif).count() < needed);
            }
        }
    }

    #[test]
    fn a_party_is_never_in_force_before_its_deposit_plus_thirty_nor_before_the_convention(
        r in registries(),
    ) {
        let eif = r.entry_into_force();
        for p in &r.parties {
            let from = r.in_force_from(p.code);
            match (p.deposit, eif) {
                (Some(deposit), Some(eif)) => {
                    let from = from.unwrap();
                    let own = deposit.date + Duration::days(DAYS_AFTER_OWN_DEPOSIT.value);
                    prop_assert!(from >= own && from >= eif);
                    prop_assert!(from == own || from == eif);
                }
                _ => prop_assert_eq!(from, None),
            }
        }
    }

    #[test]
    fn the_legal_basis_check_is_symmetric(
        r in registries(), a in any_party(), b in any_party(), on in any_day(),
    ) {
        prop_assert_eq!(r.convention_applies(a, b, on), r.convention_applies(b, a, on));
    }

    #[test]
    fn the_legal_basis_check_agrees_with_the_status(
        r in registries(), a in any_party(), b in any_party(), on in any_day(),
    ) {
        let status = r.status_at(on);
        let in_force = |c: StateCode| status.party(c).is_some_and(|p| p.in_force);
        let check = r.convention_applies(a, b, on);
        prop_assert_eq!(check.applies(), a != b && in_force(a) && in_force(b));
        match check {
            LegalBasisCheck::Applies { since } => {
                prop_assert!(since <= on);
                prop_assert!(r.convention_applies(a, b, since).applies());
            }
            LegalBasisCheck::DoesNotApply { reasons } => prop_assert!(!reasons.is_empty()),
        }
    }

    #[test]
    fn once_applicable_it_stays_so_until_a_denunciation_takes_effect(
        r in registries(), a in any_party(), b in any_party(), d1 in any_day(), later in 0i64..1500,
    ) {
        let d2 = d1 + Duration::days(later);
        let ends = |c: StateCode| {
            r.party(c).and_then(|p| p.denunciation_notice).map(denunciation_effective)
        };
        let still_before_end = [a, b].iter().all(|c| ends(*c).is_none_or(|end| d2 < end));
        if let LegalBasisCheck::Applies { since } = r.convention_applies(a, b, d1)
            && still_before_end
        {
            prop_assert_eq!(r.convention_applies(a, b, d2), LegalBasisCheck::Applies { since });
        }
    }

    #[test]
    fn a_reio_deposit_never_moves_entry_into_force(
        d in draws(), reio in 0i64..700, on in any_day(),
    ) {
        let without = build(&d, None);
        let with = build(&d, Some(reio));
        prop_assert_eq!(without.entry_into_force(), with.entry_into_force());
        let (s1, s2) = (without.status_at(on), with.status_at(on));
        // The REIO's instrument adds to the instruments deposited by the
        // day asked, and to nothing else.
        let reio_deposited = usize::from(day(reio) <= on);
        prop_assert_eq!(s2.convention.deposited, s1.convention.deposited + reio_deposited);
        let mut c2 = s2.convention.clone();
        c2.deposited = s1.convention.deposited;
        prop_assert_eq!(&s1.convention, &c2);
        let eu_status = s2.party(eu()).expect("the REIO is listed");
        prop_assert_eq!(eu_status.deposited, reio_deposited == 1);
        prop_assert!(!eu_status.counted);
        for p in &s1.parties {
            prop_assert_eq!(Some(p), s2.party(p.code));
        }
    }

    #[test]
    fn the_order_of_parties_in_the_file_does_not_matter(
        (r, shuffled) in registries().prop_flat_map(|r| {
            let parties = r.parties.clone();
            (Just(r), Just(parties).prop_shuffle())
        }),
        a in any_party(), b in any_party(), on in any_day(),
    ) {
        let mut other = r.clone();
        other.parties = shuffled;
        prop_assert_eq!(r.status_at(on), other.status_at(on));
        prop_assert_eq!(r.convention_applies(a, b, on), other.convention_applies(a, b, on));
    }

    #[test]
    fn duplicated_entries_are_resolved_whatever_their_order(
        (r, shuffled) in registries().prop_flat_map(|r| {
            // List every entry twice, the copy's deposit a few days later.
            let mut parties = r.parties.clone();
            for p in &r.parties {
                let mut copy = p.clone();
                if let Some(d) = copy.deposit.as_mut() {
                    d.date += Duration::days(3);
                }
                parties.push(copy);
            }
            (Just(r), Just(parties).prop_shuffle())
        }),
        on in any_day(),
    ) {
        let mut doubled = r.clone();
        doubled.parties = shuffled;
        prop_assert_eq!(r.status_at(on), doubled.status_at(on));
    }

    #[test]
    fn json_round_trip(r in registries()) {
        let text = serde_json::to_string(&r).unwrap();
        let back: Registry = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn extreme_dates_never_panic(
        offsets in prop::collection::vec(any::<i32>(), 40..45),
        on in any::<i32>(),
    ) {
        // Dates anywhere in the calendar type's range, including its ends.
        let to_date = |n: i32| {
            let span = Date::MAX.to_julian_day() - Date::MIN.to_julian_day();
            Date::from_julian_day(Date::MIN.to_julian_day() + n.rem_euclid(span + 1)).unwrap()
        };
        let parties = state_pool()
            .into_iter()
            .zip(&offsets)
            .map(|(code, n)| PartyEntry {
                code,
                signature: None,
                deposit: Some(Deposit { date: to_date(*n), instrument: InstrumentKind::Accession }),
                members: vec![],
                denunciation_notice: Some(to_date(n.wrapping_mul(7))),
                designations: Default::default(),
            })
            .collect();
        let r = Registry { sample: true, note: Some("edge".into()), as_of: to_date(on), parties };
        let _ = r.check();
        let status = r.status_at(to_date(on));
        prop_assert!(status.convention.entry_into_force.is_some());
        let codes = state_pool();
        let _ = r.convention_applies(codes[0], codes[1], to_date(on));
        let _ = serde_json::to_string(&status).unwrap();
    }
}
