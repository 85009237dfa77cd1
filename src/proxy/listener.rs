//! Accepting client connections: the connection cap (connections past it get a one-line
//! 503 and are closed), one task per connection, serving HTTP/1.1 or HTTP/2 on it with the
//! head size limit and timeouts, recording what went wrong on a connection outside any
//! exchange, and the bounded drain at shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::wire::{TapIo, WireHeads, MAX_HEAD_BYTES};
use super::{forward, guard, ConnCtx, Shared, Target};
use crate::capture::event::EventKind;
use crate::capture::exchange::{Body, Exchange, RequestRecord, ResponseRecord};

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Refused connections kept open at once while their 503 is read. Past this a refused
/// socket is closed right after the 503 is written, so refusing costs nothing that grows.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused connection stays half-open so the client reads the 503: closing a
/// socket with unread request bytes makes the kernel send RST, which can destroy the 503
/// in the client's receive buffer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Accept until `shutdown`, then drain.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let cap = shared.config.max_connections;
    let permits = Arc::new(Semaphore::new(cap));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let mut at_cap = false;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !std::mem::replace(&mut at_cap, true) {
                let message = format!(
                    "connection limit ({cap}, --max-connections) reached: new connections get \
                     503 until some close"
                );
                tracing::warn!("{message}");
                shared.store.push_event(crate::capture::event::Event::now(
                    EventKind::ConnectionLimit,
                    None,
                    message,
                ));
            }
            tracing::debug!(%addr, "refused: connection limit {cap}");
            refuse(tcp, cap, &refusals, &shared);
            continue;
        };
        at_cap = false;
        let id = shared.next_connection_id();
        let span = tracing::debug_span!("conn", id, %addr);
        let shared = shared.clone();
        shared.clone().tracker.spawn(
            async move {
                let _permit = permit;
                serve_client(tcp, addr, id, shared).await;
            }
            .instrument(span),
        );
    }
    drop(listener);
    drain(&shared).await;
}

/// Answer a connection past the cap with a 503 naming the cap, then close it.
fn refuse(tcp: TcpStream, cap: usize, refusals: &Arc<Semaphore>, shared: &Shared) {
    let body = format!("corscope: connection limit ({cap}) reached; try again later\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // A new socket's send buffer is empty: this small write completes at once, and the
    // accept loop never waits on a client it refuses.
    if tcp.try_write(response.as_bytes()).is_err() {
        return;
    }
    let Ok(slot) = refusals.clone().try_acquire_owned() else {
        return;
    };
    shared.tracker.spawn(async move {
        let _slot = slot;
        linger(tcp).await;
    });
}

/// Half-close, then read and discard until the client closes (or [`REFUSAL_LINGER`]).
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn drain(shared: &Shared) {
    shared.shutdown.cancel();
    shared.tracker.close();
    let open = shared.tracker.len();
    if open > 0 {
        tracing::info!(open, "draining open connections");
    }
    let drained = tokio::time::timeout(shared.config.drain_timeout, shared.tracker.wait()).await;
    if drained.is_err() {
        tracing::warn!(
            open = shared.tracker.len(),
            "connections still open after {} s; closing them",
            shared.config.drain_timeout.as_secs()
        );
    }
}

async fn serve_client(tcp: TcpStream, addr: SocketAddr, id: u64, shared: Arc<Shared>) {
    // Without it, HTTPS responses of ~100 KB stall ~40 ms behind Nagle.
    let _ = tcp.set_nodelay(true);
    let ctx = Arc::new(ConnCtx {
        shared,
        id,
        client_addr: addr,
        client_label: addr.to_string().into(),
        target: Target::Proxy,
        wire: None,
        h2_upstream: None,
    });
    serve_http1(tcp, ctx).await;
}

/// Serve HTTP/1.x on `stream` until the client closes it or the proxy shuts down: the
/// relay serves plain requests; from the first request it does not serve, hyper serves
/// the rest of the connection (with the bytes the relay read replayed to it).
pub(crate) async fn serve_http1<S>(mut stream: S, ctx: Arc<ConnCtx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match super::relay::serve(&mut stream, &ctx).await {
        super::relay::End::Closed => {}
        super::relay::End::Fallback(buffered) => {
            let stream = super::connect::Prefixed::new(buffered.freeze(), stream);
            serve_hyper_http1(stream, ctx).await;
        }
    }
}

/// Serve HTTP/1.x with hyper.
async fn serve_hyper_http1<S>(stream: S, ctx: Arc<ConnCtx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let heads = Arc::new(WireHeads::default());
    let ctx = ctx.with_wire(heads.clone());
    let io = TokioIo::new(TapIo::new(stream, heads.clone()));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.shared.config.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .preserve_header_case(true)
        .auto_date_header(false)
        .keep_alive(true);
    let service_ctx = ctx.clone();
    let service = service_fn(move |req| handle(req, service_ctx.clone()));
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let shutdown = ctx.shared.shutdown.clone();
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        connection_error(&e, &ctx, Some(&heads));
    }
}

/// Serve HTTP/2 on `stream` (an intercepted TLS connection that negotiated h2).
pub(crate) async fn serve_http2<S>(stream: S, ctx: Arc<ConnCtx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        // The same head limit as HTTP/1 (hyper's HTTP/2 default is 16 KB).
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let service_ctx = ctx.clone();
    let service = service_fn(move |req| handle(req, service_ctx.clone()));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let shutdown = ctx.shared.shutdown.clone();
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        connection_error(&e, &ctx, None);
    }
}

/// One request, in its own tracing span.
fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    ctx: Arc<ConnCtx>,
) -> impl std::future::Future<Output = Result<hyper::Response<super::recorder::ProxyBody>, Infallible>>
{
    let span = tracing::debug_span!("exchange", method = %req.method(), uri = %req.uri());
    let mut req = req;
    // Exactly one head per request, in order, whatever then happens to the request.
    let wire = ctx.wire.clone();
    if let Some(head) = wire
        .as_ref()
        .and_then(|w| w.take_next(req.method().as_str()))
    {
        req.extensions_mut().insert(head);
    }
    async move {
        if let Some(refused) = guard::check(&req, &ctx) {
            return Ok(refused);
        }
        let connect = req.method() == http::Method::CONNECT;
        let resp = forward::handle(req, ctx).await;
        let tunnel = connect && resp.status().is_success();
        if tunnel || resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            // What follows on this connection is no longer HTTP/1 requests.
            if let Some(wire) = &wire {
                wire.stop();
            }
        }
        Ok(resp)
    }
    .instrument(span)
}

/// A connection ended with an error outside any exchange. Malformed requests (hyper has
/// already answered 400/431/414) are recorded as exchanges, with the request line as the
/// client wrote it when the wire tap saw one, so nothing is lost; a client that stalled in
/// the middle of a request head is recorded as an event; the rest is logged.
fn connection_error(e: &hyper::Error, ctx: &ConnCtx, heads: Option<&WireHeads>) {
    if e.is_parse_version_h2() {
        let reason = "the client spoke HTTP/2 in clear text (h2c prior knowledge); corscope \
                      speaks HTTP/2 only inside intercepted HTTPS";
        record_malformed(ctx, heads, None, reason.to_owned());
    } else if e.is_parse() || e.is_parse_too_large() {
        let status: u16 = if !e.is_parse_too_large() {
            400
        } else if e.to_string().contains("URI") {
            414
        } else {
            431
        };
        tracing::debug!(error = %e, "malformed request");
        let reason = if status == 431 {
            format!(
                "malformed request: {e} (request heads are limited to {} KiB)",
                MAX_HEAD_BYTES / 1024
            )
        } else {
            format!("malformed request: {e}")
        };
        record_malformed(ctx, heads, Some(status), reason);
    } else if e.is_timeout() {
        let partial = heads.map_or(0, WireHeads::partial_head_bytes);
        let secs = ctx.shared.config.header_timeout.as_secs();
        if partial == 0 {
            // An idle connection (new, or kept alive between requests): a normal close.
            tracing::debug!("closed: idle for {secs} s");
            return;
        }
        let message = format!(
            "client {} sent {partial} bytes of a request head but not the rest within {secs} s \
             (--header-timeout); connection closed",
            ctx.client_addr
        );
        tracing::info!("{message}");
        ctx.event(EventKind::ConnectionError, None, message);
    } else {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// Record a request hyper refused to parse. `status` is what hyper answered, if anything.
fn record_malformed(ctx: &ConnCtx, heads: Option<&WireHeads>, status: Option<u16>, reason: String) {
    let line = heads.and_then(WireHeads::unparsed_line);
    let mut parts = line.as_deref().unwrap_or_default().split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let url = parts.next().unwrap_or_default().to_owned();
    let error = match &line {
        Some(line) => format!("{reason}; request line: {line:?}"),
        None => reason,
    };
    let response = status.map(|status| ResponseRecord {
        status,
        status_text: http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_default()
            .into(),
        http_version: "HTTP/1.1".into(),
        headers: Default::default(),
        body: Body::default(),
    });
    let exchange = Exchange {
        connection_id: ctx.id,
        started: Utc::now(),
        request: RequestRecord {
            method: method.into(),
            url,
            http_version: "HTTP/1.1".into(),
            ..RequestRecord::default()
        },
        client_addr: Some(ctx.client_label.clone()),
        error: Some(error),
        synthetic_response: response.is_some(),
        response,
        ..Exchange::default()
    };
    ctx.shared.store.push(exchange);
}
