//! Safelists of the Fetch standard, byte for byte: which methods and request headers a
//! script may use without a preflight, which request headers the browser itself adds (and
//! which therefore never count), and which response headers JS may always read.

use crate::capture::HeaderList;
use crate::cors::profile::Profile;

/// A single safelisted value longer than this is not safelisted (Fetch §CORS-safelisted
/// request-header, step 1).
pub const MAX_SAFELISTED_VALUE_BYTES: usize = 128;

/// When the safelisted values together exceed this many bytes, all of them become unsafe.
pub const MAX_SAFELISTED_TOTAL_BYTES: usize = 1024;

/// Response header names JS can always read from a CORS response.
pub const SAFELISTED_RESPONSE_HEADERS: [&str; 7] = [
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// `GET`, `HEAD`, `POST`, compared byte for byte (the browser normalises the case of these
/// before sending, so a lowercase `get` never reaches the wire).
pub fn is_safelisted_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST")
}

/// `CONNECT`, `TRACE`, `TRACK` in any case: scripts cannot send them.
pub fn is_forbidden_method(method: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// A byte the Fetch standard calls a "CORS-unsafe request-header byte".
pub fn is_unsafe_byte(b: u8) -> bool {
    (b < 0x20 && b != 0x09)
        || matches!(
            b,
            b'"' | b'('
                | b')'
                | b':'
                | b'<'
                | b'>'
                | b'?'
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'{'
                | b'}'
                | 0x7f
        )
}

/// Bytes of a header value. Values are kept as UTF-8 (see `decode_header_bytes`), which is
/// also how the browser encodes a non-ASCII value a script set.
fn value_bytes(value: &str) -> impl Iterator<Item = u8> + '_ {
    value.bytes()
}

/// Wire length of a header value in bytes.
pub fn value_len(value: &str) -> usize {
    value.len()
}

/// Headers the browser adds or that belong to the connection: they never make a request
/// "unsafe", whatever their value. Forbidden request headers (scripts cannot set them) are
/// included here, as are UA-added headers a passive observer sees (reference §1.1).
pub fn is_ignored_request_header(name: &str, value: &str) -> bool {
    if name.starts_with(':') {
        return true;
    }
    let prefixed = |p: &str| {
        name.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if prefixed("proxy-") || prefixed("sec-") {
        return true;
    }
    // Lowercase into a stack buffer: this runs for every header of every exchange.
    let mut buf = [0u8; 40];
    let Some(dst) = buf.get_mut(..name.len()) else {
        return false;
    };
    dst.copy_from_slice(name.as_bytes());
    dst.make_ascii_lowercase();
    let lower: &[u8] = dst;
    match lower {
        b"accept-charset"
        | b"accept-encoding"
        | b"access-control-request-headers"
        | b"access-control-request-method"
        | b"access-control-request-private-network"
        | b"connection"
        | b"content-length"
        | b"cookie"
        | b"cookie2"
        | b"date"
        | b"dnt"
        | b"expect"
        | b"host"
        | b"keep-alive"
        | b"origin"
        | b"referer"
        | b"set-cookie"
        | b"te"
        | b"trailer"
        | b"transfer-encoding"
        | b"upgrade"
        | b"via"
        | b"user-agent"
        | b"priority"
        | b"cache-control"
        | b"pragma"
        | b"proxy-connection"
        | b"x-forwarded-for"
        | b"forwarded"
        | b"upgrade-insecure-requests" => true,
        b"x-http-method" | b"x-http-method-override" | b"x-method-override" => {
            value.split(',').any(|v| is_forbidden_method(v.trim()))
        }
        _ => false,
    }
}

/// The Fetch standard's "CORS-safelisted request-header" for one (name, value) pair.
/// Firefox additionally refuses any non-ASCII byte (reference §4.3).
pub fn is_safelisted_request_header(name: &str, value: &str, profile: Profile) -> bool {
    if value_len(value) > MAX_SAFELISTED_VALUE_BYTES {
        return false;
    }
    if profile == Profile::Firefox && !value.is_ascii() {
        return false;
    }
    if name.eq_ignore_ascii_case("accept") {
        !value_bytes(value).any(is_unsafe_byte)
    } else if name.eq_ignore_ascii_case("accept-language")
        || name.eq_ignore_ascii_case("content-language")
    {
        value_bytes(value).all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'*' | b',' | b'-' | b'.' | b';' | b'=')
        })
    } else if name.eq_ignore_ascii_case("content-type") {
        if value_bytes(value).any(is_unsafe_byte) {
            return false;
        }
        mime_essence(value).is_some_and(|(t, sub)| {
            (t.eq_ignore_ascii_case("application")
                && sub.eq_ignore_ascii_case("x-www-form-urlencoded"))
                || (t.eq_ignore_ascii_case("multipart") && sub.eq_ignore_ascii_case("form-data"))
                || (t.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("plain"))
        })
    } else if name.eq_ignore_ascii_case("range") {
        matches!(parse_single_range(value), Some((Some(_), _)))
    } else {
        false
    }
}

/// Sorted, lowercased, de-duplicated names of the request headers that make a request
/// need a preflight (ignored headers left out).
pub fn unsafe_header_names(headers: &HeaderList, profile: Profile) -> Vec<String> {
    unsafe_header_refs(headers, profile)
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect()
}

/// [`unsafe_header_names`] without copying: the names as written (one per name, compared
/// case-insensitively), in the same sorted order.
pub fn unsafe_header_refs(headers: &HeaderList, profile: Profile) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut total = 0usize;
    let mut safelisted = 0usize;
    for h in headers.iter() {
        if is_ignored_request_header(h.name, h.value) {
            continue;
        }
        if is_safelisted_request_header(h.name, h.value, profile) {
            total += value_len(h.value);
            safelisted += 1;
        } else {
            out.push(h.name);
        }
    }
    if total > MAX_SAFELISTED_TOTAL_BYTES && safelisted > 0 {
        out.extend(headers.iter().filter_map(|h| {
            (!is_ignored_request_header(h.name, h.value)
                && is_safelisted_request_header(h.name, h.value, profile))
            .then_some(h.name)
        }));
    }
    if out.len() > 1 {
        out.sort_unstable_by(|a, b| {
            a.bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        });
        out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    }
    out
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// True when `s` is a non-empty HTTP token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

fn is_http_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The type and subtype (as written; compare them case-insensitively) of a MIME type, using
/// the strict "parse a MIME type" algorithm of the MIME Sniffing standard.
pub fn mime_essence(value: &str) -> Option<(&str, &str)> {
    let s = value.trim_matches(|c: char| c.is_ascii() && is_http_ws(c as u8));
    let b = s.as_bytes();
    let slash = b.iter().position(|&c| c == b'/')?;
    let ty = &s[..slash];
    if !is_token(ty) {
        return None;
    }
    let rest = &s[slash + 1..];
    let semi = rest.find(';').unwrap_or(rest.len());
    let sub = rest[..semi].trim_end_matches(|c: char| c.is_ascii() && is_http_ws(c as u8));
    if !is_token(sub) {
        return None;
    }
    let params = &rest[semi..];
    if !params_well_formed(params) {
        return None;
    }
    Some((ty, sub))
}

/// Walks the parameter list the way the MIME parser does. Bad parameters are skipped by that
/// algorithm rather than failing it, so only bytes that cannot appear anywhere fail here:
/// the parse itself only fails on the type and subtype.
fn params_well_formed(params: &str) -> bool {
    // Quoted-string values and non-token parameter bytes are skipped by the parser, never
    // fatal. Only a value byte outside HTTP quoted-string token code points matters for the
    // safelist, and that is covered by the unsafe-byte test the caller makes first.
    params
        .chars()
        .all(|c| c == '\t' || (c >= ' ' && c != '\u{7f}'))
}

/// Fetch's "parse a single range header value" with allowWhitespace = false:
/// `bytes=N-`, `bytes=N-M` (N ≤ M) or `bytes=-M`. Returns `(first, last)`.
pub fn parse_single_range(value: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))?;
    let _ = rest;
    let spec = &value[6..];
    let dash = spec.find('-')?;
    let (a, b) = (&spec[..dash], &spec[dash + 1..]);
    let digits = |s: &str| -> Option<Option<u64>> {
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse::<u64>().ok().map(Some)
        } else {
            None
        }
    };
    let first = digits(a)?;
    let last = digits(b)?;
    match (first, last) {
        (None, None) => None,
        (Some(f), Some(l)) if f > l => None,
        _ => Some((first, last)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        for (m, safe) in [
            ("GET", true),
            ("HEAD", true),
            ("POST", true),
            ("get", false),
            ("PUT", false),
            ("patch", false),
            ("FOO", false),
        ] {
            assert_eq!(is_safelisted_method(m), safe, "{m}");
        }
        assert!(is_forbidden_method("trace"));
        assert!(is_forbidden_method("CONNECT"));
        assert!(!is_forbidden_method("DELETE"));
    }

    #[test]
    fn safelisted_values() {
        let c = Profile::Chrome;
        let cases: &[(&str, &str, bool)] = &[
            ("Accept", "*/*", true),
            ("Accept", "text/\"x\"", false),
            ("Accept", "application/json", true),
            ("Accept", "a\u{1}b", false),
            ("Accept", "a\tb", true),
            ("Accept", "text/é", true),
            ("Content-Language", "en", true),
            ("Content-Language", "en-US, de;q=0.5", true),
            ("Content-Language", "en_US", false),
            ("Content-Language", &"x".repeat(128), true),
            ("Content-Language", &"x".repeat(129), false),
            ("Accept-Language", "en-US,en;q=0.9", true),
            ("Content-Type", "text/plain", true),
            ("Content-Type", "text/plain;charset=UTF-8", true),
            ("Content-Type", "TEXT/PLAIN", true),
            ("Content-Type", "multipart/form-data; boundary=xyz", true),
            ("Content-Type", "application/x-www-form-urlencoded", true),
            ("Content-Type", "application/json", false),
            ("Content-Type", "text/plain; x=\"y\"", false),
            ("Content-Type", "text/plain/x", false),
            ("Content-Type", "text", false),
            ("Content-Type", "", false),
            ("Range", "bytes=0-10", true),
            ("Range", "bytes=5-", true),
            ("Range", "bytes=-500", false),
            ("Range", "bytes=0-1,3-4", false),
            ("Range", "bytes=10-5", false),
            ("Range", "bytes= 0-5", false),
            ("X-Custom", "1", false),
            ("Authorization", "Bearer x", false),
        ];
        for (n, v, want) in cases {
            assert_eq!(is_safelisted_request_header(n, v, c), *want, "{n}: {v}");
        }
        assert!(!is_safelisted_request_header(
            "Accept",
            "text/é",
            Profile::Firefox
        ));
    }

    #[test]
    fn unsafe_names_sorted_and_filtered() {
        let mut h = HeaderList::default();
        for (n, v) in [
            ("X-B", "1"),
            ("X-A", "1"),
            ("x-a", "2"),
            ("Sec-Foo", "1"),
            ("Proxy-X", "1"),
            ("Cookie", "a=b"),
            ("User-Agent", "x"),
            ("Cache-Control", "no-cache"),
            ("Content-Type", "application/json"),
            ("Accept", "*/*"),
        ] {
            h.push(n, v);
        }
        assert_eq!(
            unsafe_header_names(&h, Profile::Chrome),
            vec!["content-type", "x-a", "x-b"]
        );
    }

    #[test]
    fn total_over_1024_makes_safelisted_unsafe() {
        let mut h = HeaderList::default();
        for i in 0..9 {
            h.push(
                if i % 2 == 0 {
                    "Accept"
                } else {
                    "Content-Language"
                },
                "x".repeat(120),
            );
        }
        assert_eq!(
            unsafe_header_names(&h, Profile::Chrome),
            vec!["accept", "content-language"]
        );
        let mut h = HeaderList::default();
        for _ in 0..8 {
            h.push("Accept", "x".repeat(128));
        }
        assert!(unsafe_header_names(&h, Profile::Chrome).is_empty());
    }

    #[test]
    fn method_override_with_forbidden_method_is_ignored() {
        assert!(is_ignored_request_header("X-HTTP-Method-Override", "TRACE"));
        assert!(!is_ignored_request_header("X-HTTP-Method-Override", "PUT"));
    }
}
