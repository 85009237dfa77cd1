//! The HTTP/1.1 relay: how most requests go through corscope. Browsers and tools send
//! plain requests — a method, a URL, header lines, a body of known length or none — and
//! for those corscope reads the head itself, forwards it upstream over a connection that
//! belongs to this client connection, and streams the response back, all in the one task
//! that owns the client connection. No request object, no pooled client with its own
//! connection task, no channel between them: a request costs the four socket operations
//! it must and little else, and the head corscope parsed for forwarding is the record.
//! A body of known length is read in as few reads as the kernel allows (the buffer is
//! sized from the length, and from the connection's last response before its head is
//! read), and a large one stays in that buffer as it streams to the client, however many
//! reads it takes, and is recorded as that buffer.
//!
//! Anything else — CONNECT, upgrades, `Expect`, chunked request bodies, HTTP/1.0,
//! `--proxy-auth`, origin-form requests to the proxy, malformed or ambiguous heads — is
//! handed to hyper with the connection ([`End::Fallback`]): the bytes read so far are
//! replayed to it, and hyper serves the rest of the connection with every check and record
//! described in [`super::guard`] and [`super::forward`].
//!
//! The relay keeps the proxy's contract: hop-by-hop headers are dropped (RFC 9110 §7.6.1),
//! each exchange is recorded with its heads as written on the wire and its bodies up to
//! `--max-body-capture`, upstream failures answer 502/504 naming the cause, and the
//! `--header-timeout`, `--body-timeout`, `--response-timeout` and `--idle-timeout` limits
//! apply as they do on the hyper path.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

use super::forward::{record_own_response, HOP};
use super::recorder::{captured_body, ClientBodyError, InFlight, Side, Stalled};
use super::upstream::{ConnectError, Stream, UpstreamInfo};
use super::wire::{chunk_size, digits, head_end, MAX_HEAD_BYTES};
use super::{ConnCtx, Target, MAX_IDLE_UPSTREAM_PER_HOST, UPSTREAM_IDLE_TIMEOUT};
use crate::capture::event::EventKind;
use crate::capture::exchange::{decode_header_bytes, Body, HeaderList, RequestRecord};
use crate::capture::exchange::{intern, ResponseRecord};
use crate::config::ProxyConfig;

/// Header lines per request head the relay parses; a head with more goes to hyper, which
/// answers 431 (its limit is 100).
const MAX_REQUEST_HEADERS: usize = 100;

/// Header lines per response head (servers send many `Set-Cookie` lines).
const MAX_RESPONSE_HEADERS: usize = 256;

/// Largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 256 * 1024;

/// Initial size of the read buffers (grown when a head or a read needs more). Most heads
/// are well under 2 KB; an idle client connection holds no more than this.
const READ_BUF: usize = 4 * 1024;

/// Bytes read from the upstream per body read when the body's length is not known.
const BODY_READ: usize = 64 * 1024;

/// Largest upstream read buffer sized to a body of known length (or to the connection's
/// last response, see [`Upstream::hint`]): a body up to this size comes in one read and
/// goes out in one write.
const MAX_BODY_READ: usize = 1024 * 1024;

/// Room given past the bytes a read is expected to bring (the rest of a body of known
/// length, or a response like the connection's last one). A read that fills its buffer
/// leaves tokio holding the socket as readable, and the next check that the connection is
/// quiet ([`Upstream::quiet`]) pays a `recvfrom` that finds nothing; a read with room to
/// spare that takes the last bytes is a short one, which tells tokio the socket is drained.
/// It also absorbs a next head a few bytes longer than the last (a growing counter or
/// cookie), which would otherwise need a second read.
const READ_SLACK: usize = 256;

/// Smallest body recorded as the read buffer it arrived in rather than as a copy (see
/// [`Capture::whole`]); smaller ones are copied, so a small body never holds a larger
/// buffer alive in the store.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Body bytes copied behind the response head for one write; a larger first piece goes
/// out in a vectored write of the two instead.
const HEAD_COPY_MAX: usize = 16 * 1024;

/// Largest read buffer an upstream connection keeps between responses (kept by its client
/// connection or idle in the pool): a larger one goes back to the allocator, and the next
/// response's read sizes one again from [`Upstream::hint`]. A thousand connections that
/// each fetched a large body then hold no more than this each.
const IDLE_BUF_MAX: usize = 16 * 1024;

/// Longest chunk-size or trailer line accepted in a chunked response.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// How a client connection's time with the relay ended.
pub(crate) enum End {
    /// The connection is done (closed by either side, or not reusable).
    Closed,
    /// The next request is not one the relay serves: `buffered` holds the bytes read from
    /// the client and not yet used (that request's head first); hyper takes over.
    Fallback(BytesMut),
}

/// What happens after one request.
enum Next {
    KeepAlive,
    Close,
}

/// Which upstream a connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    tls: bool,
    host: String,
    port: u16,
}

/// An upstream connection used by the relay.
pub(crate) struct Upstream {
    key: Key,
    stream: Stream,
    buf: BytesMut,
    info: UpstreamInfo,
    /// Bytes of this connection's last response whose length was known (head and body,
    /// at most [`MAX_BODY_READ`]): the next response head is read with room for that
    /// much, so a server answering alike each time sends head and body in one read.
    hint: usize,
}

impl Upstream {
    /// Between responses: give a large empty read buffer back (see [`IDLE_BUF_MAX`]).
    fn release_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUF_MAX {
            self.buf = BytesMut::new();
        }
    }

    /// True when the connection is still open and quiet: an idle connection that has data
    /// to read or has been closed by the server must not carry another request.
    fn quiet(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut read = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut read),
            Poll::Pending
        )
    }
}

/// Idle relay connections to upstreams, shared by all client connections: a client
/// connection that ends, or moves on to another host, leaves its upstream here for the
/// next one.
#[derive(Default)]
pub(crate) struct IdlePool {
    idle: Mutex<HashMap<Key, Vec<(Upstream, Instant)>>>,
    /// Connections put back so far: every [`SWEEP_EVERY`]th put drops the expired ones
    /// of every host, so hosts not visited again do not keep sockets open.
    puts: std::sync::atomic::AtomicU64,
}

/// How often (in puts) the idle pool drops expired connections.
const SWEEP_EVERY: u64 = 64;

impl IdlePool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<(Upstream, Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, mut upstream: Upstream) {
        if !upstream.quiet() {
            return;
        }
        upstream.release_buffer();
        let sweep = self
            .puts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY);
        let mut idle = self.lock();
        if sweep {
            idle.retain(|_, list| {
                list.retain(|(_, since)| since.elapsed() < UPSTREAM_IDLE_TIMEOUT);
                !list.is_empty()
            });
        }
        let list = idle.entry(upstream.key.clone()).or_default();
        if list.len() < MAX_IDLE_UPSTREAM_PER_HOST {
            list.push((upstream, Instant::now()));
        }
    }

    fn take(&self, key: &Key) -> Option<Upstream> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        let mut found = None;
        while let Some((mut upstream, since)) = list.pop() {
            if since.elapsed() < UPSTREAM_IDLE_TIMEOUT && upstream.quiet() {
                found = Some(upstream);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(key);
        }
        found
    }
}

/// A client connection's timers, one per kind of wait, each set again for every wait.
/// tokio moves a timer to a later deadline without its runtime-wide timer lock, and the
/// deadlines of one kind only move later; a new `timeout` per wait would take that lock to
/// register and again to drop, and contend for it with the other worker as it parks.
struct Timers {
    /// `--response-timeout`: from sending a request to its response head.
    response: Pin<Box<Sleep>>,
    /// `--body-timeout`: between two reads of a request body from the client.
    client_body: Option<Pin<Box<Sleep>>>,
    /// `--idle-timeout`: between two reads of a response body from the upstream.
    upstream_body: Option<Pin<Box<Sleep>>>,
}

impl Timers {
    fn new(config: &ProxyConfig) -> Self {
        Self {
            response: Box::pin(tokio::time::sleep(config.response_timeout)),
            client_body: None,
            upstream_body: None,
        }
    }
}

/// `timer` (made on first use), set to fire at `deadline`.
fn arm(
    timer: &mut Option<Pin<Box<Sleep>>>,
    deadline: tokio::time::Instant,
) -> &mut Pin<Box<Sleep>> {
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    timer.as_mut().reset(deadline);
    timer
}

/// The output of `fut`, or `None` when `timer` fires first (it is only polled while `fut`
/// is pending).
async fn before<F: std::future::Future>(timer: &mut Pin<Box<Sleep>>, fut: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = fut => Some(out),
        () = timer.as_mut() => None,
    }
}

/// Serve requests on a client connection until it closes or a request needs hyper.
pub(crate) async fn serve<S>(io: &mut S, ctx: &ConnCtx) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut upstream: Option<Upstream> = None;
    let shutdown = ctx.shared.shutdown.clone();
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let header_timer = tokio::time::sleep(ctx.shared.config.header_timeout);
    tokio::pin!(header_timer);
    let mut timers = Timers::new(&ctx.shared.config);
    let end = loop {
        let head =
            match read_head(io, &mut buf, ctx, cancelled.as_mut(), header_timer.as_mut()).await {
                HeadRead::Head(len) => len,
                HeadRead::Closed => break End::Closed,
                HeadRead::Fallback => break End::Fallback(std::mem::take(&mut buf)),
            };
        let Some(parsed) = Parsed::new(&buf[..head], ctx) else {
            break End::Fallback(std::mem::take(&mut buf));
        };
        buf.advance(head);
        match exchange(io, &mut buf, parsed, &mut upstream, &mut timers, ctx).await {
            Next::KeepAlive => {}
            Next::Close => break End::Closed,
        }
    };
    if let Some(upstream) = upstream {
        ctx.shared.idle.put(upstream);
    }
    end
}

enum HeadRead {
    Head(usize),
    Closed,
    Fallback,
}

/// Wait for a complete request head in `buf` (its length), within `--header-timeout`.
async fn read_head<S>(
    io: &mut S,
    buf: &mut BytesMut,
    ctx: &ConnCtx,
    mut cancelled: Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    mut timer: Pin<&mut tokio::time::Sleep>,
) -> HeadRead
where
    S: AsyncRead + Unpin,
{
    let timeout = ctx.shared.config.header_timeout;
    timer.as_mut().reset(tokio::time::Instant::now() + timeout);
    let mut searched = 0usize;
    loop {
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        let blank = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blank > 0 && blank < buf.len() {
            buf.advance(blank);
            searched = 0;
        }
        if let Some(end) = head_end(buf, searched.saturating_sub(3)) {
            // Too large a head is hyper's to refuse (431), as is one it cannot parse.
            return if end > MAX_HEAD_BYTES {
                HeadRead::Fallback
            } else {
                HeadRead::Head(end)
            };
        }
        if buf.len() > MAX_HEAD_BYTES || (searched == 0 && !buf.is_empty() && !plausible(buf)) {
            return HeadRead::Fallback;
        }
        searched = buf.len();
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_BUF);
        }
        let idle = buf.is_empty();
        let read = tokio::select! {
            biased;
            read = io.read_buf(buf) => read,
            () = cancelled.as_mut(), if idle => return HeadRead::Closed,
            () = timer.as_mut() => {
                if !idle {
                    let message = format!(
                        "client {} sent {} bytes of a request head but not the rest within {} s \
                         (--header-timeout); connection closed",
                        ctx.client_addr,
                        buf.len(),
                        timeout.as_secs()
                    );
                    tracing::info!("{message}");
                    ctx.event(EventKind::ConnectionError, None, message);
                }
                return HeadRead::Closed;
            }
        };
        match read {
            Ok(0) if buf.iter().all(|&b| b == b'\r' || b == b'\n') => return HeadRead::Closed,
            // A head cut short: hyper reports it as it does for any connection.
            Ok(0) => return HeadRead::Fallback,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "client connection ended with an error");
                return HeadRead::Closed;
            }
        }
    }
}

/// False when the start of a head can already not be a request (TLS bytes sent to the
/// plain port, binary garbage): hyper answers it at once rather than waiting for more.
fn plausible(partial: &[u8]) -> bool {
    let mut req = httparse::Request::new(&mut []);
    match req.parse(partial) {
        Ok(_) | Err(httparse::Error::TooManyHeaders) => true,
        Err(_) => false,
    }
}

/// A request head the relay forwards.
struct Parsed {
    key: Key,
    /// The head as sent upstream (origin-form, hop-by-hop headers dropped).
    forward: Vec<u8>,
    record: RequestRecord,
    body_len: u64,
    /// The client asked to close the connection after this exchange.
    close: bool,
    head: bool,
}

impl Parsed {
    /// The head in `bytes`, when the relay serves it; `None` hands it to hyper.
    fn new(bytes: &[u8], ctx: &ConnCtx) -> Option<Self> {
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_REQUEST_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(bytes, &mut slots) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        if req.version != Some(1) {
            return None;
        }
        let method = req.method?;
        let path = req.path?;
        if method == "CONNECT" {
            return None;
        }
        // Where the request goes, and the URL as recorded.
        let (key, origin_path, authority, url) = match &ctx.target {
            Target::Proxy => {
                if !path.starts_with("http://") || ctx.shared.config.proxy_auth.is_some() {
                    return None;
                }
                let (authority, explicit_port, origin, url) = split_absolute(path)?;
                let port = explicit_port.unwrap_or(80);
                let host = authority.host();
                if ctx.shared.is_self(host, port) {
                    return None;
                }
                let key = Key {
                    tls: false,
                    host: bare(host).to_owned(),
                    port,
                };
                (key, origin, authority, url)
            }
            Target::Tunnel {
                scheme,
                authority,
                h2: false,
            } => {
                if !path.starts_with('/') {
                    return None;
                }
                let tls = scheme.as_str() == "https";
                let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
                let key = Key {
                    tls,
                    host: bare(authority.host()).to_owned(),
                    port,
                };
                let default = if tls { 443 } else { 80 };
                let mut url = String::with_capacity(
                    scheme.as_str().len() + 3 + authority.as_str().len() + path.len(),
                );
                url.push_str(scheme.as_str());
                url.push_str("://");
                if authority.port_u16() == Some(default) {
                    url.push_str(authority.host());
                } else {
                    url.push_str(authority.as_str());
                }
                url.push_str(path);
                (key, path.to_owned(), authority.clone(), url)
            }
            Target::Tunnel { h2: true, .. } => return None,
        };

        let mut body_len: Option<u64> = None;
        let mut close = false;
        let mut has_host = false;
        let mut listed: Vec<&str> = Vec::new();
        for h in req.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = decimal(h.value)?;
                if body_len.is_some_and(|seen| seen != n) {
                    return None;
                }
                body_len = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")
                || name.eq_ignore_ascii_case("expect")
            {
                return None;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("upgrade") {
                        return None;
                    } else if !token.eq_ignore_ascii_case("keep-alive") {
                        listed.push(token);
                    }
                }
            } else if name.eq_ignore_ascii_case("host") {
                has_host = true;
            }
        }

        let mut forward = Vec::with_capacity(bytes.len() + 64);
        forward.extend_from_slice(method.as_bytes());
        forward.push(b' ');
        forward.extend_from_slice(origin_path.as_bytes());
        forward.extend_from_slice(b" HTTP/1.1\r\n");
        if !has_host {
            forward.extend_from_slice(b"Host: ");
            forward.extend_from_slice(authority.as_str().as_bytes());
            forward.extend_from_slice(b"\r\n");
        }
        let text = req
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let mut headers =
            HeaderList::from_wire(req.headers.iter().map(|h| (h.name, h.value)), text);
        for h in req.headers.iter() {
            let hop = is_hop_by_hop(h.name, h.value)
                || listed.iter().any(|l| l.eq_ignore_ascii_case(h.name));
            if !hop {
                forward.extend_from_slice(h.name.as_bytes());
                forward.extend_from_slice(b": ");
                forward.extend_from_slice(h.value);
                forward.extend_from_slice(b"\r\n");
            }
        }
        forward.extend_from_slice(b"\r\n");
        super::guard::redact_credentials(&mut headers);
        let mut method_text = method.to_owned().into();
        intern(&mut method_text);
        Some(Self {
            key,
            forward,
            record: RequestRecord {
                method: method_text,
                url,
                http_version: "HTTP/1.1".into(),
                headers,
                body: Default::default(),
            },
            body_len: body_len.unwrap_or(0),
            close,
            head: method == "HEAD",
        })
    }
}

/// An absolute `http://` request target split by hand (a full URI parse per request is
/// measurable): the authority (checked by its own parser), its explicit port, the
/// origin-form target for upstream and the URL as the browser shows it (no default port).
fn split_absolute(target: &str) -> Option<(http::uri::Authority, Option<u16>, String, String)> {
    let rest = target.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (written, tail) = rest.split_at(end);
    if written.is_empty() || written.contains('@') {
        return None;
    }
    let authority: http::uri::Authority = written.parse().ok()?;
    let port = authority.port_u16();
    let origin = match tail.as_bytes().first() {
        Some(b'/') => tail.to_owned(),
        _ => format!("/{tail}"),
    };
    let url = if port == Some(80) {
        format!("http://{}{origin}", authority.host())
    } else if tail.starts_with('/') {
        target.to_owned()
    } else {
        format!("http://{written}{origin}")
    };
    Some((authority, port, origin, url))
}

/// A host without the brackets of an IPv6 literal.
fn bare(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A decimal length as hyper reads it: digits only, surrounding blanks allowed.
fn decimal(value: &[u8]) -> Option<u64> {
    let value = std::str::from_utf8(value).ok()?;
    digits(value.trim_matches(|c| c == ' ' || c == '\t'))
}

/// The comma-separated tokens of a header value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A header the relay does not forward ([`HOP`]; `TE: trailers` is end-to-end in practice).
fn is_hop_by_hop(name: &str, value: &[u8]) -> bool {
    if name.eq_ignore_ascii_case("te") {
        return !value.eq_ignore_ascii_case(b"trailers");
    }
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Bytes kept from a body for the record, up to the capture limit.
struct Capture {
    limit: usize,
    captured: BytesMut,
    /// A whole body recorded without a copy (then `captured` is empty).
    kept: Option<Bytes>,
    total: u64,
}

impl Capture {
    fn new(limit: usize, expected: u64) -> Self {
        let initial = usize::try_from(expected).unwrap_or(usize::MAX).min(limit);
        Self {
            limit,
            captured: BytesMut::with_capacity(initial),
            kept: None,
            total: 0,
        }
    }

    /// True when a body of `expected` bytes is large enough to be recorded without a copy,
    /// small enough for one read buffer, and kept whole under capture limit `limit`.
    fn whole_fits(limit: usize, expected: u64) -> bool {
        usize::try_from(expected)
            .is_ok_and(|n| (ZERO_COPY_MIN..=MAX_BODY_READ).contains(&n) && n <= limit)
    }

    /// Record `body`, a whole body [`Capture::whole_fits`] accepted, as it is.
    fn whole(&mut self, body: Bytes) {
        self.total = body.len() as u64;
        self.kept = Some(body);
    }

    fn observe(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.limit.saturating_sub(self.captured.len());
        if room > 0 {
            self.captured
                .extend_from_slice(&data[..room.min(data.len())]);
        }
    }

    fn finish(&mut self, side: Side, inflight: &InFlight, error: Option<String>) {
        let body = match self.kept.take() {
            Some(captured) => Body {
                captured,
                total_size: self.total,
            },
            None => captured_body(std::mem::take(&mut self.captured), self.total),
        };
        inflight.finish_body(side, body, error);
    }
}

/// One request upstream and its response back to the client.
async fn exchange<S>(
    io: &mut S,
    buf: &mut BytesMut,
    parsed: Parsed,
    slot: &mut Option<Upstream>,
    timers: &mut Timers,
    ctx: &ConnCtx,
) -> Next
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &ctx.shared.config;
    let started = Instant::now();
    let Parsed {
        key,
        mut forward,
        record,
        body_len,
        close,
        head,
    } = parsed;
    let inflight = ctx.start_exchange(record, started);

    // The request body: what has arrived goes out with the head.
    let mut request_body = Capture::new(config.max_body_capture, body_len);
    let buffered = usize::try_from(body_len)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    request_body.observe(&buf[..buffered]);
    forward.extend_from_slice(&buf[..buffered]);
    buf.advance(buffered);
    let mut body_left = body_len - buffered as u64;
    // Until the whole request is in `forward`, it cannot be sent again.
    let whole = body_left == 0;

    // An upstream connection: this client's last one if it goes to the same place and is
    // still open, else an idle one, else a new one.
    let mut reused = true;
    let mut upstream = match slot.take() {
        Some(mut up) if up.key == key => up.quiet().then_some(up),
        Some(up) => {
            ctx.shared.idle.put(up);
            None
        }
        None => None,
    };
    if upstream.is_none() {
        upstream = ctx.shared.idle.take(&key);
    }
    let deadline = tokio::time::Instant::now() + config.response_timeout;
    timers.response.as_mut().reset(deadline);
    let mut attempt = 0;
    let mut request_recorded = false;
    let (mut up, status_head) = loop {
        attempt += 1;
        let mut up = match upstream.take() {
            Some(up) => up,
            None => {
                reused = false;
                match connect(&key, ctx).await {
                    Ok(up) => up,
                    Err(e) => {
                        let status = if e.is_timeout() {
                            StatusCode::GATEWAY_TIMEOUT
                        } else {
                            StatusCode::BAD_GATEWAY
                        };
                        let close = close || body_left > 0;
                        return fail(io, &inflight, status, e.to_string(), close).await;
                    }
                }
            }
        };
        // Send the head and what is here of the body.
        let sent = before(&mut timers.response, send(&mut up, &forward)).await;
        let sent = match sent {
            Some(sent) => sent,
            None => {
                let close = close || body_left > 0;
                return response_timeout(io, &inflight, config.response_timeout, close).await;
            }
        };
        if let Err(e) = sent {
            if reused && whole && attempt == 1 {
                continue;
            }
            let reason = format!("upstream failed before sending a response: {e}");
            let close = close || body_left > 0;
            return fail(io, &inflight, StatusCode::BAD_GATEWAY, reason, close).await;
        }
        // The rest of the body, as the client sends it.
        while body_left > 0 {
            if buf.is_empty() {
                if body_left > READ_BUF as u64 && buf.capacity() < BODY_READ {
                    buf.reserve(BODY_READ);
                }
                let deadline = tokio::time::Instant::now() + config.body_timeout;
                let timer = arm(&mut timers.client_body, deadline);
                let read = before(timer, io.read_buf(buf)).await;
                let fault = match read {
                    Some(Ok(0)) => Some(ClientBodyError::Aborted(
                        "connection closed before message completed".to_owned(),
                    )),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some(ClientBodyError::Aborted(e.to_string())),
                    None => Some(ClientBodyError::Idle {
                        secs: config.body_timeout.as_secs(),
                    }),
                };
                if let Some(fault) = fault {
                    request_body.finish(Side::Request, &inflight, None);
                    let status = fault.status();
                    return fail(io, &inflight, status, fault.to_string(), true).await;
                }
            }
            let n = usize::try_from(body_left)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            request_body.observe(&buf[..n]);
            // An upstream that stops taking the body counts against --response-timeout.
            match before(&mut timers.response, send(&mut up, &buf[..n])).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    // The rest of the body is still on its way from the client.
                    let reason = format!("upstream failed before sending a response: {e}");
                    return fail(io, &inflight, StatusCode::BAD_GATEWAY, reason, true).await;
                }
                None => {
                    return response_timeout(io, &inflight, config.response_timeout, true).await
                }
            }
            buf.advance(n);
            body_left -= n as u64;
        }
        if !request_recorded {
            request_recorded = true;
            if body_len > 0 {
                request_body.finish(Side::Request, &inflight, None);
            } else {
                inflight.request_without_body();
            }
        }
        // The response head (interim 1xx responses are skipped, as hyper's client does).
        match before(&mut timers.response, response_head(&mut up)).await {
            None => return response_timeout(io, &inflight, config.response_timeout, close).await,
            Some(Ok(head)) => break (up, head),
            Some(Err(HeadError::Closed)) if reused && whole && attempt == 1 => {
                // A kept connection the server had closed: the request goes again on a
                // new one (it never reached a server that answered).
                upstream = None;
                continue;
            }
            Some(Err(e)) => {
                return fail(io, &inflight, StatusCode::BAD_GATEWAY, e.to_string(), close).await
            }
        }
    };

    let resp = match ResponseHead::parse(&up.buf[..status_head], head) {
        Ok(resp) => resp,
        Err(reason) => {
            let reason = format!("upstream sent an invalid response: {reason}");
            return fail(io, &inflight, StatusCode::BAD_GATEWAY, reason, close).await;
        }
    };
    up.buf.advance(status_head);
    inflight.response_head(resp.record, Some(up.info.ip.clone()));
    let close = close || matches!(resp.framing, Framing::Close);
    let mut out = resp.client_head;
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");

    let keep_upstream = resp.keep_alive && !matches!(resp.framing, Framing::Close);
    up.hint = match resp.framing {
        Framing::Length(n) => usize::try_from(n)
            .unwrap_or(usize::MAX)
            .saturating_add(status_head)
            .min(MAX_BODY_READ),
        _ => 0,
    };
    let timer = &mut timers.upstream_body;
    let relayed = relay_body(io, &mut up, out, resp.framing, config, timer, &inflight).await;
    match relayed {
        Ok(()) => {
            if keep_upstream && up.buf.is_empty() {
                up.release_buffer();
                *slot = Some(up);
            }
            if close {
                let _ = io.shutdown().await;
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
        Err(()) => Next::Close,
    }
}

/// Open a new upstream connection for `key`.
async fn connect(key: &Key, ctx: &ConnCtx) -> Result<Upstream, ConnectError> {
    let (stream, info) = ctx
        .shared
        .connector
        .open(key.tls, &key.host, key.port)
        .await?;
    Ok(Upstream {
        key: key.clone(),
        stream,
        buf: BytesMut::with_capacity(READ_BUF),
        info,
        hint: 0,
    })
}

async fn send(up: &mut Upstream, bytes: &[u8]) -> std::io::Result<()> {
    write_all(&mut up.stream, bytes).await
}

#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("upstream closed the connection before sending a response")]
    Closed,
    #[error("upstream failed before sending a response: {0}")]
    Io(std::io::Error),
    #[error("upstream sent an invalid response: {0}")]
    Invalid(String),
}

/// Read until a final (non-1xx) response head is in `up.buf`; its length.
async fn response_head(up: &mut Upstream) -> Result<usize, HeadError> {
    let mut searched = 0usize;
    loop {
        if let Some(end) = head_end(&up.buf, searched.saturating_sub(3)) {
            if let Some(code) = interim_status(&up.buf[..end]) {
                tracing::debug!(code, "interim response skipped");
                up.buf.advance(end);
                searched = 0;
                continue;
            }
            return Ok(end);
        }
        if !up.buf.is_empty() {
            let mut resp = httparse::Response::new(&mut []);
            match resp.parse(&up.buf) {
                Ok(_) | Err(httparse::Error::TooManyHeaders) => {}
                Err(e) => return Err(HeadError::Invalid(e.to_string())),
            }
        }
        searched = up.buf.len();
        if up.buf.len() > MAX_RESPONSE_HEAD {
            return Err(HeadError::Invalid(format!(
                "response head larger than {} KiB",
                MAX_RESPONSE_HEAD / 1024
            )));
        }
        let room = up.hint + READ_SLACK;
        if up.hint > 0 && up.buf.is_empty() && up.buf.capacity() < room {
            // `reserve` takes back the room of an emptied buffer this connection still
            // owns alone, and allocates only when it is too small or was handed on.
            up.buf.reserve(room);
        } else if up.buf.capacity() - up.buf.len() < 1024 {
            up.buf.reserve(READ_BUF);
        }
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) if up.buf.is_empty() => return Err(HeadError::Closed),
            Ok(0) => {
                return Err(HeadError::Invalid(
                    "the connection closed in the middle of the response head".to_owned(),
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// The status of an interim (1xx, not 101) response head.
fn interim_status(head: &[u8]) -> Option<u16> {
    let code = head.get(9..12)?;
    if head.starts_with(b"HTTP/1.") && code[0] == b'1' && code != b"101" {
        std::str::from_utf8(code).ok()?.parse().ok()
    } else {
        None
    }
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

struct ResponseHead {
    record: ResponseRecord,
    /// Status line and end-to-end header lines for the client, without the final CRLF.
    client_head: Vec<u8>,
    framing: Framing,
    /// The upstream connection may carry another request.
    keep_alive: bool,
}

impl ResponseHead {
    fn parse(bytes: &[u8], head_request: bool) -> Result<Self, String> {
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parser = httparse::ParserConfig::default();
        match parser.parse_response_with_uninit_headers(&mut resp, bytes, &mut slots) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err("incomplete head".to_owned()),
            Err(e) => return Err(e.to_string()),
        }
        let status = resp.code.ok_or("no status code")?;
        if status == 101 {
            return Err("101 Switching Protocols without an upgrade request".to_owned());
        }
        let reason = resp.reason.unwrap_or_default();
        let http10 = resp.version == Some(0);

        let mut length: Option<u64> = None;
        let mut chunked = None;
        let mut close = false;
        let mut keep_alive = false;
        let mut listed: Vec<&str> = Vec::new();
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = decimal(h.value).ok_or("invalid content-length value")?;
                if length.is_some_and(|seen| seen != n) {
                    return Err("differing content-length values".to_owned());
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // The last coding decides whether the message is chunked (RFC 9112 §6.3).
                let last = tokens(h.value).last().unwrap_or_default();
                chunked = Some(last.eq_ignore_ascii_case("chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in tokens(h.value) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    } else {
                        listed.push(token);
                    }
                }
            }
        }
        let framing = if head_request || status == 204 || status == 304 || status < 200 {
            Framing::Empty
        } else {
            match (chunked, length) {
                (Some(true), _) => Framing::Chunked,
                (Some(false), _) => Framing::Close,
                (None, Some(0)) => Framing::Empty,
                (None, Some(n)) => Framing::Length(n),
                (None, None) => Framing::Close,
            }
        };

        let text = resp
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let headers = HeaderList::from_wire(resp.headers.iter().map(|h| (h.name, h.value)), text);
        let mut client_head = Vec::with_capacity(bytes.len() + 32);
        client_head.extend_from_slice(b"HTTP/1.1 ");
        client_head.extend_from_slice(&status_digits(status));
        client_head.push(b' ');
        client_head.extend_from_slice(reason.as_bytes());
        client_head.extend_from_slice(b"\r\n");
        for h in resp.headers.iter() {
            let te = h.name.eq_ignore_ascii_case("transfer-encoding");
            let hop = (is_hop_by_hop(h.name, h.value) && !te)
                || listed.iter().any(|l| l.eq_ignore_ascii_case(h.name))
                // Both framings: Transfer-Encoding wins and the length must go (RFC 9112
                // §6.3), or the client would frame the body by a length not its own.
                || (chunked.is_some() && h.name.eq_ignore_ascii_case("content-length"));
            if !hop {
                client_head.extend_from_slice(h.name.as_bytes());
                client_head.extend_from_slice(b": ");
                client_head.extend_from_slice(h.value);
                client_head.extend_from_slice(b"\r\n");
            }
        }
        let mut status_text = decode_header_bytes(reason.as_bytes()).into();
        intern(&mut status_text);
        let record = ResponseRecord {
            status,
            status_text,
            http_version: if http10 { "HTTP/1.0" } else { "HTTP/1.1" }.into(),
            headers,
            body: Default::default(),
        };
        Ok(Self {
            record,
            client_head,
            framing,
            keep_alive: !close && (!http10 || keep_alive),
        })
    }
}

/// A status code (100–999, as httparse reads it) as its three digits.
fn status_digits(status: u16) -> [u8; 3] {
    let digit = |n: u16| b'0' + (n % 10) as u8;
    [digit(status / 100), digit(status / 10), digit(status)]
}

/// Stream the response body to the client (`out` holds the head), recording it up to
/// `--max-body-capture`, each upstream read within `--idle-timeout` (`timer`, the
/// connection's [`Timers::upstream_body`]). `Err` when the exchange ended badly (recorded
/// already): the client connection must close.
///
/// A body of known length that is recorded whole and fits one read buffer (from
/// [`ZERO_COPY_MIN`] to [`MAX_BODY_READ`] and the capture limit) is *gathered*: each part
/// goes to the client as it arrives but stays in the buffer, and the finished body is
/// recorded as that buffer, however many reads it took. Other bodies are copied into the
/// record part by part.
async fn relay_body<S>(
    io: &mut S,
    up: &mut Upstream,
    mut out: Vec<u8>,
    framing: Framing,
    config: &ProxyConfig,
    timer: &mut Option<Pin<Box<Sleep>>>,
    inflight: &InFlight,
) -> Result<(), ()>
where
    S: AsyncWrite + Unpin,
{
    let idle = config.body_idle_timeout;
    let expected = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let limit = config.max_body_capture;
    let gather = Capture::whole_fits(limit, expected);
    // A gathered body needs no room of its own in the record until it ends early.
    let mut capture = Capture::new(limit, if gather { 0 } else { expected });
    let mut left = expected;
    let mut chunks = Dechunk::default();
    let mut done = framing == Framing::Empty;
    // Gathering: the bytes of this body at the front of the buffer, already relayed.
    let mut gathered = 0;
    loop {
        // Take what the upstream buffer holds of this body.
        if !done && up.buf.len() > gathered {
            let fresh = up.buf.len() - gathered;
            let start = gathered;
            let used = match framing {
                Framing::Length(_) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(fresh);
                    left -= n as u64;
                    done = left == 0;
                    if gather {
                        gathered += n;
                    } else {
                        capture.observe(&up.buf[..n]);
                    }
                    n
                }
                Framing::Chunked => match chunks.feed(&up.buf, &mut capture) {
                    Ok((n, end)) => {
                        done = end;
                        n
                    }
                    Err(reason) => {
                        let error =
                            body_failure(&capture, &format!("invalid chunked body: {reason}"));
                        capture.finish(Side::Response, inflight, Some(error));
                        let _ = write_all(io, &out).await;
                        return Err(());
                    }
                },
                Framing::Close => {
                    let n = up.buf.len();
                    capture.observe(&up.buf);
                    n
                }
                Framing::Empty => 0,
            };
            // The head goes out with the first body bytes; later bytes straight from the
            // read buffer.
            let data = &up.buf[start..start + used];
            let written = if out.is_empty() {
                write_all(io, data).await
            } else if data.len() <= HEAD_COPY_MAX {
                out.extend_from_slice(data);
                let written = write_all(io, &out).await;
                out.clear();
                written
            } else {
                let written = write_all_buf(io, &mut Buf::chain(&out[..], data)).await;
                out.clear();
                written
            };
            if !gather {
                up.buf.advance(used);
            } else if done {
                // The whole body, recorded as the buffer it is in unless that buffer is
                // much larger (a small body must not hold a large buffer alive).
                if fills(&up.buf, gathered) {
                    capture.whole(up.buf.split_to(gathered).freeze());
                } else {
                    capture.observe(&up.buf[..gathered]);
                    up.buf.advance(gathered);
                }
                gathered = 0;
            }
            if let Err(e) = written {
                spill(&mut capture, &mut up.buf, &mut gathered);
                return client_gone(&e, &mut capture, inflight);
            }
        } else if !out.is_empty() {
            let written = write_all(io, &out).await;
            out.clear();
            if let Err(e) = written {
                spill(&mut capture, &mut up.buf, &mut gathered);
                return client_gone(&e, &mut capture, inflight);
            }
        }
        if done {
            // Recorded once the client has it all: the store and the engine stay off the
            // path of the response.
            capture.finish(Side::Response, inflight, None);
            return Ok(());
        }
        // More from upstream: room for the rest of a body of known length, else for
        // another BODY_READ. A gathered body keeps its bytes, so its buffer grows to hold
        // all of it, once, to the size it needs (not doubling).
        let rest = match framing {
            Framing::Length(_) => usize::try_from(left).unwrap_or(usize::MAX),
            _ => 0,
        };
        if gather {
            if up.buf.capacity() - up.buf.len() < rest {
                let mut bigger = BytesMut::with_capacity(gathered + rest + READ_SLACK);
                bigger.extend_from_slice(&up.buf);
                up.buf = bigger;
            }
        } else if rest > BODY_READ && up.buf.is_empty() && up.buf.capacity() < rest {
            up.buf = BytesMut::with_capacity(rest.min(MAX_BODY_READ) + READ_SLACK);
        } else if up.buf.capacity() - up.buf.len() < BODY_READ / 4 {
            up.buf.reserve(BODY_READ);
        }
        let read = match idle {
            Some(after) => {
                let timer = arm(timer, tokio::time::Instant::now() + after);
                match before(timer, up.stream.read_buf(&mut up.buf)).await {
                    Some(read) => read,
                    None => {
                        spill(&mut capture, &mut up.buf, &mut gathered);
                        let error = body_failure(&capture, &Stalled(after).to_string());
                        capture.finish(Side::Response, inflight, Some(error));
                        return Err(());
                    }
                }
            }
            None => up.stream.read_buf(&mut up.buf).await,
        };
        match read {
            Ok(0) if framing == Framing::Close => {
                capture.finish(Side::Response, inflight, None);
                return Ok(());
            }
            Ok(0) => {
                spill(&mut capture, &mut up.buf, &mut gathered);
                let error = body_failure(&capture, "connection closed before message completed");
                capture.finish(Side::Response, inflight, Some(error));
                return Err(());
            }
            Ok(_) => {}
            Err(e) => {
                spill(&mut capture, &mut up.buf, &mut gathered);
                let error = body_failure(&capture, &e.to_string());
                capture.finish(Side::Response, inflight, Some(error));
                return Err(());
            }
        }
    }
}

/// A gathered body that ends early: what was relayed of it goes into the record.
fn spill(capture: &mut Capture, buf: &mut BytesMut, gathered: &mut usize) {
    capture.observe(&buf[..*gathered]);
    buf.advance(*gathered);
    *gathered = 0;
}

/// The client could not be written to: the exchange is recorded as cut off there.
fn client_gone(e: &std::io::Error, capture: &mut Capture, inflight: &InFlight) -> Result<(), ()> {
    let error = format!(
        "the client went away before the response body was complete ({} bytes relayed)",
        capture.total
    );
    capture.finish(Side::Response, inflight, Some(error));
    tracing::debug!(error = %e, "client write failed");
    Err(())
}

fn body_failure(capture: &Capture, cause: &str) -> String {
    format!(
        "response body from upstream failed after {} bytes: {cause}",
        capture.total
    )
}

async fn write_all<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// [`write_all`] for bytes in pieces: one vectored write where the stream takes them.
async fn write_all_buf<S: AsyncWrite + Unpin>(
    io: &mut S,
    bytes: &mut impl Buf,
) -> std::io::Result<()> {
    io.write_all_buf(bytes).await?;
    io.flush().await
}

/// True when the first `n` bytes of `buf` fill it, so recording them as the buffer itself
/// keeps no more than an eighth beyond them alive.
fn fills(buf: &BytesMut, n: usize) -> bool {
    buf.capacity() - n <= n / 8
}

/// Follows a chunked body: how much of the input belongs to it, and its data for the record.
#[derive(Debug, Default)]
struct Dechunk {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

impl Dechunk {
    /// Feed `input`: the bytes used (up to the end of the body) and whether it ended.
    fn feed(&mut self, input: &[u8], capture: &mut Capture) -> Result<(usize, bool), String> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                ChunkState::Data(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - pos);
                    capture.observe(&input[pos..pos + n]);
                    pos += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                _ => {
                    let rest = &input[pos..];
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(rest);
                        if self.line.len() > MAX_CHUNK_LINE {
                            return Err("chunk line too long".to_owned());
                        }
                        return Ok((input.len(), false));
                    };
                    self.line.extend_from_slice(&rest[..nl]);
                    pos += nl + 1;
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::Size => match chunk_size(line) {
                            Some(0) => ChunkState::Trailers,
                            Some(n) => ChunkState::Data(n),
                            None => return Err("invalid chunk size line".to_owned()),
                        },
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err("chunk data not followed by CRLF".to_owned())
                        }
                        ChunkState::Trailers if line.is_empty() => {
                            self.state = ChunkState::Size;
                            return Ok((pos, true));
                        }
                        other => other,
                    };
                }
            }
        }
        Ok((pos, false))
    }
}

/// Answer `status` with `reason`, record it, and say what becomes of the connection.
async fn fail<S>(
    io: &mut S,
    inflight: &InFlight,
    status: StatusCode,
    reason: String,
    close: bool,
) -> Next
where
    S: AsyncWrite + Unpin,
{
    tracing::debug!(%reason, "relay: answered {status}");
    let body = record_own_response(inflight, status, reason);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    if write_all(io, out.as_bytes()).await.is_err() || close {
        let _ = io.shutdown().await;
        return Next::Close;
    }
    Next::KeepAlive
}

async fn response_timeout<S>(io: &mut S, inflight: &InFlight, wait: Duration, close: bool) -> Next
where
    S: AsyncWrite + Unpin,
{
    let reason = format!(
        "upstream sent no response within {} (--response-timeout)",
        super::fault::seconds(wait)
    );
    fail(io, inflight, StatusCode::GATEWAY_TIMEOUT, reason, close).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn capture() -> Capture {
        Capture::new(1 << 20, 0)
    }

    #[test]
    fn chunked_bodies_end_where_they_end_and_keep_their_data() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-t: 1\r\n\r\nNEXT";
        for split in 1..body.len() {
            let mut d = Dechunk::default();
            let mut c = capture();
            let (a, end_a) = d.feed(&body[..split], &mut c).unwrap();
            let (used, end) = if end_a {
                (a, true)
            } else {
                assert_eq!(a, split);
                let (b, end_b) = d.feed(&body[split..], &mut c).unwrap();
                (a + b, end_b)
            };
            assert!(end, "split at {split}");
            assert_eq!(used, body.len() - 4, "split at {split}");
            assert_eq!(&c.captured[..], b"hello world");
        }
    }

    #[test]
    fn bad_chunk_framing_is_an_error() {
        let mut d = Dechunk::default();
        assert!(d.feed(b"zz\r\n", &mut capture()).is_err());
        let mut d = Dechunk::default();
        assert!(d.feed(b"1\r\nab\r\n", &mut capture()).is_err());
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let parse = |head: &str, head_req| ResponseHead::parse(head.as_bytes(), head_req);
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false).unwrap();
        assert_eq!(r.framing, Framing::Length(3));
        assert!(r.keep_alive);
        let r = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let client = String::from_utf8(r.client_head).unwrap();
        assert!(
            !client.to_ascii_lowercase().contains("content-length"),
            "{client}"
        );
        assert!(client.contains("Transfer-Encoding: chunked"), "{client}");
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true).unwrap();
        assert_eq!(r.framing, Framing::Empty);
        let r = parse("HTTP/1.1 304 Not Modified\r\n\r\n", false).unwrap();
        assert_eq!(r.framing, Framing::Empty);
        let r = parse("HTTP/1.0 200 OK\r\n\r\n", false).unwrap();
        assert_eq!(r.framing, Framing::Close);
        assert!(!r.keep_alive);
        let r = parse(
            "HTTP/1.1 200 OK\r\nConnection: close, x-hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap();
        assert!(!r.keep_alive);
        let client = String::from_utf8(r.client_head).unwrap();
        assert!(
            !client.contains("X-Hop") && !client.contains("Connection"),
            "{client}"
        );
        assert_eq!(r.record.headers.len(), 3, "the record keeps the wire head");
        assert!(parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            false
        )
        .is_err());
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", false).is_err());
    }

    #[test]
    fn absolute_targets_split_into_upstream_target_and_shown_url() {
        let split = |t: &str| {
            split_absolute(t).map(|(a, port, origin, url)| (a.to_string(), port, origin, url))
        };
        let s = |x: &str| x.to_owned();
        assert_eq!(
            split("http://a.test:8080/x?y=1"),
            Some((
                s("a.test:8080"),
                Some(8080),
                s("/x?y=1"),
                s("http://a.test:8080/x?y=1")
            ))
        );
        assert_eq!(
            split("http://a.test:80/x"),
            Some((s("a.test:80"), Some(80), s("/x"), s("http://a.test/x")))
        );
        assert_eq!(
            split("http://a.test"),
            Some((s("a.test"), None, s("/"), s("http://a.test/")))
        );
        assert_eq!(
            split("http://[::1]:9?q"),
            Some((s("[::1]:9"), Some(9), s("/?q"), s("http://[::1]:9/?q")))
        );
        assert_eq!(split("http://user@a.test/"), None);
        assert_eq!(split("http:///x"), None);
        assert_eq!(split("https://a.test/"), None);
        assert_eq!(split("http://a b/"), None);
    }

    #[test]
    fn interim_responses_are_recognised() {
        assert_eq!(interim_status(b"HTTP/1.1 100 Continue\r\n\r\n"), Some(100));
        assert_eq!(
            interim_status(b"HTTP/1.1 103 Early Hints\r\n\r\n"),
            Some(103)
        );
        assert_eq!(interim_status(b"HTTP/1.1 101 Switching\r\n\r\n"), None);
        assert_eq!(interim_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn hop_by_hop_request_headers_are_not_forwarded() {
        assert!(is_hop_by_hop("Proxy-Connection", b"keep-alive"));
        assert!(is_hop_by_hop("TE", b"gzip"));
        assert!(!is_hop_by_hop("TE", b"trailers"));
        assert!(!is_hop_by_hop("Origin", b"http://a.test"));
    }
}
