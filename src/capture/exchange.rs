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

/// Headers in wire order with duplicates kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeaderList(pub Vec<Header>);

impl HeaderList {
    /// Every value of `name` (case-insensitive), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first value of `name` (case-insensitive).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The Fetch standard's "get": all values of `name` joined with `", "`, or `None` when
    /// the header is absent.
    pub fn get_combined(&self, name: &str) -> Option<String> {
        let mut it = self.0.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
        let first = &it.next()?.value;
        let mut out = first.to_owned();
        for h in it {
            out.push_str(", ");
            out.push_str(&h.value);
        }
        Some(out)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|h| h.name.eq_ignore_ascii_case(name))
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header::new(name, value));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Header> for HeaderList {
    fn from_iter<T: IntoIterator<Item = Header>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
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
    pub method: String,
    /// Absolute URL (scheme, host, port when not default, path, query; no fragment).
    pub url: String,
    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`.
    pub http_version: String,
    pub headers: HeaderList,
    pub body: Body,
}

/// What the server (or the proxy, on failure) answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseRecord {
    pub status: u16,
    pub status_text: String,
    pub http_version: String,
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
    /// Upstream IP address, when known.
    pub server_ip: Option<String>,
    /// Client socket address, when known (used to keep pairing within one client).
    pub client_addr: Option<String>,
    /// Resource type hint from an imported HAR (`_resourceType`), e.g. `preflight`, `fetch`.
    pub resource_type: Option<String>,
    /// True when the response was generated by corscope rather than the upstream.
    pub synthetic_response: bool,
}

impl Exchange {
    /// Milliseconds since the Unix epoch at which the request started; the engine's clock.
    pub fn started_ms(&self) -> i64 {
        self.started.timestamp_millis()
    }
}
