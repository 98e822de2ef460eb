//! The next step an error names: every failure of a command ends with a
//! `hint:` line saying what to do about it.
//!
//! A command that knows the remedy attaches it where the error arises
//! ([`Hinted::hint`]); otherwise the kind of failure found in the error's
//! chain of causes gives it (a State missing from the directory, a port in
//! use, a missing registry key, an output folder that is not empty), and a
//! failure of no known kind points to the command's `--help`.

use std::fmt;

use custos_node::NodeError;

/// An error with the next step its command knows for it.
#[derive(Debug)]
pub struct WithHint {
    error: anyhow::Error,
    hint: String,
}

impl fmt::Display for WithHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for WithHint {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Attaches a next step to a failure.
pub trait Hinted<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Hinted<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            anyhow::Error::new(WithHint {
                error: e.into(),
                hint: hint.into(),
            })
        })
    }
}

/// The next step for `e`: the one attached, else the one its kind of
/// failure calls for, else the command's `--help`.
pub fn for_error(e: &anyhow::Error) -> String {
    if let Some(h) = e.downcast_ref::<WithHint>() {
        return h.hint.clone();
    }
    for cause in e.chain() {
        if let Some(n) = cause.downcast_ref::<NodeError>()
            && let Some(h) = for_node_error(n)
        {
            return h;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::AddrInUse
        {
            return "another program (perhaps another node: each defaults to 127.0.0.1:7700) \
                    already listens on that address; choose another with `--listen 127.0.0.1:PORT` \
                    or `http.listen` in the node's custos.toml"
                .to_owned();
        }
    }
    "run the same command with --help to see what it expects".to_owned()
}

fn for_node_error(e: &NodeError) -> Option<String> {
    Some(match e {
        NodeError::NotInDirectory(cc) => format!(
            "nothing was sent. {cc} has no entry in the directory this node holds: check the \
             State code (`custos directory show` lists the States), or import a signed directory \
             that lists it (`custos directory import FILE`)"
        ),
        NodeError::NoRegistryKey => {
            "give the registry's public key once: `custos directory import \
             FILE --registry-key ed25519:...` (the key the registry operator publishes), or set \
             directory.registry_key in the node's custos.toml"
                .to_owned()
        }
        NodeError::NoDirectory => {
            "import the signed directory first: `custos directory import FILE`".to_owned()
        }
        NodeError::OutputFolder { .. } => {
            "choose an empty folder, or a name that does not exist yet (it is created)".to_owned()
        }
        NodeError::NoEncryptionKey(cc) => format!(
            "import a directory in which {cc} publishes a current encryption key \
             (`custos directory import FILE`)"
        ),
        NodeError::SampleDraft(_) => "replace the example values with the case's own, the \
             reference first; to send the example as it is (to try a network), add --allow-sample"
            .to_owned(),
        NodeError::NotFound(_) => {
            "list what the node holds with `custos request list` or `custos case list`".to_owned()
        }
        _ => return None,
    })
}
