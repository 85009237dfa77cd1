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

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::capture::exchange::HeaderList;

/// Largest request head the tap follows (hyper's own limit is about 400 KB of buffer;
/// heads beyond this are rare, and the record then uses hyper's view).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Header lines per head the tap parses.
const MAX_HEADERS: usize = 128;

/// Heads queued ahead of the handler (pipelined requests). More means the handler is
/// not consuming them, so the oldest are dropped.
const MAX_QUEUED_HEADS: usize = 32;

/// Longest chunk-size or trailer line followed.
const MAX_LINE: usize = 4 * 1024;

/// One request head as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireHead {
    pub method: String,
    pub headers: HeaderList,
}

/// The heads seen on one connection, oldest first.
#[derive(Debug, Default)]
pub struct WireHeads(Mutex<VecDeque<WireHead>>);

impl WireHeads {
    fn push(&self, head: WireHead) {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= MAX_QUEUED_HEADS {
            queue.pop_front();
        }
        queue.push_back(head);
    }

    /// The next head, if it matches the request hyper parsed (`method`, number of header
    /// values); on a mismatch the queue is cleared, since it is out of step.
    pub fn take_matching(&self, method: &str, header_count: usize) -> Option<HeaderList> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let head = queue.pop_front()?;
        if head.method == method && head.headers.len() == header_count {
            return Some(head.headers);
        }
        queue.clear();
        None
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
        let Some(pos) = find(&self.buf[search_from..], b"\r\n\r\n") else {
            if self.buf.len() > MAX_HEAD_BYTES {
                self.off();
            }
            return;
        };
        let end = search_from + pos + 4;
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
            return State::Off;
        };
        let method = req.method.unwrap_or_default().to_owned();
        let text = req
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let mut list = HeaderList::with_capacity(req.headers.len(), text);
        for h in req.headers.iter() {
            list.push_bytes(h.name, h.value);
        }
        let next = framing(&method, &list);
        self.heads.push(WireHead {
            method,
            headers: list,
        });
        next
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
    }
}

/// What follows a request head: a body of known length, a chunked body, or nothing.
/// CONNECT and upgrades turn the connection into something else: stop following.
fn framing(method: &str, headers: &HeaderList) -> State {
    if method.eq_ignore_ascii_case("CONNECT") || headers.contains("upgrade") {
        return State::Off;
    }
    if let Some(te) = headers.get_combined("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        return if last.eq_ignore_ascii_case("chunked") {
            State::ChunkSize
        } else {
            State::Off
        };
    }
    let mut lengths = headers.get_all("content-length");
    match (lengths.next(), lengths.next()) {
        (None, _) => State::Head,
        (Some(len), None) => len.trim().parse::<u64>().map_or(State::Off, |n| {
            if n == 0 {
                State::Head
            } else {
                State::Body(n)
            }
        }),
        // Several Content-Length lines: leave the judgement to hyper.
        _ => State::Off,
    }
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim();
    u64::from_str_radix(digits, 16).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
                this.follower.feed(&buf.filled()[before..]);
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
        let queue = heads.0.lock().unwrap().iter().cloned().collect();
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
        assert_eq!(
            follow(&[b"CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03"]).1,
            State::Off
        );
        let (_, state) =
            follow(&[b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]);
        assert_eq!(state, State::Off);
        assert_eq!(follow(&[b"\x00\x01garbage\r\n\r\n"]).1, State::Off);
    }

    #[test]
    fn mismatched_heads_are_not_used() {
        let heads = WireHeads::default();
        heads.push(WireHead {
            method: "GET".into(),
            headers: HeaderList::default(),
        });
        assert!(heads.take_matching("POST", 0).is_none());
        assert!(heads.take_matching("GET", 0).is_none(), "queue cleared");
    }
}
