//! Reading and writing the JSON documents of the protocol: the version check
//! that comes before the shape check (so that a newer document is reported as
//! a version problem, not as a pile of unknown fields), and canonical
//! encoding with failures turned into this crate's error.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ProtocolError;

/// The protocol version every document of this crate carries in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Why a versioned document could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Not JSON, not an object, `v` missing or not a whole number, or a
    /// field that does not fit: the text says which.
    Shape(String),
    /// `v` is a whole number other than 1.
    Version(String),
}

/// Finds the field of a document that does not read, to name it in the
/// error (serde's own messages name unknown and missing fields, but not the
/// field whose value is wrong).
pub(crate) type Diagnose = fn(&Map<String, Value>) -> Option<String>;

/// The problem with field `name` if it is present and does not read as `T`.
pub(crate) fn field<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
) -> Option<String> {
    let value = object.get(name)?;
    T::deserialize(value)
        .err()
        .map(|e| format!("field `{name}`: {e}"))
}

/// The problem with field `name` if it is present and `read` refuses it.
pub(crate) fn field_by(
    object: &Map<String, Value>,
    name: &str,
    read: fn(&Value) -> Result<(), serde_json::Error>,
) -> Option<String> {
    let value = object.get(name)?;
    read(value).err().map(|e| format!("field `{name}`: {e}"))
}

/// Reads a timestamp field, for [`field_by`].
pub(crate) fn timestamp(value: &Value) -> Result<(), serde_json::Error> {
    crate::timestamp::micros::deserialize(value).map(drop)
}

/// The problem with list field `name`, naming the first item that does not
/// read as `T`.
pub(crate) fn list_field<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
) -> Option<String> {
    match object.get(name)? {
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            T::deserialize(item)
                .err()
                .map(|e| format!("field `{name}[{i}]`: {e}"))
        }),
        _ => Some(format!("field `{name}` must be a list")),
    }
}

/// The version member of a document, every other member skipped unread.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    v: Option<u64>,
}

/// Parses `bytes` as a JSON object whose `v` is [`PROTOCOL_VERSION`], then
/// reads it into `T`; `diagnose` names the field when a value is wrong.
pub(crate) fn read_versioned<T: DeserializeOwned>(
    bytes: &[u8],
    diagnose: Diagnose,
) -> Result<T, ReadError> {
    // The usual case, a well-formed document of this version, is read
    // straight into `T`, without building the whole tree first (and
    // copying every nested value out of it again). Anything else takes the
    // path below, which gives the same result with the precise error.
    // (Only an object: serde would also read a struct from an array.)
    if bytes.trim_ascii_start().first() == Some(&b'{')
        && let Ok(Head { v: Some(v) }) = serde_json::from_slice::<Head>(bytes)
        && v == u64::from(PROTOCOL_VERSION)
        && let Ok(read) = serde_json::from_slice::<T>(bytes)
    {
        return Ok(read);
    }
    read_tree(bytes, diagnose)
}

/// [`read_versioned`] by way of the whole tree: what the fast path must
/// agree with.
fn read_tree<T: DeserializeOwned>(bytes: &[u8], diagnose: Diagnose) -> Result<T, ReadError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ReadError::Shape(format!("not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ReadError::Shape("not a JSON object".to_owned()));
    };
    match object.get("v") {
        None => return Err(ReadError::Shape("field `v` is missing".to_owned())),
        Some(v) => match v.as_u64() {
            Some(n) if n == u64::from(PROTOCOL_VERSION) => {}
            Some(other) => return Err(ReadError::Version(other.to_string())),
            None => {
                return Err(ReadError::Shape(format!(
                    "field `v` must be a whole number, found {v}"
                )));
            }
        },
    }
    T::deserialize(&value)
        .map_err(|e| ReadError::Shape(diagnose(object).unwrap_or_else(|| e.to_string())))
}

/// The RFC 8785 bytes of `value`.
pub(crate) fn canonical<T: Serialize + ?Sized>(
    what: &str,
    value: &T,
) -> Result<Vec<u8>, ProtocolError> {
    custos_seal::canonical_json(value).map_err(|e| ProtocolError::Encoding {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn both(bytes: &[u8]) -> (Result<Message, String>, Result<Message, String>) {
        let text = |e: ReadError| format!("{e:?}");
        let diagnose: Diagnose = |_| None;
        (
            read_versioned::<Message>(bytes, diagnose).map_err(text),
            read_tree::<Message>(bytes, diagnose).map_err(text),
        )
    }

    #[test]
    fn reading_straight_into_the_type_agrees_with_reading_the_tree() {
        let good = r#"{"v":1,"kind":"acknowledge","from":"FR","to":"DE","created_at":"2026-11-01T12:00:00.000000Z","thread":"thr-0193b3c4-d5e6-7f80-91a2-b3c4d5e6f708","prev":null,"body":{"note":"x","n":[1,2.5,{"a":null}]}}"#;
        let cases: Vec<String> = vec![
            good.to_owned(),
            format!("  \n{good}"),
            // An array: serde would read a struct from it; the tree refuses it.
            r#"[1,"acknowledge","FR","DE","2026-11-01T12:00:00.000000Z","thr-0193b3c4-d5e6-7f80-91a2-b3c4d5e6f708",null,{}]"#.to_owned(),
            // A repeated member: the tree keeps the last.
            good.replacen(r#""kind":"acknowledge""#, r#""kind":"close","kind":"acknowledge""#, 1),
            good.replacen(r#""v":1"#, r#""v":1,"v":1"#, 1),
            good.replacen(r#""v":1"#, r#""v":1.0"#, 1),
            good.replacen(r#""v":1"#, r#""v":2"#, 1),
            good.replacen(r#""v":1,"#, "", 1),
            good.replacen(r#""from":"FR""#, r#""from":"fr""#, 1),
            good.replacen(r#","body""#, r#","extra":1,"body""#, 1),
            format!("{good} x"),
            "{}".to_owned(),
            "null".to_owned(),
        ];
        let mut read = 0;
        for case in &cases {
            let (fast, tree) = both(case.as_bytes());
            assert_eq!(fast, tree, "{case}");
            read += usize::from(fast.is_ok());
        }
        // The well-formed document, with and without leading space, and the
        // two with a repeated member, which the tree reads (the last wins).
        assert_eq!(read, 4);
    }
}
