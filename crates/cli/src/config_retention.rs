//! The `[retention]` section of `custos.toml`: how long a case's content is
//! kept after the case ended, by default and per request kind, before the
//! scheduler deletes it (issue 18).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use custos_model::RequestKind;
use custos_node::app::RetentionSettings;
use serde::{Deserialize, Serialize};

use crate::config::duration_text;

/// The longest period a setting may give: a century.
const MAX_DAYS: u32 = 36_500;

/// `[retention]`. Absent fields take the node's defaults
/// ([`RetentionSettings::default`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Days a case's content is kept after the case ended (default 1826).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_days: Option<u32>,
    /// Periods of their own, by request kind (wire name: `preservation = 730`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, u32>,
    /// How often the scheduler looks for content due (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<String>,
    /// Cases deleted per batch, each in its own transaction (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
}

fn days(field: &str, d: u32) -> anyhow::Result<u32> {
    if d == 0 || d > MAX_DAYS {
        bail!("{field}: {d} is not a number of days from 1 to {MAX_DAYS}");
    }
    Ok(d)
}

impl RetentionSection {
    pub fn is_default(&self) -> bool {
        *self == RetentionSection::default()
    }

    /// The settings as the node applies them; each value checked.
    pub fn settings(&self) -> anyhow::Result<RetentionSettings> {
        let mut s = RetentionSettings::default();
        if let Some(d) = self.default_days {
            s.default_days = days("retention.default_days", d)?;
        }
        for (name, d) in &self.kinds {
            let field = format!("retention.kinds.{name}");
            let kind: RequestKind = name
                .parse()
                .with_context(|| format!("{field}: not a request kind"))?;
            let d = days(&field, *d)?;
            s.by_kind.retain(|(k, _)| *k != kind);
            s.by_kind.push((kind, d));
        }
        if let Some(t) = &self.tick {
            let t = duration_text("retention.tick", t)?;
            s.tick = std::time::Duration::from_secs(t.whole_seconds().unsigned_abs());
        }
        if let Some(b) = self.batch {
            if b == 0 || b > 10_000 {
                bail!("retention.batch: {b} is not a batch size from 1 to 10000");
            }
            s.batch = b;
        }
        Ok(s)
    }
}

/// The section's part of the documented example.
pub const EXAMPLE: &str = r#"
[retention]
# How long a case's content (request, messages, drafts, evidence files) is kept after the
# case ended: from its last step once it is closed, withdrawn, refused or executed. An open
# case is never deleted. Then the scheduler of `custos serve` (or `custos case purge --due`)
# deletes it; ids, kinds, states, times, the history and the custody ledger's hashes stay.
# A person may set a case's own period or date (`custos case retention`) or place a legal
# hold (`custos case hold`), each with a reason.
# Days after the case ended (default 1826, five years).
default_days = 1826
# How often the scheduler looks for content due (default 1m), and cases per batch (default 100).
tick = "1m"
batch = 100

[retention.kinds]
# Periods of their own, by request kind. The defaults: two years for the 24/7 desk's short
# requests, whose follow-up is a mutual-assistance request that keeps its own file.
technical-advice = 730
legal-information = 730
locate-suspect = 730
emergency-data = 730
preservation = 730
traffic-disclosure = 730
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_gives_the_defaults() {
        let c = crate::config::Config::parse(&crate::config::example()).unwrap();
        assert!(!c.retention.is_default());
        let (got, want) = (
            c.retention.settings().unwrap(),
            RetentionSettings::default(),
        );
        for kind in RequestKind::ALL {
            assert_eq!(got.days_for(kind), want.days_for(kind), "{kind:?}");
        }
        assert_eq!((got.tick, got.batch), (want.tick, want.batch));
        let defaults = RetentionSection::default().settings().unwrap();
        assert_eq!(defaults, RetentionSettings::default());
    }

    #[test]
    fn kinds_and_days_are_checked() {
        let mut s = RetentionSection::default();
        s.kinds.insert("mla".into(), 3650);
        let got = s.settings().unwrap();
        assert_eq!(got.days_for(RequestKind::Mla), 3650);
        assert_eq!(got.days_for(RequestKind::Preservation), 730);
        s.kinds.insert("parking-fines".into(), 10);
        let e = format!("{:#}", s.settings().unwrap_err());
        assert!(e.starts_with("retention.kinds.parking-fines"), "{e}");
        let s = RetentionSection {
            default_days: Some(0),
            ..Default::default()
        };
        let e = s.settings().unwrap_err().to_string();
        assert!(e.starts_with("retention.default_days"), "{e}");
        let s = RetentionSection {
            tick: Some("soon".into()),
            ..Default::default()
        };
        assert!(s.settings().is_err());
    }
}
