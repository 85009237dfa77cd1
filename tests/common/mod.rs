//! Shared test parts: a real upstream server (HTTP/1.1 and, over TLS, h2; echo, generated
//! bodies, WebSocket echo), a test CA for it, in-process corscope instances, and clients
//! that talk through the proxy (absolute-form HTTP, CONNECT + TLS with h1 or h2).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use corscope::capture::exchange::Exchange;
use corscope::capture::store::Store;
use corscope::config::ProxyConfig;
use corscope::proxy::Proxy;
use corscope::tls::ca::CertificateAuthority;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(20);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA for test upstream servers (not corscope's).
pub struct TestCa {
    pub cert: CertificateDer<'static>,
    pub leaf_chain: Vec<CertificateDer<'static>>,
    leaf_key: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "upstream test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "upstream.test");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        Self {
            cert: ca_cert.der().clone(),
            leaf_chain: vec![leaf.der().clone(), ca_cert.der().clone()],
            leaf_key: leaf_key.serialize_der(),
        }
    }

    /// The CA certificate as a PEM file's text.
    pub fn cert_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.cert);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.leaf_chain.clone(), key)
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// A running upstream server.
pub struct Upstream {
    pub addr: SocketAddr,
}

/// Start an upstream: plain HTTP/1.1, or TLS offering `alpn` (h2 and/or http/1.1).
pub async fn start_upstream(tls: Option<Arc<ServerConfig>>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tcp.set_nodelay(true).unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_h1(TokioIo::new(tcp)).await,
                    Some(config) => {
                        let Ok(stream) = TlsAcceptor::from(config).accept(tcp).await else {
                            return;
                        };
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        if h2 {
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service_fn(upstream_route))
                                .await;
                        } else {
                            serve_h1(TokioIo::new(stream)).await;
                        }
                    }
                }
            });
        }
    });
    Upstream { addr }
}

async fn serve_h1<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service_fn(upstream_route))
        .with_upgrades()
        .await;
}

/// The body type of the test servers' responses.
pub type UpBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A whole response body.
pub fn full(data: impl Into<Bytes>) -> UpBody {
    Full::new(data.into()).boxed()
}

/// Routes: `/echo` (body back, with what was seen in headers), `/bytes?n=N[&chunked]`
/// (N generated bytes), `/ws` (WebSocket echo), `/dup` (duplicate response headers).
async fn upstream_route(mut req: Request<Incoming>) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let version = format!("{:?}", req.version());
    match path.as_str() {
        "/ws" => Ok(websocket_upgrade(&mut req)),
        "/bytes" => {
            let n: u64 = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("n="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let chunked = query.contains("chunked");
            let mut resp = Response::new(Generated::new(n, chunked).boxed());
            if !chunked {
                resp.headers_mut()
                    .insert("content-length", n.to_string().parse().unwrap());
            }
            Ok(resp)
        }
        "/dup" => {
            let mut resp = Response::new(full("dup"));
            resp.headers_mut()
                .append("set-cookie", "a=1".parse().unwrap());
            resp.headers_mut()
                .append("set-cookie", "b=2".parse().unwrap());
            Ok(resp)
        }
        _ => {
            let method = req.method().as_str().to_owned();
            let seen_headers: Vec<String> = req
                .headers()
                .iter()
                .map(|(n, _)| n.as_str().to_owned())
                .collect();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let mut resp = Response::new(full(body));
            let h = resp.headers_mut();
            h.insert("x-seen-method", method.parse().unwrap());
            h.insert("x-seen-version", version.parse().unwrap());
            h.insert("x-seen-headers", seen_headers.join(",").parse().unwrap());
            Ok(resp)
        }
    }
}

fn websocket_upgrade(req: &mut Request<Incoming>) -> Response<UpBody> {
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = on_upgrade.await.unwrap();
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_close() {
                break;
            }
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("connection", "upgrade".parse().unwrap());
    h.insert("upgrade", "websocket".parse().unwrap());
    h.insert("sec-websocket-accept", accept.parse().unwrap());
    resp
}

/// The byte at offset `i` of a generated body.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// A generated body of `n` bytes in 64 KiB chunks, never held in memory at once.
pub struct Generated {
    left: u64,
    offset: u64,
    chunked: bool,
}

impl Generated {
    pub fn new(n: u64, chunked: bool) -> Self {
        Self {
            left: n,
            offset: 0,
            chunked,
        }
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let len = self.left.min(64 * 1024);
        let start = self.offset;
        let chunk: Vec<u8> = (start..start + len).map(pattern).collect();
        self.left -= len;
        self.offset += len;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.chunked {
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.left)
        }
    }
}

/// A request body sent as the given chunks without a length (so: chunked on HTTP/1.1).
pub struct Chunks(pub VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// An in-process corscope.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    pub ca: Arc<CertificateAuthority>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
}

/// Start corscope on 127.0.0.1:0 trusting `upstream_ca` (if any) for upstream TLS.
pub async fn start_proxy(
    upstream_ca: Option<&TestCa>,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> TestProxy {
    start_proxy_with_store(upstream_ca, Arc::new(Store::default()), tweak).await
}

/// [`start_proxy`] recording into `store` (e.g. one with small caps).
pub async fn start_proxy_with_store(
    upstream_ca: Option<&TestCa>,
    store: Arc<Store>,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> TestProxy {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ProxyConfig::local(dir.path().to_owned());
    if let Some(ca) = upstream_ca {
        config.upstream_trust.extra_ca_certs.push(ca.cert.clone());
    }
    tweak(&mut config);
    let ca = Arc::new(CertificateAuthority::load_or_create(&config.data_dir).unwrap());
    let proxy = Proxy::bind(config, ca.clone(), store.clone())
        .await
        .unwrap();
    let addr = proxy.local_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(proxy.run(shutdown.clone()));
    TestProxy {
        addr,
        store,
        ca,
        shutdown,
        task,
        dir,
    }
}

impl TestProxy {
    /// Wait until the store holds at least `n` exchanges; returns them.
    pub async fn exchanges(&self, n: usize) -> Vec<Arc<Exchange>> {
        let mut changes = self.store.subscribe();
        tokio::time::timeout(WAIT, async {
            loop {
                let snapshot = self.store.snapshot();
                if snapshot.exchanges.len() >= n {
                    return snapshot.exchanges;
                }
                changes.changed().await.unwrap();
            }
        })
        .await
        .expect("exchanges recorded in time")
    }

    /// Roots trusting corscope's CA only.
    pub fn client_roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert_der().clone()).unwrap();
        roots
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// A plain HTTP/1.1 client connection to the proxy.
pub async fn h1_to_proxy<B>(proxy: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(proxy).await.unwrap();
    h1_over(tcp).await
}

/// An HTTP/1.1 client connection over any stream (upgrades enabled).
pub async fn h1_over<B, S>(io: S) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    send
}

/// Open a CONNECT tunnel to `target` through the proxy; returns the raw stream.
pub async fn connect_tunnel(proxy: SocketAddr, target: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let response = read_head(&mut tcp).await;
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "CONNECT answered {response:?}"
    );
    tcp
}

/// Read up to the end of a response head (byte by byte: nothing after it is consumed).
pub async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// TLS over a tunnel, trusting `roots`, offering `alpn`.
pub async fn tls_over(
    tcp: TcpStream,
    roots: RootCertStore,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    tls_over_named(tcp, roots, alpn, "127.0.0.1").await
}

/// TLS over a tunnel with the given server name (SNI for DNS names).
pub async fn tls_over_named(
    tcp: TcpStream,
    roots: RootCertStore,
    alpn: &[&[u8]],
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// GET `path` from `target` (host:port) through the proxy's interception over HTTP/1.1,
/// the client trusting `roots`.
pub async fn intercepted_get(
    proxy: SocketAddr,
    target: &str,
    path: &str,
    roots: RootCertStore,
) -> Response<Incoming> {
    let tunnel = connect_tunnel(proxy, target).await;
    let tls = tls_over(tunnel, roots, &[b"http/1.1"]).await.unwrap();
    let mut send = h1_over(tls).await;
    let req = Request::get(path)
        .header("host", target)
        .body(Empty::<Bytes>::new())
        .unwrap();
    send.send_request(req).await.unwrap()
}

/// Send one request over HTTP/2 on an established TLS stream.
pub async fn h2_request(
    tls: TlsStream<TcpStream>,
    req: Request<Full<Bytes>>,
) -> Response<Incoming> {
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send.send_request(req).await.unwrap()
}

/// Collect a response body.
pub async fn body_bytes(resp: Response<Incoming>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// WebSocket handshake + echo of `messages` over an HTTP/1.1 client connection.
pub async fn websocket_echo<B>(
    mut send: hyper::client::conn::http1::SendRequest<B>,
    uri: &str,
    host: &str,
    empty: B,
) -> Vec<String>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use tokio_tungstenite::tungstenite::Message;
    let req = Request::get(uri)
        .header("host", host)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(empty)
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let upgraded = hyper::upgrade::on(resp).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    let mut echoed = Vec::new();
    for text in ["hello", "corscope"] {
        ws.send(Message::text(text)).await.unwrap();
        let reply = ws.next().await.unwrap().unwrap();
        echoed.push(reply.into_text().unwrap().to_string());
    }
    let _ = ws.close(None).await;
    echoed
}

/// A request as a [`CorsServer`] saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    /// Header names lowercased (hyper), values as sent, in order.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain-HTTP server whose CORS answers are chosen per request by query parameters, and
/// which records every request it receives.
///
/// Parameters: `acao` (`origin` reflects the request's Origin), `acam`, `acah`, `aceh`,
/// `acac`, `status`, `pf_status` (status of OPTIONS only), `location`, `bin=N` (N binary
/// bytes), `gzip` (the body gzip-encoded), `setcookie`, `ct` (Content-Type).
pub struct CorsServer {
    pub addr: SocketAddr,
    pub seen: Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl CorsServer {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub async fn start_cors_server() -> CorsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    serve_h1_with(listener, move |req| cors_route(req, log.clone()));
    CorsServer { addr, seen }
}

/// Serve plain HTTP/1.1 (keep-alive) on `listener` in the background, answering every
/// request with `handler`.
pub fn serve_h1_with<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<UpBody>, Infallible>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(handler))
                    .await;
            });
        }
    });
}

async fn cors_route(
    req: Request<Incoming>,
    log: Arc<std::sync::Mutex<Vec<Seen>>>,
) -> Result<Response<UpBody>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let origin = req
        .headers()
        .get("origin")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path_and_query,
        headers,
    });
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut data: Vec<u8> = match param("bin") {
        Some(n) => (0..n.parse::<u64>().unwrap()).map(pattern).collect(),
        None if method == "OPTIONS" => Vec::new(),
        None => format!("{{\"method\":\"{method}\",\"echo\":{}}}", body.len()).into_bytes(),
    };
    let gzip = param("gzip").is_some();
    if gzip {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&data).unwrap();
        data = e.finish().unwrap();
    }
    let mut resp = Response::new(full(data));
    let status = match (method.as_str(), param("pf_status"), param("status")) {
        ("OPTIONS", Some(s), _) => s,
        (_, _, Some(s)) => s,
        ("OPTIONS", None, None) => "204".to_owned(),
        _ => "200".to_owned(),
    };
    *resp.status_mut() = StatusCode::from_u16(status.parse().unwrap()).unwrap();
    let h = resp.headers_mut();
    let mut set = |name: &'static str, value: Option<String>| {
        if let Some(v) = value {
            h.append(name, v.parse().unwrap());
        }
    };
    let acao = param("acao").map(|v| {
        if v == "origin" {
            origin.clone().unwrap_or_default()
        } else {
            v
        }
    });
    set("access-control-allow-origin", acao);
    set("access-control-allow-methods", param("acam"));
    set("access-control-allow-headers", param("acah"));
    set("access-control-expose-headers", param("aceh"));
    set("access-control-allow-credentials", param("acac"));
    set("location", param("location"));
    set("set-cookie", param("setcookie"));
    set("content-type", param("ct"));
    set("content-encoding", gzip.then(|| "gzip".to_owned()));
    Ok(resp)
}

/// The live follower judging `store` (Chrome profile) into [`Following::verdicts`].
pub struct Following {
    pub verdicts: Arc<corscope::live::Verdicts>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

pub fn follow(store: Arc<Store>) -> Following {
    let verdicts = Arc::new(corscope::live::Verdicts::new(
        corscope::cors::Profile::Chrome,
    ));
    let stop = CancellationToken::new();
    let task = tokio::spawn(corscope::live::follow(
        store,
        verdicts.clone(),
        stop.clone(),
    ));
    Following {
        verdicts,
        stop,
        task,
    }
}

impl Following {
    /// Stop the follower: what still waited is settled, so every verdict is final.
    pub async fn finish(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}
