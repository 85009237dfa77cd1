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
/// Stored compactly, since every captured exchange holds two of these: one allocation of
/// exactly the encoded lines, and the list itself is that one pointer (16 bytes). A line
/// is its name, then its value's length and its value. A name from [`KNOWN_NAMES`]
/// (exactly, case included) is one byte, its index plus one; any other name is
/// [`LITERAL_NAME`], its length and its text. Lengths are written six bits to a byte, low
/// bits first, `0x40` set on every byte but the last, so every byte that is not header
/// text is ASCII and the whole buffer stays a `str`: reading a line slices it without
/// checking UTF-8 again.
///
/// The buffer grows by exactly one line per push (a list is built once, from a parsed
/// head, and then kept), so it never holds spare room: nothing is left over to shrink
/// when the record is stored. Lines are found by walking from the front: `len`, `get` and
/// walking backwards cost a pass over the list (header lists are short).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// The encoded lines, exactly.
    buf: Box<str>,
}

/// Header names stored as one byte (their index plus one): the common ones, in the case
/// HTTP/2 and most servers write them and, for the ones HTTP/1.1 clients send, in the case
/// those write them. At most 126 entries (`0x7f` is [`LITERAL_NAME`], and no line starts
/// with `0x00`).
pub const KNOWN_NAMES: [&str; 126] = [
    // Requests, lower case (HTTP/2, HTTP/3, most tools).
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-type",
    "content-length",
    "origin",
    "referer",
    "cookie",
    "authorization",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "upgrade-insecure-requests",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-dest",
    "sec-fetch-user",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "access-control-request-method",
    "access-control-request-headers",
    "access-control-request-private-network",
    "priority",
    "dnt",
    "te",
    "x-requested-with",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    // Responses, lower case.
    "server",
    "date",
    "last-modified",
    "etag",
    "accept-ranges",
    "expires",
    "vary",
    "set-cookie",
    "location",
    "content-encoding",
    "transfer-encoding",
    "keep-alive",
    "age",
    "via",
    "alt-svc",
    "link",
    "content-range",
    "content-disposition",
    "content-language",
    "content-security-policy",
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-resource-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "timing-allow-origin",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
    "x-powered-by",
    "www-authenticate",
    "sec-websocket-accept",
    // Title case, as HTTP/1.1 clients and many servers write them.
    "Host",
    "User-Agent",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Connection",
    "Content-Type",
    "Content-Length",
    "Origin",
    "Referer",
    "Cookie",
    "Authorization",
    "Cache-Control",
    "Pragma",
    "If-None-Match",
    "If-Modified-Since",
    "Upgrade-Insecure-Requests",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Sec-Fetch-Dest",
    "Sec-Fetch-User",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
    "X-Requested-With",
    "Proxy-Authorization",
    "Proxy-Connection",
    "Upgrade",
    "Server",
    "Date",
    "Last-Modified",
    "ETag",
    "Accept-Ranges",
    "Expires",
    "Vary",
    "Set-Cookie",
    "Location",
    "Content-Encoding",
    "Transfer-Encoding",
    "Keep-Alive",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "X-Powered-By",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
];

/// The byte that starts a line whose name is not in [`KNOWN_NAMES`].
pub const LITERAL_NAME: u8 = 0x7f;

/// Slots of the known-name lookup table: a power of two, four times the names, so a probe
/// rarely goes past its first slot.
const KNOWN_SLOTS: usize = 512;

/// Slot of `name` in [`KNOWN_TABLE`]: a hash of its length and its first, middle and last
/// bytes (cheap, whatever the name's length; the table resolves collisions).
const fn name_slot(name: &[u8]) -> usize {
    let len = name.len();
    if len == 0 {
        return 0;
    }
    let key = (len as u32 & 0xff)
        | (name[0] as u32) << 8
        | (name[len / 2] as u32) << 16
        | (name[len - 1] as u32) << 24;
    (key.wrapping_mul(0x9e37_79b1) >> 23) as usize % KNOWN_SLOTS
}

/// Open-addressing table of the codes of [`KNOWN_NAMES`] by [`name_slot`] (0: empty),
/// built at compile time.
const KNOWN_TABLE: [u8; KNOWN_SLOTS] = {
    let mut table = [0u8; KNOWN_SLOTS];
    let mut i = 0;
    while i < KNOWN_NAMES.len() {
        let mut slot = name_slot(KNOWN_NAMES[i].as_bytes());
        while table[slot] != 0 {
            slot = (slot + 1) % KNOWN_SLOTS;
        }
        table[slot] = i as u8 + 1;
        i += 1;
    }
    table
};

/// The one-byte code of `name` (its index in [`KNOWN_NAMES`] plus one), when it is a
/// known name.
fn known_code(name: &[u8]) -> Option<u8> {
    let mut slot = name_slot(name);
    loop {
        let code = *KNOWN_TABLE.get(slot)?;
        if code == 0 {
            return None;
        }
        if KNOWN_NAMES.get(usize::from(code) - 1).map(|k| k.as_bytes()) == Some(name) {
            return Some(code);
        }
        slot = (slot + 1) % KNOWN_SLOTS;
    }
}

/// Longest name in [`KNOWN_NAMES`] (a name any longer is not one, in any case).
const LONGEST_KNOWN: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < KNOWN_NAMES.len() {
        if KNOWN_NAMES[i].len() > longest {
            longest = KNOWN_NAMES[i].len();
        }
        i += 1;
    }
    longest
};

const fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Per code, the code of the first known name equal to it ignoring ASCII case: two codes
/// name the same header exactly when their entries here are equal.
const KNOWN_FOLDED: [u8; 128] = {
    let mut folded = [0u8; 128];
    let mut i = 0;
    while i < KNOWN_NAMES.len() {
        let mut j = 0;
        while !eq_ignore_ascii_case(KNOWN_NAMES[i].as_bytes(), KNOWN_NAMES[j].as_bytes()) {
            j += 1;
        }
        folded[i + 1] = j as u8 + 1;
        i += 1;
    }
    folded
};

/// A header name to find, case-insensitively: lines with a known name are told apart by
/// their code alone, without comparing text.
struct NameQuery<'n> {
    name: &'n str,
    /// [`KNOWN_FOLDED`] of the name, when it is a known name in some case (0 otherwise).
    folded: u8,
}

impl<'n> NameQuery<'n> {
    fn new(name: &'n str) -> Self {
        let bytes = name.as_bytes();
        let code = if bytes.len() > LONGEST_KNOWN {
            None
        } else if !bytes.iter().any(u8::is_ascii_uppercase) {
            known_code(bytes)
        } else {
            let mut lower = [0u8; LONGEST_KNOWN];
            let lower = lower.get_mut(..bytes.len()).unwrap_or_default();
            lower.copy_from_slice(bytes);
            lower.make_ascii_lowercase();
            known_code(lower)
        };
        // Every known name's lower-case form is a known name too.
        let folded = code.map_or(0, |code| KNOWN_FOLDED[usize::from(code)]);
        Self { name, folded }
    }

    /// The value of the line at `at` when its name is this one, and the offset of the
    /// next line; `None` at the end of the lines.
    #[inline]
    fn at<'a>(&self, text: &'a str, at: usize) -> Option<(Option<&'a str>, usize)> {
        let bytes = text.as_bytes();
        let (hit, at) = match *bytes.get(at)? {
            0 => return None,
            LITERAL_NAME => {
                let (len, start) = read_len(bytes, at + 1)?;
                let end = start.checked_add(len)?;
                let name = bytes.get(start..end)?;
                (name.eq_ignore_ascii_case(self.name.as_bytes()), end)
            }
            code => (
                self.folded != 0 && KNOWN_FOLDED.get(usize::from(code)) == Some(&self.folded),
                at + 1,
            ),
        };
        let (len, start) = read_len(bytes, at)?;
        let end = start.checked_add(len)?;
        match hit {
            true => Some((Some(text.get(start..end)?), end)),
            false => Some((None, end)),
        }
    }
}

/// The values of one header name in a [`HeaderList`], in wire order.
struct Values<'a, 'n> {
    text: &'a str,
    query: NameQuery<'n>,
    at: usize,
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let (value, next) = self.query.at(self.text, self.at)?;
            self.at = next;
            if value.is_some() {
                return value;
            }
        }
    }
}

/// Encoded size of one line whose name has `code` ([`known_code`]).
fn line_size(code: Option<u8>, name: &str, value: &str) -> usize {
    let name_size = match code {
        Some(_) => 1,
        None => 1 + len_size(name.len()) + name.len(),
    };
    name_size + len_size(value.len()) + value.len()
}

/// Append one line whose name has `code` ([`known_code`]): the code (or the literal
/// name), the value's length, the value.
fn encode_line(text: &mut String, code: Option<u8>, name: &str, value: &str) {
    match code {
        Some(code) => text.push(char::from(code)),
        None => {
            text.push(char::from(LITERAL_NAME));
            push_len(text, name.len());
            text.push_str(name);
        }
    }
    push_len(text, value.len());
    text.push_str(value);
}

/// Bytes a length takes, six bits to a byte.
fn len_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x40 {
        n >>= 6;
        size += 1;
    }
    size
}

/// Append `n`, six bits to a byte, low bits first; `0x40` marks "more follows". Every
/// byte written is ASCII.
fn push_len(out: &mut String, mut n: usize) {
    loop {
        let low = (n & 0x3f) as u8;
        n >>= 6;
        if n == 0 {
            out.push(char::from(low));
            return;
        }
        out.push(char::from(low | 0x40));
    }
}

/// Read a length written by [`push_len`] at `at`; returns it and the offset after it.
#[inline(always)]
fn read_len(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let b = *bytes.get(at)?;
    if b & 0x40 == 0 {
        return Some((usize::from(b), at + 1));
    }
    let mut n = usize::from(b & 0x3f);
    let mut shift = 6u32;
    let mut at = at + 1;
    loop {
        let b = *bytes.get(at)?;
        at += 1;
        n |= usize::from(b & 0x3f).checked_shl(shift)?;
        if b & 0x40 == 0 {
            return Some((n, at));
        }
        shift += 6;
    }
}

/// The offset just past the line starting at byte `at` of an encoded list; `None` at the
/// end of the lines.
#[inline]
fn skip_line(bytes: &[u8], at: usize) -> Option<usize> {
    let at = match *bytes.get(at)? {
        0 => return None,
        LITERAL_NAME => {
            let (len, start) = read_len(bytes, at + 1)?;
            start.checked_add(len)?
        }
        _ => at + 1,
    };
    let (len, start) = read_len(bytes, at)?;
    let end = start.checked_add(len)?;
    (end <= bytes.len()).then_some(end)
}

impl HeaderList {
    /// Every value of `name` (case-insensitive), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values(name)
    }

    /// The first value of `name` (case-insensitive).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    fn values<'a, 'n>(&'a self, name: &'n str) -> Values<'a, 'n> {
        Values {
            text: &self.buf,
            query: NameQuery::new(name),
            at: 0,
        }
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
        self.values(name).next().is_some()
    }

    /// Append a line.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let code = known_code(name.as_bytes());
        let mut text = std::mem::take(&mut self.buf).into_string();
        text.reserve_exact(line_size(code, name, value));
        encode_line(&mut text, code, name, value);
        // Exact already, unless the allocator gave more than was asked for.
        self.buf = text.into_boxed_str();
    }

    /// A list of header lines as read from the wire, built in one pass: each value is kept
    /// as [`decode_header_bytes`] gives it. `text` (the bytes of names and values in all)
    /// sizes the buffer once. The fast way to record a parsed head.
    pub fn from_wire<'a>(
        lines: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        text: usize,
    ) -> Self {
        let mut buf = String::with_capacity(text.saturating_add(64));
        for (name, value) in lines {
            let code = known_code(name.as_bytes());
            match std::str::from_utf8(value) {
                Ok(value) => encode_line(&mut buf, code, name, value),
                Err(_) => encode_line(&mut buf, code, name, &decode_header_bytes(value)),
            }
        }
        // Known names take a byte, so the lines are shorter than `text`: a copy into an
        // exact buffer rather than a shrink in place, so that the whole sized buffer goes
        // back to the allocator (where the next head takes it again) instead of leaving an
        // odd-sized remnant beside a record that stays.
        let buf = match buf.capacity() > buf.len() {
            true => Box::from(buf.as_str()),
            false => buf.into_boxed_str(),
        };
        Self { buf }
    }

    /// A header line from the wire: the value is kept as [`decode_header_bytes`] would
    /// give it, without an intermediate copy when it is UTF-8 (nearly always).
    pub fn push_bytes(&mut self, name: &str, value: &[u8]) {
        match std::str::from_utf8(value) {
            Ok(v) => self.push(name, v),
            Err(_) => self.push(name, decode_header_bytes(value)),
        }
    }

    /// An empty list for `lines` lines of `text` bytes in all. The sizes are a hint that is
    /// not needed: the list grows exactly, line by line (see the type's notes).
    pub fn with_capacity(lines: usize, text: usize) -> Self {
        let _ = (lines, text);
        Self::default()
    }

    /// The line starting at byte `at`, and the offset of the next one; `None` at the end
    /// of the lines.
    fn line_at(&self, at: usize) -> Option<(HeaderRef<'_>, usize)> {
        let text = &*self.buf;
        let bytes = text.as_bytes();
        let code = *bytes.get(at)?;
        let (name, at) = match code {
            0 => return None,
            LITERAL_NAME => {
                let (len, start) = read_len(bytes, at + 1)?;
                let end = start.checked_add(len)?;
                (text.get(start..end)?, end)
            }
            _ => (*KNOWN_NAMES.get(usize::from(code) - 1)?, at + 1),
        };
        let (len, start) = read_len(bytes, at)?;
        let end = start.checked_add(len)?;
        Some((
            HeaderRef {
                name,
                value: text.get(start..end)?,
            },
            end,
        ))
    }

    /// Number of lines from byte `at` to the end.
    fn count_from(&self, mut at: usize) -> usize {
        let bytes = self.buf.as_bytes();
        let mut n = 0;
        while let Some(next) = skip_line(bytes, at) {
            at = next;
            n += 1;
        }
        n
    }

    /// Byte offset of line `index`, scanning from line `from` at byte `at`.
    fn offset_of(&self, mut from: usize, mut at: usize, index: usize) -> Option<usize> {
        let bytes = self.buf.as_bytes();
        while from < index {
            at = skip_line(bytes, at)?;
            from += 1;
        }
        Some(at)
    }

    /// The line at `index`.
    pub fn get(&self, index: usize) -> Option<HeaderRef<'_>> {
        let at = self.offset_of(0, 0, index)?;
        self.line_at(at).map(|(line, _)| line)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            at: 0,
            front: 0,
            back: None,
        }
    }

    pub fn len(&self) -> usize {
        self.count_from(0)
    }

    pub fn is_empty(&self) -> bool {
        self.line_at(0).is_none()
    }

    /// Release spare capacity: a list holds none (see the type's notes), so there is
    /// nothing to do. Kept for callers that build records generically.
    pub fn shrink_to_fit(&mut self) {}

    /// Heap bytes held (for the store's accounting and the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// Iterator over a [`HeaderList`]'s lines in wire order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    list: &'a HeaderList,
    /// Byte offset of line `front`.
    at: usize,
    front: usize,
    /// Index just past the last line still to yield, once known (counted when first
    /// needed: walking forwards stops at the end of the lines by itself).
    back: Option<usize>,
}

impl Iter<'_> {
    fn back(&mut self) -> usize {
        let (list, front, at) = (self.list, self.front, self.at);
        *self.back.get_or_insert_with(|| front + list.count_from(at))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.back.is_some_and(|back| self.front >= back) {
            return None;
        }
        let (line, next) = self.list.line_at(self.at)?;
        self.at = next;
        self.front += 1;
        Some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self.back {
            Some(back) => back.saturating_sub(self.front),
            None => self.list.count_from(self.at),
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    /// Lines are found from the front, so walking backwards costs a scan per line (header
    /// lists are short, and nothing walks them backwards on a hot path).
    fn next_back(&mut self) -> Option<Self::Item> {
        let back = self.back();
        if self.front >= back {
            return None;
        }
        self.back = Some(back - 1);
        let at = self.list.offset_of(self.front, self.at, back - 1)?;
        self.list.line_at(at).map(|(line, _)| line)
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

/// Timings in milliseconds, HAR style: unknown where not measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub blocked: OptionalMs,
    pub dns: OptionalMs,
    pub connect: OptionalMs,
    /// TLS handshake; HAR counts it inside `connect` as well.
    pub ssl: OptionalMs,
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

/// A time in milliseconds that may be unknown, in the 8 bytes of an `f64` (an
/// `Option<f64>` takes 16): NaN stands for unknown. Reads, compares, prints and
/// serialises as the `Option<f64>` it stands for (`null` when unknown).
#[derive(Clone, Copy)]
pub struct OptionalMs(f64);

impl OptionalMs {
    /// Not measured.
    pub const UNKNOWN: Self = Self(f64::NAN);

    pub fn new(ms: Option<f64>) -> Self {
        Self(ms.unwrap_or(f64::NAN))
    }

    /// The time, when known (never NaN).
    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }

    pub fn is_some(self) -> bool {
        !self.0.is_nan()
    }

    pub fn is_none(self) -> bool {
        self.0.is_nan()
    }

    /// The time, or `default` when unknown.
    pub fn unwrap_or(self, default: f64) -> f64 {
        self.get().unwrap_or(default)
    }
}

impl Default for OptionalMs {
    fn default() -> Self {
        Self::UNKNOWN
    }
}

impl From<Option<f64>> for OptionalMs {
    fn from(ms: Option<f64>) -> Self {
        Self::new(ms)
    }
}

impl From<OptionalMs> for Option<f64> {
    fn from(ms: OptionalMs) -> Self {
        ms.get()
    }
}

impl PartialEq for OptionalMs {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl PartialEq<Option<f64>> for OptionalMs {
    fn eq(&self, other: &Option<f64>) -> bool {
        self.get() == *other
    }
}

impl std::fmt::Debug for OptionalMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for OptionalMs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OptionalMs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<f64>::deserialize(deserializer).map(Self::new)
    }
}

/// Short text that is nearly always one of a few well-known values (methods, protocol
/// versions, reason phrases): those are kept as an index into [`KNOWN_TEXTS`], so most
/// exchanges hold no allocation for them, and any other as its own exact allocation. 16
/// bytes inline (a `Cow<'static, str>` takes 24). Reads as a `str`.
#[derive(Clone)]
pub struct Text(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Known(u8),
    Owned(Box<str>),
}

/// The values a [`Text`] holds without an allocation.
pub const KNOWN_TEXTS: &[&str] = &[
    "",
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "HEAD",
    "CONNECT",
    "TRACE",
    "HTTP/0.9",
    "HTTP/1.0",
    "HTTP/1.1",
    "HTTP/2",
    "HTTP/3",
    "Continue",
    "Switching Protocols",
    "OK",
    "Created",
    "Accepted",
    "Non-Authoritative Information",
    "No Content",
    "Reset Content",
    "Partial Content",
    "Multiple Choices",
    "Moved Permanently",
    "Found",
    "See Other",
    "Not Modified",
    "Temporary Redirect",
    "Permanent Redirect",
    "Bad Request",
    "Unauthorized",
    "Payment Required",
    "Forbidden",
    "Not Found",
    "Method Not Allowed",
    "Not Acceptable",
    "Proxy Authentication Required",
    "Request Timeout",
    "Conflict",
    "Gone",
    "Length Required",
    "Precondition Failed",
    "Payload Too Large",
    "URI Too Long",
    "Unsupported Media Type",
    "Range Not Satisfiable",
    "Expectation Failed",
    "Misdirected Request",
    "Unprocessable Entity",
    "Too Many Requests",
    "Request Header Fields Too Large",
    "Internal Server Error",
    "Not Implemented",
    "Bad Gateway",
    "Service Unavailable",
    "Gateway Timeout",
    "HTTP Version Not Supported",
];

impl Text {
    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TextRepr::Known(i) => KNOWN_TEXTS.get(usize::from(*i)).copied().unwrap_or(""),
            TextRepr::Owned(s) => s,
        }
    }

    fn known(text: &str) -> Option<Self> {
        let i = KNOWN_TEXTS.iter().position(|k| *k == text)?;
        Some(Self(TextRepr::Known(u8::try_from(i).ok()?)))
    }
}

/// `text` as an index into [`KNOWN_TEXTS`] when it is a well-known value. A [`Text`] made
/// with `from`/`into` already is one; this is for callers that intern explicitly.
pub fn intern(text: &mut Text) {
    if let TextRepr::Owned(s) = &text.0 {
        if let Some(known) = Text::known(s) {
            *text = known;
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Self(TextRepr::Known(0))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::known(text).unwrap_or_else(|| Self(TextRepr::Owned(text.into())))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self::known(&text).unwrap_or_else(|| Self(TextRepr::Owned(text.into_boxed_str())))
    }
}

impl From<std::borrow::Cow<'_, str>> for Text {
    fn from(text: std::borrow::Cow<'_, str>) -> Self {
        match text {
            std::borrow::Cow::Borrowed(s) => s.into(),
            std::borrow::Cow::Owned(s) => s.into(),
        }
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        match text.0 {
            TextRepr::Owned(s) => s.into_string(),
            TextRepr::Known(_) => text.as_str().to_owned(),
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// A resource type hint (`_resourceType` in a HAR: `fetch`, `preflight` ...). Only imported
/// exchanges have one, so it is one pointer wide (its text behind a second one) to keep
/// the captured record small. Reads as a `str`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceType(Box<Box<str>>);

impl std::ops::Deref for ResourceType {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ResourceType {
    fn from(text: &str) -> Self {
        Self(Box::new(text.into()))
    }
}

impl From<String> for ResourceType {
    fn from(text: String) -> Self {
        Self(Box::new(text.into_boxed_str()))
    }
}

impl std::fmt::Debug for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
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
    pub resource_type: Option<ResourceType>,
    /// True when the response was generated by corscope rather than the upstream.
    pub synthetic_response: bool,
}

impl Exchange {
    /// Release spare capacity in every string and header list: an exchange is built up
    /// piece by piece, then kept unchanged for the rest of the session.
    pub fn shrink_to_fit(&mut self) {
        self.request.url.shrink_to_fit();
        self.request.headers.shrink_to_fit();
        if let Some(r) = self.response.as_mut() {
            r.headers.shrink_to_fit();
        }
    }

    /// Milliseconds since the Unix epoch at which the request started; the engine's clock.
    pub fn started_ms(&self) -> i64 {
        self.started.timestamp_millis()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(list: &HeaderList) -> Vec<(String, String)> {
        list.iter()
            .map(|h| (h.name.to_owned(), h.value.to_owned()))
            .collect()
    }

    /// Checks every way of reading `list` against the lines it was built from.
    fn check(list: &HeaderList, want: &[(String, String)]) {
        assert_eq!(list.len(), want.len());
        assert_eq!(list.is_empty(), want.is_empty());
        assert_eq!(pairs(list), want);
        assert_eq!(list.iter().len(), want.len());
        for (i, (name, value)) in want.iter().enumerate() {
            let line = list.get(i).unwrap();
            assert_eq!((line.name, line.value), (name.as_str(), value.as_str()));
        }
        assert!(list.get(want.len()).is_none());
        let back: Vec<(String, String)> = list
            .iter()
            .rev()
            .map(|h| (h.name.to_owned(), h.value.to_owned()))
            .collect();
        let mut reversed = want.to_vec();
        reversed.reverse();
        assert_eq!(back, reversed);
        // Both ends at once meet in the middle without skipping or repeating a line.
        let mut it = list.iter();
        let (mut front, mut rear) = (Vec::new(), Vec::new());
        while let Some(h) = it.next() {
            front.push(h.to_owned());
            match it.next_back() {
                Some(h) => rear.push(h.to_owned()),
                None => break,
            }
        }
        rear.reverse();
        front.extend(rear);
        let all: Vec<(String, String)> = front.into_iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(all, want);
    }

    fn build(want: &[(String, String)]) -> HeaderList {
        let mut list = HeaderList::default();
        for (n, v) in want {
            list.push(n, v);
        }
        list
    }

    #[test]
    fn known_names_are_distinct_and_fit_in_one_byte() {
        assert!(KNOWN_NAMES.len() < usize::from(LITERAL_NAME));
        let mut sorted = KNOWN_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), KNOWN_NAMES.len());
        for (i, name) in KNOWN_NAMES.iter().enumerate() {
            assert_eq!(known_code(name.as_bytes()), Some(i as u8 + 1));
            // Lookups by name in any case rely on every lower-case form being known.
            assert!(
                known_code(name.to_ascii_lowercase().as_bytes()).is_some(),
                "{name}"
            );
            assert!(name.len() <= LONGEST_KNOWN);
            assert!(name.is_ascii() && !name.is_empty());
        }
        assert_eq!(known_code(b"Content-type"), None);
        assert_eq!(known_code(b"x-unknown"), None);
        assert_eq!(known_code(b""), None);
    }

    #[test]
    fn a_list_is_one_pointer() {
        assert_eq!(std::mem::size_of::<HeaderList>(), 16);
    }

    #[test]
    fn a_known_name_costs_one_byte_and_another_is_kept_as_written() {
        let mut list = HeaderList::default();
        list.push("content-type", "a");
        list.shrink_to_fit();
        assert_eq!(list.heap_bytes(), 3);
        let mut list = HeaderList::default();
        list.push("CONTENT-TYPE", "a");
        list.shrink_to_fit();
        assert_eq!(list.heap_bytes(), 2 + "CONTENT-TYPE".len() + 2);
        assert_eq!(list.first("content-type"), Some("a"));
        assert_eq!(list.get(0).unwrap().name, "CONTENT-TYPE");
    }

    #[test]
    fn many_lines_mixing_known_and_other_names_read_back_in_order() {
        let want: Vec<(String, String)> = (0..2_000)
            .map(|i| {
                let name = match i % 5 {
                    0 => KNOWN_NAMES[i % KNOWN_NAMES.len()].to_owned(),
                    1 => format!("x-custom-{i}"),
                    2 => "Set-Cookie".to_owned(),
                    3 => "sEt-CoOkIe".to_owned(),
                    _ => String::new(),
                };
                (name, "v".repeat(i % 130))
            })
            .collect();
        let list = build(&want);
        check(&list, &want);
        let cookies = want
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .count();
        assert!(cookies >= 800);
        assert_eq!(list.get_all("set-cookie").count(), cookies);
    }

    #[test]
    fn empty_names_and_values_and_empty_lists() {
        check(&HeaderList::default(), &[]);
        check(&HeaderList::with_capacity(3, 10), &[]);
        let want = vec![
            (String::new(), String::new()),
            ("accept".to_owned(), String::new()),
            (String::new(), "only a value".to_owned()),
            ("x-empty".to_owned(), String::new()),
        ];
        let list = build(&want);
        check(&list, &want);
        assert_eq!(list.first("accept"), Some(""));
        assert_eq!(list.get_combined("x-empty"), Some(String::new()));
        assert!(list.contains(""));
    }

    #[test]
    fn lengths_across_every_size_of_their_encoding() {
        // 64 and 4096 are where a length takes a second and a third byte; the last value
        // alone is past 64 KiB and the list's text well past it.
        let want: Vec<(String, String)> = [0, 1, 63, 64, 65, 4095, 4096, 4097, 70_000, 262_144]
            .iter()
            .map(|&n| {
                (
                    "x-".to_owned() + &"n".repeat(n),
                    "é".repeat(n / 2) + &"v".repeat(n % 2),
                )
            })
            .collect();
        let list = build(&want);
        check(&list, &want);
        assert!(list.heap_bytes() > 300_000);
    }

    #[test]
    fn non_ascii_and_non_utf8_values_survive() {
        let mut list = HeaderList::default();
        list.push("x-text", "grüße ✓ \u{0} \u{7f}");
        list.push_bytes("x-bytes", b"caf\xe9 \xff\x80");
        list.push_bytes("date", b"Wed, 25 Nov 2026 15:08:04 GMT");
        assert_eq!(list.first("x-text"), Some("grüße ✓ \u{0} \u{7f}"));
        assert_eq!(list.first("x-bytes"), Some("café ÿ\u{80}"));
        assert_eq!(list.first("DATE"), Some("Wed, 25 Nov 2026 15:08:04 GMT"));
    }

    #[test]
    fn a_list_holds_exactly_its_lines_however_it_was_built() {
        let want: Vec<(String, String)> = (0..40)
            .map(|i| (format!("x-{i}"), format!("value {i}")))
            .collect();
        let plain = build(&want);
        let mut sized = HeaderList::with_capacity(100, 10_000);
        for (n, v) in &want {
            sized.push_bytes(n, v.as_bytes());
        }
        let exact: usize = want
            .iter()
            .map(|(n, v)| 1 + len_size(n.len()) + n.len() + len_size(v.len()) + v.len())
            .sum();
        assert_eq!(plain.heap_bytes(), exact);
        assert_eq!(sized.heap_bytes(), exact);
        assert_eq!(sized, plain);
        assert_eq!(sized.clone(), plain);
        sized.shrink_to_fit();
        assert_eq!(sized, plain);
        assert_eq!(sized.heap_bytes(), exact);
        // Pushing after a shrink goes on growing the buffer.
        sized.push("accept", "*/*");
        let mut longer = want.clone();
        longer.push(("accept".to_owned(), "*/*".to_owned()));
        check(&sized, &longer);
        assert_eq!(sized.heap_bytes(), exact + 5);
        assert_ne!(sized, plain);
        let mut other_value = build(&want);
        other_value.push("accept", "*/+");
        assert_ne!(sized, other_value);
    }

    #[test]
    fn combined_values_and_lookups_ignore_case() {
        let mut list = HeaderList::default();
        list.push("Vary", "Origin");
        list.push("vary", "Accept");
        list.push("X-Other", "1");
        assert_eq!(list.get_combined("VARY"), Some("Origin, Accept".to_owned()));
        assert_eq!(
            list.get_all("vary").collect::<Vec<_>>(),
            ["Origin", "Accept"]
        );
        assert_eq!(list.first("x-other"), Some("1"));
        assert!(list.contains("x-OTHER"));
        assert!(!list.contains("x-missing"));
        assert_eq!(list.get_combined("x-missing"), None);
    }

    #[test]
    fn serde_is_a_list_of_name_value_objects_and_round_trips() {
        let mut list = HeaderList::with_capacity(2, 64);
        list.push("Host", "a.test");
        list.push("x-odd", "");
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(
            json,
            r#"[{"name":"Host","value":"a.test"},{"name":"x-odd","value":""}]"#
        );
        let back: HeaderList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
        assert_eq!(
            format!("{back:?}"),
            r#"[("Host", "a.test"), ("x-odd", "")]"#
        );
        let empty: HeaderList = serde_json::from_str("[]").unwrap();
        assert_eq!(empty, HeaderList::default());
    }

    use proptest::prelude::*;

    #[test]
    fn optional_ms_reads_prints_and_serialises_as_an_option() {
        assert_eq!(std::mem::size_of::<OptionalMs>(), 8);
        let known = OptionalMs::new(Some(1.25));
        let unknown = OptionalMs::default();
        assert_eq!(known.get(), Some(1.25));
        assert_eq!(unknown.get(), None);
        assert_eq!(OptionalMs::new(Some(f64::NAN)), unknown);
        assert_eq!(OptionalMs::new(Some(0.0)).get(), Some(0.0));
        assert_eq!(known, Some(1.25));
        assert_eq!(unknown, None);
        assert_eq!(format!("{known:?} {unknown:?}"), "Some(1.25) None");
        let t = Timings {
            dns: Some(0.1 + 0.2).into(),
            send: 1.0,
            ..Timings::default()
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"blocked":null,"dns":0.30000000000000004,"connect":null,"ssl":null,"send":1.0,"wait":0.0,"receive":0.0}"#
        );
        let back: Timings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.total(), 1.0 + (0.1 + 0.2));
    }

    #[test]
    fn text_reads_as_a_str_whether_known_or_not() {
        assert_eq!(std::mem::size_of::<Text>(), 16);
        assert!(KNOWN_TEXTS.len() <= 256);
        let mut sorted = KNOWN_TEXTS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), KNOWN_TEXTS.len());
        for known in KNOWN_TEXTS {
            let t = Text::from(*known);
            assert!(matches!(t.0, TextRepr::Known(_)));
            assert_eq!(t, *known);
            assert_eq!(Text::from(known.to_string()), t);
        }
        let odd = Text::from("patch".to_owned());
        assert!(matches!(odd.0, TextRepr::Owned(_)));
        assert_eq!(odd, "patch");
        assert_ne!(odd, Text::from("PATCH"));
        assert_eq!(Text::default(), "");
        assert!(Text::default().is_empty());
        assert_eq!(Text::from("I'm a teapot").len(), 12);
        assert_eq!(format!("{odd} {odd:?}"), r#"patch "patch""#);
        assert_eq!(format!("{:?}", Text::from("GET")), r#""GET""#);
        assert_eq!(
            Text::from(std::borrow::Cow::Borrowed("HTTP/2")),
            Text::from("HTTP/2")
        );
        assert_eq!(String::from(odd.clone()), "patch");
        let mut stray = Text(TextRepr::Owned("GET".into()));
        intern(&mut stray);
        assert!(matches!(stray.0, TextRepr::Known(_)));
        let mut other = odd.clone();
        intern(&mut other);
        assert_eq!(other, odd);
        assert_eq!(String::from(Text::from("OK")), "OK");
        let (delete, get) = (Text::from("DELETE"), Text::from("GET"));
        assert!(delete < get);
        assert!("GET" == get);
        let json = serde_json::to_string(&odd).unwrap();
        assert_eq!(json, r#""patch""#);
        assert_eq!(serde_json::from_str::<Text>(r#""OK""#).unwrap(), "OK");
    }

    #[test]
    fn the_captured_record_stays_small() {
        assert_eq!(std::mem::size_of::<Option<ResourceType>>(), 8);
        // 360 bytes: with an Arc's two counters, 384 bytes from malloc, header included.
        assert!(std::mem::size_of::<Exchange>() <= 360);
        let t = ResourceType::from("fetch");
        assert_eq!(&*t, "fetch");
        assert_eq!(format!("{t} {t:?}"), r#"fetch "fetch""#);
        assert_eq!(Some(t).as_deref(), Some("fetch"));
        assert_eq!(
            ResourceType::from("xhr".to_owned()),
            ResourceType::from("xhr")
        );
    }

    proptest! {
        #[test]
        fn any_lines_read_back_as_pushed(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(KNOWN_NAMES.to_vec()).prop_map(str::to_owned),
                        ".{0,80}",
                    ],
                    ".{0,200}",
                ),
                0..40,
            )
        ) {
            let list = build(&lines);
            check(&list, &lines);
            let collected: HeaderList = lines.iter().map(|(n, v)| Header::new(n, v)).collect();
            prop_assert_eq!(&collected, &list);
            let json = serde_json::to_string(&list).unwrap();
            let back: HeaderList = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, list);
        }
    }

    #[test]
    fn a_list_built_from_the_wire_equals_one_pushed_line_by_line() {
        let lines: Vec<(&str, &[u8])> = vec![
            ("Host", b"a.test"),
            ("content-type", b"text/plain"),
            ("X-Empty", b""),
            ("X-Latin", b"caf\xe9"),
            ("X-Long", &[b'v'; 300]),
        ];
        let text = lines.iter().map(|(n, v)| n.len() + v.len()).sum();
        let built = HeaderList::from_wire(lines.iter().copied(), text);
        let mut exact = built.clone();
        exact.shrink_to_fit();
        assert_eq!(exact.heap_bytes(), built.heap_bytes());
        let mut pushed = HeaderList::default();
        for (n, v) in &lines {
            pushed.push_bytes(n, v);
        }
        assert_eq!(built, pushed);
        // Both hold exactly their lines.
        assert_eq!(built.heap_bytes(), pushed.heap_bytes());
        assert!(built.heap_bytes() < text);
        assert_eq!(built.len(), 5);
        assert_eq!(built.first("x-latin"), Some("caf\u{e9}"));
        assert_eq!(built.first("x-empty"), Some(""));
        let mut grown = built.clone();
        grown.push("X-After", "1");
        assert_eq!(grown.get(5).map(|h| h.value), Some("1"));
        assert_eq!(grown.get(2).map(|h| h.name), Some("X-Empty"));
    }
}
