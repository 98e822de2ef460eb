//! The kinds of request that pass between States' nodes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every kind of request or communication the Convention names (CONVENTION.md §8).
///
/// The wire name (`as_str`) is stable: it appears in drafts, in the store and
/// on the wire. Articles and required contents live in the catalogue
/// (the contents catalogue), not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// 24/7 network: technical advice (Art. 41).
    TechnicalAdvice,
    /// 24/7 network: provision of legal information (Art. 41).
    LegalInformation,
    /// 24/7 network: locating a suspect (Art. 41).
    LocateSuspect,
    /// 24/7 network: electronic data to avert an emergency (Arts 2 and 41).
    EmergencyData,
    /// Expedited preservation of stored electronic data (Art. 42).
    Preservation,
    /// Expedited disclosure of preserved traffic data (Art. 43).
    TrafficDisclosure,
    /// Mutual legal assistance in accessing stored electronic data (Art. 44).
    StoredData,
    /// Mutual legal assistance in the real-time collection of traffic data (Art. 45).
    RealTimeTraffic,
    /// Mutual legal assistance in the interception of content data (Art. 46).
    Interception,
    /// General mutual legal assistance (Art. 40).
    Mla,
    /// Spontaneous information, sent without a prior request (Art. 40).
    SpontaneousInformation,
    /// Law-enforcement cooperation (Art. 47).
    LawEnforcementCooperation,
    /// Joint investigation (Art. 48).
    JointInvestigation,
}

impl RequestKind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [RequestKind; 13] = [
        RequestKind::TechnicalAdvice,
        RequestKind::LegalInformation,
        RequestKind::LocateSuspect,
        RequestKind::EmergencyData,
        RequestKind::Preservation,
        RequestKind::TrafficDisclosure,
        RequestKind::StoredData,
        RequestKind::RealTimeTraffic,
        RequestKind::Interception,
        RequestKind::Mla,
        RequestKind::SpontaneousInformation,
        RequestKind::LawEnforcementCooperation,
        RequestKind::JointInvestigation,
    ];

    /// The stable wire name, such as `preservation`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::TechnicalAdvice => "technical-advice",
            RequestKind::LegalInformation => "legal-information",
            RequestKind::LocateSuspect => "locate-suspect",
            RequestKind::EmergencyData => "emergency-data",
            RequestKind::Preservation => "preservation",
            RequestKind::TrafficDisclosure => "traffic-disclosure",
            RequestKind::StoredData => "stored-data",
            RequestKind::RealTimeTraffic => "real-time-traffic",
            RequestKind::Interception => "interception",
            RequestKind::Mla => "mla",
            RequestKind::SpontaneousInformation => "spontaneous-information",
            RequestKind::LawEnforcementCooperation => "law-enforcement-cooperation",
            RequestKind::JointInvestigation => "joint-investigation",
        }
    }
}

/// A text that names no request kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request kind {0:?}; `custos request template` lists the kinds")]
pub struct UnknownKind(pub String);

impl FromStr for RequestKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_text_and_serde() {
        for k in RequestKind::ALL {
            assert_eq!(k.as_str().parse::<RequestKind>(), Ok(k));
            let json = serde_json::to_string(&k).expect("a kind serialises");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!("preserve".parse::<RequestKind>().is_err());
    }
}
