//! The node's HTTP router called without a socket: one request in, one reply out.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use tower::ServiceExt as _;

use crate::{KitError, TEST_PEER, TestNode};

/// What the router answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The stable error code of an error answer (`{"error": {"code": ...}}`).
    pub fn code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_owned)
    }

    /// The status and error code, for a one-line comparison.
    pub fn refusal(&self) -> (u16, Option<String>) {
        (self.status.as_u16(), self.code())
    }
}

impl TestNode {
    /// The node's router, as `custos serve` serves it.
    pub fn router(&self) -> Router {
        custos_http::router(Arc::clone(&self.node))
    }

    /// Sends `request` through a fresh router; when the request names no
    /// peer address, it comes from [`TEST_PEER`].
    pub async fn call(&self, mut request: Request<Body>) -> Result<Reply, KitError> {
        if request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_none()
        {
            let peer: SocketAddr = TEST_PEER
                .parse()
                .map_err(|e| KitError::Setup(format!("{TEST_PEER}: {e}")))?;
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = match self.router().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| KitError::Setup(format!("reading the router's answer: {e}")))?;
        Ok(Reply {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// `GET path`, with `Authorization: Bearer <token>` when a token is given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, KitError> {
        self.call(request(Method::GET, path, token, Vec::new(), None)?)
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, KitError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| KitError::Setup(format!("encoding the body: {e}")))?;
        self.call(request(
            Method::POST,
            path,
            token,
            bytes,
            Some("application/json"),
        )?)
        .await
    }

    /// `POST path` with raw bytes, as one node posts a message to another.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Reply, KitError> {
        self.call(request(
            Method::POST,
            path,
            None,
            body,
            Some("application/octet-stream"),
        )?)
        .await
    }
}

/// A request with an optional bearer token and content type.
pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Result<Request<Body>, KitError> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if let Some(kind) = content_type {
        builder = builder.header("content-type", kind);
    }
    builder
        .body(Body::from(body))
        .map_err(|e| KitError::Setup(format!("building a request to {path}: {e}")))
}
