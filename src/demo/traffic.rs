//! Browser-like traffic for the demo when no browser is at hand: each scenario is sent
//! through the proxy the way Chromium's `fetch()` sends it — `Origin`, `Sec-Fetch-*`, a
//! preflight only when one is needed (with `Access-Control-Request-Headers` formatted as
//! Chromium does), the actual request only when the preflight allowed it, redirects
//! followed with `Origin: null` after a cross-origin hop. The decisions use the same CORS
//! checks as the engine; corscope then judges what it captured like any other traffic.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;

use super::scenarios::{Credentials, Scenario};
use crate::capture::HeaderList;
use crate::cors::check::{cors_check, preflight_check};
use crate::cors::safelist::{is_safelisted_method, unsafe_header_names};
use crate::cors::Profile;

/// Chromium's user agent string shape (the demo's traffic says it is not a real browser).
const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) corscope-demo/1.0";

/// Most redirects followed, as in the Fetch standard.
const MAX_REDIRECTS: usize = 20;

/// What the emulated `fetch()` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchResult {
    /// `fetch()` resolved with this status.
    Resolved(u16),
    /// `fetch()` rejected (a CORS check failed, or the network failed).
    Rejected(String),
}

/// One response as the emulated browser saw it.
struct Answer {
    status: u16,
    headers: HeaderList,
}

/// Send `method url` with `headers` through the HTTP proxy at `proxy` (absolute-form).
async fn send(
    proxy: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&'static str>,
) -> Result<Answer, String> {
    let stream = TcpStream::connect(proxy)
        .await
        .map_err(|e| format!("cannot reach the proxy at {proxy}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(
            body.map(|b| Bytes::from_static(b.as_bytes()))
                .unwrap_or_default(),
        ))
        .map_err(|e| e.to_string())?;
    for (k, v) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            req.headers_mut().append(n, v);
        }
    }
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let mut out = HeaderList::default();
    for (k, v) in res.headers() {
        out.push(k.as_str(), String::from_utf8_lossy(v.as_bytes()));
    }
    // Read the body so the exchange completes, as a browser would.
    let _ = res.into_body().collect().await;
    Ok(Answer {
        status,
        headers: out,
    })
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn origin_of(url: &str) -> String {
    let scheme = url.split_once("://").map_or("http", |(s, _)| s);
    format!("{scheme}://{}", host_of(url))
}

/// Headers every emulated request carries (in Chromium's order, roughly).
fn common(url: &str, origin: &str, page: &str) -> Vec<(String, String)> {
    vec![
        ("Host".into(), host_of(url).into()),
        ("Accept".into(), "*/*".into()),
        ("Origin".into(), origin.into()),
        ("User-Agent".into(), USER_AGENT.into()),
        // The demo's origins are ports of one host: same site, like Chromium says.
        ("Sec-Fetch-Site".into(), "same-site".into()),
        ("Sec-Fetch-Mode".into(), "cors".into()),
        ("Sec-Fetch-Dest".into(), "empty".into()),
        ("Referer".into(), format!("{page}/")),
        ("Accept-Language".into(), "en-US,en;q=0.9".into()),
    ]
}

/// Run one scenario's `fetch()` from `page` through `proxy`.
pub async fn fetch(
    proxy: SocketAddr,
    page: &str,
    api: &str,
    s: &Scenario,
    profile: Profile,
) -> FetchResult {
    let include = s.credentials == Credentials::Include;
    // Every scenario starts at the main API; the second origin is reached by redirect.
    let mut url = format!("{api}{}", s.path());
    let mut origin = page.to_owned();
    let mut script: HeaderList = HeaderList::default();
    for (k, v) in s.headers {
        script.push(*k, *v);
    }
    for _ in 0..=MAX_REDIRECTS {
        let unsafe_names = unsafe_header_names(&script, profile);
        if !is_safelisted_method(s.method) || !unsafe_names.is_empty() {
            if let Err(e) = preflight(
                proxy,
                &url,
                &origin,
                page,
                s,
                &unsafe_names,
                include,
                profile,
            )
            .await
            {
                return FetchResult::Rejected(e);
            }
        }
        let mut headers = common(&url, &origin, page);
        headers.extend(
            script
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_owned())),
        );
        if include {
            headers.push(("Cookie".into(), "demo_session=1".into()));
        }
        let answer = match send(proxy, s.method, &url, &headers, s.body).await {
            Ok(a) => a,
            Err(e) => return FetchResult::Rejected(e),
        };
        if let Err(f) = cors_check(&answer.headers, &origin, include) {
            return FetchResult::Rejected(format!("CORS check failed: {:?}", f.kind));
        }
        let location = answer.headers.first("location").map(str::to_owned);
        match (answer.status, location) {
            (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                // A cross-origin hop taints the request: Origin becomes "null".
                if origin_of(&loc) != origin_of(&url) {
                    origin = "null".to_owned();
                }
                url = loc;
            }
            (status, _) => return FetchResult::Resolved(status),
        }
    }
    FetchResult::Rejected("too many redirects".into())
}

#[allow(clippy::too_many_arguments)]
async fn preflight(
    proxy: SocketAddr,
    url: &str,
    origin: &str,
    page: &str,
    s: &Scenario,
    unsafe_names: &[String],
    include: bool,
    profile: Profile,
) -> Result<(), String> {
    let mut headers = vec![
        ("Host".to_owned(), host_of(url).to_owned()),
        ("Accept".to_owned(), "*/*".to_owned()),
        (
            "Access-Control-Request-Method".to_owned(),
            s.method.to_owned(),
        ),
    ];
    if !unsafe_names.is_empty() {
        // Lowercase, sorted, joined with "," and no space: Chromium's format.
        headers.push((
            "Access-Control-Request-Headers".into(),
            unsafe_names.join(","),
        ));
    }
    headers.extend(
        common(url, origin, page)
            .into_iter()
            .filter(|(k, _)| k != "Host" && k != "Accept"),
    );
    let answer = send(proxy, "OPTIONS", url, &headers, None).await?;
    preflight_check(
        answer.status,
        &answer.headers,
        origin,
        s.method,
        unsafe_names.iter().map(String::as_str),
        include,
        profile,
    )
    .map(|_| ())
    .map_err(|f| format!("preflight failed: {:?}", f.kind))
}

/// Run every scenario in order; returns each one's result.
pub async fn run_all(
    proxy: SocketAddr,
    page: &str,
    api: &str,
    profile: Profile,
) -> Vec<(&'static str, FetchResult)> {
    let mut out = Vec::new();
    for s in super::scenarios::SCENARIOS {
        out.push((s.id, fetch(proxy, page, api, s, profile).await));
    }
    out
}
