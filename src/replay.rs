//! Resending a captured request to its server (the UI's `r`): after a change on the
//! server, see whether the verdict changed without going back to the page.
//!
//! The request goes out as the browser would send it with an empty preflight cache: the
//! preflight first when the request needs one — the one captured with it, or else (it rode
//! a cached one) one built as Chromium builds it — and the request itself only when that
//! preflight allows it. Both are sent straight to the server over fresh HTTP/1.1
//! connections (as `corscope probe` sends them) and pushed into the store, where the live
//! verdicts judge and pair them like any other exchange. A failure on the way (DNS,
//! refused, TLS, timeout) is recorded in the exchange's `error`, as the proxy records it.
//! Redirects are not followed: the first answer is recorded and judged.

use std::sync::Arc;

use bytes::Bytes;

use crate::capture::store::Store;
use crate::capture::{Body, Exchange, ExchangeId, HeaderList, RequestRecord};
use crate::cors;
use crate::cors::classify::{classify, needs, Kind, Role};
use crate::cors::verdict::PreflightUse;
use crate::live::Verdicts;
use crate::probe::{host_header, Client};
use crate::tls::upstream::{client_config, UpstreamTlsError, UpstreamTrust};

/// Headers of one connection only (RFC 9110 §7.6.1) and the framing the new connection
/// sets itself: not resent.
const NOT_RESENT: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Why an exchange cannot be resent.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("#{0} is no longer held (cleared, or evicted by the store's cap)")]
    Gone(ExchangeId),
    #[error("#{id} cannot be resent: {why}")]
    Unsupported { id: ExchangeId, why: String },
    #[error(
        "#{id}'s request body was captured only in part ({captured} of {total} bytes); \
         raise --max-body-capture to resend it"
    )]
    Truncated {
        id: ExchangeId,
        captured: usize,
        total: u64,
    },
}

/// What a resend did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    /// The preflight sent, with its new id.
    pub preflight: Option<ExchangeId>,
    /// The request sent, with its new id (`None` when the preflight stopped it, or the
    /// request was never captured).
    pub request: Option<ExchangeId>,
    /// One line for the user.
    pub summary: String,
}

/// Resends captured exchanges and records what comes back.
pub struct Replayer {
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    tls: Arc<rustls::ClientConfig>,
}

impl Replayer {
    /// A replayer over `store` whose pairing `verdicts` knows, checking upstream
    /// certificates as `trust` says (as the proxy does).
    pub fn new(
        store: Arc<Store>,
        verdicts: Arc<Verdicts>,
        trust: &UpstreamTrust,
    ) -> Result<Self, UpstreamTlsError> {
        Ok(Self::with_tls(
            store,
            verdicts,
            client_config(trust, &[b"http/1.1"])?,
        ))
    }

    /// A replayer reaching `https` servers with `tls`, an HTTP/1.1 client config (the
    /// proxy's own: [`crate::proxy::Proxy::upstream_tls`]).
    pub fn with_tls(
        store: Arc<Store>,
        verdicts: Arc<Verdicts>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            store,
            verdicts,
            tls,
        }
    }

    /// Resend exchange `id` (see the module notes for what is sent).
    pub async fn resend(&self, id: ExchangeId) -> Result<Resent, ReplayError> {
        let ex = self.store.get(id).ok_or(ReplayError::Gone(id))?;
        let verdict = self.verdicts.get(id);
        let partner = verdict
            .as_ref()
            .and_then(|v| v.paired_with)
            .and_then(|p| self.store.get(p));
        let role = verdict.as_ref().and_then(|v| v.role);
        let (preflight, request) = match role {
            Some(Role::Preflight) => (Some(ex.clone()), partner),
            // Its own preflight; one it rode from the cache was sent for an earlier
            // request (whose header list may differ), so a new one is built for it below.
            Some(Role::Actual) => match verdict.as_ref().and_then(|v| v.preflight) {
                Some(PreflightUse::Paired) if partner.is_some() => (partner, Some(ex.clone())),
                _ => (None, Some(ex.clone())),
            },
            _ => (None, Some(ex.clone())),
        };
        let request = request.map(|r| fresh(&r)).transpose()?;
        let profile = self.verdicts.profile();
        let preflight = match (preflight, &request) {
            (Some(pf), _) => Some(fresh(&pf)?),
            // A request that needs a preflight none was captured for (it rode one cached
            // earlier, or before the capture began): build the one the browser would send.
            (None, Some(r)) if classify(r).kind == Kind::Cors && needs(r, profile).preflight() => {
                Some(built_preflight(r, profile))
            }
            (None, _) => None,
        };
        let url = preflight
            .as_ref()
            .or(request.as_ref())
            .map(|e| e.request.url.clone())
            .unwrap_or_default();
        let parsed = url::Url::parse(&url).map_err(|e| ReplayError::Unsupported {
            id,
            why: format!("its URL {url:?} does not parse ({e})"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ReplayError::Unsupported {
                id,
                why: format!("{} is not HTTP", parsed.scheme()),
            });
        }
        let client = Client::to(&parsed, Some(self.tls.clone()));
        let mut out = Resent {
            preflight: None,
            request: None,
            summary: String::new(),
        };
        if let Some(mut pf) = preflight {
            let sent = send(&client, &mut pf).await;
            let allowed = match (&request, sent) {
                (Some(r), true) => !matches!(
                    cors::evaluate(Some(&pf), r, profile).preflight,
                    Some(Err(_))
                ),
                _ => false,
            };
            let failed = pf.error.clone();
            let pf_id = self.store.push(pf);
            out.preflight = Some(pf_id);
            if !allowed {
                out.summary = match (failed, &request) {
                    (Some(e), _) => format!("resent #{id}: preflight #{pf_id} failed: {e}"),
                    (None, Some(_)) => format!(
                        "resent #{id}: preflight #{pf_id} does not allow the request, so it was not sent"
                    ),
                    (None, None) => format!(
                        "resent #{id} as #{pf_id}; its request was never captured (reload the page to send it)"
                    ),
                };
                return Ok(out);
            }
        }
        if let Some(mut r) = request {
            send(&client, &mut r).await;
            let failed = r.error.clone();
            let r_id = self.store.push(r);
            out.request = Some(r_id);
            let sent = match out.preflight {
                Some(pf) => format!("preflight #{pf}, request #{r_id}"),
                None => format!("#{r_id}"),
            };
            out.summary = match failed {
                Some(e) => format!("resent #{id} as {sent}: failed: {e}"),
                None => format!("resent #{id} as {sent}"),
            };
        }
        Ok(out)
    }
}

/// Send `ex` and record the answer, or the failure in `error`; true when answered.
async fn send(client: &Client, ex: &mut Exchange) -> bool {
    match client.send(ex).await {
        Ok(()) => true,
        Err(e) => {
            ex.error = Some(e.to_string());
            false
        }
    }
}

/// A new exchange carrying `ex`'s request as it can go out again: connection-specific
/// headers dropped, `Host` first when the request (HTTP/2) had none.
fn fresh(ex: &Exchange) -> Result<Exchange, ReplayError> {
    let r = &ex.request;
    if r.body.is_truncated() {
        return Err(ReplayError::Truncated {
            id: ex.id,
            captured: r.body.captured.len(),
            total: r.body.total_size,
        });
    }
    if r.method.as_str() == "CONNECT" || r.headers.contains("upgrade") {
        return Err(ReplayError::Unsupported {
            id: ex.id,
            why: "a tunnel or protocol upgrade (e.g. a WebSocket) is not a request to resend"
                .to_owned(),
        });
    }
    let mut headers = HeaderList::default();
    if !r.headers.contains("host") {
        if let Some(host) = authority(&r.url) {
            headers.push("Host", host);
        }
    }
    for h in r.headers.iter() {
        if !NOT_RESENT.iter().any(|n| h.name.eq_ignore_ascii_case(n)) {
            headers.push(h.name, h.value);
        }
    }
    Ok(Exchange {
        request: RequestRecord {
            method: r.method.clone(),
            url: r.url.clone(),
            http_version: "HTTP/1.1".into(),
            headers,
            body: r.body.clone(),
        },
        ..Exchange::default()
    })
}

/// `host[:port]` of a URL, as a `Host` header carries it.
fn authority(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.has_host().then(|| host_header(&u))
}

/// The preflight Chromium sends for `request`: its method, its unsafe header names
/// (lowercase, sorted, joined with `,`), its `Origin`, and the request's own `User-Agent`,
/// `Referer` and `Sec-Fetch-Site` / `Sec-Fetch-Dest`.
fn built_preflight(request: &Exchange, profile: cors::Profile) -> Exchange {
    let r = &request.request;
    let need = needs(request, profile);
    let mut h = HeaderList::default();
    if let Some(host) = r
        .headers
        .first("host")
        .map(str::to_owned)
        .or(authority(&r.url))
    {
        h.push("Host", host);
    }
    h.push("Accept", "*/*");
    h.push("Access-Control-Request-Method", r.method.as_str());
    if !need.unsafe_headers.is_empty() {
        h.push(
            "Access-Control-Request-Headers",
            need.unsafe_headers.join(","),
        );
    }
    for name in ["origin", "user-agent", "sec-fetch-site", "referer"] {
        if let Some(v) = r.headers.first(name) {
            h.push(name, v);
        }
    }
    h.push("Sec-Fetch-Mode", "cors");
    h.push(
        "Sec-Fetch-Dest",
        r.headers.first("sec-fetch-dest").unwrap_or("empty"),
    );
    Exchange {
        request: RequestRecord {
            method: "OPTIONS".to_owned().into(),
            url: r.url.clone(),
            http_version: "HTTP/1.1".into(),
            headers: h,
            body: Body {
                captured: Bytes::new(),
                total_size: 0,
            },
        },
        ..Exchange::default()
    }
}
