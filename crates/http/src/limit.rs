//! Bounds on what one client can hold of the server: open connections per
//! peer address, and the time its headers and bodies may take.
//!
//! [`PerAddress`] is an `axum-server` acceptor placed before TLS: a
//! connection over its address's limit is closed as soon as it is accepted,
//! before a handshake or a byte of HTTP is spent on it, and every admitted
//! connection carries a guard that gives its place back when it closes. So
//! a peer that opens hundreds of idle connections keeps its own few and
//! never the server's capacity: others, from other addresses, are still
//! answered. The time limits themselves are set on the HTTP builder and on
//! the routes ([`ServerLimits`]).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The server's limits on connections and on the time a request may take to arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections one peer address may hold open at once.
    pub max_connections_per_address: u32,
    /// How long a client may take to send a request's headers (and, on a
    /// new connection, its first request's headers).
    pub header_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections_per_address: 128,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// How long a message or client API request body may take in all.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// How long an evidence segment's body may go without a byte. Segments
/// stream for as long as their size needs, so there is no total limit.
pub const SEGMENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The acceptor that limits open connections per peer address.
#[derive(Clone, Debug)]
pub struct PerAddress {
    limit: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl PerAddress {
    pub fn new(limit: u32) -> Self {
        PerAddress {
            limit: limit.max(1),
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a place for `ip`, or `None` when its connections are at the limit.
    fn admit(&self, ip: IpAddr) -> Option<Place> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Place {
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

impl<S> Accept<TcpStream, S> for PerAddress {
    type Stream = Counted<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream.peer_addr().and_then(|peer| {
            let ip = peer.ip();
            self.admit(ip).ok_or_else(|| {
                tracing::warn!(%ip, limit = self.limit, "too many connections from one address; closed a new one");
                io::Error::other(format!(
                    "{ip} already holds {} connections, the limit",
                    self.limit
                ))
            })
        });
        std::future::ready(admitted.map(|place| {
            (
                Counted {
                    inner: stream,
                    _place: place,
                },
                service,
            )
        }))
    }
}

/// An admitted connection's place, given back when the connection is dropped.
#[derive(Debug)]
struct Place {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A stream that holds its address's place while it is open.
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    _place: Place,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_given_back() {
        let limit = PerAddress::new(2);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = limit.admit(a).expect("first");
        let _second = limit.admit(a).expect("second");
        assert!(limit.admit(a).is_none(), "a third from the same address");
        assert!(limit.admit(b).is_some(), "another address is not affected");
        drop(first);
        assert!(
            limit.admit(a).is_some(),
            "a closed connection frees its place"
        );
    }
}
