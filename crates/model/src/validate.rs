//! Validation of request drafts against the contents catalogue.
//!
//! A draft is read into a JSON value first (drafts are JSON, comments
//! allowed), then checked in one pass that collects every problem: fields the
//! format does not know, values of the wrong shape, items the request kind
//! requires that are missing, and the rules that tie fields together (a
//! deadline needs its reasons, a preservation shorter than the minimum is
//! warned, ...). A draft larger than [`MAX_DRAFT_BYTES`] is refused unread.
//! Nothing stops at the first problem: a caseworker fixes a draft in one go.
//!
//! A draft with a `decision` field is a decision draft (a refusal, a
//! consultation, an execution, ...): it is checked the same way against the
//! decision catalogue ([`crate::decision`]), and [`check_decision`] checks
//! what a case action is given, draft or bare message body, with the same
//! rules (the decisions' own rules are in `validate/decisions.rs`).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::article::{self, ArticleRef};
use crate::clock;
use crate::contents::{self, DRAFT_FORMAT, Field, Need, Shape};
use crate::decision::Decision;
use crate::kind::RequestKind;
use crate::state::StateCode;

mod decisions;

use decisions::{check_codes, validate_decision_draft};
pub use decisions::{check_decision, is_package_id, is_thread_id};

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The draft cannot be sent.
    Error,
    /// The draft can be sent, but something the Convention recommends is missing.
    Warning,
}

/// Stable codes of validation problems. The wire names never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    Unreadable,
    FormatUnsupported,
    KindUnknown,
    UnknownField,
    WrongType,
    InvalidDate,
    InvalidState,
    UnknownState,
    NotOneOf,
    BelowMinimum,
    MissingRequired,
    RecommendedMissing,
    SameState,
    DeadlineWithoutReasons,
    PreservationTooShort,
    PeriodReversed,
    FollowUpRequired,
    NotSeriousCrime,
    InterceptionNotSeriousCrime,
    TooLarge,
    CannotRead,
    ConventionNotApplicable,
    DecisionUnknown,
    DecisionMismatch,
    ExcludedGroundsOnly,
    InvalidPackageId,
    InvalidThreadId,
    ListedTwice,
    PackageNotSent,
}

impl Code {
    /// Every code, for the documentation table.
    pub const ALL: [Code; 29] = [
        Code::Unreadable,
        Code::FormatUnsupported,
        Code::KindUnknown,
        Code::UnknownField,
        Code::WrongType,
        Code::InvalidDate,
        Code::InvalidState,
        Code::UnknownState,
        Code::NotOneOf,
        Code::BelowMinimum,
        Code::MissingRequired,
        Code::RecommendedMissing,
        Code::SameState,
        Code::DeadlineWithoutReasons,
        Code::PreservationTooShort,
        Code::PeriodReversed,
        Code::FollowUpRequired,
        Code::NotSeriousCrime,
        Code::InterceptionNotSeriousCrime,
        Code::TooLarge,
        Code::CannotRead,
        Code::ConventionNotApplicable,
        Code::DecisionUnknown,
        Code::DecisionMismatch,
        Code::ExcludedGroundsOnly,
        Code::InvalidPackageId,
        Code::InvalidThreadId,
        Code::ListedTwice,
        Code::PackageNotSent,
    ];

    /// The stable wire name, such as `missing-required`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unreadable => "unreadable",
            Code::FormatUnsupported => "format-unsupported",
            Code::KindUnknown => "kind-unknown",
            Code::UnknownField => "unknown-field",
            Code::WrongType => "wrong-type",
            Code::InvalidDate => "invalid-date",
            Code::InvalidState => "invalid-state",
            Code::UnknownState => "unknown-state",
            Code::NotOneOf => "not-one-of",
            Code::BelowMinimum => "below-minimum",
            Code::MissingRequired => "missing-required",
            Code::RecommendedMissing => "recommended-missing",
            Code::SameState => "same-state",
            Code::DeadlineWithoutReasons => "deadline-without-reasons",
            Code::PreservationTooShort => "preservation-too-short",
            Code::PeriodReversed => "period-reversed",
            Code::FollowUpRequired => "follow-up-required",
            Code::NotSeriousCrime => "not-serious-crime",
            Code::InterceptionNotSeriousCrime => "interception-not-serious-crime",
            Code::TooLarge => "too-large",
            Code::CannotRead => "cannot-read",
            Code::ConventionNotApplicable => "convention-not-applicable",
            Code::DecisionUnknown => "decision-unknown",
            Code::DecisionMismatch => "decision-mismatch",
            Code::ExcludedGroundsOnly => "excluded-grounds-only",
            Code::InvalidPackageId => "invalid-package-id",
            Code::InvalidThreadId => "invalid-thread-id",
            Code::ListedTwice => "listed-twice",
            Code::PackageNotSent => "package-not-sent",
        }
    }

    /// What the code means, for the documentation table.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Unreadable => {
                "The file is not JSON (comments are allowed); the message gives the line and column."
            }
            Code::FormatUnsupported => {
                "The `format` field is missing or names a version this node does not read."
            }
            Code::KindUnknown => "The `kind` field is missing or names no request kind.",
            Code::UnknownField => {
                "The draft has a field the format does not define (often a misspelling)."
            }
            Code::WrongType => {
                "A value has the wrong type (text where a list is expected, and so on)."
            }
            Code::InvalidDate => "A date is not a real calendar date in the form YYYY-MM-DD.",
            Code::InvalidState => "A State code is not two capital letters.",
            Code::UnknownState => {
                "A State code is well formed but not an assigned ISO 3166-1 code or known organisation."
            }
            Code::NotOneOf => "A value is not one of the words the field allows.",
            Code::BelowMinimum => "A number is below the smallest value the field allows.",
            Code::MissingRequired => {
                "An item the request kind or the decision requires is missing or empty."
            }
            Code::RecommendedMissing => {
                "Warning: an item to give where possible or applicable is missing."
            }
            Code::SameState => "The requesting and requested States are the same.",
            Code::DeadlineWithoutReasons => "A proposed deadline carries no reasons.",
            Code::PreservationTooShort => {
                "Warning: the preservation period asked or confirmed is shorter than the Convention's minimum, which binds the preservation the requested State carries out (the case counts the minimum)."
            }
            Code::PeriodReversed => "A period ends before it begins.",
            Code::FollowUpRequired => {
                "A preservation request does not state that a request for mutual assistance will follow."
            }
            Code::NotSeriousCrime => {
                "An offence given as serious crime lacks a maximum penalty of at least the threshold."
            }
            Code::InterceptionNotSeriousCrime => {
                "Warning: interception of content data is asked for an offence whose maximum penalty is below the serious-crime threshold."
            }
            Code::TooLarge => "The draft is larger than the largest draft accepted (1 MiB).",
            Code::CannotRead => "The draft file cannot be opened or read, or is not UTF-8 text.",
            Code::ConventionNotApplicable => {
                "The draft cites the Convention as legal basis, but the treaty registry says it is not in force between the two States on the sending date; the message gives every reason."
            }
            Code::DecisionUnknown => {
                "The `decision` field of a decision draft names no decision (the case actions that take a draft)."
            }
            Code::DecisionMismatch => {
                "A decision draft names another decision than the case action it is given to."
            }
            Code::ExcludedGroundsOnly => {
                "A refusal rests only on fiscal matters or bank secrecy, which never suffice alone."
            }
            Code::InvalidPackageId => {
                "An evidence package id is not `sha256:` and 64 lower-case hex digits."
            }
            Code::InvalidThreadId => {
                "A request id is not `thr-` and a UUID in lower-case hyphenated form."
            }
            Code::ListedTwice => "A list names the same ground or package twice.",
            Code::PackageNotSent => {
                "An execution cites an evidence package that this node has not sent to the requesting State for this request, with the receipt it answered (checked by the node before it sends the execution, not by `request validate`)."
            }
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    pub code: Code,
    /// Where in the draft: `offences[0].domestic_provision`; empty for the whole draft.
    pub path: String,
    /// The article that requires what is missing or wrong, when there is one.
    #[serde(serialize_with = "article_text")]
    pub article: Option<ArticleRef>,
    /// A plain sentence for the drafter.
    pub message: String,
}

fn article_text<S: serde::Serializer>(a: &Option<ArticleRef>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        Some(a) => s.serialize_str(&a.to_string()),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = if self.path.is_empty() {
            "(draft)"
        } else {
            &self.path
        };
        let art = self
            .article
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        write!(f, "{sev} {} {path} [{art}] {}", self.code, self.message)
    }
}

/// Everything validation found, in draft order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The request kind, when the draft names a known one.
    pub kind: Option<RequestKind>,
    /// The decision, when the draft is a decision draft naming a known one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    pub issues: Vec<Issue>,
}

impl Report {
    /// True when no issue is an error (warnings do not stop a request).
    pub fn is_valid(&self) -> bool {
        !self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    /// The number of errors.
    pub fn errors(&self) -> usize {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    }

    fn push(
        &mut self,
        severity: Severity,
        code: Code,
        path: impl Into<String>,
        article: Option<ArticleRef>,
        message: impl Into<String>,
    ) {
        self.issues.push(Issue {
            severity,
            code,
            path: path.into(),
            article,
            message: message.into(),
        });
    }

    fn error(
        &mut self,
        code: Code,
        path: impl Into<String>,
        article: Option<ArticleRef>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, code, path, article, message);
    }
}

/// The largest draft accepted, in bytes (1 MiB): larger files are refused
/// before they are parsed, wherever a draft is read.
pub const MAX_DRAFT_BYTES: usize = 1 << 20;

impl Report {
    /// The report on a draft that could not be read at all (a missing or
    /// unreadable file, text that is not UTF-8): one `cannot-read` error.
    pub fn cannot_read(problem: impl Into<String>) -> Report {
        let mut r = Report::default();
        r.error(Code::CannotRead, "", None, problem);
        r
    }

    /// The report on a draft larger than [`MAX_DRAFT_BYTES`]: one
    /// `too-large` error. `size` is what was seen (at least the limit plus one).
    pub fn too_large(size: u64) -> Report {
        let mut r = Report::default();
        r.error(
            Code::TooLarge,
            "",
            None,
            format!(
                "the draft is {size} bytes; a draft may be at most {MAX_DRAFT_BYTES} bytes ({} MiB)",
                MAX_DRAFT_BYTES >> 20
            ),
        );
        r
    }

    /// True when the draft could not be read (as opposed to read and found wanting).
    pub fn is_unreadable_file(&self) -> bool {
        self.issues.iter().any(|i| i.code == Code::CannotRead)
    }
}

/// Reads a draft's text: JSON, with `//` and `/* */` comments allowed.
///
/// Comments are blanked out (line breaks kept, so positions in errors stay
/// true) and the rest is read by serde_json, whose nesting limit guards the
/// stack against hostile files.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(&strip_comments(text)).map_err(|e| e.to_string())
}

/// Replaces comments outside strings with spaces, keeping line breaks.
fn strip_comments(text: &str) -> String {
    #[derive(PartialEq)]
    enum St {
        Code,
        Str,
        StrEscape,
        Line,
        Block,
        BlockStar,
    }
    let mut out = String::with_capacity(text.len());
    let mut st = St::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            St::Code => match (c, chars.peek()) {
                ('"', _) => {
                    st = St::Str;
                    out.push(c);
                }
                ('/', Some('/')) => {
                    chars.next();
                    st = St::Line;
                    out.push_str("  ");
                }
                ('/', Some('*')) => {
                    chars.next();
                    st = St::Block;
                    out.push_str("  ");
                }
                _ => out.push(c),
            },
            St::Str => {
                st = match c {
                    '\\' => St::StrEscape,
                    '"' => St::Code,
                    _ => St::Str,
                };
                out.push(c);
            }
            St::StrEscape => {
                st = St::Str;
                out.push(c);
            }
            St::Line | St::Block | St::BlockStar => {
                if c == '\n' {
                    out.push('\n');
                    if st == St::Line {
                        st = St::Code;
                    }
                    continue;
                }
                out.push(' ');
                st = match (st, c) {
                    (St::Line, _) => St::Line,
                    (St::BlockStar, '/') => St::Code,
                    (_, '*') => St::BlockStar,
                    _ => St::Block,
                };
            }
        }
    }
    out
}

/// Parses and validates a draft's text.
pub fn validate_text(text: &str) -> Report {
    if text.len() > MAX_DRAFT_BYTES {
        return Report::too_large(text.len() as u64);
    }
    match parse(text) {
        Ok(v) => validate(&v),
        Err(e) => {
            let mut r = Report::default();
            r.error(
                Code::Unreadable,
                "",
                None,
                format!("the draft is not readable JSON: {e}"),
            );
            r
        }
    }
}

/// Validates a draft already read into a JSON value.
pub fn validate(draft: &Value) -> Report {
    let mut r = Report::default();
    let Some(root) = draft.as_object() else {
        r.error(Code::WrongType, "", None, "a draft must be a JSON object");
        return r;
    };
    if root.contains_key("decision") {
        return validate_decision_draft(draft, root);
    }
    check_fields(contents::FIELDS, root, "", "", &mut r);
    check_format(root, &mut r);
    let kind = match root.get("kind") {
        Some(Value::String(s)) => match s.parse::<RequestKind>() {
            Ok(k) => Some(k),
            Err(e) => {
                r.error(Code::KindUnknown, "kind", None, e.to_string());
                None
            }
        },
        _ => {
            r.error(
                Code::KindUnknown,
                "kind",
                None,
                "the draft must name its kind; `custos request template` lists them",
            );
            None
        }
    };
    r.kind = kind;
    if let Some(kind) = kind {
        check_items(contents::FIELDS, contents::items(kind), draft, &mut r);
        check_rules(kind, draft, &mut r);
    }
    r
}

fn check_format(root: &Map<String, Value>, r: &mut Report) {
    match root.get("format") {
        Some(Value::String(s)) if s == DRAFT_FORMAT => {}
        Some(Value::String(s)) => r.error(
            Code::FormatUnsupported,
            "format",
            None,
            format!("format {s:?} is not supported; this node reads {DRAFT_FORMAT:?}"),
        ),
        _ => r.error(
            Code::FormatUnsupported,
            "format",
            None,
            format!("the draft must say \"format\": {DRAFT_FORMAT:?}"),
        ),
    }
}

/// Checks every field present against the format's `fields`: known, and of
/// the right shape.
fn check_fields(
    fields: &[Field],
    obj: &Map<String, Value>,
    pattern_prefix: &str,
    path_prefix: &str,
    r: &mut Report,
) {
    // Two buffers for the whole object, not two strings per field: a draft
    // is validated when it is sent and again when it is received.
    let mut pattern = String::with_capacity(pattern_prefix.len() + 32);
    let mut path = String::with_capacity(path_prefix.len() + 32);
    for (key, value) in obj {
        pattern.clear();
        pattern.push_str(pattern_prefix);
        pattern.push_str(key);
        path.clear();
        path.push_str(path_prefix);
        path.push_str(key);
        let Some(field) = fields.iter().find(|f| f.path == pattern) else {
            let hint = nearest_field(fields, pattern_prefix, key)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            r.error(
                Code::UnknownField,
                path.as_str(),
                None,
                format!("the draft format has no field {key:?}{hint}"),
            );
            continue;
        };
        if is_absent(value) {
            // Empty values count as missing; the required-contents check reports them.
            continue;
        }
        check_shape(fields, field.shape, value, &pattern, &path, r);
    }
}

fn check_shape(
    fields: &[Field],
    shape: Shape,
    value: &Value,
    pattern: &str,
    path: &str,
    r: &mut Report,
) {
    let wrong = |r: &mut Report, want: &str| {
        r.error(
            Code::WrongType,
            path,
            None,
            format!("expected {want}, found {}", describe(value)),
        );
    };
    match shape {
        // Checked separately, with a more helpful message.
        Shape::Format | Shape::Kind | Shape::Decision => {}
        Shape::Text => {
            if !value.is_string() {
                wrong(r, "text");
            }
        }
        Shape::Date => match value.as_str() {
            None => wrong(r, "a date as text, YYYY-MM-DD"),
            Some(s) => {
                if parse_date(s).is_none() {
                    r.error(
                        Code::InvalidDate,
                        path,
                        None,
                        format!("{s:?} is not a date in the form YYYY-MM-DD"),
                    );
                }
            }
        },
        Shape::State => match value.as_str() {
            None => wrong(r, "a State code as text, such as \"FR\""),
            Some(s) => check_state(s, path, r),
        },
        Shape::Bool => {
            if !value.is_boolean() {
                wrong(r, "true or false");
            }
        }
        Shape::Integer { min } => match value.as_i64() {
            None => wrong(r, "a whole number"),
            Some(n) if n < min => {
                r.error(
                    Code::BelowMinimum,
                    path,
                    None,
                    format!("{n} is below the minimum of {min}"),
                );
            }
            Some(_) => {}
        },
        Shape::Number => match value.as_f64() {
            None => wrong(r, "a number"),
            Some(n) if n < 0.0 => r.error(Code::BelowMinimum, path, None, "must not be negative"),
            Some(_) => {}
        },
        Shape::OneOf(words) => match value.as_str() {
            None => wrong(r, "text"),
            Some(s) if words.contains(&s) => {}
            Some(s) => r.error(
                Code::NotOneOf,
                path,
                None,
                format!("{s:?} is not one of: {}", words.join(", ")),
            ),
        },
        Shape::Object => match value.as_object() {
            None => wrong(r, "an object"),
            Some(obj) => check_fields(fields, obj, &format!("{pattern}."), &format!("{path}."), r),
        },
        Shape::ListOfObjects => match value.as_array() {
            None => wrong(r, "a list"),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_object() {
                        Some(obj) => check_fields(
                            fields,
                            obj,
                            &format!("{pattern}[]."),
                            &format!("{path}[{i}]."),
                            r,
                        ),
                        None => r.error(
                            Code::WrongType,
                            format!("{path}[{i}]"),
                            None,
                            format!("expected an object, found {}", describe(item)),
                        ),
                    }
                }
            }
        },
        Shape::ListOfText | Shape::ListOfStates => match value.as_array() {
            None => wrong(r, "a list"),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    match (item.as_str(), shape) {
                        (Some(s), Shape::ListOfStates) => check_state(s, &item_path, r),
                        (Some(s), _) if !s.trim().is_empty() => {}
                        _ => r.error(
                            Code::WrongType,
                            item_path,
                            None,
                            format!("expected non-empty text, found {}", describe(item)),
                        ),
                    }
                }
            }
        },
        Shape::ListOfGrounds | Shape::ListOfPackageIds => match value.as_array() {
            None => wrong(r, "a list"),
            Some(items) => check_codes(shape, items, path, r),
        },
        Shape::ThreadId => match value.as_str() {
            None => wrong(r, "a request id as text, thr-…"),
            Some(s) if is_thread_id(s) => {}
            Some(s) => r.error(
                Code::InvalidThreadId,
                path,
                None,
                format!("{s:?} is not a request id (thr- and a lower-case UUID)"),
            ),
        },
    }
}

fn check_state(s: &str, path: &str, r: &mut Report) {
    match s.parse::<StateCode>() {
        Err(e) => r.error(Code::InvalidState, path, None, e.to_string()),
        Ok(code) if !code.is_known() => r.error(
            Code::UnknownState,
            path,
            None,
            format!("{s:?} is not an assigned ISO 3166-1 alpha-2 code or a known organisation"),
        ),
        Ok(_) => {}
    }
}

/// Reports every required item that is missing, and every recommended one as a warning.
fn check_items<'i>(
    fields: &[Field],
    items: impl IntoIterator<Item = &'i contents::Item>,
    draft: &Value,
    r: &mut Report,
) {
    for item in items {
        if item
            .unless
            .is_some_and(|waiver| lookup(draft, waiver) == Some(&Value::Bool(true)))
        {
            continue;
        }
        // A list of package ids may be empty: it says that none was sent.
        let may_be_empty = fields
            .iter()
            .any(|f| f.path == item.path && f.shape == Shape::ListOfPackageIds);
        for (path, value) in resolve(draft, item.path) {
            if value.is_some_and(|v| !is_absent(v) || (may_be_empty && v.is_array())) {
                continue;
            }
            let (severity, code) = match item.need {
                Need::Required => (Severity::Error, Code::MissingRequired),
                Need::Recommended => (Severity::Warning, Code::RecommendedMissing),
                Need::Optional => continue,
            };
            r.push(severity, code, path, Some(item.article), item.sentence);
        }
    }
}

/// The rules that tie fields together.
fn check_rules(kind: RequestKind, draft: &Value, r: &mut Report) {
    let text = |p: &str| {
        lookup(draft, p)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };

    if let (Some(a), Some(b)) = (text("requesting_state"), text("requested_state"))
        && a == b
    {
        r.error(
            Code::SameState,
            "requested_state",
            None,
            "a request goes to another State; requesting and requested States are the same",
        );
    }

    if let Some(basis @ ("bilateral" | "multilateral")) = text("legal_basis.basis")
        && text("legal_basis.treaty").is_none()
    {
        r.error(
            Code::MissingRequired,
            "legal_basis.treaty",
            Some(article::MLA),
            format!("Name the {basis} treaty or instrument the request rests on."),
        );
    }

    if text("requesting_authority.email").is_none() && text("requesting_authority.phone").is_none()
    {
        r.push(
            Severity::Warning,
            Code::RecommendedMissing,
            "requesting_authority",
            Some(article::MLA),
            "Give an e-mail address or telephone number so the requested State can ask questions.",
        );
    }

    if let Some(deadline) = lookup(draft, "deadline").filter(|v| !is_absent(v)) {
        if deadline.get("date").is_none_or(is_absent) {
            r.error(
                Code::MissingRequired,
                "deadline.date",
                Some(clock::DEADLINE_REASONS.article),
                "A proposed deadline needs its date.",
            );
        }
        if deadline.get("reasons").is_none_or(is_absent) {
            r.error(
                Code::DeadlineWithoutReasons,
                "deadline.reasons",
                Some(clock::DEADLINE_REASONS.article),
                clock::DEADLINE_REASONS.sentence,
            );
        }
    }

    if let Some(days) = lookup(draft, "preservation_days").and_then(Value::as_i64) {
        let min = clock::PRESERVATION_MINIMUM;
        if days < i64::from(min.days) {
            // The minimum binds the preservation the requested State
            // carries out (the case's clock enforces it); asking for less
            // is worth a warning, not a refusal.
            r.push(
                Severity::Warning,
                Code::PreservationTooShort,
                "preservation_days",
                Some(min.article),
                format!(
                    "{days} days were asked; the requested State preserves the data for at least {} days",
                    min.days
                ),
            );
        }
    }

    for p in ["data.period", "collection_period"] {
        let from = text(&format!("{p}.from")).and_then(parse_date);
        let to = text(&format!("{p}.to")).and_then(parse_date);
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            r.error(
                Code::PeriodReversed,
                format!("{p}.to"),
                None,
                format!("the period ends ({to}) before it begins ({from})"),
            );
        }
    }

    if kind == RequestKind::Preservation
        && lookup(draft, "follow_up_mla") == Some(&Value::Bool(false))
    {
        r.error(
            Code::FollowUpRequired,
            "follow_up_mla",
            Some(article::PRESERVATION),
            "A preservation request must state that a request for mutual assistance will follow.",
        );
    }

    if let Some(offences) = lookup(draft, "offences").and_then(Value::as_array) {
        let threshold = clock::SERIOUS_CRIME_MIN_PENALTY_YEARS;
        for (i, o) in offences.iter().enumerate() {
            if o.get("category").and_then(Value::as_str) != Some("serious-crime") {
                continue;
            }
            let path = format!("offences[{i}].max_penalty_years");
            match o.get("max_penalty_years").and_then(Value::as_f64) {
                None if o.get("max_penalty_years").is_none_or(is_absent) => r.error(
                    Code::MissingRequired,
                    path,
                    Some(article::DEFINITIONS),
                    format!("Give the maximum penalty: serious crime means at least {threshold} years' deprivation of liberty."),
                ),
                Some(y) if y < f64::from(threshold) => r.error(
                    Code::NotSeriousCrime,
                    path,
                    Some(article::DEFINITIONS),
                    format!("a maximum penalty of {y} years is below the {threshold} years that define serious crime"),
                ),
                _ => {}
            }
        }
        if kind == RequestKind::Interception {
            check_interception_offences(offences, r);
        }
    }
}

/// Interception of content data is for serious crime: an offence whose
/// maximum penalty is given and falls below the threshold gets a warning
/// (domestic law sets the range of offences, so it is not an error). An
/// offence given as serious crime is already checked above.
fn check_interception_offences(offences: &[Value], r: &mut Report) {
    let threshold = clock::SERIOUS_CRIME_MIN_PENALTY_YEARS;
    for (i, o) in offences.iter().enumerate() {
        if o.get("category").and_then(Value::as_str) == Some("serious-crime") {
            continue;
        }
        if let Some(y) = o.get("max_penalty_years").and_then(Value::as_f64)
            && y < f64::from(threshold)
        {
            r.push(
                Severity::Warning,
                Code::InterceptionNotSeriousCrime,
                format!("offences[{i}].max_penalty_years"),
                Some(article::INTERCEPTION),
                format!(
                    "interception is asked for an offence punishable by at most {y} years; serious crime means at least {threshold} years' deprivation of liberty"
                ),
            );
        }
    }
}

/// The concrete places a path pattern points at. `a.b` yields one place
/// (present or not); `list[].x` yields one place per list item, none when the
/// list itself is missing (the list's own item reports that).
fn resolve<'v>(root: &'v Value, pattern: &str) -> Vec<(String, Option<&'v Value>)> {
    let mut places: Vec<(String, Option<&'v Value>)> = vec![(String::new(), Some(root))];
    let segments: Vec<&str> = pattern.split('.').collect();
    for (n, seg) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        let (name, is_list) = match seg.strip_suffix("[]") {
            Some(name) => (name, !last),
            None => (*seg, false),
        };
        let mut next = Vec::new();
        for (path, value) in places {
            let joined = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            let child = value.and_then(|v| v.get(name));
            if is_list {
                if let Some(items) = child.and_then(Value::as_array) {
                    for (i, item) in items.iter().enumerate() {
                        next.push((format!("{joined}[{i}]"), Some(item)));
                    }
                }
            } else {
                next.push((joined, child));
            }
        }
        places = next;
    }
    places
}

/// The value at a dotted path without lists, if present.
fn lookup<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(root, |v, seg| v.get(seg))
}

fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses `YYYY-MM-DD` into a calendar date.
pub fn parse_date(s: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).ok()
}

/// The known field at the same level whose name is closest to a misspelt one.
fn nearest_field<'f>(fields: &'f [Field], prefix: &str, key: &str) -> Option<&'f str> {
    fields
        .iter()
        .filter_map(|f| f.path.strip_prefix(prefix))
        .filter(|rest| !rest.contains('.'))
        .map(|name| (edit_distance(name, key), name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_ignored_and_positions_kept() {
        let text =
            "// head\n{ /* a */ \"a\": \"x // not a comment\", // tail\n \"b\": \"/* kept */\" }";
        let v = parse(text).unwrap();
        assert_eq!(v["a"], "x // not a comment");
        assert_eq!(v["b"], "/* kept */");
        let err = parse("// c\n{\n  \"a\": ").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let r = validate_text(&deep);
        assert_eq!(r.issues[0].code, Code::Unreadable);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("facts", "facts"), 0);
        assert_eq!(edit_distance("facts", "fact"), 1);
        assert_eq!(edit_distance("facts", "fcats"), 2);
        assert_eq!(nearest_field(contents::FIELDS, "", "fcts"), Some("facts"));
        assert_eq!(
            nearest_field(contents::FIELDS, "data.", "custodain"),
            Some("custodian")
        );
    }

    #[test]
    fn resolve_expands_lists_and_reports_missing_leaves() {
        let v: Value = serde_json::json!({"offences": [{"category": "art-7"}, {}], "data": {}});
        let got: Vec<_> = resolve(&v, "offences[].category")
            .into_iter()
            .map(|(p, v)| (p, v.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("offences[0].category".to_owned(), true),
                ("offences[1].category".to_owned(), false)
            ]
        );
        let got: Vec<_> = resolve(&v, "data.period.from")
            .into_iter()
            .map(|(p, v)| (p, v.is_some()))
            .collect();
        assert_eq!(got, vec![("data.period.from".to_owned(), false)]);
        assert!(resolve(&v, "persons[].name").is_empty());
    }

    /// A kind's template, read as a value (it validates as printed).
    fn template(kind: RequestKind) -> Value {
        parse(&crate::template::render(kind)).unwrap()
    }

    fn issues_at<'r>(r: &'r Report, path: &str) -> Vec<&'r Issue> {
        r.issues.iter().filter(|i| i.path == path).collect()
    }

    #[test]
    fn a_request_for_the_service_of_documents_needs_no_summary_of_facts() {
        let mut d = template(RequestKind::Mla);
        d.as_object_mut().unwrap().remove("facts");
        let r = validate(&d);
        let facts = issues_at(&r, "facts");
        assert_eq!(facts.len(), 1, "{:#?}", r.issues);
        assert_eq!(facts[0].code, Code::MissingRequired);
        assert_eq!(facts[0].article, Some(article::MLA));

        d["assistance"]["service_of_documents"] = Value::Bool(true);
        let r = validate(&d);
        assert!(r.issues.is_empty(), "{:#?}", r.issues);

        // Only a general MLA request is waived: stored data still needs the facts.
        let mut d = template(RequestKind::StoredData);
        d.as_object_mut().unwrap().remove("facts");
        d["assistance"]["service_of_documents"] = Value::Bool(true);
        let r = validate(&d);
        assert_eq!(issues_at(&r, "facts")[0].code, Code::MissingRequired);
    }

    #[test]
    fn real_time_collection_and_interception_cite_their_own_articles() {
        for (kind, art) in [
            (RequestKind::RealTimeTraffic, article::REAL_TIME_TRAFFIC),
            (RequestKind::Interception, article::INTERCEPTION),
        ] {
            let mut d = template(kind);
            let obj = d.as_object_mut().unwrap();
            for key in ["facts", "necessity", "collection_period"] {
                obj.remove(key);
            }
            obj["data"].as_object_mut().unwrap().remove("custodian");
            let r = validate(&d);
            for path in [
                "facts",
                "necessity",
                "collection_period.from",
                "collection_period.to",
                "collection_period.justification",
                "data.custodian",
            ] {
                let found = issues_at(&r, path);
                assert_eq!(found.len(), 1, "{kind} {path}: {:#?}", r.issues);
                assert_eq!(found[0].article, Some(art), "{kind} {path}");
            }
        }
    }

    #[test]
    fn interception_for_an_offence_that_is_not_serious_crime_is_a_warning() {
        let mut d = template(RequestKind::Interception);
        d["offences"][0]["max_penalty_years"] = 2.into();
        let r = validate(&d);
        assert!(r.is_valid(), "{:#?}", r.issues);
        let w = issues_at(&r, "offences[0].max_penalty_years");
        assert_eq!(w.len(), 1, "{:#?}", r.issues);
        assert_eq!(w[0].code, Code::InterceptionNotSeriousCrime);
        assert_eq!(w[0].severity, Severity::Warning);
        assert_eq!(w[0].article, Some(article::INTERCEPTION));

        // Without a penalty, the warning asks for one.
        d["offences"][0]
            .as_object_mut()
            .unwrap()
            .remove("max_penalty_years");
        let r = validate(&d);
        let w = issues_at(&r, "offences[0].max_penalty_years");
        assert_eq!(w[0].code, Code::RecommendedMissing, "{:#?}", r.issues);

        // Four years or more is serious crime; other kinds are not concerned.
        d["offences"][0]["max_penalty_years"] = 4.into();
        assert!(validate(&d).issues.is_empty());
        let mut d = template(RequestKind::StoredData);
        d["offences"][0]["max_penalty_years"] = 2.into();
        assert!(validate(&d).issues.is_empty());
    }

    #[test]
    fn a_preservation_shorter_than_sixty_days_is_a_warning() {
        let mut d = template(RequestKind::Preservation);
        assert_eq!(d["preservation_days"], 90);
        d["preservation_days"] = 30.into();
        let r = validate(&d);
        assert!(r.is_valid(), "{:#?}", r.issues);
        assert_eq!(r.issues.len(), 1, "{:#?}", r.issues);
        assert_eq!(r.issues[0].code, Code::PreservationTooShort);
        assert_eq!(r.issues[0].severity, Severity::Warning);
        assert_eq!(r.issues[0].article, Some(article::PRESERVATION));
        d["preservation_days"] = 60.into();
        assert!(validate(&d).issues.is_empty());
    }

    #[test]
    fn a_draft_over_the_limit_is_refused_before_it_is_read() {
        let filler = "x".repeat(MAX_DRAFT_BYTES);
        let text = format!("{{\"format\": \"{filler}\"}}");
        let r = validate_text(&text);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].code, Code::TooLarge);
        assert!(
            r.issues[0].message.contains("1 MiB"),
            "{}",
            r.issues[0].message
        );
        assert!(Code::TooLarge.meaning().contains("1 MiB"));
        assert_eq!(MAX_DRAFT_BYTES, 1 << 20);
        // Right at the limit the draft is read (and here found wanting).
        let at_limit = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_DRAFT_BYTES - 8));
        assert_eq!(at_limit.len(), MAX_DRAFT_BYTES);
        assert_ne!(validate_text(&at_limit).issues[0].code, Code::TooLarge);
    }

    #[test]
    fn a_bilateral_or_multilateral_basis_names_its_instrument() {
        for basis in ["bilateral", "multilateral"] {
            let mut d = template(RequestKind::Mla);
            d["legal_basis"]["basis"] = basis.into();
            let r = validate(&d);
            let found = issues_at(&r, "legal_basis.treaty");
            assert_eq!(found.len(), 1, "{basis}: {:#?}", r.issues);
            assert_eq!(found[0].code, Code::MissingRequired);
            d["legal_basis"]["treaty"] = "Convention on mutual assistance (1959)".into();
            assert!(validate(&d).issues.is_empty(), "{basis}");
        }
        let mut d = template(RequestKind::Mla);
        d["legal_basis"]["basis"] = "reciprocity".into();
        assert!(validate(&d).issues.is_empty());
    }

    #[test]
    fn a_non_object_draft_is_one_clear_error() {
        let r = validate_text("[1, 2]");
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].code, Code::WrongType);
        let r = validate_text("{ \"format\": ");
        assert_eq!(r.issues[0].code, Code::Unreadable);
        assert!(
            r.issues[0].message.contains("line 1"),
            "{}",
            r.issues[0].message
        );
    }
}
