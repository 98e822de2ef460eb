//! A desk page's failure, rendered as a page in the person's language: the
//! node's typed error decides the status (through its stable code) and the
//! message names what was wrong, never case content the person may not see.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_node::NodeError;
use custos_protocol::ErrorCode;

/// A failed desk request.
#[derive(Debug)]
pub struct DeskError {
    pub status: StatusCode,
    /// The stable code (`forbidden`, `not-found`, ...).
    pub code: &'static str,
    pub message: String,
}

impl From<NodeError> for DeskError {
    fn from(e: NodeError) -> Self {
        let code = e.public_code();
        let message = if code == ErrorCode::Internal {
            tracing::error!(error = %e, "desk: internal error");
            "internal error; see the node's log".to_owned()
        } else {
            e.to_string()
        };
        DeskError {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.as_str(),
            message,
        }
    }
}

impl IntoResponse for DeskError {
    fn into_response(self) -> Response {
        let body = maud::html! {
            main."error" {
                h1 { (self.status.as_u16()) " " (self.code) }
                p { (self.message) }
                p { a href=(crate::PREFIX) { "↩" } }
            }
        };
        (self.status, body).into_response()
    }
}
