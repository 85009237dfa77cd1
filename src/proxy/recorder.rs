//! Recording exchanges as they stream: [`InFlight`] collects one exchange while its
//! request and response are under way and hands it to the store when both bodies have
//! ended; [`RecordingBody`] wraps a body, passes every frame through untouched and keeps at
//! most the configured number of bytes, counting the rest. [`ClientBody`] is a request body
//! as the client sends it: it ends with a [`ClientBodyError`] when the client goes silent
//! for too long or goes away, so the exchange's failure is put on the client, not the
//! upstream. [`ProxyBody`] is what a client gets: a body that fails (upstream error or
//! `--idle-timeout` stall) fails towards the client too, so hyper aborts the connection or
//! h2 stream instead of ending the body as if it were complete.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::capture::exchange::{Body, Exchange, ResponseRecord};
use crate::capture::store::Store;

/// Which half of an exchange a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// One exchange under way. Shared by the handler and both recording bodies; the last of
/// the two bodies to finish pushes the exchange to the store.
#[derive(Debug)]
pub struct InFlight {
    store: Arc<Store>,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    exchange: Exchange,
    request_done: bool,
    response_done: bool,
    response_head_at: Option<Instant>,
    committed: bool,
}

impl InFlight {
    /// Start recording `exchange` (request head filled in).
    pub fn new(store: Arc<Store>, exchange: Exchange, started: Instant) -> Arc<Self> {
        Arc::new(Self {
            store,
            started,
            state: Mutex::new(State {
                exchange,
                request_done: false,
                response_done: false,
                response_head_at: None,
                committed: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The response head arrived from upstream.
    pub fn response_head(&self, response: ResponseRecord, server_ip: Option<Arc<str>>) {
        let now = Instant::now();
        let mut state = self.lock();
        state.exchange.timings.wait = ms(now - self.started);
        state.exchange.response = Some(response);
        state.exchange.server_ip = server_ip;
        state.response_head_at = Some(now);
    }

    /// The exchange failed before a response body could flow; `response` is what corscope
    /// answered instead (a 502, say), with its body already complete.
    pub fn fail(&self, error: String, response: ResponseRecord) {
        let mut state = self.lock();
        state.exchange.timings.wait = ms(self.started.elapsed());
        state.exchange.error = Some(error);
        state.exchange.response = Some(response);
        state.exchange.synthetic_response = true;
        state.response_done = true;
        self.maybe_commit(state);
    }

    /// Mark the request body as absent or already recorded (e.g. a request without one).
    pub fn request_without_body(&self) {
        let mut state = self.lock();
        state.request_done = true;
        self.maybe_commit(state);
    }

    /// Mark the response side complete without a streamed body (e.g. a 101 upgrade).
    pub fn response_complete(&self) {
        let mut state = self.lock();
        state.response_done = true;
        self.maybe_commit(state);
    }

    /// A body has ended (with `error` when it failed): it goes into the record.
    pub(crate) fn finish_body(&self, side: Side, body: Body, error: Option<String>) {
        let mut state = self.lock();
        if let Some(error) = error {
            // The first error names the cause; later ones are consequences.
            state.exchange.error.get_or_insert(error);
        }
        match side {
            Side::Request => {
                state.exchange.request.body = body;
                state.exchange.timings.send = ms(self.started.elapsed());
                state.request_done = true;
            }
            Side::Response => {
                if let Some(response) = state.exchange.response.as_mut() {
                    response.body = body;
                }
                if let Some(head_at) = state.response_head_at {
                    state.exchange.timings.receive = ms(head_at.elapsed());
                }
                state.response_done = true;
            }
        }
        self.maybe_commit(state);
    }

    fn maybe_commit(&self, mut state: std::sync::MutexGuard<'_, State>) {
        if !(state.request_done && state.response_done) || state.committed {
            return;
        }
        state.committed = true;
        let exchange = std::mem::take(&mut state.exchange);
        drop(state);
        self.store.push(exchange);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Every path is meant to commit; if one did not (a task cancelled mid-way), the
        // exchange is still kept, with what was seen.
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.committed {
            return;
        }
        state.committed = true;
        let mut exchange = std::mem::take(&mut state.exchange);
        exchange
            .error
            .get_or_insert_with(|| "exchange ended before it completed".to_owned());
        self.store.push(exchange);
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a recording body reports when it ends.
#[derive(Debug)]
struct Tap {
    side: Side,
    limit: usize,
    captured: BytesMut,
    total: u64,
    inflight: Option<Arc<InFlight>>,
}

impl Tap {
    /// The first error text for a body that failed: which side, after how many bytes.
    fn failure(&self, cause: &str) -> String {
        let what = match self.side {
            Side::Request => "request body from the client",
            Side::Response => "response body from upstream",
        };
        format!("{what} failed after {} bytes: {cause}", self.total)
    }

    fn observe(&mut self, data: &Bytes) {
        self.total += data.len() as u64;
        let room = self.limit.saturating_sub(self.captured.len());
        if room > 0 {
            let take = room.min(data.len());
            self.captured.extend_from_slice(&data[..take]);
        }
    }

    fn finish(&mut self, error: Option<String>) {
        let Some(inflight) = self.inflight.take() else {
            return;
        };
        let body = captured_body(std::mem::take(&mut self.captured), self.total);
        inflight.finish_body(self.side, body, error);
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if self.inflight.is_some() {
            let what = match self.side {
                Side::Request => "request body was cut off",
                // The server side stops polling a response body only when the client
                // went away (connection closed or HTTP/2 stream reset).
                Side::Response => "the client went away before the response body was complete",
            };
            let what = format!("{what} ({} bytes relayed)", self.total);
            self.finish(Some(what));
        }
    }
}

/// The record of a body: the bytes kept and how many passed in all.
pub(crate) fn captured_body(captured: BytesMut, total: u64) -> Body {
    // The store accounts for `len`; a buffer that grew by doubling can hold nearly twice
    // that, so an oversized one is copied down once.
    let captured = if captured.capacity() > captured.len() + captured.len() / 8 {
        bytes::Bytes::copy_from_slice(&captured)
    } else {
        captured.freeze()
    };
    Body {
        captured,
        total_size: total,
    }
}

pin_project_lite::pin_project! {
    /// A body that streams through unchanged while its first bytes are kept.
    pub struct RecordingBody<B> {
        #[pin]
        inner: B,
        tap: Tap,
    }
}

impl<B: HttpBody> RecordingBody<B> {
    /// Record `inner` as the `side` body of `inflight`, keeping at most `limit` bytes.
    pub fn new(inner: B, side: Side, limit: usize, inflight: Arc<InFlight>) -> Self {
        // A declared length lets the capture buffer be sized once.
        let expected = inner.size_hint().exact().unwrap_or(0);
        let initial = usize::try_from(expected).unwrap_or(usize::MAX).min(limit);
        let mut tap = Tap {
            side,
            limit,
            captured: BytesMut::with_capacity(initial),
            total: 0,
            inflight: Some(inflight),
        };
        // An empty body may never be polled; it is complete already.
        if inner.is_end_stream() {
            tap.finish(None);
        }
        Self { inner, tap }
    }
}

impl<B> RecordingBody<B> {
    /// End the recording with `cause` (the body is abandoned: a stall, say).
    fn abandon(self: Pin<&mut Self>, cause: &str) {
        let tap = self.project().tap;
        let error = tap.failure(cause);
        tap.finish(Some(error));
    }
}

impl<B> HttpBody for RecordingBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: StdError + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.tap.observe(data);
                }
                // A reader may stop polling once the body says it is done, and trailers
                // are always a body's last frame.
                if frame.is_trailers() || this.inner.is_end_stream() {
                    this.tap.finish(None);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let error = this.tap.failure(&super::fault::chain(e));
                this.tap.finish(Some(error));
            }
            Poll::Ready(None) => this.tap.finish(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error type of bodies corscope answers with: the upstream's own, or a stall.
pub type BoxError = Box<dyn StdError + Send + Sync>;

pin_project_lite::pin_project! {
    /// The body corscope answers a client with: the upstream's (recorded) or its own.
    #[project = ProxyBodyProj]
    pub enum ProxyBody {
        Upstream { #[pin] body: RecordingBody<hyper::body::Incoming>, idle: Idle },
        Own { data: Option<Bytes> },
    }
}

/// The upstream body went silent for longer than `--idle-timeout` while corscope waited
/// for it.
#[derive(Debug, thiserror::Error)]
#[error("no data from upstream for {}", super::fault::seconds(*.0))]
pub struct Stalled(pub Duration);

/// The body idle timer: armed while corscope waits for upstream data (not while the
/// client is slow to read: then the body is not polled), disarmed by every frame.
#[derive(Debug)]
pub struct Idle {
    after: Option<Duration>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl Idle {
    fn new(after: Option<Duration>) -> Self {
        Self {
            after,
            timer: None,
            armed: false,
        }
    }

    /// Called when the upstream had nothing: true once it has had nothing for too long.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(after) = self.after else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + after;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl ProxyBody {
    /// The upstream's body, recorded, failing when it stalls for `idle`.
    pub fn upstream(body: RecordingBody<hyper::body::Incoming>, idle: Option<Duration>) -> Self {
        Self::Upstream {
            body,
            idle: Idle::new(idle),
        }
    }

    /// A body corscope generated itself.
    pub fn own(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        Self::Own {
            data: (!data.is_empty()).then_some(data),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Own { data: None }
    }
}

impl HttpBody for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project() {
            ProxyBodyProj::Upstream { mut body, idle } => match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => {
                    idle.armed = false;
                    Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
                }
                Poll::Pending if idle.expired(cx) => {
                    let stalled = Stalled(idle.after.unwrap_or_default());
                    body.abandon(&stalled.to_string());
                    // An error, not the end: the client must not take what it got so far
                    // for the whole body, so hyper aborts its connection (or h2 stream).
                    Poll::Ready(Some(Err(Box::new(stalled))))
                }
                Poll::Pending => Poll::Pending,
            },
            ProxyBodyProj::Own { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream { body, .. } => body.is_end_stream(),
            Self::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream { body, .. } => body.size_hint(),
            Self::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

/// Why a client's request body ended before it was complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientBodyError {
    #[error(
        "the client sent no request body bytes for {secs} s (--body-timeout); the request \
         was abandoned and not completed upstream"
    )]
    Idle { secs: u64 },
    #[error("the client closed the connection in the middle of the request body ({0})")]
    Aborted(String),
}

impl ClientBodyError {
    /// What corscope answers (if the client still listens) and records.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Idle { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Aborted(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The client's fault behind an upstream request failure, if the request body failed.
pub fn client_fault<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a ClientBodyError> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(fault) = err.downcast_ref::<ClientBodyError>() {
            return Some(fault);
        }
        source = err.source();
    }
    None
}

pin_project_lite::pin_project! {
    /// A request body read from the client, with an idle timeout: when the client sends
    /// nothing for `timeout` while the body is wanted, the body fails with
    /// [`ClientBodyError::Idle`]. The clock runs only while the proxy waits on the client
    /// (an upstream that is slow to take the body does not count against the client).
    pub struct ClientBody<B> {
        #[pin]
        inner: B,
        timeout: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        waiting: bool,
    }
}

impl<B> ClientBody<B> {
    /// `inner`, failing after `timeout` without a byte from the client.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: None,
            waiting: false,
        }
    }
}

impl<B> HttpBody for ClientBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: StdError,
{
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.waiting = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let cause = match e.source() {
                    Some(source) => format!("{e}: {source}"),
                    None => e.to_string(),
                };
                Poll::Ready(Some(Err(ClientBodyError::Aborted(cause))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + *this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !*this.waiting {
                    sleep.as_mut().reset(deadline);
                    *this.waiting = true;
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(ClientBodyError::Idle {
                        secs: this.timeout.as_secs(),
                    })));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
