//! Reaching upstream servers: a connector for hyper-util's pooled client (DNS, TCP with
//! TCP_NODELAY, rustls with ALPN) whose failures are typed, so the client can be told
//! precisely why with a 502 or 504; and the one h2 upstream connection of a client
//! connection that speaks h2 ([`H2Upstream`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why an upstream could not be reached. The text is what the client's 502 body says.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("upstream URL {0} has no host")]
    NoHost(String),
    #[error("DNS lookup for {host} failed: {reason}")]
    Dns { host: String, reason: String },
    #[error("connecting to {host}:{port} ({addr}) failed: {reason}")]
    Tcp {
        host: String,
        port: u16,
        addr: SocketAddr,
        reason: String,
    },
    #[error(
        "connecting to {host}:{port} timed out after {} (--connect-timeout)",
        super::fault::seconds(*after)
    )]
    Timeout {
        host: String,
        port: u16,
        after: Duration,
    },
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("upstream TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
}

impl ConnectError {
    /// True for a timeout (answered with 504 rather than 502).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

/// Facts about an upstream connection, attached to every response it carries.
#[derive(Debug, Clone)]
pub struct UpstreamInfo {
    pub peer: SocketAddr,
    /// The peer's IP address as recorded in each exchange (one allocation per connection).
    pub ip: Arc<str>,
}

/// An error of any kind on the way upstream, for [`super::fault::before_response`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream side of one intercepted client connection that speaks h2: one h2
/// connection to its origin, opened on the first request and shared by all the client's
/// streams (as the client shares its one connection to us), opened again once the origin
/// has closed it. Each request goes straight to that connection: the pooled client paid
/// a checkout per request, and opened a connection for each of the first requests a page
/// sends at once. An origin that does not negotiate h2 is left to the pooled client for
/// the rest of the client's connection.
pub(crate) struct H2Upstream<B> {
    connector: UpstreamConnector,
    slot: tokio::sync::Mutex<H2Slot<B>>,
}

enum H2Slot<B> {
    Unopened,
    Open(hyper::client::conn::http2::SendRequest<B>, UpstreamInfo),
    NotH2,
}

/// What [`H2Upstream::send`] did with a request.
pub(crate) enum H2Send<B> {
    /// Sent: the response, or why there is none.
    Sent(Result<http::Response<hyper::body::Incoming>, BoxError>),
    /// The origin does not speak h2: send it some other way.
    NotH2(http::Request<B>),
}

impl<B> H2Upstream<B>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Reaching the origin through `connector` (its TLS config offers h2).
    pub(crate) fn new(connector: UpstreamConnector) -> Self {
        Self {
            connector,
            slot: tokio::sync::Mutex::new(H2Slot::Unopened),
        }
    }

    /// Send `req` (its URI absolute) over the h2 connection, opening it if need be. A
    /// request the connection did not take because it had just closed (the origin's
    /// GOAWAY, an idle close) goes once more over a new one.
    pub(crate) async fn send(&self, mut req: http::Request<B>) -> H2Send<B> {
        let mut retried = false;
        loop {
            let (mut sender, info) = match self.sender(req.uri()).await {
                Ok(Some(open)) => open,
                Ok(None) => return H2Send::NotH2(req),
                Err(e) => return H2Send::Sent(Err(e)),
            };
            match sender.try_send_request(req).await {
                Ok(mut resp) => {
                    resp.extensions_mut().insert(info);
                    return H2Send::Sent(Ok(resp));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !retried => {
                        retried = true;
                        req = unsent;
                    }
                    _ => return H2Send::Sent(Err(e.into_error().into())),
                },
            }
        }
    }

    /// The open connection's sender, a new connection's if it is closed or not opened yet,
    /// or `None` when the origin does not negotiate h2.
    async fn sender(
        &self,
        uri: &Uri,
    ) -> Result<Option<(hyper::client::conn::http2::SendRequest<B>, UpstreamInfo)>, BoxError> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            H2Slot::Open(sender, info) if !sender.is_closed() => {
                return Ok(Some((sender.clone(), info.clone())))
            }
            H2Slot::NotH2 => return Ok(None),
            _ => {}
        }
        let io = self.connector.clone().connect(uri.clone()).await?;
        if !io.h2 {
            *slot = H2Slot::NotH2;
            return Ok(None);
        }
        let info = UpstreamInfo {
            peer: io.peer,
            ip: io.ip.clone(),
        };
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("upstream h2 connection ended: {e}");
            }
        });
        *slot = H2Slot::Open(sender.clone(), info.clone());
        Ok(Some((sender, info)))
    }
}

/// Connects to upstreams for the pooled client.
#[derive(Clone)]
pub struct UpstreamConnector {
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

impl UpstreamConnector {
    /// A connector using `tls` for `https` URIs, giving up after `timeout`.
    pub fn new(tls: Arc<ClientConfig>, timeout: Duration) -> Self {
        Self { tls, timeout }
    }

    /// The client config it uses for `https` URIs.
    pub fn tls(&self) -> &Arc<ClientConfig> {
        &self.tls
    }
}

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

impl UpstreamConnector {
    async fn connect(self, uri: Uri) -> Result<UpstreamIo, ConnectError> {
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            .ok_or_else(|| ConnectError::NoHost(uri.to_string()))?;
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let (stream, info) = self.open(tls, &host, port).await?;
        let h2 = match &stream {
            Stream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
            Stream::Plain(_) => false,
        };
        Ok(UpstreamIo {
            io: TokioIo::new(stream),
            h2,
            peer: info.peer,
            ip: info.ip,
        })
    }

    /// Connect to `host` (no brackets around IPv6) and `port`, with TLS when `tls`.
    pub(crate) async fn open(
        &self,
        tls: bool,
        host: &str,
        port: u16,
    ) -> Result<(Stream, UpstreamInfo), ConnectError> {
        let timeout_err = || ConnectError::Timeout {
            host: host.to_owned(),
            port,
            after: self.timeout,
        };
        let attempt = async {
            let tcp = connect_tcp(host, port).await?;
            let peer = tcp
                .peer_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            let info = UpstreamInfo {
                peer,
                ip: peer.ip().to_string().into(),
            };
            if !tls {
                return Ok((Stream::Plain(tcp), info));
            }
            let stream = handshake(&self.tls, host, tcp).await?;
            Ok((Stream::Tls(Box::new(stream)), info))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| timeout_err())?
    }
}

/// Resolve `host` and connect to the first address that answers.
pub async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ConnectError::Dns {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Without it, small writes after a large response stall behind Nagle.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => ConnectError::Tcp {
            host: host.to_owned(),
            port,
            addr,
            reason: e.to_string(),
        },
        None => ConnectError::Dns {
            host: host.to_owned(),
            reason: "no addresses".to_owned(),
        },
    })
}

async fn handshake(
    config: &Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ConnectError::ServerName(host.to_owned()))?;
    TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls {
            host: host.to_owned(),
            reason: super::fault::tls_handshake(&e),
        })
}

/// A plain or TLS upstream socket.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// An upstream connection as the pooled client sees it.
pub struct UpstreamIo {
    io: TokioIo<Stream>,
    h2: bool,
    peer: SocketAddr,
    ip: Arc<str>,
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(UpstreamInfo {
            peer: self.peer,
            ip: self.ip.clone(),
        });
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}
