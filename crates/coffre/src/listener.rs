//! Serving one listener (S3 or admin) under limits, so that idle, slow or abandoned
//! connections cannot take the service down:
//!
//! - at most `max_connections` open at once; past that the listener stops accepting (new
//!   connections wait in the kernel's backlog) instead of running out of file descriptors;
//! - a TLS handshake, and then the first byte of a request, must arrive within
//!   `first_byte_timeout` (this also bounds HTTP/2's preface and the protocol sniffing);
//! - an HTTP/1 request head must be complete within `header_timeout`, which also closes a
//!   keep-alive connection left idle that long;
//! - HTTP/2: bounded concurrent streams and header lists, and keep-alive pings that close a
//!   connection whose peer is gone;
//! - when `accept` fails for lack of descriptors or memory, the loop backs off and logs once
//!   per interval (it used to spin, logging half a million lines a second).
//!
//! A stalled request body is bounded by the S3 front (`FrontLimits::body_idle_timeout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Largest request head (request line plus headers) accepted, in bytes. AWS documents 8 KiB
/// of headers for PUT; the buffer leaves room for long presigned URLs.
pub const REQUEST_HEAD_BYTES_MAX: usize = 64 * 1024;

/// Concurrent HTTP/2 streams per connection.
const H2_STREAMS_MAX: u32 = 128;

/// How long `accept` waits after running out of descriptors before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The shortest interval between two log lines about the same accept trouble.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub first_byte_timeout: Duration,
    pub header_timeout: Duration,
}

/// Descriptors the process keeps for itself (metadata database, audit segments, chunk files
/// being collected, the admin listener) before S3 connections get theirs: a quarter of the
/// limit, at most this many.
const RESERVED_FDS_MAX: u64 = 1024;

/// Descriptors an S3 connection may hold at once: its socket and the chunk file it streams.
const FDS_PER_CONNECTION: u64 = 2;

/// The S3 listener's default connection cap, sized to the process's descriptor limit so that
/// it is reached before the limit is: `(limit - reserve) / 2`, at least 16.
pub fn default_max_connections(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 4).min(RESERVED_FDS_MAX);
    let cap = fd_limit.saturating_sub(reserve) / FDS_PER_CONNECTION;
    usize::try_from(cap.max(16)).unwrap_or(usize::MAX)
}

/// Raises the soft descriptor limit to the hard one (as Go's runtime does) and returns it.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|soft| soft < hard)
    {
        limit.current = Some(hard);
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "could not raise the open-file limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The HTTP server settings every listener shares.
fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        // A client may send its whole request and then shut its sending side (`nc -N`, some
        // proxies): it still gets its answer.
        .half_close(true)
        .max_buf_size(REQUEST_HEAD_BYTES_MAX)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_STREAMS_MAX)
        .max_header_list_size(u32::try_from(REQUEST_HEAD_BYTES_MAX).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.first_byte_timeout);
    http
}

/// Rate-limited logging of a recurring accept failure.
#[derive(Default)]
struct AcceptTrouble {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptTrouble {
    /// Whether to log now; otherwise the occurrence is counted for the next line.
    fn due(&mut self) -> Option<u64> {
        if self.last_logged.is_some_and(|t| t.elapsed() < ACCEPT_LOG_INTERVAL) {
            self.suppressed += 1;
            return None;
        }
        self.last_logged = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Whether an accept error means the process is out of a resource (retrying at once spins).
fn out_of_resources(error: &io::Error) -> bool {
    use rustix::io::Errno;
    error.raw_os_error().is_some_and(|code| {
        [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM].iter().any(|e| e.raw_os_error() == code)
    })
}

/// Serves `listener` until `stop` resolves, under `limits`. `service` makes the request
/// handler of a connection from its peer address and whether it is TLS; connections in
/// flight are watched by `graceful`, so the caller can wait for them to finish.
pub async fn serve<S, B>(
    name: &'static str,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    graceful: &GracefulShutdown,
    service: impl Fn(std::net::SocketAddr) -> S,
    stop: impl Future<Output = ()>,
) where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let http = Arc::new(http_builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut trouble = AcceptTrouble::default();
    let mut full = AcceptTrouble::default();
    tokio::pin!(stop);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(repeated) = full.due() {
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.max_connections,
                        repeated,
                        "connection limit reached; new connections wait in the backlog"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut stop => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if let Some(repeated) = trouble.due() {
                        tracing::warn!(listener = name, error = %e, repeated, "accept failed");
                    }
                    if out_of_resources(&e) {
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            () = &mut stop => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Small responses must not wait for the client's delayed ACK (FIELD-NOTES: 43 ms stalls).
        let _ = stream.set_nodelay(true);
        let service = service(peer);
        let http = Arc::clone(&http);
        let watcher = graceful.watcher();
        let first_byte = limits.first_byte_timeout;
        match &tls {
            None => {
                tokio::spawn(async move {
                    let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte));
                    let _ = watcher.watch(http.serve_connection(io, service).into_owned()).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(first_byte, acceptor.accept(stream)).await else {
                        return;
                    };
                    let io = TokioIo::new(FirstByteDeadline::new(tls, first_byte));
                    let _ = watcher.watch(http.serve_connection(io, service).into_owned()).await;
                    drop(slot);
                });
            }
        }
    }
}

/// A connection that fails with `TimedOut` if its first byte does not arrive in time; after
/// that, reads pass straight through.
struct FirstByteDeadline<T> {
    inner: T,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> FirstByteDeadline<T> {
    fn new(inner: T, timeout: Duration) -> FirstByteDeadline<T> {
        FirstByteDeadline { inner, deadline: Some(Box::pin(tokio::time::sleep(timeout))) }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending => {
                if let Some(deadline) = self.deadline.as_mut()
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the first-byte timeout",
                    )));
                }
            }
            _ => {}
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
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
    fn the_default_cap_leaves_descriptors_to_spare() {
        assert_eq!(default_max_connections(1024), 384);
        assert_eq!(default_max_connections(256), 96);
        assert_eq!(default_max_connections(65_536), 32_256);
        assert_eq!(default_max_connections(20), 16);
    }

    #[tokio::test]
    async fn a_silent_connection_times_out_and_a_talking_one_does_not() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (client, server) = tokio::io::duplex(64);
        let mut silent = FirstByteDeadline::new(server, Duration::from_millis(50));
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut talking = FirstByteDeadline::new(server, Duration::from_millis(50));
        client.write_all(b"GET").await.unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 3);
        // Past the deadline, an idle wait is no longer an error.
        tokio::time::sleep(Duration::from_millis(80)).await;
        client.write_all(b" /").await.unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 2);
    }
}
