//! The federation wire protocol of Custos, version 1: the messages nodes
//! exchange, how they are sealed (RFC 8785 bytes, DSSE signature, age
//! encryption) and opened, the signed receipts that answer them, the signed
//! directory that says which keys speak for which State, and the stable error
//! codes a node refuses input with.
//!
//! The crate is pure: no network, no file system, no database and no clock.
//! Every function that depends on the time takes `now` from the caller. The
//! byte formats and the order of the checks are written down in
//! `docs/formats/messages.md` and `docs/formats/directory.md`.

pub mod case_bodies;
mod directory;
mod error;
pub mod evidence;
pub mod evidence_transfer;
pub mod evidence_upload;
pub mod federation;
mod ids;
mod json;
mod message;
mod receipt;
pub mod routes;
mod sealed;
pub mod text;
pub mod timestamp;
pub mod use_limits;

pub use directory::{
    DIRECTORY_ENTRY_PAYLOAD_TYPE, DIRECTORY_PAYLOAD_TYPE, Directory, DirectoryEntry, DirectoryList,
    KeyValidity,
};
pub use error::{
    ErrorCode, ErrorDetail, ErrorResponse, ProtocolError, TextFormError, UnknownErrorCode,
};
pub use ids::{MessageId, check_thread_id, new_thread_id, thread_id_at};
pub use json::PROTOCOL_VERSION;
pub use message::{
    Body, Message, MessageKind, NoteBody, RefuseBody, SubmitBody, UnknownKind, check_thread_link,
    validate_body, validate_message, validate_submission,
};
pub use receipt::{RECEIPT_PAYLOAD_TYPE, Receipt, sign_receipt, verify_receipt};
pub use sealed::{
    DEFAULT_MAX_MESSAGE_BYTES, MAX_CLOCK_AHEAD, MAX_MESSAGE_AGE, OpenedMessage, SealedMessage,
    open_message, seal_message, seal_submission, verify_message_envelope,
};
