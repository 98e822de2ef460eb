//! References to articles of the treaties, kept as data.
//!
//! Logic never hard-codes an article number: it names a constant from this
//! catalogue, so that a correction to CONVENTION.md is a one-line change here.

use std::fmt;

use serde::Serialize;

/// A treaty whose articles Custos cites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instrument {
    /// UN Convention against Cybercrime (GA resolution 79/243, 2024).
    UnCybercrime,
    /// Council of Europe Convention on Cybercrime (Budapest, ETS 185).
    Budapest,
}

/// One article (and optionally paragraph) of a treaty, such as `Art. 42(1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ArticleRef {
    pub instrument: Instrument,
    /// The article and paragraph as written in citations: `42`, `40(15)(a)`.
    pub article: &'static str,
}

impl ArticleRef {
    /// An article of the UN Convention against Cybercrime.
    pub const fn un(article: &'static str) -> Self {
        ArticleRef {
            instrument: Instrument::UnCybercrime,
            article,
        }
    }
}

impl fmt::Display for ArticleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.instrument {
            Instrument::UnCybercrime => write!(f, "Art. {}", self.article),
            Instrument::Budapest => write!(f, "Budapest Art. {}", self.article),
        }
    }
}

/// Definitions (serious crime, emergency, traffic data, ...).
pub const DEFINITIONS: ArticleRef = ArticleRef::un("2");
/// Mutual legal assistance: general rules, required contents, refusal grounds.
pub const MLA: ArticleRef = ArticleRef::un("40");
/// Personal data protection and onward transfer.
pub const PERSONAL_DATA: ArticleRef = ArticleRef::un("36");
/// The 24/7 network.
pub const NETWORK_24_7: ArticleRef = ArticleRef::un("41");
/// Expedited preservation of stored electronic data.
pub const PRESERVATION: ArticleRef = ArticleRef::un("42");
/// Expedited disclosure of preserved traffic data.
pub const TRAFFIC_DISCLOSURE: ArticleRef = ArticleRef::un("43");
/// Mutual legal assistance in accessing stored electronic data.
pub const STORED_DATA: ArticleRef = ArticleRef::un("44");
/// Mutual legal assistance in the real-time collection of traffic data.
pub const REAL_TIME_TRAFFIC: ArticleRef = ArticleRef::un("45");
/// Mutual legal assistance in the interception of content data.
pub const INTERCEPTION: ArticleRef = ArticleRef::un("46");
/// Law-enforcement cooperation.
pub const LAW_ENFORCEMENT: ArticleRef = ArticleRef::un("47");
/// Joint investigations.
pub const JOINT_INVESTIGATION: ArticleRef = ArticleRef::un("48");
/// Signature, ratification, acceptance, approval, accession.
pub const SIGNATURE: ArticleRef = ArticleRef::un("64");
/// Entry into force.
pub const ENTRY_INTO_FORCE: ArticleRef = ArticleRef::un("65");
/// Denunciation.
pub const DENUNCIATION: ArticleRef = ArticleRef::un("67");
