//! One HTTP exchange as the proxy saw it on the wire: plain data, no behaviour beyond
//! small accessors. The proxy fills these in, HAR import builds them from files, the CORS
//! engine reads them, and every view (TUI, JSON lines, HAR export) renders them.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Identifier of an exchange within one session (a store or an imported HAR).
pub type ExchangeId = u64;

/// One header line exactly as seen: name in its original case, duplicates kept by the
/// containing list, order preserved.
///
/// Values are stored as UTF-8 when the wire bytes are valid UTF-8, else isomorphic-decoded
/// (each byte becomes the code point of the same number), so no byte is ever lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One header line borrowed from a [`HeaderList`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl HeaderRef<'_> {
    /// An owned copy.
    pub fn to_owned(self) -> Header {
        Header::new(self.name, self.value)
    }
}

/// Headers in wire order with duplicates kept.
///
/// Stored compactly, since every captured exchange holds two of these: all names and
/// values back to back in one string, and per line the offsets where its name and its
/// value end. A dozen header lines cost two allocations instead of two dozen.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    text: String,
    /// Per line: (end of the name, end of the value), as offsets into `text`.
    ends: Vec<(u32, u32)>,
}

impl HeaderList {
    /// Every value of `name` (case-insensitive), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The first value of `name` (case-insensitive).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The Fetch standard's "get": all values of `name` joined with `", "`, or `None` when
    /// the header is absent.
    pub fn get_combined(&self, name: &str) -> Option<String> {
        let mut it = self.get_all(name);
        let mut out = it.next()?.to_owned();
        for value in it {
            out.push_str(", ");
            out.push_str(value);
        }
        Some(out)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// Append a line. (A list past 4 GiB of text cannot be indexed and drops the line;
    /// header sizes are limited long before that.)
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let name_end = self.text.len() + name.len();
        let value_end = name_end + value.len();
        let (Ok(n), Ok(v)) = (u32::try_from(name_end), u32::try_from(value_end)) else {
            return;
        };
        self.text.push_str(name);
        self.text.push_str(value);
        self.ends.push((n, v));
    }

    /// A header line from the wire: the value is kept as [`decode_header_bytes`] would
    /// give it, without an intermediate copy when it is UTF-8 (nearly always).
    pub fn push_bytes(&mut self, name: &str, value: &[u8]) {
        match std::str::from_utf8(value) {
            Ok(v) => self.push(name, v),
            Err(_) => self.push(name, decode_header_bytes(value)),
        }
    }

    /// An empty list with room for `lines` lines of `text` bytes in all.
    pub fn with_capacity(lines: usize, text: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            ends: Vec::with_capacity(lines),
        }
    }

    /// The line at `index`.
    pub fn get(&self, index: usize) -> Option<HeaderRef<'_>> {
        let &(name_end, value_end) = self.ends.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1].1 as usize,
        };
        let (name_end, value_end) = (name_end as usize, value_end as usize);
        Some(HeaderRef {
            name: self.text.get(start..name_end)?,
            value: self.text.get(name_end..value_end)?,
        })
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            front: 0,
            back: self.ends.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Release spare capacity (the store calls this once an exchange is complete).
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Heap bytes held (for the store's accounting and the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

/// Iterator over a [`HeaderList`]'s lines in wire order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    list: &'a HeaderList,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        self.list.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.list.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HeaderList {
    type Item = HeaderRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|h| (h.name, h.value)))
            .finish()
    }
}

impl FromIterator<Header> for HeaderList {
    fn from_iter<T: IntoIterator<Item = Header>>(iter: T) -> Self {
        let mut list = Self::default();
        for h in iter {
            list.push(&h.name, &h.value);
        }
        list
    }
}

impl<'a> FromIterator<HeaderRef<'a>> for HeaderList {
    fn from_iter<T: IntoIterator<Item = HeaderRef<'a>>>(iter: T) -> Self {
        let mut list = Self::default();
        for h in iter {
            list.push(h.name, h.value);
        }
        list
    }
}

impl Serialize for HeaderList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl Serialize for HeaderRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Header::new(self.name, self.value).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Header>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// Decode header bytes without losing any: UTF-8 when valid, else byte-per-code-point.
pub fn decode_header_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A body as captured: the first bytes (up to the capture limit) and the total size that
/// crossed the proxy. Stored bytes are exactly as on the wire (still content-encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Captured prefix of the body (at most the configured capture limit).
    pub captured: Bytes,
    /// Total number of body bytes that were transferred.
    pub total_size: u64,
}

impl Body {
    /// True when more bytes crossed the proxy than were kept.
    pub fn is_truncated(&self) -> bool {
        (self.captured.len() as u64) < self.total_size
    }
}

/// What the client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method exactly as sent (never case-normalised: `patch` stays `patch`).
    pub method: Text,
    /// Absolute URL (scheme, host, port when not default, path, query; no fragment).
    pub url: String,
    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`.
    pub http_version: Text,
    pub headers: HeaderList,
    pub body: Body,
}

/// What the server (or the proxy, on failure) answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseRecord {
    pub status: u16,
    pub status_text: Text,
    pub http_version: Text,
    pub headers: HeaderList,
    pub body: Body,
}

/// Timings in milliseconds, HAR style: `None` where not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub blocked: Option<f64>,
    pub dns: Option<f64>,
    pub connect: Option<f64>,
    /// TLS handshake; HAR counts it inside `connect` as well.
    pub ssl: Option<f64>,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
}

impl Timings {
    /// Total time as HAR defines it: the sum of the known parts (`ssl` is inside `connect`).
    pub fn total(&self) -> f64 {
        self.blocked.unwrap_or(0.0)
            + self.dns.unwrap_or(0.0)
            + self.connect.unwrap_or(0.0)
            + self.send
            + self.wait
            + self.receive
    }
}

/// Short text that is nearly always one of a few well-known values (methods, protocol
/// versions, reason phrases): those are kept as static strings, so most exchanges hold
/// no allocation for them.
pub type Text = std::borrow::Cow<'static, str>;

/// `text` as a static string when it is a well-known value, else as it is.
pub fn intern(text: &mut Text) {
    if let std::borrow::Cow::Owned(s) = text {
        const KNOWN: &[&str] = &[
            "GET",
            "POST",
            "PUT",
            "DELETE",
            "PATCH",
            "OPTIONS",
            "HEAD",
            "CONNECT",
            "HTTP/1.0",
            "HTTP/1.1",
            "HTTP/2",
            "HTTP/3",
            "OK",
            "No Content",
            "Created",
            "Accepted",
            "Moved Permanently",
            "Found",
            "See Other",
            "Not Modified",
            "Temporary Redirect",
            "Permanent Redirect",
            "Bad Request",
            "Unauthorized",
            "Forbidden",
            "Not Found",
            "Method Not Allowed",
            "Bad Gateway",
            "Internal Server Error",
            "",
        ];
        match KNOWN.iter().find(|k| **k == s.as_str()) {
            Some(k) => *text = std::borrow::Cow::Borrowed(k),
            None => s.shrink_to_fit(),
        }
    }
}

/// One request/response pair, plus where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    pub id: ExchangeId,
    /// Client connection this exchange arrived on (HTTP/2 streams share one).
    pub connection_id: u64,
    /// When the request head was received.
    pub started: DateTime<Utc>,
    pub request: RequestRecord,
    /// `None` when no response was received (e.g. the upstream was unreachable and the
    /// error is recorded; a proxy-generated error response is recorded here as well).
    pub response: Option<ResponseRecord>,
    pub timings: Timings,
    /// A failure on the way (upstream refused, TLS error, client vanished ...).
    pub error: Option<String>,
    /// Upstream IP address, when known (shared by the exchanges of one connection).
    pub server_ip: Option<std::sync::Arc<str>>,
    /// Client socket address, when known (used to keep pairing within one client; shared
    /// by the exchanges of one connection).
    pub client_addr: Option<std::sync::Arc<str>>,
    /// Resource type hint from an imported HAR (`_resourceType`), e.g. `preflight`, `fetch`.
    pub resource_type: Option<String>,
    /// True when the response was generated by corscope rather than the upstream.
    pub synthetic_response: bool,
}

impl Exchange {
    /// Release spare capacity in every string and header list: an exchange is built up
    /// piece by piece, then kept unchanged for the rest of the session.
    pub fn shrink_to_fit(&mut self) {
        let r = &mut self.request;
        intern(&mut r.method);
        r.url.shrink_to_fit();
        intern(&mut r.http_version);
        r.headers.shrink_to_fit();
        if let Some(r) = self.response.as_mut() {
            intern(&mut r.status_text);
            intern(&mut r.http_version);
            r.headers.shrink_to_fit();
        }
    }

    /// Milliseconds since the Unix epoch at which the request started; the engine's clock.
    pub fn started_ms(&self) -> i64 {
        self.started.timestamp_millis()
    }
}
