//! Parts for the hardening tests: an upstream that records every byte and every request it
//! receives (so a test can assert a refused request never reached it), raw-socket clients,
//! and the "is the proxy still fine" check run after each bad input.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::{body_bytes, h1_to_proxy, TestProxy, WAIT};

/// A request as the recording upstream saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub uri: String,
    /// Names lower-cased, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, or why reading it failed (the request was aborted).
    pub body: Result<Bytes, String>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Default)]
pub struct Seen {
    /// Every byte received, all connections in arrival order.
    pub raw: Vec<u8>,
    /// Requests whose head arrived (body complete or not).
    pub requests: Vec<SeenRequest>,
    pub connections_opened: usize,
    pub connections_closed: usize,
    /// Response bytes written by `/stream` handlers before their connection failed.
    pub stream_write_failures: usize,
}

/// An HTTP/1.1 upstream that records everything. Routes: `/stream?n=N` streams N bytes
/// (64 KiB chunks) and notes when the reader went away; anything else answers
/// `ok <method> <path>` after reading the whole body.
#[derive(Clone)]
pub struct RecordingUpstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    changed: watch::Sender<u64>,
}

impl RecordingUpstream {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    /// On a given address (e.g. `[::1]:0`); `Err` when it cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let up = Self {
            addr: listener.local_addr()?,
            seen: Arc::default(),
            changed: watch::Sender::new(0),
        };
        let server = up.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(tcp).await });
            }
        });
        Ok(up)
    }

    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap());
        self.changed.send_modify(|v| *v += 1);
    }

    async fn serve(self, tcp: TcpStream) {
        self.update(|s| s.connections_opened += 1);
        let io = Recorder {
            inner: tcp,
            up: self.clone(),
        };
        let service_up = self.clone();
        let service = service_fn(move |req| route(req, service_up.clone()));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
        self.update(|s| s.connections_closed += 1);
    }

    /// Run `f` on what was seen so far.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen(|s| s.requests.clone())
    }

    pub fn raw_contains(&self, needle: &[u8]) -> bool {
        self.seen(|s| s.raw.windows(needle.len()).any(|w| w == needle))
    }

    /// Wait (up to [`WAIT`]) until `cond` holds on what was seen.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let mut rx = self.changed.subscribe();
        let ok = tokio::time::timeout(WAIT, async {
            loop {
                if self.seen(&cond) {
                    return;
                }
                rx.changed().await.unwrap();
            }
        })
        .await;
        assert!(ok.is_ok(), "upstream never saw: {what}");
    }
}

type UpBody = BoxBody<Bytes, Infallible>;

async fn route(
    req: Request<Incoming>,
    up: RecordingUpstream,
) -> Result<Response<UpBody>, Infallible> {
    let method = req.method().as_str().to_owned();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let index = up.seen(|s| s.requests.len());
    up.update(|s| {
        s.requests.push(SeenRequest {
            method: method.clone(),
            uri: uri.clone(),
            headers,
            body: Err("body not read yet".to_owned()),
        })
    });
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    up.update(|s| s.requests[index].body = body.map_err(|e| e.to_string()));
    if path == "/stream" {
        let n: u64 = query
            .strip_prefix("n=")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return Ok(Response::new(stream_body(n, up)));
    }
    let text = format!("ok {method} {path}");
    Ok(Response::new(Full::new(Bytes::from(text)).boxed()))
}

/// `n` bytes in 64 KiB chunks through a channel, so a failed write is noticed.
fn stream_body(n: u64, up: RecordingUpstream) -> UpBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    tokio::spawn(async move {
        let mut left = n;
        while left > 0 {
            let len = left.min(64 * 1024);
            let chunk = Bytes::from(vec![b'x'; len as usize]);
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                up.update(|s| s.stream_write_failures += 1);
                return;
            }
            left -= len;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    StreamBody::new(stream).boxed()
}

/// A stream that copies what it reads into the upstream's record.
struct Recorder {
    inner: TcpStream,
    up: RecordingUpstream,
}

impl AsyncRead for Recorder {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = buf.filled()[before..].to_vec();
            if !new.is_empty() {
                this.up.update(|s| s.raw.extend_from_slice(&new));
            }
        }
        polled
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Write `wire` to a new connection to `addr` and read until the proxy closes it.
pub async fn raw_exchange(addr: SocketAddr, wire: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(wire).await.unwrap();
    read_until_closed(&mut tcp).await
}

/// Read until EOF (or a reset: what arrived before it counts), lossy text.
pub async fn read_until_closed(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 8192];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the proxy did not close the connection: {:?}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `text`.
pub fn status_of(text: &str) -> Option<u16> {
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A normal absolute-form request through the proxy still works.
pub async fn proxy_still_works(proxy: SocketAddr, upstream: SocketAddr) {
    let mut send = h1_to_proxy(proxy).await;
    let req = Request::get(format!("http://{upstream}/still-ok"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("a normal request answered in time")
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_bytes(resp).await.as_ref(), b"ok GET /still-ok");
}

/// Wait until the store holds more than `before` exchanges; returns the ones after it.
pub async fn new_exchanges(
    proxy: &TestProxy,
    before: usize,
    n: usize,
) -> Vec<Arc<corscope::capture::Exchange>> {
    let all = proxy.exchanges(before + n).await;
    all[before..].to_vec()
}

/// Wait until the store holds an event whose message contains `needle`.
pub async fn wait_for_event(proxy: &TestProxy, needle: &str) -> corscope::capture::event::Event {
    let mut changes = proxy.store.subscribe();
    tokio::time::timeout(WAIT, async {
        loop {
            let found = proxy
                .store
                .snapshot()
                .events
                .iter()
                .find(|e| e.message.contains(needle))
                .map(|e| (**e).clone());
            if let Some(e) = found {
                return e;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event mentioning {needle:?}"))
}

/// Let the proxy's timers run out: a short real wait, for tests that configure timeouts
/// in the proxy well below this.
pub async fn pause(d: Duration) {
    tokio::time::sleep(d).await;
}
