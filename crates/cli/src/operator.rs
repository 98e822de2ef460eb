//! Who is at the keyboard: the operator every action of the CLI is
//! recorded under.
//!
//! The name is `CUSTOS_OPERATOR` when it is set (an officer's own name when
//! several people share the account that runs the node's files), else the
//! name of the operating-system account running the process, looked up by
//! its user id rather than read from `USER`. No action is recorded
//! unnamed: when neither gives a usable name, the command stops before it
//! does anything and says how to give one.

use std::env::VarError;

use anyhow::bail;
use custos_node::Actor;

/// The environment variable that names the operator.
pub const ENV: &str = "CUSTOS_OPERATOR";

/// The longest operator name, in characters.
const MAX_CHARS: usize = 64;

/// The operator running this command.
pub fn operator() -> anyhow::Result<Actor> {
    let name = match std::env::var(ENV) {
        Ok(name) => name,
        Err(VarError::NotUnicode(_)) => bail!("{ENV} is not valid UTF-8: set it to your name"),
        Err(VarError::NotPresent) => match whoami::username() {
            Ok(name) => name,
            Err(e) => bail!(
                "cannot tell who is acting: the operating system gives no name for this account ({e}); \
                 set {ENV} to your name (every action is recorded with the name of the person who took it)"
            ),
        },
    };
    check(&name)?;
    Ok(Actor::Cli { user: name })
}

/// Refuses a name that would not identify anyone in the record, or that
/// would garble a log line or a terminal.
fn check(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty() {
        bail!("{ENV} is empty: set it to your name");
    }
    if name.trim() != name {
        bail!("{ENV} begins or ends with spaces: set it to your name alone");
    }
    if name.chars().count() > MAX_CHARS {
        bail!("{ENV} is longer than {MAX_CHARS} characters");
    }
    if name.chars().any(char::is_control) {
        bail!("{ENV} holds a control character: set it to your name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_identifies_no_one_is_refused() {
        for bad in ["", "   ", " ana", "ana\n", "a\u{1b}[31m", &"x".repeat(65)] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["ana", "Ana María Pérez", "duty-officer.fr", &"x".repeat(64)] {
            assert!(check(good).is_ok(), "{good:?} was refused");
        }
    }
}
