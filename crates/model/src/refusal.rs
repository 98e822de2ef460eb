//! Grounds for refusing or postponing assistance, and the checks on a refusal.
//!
//! A refusal names its grounds from a closed list, gives reasons in words, and
//! follows a consultation with the requesting State (on whether assistance is
//! possible under conditions). Some grounds are not valid on their own: fiscal
//! matters and bank secrecy.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::article::{self, ArticleRef};
use crate::validate::{Code, Issue, Severity};

/// A ground the requested State may cite (CONVENTION.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ground {
    /// The request does not conform to the article on mutual legal assistance.
    #[serde(rename = "R1")]
    NonConforming,
    /// Likely prejudice to sovereignty, security, ordre public or other essential interests.
    #[serde(rename = "R2")]
    EssentialInterests,
    /// Domestic law would forbid the same action for a similar domestic offence.
    #[serde(rename = "R3")]
    DomesticLawForbids,
    /// Contrary to the requested State's legal system on mutual legal assistance.
    #[serde(rename = "R4")]
    ContraryToLegalSystem,
    /// Aim to prosecute or punish a person for sex, race, language, religion,
    /// nationality, ethnic origin or political opinions.
    #[serde(rename = "R5")]
    Persecution,
    /// No dual criminality (discretionary).
    #[serde(rename = "R6")]
    NoDualCriminality,
    /// Personal data cannot lawfully be transferred.
    #[serde(rename = "R7")]
    PersonalData,
    /// Fiscal matters: never a valid ground on its own.
    #[serde(rename = "fiscal")]
    FiscalMatters,
    /// Bank secrecy: never a valid ground on its own.
    #[serde(rename = "bank-secrecy")]
    BankSecrecy,
}

impl Ground {
    pub const ALL: [Ground; 9] = [
        Ground::NonConforming,
        Ground::EssentialInterests,
        Ground::DomesticLawForbids,
        Ground::ContraryToLegalSystem,
        Ground::Persecution,
        Ground::NoDualCriminality,
        Ground::PersonalData,
        Ground::FiscalMatters,
        Ground::BankSecrecy,
    ];

    /// Whether this ground may justify a refusal by itself.
    pub fn valid_alone(self) -> bool {
        !matches!(self, Ground::FiscalMatters | Ground::BankSecrecy)
    }

    /// The article that provides (or excludes) this ground.
    pub fn article(self) -> ArticleRef {
        match self {
            Ground::PersonalData => article::PERSONAL_DATA,
            _ => article::MLA,
        }
    }

    /// The short code: `R1` … `R7`, `fiscal`, `bank-secrecy`.
    pub fn code(self) -> &'static str {
        match self {
            Ground::NonConforming => "R1",
            Ground::EssentialInterests => "R2",
            Ground::DomesticLawForbids => "R3",
            Ground::ContraryToLegalSystem => "R4",
            Ground::Persecution => "R5",
            Ground::NoDualCriminality => "R6",
            Ground::PersonalData => "R7",
            Ground::FiscalMatters => "fiscal",
            Ground::BankSecrecy => "bank-secrecy",
        }
    }

    /// The ground in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            Ground::NonConforming => {
                "the request does not conform to the requirements for requests"
            }
            Ground::EssentialInterests => {
                "execution is likely to prejudice sovereignty, security, ordre public or other essential interests"
            }
            Ground::DomesticLawForbids => {
                "domestic law would forbid the action for a similar domestic offence"
            }
            Ground::ContraryToLegalSystem => {
                "granting it would be contrary to the legal system on mutual legal assistance"
            }
            Ground::Persecution => {
                "substantial grounds to believe the aim is to prosecute or punish a person for sex, race, language, religion, nationality, ethnic origin or political opinions"
            }
            Ground::NoDualCriminality => {
                "the conduct is not an offence under the requested State's law (discretionary)"
            }
            Ground::PersonalData => "personal data cannot lawfully be transferred",
            Ground::FiscalMatters => {
                "the offence involves fiscal matters (not a valid ground on its own)"
            }
            Ground::BankSecrecy => "bank secrecy (not a valid ground on its own)",
        }
    }
}

impl fmt::Display for Ground {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A decision to refuse assistance, as the requested State records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub grounds: Vec<Ground>,
    /// The reasons, in words: a refusal without reasons is not a decision.
    pub reasons: String,
    /// Whether the requested State consulted the requesting State first on
    /// whether assistance could be given under conditions.
    pub consulted: bool,
}

impl Refusal {
    /// Every problem with this refusal; empty when it may be sent.
    pub fn check(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let mut err = |code, path: &str, message: String| {
            issues.push(Issue {
                severity: Severity::Error,
                code,
                path: path.to_owned(),
                article: Some(article::MLA),
                message,
            });
        };
        if self.grounds.is_empty() {
            err(
                Code::MissingRequired,
                "grounds",
                "A refusal must name at least one ground.".into(),
            );
        } else if !self.grounds.iter().any(|g| g.valid_alone()) {
            let cited: Vec<_> = self.grounds.iter().map(|g| g.code()).collect();
            err(
                Code::ExcludedGroundsOnly,
                "grounds",
                format!(
                    "Assistance may not be refused solely on {}; cite a valid ground.",
                    cited.join(" and ")
                ),
            );
        }
        if self.reasons.trim().is_empty() {
            err(
                Code::MissingRequired,
                "reasons",
                "Reasons must be given for any refusal.".into(),
            );
        }
        if !self.consulted {
            err(
                Code::MissingRequired,
                "consulted",
                "Consult the requesting State before refusing, to see whether assistance can be given under conditions.".into(),
            );
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(grounds: Vec<Ground>) -> Refusal {
        Refusal {
            grounds,
            reasons: "The data was deleted before the request arrived.".into(),
            consulted: true,
        }
    }

    #[test]
    fn a_reasoned_consulted_refusal_on_a_valid_ground_passes() {
        assert!(refusal(vec![Ground::EssentialInterests]).check().is_empty());
        assert!(
            refusal(vec![Ground::BankSecrecy, Ground::NoDualCriminality])
                .check()
                .is_empty()
        );
    }

    #[test]
    fn fiscal_matters_or_bank_secrecy_alone_fail() {
        for grounds in [
            vec![Ground::FiscalMatters],
            vec![Ground::BankSecrecy],
            vec![Ground::FiscalMatters, Ground::BankSecrecy],
        ] {
            let issues = refusal(grounds).check();
            assert_eq!(issues.len(), 1);
            assert_eq!(issues[0].code, Code::ExcludedGroundsOnly);
            assert!(
                issues[0].message.contains("solely"),
                "{}",
                issues[0].message
            );
        }
    }

    #[test]
    fn no_ground_no_reasons_no_consultation_each_reported() {
        let r = Refusal {
            grounds: vec![],
            reasons: " ".into(),
            consulted: false,
        };
        let paths: Vec<_> = r.check().into_iter().map(|i| i.path).collect();
        assert_eq!(paths, ["grounds", "reasons", "consulted"]);
    }

    #[test]
    fn grounds_read_and_write_their_codes() {
        let json = serde_json::to_string(&Ground::ALL).unwrap();
        assert_eq!(
            json,
            r#"["R1","R2","R3","R4","R5","R6","R7","fiscal","bank-secrecy"]"#
        );
        let back: Vec<Ground> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Ground::ALL);
    }
}
