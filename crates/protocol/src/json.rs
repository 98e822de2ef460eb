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

/// Parses `bytes` as a JSON object whose `v` is [`PROTOCOL_VERSION`], then
/// reads it into `T`; `diagnose` names the field when a value is wrong.
pub(crate) fn read_versioned<T: DeserializeOwned>(
    bytes: &[u8],
    diagnose: Diagnose,
) -> Result<T, ReadError> {
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
