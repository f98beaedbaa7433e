//! The HTTP server loop and the time limits on requests.
//!
//! `axum::serve` offers no header-read timeout, so connections are served by hyper-util's
//! builder directly (HTTP/1 and HTTP/2 as before):
//!
//! - **Header read** (`V2CLIENT_HEADER_READ_TIMEOUT`, 10 s): a new connection must send
//!   its first byte in this time (the builder waits for it to tell HTTP/1 from HTTP/2, and
//!   hyper's own timeout only starts after that: [`FirstByte`] covers the gap); an HTTP/1
//!   client that has not sent a request's complete headers in this time, including on an
//!   idle kept-alive connection, is disconnected by hyper. HTTP/2 has no per-request
//!   header timeout; its streams are held to the two limits below.
//! - **Body read** (`V2CLIENT_BODY_READ_TIMEOUT`, 60 s): the whole body must arrive within
//!   this time of the headers ([`crate::observe::edge`] wraps it in a deadline); a body read
//!   past it fails with `408 REQUEST_TIMEOUT`.
//! - **Whole request** (`V2CLIENT_REQUEST_TIMEOUT`, 120 s): a request not answered in this
//!   time is answered `408 REQUEST_TIMEOUT` and its handler dropped. Every write is a
//!   transaction, so a dropped handler leaves nothing half-written; image work already
//!   started on the blocking pool finishes and its result is discarded.
//!
//! Together they bound how long a slow client can hold a connection's task and what it
//! buffered, whatever it does.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

/// Serve `router` on `listener` until `shutdown` resolves; then stop accepting and give
/// open connections until `drain` to finish their requests. Each request carries its
/// peer's address (`ConnectInfo<SocketAddr>`), which the throttles count by.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            tower::ServiceExt::map_request(router.clone(), move |req| with_peer(req, peer));
        let io = TokioIo::new(FirstByte::new(stream, header_read_timeout));
        let conn = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Clients that go away mid-request are routine; nothing of theirs is logged.
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!(?drain, "shutdown deadline passed; dropping unfinished requests");
        }
    }
    Ok(())
}

fn with_peer<B>(mut req: axum::http::Request<B>, peer: SocketAddr) -> axum::http::Request<B> {
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// A connection that must send its first byte before a deadline, or reads fail with
/// `TimedOut` (which closes it). After the first byte, nothing changes.
struct FirstByte<T> {
    inner: T,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> FirstByte<T> {
    fn new(inner: T, within: Duration) -> Self {
        FirstByte {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByte<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.deadline.is_none() {
            return polled;
        }
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.deadline = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request started in time",
                ))),
                _ => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByte<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
