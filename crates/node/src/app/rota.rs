//! The on-call rota: who holds which role when, in their own time zone,
//! with a deputy. Shifts may overlap (everyone on duty is alerted). Times
//! are given as a local date and time with an IANA zone
//! (`2026-12-07T08:00 Europe/Paris`), stored in UTC with the zone's name,
//! and shown again in that zone. Every change is written to the custody
//! ledger in the same transaction, naming the person who made it; the
//! entries carry no e-mail address.

use custos_store::ShiftRecord;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{Actor, Operation, Role};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// A shift to add, as a person writes it. The person and the deputy are
/// users of the node; an e-mail address left out is taken from the user's
/// profile.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShiftInput {
    pub role: Role,
    pub person: String,
    #[serde(default)]
    pub email: Option<String>,
    pub deputy: String,
    #[serde(default)]
    pub deputy_email: Option<String>,
    /// `2026-12-07T08:00 Europe/Paris` (or `2026-12-07T08:00[Europe/Paris]`).
    pub starts: String,
    /// `2026-12-07T20:00 Europe/Paris`, or a time alone in the start's zone.
    pub ends: String,
}

/// A shift as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShiftView {
    pub id: String,
    pub role: String,
    pub person: String,
    pub email: String,
    pub deputy: String,
    pub deputy_email: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub zone: String,
    /// The start in the shift's zone: `2026-12-07T08:00+01:00 Europe/Paris`.
    pub starts_local: String,
    pub ends_local: String,
    pub created_by: String,
    /// Whether the shift runs now.
    pub on_duty: bool,
    pub removed: bool,
}

fn invalid(what: String) -> NodeError {
    NodeError::InvalidDraft(what)
}

/// Parses `2026-12-07T08:00 Europe/Paris` (or a time without zone, taken in
/// `default_zone`) into the UTC instant and the zone's name.
pub fn parse_local(
    field: &str,
    text: &str,
    default_zone: Option<&str>,
) -> Result<(OffsetDateTime, String), NodeError> {
    // `2026-12-07T08:00[Europe/Paris]` (RFC 9557) is the same as with a space.
    let spaced;
    let text = match text
        .trim()
        .strip_suffix(']')
        .and_then(|t| t.split_once('['))
    {
        Some((when, zone)) => {
            spaced = format!("{when} {zone}");
            spaced.as_str()
        }
        None => text,
    };
    let mut parts = text.split_whitespace();
    let (Some(when), zone) = (parts.next(), parts.next().or(default_zone)) else {
        return Err(invalid(format!(
            "{field}: give a local time and a zone, such as \"2026-12-07T08:00 Europe/Paris\""
        )));
    };
    if parts.next().is_some() {
        return Err(invalid(format!(
            "{field}: {text:?} has more than a time and a zone"
        )));
    }
    let Some(zone) = zone else {
        return Err(invalid(format!(
            "{field}: {text:?} names no time zone; add one, such as \"Europe/Paris\" or \"UTC\""
        )));
    };
    let dt: DateTime = when.parse().map_err(|e| {
        invalid(format!(
            "{field}: {when:?} is not a local date and time such as 2026-12-07T08:00 ({e})"
        ))
    })?;
    let tz = TimeZone::get(zone).map_err(|_| {
        invalid(format!(
            "{field}: {zone:?} is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"
        ))
    })?;
    let zoned = dt
        .to_zoned_datetime(tz)
        .map_err(|e| invalid(format!("{field}: {text:?} cannot be placed in {zone}: {e}")))?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(zoned.timestamp().as_nanosecond())
        .map_err(|e| invalid(format!("{field}: {text:?} is out of range: {e}")))?;
    Ok((at, zone.to_owned()))
}

/// `at` shown in `zone`: `2026-12-07T08:00+01:00 Europe/Paris`.
pub fn show_local(at: OffsetDateTime, zone: &str) -> String {
    let shown = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .ok()
        .and_then(|ts| TimeZone::get(zone).ok().map(|tz| ts.to_zoned_datetime(tz)));
    match shown {
        Some(z) => format!("{} {zone}", z.strftime("%Y-%m-%dT%H:%M%:z")),
        None => format!("{at} (UTC)"),
    }
}

fn check_name(field: &str, value: &str) -> Result<(), NodeError> {
    if value.trim().is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field}: give a name of 1 to 200 printable characters"
        )));
    }
    Ok(())
}

fn check_email(field: &str, value: &str) -> Result<(), NodeError> {
    value
        .parse::<lettre::Address>()
        .map_err(|e| invalid(format!("{field}: {value:?} is not an e-mail address ({e})")))?;
    Ok(())
}

pub(crate) fn view(s: &ShiftRecord, now: OffsetDateTime) -> ShiftView {
    ShiftView {
        id: s.id.clone(),
        role: s.role.clone(),
        person: s.person.clone(),
        email: s.email.clone(),
        deputy: s.deputy.clone(),
        deputy_email: s.deputy_email.clone(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        zone: s.zone.clone(),
        starts_local: show_local(s.starts_at, &s.zone),
        ends_local: show_local(s.ends_at, &s.zone),
        created_by: s.created_by.clone(),
        on_duty: s.removed_at.is_none() && s.starts_at <= now && now < s.ends_at,
        removed: s.removed_at.is_some(),
    }
}

/// The shifts of `role` running at `at`.
pub(crate) fn on_duty_at<'a>(
    shifts: &'a [ShiftRecord],
    role: &str,
    at: OffsetDateTime,
) -> impl Iterator<Item = &'a ShiftRecord> {
    shifts.iter().filter(move |s| {
        s.removed_at.is_none() && s.role == role && s.starts_at <= at && at < s.ends_at
    })
}

impl Node {
    /// The address alerts for `name` (a shift's `field`) go to: `given`,
    /// or else the one in the user's profile. `name` must be an enabled
    /// user of the node.
    async fn rota_email(
        &self,
        field: &str,
        name: &str,
        given: Option<&str>,
        flag: &str,
    ) -> Result<String, NodeError> {
        let user = if super::users::check_user_name(name).is_ok() {
            self.store.user(name).await?
        } else {
            None
        };
        let Some(user) = user else {
            return Err(NodeError::InvalidUser(format!(
                "{field}: {name:?} is not a user of this node; add them first \
                 (`custos user add {name} --email ADDRESS`)"
            )));
        };
        if !user.enabled {
            return Err(NodeError::InvalidUser(format!(
                "{field}: the user {name:?} is disabled (`custos user enable {name}`)"
            )));
        }
        let email = match (given.map(str::trim).filter(|e| !e.is_empty()), user.email) {
            (Some(given), _) => given.to_owned(),
            (None, Some(profile)) => profile,
            (None, None) => {
                return Err(NodeError::InvalidUser(format!(
                    "{field}: the user {name:?} has no e-mail address in their profile; \
                     give one with {flag}"
                )));
            }
        };
        check_email(field, &email)?;
        Ok(email)
    }

    /// Adds a shift to the rota.
    pub async fn add_shift(
        &self,
        actor: &Actor,
        input: &ShiftInput,
    ) -> Result<ShiftView, NodeError> {
        self.authorize(actor, Operation::ManageRota, None).await?;
        check_name("person", &input.person)?;
        check_name("deputy", &input.deputy)?;
        let person = input.person.trim();
        let deputy = input.deputy.trim();
        let email = self
            .rota_email("person", person, input.email.as_deref(), "--email")
            .await?;
        let deputy_email = self
            .rota_email(
                "deputy",
                deputy,
                input.deputy_email.as_deref(),
                "--deputy-email",
            )
            .await?;
        let (starts_at, zone) = parse_local("starts", &input.starts, None)?;
        let (ends_at, _) = parse_local("ends", &input.ends, Some(&zone))?;
        if ends_at <= starts_at {
            return Err(invalid(
                "ends: the shift must end after it starts".to_owned(),
            ));
        }
        let now = self.clock.now();
        let id = format!("shift-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let shift = ShiftRecord {
            id: id.clone(),
            role: input.role.name().to_owned(),
            person: person.to_owned(),
            email,
            deputy: deputy.to_owned(),
            deputy_email,
            starts_at,
            ends_at,
            zone,
            created_by: actor.label(),
            created_at: now,
            removed_at: None,
        };
        let entry = Entry::new(EntryKind::ShiftAdded, now, actor.label())
            .subject(id)
            .detail(json!({
                "role": shift.role,
                "person": shift.person,
                "deputy": shift.deputy,
                "starts": custos_protocol::timestamp::format(starts_at),
                "ends": custos_protocol::timestamp::format(ends_at),
                "zone": shift.zone,
            }))
            .encode()?;
        self.store.put_shift(&shift, &[entry]).await?;
        Ok(view(&shift, now))
    }

    /// Removes a shift from the rota (its row stays, marked removed).
    pub async fn remove_shift(&self, actor: &Actor, id: &str) -> Result<(), NodeError> {
        self.authorize(actor, Operation::ManageRota, None).await?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::ShiftRemoved, now, actor.label())
            .subject(id.to_owned())
            .encode()?;
        if self.store.remove_shift(id, now, &[entry]).await? {
            Ok(())
        } else {
            Err(NodeError::NotFound(format!(
                "no shift {id:?} on the rota (see `custos rota list`)"
            )))
        }
    }

    /// The rota, by start; past and removed shifts when `all`.
    pub async fn rota(&self, actor: &Actor, all: bool) -> Result<Vec<ShiftView>, NodeError> {
        self.authorize(actor, Operation::ReadRota, None).await?;
        let now = self.clock.now();
        Ok(self
            .store
            .shifts(all)
            .await?
            .iter()
            .filter(|s| all || s.ends_at > now)
            .map(|s| view(s, now))
            .collect())
    }

    /// Who is on duty for `role` at `at` (now when `None`).
    pub async fn on_duty(
        &self,
        actor: &Actor,
        role: Role,
        at: Option<OffsetDateTime>,
    ) -> Result<Vec<ShiftView>, NodeError> {
        self.authorize(actor, Operation::ReadRota, None).await?;
        let now = self.clock.now();
        let at = at.unwrap_or(now);
        let shifts = self.store.shifts(false).await?;
        Ok(on_duty_at(&shifts, role.name(), at)
            .map(|s| view(s, now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_placed_in_their_zone_and_shown_there_again() {
        let (at, zone) =
            parse_local("starts", "2026-12-07T08:00 Europe/Paris", None).expect("parses");
        assert_eq!(zone, "Europe/Paris");
        assert_eq!(at, time::macros::datetime!(2026-12-07 07:00 UTC));
        assert_eq!(show_local(at, &zone), "2026-12-07T08:00+01:00 Europe/Paris");
        let (summer, _) =
            parse_local("ends", "2026-07-01T08:00", Some("Europe/Paris")).expect("parses");
        assert_eq!(summer, time::macros::datetime!(2026-07-01 06:00 UTC));
        let (bracketed, _) =
            parse_local("starts", "2026-12-07T08:00[Europe/Paris]", None).expect("parses");
        assert_eq!(bracketed, at);
        for bad in [
            "2026-12-07T08:00",
            "2026-12-07T08:00 Mars/Olympus",
            "tomorrow UTC",
            "2026-12-07T08:00 UTC x",
        ] {
            assert!(
                parse_local("starts", bad, None).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
