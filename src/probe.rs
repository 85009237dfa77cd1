//! `corscope probe`: check a server's CORS answers without a browser. It sends the
//! preflight Chromium would send (only when one is needed, headers formatted as Chromium
//! formats them), then the actual request only when the preflight allowed it, records both
//! as [`Exchange`]s and judges them with the same engine as the proxy ([`cors::analyze`]).
//!
//! Exit status: 0 when not blocked, [`EXIT_BLOCKED`] (3) when a browser would block the
//! request, 2 on errors (bad arguments, DNS, connection refused, TLS).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::capture::{Body, Exchange, HeaderList, RequestRecord, ResponseRecord, Timings};
use crate::cli::{CredentialsArg, ProbeArgs, ProxyArgs};
use crate::cors::classify::{needs, url_origin, Kind};
use crate::cors::{self, Profile, Verdict};
use crate::tls::upstream::{client_config, UpstreamTlsError, UpstreamTrust};

/// Exit status when a browser would block the request (same as `headless --fail-on-blocked`).
pub const EXIT_BLOCKED: i32 = crate::headless::EXIT_BLOCKED;

/// How long one request (connect, send, response, body) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Response body bytes kept per response; the rest is counted only.
pub const MAX_BODY_KEPT: usize = 1024 * 1024;

/// The cookie sent for `--credentials include` when no `Cookie` header was given: it stands
/// in for the browser's cookie jar so that the server and the engine both see a
/// credentialed request (the wire is the only evidence of the credentials mode).
pub const STAND_IN_COOKIE: &str = "corscope_probe=1";

/// What `corscope probe` can fail on (as opposed to finding a block).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("unsupported URL scheme {0:?}: corscope probe speaks http and https")]
    Scheme(String),
    #[error("invalid --origin {0:?}: expected scheme://host[:port], e.g. http://localhost:5173")]
    Origin(String),
    #[error("invalid header {0:?}: expected 'Name: value'")]
    Header(String),
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("DNS lookup for {host} failed: {reason}")]
    Dns { host: String, reason: String },
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error(transparent)]
    TlsConfig(#[from] UpstreamTlsError),
    #[error("HTTP exchange with {host} failed: {reason}")]
    Http { host: String, reason: String },
    #[error("{host} did not answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout { host: String },
}

/// What to send: the request as a script would make it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Target URL (fragment removed).
    pub url: url::Url,
    /// The page origin, serialized.
    pub origin: String,
    /// The method as the browser sends it (normalised where Fetch normalises).
    pub method: String,
    /// Headers the script set, in order (a `Cookie` among them stands for the cookie jar).
    pub headers: HeaderList,
    /// Request body.
    pub body: Bytes,
    /// Credentials mode.
    pub credentials: CredentialsArg,
}

/// The two exchanges and their verdicts.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plan that was run.
    pub plan: Plan,
    /// The preflight, when one was needed (id 0).
    pub preflight: Option<Exchange>,
    /// The actual request, when it was sent (id 0 without a preflight, else 1).
    pub actual: Option<Exchange>,
    /// Verdicts, index-aligned with [`Report::exchanges`].
    pub verdicts: Vec<Verdict>,
    /// The profile judged as.
    pub profile: Profile,
    /// Things the user should know about how the probe was run.
    pub notes: Vec<String>,
}

impl Report {
    /// The exchanges sent, in order.
    pub fn exchanges(&self) -> Vec<&Exchange> {
        self.preflight.iter().chain(self.actual.iter()).collect()
    }

    /// The verdict that decides: the actual request's when it was sent, else the preflight's.
    pub fn decisive(&self) -> Option<&Verdict> {
        self.verdicts.last()
    }

    /// True when a browser would block the request.
    pub fn blocked(&self) -> bool {
        self.verdicts.iter().any(|v| v.outcome.is_blocked())
    }
}

/// Fetch's "normalize a method": uppercase only these six, keep every other as given.
pub fn normalize_method(method: &str) -> String {
    const NORMALISED: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
    match NORMALISED.iter().find(|m| m.eq_ignore_ascii_case(method)) {
        Some(m) => (*m).to_owned(),
        None => method.to_owned(),
    }
}

/// `Sec-Fetch-Site` for a request from `origin` to `url` (sites compared by scheme and the
/// host's last two labels, an approximation of the registrable domain; IPs exactly).
pub fn sec_fetch_site(origin: &url::Url, url: &url::Url) -> &'static str {
    if origin.origin() == url.origin() {
        return "same-origin";
    }
    let site = |u: &url::Url| -> Option<String> {
        match u.host()? {
            url::Host::Domain(d) => {
                let labels: Vec<&str> = d.trim_end_matches('.').rsplit('.').take(2).collect();
                Some(labels.join("."))
            }
            other => Some(other.to_string()),
        }
    };
    if origin.scheme() == url.scheme() && site(origin) == site(url) {
        "same-site"
    } else {
        "cross-site"
    }
}

impl Plan {
    /// Validate the command line.
    pub fn from_args(args: &ProbeArgs) -> Result<Self, ProbeError> {
        let mut url = url::Url::parse(&args.url).map_err(|e| ProbeError::Url {
            url: args.url.clone(),
            reason: e.to_string(),
        })?;
        url.set_fragment(None);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProbeError::Scheme(url.scheme().to_owned()));
        }
        if url.host_str().is_none() {
            return Err(ProbeError::Url {
                url: args.url.clone(),
                reason: "no host".to_owned(),
            });
        }
        let origin = url::Url::parse(args.origin.trim())
            .ok()
            .filter(|o| matches!(o.path(), "" | "/") && o.query().is_none())
            .and_then(|o| url_origin(o.as_str()))
            .ok_or_else(|| ProbeError::Origin(args.origin.clone()))?;
        if http::Method::from_bytes(args.method.as_bytes()).is_err() {
            return Err(ProbeError::Method(args.method.clone()));
        }
        let mut headers = HeaderList::default();
        for h in &args.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| ProbeError::Header(h.clone()))?;
            let name = name.trim();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value.trim()).is_err()
            {
                return Err(ProbeError::Header(h.clone()));
            }
            headers.push(name, value.trim());
        }
        let credentials = args.credentials.unwrap_or(if headers.contains("cookie") {
            CredentialsArg::Include
        } else {
            CredentialsArg::Omit
        });
        Ok(Self {
            url,
            origin,
            method: normalize_method(&args.method),
            headers,
            body: args.data.clone().map(Bytes::from).unwrap_or_default(),
            credentials,
        })
    }

    fn host_header(&self) -> String {
        host_header(&self.url)
    }

    fn site(&self) -> &'static str {
        match url::Url::parse(&self.origin) {
            Ok(o) => sec_fetch_site(&o, &self.url),
            Err(_) => "cross-site",
        }
    }

    /// The actual request's headers, in the order Chromium sends them; returns notes about
    /// what was dropped or added.
    fn actual_headers(&self) -> (HeaderList, Vec<String>) {
        let mut notes = Vec::new();
        let mut h = HeaderList::default();
        h.push("Host", self.host_header());
        if !self.body.is_empty() {
            h.push("Content-Length", self.body.len().to_string());
        }
        let mut cookies = Vec::new();
        for header in self.headers.iter() {
            if header.name.eq_ignore_ascii_case("cookie") {
                cookies.push(header.value.to_owned());
            } else {
                h.push(header.name, header.value);
            }
        }
        if !self.headers.contains("accept") {
            h.push("Accept", "*/*");
        }
        h.push("Origin", self.origin.clone());
        h.push(
            "User-Agent",
            concat!("corscope/", env!("CARGO_PKG_VERSION")),
        );
        h.push("Sec-Fetch-Site", self.site());
        h.push("Sec-Fetch-Mode", "cors");
        h.push("Sec-Fetch-Dest", "empty");
        match self.credentials {
            CredentialsArg::Include if cookies.is_empty() => {
                notes.push(format!(
                    "--credentials include without a Cookie header: sent `Cookie: {STAND_IN_COOKIE}` in place of the browser's cookie jar"
                ));
                h.push("Cookie", STAND_IN_COOKIE);
            }
            CredentialsArg::Include => h.push("Cookie", cookies.join("; ")),
            CredentialsArg::Omit if !cookies.is_empty() => {
                notes.push("--credentials omit: the Cookie header was not sent".to_owned());
            }
            CredentialsArg::Omit => {}
        }
        (h, notes)
    }

    /// The preflight's headers, in Chromium's order.
    fn preflight_headers(&self, unsafe_names: &[String]) -> HeaderList {
        let mut h = HeaderList::default();
        h.push("Host", self.host_header());
        h.push("Accept", "*/*");
        h.push("Access-Control-Request-Method", self.method.clone());
        if !unsafe_names.is_empty() {
            h.push("Access-Control-Request-Headers", unsafe_names.join(","));
        }
        h.push("Origin", self.origin.clone());
        h.push(
            "User-Agent",
            concat!("corscope/", env!("CARGO_PKG_VERSION")),
        );
        h.push("Sec-Fetch-Mode", "cors");
        h.push("Sec-Fetch-Site", self.site());
        h.push("Sec-Fetch-Dest", "empty");
        h
    }
}

fn request_record(plan: &Plan, method: &str, headers: HeaderList, body: Bytes) -> RequestRecord {
    RequestRecord {
        method: method.to_owned().into(),
        url: plan.url.to_string(),
        http_version: "HTTP/1.1".into(),
        headers,
        body: Body {
            total_size: body.len() as u64,
            captured: body,
        },
    }
}

/// Run the probe: preflight when needed, the actual request when allowed, verdicts.
pub async fn probe(
    plan: &Plan,
    profile: Profile,
    trust: &UpstreamTrust,
) -> Result<Report, ProbeError> {
    let (actual_headers, notes) = plan.actual_headers();
    let mut actual = Exchange {
        request: request_record(plan, &plan.method, actual_headers, plan.body.clone()),
        ..Exchange::default()
    };
    let class = cors::classify::classify(&actual);
    let need = needs(&actual, profile);
    let mut report = Report {
        plan: plan.clone(),
        preflight: None,
        actual: None,
        verdicts: Vec::new(),
        profile,
        notes,
    };
    let client = Client::new(plan, trust)?;
    if class.kind == Kind::Cors && need.preflight() {
        let headers = plan.preflight_headers(&need.unsafe_headers);
        let mut pf = Exchange {
            request: request_record(plan, "OPTIONS", headers, Bytes::new()),
            ..Exchange::default()
        };
        client.send(&mut pf).await?;
        let allowed = cors::evaluate(Some(&pf), &actual, profile).allowed();
        report.preflight = Some(pf);
        if !allowed {
            report.verdicts = cors::analyze(&report.exchanges_owned(), profile);
            return Ok(report);
        }
        actual.id = 1;
    }
    client.send(&mut actual).await?;
    report.actual = Some(actual);
    report.verdicts = cors::analyze(&report.exchanges_owned(), profile);
    Ok(report)
}

impl Report {
    fn exchanges_owned(&self) -> Vec<Exchange> {
        self.exchanges().into_iter().cloned().collect()
    }
}

/// `url`'s `host[:port]` as a `Host` header carries it (the port only when not the
/// scheme's default).
pub(crate) fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// One fresh HTTP/1.1 connection per request, as a browser's first contact would be.
pub(crate) struct Client {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    fn new(plan: &Plan, trust: &UpstreamTrust) -> Result<Self, ProbeError> {
        let tls = (plan.url.scheme() == "https")
            .then(|| client_config(trust, &[b"http/1.1"]))
            .transpose()?;
        Ok(Self::to(&plan.url, tls))
    }

    /// A client for `url`'s host and port; `tls` (an HTTP/1.1 client config) is used
    /// when the scheme is `https`.
    pub(crate) fn to(url: &url::Url, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Self {
            host: url.host_str().unwrap_or("").to_owned(),
            port: url.port_or_known_default().unwrap_or(80),
            tls: tls.filter(|_| url.scheme() == "https"),
        }
    }

    /// Send `ex.request` (its headers as they are, `Host` among them), filling in the
    /// response, timings and server address.
    pub(crate) async fn send(&self, ex: &mut Exchange) -> Result<(), ProbeError> {
        ex.started = chrono::Utc::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(ex)).await {
            Ok(r) => r,
            Err(_) => Err(ProbeError::Timeout {
                host: self.host.clone(),
            }),
        }
    }

    async fn exchange(&self, ex: &mut Exchange) -> Result<(), ProbeError> {
        let t0 = Instant::now();
        let lookup_host = self.host.trim_matches(['[', ']']).to_owned();
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((lookup_host.as_str(), self.port))
                .await
                .map_err(|e| ProbeError::Dns {
                    host: self.host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
        let dns = t0.elapsed();
        let mut last_err = String::from("no address found");
        let mut tcp = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some((s, *addr));
                    break;
                }
                Err(e) => last_err = e.to_string(),
            }
        }
        let (tcp, peer) = tcp.ok_or_else(|| ProbeError::Connect {
            host: self.host.clone(),
            port: self.port,
            reason: last_err,
        })?;
        ex.server_ip = Some(peer.ip().to_string().into());
        let connected = t0.elapsed();
        let (resp, ssl) = match &self.tls {
            None => (self.roundtrip(TokioIo::new(tcp), ex).await?, None),
            Some(config) => {
                let name =
                    ServerName::try_from(lookup_host.clone()).map_err(|e| ProbeError::Tls {
                        host: self.host.clone(),
                        reason: e.to_string(),
                    })?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ProbeError::Tls {
                        host: self.host.clone(),
                        reason: e.to_string(),
                    })?;
                let ssl = t0.elapsed() - connected;
                (self.roundtrip(TokioIo::new(tls), ex).await?, Some(ssl))
            }
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (response, sent_at, head_at) = resp;
        ex.response = Some(response);
        ex.timings = Timings {
            blocked: None.into(),
            dns: Some(ms(dns)).into(),
            connect: Some(ms(connected - dns) + ssl.map_or(0.0, ms)).into(),
            ssl: ssl.map(ms).into(),
            send: ms(sent_at.saturating_duration_since(t0 + connected + ssl.unwrap_or_default())),
            wait: ms(head_at.saturating_duration_since(sent_at)),
            receive: ms(head_at.elapsed()),
        };
        Ok(())
    }

    async fn roundtrip<I>(
        &self,
        io: I,
        ex: &Exchange,
    ) -> Result<(ResponseRecord, Instant, Instant), ProbeError>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let http_err = |e: &dyn std::fmt::Display| ProbeError::Http {
            host: self.host.clone(),
            reason: e.to_string(),
        };
        let (mut send, conn) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake::<_, Full<Bytes>>(io)
            .await
            .map_err(|e| http_err(&e))?;
        tokio::spawn(conn);
        let r = &ex.request;
        let path = match self_path(&r.url) {
            Some(p) => p,
            None => "/".to_owned(),
        };
        let mut builder = http::Request::builder().method(&*r.method).uri(path);
        for h in r.headers.iter() {
            builder = builder.header(h.name, h.value);
        }
        let req = builder
            .body(Full::new(r.body.captured.clone()))
            .map_err(|e| http_err(&e))?;
        let sent_at = Instant::now();
        let resp = send.send_request(req).await.map_err(|e| http_err(&e))?;
        let head_at = Instant::now();
        let status = resp.status();
        let status_text = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        let headers: HeaderList = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                crate::capture::Header::new(
                    n.as_str(),
                    crate::capture::exchange::decode_header_bytes(v.as_bytes()),
                )
            })
            .collect();
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| http_err(&e))?;
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                let room = MAX_BODY_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok((
            ResponseRecord {
                status: status.as_u16(),
                status_text: status_text.into(),
                http_version: "HTTP/1.1".into(),
                headers,
                body: Body {
                    captured: Bytes::from(kept),
                    total_size: total,
                },
            },
            sent_at,
            head_at,
        ))
    }
}

fn self_path(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let mut p = u.path().to_owned();
    if let Some(q) = u.query() {
        p.push('?');
        p.push_str(q);
    }
    Some(p)
}

/// `corscope probe ...`; returns the exit code.
pub fn run(proxy_args: &ProxyArgs, args: &ProbeArgs) -> anyhow::Result<i32> {
    crate::logging::init_stderr();
    let plan = Plan::from_args(args)?;
    let trust = UpstreamTrust {
        extra_ca_files: proxy_args.upstream_ca.clone(),
        extra_ca_certs: Vec::new(),
        insecure: args.insecure || proxy_args.insecure_upstream,
        system_roots: true,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(probe(&plan, proxy_args.profile, &trust))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &JsonReport::new(&report))?;
        writeln!(out)?;
    } else {
        out.write_all(render_text(&report).as_bytes())?;
    }
    out.flush()?;
    Ok(if report.blocked() { EXIT_BLOCKED } else { 0 })
}

/// The `--json` shape.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    url: String,
    origin: &'a str,
    method: &'a str,
    profile: Profile,
    credentials: &'static str,
    preflight_sent: bool,
    actual_sent: bool,
    verdict: &'static str,
    stage: Option<cors::Stage>,
    chrome_message: Option<&'a str>,
    firefox_reason: Option<&'a cors::verdict::FirefoxReason>,
    explanation: Option<&'a str>,
    diff: &'a [cors::diff::DiffItem],
    fix: Option<&'a str>,
    lints: &'a [cors::lint::Lint],
    notes: &'a [String],
    /// The exchanges sent, each with its verdict (`entry` indexes this list).
    exchanges: Vec<JsonExchange<'a>>,
}

#[derive(Serialize)]
struct JsonExchange<'a> {
    request: JsonMessage<'a>,
    response: Option<JsonMessage<'a>>,
    verdict: Option<&'a Verdict>,
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    headers: &'a HeaderList,
}

impl<'a> JsonReport<'a> {
    /// The report as `--json` prints it.
    pub fn new(r: &'a Report) -> Self {
        let d = r.decisive();
        Self {
            url: r.plan.url.to_string(),
            origin: &r.plan.origin,
            method: &r.plan.method,
            profile: r.profile,
            credentials: match r.plan.credentials {
                CredentialsArg::Include => "include",
                CredentialsArg::Omit => "omit",
            },
            preflight_sent: r.preflight.is_some(),
            actual_sent: r.actual.is_some(),
            verdict: if r.blocked() {
                "blocked"
            } else {
                d.map_or("unknown", |v| v.outcome.label())
            },
            stage: r.verdicts.iter().find_map(|v| v.outcome.stage()),
            chrome_message: d.and_then(|v| v.chrome_message.as_deref()),
            firefox_reason: d.and_then(|v| v.firefox_reason.as_ref()),
            explanation: d.map(|v| v.explanation.as_str()),
            diff: d.map_or(&[], |v| v.diff.as_slice()),
            fix: d.and_then(|v| v.fix.as_deref()),
            lints: d.map_or(&[], |v| v.lints.as_slice()),
            notes: &r.notes,
            exchanges: r
                .exchanges()
                .into_iter()
                .zip(0u64..)
                .map(|(e, i)| JsonExchange {
                    request: JsonMessage {
                        method: Some(&e.request.method),
                        url: Some(&e.request.url),
                        status: None,
                        headers: &e.request.headers,
                    },
                    response: e.response.as_ref().map(|resp| JsonMessage {
                        method: None,
                        url: None,
                        status: Some(resp.status),
                        headers: &resp.headers,
                    }),
                    verdict: r.verdicts.iter().find(|v| v.exchange == i),
                })
                .collect(),
        }
    }
}

/// The word serde gives a unit-like enum.
fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn push_headers(out: &mut String, prefix: &str, headers: &HeaderList) {
    for h in headers.iter() {
        out.push_str(&format!("{prefix}{}: {}\n", h.name, h.value));
    }
}

fn push_exchange(out: &mut String, label: &str, e: &Exchange) {
    out.push_str(&format!(
        "── {label}: {} {}\n",
        e.request.method, e.request.url
    ));
    push_headers(out, "   > ", &e.request.headers);
    if let Some(r) = &e.response {
        out.push_str(&format!("   < {} {}\n", r.status, r.status_text));
        push_headers(out, "   < ", &r.headers);
    }
}

/// The plain-text report: what was sent and received, then the verdict like the TUI's
/// detail pane (Chrome's message, Firefox's reason, the diff, the fix, lints).
pub fn render_text(r: &Report) -> String {
    let mut out = format!(
        "corscope probe: {} {} from origin {} (profile {}, credentials {})\n\n",
        r.plan.method,
        r.plan.url,
        r.plan.origin,
        label(&r.profile),
        match r.plan.credentials {
            CredentialsArg::Include => "include",
            CredentialsArg::Omit => "omit",
        }
    );
    match &r.preflight {
        Some(pf) => push_exchange(&mut out, "preflight", pf),
        None => out.push_str("── no preflight needed (simple request)\n"),
    }
    match &r.actual {
        Some(a) => push_exchange(&mut out, "request", a),
        None => out.push_str(&format!(
            "── request: {} {} not sent: the preflight did not allow it\n",
            r.plan.method, r.plan.url
        )),
    }
    out.push('\n');
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let Some(v) = r
        .verdicts
        .iter()
        .find(|v| v.outcome.is_blocked())
        .or(r.decisive())
    else {
        out.push_str("Verdict: unknown\n");
        return out;
    };
    let verdict = match v.outcome.stage() {
        Some(stage) => format!("BLOCKED at {}", format!("{stage:?}").to_ascii_lowercase()),
        None => v.outcome.label().to_ascii_uppercase(),
    };
    out.push_str(&format!("Verdict:  {verdict}\n"));
    if let Some(m) = &v.chrome_message {
        out.push_str(&format!("Chrome:   {m}\n"));
    }
    if let Some(f) = &v.firefox_reason {
        out.push_str(&format!("Firefox:  {} — {}\n", f.code, f.text));
    }
    if !v.explanation.is_empty() {
        out.push_str(&format!("Why:      {}\n", v.explanation));
    }
    if let Some(c) = &v.credentials {
        let mode = label(&c.mode);
        out.push_str(&format!("Credentials: {mode} (inferred: {})\n", c.evidence));
    }
    if !v.diff.is_empty() {
        out.push_str("Needed vs granted:\n");
        for d in &v.diff {
            let response = format!("{:?}", d.response).to_ascii_lowercase();
            let granted = d.granted.as_deref().unwrap_or("(absent)");
            let header = d.header.unwrap_or("status");
            out.push_str(&format!(
                "  {} {:<11} needed {:<28} {header} ({response}): {granted}\n",
                if d.ok { "✓" } else { "✗" },
                format!("{:?}", d.item).to_ascii_lowercase(),
                d.needed,
            ));
        }
    }
    if let Some(fix) = &v.fix {
        out.push_str(&format!("Fix:      {fix}\n"));
    }
    for l in &v.lints {
        out.push_str(&format!("Lint:     {}: {}\n", l.code, l.message));
    }
    for n in &v.notes {
        out.push_str(&format!("Note:     {n}\n"));
    }
    if let Some(h) = &v.readable_headers {
        out.push_str(&format!("JS can read: {}\n", h.join(", ")));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn methods_normalise_like_fetch() {
        assert_eq!(normalize_method("put"), "PUT");
        assert_eq!(normalize_method("Delete"), "DELETE");
        assert_eq!(normalize_method("patch"), "patch");
        assert_eq!(normalize_method("FOO"), "FOO");
    }

    #[test]
    fn sites() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            sec_fetch_site(&u("http://127.0.0.1:1"), &u("http://127.0.0.1:2/x")),
            "same-site"
        );
        assert_eq!(
            sec_fetch_site(&u("http://a.test"), &u("http://a.test/x")),
            "same-origin"
        );
        assert_eq!(
            sec_fetch_site(
                &u("https://app.example.com"),
                &u("https://api.example.com/")
            ),
            "same-site"
        );
        assert_eq!(
            sec_fetch_site(&u("http://app.example.com"), &u("https://api.example.com/")),
            "cross-site"
        );
        assert_eq!(
            sec_fetch_site(&u("http://a.test"), &u("http://b.test/")),
            "cross-site"
        );
    }
}
