//! The yardstick for `bench/proxy.sh reference`: a forward proxy on corscope's own stack
//! (hyper 1 + hyper-util + tokio-rustls + rcgen, the system allocator) that captures
//! nothing and has no UI. Plain HTTP is forwarded from absolute-form requests; `CONNECT` is
//! intercepted with a leaf certificate per host (minted once, cached) signed by a CA made
//! at start, and the decrypted requests are forwarded over TLS. Each client connection
//! keeps one upstream connection and reuses it while the target stays the same, which is
//! what a straightforward hyper proxy does. An intercepted client that negotiates h2 gets
//! HTTP/2, and its requests share one h2 connection upstream (the origin must speak h2).
//!
//! ```text
//! cargo run --release --example reference_proxy -- 127.0.0.1:PORT [UPSTREAM_CA.pem]
//! ```
//! `UPSTREAM_CA.pem` is added to the web PKI roots for upstream TLS (the bench origin's CA).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Process-wide state: the CA, the leaf cache and the upstream TLS settings.
struct Proxy {
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_der: CertificateDer<'static>,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
    upstream_tls: TlsConnector,
    upstream_h2_tls: TlsConnector,
}

/// Where a client connection's requests go: scheme and authority.
#[derive(Clone, PartialEq, Eq)]
struct Target {
    tls: bool,
    authority: String,
}

/// One client connection's upstream connection, reused while the target is the same.
type Upstream = Arc<tokio::sync::Mutex<Option<(Target, SendRequest<Incoming>)>>>;

/// One h2 client connection's upstream h2 connection, shared by its streams.
type UpstreamH2 =
    Arc<tokio::sync::Mutex<Option<hyper::client::conn::http2::SendRequest<Incoming>>>>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8899".to_owned());
    let upstream_ca = args.next();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(listen, upstream_ca))
}

async fn serve(listen: String, upstream_ca: Option<String>) -> anyhow::Result<()> {
    let proxy = Arc::new(Proxy::new(upstream_ca.as_deref())?);
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!("reference proxy on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let upstream = Upstream::default();
            let service = service_fn(move |req| handle(proxy.clone(), upstream.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}

impl Proxy {
    fn new(upstream_ca: Option<&str>) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_der = ca_params.self_signed(&ca_key)?.der().clone();
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = upstream_ca {
            for cert in
                CertificateDer::pem_file_iter(path).with_context(|| format!("reading {path}"))?
            {
                roots.add(cert.with_context(|| format!("parsing {path}"))?)?;
            }
        }
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut h2_client = client.clone();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        h2_client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            ca_key,
            ca_params,
            ca_der,
            leaves: Mutex::default(),
            upstream_tls: TlsConnector::from(Arc::new(client)),
            upstream_h2_tls: TlsConnector::from(Arc::new(h2_client)),
        })
    }

    /// The TLS settings presenting a leaf for `host`, minted on first use.
    fn leaf(&self, host: &str) -> anyhow::Result<Arc<ServerConfig>> {
        let mut leaves = self
            .leaves
            .lock()
            .map_err(|_| anyhow::anyhow!("leaf cache poisoned"))?;
        if let Some(config) = leaves.get(host) {
            return Ok(config.clone());
        }
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = CertificateParams::new(vec![host.to_owned()])?.signed_by(&key, &issuer)?;
        let chain = vec![cert.der().clone(), self.ca_der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let config = Arc::new(config);
        leaves.insert(host.to_owned(), config.clone());
        Ok(config)
    }
}

async fn handle(
    proxy: Arc<Proxy>,
    upstream: Upstream,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    if req.method() == Method::CONNECT {
        let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
            return Ok(status(StatusCode::BAD_REQUEST, "CONNECT needs host:port"));
        };
        tokio::spawn(async move {
            if let Err(e) = intercept(proxy, authority, req).await {
                eprintln!("intercept: {e:#}");
            }
        });
        return Ok(Response::new(empty()));
    }
    let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
        return Ok(status(
            StatusCode::BAD_REQUEST,
            "expected an absolute-form URL",
        ));
    };
    let target = Target {
        tls: false,
        authority,
    };
    Ok(forward(&proxy, &upstream, target, req).await)
}

/// Terminate TLS on the upgraded `CONNECT` stream and serve the requests inside it.
async fn intercept(
    proxy: Arc<Proxy>,
    authority: String,
    req: Request<Incoming>,
) -> anyhow::Result<()> {
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(host, _)| host);
    let config = proxy.leaf(host)?;
    let upgraded = hyper::upgrade::on(req).await?;
    let tls = TlsAcceptor::from(config)
        .accept(TokioIo::new(upgraded))
        .await?;
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let upstream = UpstreamH2::default();
        let service = service_fn(move |req| {
            let (proxy, upstream, authority) = (proxy.clone(), upstream.clone(), authority.clone());
            async move {
                let response = match send_h2(&proxy, &upstream, &authority, req).await {
                    Ok(response) => response.map(|body| body.boxed()),
                    Err(e) => status(StatusCode::BAD_GATEWAY, &format!("{e:#}")),
                };
                Ok::<_, Infallible>(response)
            }
        });
        http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), service)
            .await?;
        return Ok(());
    }
    let upstream = Upstream::default();
    let target = Target {
        tls: true,
        authority,
    };
    let service = service_fn(move |req| {
        let (proxy, upstream, target) = (proxy.clone(), upstream.clone(), target.clone());
        async move { Ok::<_, Infallible>(forward(&proxy, &upstream, target, req).await) }
    });
    http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await?;
    Ok(())
}

async fn forward(
    proxy: &Proxy,
    upstream: &Upstream,
    target: Target,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    match send(proxy, upstream, target, req).await {
        Ok(response) => response.map(|body| body.boxed()),
        Err(e) => status(StatusCode::BAD_GATEWAY, &format!("{e:#}")),
    }
}

async fn send(
    proxy: &Proxy,
    upstream: &Upstream,
    target: Target,
    mut req: Request<Incoming>,
) -> anyhow::Result<Response<Incoming>> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()?;
    *req.uri_mut() = path;
    if !req.headers().contains_key(hyper::header::HOST) {
        req.headers_mut()
            .insert(hyper::header::HOST, target.authority.parse()?);
    }
    let mut slot = upstream.lock().await;
    let reusable = matches!(&*slot, Some((t, sender)) if *t == target && !sender.is_closed());
    if !reusable {
        *slot = Some((target.clone(), connect(proxy, &target).await?));
    }
    let Some((_, sender)) = slot.as_mut() else {
        anyhow::bail!("no upstream connection");
    };
    sender.ready().await?;
    Ok(sender.send_request(req).await?)
}

/// Send an h2 request (its URI carries scheme and authority) over the client connection's
/// upstream h2 connection, opened on first use and again when it has closed.
async fn send_h2(
    proxy: &Proxy,
    upstream: &UpstreamH2,
    authority: &str,
    req: Request<Incoming>,
) -> anyhow::Result<Response<Incoming>> {
    let mut sender = {
        let mut slot = upstream.lock().await;
        match &*slot {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let tcp = TcpStream::connect(authority).await?;
                let _ = tcp.set_nodelay(true);
                let host = authority
                    .rsplit_once(':')
                    .map_or(authority, |(host, _)| host);
                let name = ServerName::try_from(host.to_owned())?;
                let tls = proxy.upstream_h2_tls.connect(name, tcp).await?;
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                        .await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                slot.insert(sender).clone()
            }
        }
    };
    sender.ready().await?;
    Ok(sender.send_request(req).await?)
}

async fn connect(proxy: &Proxy, target: &Target) -> anyhow::Result<SendRequest<Incoming>> {
    let tcp = TcpStream::connect(&target.authority).await?;
    let _ = tcp.set_nodelay(true);
    if target.tls {
        let host = target
            .authority
            .rsplit_once(':')
            .map_or(target.authority.as_str(), |(host, _)| host);
        let name = ServerName::try_from(host.to_owned())?;
        let tls = proxy.upstream_tls.connect(name, tcp).await?;
        handshake(TokioIo::new(tls)).await
    } else {
        handshake(TokioIo::new(tcp)).await
    }
}

async fn handshake<T>(io: T) -> anyhow::Result<SendRequest<Incoming>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn status(code: StatusCode, text: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
}
