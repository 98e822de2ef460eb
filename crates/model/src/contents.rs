//! The draft format's fields and each request kind's required contents, as data.
//!
//! Two catalogues live here. [`FIELDS`] says what every field of a draft is
//! (its shape and a sentence for people); [`requirements`] says, for each
//! request kind, which fields the Convention requires, recommends or makes
//! conditional, and which article says so. The validator, the templates and the
//! published JSON Schema are all derived from these tables, so a correction to
//! the reading of the treaty is made here and nowhere else.

use crate::article::{self, ArticleRef};
use crate::kind::RequestKind;

/// The version tag every draft carries in its `format` field.
pub const DRAFT_FORMAT: &str = "custos-draft/1";

/// What a field must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The literal draft format tag.
    Format,
    /// A request kind's wire name.
    Kind,
    /// Non-empty text.
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An ISO 3166-1 alpha-2 code of a known State or organisation.
    State,
    /// `true` or `false`.
    Bool,
    /// A whole number at least this large.
    Integer { min: i64 },
    /// A number (whole or not) at least zero.
    Number,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// An object whose fields are listed under `path.`.
    Object,
    /// A list whose items are objects with fields listed under `path[].`.
    ListOfObjects,
    /// A list of non-empty texts.
    ListOfText,
    /// A list of State codes.
    ListOfStates,
    /// A decision's wire name (the case action it is drafted for).
    Decision,
    /// A list of refusal grounds, by their codes (`R1` … `R7`, `fiscal`,
    /// `bank-secrecy`), none twice.
    ListOfGrounds,
    /// A list of evidence package ids (`sha256:` and 64 lower-case hex
    /// digits), none twice; an empty list says that no package was sent.
    ListOfPackageIds,
    /// A request's id: `thr-` and a UUID in lower-case hyphenated form.
    ThreadId,
}

/// One field of the draft format.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Dotted path; `[]` marks the items of a list: `offences[].category`.
    pub path: &'static str,
    pub shape: Shape,
    /// What the field holds, in a sentence (used in templates and the schema).
    pub about: &'static str,
}

/// Offence categories: the Convention's offences (Arts 7–17), any other serious
/// crime (Art. 2 definition) and anything else.
pub const OFFENCE_CATEGORIES: &[&str] = &[
    "art-7",
    "art-8",
    "art-9",
    "art-10",
    "art-11",
    "art-12",
    "art-13",
    "art-14",
    "art-15",
    "art-16",
    "art-17",
    "serious-crime",
    "other",
];

/// Legal bases a request may rest on.
pub const LEGAL_BASES: &[&str] = &[
    "un-convention",
    "budapest",
    "bilateral",
    "multilateral",
    "reciprocity",
];

/// Roles of the authorities that send and answer requests.
pub const AUTHORITY_ROLES: &[&str] = &[
    "point-of-contact",
    "central-authority",
    "competent-authority",
];

/// Every field a draft may contain. A field not listed here is reported as unknown.
pub const FIELDS: &[Field] = &[
    Field {
        path: "format",
        shape: Shape::Format,
        about: "Version of the draft format; must be \"custos-draft/1\".",
    },
    Field {
        path: "kind",
        shape: Shape::Kind,
        about: "The kind of request (see `custos request template`).",
    },
    Field {
        path: "requesting_state",
        shape: Shape::State,
        about: "ISO 3166-1 alpha-2 code of the State that asks.",
    },
    Field {
        path: "requested_state",
        shape: Shape::State,
        about: "ISO 3166-1 alpha-2 code of the State asked.",
    },
    Field {
        path: "reference",
        shape: Shape::Text,
        about: "The requesting authority's own file reference.",
    },
    Field {
        path: "language",
        shape: Shape::Text,
        about: "Language of the request (a language the requested State accepts).",
    },
    Field {
        path: "urgency",
        shape: Shape::OneOf(&["routine", "urgent", "emergency"]),
        about: "How fast an answer is needed.",
    },
    Field {
        path: "legal_basis",
        shape: Shape::Object,
        about: "The instrument the request rests on.",
    },
    Field {
        path: "legal_basis.basis",
        shape: Shape::OneOf(LEGAL_BASES),
        about: "un-convention, budapest, bilateral (a treaty between the two States), multilateral (another multilateral instrument) or reciprocity.",
    },
    Field {
        path: "legal_basis.treaty",
        shape: Shape::Text,
        about: "Name of the treaty or instrument, when the basis is bilateral or multilateral.",
    },
    Field {
        path: "requesting_authority",
        shape: Shape::Object,
        about: "The authority making the request.",
    },
    Field {
        path: "requesting_authority.name",
        shape: Shape::Text,
        about: "Full name of the requesting authority.",
    },
    Field {
        path: "requesting_authority.role",
        shape: Shape::OneOf(AUTHORITY_ROLES),
        about: "point-of-contact (24/7), central-authority or competent-authority.",
    },
    Field {
        path: "requesting_authority.email",
        shape: Shape::Text,
        about: "E-mail address for questions about the request.",
    },
    Field {
        path: "requesting_authority.phone",
        shape: Shape::Text,
        about: "Telephone number, reachable at the hours the request needs.",
    },
    Field {
        path: "proceedings",
        shape: Shape::Object,
        about: "The investigation, prosecution or proceeding the request serves.",
    },
    Field {
        path: "proceedings.nature",
        shape: Shape::OneOf(&["investigation", "prosecution", "judicial-proceeding"]),
        about: "investigation, prosecution or judicial-proceeding.",
    },
    Field {
        path: "proceedings.subject",
        shape: Shape::Text,
        about: "Subject matter of the proceedings.",
    },
    Field {
        path: "proceedings.authority",
        shape: Shape::Text,
        about: "Name of the authority conducting the proceedings.",
    },
    Field {
        path: "proceedings.authority_functions",
        shape: Shape::Text,
        about: "Functions of the authority conducting the proceedings.",
    },
    Field {
        path: "offences",
        shape: Shape::ListOfObjects,
        about: "The offences under investigation.",
    },
    Field {
        path: "offences[].category",
        shape: Shape::OneOf(OFFENCE_CATEGORIES),
        about: "art-7 … art-17 for the Convention's offences, serious-crime, or other.",
    },
    Field {
        path: "offences[].domestic_provision",
        shape: Shape::Text,
        about: "The provision of the requesting State's law that defines the offence.",
    },
    Field {
        path: "offences[].max_penalty_years",
        shape: Shape::Number,
        about: "Maximum penalty of deprivation of liberty, in years.",
    },
    Field {
        path: "facts",
        shape: Shape::Text,
        about: "A summary of the relevant facts.",
    },
    Field {
        path: "assistance",
        shape: Shape::Object,
        about: "The assistance sought.",
    },
    Field {
        path: "assistance.description",
        shape: Shape::Text,
        about: "What the requested State is asked to do.",
    },
    Field {
        path: "assistance.procedure",
        shape: Shape::Text,
        about: "Any particular procedure the requesting State wishes followed.",
    },
    Field {
        path: "assistance.service_of_documents",
        shape: Shape::Bool,
        about: "Whether the request is for the service of documents; such a request needs no summary of facts.",
    },
    Field {
        path: "persons",
        shape: Shape::ListOfObjects,
        about: "Persons concerned.",
    },
    Field {
        path: "persons[].name",
        shape: Shape::Text,
        about: "Name, as far as known.",
    },
    Field {
        path: "persons[].role",
        shape: Shape::OneOf(&["suspect", "victim", "witness", "account-holder", "other"]),
        about: "suspect, victim, witness, account-holder or other.",
    },
    Field {
        path: "persons[].location",
        shape: Shape::Text,
        about: "Where the person is believed to be.",
    },
    Field {
        path: "persons[].nationality",
        shape: Shape::State,
        about: "Nationality, as an ISO 3166-1 alpha-2 code.",
    },
    Field {
        path: "persons[].identifiers",
        shape: Shape::ListOfText,
        about: "Accounts, handles, addresses or numbers linked to the person.",
    },
    Field {
        path: "data",
        shape: Shape::Object,
        about: "The electronic data concerned.",
    },
    Field {
        path: "data.description",
        shape: Shape::Text,
        about: "The data sought or to be preserved.",
    },
    Field {
        path: "data.link_to_offence",
        shape: Shape::Text,
        about: "How the data relates to the offence.",
    },
    Field {
        path: "data.custodian",
        shape: Shape::Text,
        about: "Who holds the data (service provider or other custodian).",
    },
    Field {
        path: "data.location",
        shape: Shape::Text,
        about: "Where the computer system is, as far as known.",
    },
    Field {
        path: "data.period",
        shape: Shape::Object,
        about: "The time period the data covers.",
    },
    Field {
        path: "data.period.from",
        shape: Shape::Date,
        about: "First day of the period.",
    },
    Field {
        path: "data.period.to",
        shape: Shape::Date,
        about: "Last day of the period.",
    },
    Field {
        path: "necessity",
        shape: Shape::Text,
        about: "Why the measure is necessary.",
    },
    Field {
        path: "follow_up_mla",
        shape: Shape::Bool,
        about: "Whether a request for mutual legal assistance will follow.",
    },
    Field {
        path: "preservation_days",
        shape: Shape::Integer { min: 1 },
        about: "How many days the data is to be kept preserved (the Convention's minimum is 60; a shorter period draws a warning).",
    },
    Field {
        path: "collection_period",
        shape: Shape::Object,
        about: "The period of real-time collection or interception.",
    },
    Field {
        path: "collection_period.from",
        shape: Shape::Date,
        about: "First day of collection.",
    },
    Field {
        path: "collection_period.to",
        shape: Shape::Date,
        about: "Last day of collection.",
    },
    Field {
        path: "collection_period.justification",
        shape: Shape::Text,
        about: "Why the collection must last this long.",
    },
    Field {
        path: "purpose",
        shape: Shape::Text,
        about: "The purpose for which the evidence, information or action is sought.",
    },
    Field {
        path: "deadline",
        shape: Shape::Object,
        about: "A deadline the requesting State proposes.",
    },
    Field {
        path: "deadline.date",
        shape: Shape::Date,
        about: "The date an answer is needed by.",
    },
    Field {
        path: "deadline.reasons",
        shape: Shape::Text,
        about: "Why that date (trial date, limitation period, data retention).",
    },
    Field {
        path: "confidentiality",
        shape: Shape::Object,
        about: "Confidentiality the requesting State asks for.",
    },
    Field {
        path: "confidentiality.required",
        shape: Shape::Bool,
        about: "Whether the fact and substance of the request must stay confidential.",
    },
    Field {
        path: "confidentiality.no_user_notification",
        shape: Shape::Bool,
        about: "Whether the user of the service must not be notified.",
    },
    Field {
        path: "confidentiality.reasons",
        shape: Shape::Text,
        about: "Why confidentiality is needed.",
    },
    Field {
        path: "emergency",
        shape: Shape::Object,
        about: "The emergency the request is meant to avert.",
    },
    Field {
        path: "emergency.risk",
        shape: Shape::Text,
        about: "The significant and imminent risk to a person's life or safety.",
    },
    Field {
        path: "emergency.persons_at_risk",
        shape: Shape::Text,
        about: "Who is at risk, as far as known.",
    },
    Field {
        path: "question",
        shape: Shape::Text,
        about: "The question the 24/7 point of contact is asked.",
    },
    Field {
        path: "information",
        shape: Shape::Text,
        about: "The information provided.",
    },
    Field {
        path: "use_conditions",
        shape: Shape::Text,
        about: "Conditions on the use of the information provided.",
    },
    Field {
        path: "preservation_reference",
        shape: Shape::Text,
        about: "Reference of the preservation request whose traffic data is sought.",
    },
    Field {
        path: "communication",
        shape: Shape::Text,
        about: "The communication whose path is to be traced.",
    },
    Field {
        path: "joint_investigation",
        shape: Shape::Object,
        about: "The proposed joint investigation.",
    },
    Field {
        path: "joint_investigation.purpose",
        shape: Shape::Text,
        about: "What the joint investigation is to achieve.",
    },
    Field {
        path: "joint_investigation.participants",
        shape: Shape::ListOfStates,
        about: "States taking part.",
    },
    Field {
        path: "joint_investigation.duration_months",
        shape: Shape::Integer { min: 1 },
        about: "Proposed duration in months.",
    },
];

/// Finds a field by its path pattern (`offences[].category`).
pub fn field(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

/// How strongly a kind needs a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Missing means the request cannot be sent.
    Required,
    /// Give it where possible or applicable; missing is a warning.
    Recommended,
    /// Allowed, never needed (a decision's note).
    Optional,
}

/// One item of a kind's required contents.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// Path pattern of the field (see [`FIELDS`]).
    pub path: &'static str,
    pub need: Need,
    pub article: ArticleRef,
    /// What the article asks for, in a sentence addressed to the drafter.
    pub sentence: &'static str,
    /// A yes/no field of the draft whose `true` waives the item (a request
    /// for the service of documents needs no summary of facts).
    pub unless: Option<&'static str>,
}

pub(crate) const fn req(path: &'static str, article: ArticleRef, sentence: &'static str) -> Item {
    Item {
        path,
        need: Need::Required,
        article,
        sentence,
        unless: None,
    }
}

pub(crate) const fn rec(path: &'static str, article: ArticleRef, sentence: &'static str) -> Item {
    Item {
        path,
        need: Need::Recommended,
        article,
        sentence,
        unless: None,
    }
}

/// A required item that the yes/no field `unless`, when `true`, waives.
const fn req_unless(
    path: &'static str,
    unless: &'static str,
    article: ArticleRef,
    sentence: &'static str,
) -> Item {
    Item {
        path,
        need: Need::Required,
        article,
        sentence,
        unless: Some(unless),
    }
}

/// The field that says a general MLA request is for the service of documents.
pub const SERVICE_OF_DOCUMENTS: &str = "assistance.service_of_documents";

/// Items every kind needs: who asks, whom, and on what basis.
const COMMON: &[Item] = &[
    req("format", article::MLA, "State the draft format version."),
    req("kind", article::MLA, "State the kind of request."),
    req(
        "requesting_state",
        article::MLA,
        "Name the requesting State.",
    ),
    req("requested_state", article::MLA, "Name the requested State."),
    req(
        "legal_basis.basis",
        article::MLA,
        "State the legal basis of the request.",
    ),
    req(
        "requesting_authority.name",
        article::MLA,
        "Identify the authority making the request.",
    ),
    req(
        "requesting_authority.role",
        article::MLA,
        "Say which kind of authority is making the request.",
    ),
];

/// The Art. 40 list of required contents, shared by the MLA kinds.
const MLA_ITEMS: &[Item] = &[
    req(
        "proceedings.nature",
        article::MLA,
        "State the nature of the investigation, prosecution or proceeding.",
    ),
    req(
        "proceedings.subject",
        article::MLA,
        "State the subject matter of the investigation, prosecution or proceeding.",
    ),
    req(
        "proceedings.authority",
        article::MLA,
        "Name the authority conducting the investigation, prosecution or proceeding.",
    ),
    req(
        "proceedings.authority_functions",
        article::MLA,
        "Give the functions of the authority conducting the proceedings.",
    ),
    req(
        "offences",
        article::ArticleRef::un("35"),
        "Name the offence: cooperation covers the Convention's offences and evidence of serious crime.",
    ),
    req(
        "offences[].category",
        article::ArticleRef::un("35"),
        "Give the category of each offence.",
    ),
    req(
        "offences[].domestic_provision",
        article::ArticleRef::un("35"),
        "Cite the domestic provision for each offence.",
    ),
    req(
        "assistance.description",
        article::MLA,
        "Describe the assistance sought.",
    ),
    rec(
        "assistance.procedure",
        article::MLA,
        "Describe any particular procedure to be followed.",
    ),
    rec(
        "persons",
        article::MLA,
        "Where possible, give the identity, location and nationality of each person concerned.",
    ),
    req(
        "purpose",
        article::MLA,
        "State the purpose for which the evidence, information or action is sought.",
    ),
];

/// Items shared by the real-time collection and interception kinds, each
/// citing the article of its kind (Art. 45 or 46); the offence and the
/// purpose keep the articles that require them of every request.
const fn collection_items(art: ArticleRef) -> [Item; 13] {
    [
        req(
            "proceedings.nature",
            art,
            "State the nature of the proceedings.",
        ),
        req(
            "proceedings.subject",
            art,
            "State the subject matter of the proceedings.",
        ),
        req("facts", art, "Give the main facts."),
        req(
            "offences",
            article::ArticleRef::un("35"),
            "Name the offence.",
        ),
        req(
            "offences[].category",
            article::ArticleRef::un("35"),
            "Give the category of each offence.",
        ),
        req(
            "offences[].domestic_provision",
            article::ArticleRef::un("35"),
            "Cite the domestic provision for each offence.",
        ),
        req(
            "data.link_to_offence",
            art,
            "Explain how the targeted data relates to the offence.",
        ),
        req(
            "data.custodian",
            art,
            "Give the data identifying the owner, user or location of the system.",
        ),
        req("necessity", art, "Justify the need for the measure."),
        req(
            "collection_period.from",
            art,
            "Give the first day of the collection period.",
        ),
        req(
            "collection_period.to",
            art,
            "Give the last day of the collection period.",
        ),
        req(
            "collection_period.justification",
            art,
            "Justify the length of the collection period.",
        ),
        req("purpose", article::MLA, "State the purpose of the measure."),
    ]
}

/// The Art. 45 items of a request for real-time collection of traffic data.
const REAL_TIME_ITEMS: &[Item] = &collection_items(article::REAL_TIME_TRAFFIC);
/// The Art. 46 items of a request for interception of content data.
const INTERCEPTION_ITEMS: &[Item] = &collection_items(article::INTERCEPTION);

/// The required contents of a kind, in the order the treaty lists them.
///
/// Returned as a list of slices so kinds can share the common lists.
pub fn requirements(kind: RequestKind) -> Vec<&'static [Item]> {
    use RequestKind as K;
    let own: &'static [Item] = match kind {
        K::TechnicalAdvice => {
            const L: &[Item] = &[
                req(
                    "question",
                    article::NETWORK_24_7,
                    "Ask the question on which technical advice is sought.",
                ),
                rec(
                    "urgency",
                    article::NETWORK_24_7,
                    "Say how fast an answer is needed.",
                ),
            ];
            L
        }
        K::LegalInformation => {
            const L: &[Item] = &[
                req(
                    "question",
                    article::NETWORK_24_7,
                    "Ask the question on which legal information is sought.",
                ),
                rec(
                    "urgency",
                    article::NETWORK_24_7,
                    "Say how fast an answer is needed.",
                ),
            ];
            L
        }
        K::LocateSuspect => {
            const L: &[Item] = &[
                req(
                    "facts",
                    article::NETWORK_24_7,
                    "Give a summary of the relevant facts.",
                ),
                req(
                    "offences",
                    article::NETWORK_24_7,
                    "Name the offence the suspect is sought for.",
                ),
                req(
                    "offences[].category",
                    article::NETWORK_24_7,
                    "Give the category of each offence.",
                ),
                req(
                    "offences[].domestic_provision",
                    article::NETWORK_24_7,
                    "Cite the domestic provision for each offence.",
                ),
                req(
                    "persons",
                    article::NETWORK_24_7,
                    "Identify the suspect to be located.",
                ),
                req(
                    "persons[].role",
                    article::NETWORK_24_7,
                    "Give each person's role.",
                ),
                rec(
                    "persons[].identifiers",
                    article::NETWORK_24_7,
                    "Give the accounts, addresses or numbers that may locate the person.",
                ),
                req(
                    "purpose",
                    article::NETWORK_24_7,
                    "State why the suspect must be located.",
                ),
            ];
            L
        }
        K::EmergencyData => {
            const L: &[Item] = &[
                req(
                    "emergency.risk",
                    article::DEFINITIONS,
                    "Describe the significant and imminent risk to a natural person's life or safety.",
                ),
                rec(
                    "emergency.persons_at_risk",
                    article::DEFINITIONS,
                    "Say who is at risk, as far as known.",
                ),
                req(
                    "data.description",
                    article::NETWORK_24_7,
                    "Describe the electronic data needed to avert the emergency.",
                ),
                req(
                    "data.custodian",
                    article::NETWORK_24_7,
                    "Identify who holds the data.",
                ),
                req(
                    "facts",
                    article::NETWORK_24_7,
                    "Give a summary of the relevant facts.",
                ),
                req(
                    "requesting_authority.phone",
                    article::NETWORK_24_7,
                    "Give a telephone number reachable at any hour.",
                ),
            ];
            L
        }
        K::Preservation => {
            const L: &[Item] = &[
                req(
                    "offences",
                    article::PRESERVATION,
                    "Name the offence that is the subject of the investigation.",
                ),
                req(
                    "offences[].category",
                    article::PRESERVATION,
                    "Give the category of each offence.",
                ),
                req(
                    "offences[].domestic_provision",
                    article::PRESERVATION,
                    "Cite the domestic provision for each offence.",
                ),
                req(
                    "facts",
                    article::PRESERVATION,
                    "Give a brief summary of the related facts.",
                ),
                req(
                    "data.description",
                    article::PRESERVATION,
                    "Describe the stored computer data to be preserved.",
                ),
                req(
                    "data.link_to_offence",
                    article::PRESERVATION,
                    "Explain the data's relationship to the offence.",
                ),
                req(
                    "data.custodian",
                    article::PRESERVATION,
                    "Give any available information identifying the custodian of the data or the location of the system.",
                ),
                req(
                    "necessity",
                    article::PRESERVATION,
                    "Explain why preservation is necessary.",
                ),
                req(
                    "follow_up_mla",
                    article::PRESERVATION,
                    "State that a request for mutual assistance for search, seizure or disclosure will follow.",
                ),
                rec(
                    "confidentiality",
                    article::PRESERVATION,
                    "Where appropriate, say whether the request must stay confidential and the user must not be notified.",
                ),
                rec(
                    "requesting_authority.phone",
                    article::NETWORK_24_7,
                    "Give a telephone number reachable at any hour.",
                ),
            ];
            L
        }
        K::TrafficDisclosure => {
            const L: &[Item] = &[
                req(
                    "preservation_reference",
                    article::TRAFFIC_DISCLOSURE,
                    "Cite the preservation request whose traffic data is sought.",
                ),
                req(
                    "communication",
                    article::TRAFFIC_DISCLOSURE,
                    "Identify the communication whose path is to be traced.",
                ),
                req(
                    "data.description",
                    article::TRAFFIC_DISCLOSURE,
                    "Describe the traffic data sought to identify the service providers and the path.",
                ),
                req("offences", article::TRAFFIC_DISCLOSURE, "Name the offence."),
                req(
                    "offences[].category",
                    article::TRAFFIC_DISCLOSURE,
                    "Give the category of each offence.",
                ),
                req(
                    "offences[].domestic_provision",
                    article::TRAFFIC_DISCLOSURE,
                    "Cite the domestic provision for each offence.",
                ),
                req(
                    "facts",
                    article::TRAFFIC_DISCLOSURE,
                    "Give a brief summary of the related facts.",
                ),
            ];
            L
        }
        K::StoredData => {
            const L: &[Item] = &[
                req(
                    "facts",
                    article::MLA,
                    "Give a summary of the relevant facts.",
                ),
                req(
                    "data.description",
                    article::STORED_DATA,
                    "Describe the stored data to be searched, seized or disclosed.",
                ),
                req(
                    "data.custodian",
                    article::STORED_DATA,
                    "Identify the custodian of the data or the location of the system.",
                ),
                req(
                    "data.link_to_offence",
                    article::STORED_DATA,
                    "Explain how the data relates to the offence.",
                ),
                rec(
                    "data.period",
                    article::MLA,
                    "Where applicable, give the time period of the data sought.",
                ),
            ];
            L
        }
        K::RealTimeTraffic => {
            const L: &[Item] = &[req(
                "data.description",
                article::REAL_TIME_TRAFFIC,
                "Describe the traffic data to be collected in real time.",
            )];
            L
        }
        K::Interception => {
            const L: &[Item] = &[
                req(
                    "data.description",
                    article::INTERCEPTION,
                    "Describe the communications whose content is to be intercepted.",
                ),
                rec(
                    "offences[].max_penalty_years",
                    article::INTERCEPTION,
                    "Give the maximum penalty: interception is meant for serious crime.",
                ),
            ];
            L
        }
        K::Mla => {
            const L: &[Item] = &[
                req_unless(
                    "facts",
                    SERVICE_OF_DOCUMENTS,
                    article::MLA,
                    "Give a summary of the relevant facts (not needed for the service of documents).",
                ),
                rec(
                    "data.period",
                    article::MLA,
                    "Where applicable, give the time period of the data sought.",
                ),
            ];
            L
        }
        K::SpontaneousInformation => {
            const L: &[Item] = &[
                req(
                    "information",
                    article::MLA,
                    "Give the information provided.",
                ),
                rec(
                    "use_conditions",
                    article::MLA,
                    "State any conditions on the use of the information.",
                ),
                rec(
                    "facts",
                    article::MLA,
                    "Give a summary of the relevant facts.",
                ),
                rec(
                    "offences",
                    article::MLA,
                    "Name the offence the information concerns.",
                ),
            ];
            L
        }
        K::LawEnforcementCooperation => {
            const L: &[Item] = &[
                req(
                    "assistance.description",
                    article::LAW_ENFORCEMENT,
                    "Describe the cooperation sought.",
                ),
                req(
                    "facts",
                    article::LAW_ENFORCEMENT,
                    "Give a summary of the relevant facts.",
                ),
                req("offences", article::LAW_ENFORCEMENT, "Name the offence."),
                req(
                    "offences[].category",
                    article::LAW_ENFORCEMENT,
                    "Give the category of each offence.",
                ),
                req(
                    "offences[].domestic_provision",
                    article::LAW_ENFORCEMENT,
                    "Cite the domestic provision for each offence.",
                ),
                req(
                    "purpose",
                    article::LAW_ENFORCEMENT,
                    "State the purpose of the cooperation.",
                ),
            ];
            L
        }
        K::JointInvestigation => {
            const L: &[Item] = &[
                req(
                    "joint_investigation.purpose",
                    article::JOINT_INVESTIGATION,
                    "State what the joint investigation is to achieve.",
                ),
                req(
                    "joint_investigation.participants",
                    article::JOINT_INVESTIGATION,
                    "List the States taking part.",
                ),
                req(
                    "joint_investigation.duration_months",
                    article::JOINT_INVESTIGATION,
                    "Propose a duration.",
                ),
                req(
                    "proceedings.nature",
                    article::JOINT_INVESTIGATION,
                    "State the nature of the proceedings.",
                ),
                req(
                    "proceedings.subject",
                    article::JOINT_INVESTIGATION,
                    "State the subject matter of the proceedings.",
                ),
                req(
                    "facts",
                    article::JOINT_INVESTIGATION,
                    "Give a summary of the relevant facts.",
                ),
                req(
                    "offences",
                    article::JOINT_INVESTIGATION,
                    "Name the offence.",
                ),
                req(
                    "offences[].category",
                    article::JOINT_INVESTIGATION,
                    "Give the category of each offence.",
                ),
                req(
                    "offences[].domestic_provision",
                    article::JOINT_INVESTIGATION,
                    "Cite the domestic provision for each offence.",
                ),
            ];
            L
        }
    };
    let mut lists = vec![COMMON];
    match kind {
        K::StoredData | K::Mla => lists.push(MLA_ITEMS),
        K::RealTimeTraffic => lists.push(REAL_TIME_ITEMS),
        K::Interception => lists.push(INTERCEPTION_ITEMS),
        _ => {}
    }
    lists.push(own);
    lists
}

/// Optional fields a kind's template shows although no article requires
/// them: the period a preservation is asked for, and whether a general MLA
/// request is for the service of documents.
pub fn offered(kind: RequestKind) -> &'static [&'static str] {
    match kind {
        RequestKind::Preservation => &["preservation_days"],
        RequestKind::Mla => &[SERVICE_OF_DOCUMENTS],
        _ => &[],
    }
}

/// The items of a kind, flattened, in order.
pub fn items(kind: RequestKind) -> impl Iterator<Item = &'static Item> {
    requirements(kind).into_iter().flatten()
}

/// The article that governs a kind as a whole.
pub fn governing_article(kind: RequestKind) -> ArticleRef {
    use RequestKind as K;
    match kind {
        K::TechnicalAdvice | K::LegalInformation | K::LocateSuspect | K::EmergencyData => {
            article::NETWORK_24_7
        }
        K::Preservation => article::PRESERVATION,
        K::TrafficDisclosure => article::TRAFFIC_DISCLOSURE,
        K::StoredData => article::STORED_DATA,
        K::RealTimeTraffic => article::REAL_TIME_TRAFFIC,
        K::Interception => article::INTERCEPTION,
        K::Mla | K::SpontaneousInformation => article::MLA,
        K::LawEnforcementCooperation => article::LAW_ENFORCEMENT,
        K::JointInvestigation => article::JOINT_INVESTIGATION,
    }
}

/// A one-line description of a kind, for listings.
pub fn title(kind: RequestKind) -> &'static str {
    use RequestKind as K;
    match kind {
        K::TechnicalAdvice => "24/7: technical advice",
        K::LegalInformation => "24/7: legal information",
        K::LocateSuspect => "24/7: locating a suspect",
        K::EmergencyData => "24/7: electronic data to avert an emergency",
        K::Preservation => "expedited preservation of stored electronic data",
        K::TrafficDisclosure => "expedited disclosure of preserved traffic data",
        K::StoredData => "mutual legal assistance: accessing stored electronic data",
        K::RealTimeTraffic => "mutual legal assistance: real-time collection of traffic data",
        K::Interception => "mutual legal assistance: interception of content data",
        K::Mla => "mutual legal assistance (general)",
        K::SpontaneousInformation => "spontaneous information",
        K::LawEnforcementCooperation => "law-enforcement cooperation",
        K::JointInvestigation => "joint investigation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_item_names_a_known_field() {
        for kind in RequestKind::ALL {
            for item in items(kind) {
                assert!(
                    field(item.path).is_some(),
                    "{kind}: {} is not in FIELDS",
                    item.path
                );
            }
        }
    }

    #[test]
    fn every_nested_field_has_its_parent_declared() {
        for f in FIELDS {
            if let Some((parent, _)) = f.path.rsplit_once('.') {
                let parent = parent.trim_end_matches("[]");
                let p = field(parent).unwrap_or_else(|| panic!("{} has no parent", f.path));
                assert!(
                    matches!(p.shape, Shape::Object | Shape::ListOfObjects),
                    "parent of {} is not an object",
                    f.path
                );
            }
        }
    }

    #[test]
    fn a_waiver_is_a_yes_no_field() {
        for kind in RequestKind::ALL {
            for item in items(kind) {
                if let Some(waiver) = item.unless {
                    let f = field(waiver).unwrap_or_else(|| panic!("{waiver} is not a field"));
                    assert_eq!(f.shape, Shape::Bool, "{kind}: {waiver}");
                    assert!(!waiver.contains("[]"), "{waiver} must not be in a list");
                }
            }
        }
    }

    #[test]
    fn the_collection_kinds_cite_articles_45_and_46_not_40() {
        for (kind, art) in [
            (RequestKind::RealTimeTraffic, article::REAL_TIME_TRAFFIC),
            (RequestKind::Interception, article::INTERCEPTION),
        ] {
            for path in [
                "proceedings.nature",
                "proceedings.subject",
                "facts",
                "data.description",
                "data.link_to_offence",
                "data.custodian",
                "necessity",
                "collection_period.from",
                "collection_period.to",
                "collection_period.justification",
            ] {
                let item = items(kind).find(|i| i.path == path).unwrap();
                assert_eq!(item.article, art, "{kind}: {path}");
            }
        }
    }

    #[test]
    fn no_kind_lists_the_same_field_twice() {
        for kind in RequestKind::ALL {
            let mut seen = std::collections::HashSet::new();
            for item in items(kind) {
                assert!(seen.insert(item.path), "{kind} lists {} twice", item.path);
            }
        }
    }
}
