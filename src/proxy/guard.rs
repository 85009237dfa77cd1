//! What a client's request must pass before corscope acts on it: framing the wire tap
//! refused (request smuggling patterns), `--proxy-auth`, an origin-form request sent to the
//! proxy as if it were a web server, and a request inside a tunnel that names another
//! host. Each refusal gets a one-line reason and is recorded as an exchange, except a 407,
//! which is the proxy's business rather than the page's (a browser answers it itself and
//! the page never sees it): a wrong credential is recorded as an event instead.

use std::time::Instant;

use http::header::{self, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::auth::{self, AuthCheck};
use super::forward::{display_url, own_response, request_record, version_str};
use super::recorder::ProxyBody;
use super::wire::WireHead;
use super::{ConnCtx, Target};
use crate::capture::event::EventKind;
use crate::capture::exchange::{Body, HeaderList, HeaderRef, RequestRecord};

/// The answer to `req` when it must not go further, `None` when it may.
pub(crate) fn check(req: &Request<Incoming>, ctx: &ConnCtx) -> Option<Response<ProxyBody>> {
    if let Some(refused) = refused_framing(req, ctx) {
        return Some(refused);
    }
    match &ctx.target {
        Target::Proxy => authenticate(req, ctx).or_else(|| not_a_proxy_request(req, ctx)),
        Target::Tunnel {
            scheme, authority, ..
        } => misdirected(req, ctx, scheme, authority),
    }
}

/// Replace the value of `Proxy-Authorization` in a record: the credential is for corscope
/// alone, is never forwarded, and must not end up in a HAR file or on screen.
pub(crate) fn redact_credentials(headers: &mut HeaderList) {
    if !headers.contains("proxy-authorization") {
        return;
    }
    *headers = headers
        .iter()
        .map(
            |h| match h.name.eq_ignore_ascii_case("proxy-authorization") {
                true => HeaderRef {
                    name: h.name,
                    value: crate::har::export::REDACTED,
                },
                false => h,
            },
        )
        .collect();
}

/// A head the wire tap refused (both Content-Length and Transfer-Encoding, differing
/// lengths, codings besides chunked): 400, the connection closes, nothing is forwarded.
fn refused_framing(req: &Request<Incoming>, ctx: &ConnCtx) -> Option<Response<ProxyBody>> {
    let head = req.extensions().get::<WireHead>()?;
    let reason = head.refusal.clone()?;
    // The head as written: hyper may have dropped a header of it (a Content-Length beside
    // Transfer-Encoding), so it is used whatever hyper's count.
    let mut headers = head.headers.clone();
    redact_credentials(&mut headers);
    tracing::info!(client = %ctx.client_addr, "{reason}");
    let record = RequestRecord {
        method: req.method().as_str().to_owned().into(),
        url: display_url(req.uri(), &ctx.target),
        http_version: version_str(req.version()).into(),
        headers,
        body: Body::default(),
    };
    let mut resp = refuse(ctx, record, StatusCode::BAD_REQUEST, reason);
    // Where the body ends is exactly what is in doubt: the connection cannot go on.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(resp)
}

/// `--proxy-auth`: requests to the proxy itself (absolute-form and CONNECT) must carry the
/// credential; requests inside a tunnel were authorised by its CONNECT.
fn authenticate(req: &Request<Incoming>, ctx: &ConnCtx) -> Option<Response<ProxyBody>> {
    let expected = ctx.shared.config.proxy_auth.as_ref()?;
    let outcome = expected.check(req.headers().get(header::PROXY_AUTHORIZATION));
    if outcome == AuthCheck::Ok {
        return None;
    }
    if outcome == AuthCheck::Wrong {
        let message = format!(
            "proxy authentication failed for {} {} from {} (wrong or malformed \
             Proxy-Authorization; --proxy-auth is set)",
            req.method(),
            req.uri(),
            ctx.client_addr
        );
        tracing::warn!("{message}");
        ctx.event(EventKind::ProxyAuthFailed, target_host(req), message);
    }
    let mut resp = super::forward::text_response(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "corscope: proxy authentication required (HTTP Basic, as set by --proxy-auth)\n".to_owned(),
    );
    resp.headers_mut().insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static(auth::CHALLENGE),
    );
    Some(resp)
}

fn target_host(req: &Request<Incoming>) -> Option<String> {
    req.uri().host().map(str::to_owned)
}

/// An origin-form request (`GET /x`) sent to the proxy: someone pointed a browser or tool
/// at corscope as if it were the web server. Answered 400 with how to use a proxy, as
/// mitmproxy does in its regular mode; guessing a destination from `Host` would turn a
/// misconfiguration into a silent detour (and loop when `Host` names corscope itself).
fn not_a_proxy_request(req: &Request<Incoming>, ctx: &ConnCtx) -> Option<Response<ProxyBody>> {
    if req.method() == Method::CONNECT || req.uri().authority().is_some() {
        return None;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default();
    let listen = ctx.shared.local_addr;
    let reason = format!(
        "corscope is a proxy, not a web server: this request asked for {:?} (Host: {host:?}) \
         directly. Configure corscope as the HTTP(S) proxy, e.g. `curl -x http://{listen} \
         http://example.com/` or `corscope browser`, and request the full URL",
        req.uri().to_string()
    );
    Some(refuse_recorded(req, ctx, StatusCode::BAD_REQUEST, reason))
}

/// Inside a tunnel to `authority`, a request whose URL names another host or port
/// (absolute-form on HTTP/1, `:authority` on HTTP/2): 421 Misdirected Request (RFC 9110
/// §15.5.20). Forwarding it to the tunnel's host would silently answer for the wrong site;
/// following its URL would let one CONNECT reach any host. A tunnel opened to an IP
/// address accepts any host name (clients that resolve names themselves do that).
fn misdirected(
    req: &Request<Incoming>,
    ctx: &ConnCtx,
    scheme: &Scheme,
    authority: &Authority,
) -> Option<Response<ProxyBody>> {
    let asked = req.uri().authority()?;
    let default_port = |s: Option<&str>| if s == Some("http") { 80 } else { 443 };
    let asked_port = asked
        .port_u16()
        .unwrap_or_else(|| default_port(req.uri().scheme_str()));
    let tunnel_port = authority
        .port_u16()
        .unwrap_or_else(|| default_port(Some(scheme.as_str())));
    let tunnel_host = authority.host().trim_end_matches('.');
    let asked_host = asked.host().trim_end_matches('.');
    let tunnel_is_ip = tunnel_host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    let same_host = tunnel_is_ip || tunnel_host.eq_ignore_ascii_case(asked_host);
    if same_host && asked_port == tunnel_port {
        return None;
    }
    let reason = format!(
        "request for {} inside a tunnel to {authority}: send it through its own CONNECT \
         (or as an absolute URL to the proxy)",
        req.uri()
    );
    Some(refuse_recorded(
        req,
        ctx,
        StatusCode::MISDIRECTED_REQUEST,
        reason,
    ))
}

/// Refuse a request recorded from its wire head (as forwarding would record it).
fn refuse_recorded(
    req: &Request<Incoming>,
    ctx: &ConnCtx,
    status: StatusCode,
    reason: String,
) -> Response<ProxyBody> {
    let record = request_record(req, ctx);
    refuse(ctx, record, status, reason)
}

/// Answer `status` with `reason` and record the exchange (`request` as given, no body).
pub(crate) fn refuse(
    ctx: &ConnCtx,
    request: RequestRecord,
    status: StatusCode,
    reason: String,
) -> Response<ProxyBody> {
    let inflight = ctx.start_exchange(request, Instant::now());
    inflight.request_without_body();
    own_response(&inflight, status, reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_redacted_in_records() {
        let mut h = HeaderList::default();
        h.push("Host", "a");
        h.push("Proxy-Authorization", "Basic dTpw");
        redact_credentials(&mut h);
        assert_eq!(h.first("proxy-authorization"), Some("[redacted]"));
        assert_eq!(h.first("host"), Some("a"));
    }
}
