//! The capture proxy: an HTTP/1.1 forward proxy that also intercepts HTTPS (CONNECT +
//! TLS with corscope's CA) and speaks HTTP/2 inside, recording every exchange into the
//! [`Store`] while bodies stream through.
//!
//! Start it in-process:
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use corscope::{capture::store::Store, config::ProxyConfig, proxy::Proxy, tls::ca::CertificateAuthority};
//! let config = ProxyConfig::local("/tmp/corscope-demo".into());
//! let ca = Arc::new(CertificateAuthority::load_or_create(&config.data_dir)?);
//! let store = Arc::new(Store::default());
//! let proxy = Proxy::bind(config, ca, store.clone()).await?; // listening from here on
//! println!("proxy at {}", proxy.local_addr());
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(proxy.run(shutdown.clone()));
//! // ... later: shutdown.cancel() stops accepting and drains open connections.
//! # Ok(()) }
//! ```
//! Completed exchanges appear in the store ([`Store::subscribe`] signals each change);
//! this is where the CORS engine and every view read them.
//!
//! Modules: [`listener`] (accept, connection cap, serving HTTP/1 and HTTP/2, drain),
//! `guard` (what a request must pass first: smuggling framings, `--proxy-auth`, origin-form
//! and misdirected requests), [`auth`] (the `--proxy-auth` check),
//! [`connect`] (CONNECT: peek, then MITM, plain HTTP in the tunnel, or a byte tunnel),
//! `relay` (the fast path: plain HTTP/1.1 requests read, forwarded and recorded in the
//! connection's own task; anything else goes to hyper),
//! [`forward`] (one request upstream and back, 502/504 on failure; `fault` names the
//! cause), [`upstream`] (the
//! pooled client's connector), [`recorder`] (streaming capture), [`websocket`] (upgrades),
//! [`wire`] (HTTP/1 request heads in wire order and case, for the record).

/// `AsyncWrite` for a read-side wrapper (`$ty<T>` with an `inner: T` field): every write
/// goes straight to `inner`. The wrappers only change what is read.
macro_rules! forward_async_write {
    ($ty:ident) => {
        impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $ty<T> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}

pub mod auth;
pub mod connect;
mod fault;
pub mod forward;
mod guard;
pub mod listener;
pub mod recorder;
mod relay;
pub mod upstream;
pub mod websocket;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::capture::event::{Event, EventKind};
use crate::capture::store::Store;
use crate::config::ProxyConfig;
use crate::tls::ca::CertificateAuthority;
use crate::tls::leaf::LeafCache;
use crate::tls::upstream::{client_config_with, trusted_roots, UpstreamTlsError};
use recorder::{ClientBody, RecordingBody};
use upstream::{H2Upstream, UpstreamConnector};

/// Idle upstream connections kept per host. Browsers open up to 6 per host over HTTP/1.1,
/// but load tools and test suites run dozens in parallel; a connection not pooled costs a
/// new TCP + TLS handshake on the next request (measured: with 16 here, 50 concurrent
/// HTTPS clients spent most proxy CPU on handshakes). Idle ones expire after
/// [`UPSTREAM_IDLE_TIMEOUT`].
pub const MAX_IDLE_UPSTREAM_PER_HOST: usize = 256;

/// How long an idle upstream connection stays pooled.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The pooled upstream client.
pub type UpstreamClient = Client<UpstreamConnector, RecordingBody<ClientBody<Incoming>>>;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    UpstreamTls(#[from] UpstreamTlsError),
    #[error("generating the leaf certificate key: {0}")]
    LeafKey(#[from] rcgen::Error),
}

/// State shared by every connection of one proxy.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    /// The address actually bound, to refuse requests aimed at corscope itself.
    pub(crate) local_addr: SocketAddr,
    pub(crate) store: Arc<Store>,
    pub(crate) leaves: LeafCache,
    /// The pooled HTTP/1.1 client: requests the relay hands to hyper, upgrades, and those
    /// of h2 clients whose origin does not speak h2 (an origin that does is reached over
    /// the client connection's own [`ConnCtx::h2_upstream`]).
    pub(crate) client: UpstreamClient,
    /// Opens HTTP/1.1 upstream connections for the relay.
    pub(crate) connector: UpstreamConnector,
    /// Opens the upstream connections of clients that speak h2 ([`ConnCtx::h2_upstream`]).
    pub(crate) h2_connector: UpstreamConnector,
    /// The relay's idle upstream connections.
    pub(crate) idle: relay::IdlePool,
    next_connection: AtomicU64,
    pub(crate) tracker: TaskTracker,
    /// Cancelled when the proxy stops accepting: connections finish their current
    /// exchanges and close, tunnels and WebSockets close.
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// True when `host:port` is this proxy: forwarding there would loop until every
    /// connection slot is used up.
    pub(crate) fn is_self(&self, host: &str, port: u16) -> bool {
        if port != self.local_addr.port() {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        let bound = self.local_addr.ip();
        match host.parse::<std::net::IpAddr>() {
            // Connecting to 0.0.0.0 (or ::) reaches this machine's listeners, loopback
            // ones included.
            Ok(ip) => {
                let ip = ip.to_canonical();
                ip == bound
                    || (ip.is_unspecified() && bound.is_loopback())
                    || (bound.is_unspecified() && (ip.is_loopback() || ip.is_unspecified()))
            }
            Err(_) => {
                host.eq_ignore_ascii_case("localhost")
                    && (bound.is_loopback() || bound.is_unspecified())
            }
        }
    }
}

/// Where requests on a client connection go.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The client talks to us as a proxy: absolute-form requests, CONNECT.
    Proxy,
    /// Inside a CONNECT tunnel: origin-form requests for one upstream.
    Tunnel {
        scheme: Scheme,
        authority: Authority,
        /// The client negotiated h2 with us.
        h2: bool,
    },
}

/// One client connection (or one tunnel inside it).
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) client_addr: SocketAddr,
    /// `client_addr` as recorded in each exchange (one allocation per connection).
    pub(crate) client_label: Arc<str>,
    pub(crate) target: Target,
    /// Request heads as written, on HTTP/1 connections.
    pub(crate) wire: Option<Arc<wire::WireHeads>>,
    /// The upstream connection of a tunnel whose client speaks h2.
    pub(crate) h2_upstream: Option<H2Upstream<forward::UpstreamBody>>,
}

impl ConnCtx {
    /// The same connection, now serving requests inside a tunnel.
    pub(crate) fn tunnel(&self, target: Target) -> Arc<Self> {
        Arc::new(Self {
            shared: self.shared.clone(),
            id: self.id,
            client_addr: self.client_addr,
            client_label: self.client_label.clone(),
            h2_upstream: matches!(target, Target::Tunnel { h2: true, .. })
                .then(|| H2Upstream::new(self.shared.h2_connector.clone())),
            target,
            wire: None,
        })
    }

    /// The same connection, with its HTTP/1 request heads followed into `heads`.
    pub(crate) fn with_wire(&self, heads: Arc<wire::WireHeads>) -> Arc<Self> {
        Arc::new(Self {
            shared: self.shared.clone(),
            id: self.id,
            client_addr: self.client_addr,
            client_label: self.client_label.clone(),
            target: self.target.clone(),
            wire: Some(heads),
            h2_upstream: None,
        })
    }

    /// Start recording an exchange on this connection: `request` is its head, `started`
    /// when it arrived.
    pub(crate) fn start_exchange(
        &self,
        request: crate::capture::exchange::RequestRecord,
        started: std::time::Instant,
    ) -> Arc<recorder::InFlight> {
        let exchange = crate::capture::exchange::Exchange {
            connection_id: self.id,
            started: chrono::Utc::now(),
            request,
            client_addr: Some(self.client_label.clone()),
            ..Default::default()
        };
        recorder::InFlight::new(self.shared.store.clone(), exchange, started)
    }

    pub(crate) fn event(&self, kind: EventKind, host: Option<String>, message: String) {
        self.shared
            .store
            .push_event(Event::now(kind, host, message).on_connection(self.id));
    }
}

/// A bound, not yet running proxy.
pub struct Proxy {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Bind the listener and prepare TLS. When this returns, the proxy accepts connections
    /// (they are served once [`Proxy::run`] is polled): a readiness signal for tests.
    pub async fn bind(
        config: ProxyConfig,
        ca: Arc<CertificateAuthority>,
        store: Arc<Store>,
    ) -> Result<Self, ProxyError> {
        let listener = listen(config.listen).map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let roots = trusted_roots(&config.upstream_trust)?;
        let h1_tls = client_config_with(&roots, &[b"http/1.1"])?;
        let h2_tls = client_config_with(&roots, &[b"h2", b"http/1.1"])?;
        let shared = Shared {
            local_addr,
            connector: UpstreamConnector::new(h1_tls.clone(), config.connect_timeout),
            idle: relay::IdlePool::default(),
            client: build_client(UpstreamConnector::new(h1_tls, config.connect_timeout)),
            h2_connector: UpstreamConnector::new(h2_tls, config.connect_timeout),
            leaves: LeafCache::new(ca)?,
            store,
            config,
            next_connection: AtomicU64::new(1),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        };
        let mut warnings = shared.config.warnings();
        warnings.extend(fd_limit_warning(shared.config.max_connections));
        for warning in warnings {
            tracing::warn!("{warning}");
            shared
                .store
                .push_event(Event::now(EventKind::Warning, None, warning));
        }
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(shared),
        })
    }

    /// The address the proxy listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The HTTP/1.1 client config the proxy checks upstream certificates with (its trusted
    /// roots read once), for others that reach the same servers (the UI's resend).
    pub fn upstream_tls(&self) -> Arc<rustls::ClientConfig> {
        self.shared.connector.tls().clone()
    }

    /// The store exchanges are recorded into.
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Serve until `shutdown` is cancelled, then stop accepting and give open connections
    /// up to the configured drain time to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        listener::accept_loop(self.listener, self.shared, shutdown).await;
    }
}

/// Connections the kernel queues before corscope accepts them (capped by the kernel's
/// `net.core.somaxconn`). The usual 128 overflows under a burst of connections (many tabs
/// at once, a load test), and an overflowed handshake is only retried by the client a
/// second or more later.
pub const LISTEN_BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted corscope can listen on its port at once.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Open files each served connection may need: the client's socket and an upstream one.
const FILES_PER_CONNECTION: u64 = 2;

/// Open files kept for everything else (listener, CA and log files, runtime, pooled
/// upstream connections beyond one per client).
const FILES_SPARE: u64 = 256;

/// Raise the soft limit on open files to the hard limit (often 1024 → 524288 on Linux), so
/// the connection cap, not the descriptor limit, decides when connections are refused;
/// a warning when even the hard limit is below what `max_connections` needs.
pub fn raise_open_file_limit(max_connections: usize) -> Result<u64, String> {
    let needed = (max_connections as u64)
        .saturating_mul(FILES_PER_CONNECTION)
        .saturating_add(FILES_SPARE);
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot read or raise the open-file limit: {e}"))?;
    if limit < needed {
        return Err(format!(
            "the open-file limit ({limit}) is below what --max-connections {max_connections} \
             needs (about {needed}); connections may fail before the cap is reached: raise \
             `ulimit -n` or lower --max-connections"
        ));
    }
    Ok(limit)
}

fn fd_limit_warning(max_connections: usize) -> Option<String> {
    match raise_open_file_limit(max_connections) {
        Ok(limit) => {
            tracing::debug!(limit, "open-file limit");
            None
        }
        Err(warning) => Some(warning),
    }
}

fn build_client(connector: UpstreamConnector) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(UPSTREAM_IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_UPSTREAM_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http1_preserve_header_case(true)
        .build(connector)
}
