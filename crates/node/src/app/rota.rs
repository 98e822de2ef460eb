//! The on-call rota: who holds which role when, in their own time zone,
//! with a deputy. Shifts may overlap (everyone on duty is alerted). Times
//! are given as a local date and time with an IANA zone
//! (`2026-12-07T08:00 Europe/Paris`), stored in UTC with the zone's name,
//! and shown again in that zone. Every change is written to the custody
//! ledger in the same transaction, naming the person who made it; the
//! entries carry no e-mail address.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use custos_store::ShiftRecord;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{Actor, Operation, Role};
use crate::custody::{Entry, EntryKind};
use crate::{Node, NodeError};

/// The file in the data folder naming the rota's generation: every change
/// of the rota, in any process serving from or working on the folder,
/// writes a new one once its transaction has committed (see
/// [`RotaCache`]).
pub const ROTA_MARK: &str = "rota-version";

/// How long the rota held in memory is used at most without reading the
/// store again, whatever the mark says: a change made by a process working
/// on another data folder over the same database (which cannot write this
/// folder's mark) is in force after that long.
const ROTA_HELD_FOR: Duration = Duration::from_secs(1);

/// The shifts not removed, as last read from the store, for the alerts
/// (every urgent arrival raises one and reads who is on duty): read again
/// when the rota changes through this node, when [`ROTA_MARK`] names
/// another generation than the one they were read under (a change by
/// another process, such as `custos rota add` while serving), when the
/// mark is missing, and after [`ROTA_HELD_FOR`].
#[derive(Debug, Default)]
pub(crate) struct RotaCache {
    held: RwLock<Option<HeldRota>>,
}

#[derive(Debug)]
struct HeldRota {
    mark: String,
    read_at: Instant,
    shifts: Arc<Vec<ShiftRecord>>,
}

impl RotaCache {
    fn get(&self, mark: &str) -> Option<Arc<Vec<ShiftRecord>>> {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|h| h.mark == mark && h.read_at.elapsed() < ROTA_HELD_FOR)
            .map(|h| Arc::clone(&h.shifts))
    }

    fn put(&self, mark: String, read_at: Instant, shifts: Arc<Vec<ShiftRecord>>) {
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = Some(HeldRota {
            mark,
            read_at,
            shifts,
        });
    }

    fn forget(&self) {
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

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
    /// The shifts not removed (what `store.shifts(false)` returns), from
    /// memory while the rota has not changed (see [`RotaCache`]).
    pub(crate) async fn current_rota(&self) -> Result<Arc<Vec<ShiftRecord>>, NodeError> {
        // The mark is read before the store: a change committed after it
        // was read writes another mark, and the shifts are read again next
        // time.
        let mark = self.rota_mark();
        if let Some(shifts) = mark.as_deref().and_then(|m| self.rota.get(m)) {
            return Ok(shifts);
        }
        let read_at = Instant::now();
        let shifts = Arc::new(self.store.shifts(false).await?);
        if let Some(mark) = mark {
            self.rota.put(mark, read_at, Arc::clone(&shifts));
        }
        Ok(shifts)
    }

    /// The generation [`ROTA_MARK`] names; a new one is written if there
    /// is none. `None` when the file can be neither read nor written: the
    /// rota is then read from the store every time.
    fn rota_mark(&self) -> Option<String> {
        let path = self.settings.data_dir.join(ROTA_MARK);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Some(text.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        // Never over a mark another process wrote meanwhile.
        use std::io::Write as _;
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&path) {
            Ok(mut f) => f
                .write_all(format!("{fresh}\n").as_bytes())
                .ok()
                .map(|()| fresh),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).ok()?;
                Some(text.trim().to_owned()).filter(|t| !t.is_empty())
            }
            Err(_) => None,
        }
    }

    /// After a change of the rota has committed: the rota held in memory
    /// is dropped, and [`ROTA_MARK`] gets a new generation, so that other
    /// processes read the rota again too. If the mark cannot be written it
    /// is removed (every process then reads the store each time).
    fn rota_changed(&self) {
        self.rota.forget();
        let path = self.settings.data_dir.join(ROTA_MARK);
        let fresh = format!("{}\n", uuid::Uuid::new_v4().simple());
        if let Err(e) = crate::custody_health::write_private(&path, fresh.as_bytes()) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the rota's generation mark");
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(path = %path.display(), error = %e, "could not remove the rota's generation mark: other processes may alert by the rota before this change for up to a second");
            }
        }
    }

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
        let stored = self.store.put_shift(&shift, &[entry]).await;
        self.rota_changed();
        stored?;
        Ok(view(&shift, now))
    }

    /// Removes a shift from the rota (its row stays, marked removed).
    pub async fn remove_shift(&self, actor: &Actor, id: &str) -> Result<(), NodeError> {
        self.authorize(actor, Operation::ManageRota, None).await?;
        let now = self.clock.now();
        let entry = Entry::new(EntryKind::ShiftRemoved, now, actor.label())
            .subject(id.to_owned())
            .encode()?;
        let removed = self.store.remove_shift(id, now, &[entry]).await;
        self.rota_changed();
        if removed? {
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
        let shifts = self.current_rota().await?;
        Ok(on_duty_at(&shifts, role.name(), at)
            .map(|s| view(s, now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use custos_model::StateCode;
    use custos_model::clock::FixedClock;
    use time::macros::datetime;

    use crate::app::{StoreCreated, create_store};
    use crate::{Keystore, NodeSettings};

    const AT: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

    /// A node of Germany over the folder `dir` (created the first time),
    /// as one more process working on it would open it.
    async fn open_node(dir: &std::path::Path) -> Arc<Node> {
        let url = format!("sqlite://{}", dir.join("custos.db").display());
        let state: StateCode = "DE".parse().expect("a State");
        if !dir.join("keys").exists() {
            Keystore::create(&dir.join("keys"), AT).expect("keys");
            assert_eq!(
                create_store(&url, state, "Test node", AT)
                    .await
                    .expect("a store"),
                StoreCreated::Created
            );
        }
        let settings = NodeSettings {
            state,
            name: "Test node".into(),
            data_dir: dir.to_owned(),
            registry_key: None,
            max_message_bytes: crate::DEFAULT_MAX_MESSAGE_BYTES,
            message_reserve_bytes: crate::DEFAULT_MESSAGE_RESERVE_BYTES,
            retry: Default::default(),
            evidence: Default::default(),
            treaty_registry: None,
            clocks: Default::default(),
            people: Default::default(),
            statistics: Default::default(),
            retention: Default::default(),
        };
        Node::open(
            settings,
            &url,
            Arc::new(FixedClock::new(AT)),
            reqwest::Client::new(),
        )
        .await
        .expect("the node opens")
    }

    fn shift(id: &str, person: &str) -> ShiftRecord {
        ShiftRecord {
            id: id.to_owned(),
            role: Role::DutyOfficer.name().to_owned(),
            person: person.to_owned(),
            email: format!("{person}@de.example"),
            deputy: "bo".to_owned(),
            deputy_email: "bo@de.example".to_owned(),
            starts_at: AT - time::Duration::hours(1),
            ends_at: AT + time::Duration::hours(8),
            zone: "UTC".to_owned(),
            created_by: "cli:test".to_owned(),
            created_at: AT,
            removed_at: None,
        }
    }

    fn people(shifts: &[ShiftRecord]) -> Vec<&str> {
        on_duty_at(shifts, Role::DutyOfficer.name(), AT)
            .map(|s| s.person.as_str())
            .collect()
    }

    #[tokio::test]
    async fn the_rota_held_in_memory_follows_changes_of_every_process() {
        let dir = tempfile::tempdir().expect("a folder");
        let serving = open_node(dir.path()).await;
        let other = open_node(dir.path()).await;
        assert!(people(&serving.current_rota().await.expect("the rota")).is_empty());
        assert!(dir.path().join(ROTA_MARK).exists());

        // Another process changes the rota: its mark makes the serving
        // node read the rota again.
        other
            .store
            .put_shift(&shift("shift-1", "ana"), &[])
            .await
            .expect("stored");
        other.rota_changed();
        assert_eq!(
            people(&serving.current_rota().await.expect("the rota")),
            ["ana"]
        );

        // Held in memory while the mark stays the same (a row written
        // behind the node's back is not read, for up to ROTA_HELD_FOR)...
        let written = Instant::now();
        serving
            .store
            .put_shift(&shift("shift-2", "cy"), &[])
            .await
            .expect("stored");
        let held = serving.current_rota().await.expect("the rota");
        if written.elapsed() < ROTA_HELD_FOR {
            assert_eq!(people(&held), ["ana"]);
        }
        // ...and read again without a mark, which is then written anew.
        std::fs::remove_file(dir.path().join(ROTA_MARK)).expect("removed");
        assert_eq!(
            people(&serving.current_rota().await.expect("the rota")),
            ["ana", "cy"]
        );
        assert!(dir.path().join(ROTA_MARK).exists());

        // A change through the node itself is in force at once.
        let removed = serving
            .store
            .remove_shift("shift-1", AT, &[])
            .await
            .expect("removed");
        assert!(removed);
        serving.rota_changed();
        assert_eq!(
            people(&serving.current_rota().await.expect("the rota")),
            ["cy"]
        );
    }

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
