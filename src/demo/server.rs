//! The demo's origins on loopback: the page (files from `assets/demo/`, built into the
//! binary), the API that answers per scenario, and a second API origin for redirects.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::scenarios::{self, Credentials, Reply, Value, SCENARIOS};

const INDEX_HTML: &str = include_str!("../../assets/demo/index.html");
const APP_JS: &str = include_str!("../../assets/demo/app.js");
const STYLE_CSS: &str = include_str!("../../assets/demo/style.css");

/// Largest request body the demo servers read (the demo page sends tiny bodies).
const MAX_DEMO_BODY: usize = 1024 * 1024;

/// Addresses of the running demo origins.
#[derive(Debug, Clone)]
pub struct DemoServers {
    pub page: SocketAddr,
    pub api: SocketAddr,
    pub api2: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    results: watch::Receiver<Option<serde_json::Value>>,
}

impl DemoServers {
    pub fn page_origin(&self) -> String {
        format!("{}://{}", self.scheme, self.page)
    }

    pub fn api_origin(&self) -> String {
        format!("{}://{}", self.scheme, self.api)
    }

    pub fn api2_origin(&self) -> String {
        format!("{}://{}", self.scheme, self.api2)
    }

    /// Wait until a page run has posted its results (what each `fetch()` did).
    pub async fn wait_results(&mut self) -> Option<serde_json::Value> {
        let got = self.results.wait_for(Option::is_some).await.ok()?;
        got.clone()
    }
}

#[derive(Clone)]
struct Origins {
    page: String,
    api: String,
    api2: String,
    results: Arc<Mutex<watch::Sender<Option<serde_json::Value>>>>,
}

/// Bind the three origins on `ip` (ephemeral ports) over plain HTTP and serve them until
/// `shutdown` fires.
pub async fn start(
    ip: std::net::IpAddr,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<DemoServers> {
    start_with(ip, shutdown, None).await
}

/// [`start`], over HTTPS with `tls` when given (its certificate must cover `ip`).
pub async fn start_with(
    ip: std::net::IpAddr,
    shutdown: watch::Receiver<bool>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<DemoServers> {
    let page = TcpListener::bind((ip, 0)).await?;
    let api = TcpListener::bind((ip, 0)).await?;
    let api2 = TcpListener::bind((ip, 0)).await?;
    let (tx, rx) = watch::channel(None);
    let servers = DemoServers {
        page: page.local_addr()?,
        api: api.local_addr()?,
        api2: api2.local_addr()?,
        scheme: if tls.is_some() { "https" } else { "http" },
        results: rx,
    };
    let origins = Origins {
        page: servers.page_origin(),
        api: servers.api_origin(),
        api2: servers.api2_origin(),
        results: Arc::new(Mutex::new(tx)),
    };
    for (listener, role) in [(page, Role::Page), (api, Role::Api), (api2, Role::Api2)] {
        tokio::spawn(serve(
            listener,
            role,
            origins.clone(),
            shutdown.clone(),
            tls.clone().map(tokio_rustls::TlsAcceptor::from),
        ));
    }
    Ok(servers)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Page,
    Api,
    Api2,
}

async fn serve(
    listener: TcpListener,
    role: Role,
    origins: Origins,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let origins = origins.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let origins = origins.clone();
                async move { Ok::<_, Infallible>(handle(role, &origins, req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                }
            }
        });
    }
}

async fn handle(role: Role, origins: &Origins, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match role {
        Role::Page => page(origins, req).await,
        Role::Api | Role::Api2 => api(role, origins, &req),
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The config the page loads: API origins and the scenarios to run.
pub fn page_config(page: &str, api: &str, api2: &str) -> serde_json::Value {
    let scenarios: Vec<_> = SCENARIOS
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "title": s.title,
                "note": s.note,
                "method": s.method,
                "path": s.path(),
                "headers": s.headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "body": s.body,
                "credentials": match s.credentials {
                    Credentials::Include => "include",
                    Credentials::SameOrigin => "same-origin",
                },
                "read_header": s.read_header,
                "expect": s.expect,
            })
        })
        .collect();
    json!({ "page": page, "api": { "api": api, "api2": api2 }, "scenarios": scenarios })
}

async fn page(origins: &Origins, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/" | "/index.html") => {
            let mut res = text(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML);
            // A cookie, so `credentials: 'include'` requests carry one, as in real apps.
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static("demo_session=1; Path=/; SameSite=Lax"),
            );
            res
        }
        (&Method::GET, "/app.js") => text(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
        (&Method::GET, "/style.css") => text(StatusCode::OK, "text/css; charset=utf-8", STYLE_CSS),
        (&Method::GET, "/demo-config.json") => {
            let cfg = page_config(&origins.page, &origins.api, &origins.api2);
            text(StatusCode::OK, "application/json", cfg.to_string())
        }
        (&Method::POST, "/demo-results") => {
            let body = match http_body_util::Limited::new(req.into_body(), MAX_DEMO_BODY)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::BAD_REQUEST, "text/plain", "bad body"),
            };
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => {
                    if let Ok(tx) = origins.results.lock() {
                        tx.send_replace(Some(v));
                    }
                    text(StatusCode::NO_CONTENT, "text/plain", "")
                }
                Err(e) => text(StatusCode::BAD_REQUEST, "text/plain", e.to_string()),
            }
        }
        (&Method::GET, "/favicon.ico") => text(StatusCode::NO_CONTENT, "text/plain", ""),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

fn api(role: Role, origins: &Origins, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/api/") else {
        return text(StatusCode::NOT_FOUND, "text/plain", "not found");
    };
    let (id, is_target) = match rest.strip_suffix("/target") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(s) = scenarios::find(id) else {
        return text(StatusCode::NOT_FOUND, "text/plain", "no such scenario");
    };
    let reply = match (role, is_target, req.method() == Method::OPTIONS) {
        (Role::Api2, true, _) => s.redirect_target,
        (Role::Api2, false, _) | (Role::Api, true, _) => None,
        (Role::Api, false, true) => s.preflight,
        (Role::Api, false, false) => Some(s.actual),
        (Role::Page, ..) => None,
    };
    let Some(reply) = reply else {
        return text(StatusCode::NOT_FOUND, "text/plain", "not found");
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    build_reply(
        &reply,
        origin,
        &format!("{}{}", origins.api2, s.target_path()),
        &origins.page,
    )
}

fn build_reply(
    reply: &Reply,
    origin: Option<&str>,
    target: &str,
    page: &str,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(reply.body.as_bytes())));
    *res.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    for (name, value) in reply.headers {
        let v = match value {
            Value::Lit(s) => (*s).to_owned(),
            Value::ReflectOrigin => origin.unwrap_or("*").to_owned(),
            Value::RedirectTarget => target.to_owned(),
            Value::PageOrigin => page.to_owned(),
        };
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
