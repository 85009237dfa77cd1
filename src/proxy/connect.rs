//! CONNECT: answer 200, then look at the client's first bytes. A TLS ClientHello is
//! intercepted (leaf certificate for the SNI name from corscope's CA, HTTP/1.1 or h2
//! inside); plain HTTP is served as HTTP; anything else is tunnelled byte for byte, as are
//! hosts matching `--ignore-hosts`: the CONNECT host is checked before answering (so a
//! dead upstream is a 502), the TLS server name after reading the ClientHello (which is
//! then replayed to the real server).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tracing::Instrument;

use super::forward::{header_list, version_str, LOOP};
use super::listener::{serve_http1, serve_http2};
use super::recorder::ProxyBody;
use super::upstream::{connect_tcp, ConnectError};
use super::{ConnCtx, Target};
use crate::capture::event::EventKind;
use crate::capture::exchange::{Body, RequestRecord};

/// Bytes read to classify a tunnel. A ClientHello or request line arrives in one read.
const PEEK_BYTES: usize = 2_048;

/// How long a tunnel may stay silent before it is treated as opaque (protocols where the
/// server speaks first send nothing from the client side).
const PEEK_TIMEOUT: Duration = Duration::from_secs(3);

/// Time for a client to complete the TLS handshake with corscope.
const CLIENT_TLS_TIMEOUT: Duration = Duration::from_secs(15);

/// Answer a CONNECT and take over the connection once the 200 has been sent.
pub(crate) async fn handle_connect(
    req: Request<Incoming>,
    ctx: Arc<ConnCtx>,
) -> Response<ProxyBody> {
    let (authority, host, port) = match connect_target(req.uri()) {
        Ok(target) => target,
        Err(reason) => return refuse_connect(&req, &ctx, StatusCode::BAD_REQUEST, reason),
    };
    if ctx.shared.is_self(&host, port) {
        return refuse_connect(&req, &ctx, StatusCode::LOOP_DETECTED, LOOP.to_owned());
    }
    if ctx.shared.config.ignore_hosts.matches(&host) {
        return connect_ignored(req, host, port, ctx).await;
    }
    let on_upgrade = hyper::upgrade::on(req);
    let tracker = ctx.shared.tracker.clone();
    let span = tracing::debug_span!("tunnel", target = %authority);
    let tunnel = async move {
        match on_upgrade.await {
            Ok(upgraded) => intercept(upgraded, authority, ctx).await,
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    };
    tracker.spawn(tunnel.instrument(span));
    Response::new(ProxyBody::empty())
}

/// The target of a CONNECT: authority-form `host:port` (RFC 9112 §3.2.3) with a host and
/// a non-zero port. A missing port is refused rather than guessed: the request-target
/// grammar requires it, every browser and tool sends it, and guessing 443 would make a
/// typo look like a working tunnel to the wrong port.
fn connect_target(uri: &http::Uri) -> Result<(Authority, String, u16), String> {
    let shown = uri.to_string();
    let Some(authority) = uri.authority().cloned() else {
        return Err(format!("CONNECT needs a host:port target, got {shown:?}"));
    };
    if uri.scheme().is_some() || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(format!(
            "CONNECT needs a bare host:port target, got {shown:?}"
        ));
    }
    let host = bare_host(&authority);
    if host.is_empty() {
        return Err(format!("CONNECT target {shown:?} has no host"));
    }
    match authority.port_u16() {
        None => Err(format!(
            "CONNECT target {shown:?} has no port: send host:port (e.g. {host}:443)"
        )),
        Some(0) => Err(format!("CONNECT target {shown:?} has port 0")),
        Some(port) => Ok((authority, host, port)),
    }
}

/// `--ignore-hosts`: connect first (so failure is a clean 502), then splice bytes.
async fn connect_ignored(
    req: Request<Incoming>,
    host: String,
    port: u16,
    ctx: Arc<ConnCtx>,
) -> Response<ProxyBody> {
    let timeout = ctx.shared.config.connect_timeout;
    let upstream = match tokio::time::timeout(timeout, connect_tcp(&host, port)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return connect_failed(&req, &ctx, &e),
        Err(_) => {
            let e = ConnectError::Timeout {
                host,
                port,
                after: timeout,
            };
            return connect_failed(&req, &ctx, &e);
        }
    };
    let on_upgrade = hyper::upgrade::on(req);
    let shutdown = ctx.shared.shutdown.clone();
    ctx.shared.tracker.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        splice(TokioIo::new(upgraded), upstream, shutdown).await;
    });
    Response::new(ProxyBody::empty())
}

/// A CONNECT whose upstream could not be reached: 502, or 504 on timeout.
fn connect_failed(req: &Request<Incoming>, ctx: &ConnCtx, e: &ConnectError) -> Response<ProxyBody> {
    let status = if e.is_timeout() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::BAD_GATEWAY
    };
    tracing::debug!(error = %e, "CONNECT failed");
    refuse_connect(req, ctx, status, e.to_string())
}

/// Answer a CONNECT with `status` and record it as an exchange (method `CONNECT`, the
/// target as URL) so the failure is not lost.
fn refuse_connect(
    req: &Request<Incoming>,
    ctx: &ConnCtx,
    status: StatusCode,
    reason: String,
) -> Response<ProxyBody> {
    let request = RequestRecord {
        method: req.method().as_str().to_owned().into(),
        url: req.uri().to_string(),
        http_version: version_str(req.version()).into(),
        headers: header_list(req.headers()),
        body: Body::default(),
    };
    super::guard::refuse(ctx, request, status, reason)
}

/// The host of a CONNECT target, without IPv6 brackets.
fn bare_host(authority: &Authority) -> String {
    authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// What the first bytes of a tunnel look like.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Tls,
    Http,
    Opaque,
}

fn classify(first: &[u8]) -> Kind {
    // TLS record type 22 (handshake), major version 3.
    if first.len() >= 2 && first[0] == 0x16 && first[1] == 0x03 {
        return Kind::Tls;
    }
    let Some(space) = first.iter().position(|&b| b == b' ') else {
        return Kind::Opaque;
    };
    let method = &first[..space];
    let token = !method.is_empty() && method.len() <= 20 && method.iter().all(|&b| is_tchar(b));
    if token {
        Kind::Http
    } else {
        Kind::Opaque
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Serve the tunnel. Boxed with an explicit `Send` type because serving requests inside
/// the tunnel leads back to CONNECT handling, a cycle the compiler cannot see through.
fn intercept(
    upgraded: Upgraded,
    authority: Authority,
    ctx: Arc<ConnCtx>,
) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(intercept_inner(upgraded, authority, ctx))
}

async fn intercept_inner(upgraded: Upgraded, authority: Authority, ctx: Arc<ConnCtx>) {
    let mut io = TokioIo::new(upgraded);
    let mut buf = vec![0u8; PEEK_BYTES];
    let n = match tokio::time::timeout(PEEK_TIMEOUT, io.read(&mut buf)).await {
        Ok(Ok(0)) => return,
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "tunnel read failed");
            return;
        }
        Err(_) => 0,
    };
    buf.truncate(n);
    let kind = if n == 0 { Kind::Opaque } else { classify(&buf) };
    let io = Prefixed::new(Bytes::from(buf), io);
    match kind {
        Kind::Tls => intercept_tls(io, authority, ctx).await,
        Kind::Http => {
            let ctx = ctx.tunnel(Target::Tunnel {
                scheme: Scheme::HTTP,
                authority,
                h2: false,
            });
            serve_http1(io, ctx).await;
        }
        Kind::Opaque => {
            let host = bare_host(&authority);
            let port = authority.port_u16().unwrap_or(443);
            match connect_tcp(&host, port).await {
                Ok(upstream) => splice(io, upstream, ctx.shared.shutdown.clone()).await,
                Err(e) => tracing::debug!(error = %e, "opaque tunnel: upstream unreachable"),
            }
        }
    }
}

async fn intercept_tls(io: Prefixed<TokioIo<Upgraded>>, authority: Authority, ctx: Arc<ConnCtx>) {
    let connect_host = bare_host(&authority);
    let io = Recording::new(io);
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let mut start = match tokio::time::timeout(CLIENT_TLS_TIMEOUT, acceptor).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => return tls_failed(&ctx, &connect_host, &e.to_string()),
        Err(_) => return tls_failed(&ctx, &connect_host, "timed out"),
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    if let Some(name) = sni.as_deref() {
        // The CONNECT target may be an IP while the TLS name is the pinned host.
        if ctx.shared.config.ignore_hosts.matches(name) {
            if let Some((client, hello)) = start.io.take_recorded() {
                return tunnel_replayed(client, hello, &authority, &ctx).await;
            }
        }
    }
    start.io.stop();
    let host = sni.unwrap_or(connect_host);
    let config = match ctx.shared.leaves.server_config(&host).await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(error = %e, "no certificate for intercepted host");
            return;
        }
    };
    let tls = match tokio::time::timeout(CLIENT_TLS_TIMEOUT, start.into_stream(config)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return tls_failed(&ctx, &host, &e.to_string()),
        Err(_) => return tls_failed(&ctx, &host, "timed out"),
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let ctx = ctx.tunnel(Target::Tunnel {
        scheme: Scheme::HTTPS,
        authority,
        h2,
    });
    if h2 {
        serve_http2(tls, ctx).await;
    } else {
        serve_http1(tls, ctx).await;
    }
}

/// Tunnel an ignored host whose ClientHello was already read: send it upstream first.
async fn tunnel_replayed<C>(client: C, hello: Vec<u8>, authority: &Authority, ctx: &ConnCtx)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let host = bare_host(authority);
    let port = authority.port_u16().unwrap_or(443);
    let mut upstream = match connect_tcp(&host, port).await {
        Ok(tcp) => tcp,
        Err(e) => return tracing::debug!(error = %e, "ignored host unreachable"),
    };
    if let Err(e) = upstream.write_all(&hello).await {
        return tracing::debug!(error = %e, "ignored host closed early");
    }
    splice(client, upstream, ctx.shared.shutdown.clone()).await;
}

fn tls_failed(ctx: &ConnCtx, host: &str, reason: &str) {
    let message = format!(
        "TLS handshake with the client for {host} failed ({reason}); if the client does not \
         trust corscope's CA yet, run `corscope ca path` and import that certificate"
    );
    tracing::info!("{message}");
    ctx.event(EventKind::ClientTlsFailed, Some(host.to_owned()), message);
}

/// Copy bytes both ways until either side closes or the proxy shuts down.
async fn splice<C>(
    mut client: C,
    mut upstream: TcpStream,
    shutdown: tokio_util::sync::CancellationToken,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "tunnel closed with an error");
            }
        }
        () = shutdown.cancelled() => {}
    }
}

/// The most bytes kept while waiting for a ClientHello (a ClientHello is at most a few
/// KB; post-quantum key shares make it larger, still well under this).
const MAX_RECORDED_HELLO: usize = 64 * 1024;

/// A stream that keeps a copy of what it reads until told to stop, so a ClientHello that
/// was consumed can be replayed to the real server.
struct Recording<T> {
    inner: Option<T>,
    seen: Option<Vec<u8>>,
}

impl<T> Recording<T> {
    fn new(inner: T) -> Self {
        Self {
            inner: Some(inner),
            seen: Some(Vec::new()),
        }
    }

    fn stop(&mut self) {
        self.seen = None;
    }

    /// The stream and the bytes read from it so far (if still complete).
    fn take_recorded(&mut self) -> Option<(T, Vec<u8>)> {
        let seen = self.seen.take()?;
        Some((self.inner.take()?, seen))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Recording<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let before = buf.filled().len();
        let polled = Pin::new(inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(seen)) = (&polled, this.seen.as_mut()) {
            seen.extend_from_slice(&buf.filled()[before..]);
            if seen.len() > MAX_RECORDED_HELLO {
                this.seen = None;
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Recording<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    // TLS writes several records at once: one syscall for all of them.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| inner.is_write_vectored())
    }
}

/// A stream whose first bytes were already read: they are returned again first.
pub(crate) struct Prefixed<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Prefixed<T> {
    pub(crate) fn new(prefix: Bytes, inner: T) -> Self {
        Self { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

forward_async_write!(Prefixed);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x02]), Kind::Tls);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Kind::Http);
        assert_eq!(classify(b"patch /x HTTP/1.1\r\n"), Kind::Http);
        assert_eq!(classify(b"\x00\x01 binary"), Kind::Opaque);
        assert_eq!(classify(b"SSH-2.0-OpenSSH"), Kind::Opaque);
    }
}
