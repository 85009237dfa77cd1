//! One request: record its head, send it upstream with its body streaming through (over
//! the pooled client, or for an h2 client over its connection's own h2 upstream), and
//! relay the response (recorded as it streams back). When the upstream cannot be reached
//! the client gets a 502 (504 on timeout) whose one-line body names the cause, and the
//! exchange is recorded with that error.

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::recorder::{client_fault, ClientBody, InFlight, ProxyBody, RecordingBody, Side};
use super::upstream::{BoxError, H2Send, UpstreamInfo};
use super::{connect, fault, websocket, ConnCtx, Target};
use crate::capture::exchange::{
    decode_header_bytes, Body, HeaderList, RequestRecord, ResponseRecord,
};

/// The body of a request on its way upstream: the client's, read with an idle timeout and
/// recorded as it goes.
pub(crate) type UpstreamBody = RecordingBody<ClientBody<Incoming>>;

/// Why a request aimed at corscope itself is refused.
pub(crate) const LOOP: &str = "refusing to forward a request to corscope itself (it would loop)";

/// Handle one request from a client connection.
pub(crate) async fn handle(mut req: Request<Incoming>, ctx: Arc<ConnCtx>) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        if let Target::Proxy = ctx.target {
            return connect::handle_connect(req, ctx).await;
        }
    }
    let started = Instant::now();
    // The guard has read the wire head already: the record takes it over.
    let wire = req.extensions_mut().remove::<super::wire::WireHead>();
    let record = record_with_wire(&req, &ctx, wire);
    let inflight = ctx.start_exchange(record, started);
    let uri = match upstream_uri(&req, &ctx.target) {
        Ok(uri) => uri,
        Err(reason) => {
            inflight.request_without_body();
            return own_response(&inflight, StatusCode::BAD_REQUEST, reason);
        }
    };
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    if ctx.shared.is_self(uri.host().unwrap_or_default(), port) {
        inflight.request_without_body();
        return own_response(&inflight, StatusCode::LOOP_DETECTED, LOOP.to_owned());
    }
    forward(req, uri, inflight, ctx).await
}

async fn forward(
    mut req: Request<Incoming>,
    uri: Uri,
    inflight: Arc<InFlight>,
    ctx: Arc<ConnCtx>,
) -> Response<ProxyBody> {
    let upgrade = wants_upgrade(req.version(), req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    strip_hop_by_hop(req.headers_mut(), upgrade);
    if req.version() == Version::HTTP_2 {
        join_cookies(req.headers_mut());
    }
    *req.uri_mut() = uri;
    // HTTP/1.1 for the pooled client; an h2 upstream frames the request as h2 whatever
    // version it carries.
    *req.version_mut() = Version::HTTP_11;
    let limit = ctx.shared.config.max_body_capture;
    let body_inflight = inflight.clone();
    let body_timeout = ctx.shared.config.body_timeout;
    let req = req.map(|body| {
        let body = ClientBody::new(body, body_timeout);
        RecordingBody::new(body, Side::Request, limit, body_inflight)
    });
    let wait = ctx.shared.config.response_timeout;
    let sent = async {
        let req = match &ctx.h2_upstream {
            Some(own) => match own.send(req).await {
                H2Send::Sent(result) => return result,
                H2Send::NotH2(req) => req,
            },
            None => req,
        };
        ctx.shared.client.request(req).await.map_err(BoxError::from)
    };
    match tokio::time::timeout(wait, sent).await {
        Ok(Ok(resp)) => relay(resp, inflight, client_upgrade, &ctx),
        Ok(Err(e)) => match client_fault(&*e) {
            Some(fault) => own_response(&inflight, fault.status(), fault.to_string()),
            None => upstream_failure(&*e, &inflight),
        },
        // Dropping the request closes its HTTP/1 upstream connection (it is not pooled)
        // or resets its h2 stream.
        Err(_) => own_response(
            &inflight,
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "upstream sent no response within {} (--response-timeout)",
                fault::seconds(wait)
            ),
        ),
    }
}

fn relay(
    mut resp: Response<Incoming>,
    inflight: Arc<InFlight>,
    client_upgrade: Option<OnUpgrade>,
    ctx: &ConnCtx,
) -> Response<ProxyBody> {
    let server_ip = resp
        .extensions()
        .get::<UpstreamInfo>()
        .map(|info| info.ip.clone());
    inflight.response_head(response_record(&resp), server_ip);
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        inflight.response_complete();
        if let Some(client_upgrade) = client_upgrade {
            websocket::splice(ctx, client_upgrade, upstream_upgrade);
        }
        return resp.map(|_| ProxyBody::empty());
    }
    if resp.headers().contains_key(header::TRANSFER_ENCODING) {
        // Both framings (RFC 9112 §6.3): Transfer-Encoding wins, and an intermediary that
        // forwards the message must drop Content-Length, or the client would frame the
        // decoded body by a length that is not its own.
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    let limit = ctx.shared.config.max_body_capture;
    let idle = ctx.shared.config.body_idle_timeout;
    resp.map(|body| {
        ProxyBody::upstream(
            RecordingBody::new(body, Side::Response, limit, inflight),
            idle,
        )
    })
}

/// The upstream could not be reached or dropped the request: answer and record it.
fn upstream_failure(
    e: &(dyn std::error::Error + 'static),
    inflight: &InFlight,
) -> Response<ProxyBody> {
    let (status, reason) = fault::before_response(e);
    tracing::debug!(%reason, "upstream failure");
    own_response(inflight, status, reason)
}

/// A response corscope generates itself (400, 502, 504), recorded as the exchange's
/// response with `reason` as its error.
pub(crate) fn own_response(
    inflight: &InFlight,
    status: StatusCode,
    reason: String,
) -> Response<ProxyBody> {
    let body = record_own_response(inflight, status, reason);
    text_response(status, body)
}

/// Record corscope's own `status` response (its one-line body names `reason`) as the
/// exchange's response, with `reason` as its error; the body to send.
pub(crate) fn record_own_response(
    inflight: &InFlight,
    status: StatusCode,
    reason: String,
) -> String {
    let body = format!("corscope: {reason}\n");
    let mut headers = HeaderList::default();
    headers.push("content-type", "text/plain; charset=utf-8");
    headers.push("content-length", body.len().to_string());
    let record = ResponseRecord {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or_default().into(),
        http_version: "HTTP/1.1".into(),
        headers,
        body: Body {
            captured: bytes::Bytes::from(body.clone()),
            total_size: body.len() as u64,
        },
    };
    inflight.fail(reason, record);
    body
}

/// A plain-text response with the given body.
pub(crate) fn text_response(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::own(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn request_record(req: &Request<Incoming>, ctx: &ConnCtx) -> RequestRecord {
    let wire = req.extensions().get::<super::wire::WireHead>();
    record_with_wire(req, ctx, wire.cloned())
}

/// The request record, with the headers as written on the wire (`wire`) when they are the
/// ones hyper parsed, else hyper's view; proxy credentials redacted.
fn record_with_wire(
    req: &Request<Incoming>,
    ctx: &ConnCtx,
    wire: Option<super::wire::WireHead>,
) -> RequestRecord {
    let mut headers = wire
        .and_then(|head| head.headers_for(req.headers().len()))
        .unwrap_or_else(|| header_list(req.headers()));
    super::guard::redact_credentials(&mut headers);
    RequestRecord {
        method: req.method().as_str().to_owned().into(),
        url: display_url(req.uri(), &ctx.target),
        http_version: version_str(req.version()).into(),
        headers,
        body: Body::default(),
    }
}

fn response_record(resp: &Response<Incoming>) -> ResponseRecord {
    let status_text = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| decode_header_bytes(r.as_bytes()))
        .or_else(|| resp.status().canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    ResponseRecord {
        status: resp.status().as_u16(),
        status_text: status_text.into(),
        http_version: version_str(resp.version()).into(),
        headers: header_list(resp.headers()),
        body: Body::default(),
    }
}

/// Headers as a list from hyper's map: repeated names grouped, names lower-cased. Used
/// for HTTP/2 and for responses; HTTP/1 request heads come from [`super::wire`].
pub(crate) fn header_list(headers: &HeaderMap) -> HeaderList {
    let text = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    HeaderList::from_wire(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
        text,
    )
}

/// `HTTP/1.1` etc., as HAR writes it.
pub(crate) fn version_str(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// Where the request goes: the absolute URL itself (proxy requests) or the tunnel's
/// target with the request's path.
fn upstream_uri(req: &Request<Incoming>, target: &Target) -> Result<Uri, String> {
    match target {
        Target::Proxy => {
            let uri = req.uri();
            let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
            if scheme_ok && uri.authority().is_some() {
                return Ok(uri.clone());
            }
            Err(format!(
                "this is a proxy: expected an absolute http:// URL, got {:?}",
                uri.to_string()
            ))
        }
        Target::Tunnel {
            scheme, authority, ..
        } => {
            let path = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            Uri::builder()
                .scheme(scheme.clone())
                .authority(authority.clone())
                .path_and_query(path)
                .build()
                .map_err(|e| format!("cannot build upstream URL: {e}"))
        }
    }
}

/// The URL as the browser would show it: scheme, host, port only when not the default,
/// path and query.
pub(crate) fn display_url(uri: &Uri, target: &Target) -> String {
    let (scheme, authority) = match target {
        Target::Proxy => (uri.scheme_str().unwrap_or("http"), uri.authority()),
        Target::Tunnel {
            scheme, authority, ..
        } => (scheme.as_str(), Some(authority)),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let Some(authority) = authority else {
        return path.to_owned();
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    match authority.port_u16() {
        Some(port) if port == default_port => format!("{scheme}://{}{path}", authority.host()),
        _ => format!("{scheme}://{authority}{path}"),
    }
}

/// An HTTP/1 upgrade request (WebSocket and friends).
fn wants_upgrade(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Hop-by-hop header names (RFC 9110 §7.6.1) and proxy credentials: they describe one
/// connection and are never forwarded as they are (`TE: trailers` excepted).
pub(crate) const HOP: &[&str] = &[
    "connection",
    "transfer-encoding",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
];

/// Remove hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the
/// message. For an upgrade, `Connection: upgrade` and `Upgrade` must reach the upstream.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none (or only `Connection`): one pass over the names decides.
    if !keep_upgrade && !headers.keys().any(|name| HOP.contains(&name.as_str())) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = connection_tokens(headers)
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in listed {
            if !(keep_upgrade && name == header::UPGRADE) {
                headers.remove(&name);
            }
        }
    }
    for name in [
        header::TRANSFER_ENCODING,
        header::TRAILER,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    // `TE: trailers` is end-to-end in practice (gRPC needs it); other values are not.
    if headers
        .get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        headers.remove(header::TE);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// HTTP/2 clients may split `Cookie` into several fields; an HTTP/1.1 upstream must get
/// one, joined with "; " (RFC 9113 §8.2.3). One field is valid on HTTP/2 as well.
fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::COOKIE).iter();
    let (Some(_), Some(_)) = (values.next(), values.next()) else {
        return;
    };
    let joined: Vec<&[u8]> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if let Ok(value) = HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
        headers.insert(header::COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_listed_ones_too() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("keep-alive, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("te", HeaderValue::from_static("gzip"));
        h.insert("x-end", HeaderValue::from_static("2"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-end"));
    }

    #[test]
    fn upgrade_headers_survive_for_upgrades() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(Version::HTTP_11, &h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
    }

    #[test]
    fn split_cookies_are_joined() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        assert_eq!(h.get_all("cookie").iter().count(), 1);
        assert_eq!(h["cookie"], "a=1; b=2");
    }

    #[test]
    fn display_url_drops_default_ports() {
        let uri: Uri = "http://a.test:80/x?y".parse().unwrap();
        assert_eq!(display_url(&uri, &Target::Proxy), "http://a.test/x?y");
        let uri: Uri = "http://a.test:8080/".parse().unwrap();
        assert_eq!(display_url(&uri, &Target::Proxy), "http://a.test:8080/");
    }
}
