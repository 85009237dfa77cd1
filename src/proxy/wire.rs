//! Request heads exactly as the client wrote them on an HTTP/1 connection.
//!
//! hyper hands the proxy a `HeaderMap`: names lower-cased, repeated names grouped. For the
//! record, corscope wants the wire: original case, true order, duplicates where they were.
//! [`TapIo`] watches the bytes hyper reads from the client, follows the message framing
//! (heads, Content-Length and chunked bodies) and queues each request head it sees; the
//! request handler takes the next head from the queue and uses it when it agrees with
//! what hyper parsed (same method, same number of header lines). Anything the tap does
//! not understand switches it off for the connection, and the record falls back to
//! hyper's view. The tap never changes a byte.
//!
//! Following the framing also lets the tap see what hyper's parsed view hides: a head with
//! both `Content-Length` and `Transfer-Encoding` (hyper drops the length and carries on),
//! or a transfer coding besides `chunked`. Such a head is queued marked as refused (the
//! request-smuggling patterns of RFC 9112 §6.3 and §11.2), and the handler answers it with
//! a 400 and closes the connection instead of forwarding it. The tap also remembers the
//! first line of a head it could not parse and how much of an unfinished head has
//! arrived, so a malformed request or a client that stalls mid-head can be reported.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::capture::exchange::HeaderList;

/// Largest request head (request line and header lines) corscope accepts: larger heads
/// get 431 from hyper (`max_header_size`). Browsers cap a cookie at 4 KB and servers
/// commonly accept 8–64 KB of head (nginx 32 KB, Node.js 16 KB); hyper's default would be
/// its whole ~400 KB read buffer. The tap follows heads up to the same size.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Header lines per head the tap parses: more than hyper's limit (100; more is a 431), so
/// every head hyper accepts is followed.
const MAX_HEADERS: usize = 128;

/// Longest first line kept from a head that could not be parsed (for the record).
const MAX_UNPARSED_LINE: usize = 256;

/// Heads queued ahead of the handler (pipelined requests). More means the handler is
/// not consuming them: the tap stops following the connection (a queue that dropped
/// heads could pair a head with the wrong request).
const MAX_QUEUED_HEADS: usize = 32;

/// Longest chunk-size or trailer line followed.
const MAX_LINE: usize = 4 * 1024;

/// One request head as written. The listener attaches it to the request it belongs to (as
/// a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireHead {
    pub method: String,
    pub headers: HeaderList,
    /// Why this head must not be forwarded (ambiguous framing), if it must not.
    pub refusal: Option<String>,
}

impl WireHead {
    /// The headers as written, if they are the ones hyper parsed (`header_count` values).
    pub fn headers_for(self, header_count: usize) -> Option<HeaderList> {
        (self.headers.len() == header_count).then_some(self.headers)
    }
}

/// The heads seen on one connection, oldest first, and what the tap knows about the head
/// under way.
#[derive(Debug, Default)]
pub struct WireHeads {
    queue: Mutex<VecDeque<WireHead>>,
    /// Bytes of a head that has started but not ended (0 between requests).
    partial: AtomicUsize,
    /// First line of the last head that could not be parsed.
    unparsed: Mutex<Option<String>>,
    /// Set when the connection stops carrying HTTP/1 requests (CONNECT, upgrade).
    stopped: AtomicBool,
}

impl WireHeads {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<WireHead>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `head`; `false` when the queue is full (it is then cleared and the tap must
    /// stop).
    fn push(&self, head: WireHead) -> bool {
        let mut queue = self.lock();
        if queue.len() >= MAX_QUEUED_HEADS {
            queue.clear();
            return false;
        }
        queue.push_back(head);
        true
    }

    /// The head of the request hyper has just parsed: the next in the queue, when its
    /// method agrees. On a mismatch the queue is out of step: it is cleared and `None`
    /// returned. Called once per request, in order, whatever then happens to the request.
    pub fn take_next(&self, method: &str) -> Option<WireHead> {
        let mut queue = self.lock();
        let head = queue.pop_front()?;
        if head.method == method {
            return Some(head);
        }
        queue.clear();
        None
    }

    /// Stop following: the connection is now a tunnel or an upgraded protocol.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Bytes of an unfinished request head received so far (0 when none is under way, or
    /// when the tap stopped following the connection).
    pub fn partial_head_bytes(&self) -> usize {
        self.partial.load(Ordering::Relaxed)
    }

    /// The first line of the last head that could not be parsed (lossy, shortened).
    pub fn unparsed_line(&self) -> Option<String> {
        self.unparsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_unparsed(&self, head: &[u8]) {
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = &line[..line.len().min(MAX_UNPARSED_LINE)];
        *self.unparsed.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(String::from_utf8_lossy(line).into_owned());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Off,
}

/// Follows HTTP/1 request framing in a byte stream and queues the heads.
#[derive(Debug)]
struct Follower {
    state: State,
    buf: Vec<u8>,
    heads: Arc<WireHeads>,
}

impl Follower {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let used = match self.state {
                State::Off => return,
                State::Head => return self.feed_head(data),
                State::Body(left) | State::ChunkData(left) => {
                    let used = left.min(data.len() as u64);
                    let left = left - used;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::ChunkData(_), 0) => State::ChunkEnd,
                        (State::ChunkData(_), _) => State::ChunkData(left),
                        _ => State::Body(left),
                    };
                    used as usize
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => self.feed_line(data),
            };
            data = &data[used..];
        }
    }

    /// Collect a head up to its blank line; parse it and go on with what follows.
    fn feed_head(&mut self, data: &[u8]) {
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        let data = if self.buf.is_empty() {
            let skip = data
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            &data[skip..]
        } else {
            data
        };
        if data.is_empty() {
            return;
        }
        let search_from = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(data);
        let Some(end) = head_end(&self.buf, search_from) else {
            if self.buf.len() > MAX_HEAD_BYTES {
                self.heads.set_unparsed(&self.buf);
                self.off();
            } else {
                self.heads.partial.store(self.buf.len(), Ordering::Relaxed);
            }
            return;
        };
        self.heads.partial.store(0, Ordering::Relaxed);
        let rest = self.buf.split_off(end);
        let head = std::mem::take(&mut self.buf);
        self.state = self.parse_head(&head);
        self.feed(&rest);
    }

    fn parse_head(&self, head: &[u8]) -> State {
        let mut headers = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let Ok(httparse::Status::Complete(_)) = req.parse_with_uninit_headers(head, &mut headers)
        else {
            self.heads.set_unparsed(head);
            return State::Off;
        };
        let method = req.method.unwrap_or_default().to_owned();
        let text = req
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let list = HeaderList::from_wire(req.headers.iter().map(|h| (h.name, h.value)), text);
        let (next, refusal) = match framing(&list) {
            Ok(next) => (next, None),
            // hyper closes the connection after the refusal: nothing more to follow.
            Err(reason) => {
                self.heads.set_unparsed(head);
                (State::Off, Some(reason))
            }
        };
        let queued = self.heads.push(WireHead {
            method,
            headers: list,
            refusal,
        });
        if queued {
            next
        } else {
            State::Off
        }
    }

    /// Chunk-size lines, the CRLF after chunk data, and trailer lines.
    fn feed_line(&mut self, data: &[u8]) -> usize {
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            self.buf.extend_from_slice(data);
            if self.buf.len() > MAX_LINE {
                self.off();
            }
            return data.len();
        };
        self.buf.extend_from_slice(&data[..nl]);
        let line = std::mem::take(&mut self.buf);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        self.state = match self.state {
            State::ChunkSize => chunk_size(line).map_or(State::Off, |size| match size {
                0 => State::Trailers,
                n => State::ChunkData(n),
            }),
            State::ChunkEnd if line.is_empty() => State::ChunkSize,
            State::Trailers if line.is_empty() => State::Head,
            State::Trailers => State::Trailers,
            _ => State::Off,
        };
        nl + 1
    }

    fn off(&mut self) {
        self.state = State::Off;
        self.buf = Vec::new();
        self.heads.partial.store(0, Ordering::Relaxed);
    }
}

/// What follows a request head: a body of known length, a chunked body, or nothing. `Err`
/// names framing the proxy refuses to forward (RFC 9112 §6.1, §6.3). A CONNECT or an
/// upgrade is followed like any request: it may be refused and the connection go on;
/// when it succeeds the handler calls [`WireHeads::stop`].
fn framing(headers: &HeaderList) -> Result<State, String> {
    let te = headers.get_combined("transfer-encoding");
    let has_length = headers.contains("content-length");
    if let Some(te) = &te {
        if has_length {
            return Err(format!(
                "request has both Content-Length and Transfer-Encoding ({te:?}): ambiguous \
                 framing (a request smuggling pattern, RFC 9112 §6.3) is refused"
            ));
        }
        let codings: Vec<&str> = te
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if !matches!(codings.as_slice(), [one] if one.eq_ignore_ascii_case("chunked")) {
            return Err(format!(
                "Transfer-Encoding {te:?} is refused: corscope accepts only a single \
                 \"chunked\" coding on requests"
            ));
        }
    }
    if te.is_some() {
        return Ok(State::ChunkSize);
    }
    let mut length = None;
    for value in headers.get_all("content-length") {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let Some(n) = digits(value) else {
            // hyper answers 400 for a length it cannot read.
            return Ok(State::Off);
        };
        match length {
            Some(seen) if seen != n => {
                return Err(format!(
                    "request has differing Content-Length values ({seen} and {n}): \
                     ambiguous framing is refused"
                ))
            }
            _ => length = Some(n),
        }
    }
    Ok(match length {
        None | Some(0) => State::Head,
        Some(n) => State::Body(n),
    })
}

/// A decimal length as hyper reads it: digits only (no sign, no list).
pub(crate) fn digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Where a head ends in `buf` (the index after its empty line), searching from `from`.
/// Like hyper, a bare LF ends a line as well as CRLF.
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(pos) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + pos;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

pub(crate) fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim();
    u64::from_str_radix(digits, 16).ok()
}

/// A client stream whose incoming bytes are followed for request heads.
pub struct TapIo<T> {
    inner: T,
    follower: Follower,
}

impl<T> TapIo<T> {
    /// Watch `inner`; heads go to `heads`.
    pub fn new(inner: T, heads: Arc<WireHeads>) -> Self {
        Self {
            inner,
            follower: Follower {
                state: State::Head,
                buf: Vec::new(),
                heads,
            },
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TapIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if this.follower.state != State::Off {
                if this.follower.heads.stopped.load(Ordering::Relaxed) {
                    this.follower.off();
                } else {
                    this.follower.feed(&buf.filled()[before..]);
                }
            }
        }
        polled
    }
}

forward_async_write!(TapIo);

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(pieces: &[&[u8]]) -> (Vec<WireHead>, State) {
        let heads = Arc::new(WireHeads::default());
        let mut f = Follower {
            state: State::Head,
            buf: Vec::new(),
            heads: heads.clone(),
        };
        for piece in pieces {
            f.feed(piece);
        }
        let queue = heads.lock().iter().cloned().collect();
        (queue, f.state)
    }

    #[test]
    fn keeps_case_order_and_interleaved_duplicates() {
        let (heads, state) =
            follow(&[b"GET http://a/ HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\n\r\n"]);
        assert_eq!(state, State::Head);
        let names: Vec<&str> = heads[0].headers.iter().map(|h| h.name).collect();
        assert_eq!(names, ["Host", "X-A", "x-b", "X-A"]);
    }

    #[test]
    fn follows_bodies_split_anywhere() {
        let wire = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\npatch /c HTTP/1.1\r\nHost: c\r\n\r\n";
        for split in 1..wire.len() {
            let (heads, state) = follow(&[&wire[..split], &wire[split..]]);
            let methods: Vec<&str> = heads.iter().map(|h| h.method.as_str()).collect();
            assert_eq!(methods, ["POST", "PUT", "patch"], "split at {split}");
            assert_eq!(state, State::Head);
        }
    }

    #[test]
    fn stops_following_what_it_does_not_understand() {
        assert_eq!(follow(&[b"\x00\x01garbage\r\n\r\n"]).1, State::Off);
        // A refused CONNECT leaves an HTTP connection: the next head is followed.
        let (heads, state) = follow(&[b"CONNECT a:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"]);
        assert_eq!(heads.len(), 2);
        assert_eq!(state, State::Head);
    }

    #[test]
    fn a_queue_the_handler_does_not_drain_switches_the_tap_off() {
        let wire = b"GET / HTTP/1.1\r\n\r\n".repeat(MAX_QUEUED_HEADS + 1);
        let (heads, state) = follow(&[&wire]);
        assert!(
            heads.is_empty(),
            "no head may be paired with the wrong request"
        );
        assert_eq!(state, State::Off);
    }

    #[test]
    fn a_stopped_tap_reads_no_further() {
        let heads = Arc::new(WireHeads::default());
        let mut tap = TapIo::new(&b"\x16\x03\x01 tunnel bytes"[..], heads.clone());
        heads.stop();
        let mut buf = [0u8; 64];
        let mut read = ReadBuf::new(&mut buf);
        let waker = std::task::Waker::noop();
        let polled = Pin::new(&mut tap).poll_read(&mut Context::from_waker(waker), &mut read);
        assert!(matches!(polled, Poll::Ready(Ok(()))));
        assert_eq!(tap.follower.state, State::Off);
        assert!(heads.unparsed_line().is_none());
    }

    #[test]
    fn ambiguous_framing_is_marked_refused() {
        let cases: [&[u8]; 5] = [
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for wire in cases {
            let (heads, state) = follow(&[wire]);
            assert_eq!(state, State::Off);
            assert!(
                heads[0].refusal.is_some(),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        let (heads, state) = follow(&[
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
            b"GET / HTTP/1.1\r\n\r\n",
        ]);
        assert_eq!(state, State::Head);
        assert_eq!(heads.len(), 2);
        assert!(heads.iter().all(|h| h.refusal.is_none()));
    }

    #[test]
    fn bare_lf_heads_and_partial_heads() {
        let heads = Arc::new(WireHeads::default());
        let mut f = Follower {
            state: State::Head,
            buf: Vec::new(),
            heads: heads.clone(),
        };
        f.feed(b"GET / HTTP/1.1\nHost: a\n\nGET /b HTTP/1.1\r\nHo");
        assert_eq!(heads.lock().len(), 2 - 1);
        assert_eq!(heads.partial_head_bytes(), 19);
        f.feed(b"st: b\r\n\r\n");
        assert_eq!(heads.lock().len(), 2);
        assert_eq!(heads.partial_head_bytes(), 0);
        f.feed(b"GET\r\n\r\n");
        assert_eq!(heads.unparsed_line().as_deref(), Some("GET"));
    }

    #[test]
    fn mismatched_heads_are_not_used() {
        let heads = WireHeads::default();
        for method in ["GET", "PUT"] {
            assert!(heads.push(WireHead {
                method: method.into(),
                headers: HeaderList::default(),
                refusal: None,
            }));
        }
        assert!(heads.take_next("POST").is_none());
        assert!(heads.take_next("PUT").is_none(), "queue cleared");
        let head = WireHead {
            method: "GET".into(),
            headers: [crate::capture::Header::new("A", "1")]
                .into_iter()
                .collect(),
            refusal: None,
        };
        assert!(head.clone().headers_for(1).is_some());
        assert!(head.headers_for(2).is_none());
    }
}
