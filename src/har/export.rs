//! Session → HAR 1.2 that Chrome DevTools and other HAR tools open: entries in start
//! order, headers in wire order, cookies and query strings parsed, response content
//! decoded (base64 for binary), timings that are never `null` and always add up, Chrome's
//! `_resourceType: "preflight"`, and corscope's verdict per entry in `_cors`.
//!
//! Secrets are redacted by default, as Chrome DevTools' default export does: the values of
//! `Cookie`, `Set-Cookie`, `Authorization`, `Proxy-Authorization` and any extra header the
//! caller names are replaced by [`REDACTED`]. Verdicts are taken as they are, computed from
//! the unredacted exchanges, so redaction never changes `_cors`.
//!
//! Pure and quiet: building never prints and never touches the disk, so the TUI can call
//! it; [`write_atomic`] writes a file through a temporary file and a rename.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;

use crate::capture::decode::decode_content;
use crate::capture::{Body, Exchange, ExchangeId, HeaderList};
use crate::cors::{Profile, Verdict};
use crate::har::model::{
    Content, Cookie, CorsCredentials, CorsDiff, CorsInfo, CorsLint, CorsReason, Creator, Entry,
    Har, Log, NameValue, PostData, Request, Response, Timings,
};

/// The value a redacted header (or cookie) gets.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are always redacted unless redaction is switched off.
pub const DEFAULT_REDACTED: [&str; 4] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
];

/// How to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// Replace secret header values with [`REDACTED`] (on by default).
    pub redact: bool,
    /// More header names to redact besides [`DEFAULT_REDACTED`] (case-insensitive).
    pub extra_redacted: Vec<String>,
    /// The exchanges come from a recording without `Cookie`/`Authorization` (a Chrome
    /// DevTools HAR): written as `log._credentialsStripped` so a re-import judges alike.
    pub credentials_stripped: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            redact: true,
            extra_redacted: Vec::new(),
            credentials_stripped: false,
        }
    }
}

impl ExportOptions {
    /// True when the values of header `name` must not be written.
    pub fn redacts(&self, name: &str) -> bool {
        self.redact
            && (DEFAULT_REDACTED
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
                || self
                    .extra_redacted
                    .iter()
                    .any(|r| r.trim().eq_ignore_ascii_case(name)))
    }
}

/// Why a HAR file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Serializing failed (not expected: the model has no maps with non-string keys).
    #[error("serializing the HAR: {0}")]
    Json(#[from] serde_json::Error),
    /// Creating, writing or renaming the file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The target file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Build the HAR for `exchanges` (any order; entries come out in start order), with the
/// verdict `verdict_of` gives for each exchange id.
pub fn build(
    exchanges: &[Arc<Exchange>],
    verdict_of: impl Fn(ExchangeId) -> Option<Arc<Verdict>>,
    profile: Profile,
    opts: &ExportOptions,
) -> Har {
    let mut order: Vec<&Arc<Exchange>> = exchanges.iter().collect();
    order.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
    let index: HashMap<ExchangeId, usize> =
        order.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let entries = order
        .iter()
        .map(|ex| {
            let verdict = verdict_of(ex.id);
            let mut entry = entry(ex, opts);
            entry.cors = Some(cors_info(verdict.as_deref(), profile, &index));
            entry
        })
        .collect();
    Har {
        log: Log {
            version: "1.2".to_owned(),
            creator: Creator {
                name: "corscope".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            browser: None,
            pages: Vec::new(),
            entries,
            comment: redaction_comment(opts),
            credentials_stripped: opts.credentials_stripped.then_some(true),
        },
    }
}

fn redaction_comment(opts: &ExportOptions) -> Option<String> {
    if !opts.redact {
        return None;
    }
    let mut names: Vec<String> = DEFAULT_REDACTED.iter().map(|s| (*s).to_owned()).collect();
    names.extend(
        opts.extra_redacted
            .iter()
            .map(|s| s.trim().to_ascii_lowercase()),
    );
    names.dedup();
    Some(format!(
        "Values of these headers are replaced by \"{REDACTED}\": {}",
        names.join(", ")
    ))
}

/// Serialize `har` (pretty, UTF-8).
pub fn to_vec(har: &Har) -> Result<Vec<u8>, ExportError> {
    Ok(serde_json::to_vec_pretty(har)?)
}

/// Write `har` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target, so a reader (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, har: &Har) -> Result<(), ExportError> {
    let bytes = to_vec(har)?;
    let io = |source: std::io::Error| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".corscope-har")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(&bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn entry(ex: &Exchange, opts: &ExportOptions) -> Entry {
    let timings = timings(ex);
    let time = [
        timings.blocked,
        timings.dns,
        timings.connect,
        timings.send,
        timings.wait,
        timings.receive,
    ]
    .iter()
    .filter(|t| **t >= 0.0)
    .sum();
    let is_preflight = ex.request.method.eq_ignore_ascii_case("OPTIONS")
        && ex.request.headers.contains("access-control-request-method");
    Entry {
        pageref: None,
        started_date_time: ex
            .started
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        time,
        request: request(ex, opts),
        response: response(ex, opts),
        cache: serde_json::Map::new(),
        timings,
        server_ip_address: ex.server_ip.as_deref().map(str::to_owned),
        connection: Some(ex.connection_id.to_string()),
        comment: None,
        // Mark preflights as Chrome does, but never overwrite a type the recording had: the
        // verdict's wording reads it, so replacing it would change the verdict on re-import.
        resource_type: ex
            .resource_type
            .as_deref()
            .map(str::to_owned)
            .or_else(|| is_preflight.then(|| "preflight".to_owned())),
        from_cache: None,
        error: ex.error.clone(),
        client_address: ex.client_addr.as_deref().map(str::to_owned),
        synthetic_response: ex.synthetic_response.then_some(true),
        cors: None,
    }
}

/// A finite, non-negative number of milliseconds, rounded to microseconds.
fn ms(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn optional_ms(v: Option<f64>) -> f64 {
    match v {
        Some(v) if v.is_finite() && v >= 0.0 => ms(v),
        _ => -1.0,
    }
}

fn timings(ex: &Exchange) -> Timings {
    let t = &ex.timings;
    Timings {
        blocked: optional_ms(t.blocked.get()),
        dns: optional_ms(t.dns.get()),
        connect: optional_ms(t.connect.get()),
        send: ms(t.send),
        wait: ms(t.wait),
        receive: ms(t.receive),
        ssl: optional_ms(t.ssl.get()),
    }
}

fn headers(list: &HeaderList, opts: &ExportOptions) -> Vec<NameValue> {
    list.iter()
        .map(|h| NameValue {
            name: h.name.to_owned(),
            value: if opts.redacts(h.name) {
                REDACTED.to_owned()
            } else {
                h.value.to_owned()
            },
        })
        .collect()
}

fn body_size(body: &Body) -> i64 {
    i64::try_from(body.total_size).unwrap_or(i64::MAX)
}

fn request(ex: &Exchange, opts: &ExportOptions) -> Request {
    let r = &ex.request;
    let redact_cookies = opts.redacts("cookie");
    let cookies = r
        .headers
        .get_all("cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = name.trim();
            (!name.is_empty()).then(|| Cookie {
                name: name.to_owned(),
                value: if redact_cookies {
                    REDACTED.to_owned()
                } else {
                    value.trim().to_owned()
                },
                rest: serde_json::Map::new(),
            })
        })
        .collect();
    Request {
        method: r.method.to_string(),
        url: r.url.clone(),
        http_version: r.http_version.to_string(),
        cookies,
        headers: headers(&r.headers, opts),
        query_string: query_string(&r.url),
        post_data: post_data(r.headers.first("content-type"), &r.body),
        headers_size: -1,
        body_size: body_size(&r.body),
    }
}

fn query_string(url: &str) -> Vec<NameValue> {
    let Ok(u) = url::Url::parse(url) else {
        return Vec::new();
    };
    u.query_pairs()
        .map(|(name, value)| NameValue {
            name: name.into_owned(),
            value: value.into_owned(),
        })
        .collect()
}

fn post_data(content_type: Option<&str>, body: &Body) -> Option<PostData> {
    if body.total_size == 0 && body.captured.is_empty() {
        return None;
    }
    let mut comment = body.is_truncated().then(|| {
        format!(
            "truncated: {} of {} bytes captured",
            body.captured.len(),
            body.total_size
        )
    });
    let (text, encoding) = match std::str::from_utf8(&body.captured) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => {
            let note = "binary body, base64-encoded (see _encoding)";
            comment = Some(match comment {
                Some(c) => format!("{note}; {c}"),
                None => note.to_owned(),
            });
            (
                base64::engine::general_purpose::STANDARD.encode(&body.captured),
                Some("base64".to_owned()),
            )
        }
    };
    Some(PostData {
        mime_type: content_type.unwrap_or("").to_owned(),
        text: Some(text),
        params: Vec::new(),
        encoding,
        comment,
    })
}

fn response(ex: &Exchange, opts: &ExportOptions) -> Response {
    let Some(r) = ex.response.as_ref() else {
        // What Chrome writes for a request that got no response.
        return Response {
            status: 0,
            status_text: String::new(),
            http_version: String::new(),
            cookies: Vec::new(),
            headers: Vec::new(),
            content: Content {
                size: 0,
                mime_type: "x-unknown".to_owned(),
                ..Content::default()
            },
            redirect_url: String::new(),
            headers_size: -1,
            body_size: -1,
            error: ex.error.clone(),
        };
    };
    let redact_cookies = opts.redacts("set-cookie");
    let cookies = r
        .headers
        .get_all("set-cookie")
        .filter_map(|v| set_cookie(v, redact_cookies))
        .collect();
    Response {
        status: i64::from(r.status),
        status_text: r.status_text.to_string(),
        http_version: r.http_version.to_string(),
        cookies,
        headers: headers(&r.headers, opts),
        content: content(&r.headers, &r.body),
        redirect_url: r.headers.first("location").unwrap_or("").to_owned(),
        headers_size: -1,
        body_size: body_size(&r.body),
        error: None,
    }
}

/// A `Set-Cookie` value as a HAR cookie (attributes by their HAR names).
fn set_cookie(value: &str, redact: bool) -> Option<Cookie> {
    let mut parts = value.split(';');
    let (name, val) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut rest = serde_json::Map::new();
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        let (key, json) = match k.as_str() {
            "path" => ("path", v.into()),
            "domain" => ("domain", v.into()),
            "expires" => match chrono::DateTime::parse_from_rfc2822(v) {
                Ok(t) => (
                    "expires",
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                        .into(),
                ),
                Err(_) => continue,
            },
            "httponly" => ("httpOnly", true.into()),
            "secure" => ("secure", true.into()),
            "samesite" => ("sameSite", v.into()),
            _ => continue,
        };
        rest.insert(key.to_owned(), json);
    }
    Some(Cookie {
        name: name.to_owned(),
        value: if redact {
            REDACTED.to_owned()
        } else {
            val.trim().to_owned()
        },
        rest,
    })
}

fn content(headers: &HeaderList, body: &Body) -> Content {
    let mime_type = headers
        .first("content-type")
        .unwrap_or("x-unknown")
        .to_owned();
    if body.captured.is_empty() {
        return Content {
            size: 0,
            mime_type,
            comment: (body.total_size > 0).then(|| {
                format!(
                    "body of {} bytes not captured (over the capture limit or dropped)",
                    body.total_size
                )
            }),
            ..Content::default()
        };
    }
    let encoding = headers.get_combined("content-encoding");
    let mut comments = Vec::new();
    if body.is_truncated() {
        comments.push(format!(
            "truncated: {} of {} bytes captured",
            body.captured.len(),
            body.total_size
        ));
    }
    let (bytes, decoded) = match decode_content(encoding.as_deref(), &body.captured) {
        Ok(d) => {
            if d.truncated {
                comments.push("decoded body cut at corscope's decoding limit".to_owned());
            }
            (d.bytes, encoding.is_some())
        }
        Err(e) => {
            comments.push(format!("kept as sent (not decoded): {e}"));
            (body.captured.to_vec(), false)
        }
    };
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let compression = (decoded && !body.is_truncated())
        .then(|| body_size(body).saturating_sub(size))
        .filter(|c| *c != 0);
    let (text, enc) = match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => (
            base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
            Some("base64".to_owned()),
        ),
    };
    Content {
        size,
        mime_type,
        text: Some(text),
        encoding: enc,
        compression,
        comment: (!comments.is_empty()).then(|| comments.join("; ")),
    }
}

/// The string serde gives a unit-like enum (`kebab-case` names), or `None`.
fn label<T: serde::Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The `_cors` object for one verdict (or an `unknown` one when there is none yet).
pub fn cors_info(
    verdict: Option<&Verdict>,
    profile: Profile,
    index: &HashMap<ExchangeId, usize>,
) -> CorsInfo {
    let profile = label(&profile).unwrap_or_default();
    let Some(v) = verdict else {
        return CorsInfo {
            verdict: "unknown".to_owned(),
            profile,
            ..CorsInfo::default()
        };
    };
    CorsInfo {
        verdict: v.outcome.label().to_owned(),
        stage: v.outcome.stage().and_then(|s| label(&s)),
        kind: label(&v.kind),
        role: v.role.as_ref().and_then(label),
        paired_with: v.paired_with.and_then(|id| index.get(&id).copied()),
        origin: v.origin.clone(),
        chrome_error: v.chrome_error.map(str::to_owned),
        chrome_message: v.chrome_message.clone(),
        firefox_reason: v.firefox_reason.as_ref().map(|r| CorsReason {
            code: r.code.to_owned(),
            text: r.text.clone(),
        }),
        explanation: v.explanation.clone(),
        diff: v
            .diff
            .iter()
            .map(|d| CorsDiff {
                item: label(&d.item).unwrap_or_default(),
                needed: d.needed.clone(),
                response: label(&d.response).unwrap_or_default(),
                header: d.header.map(str::to_owned),
                granted: d.granted.clone(),
                ok: d.ok,
            })
            .collect(),
        fix: v.fix.clone(),
        lints: v
            .lints
            .iter()
            .map(|l| CorsLint {
                code: l.code.to_owned(),
                message: l.message.clone(),
            })
            .collect(),
        credentials: v.credentials.as_ref().map(|c| CorsCredentials {
            mode: label(&c.mode).unwrap_or_default(),
            inferred: c.inferred,
            evidence: c.evidence.to_owned(),
        }),
        profile,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_attributes_map_to_har_names() {
        let c = set_cookie(
            "sid=abc; Path=/; Domain=a.test; HttpOnly; Secure; SameSite=Lax; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
            false,
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.value.as_str()), ("sid", "abc"));
        assert_eq!(c.rest["path"], "/");
        assert_eq!(c.rest["httpOnly"], true);
        assert_eq!(c.rest["sameSite"], "Lax");
        assert_eq!(c.rest["expires"], "2026-10-21T07:28:00.000Z");
        assert_eq!(set_cookie("sid=abc", true).unwrap().value, REDACTED);
    }

    #[test]
    fn unknown_timings_are_minus_one_and_time_is_the_sum() {
        let mut ex = Exchange::default();
        ex.timings.dns = Some(1.5).into();
        ex.timings.send = f64::NAN;
        ex.timings.wait = 2.0;
        ex.timings.receive = -3.0;
        let e = entry(&ex, &ExportOptions::default());
        assert_eq!(e.timings.blocked, -1.0);
        assert_eq!(e.timings.send, 0.0);
        assert_eq!(e.timings.receive, 0.0);
        assert_eq!(e.time, 3.5);
    }

    #[test]
    fn an_exchange_without_response_exports_as_chrome_does_and_imports_back() {
        let mut ex = Exchange::default();
        ex.request.method = "GET".into();
        ex.request.url = "http://a.test/x".into();
        ex.error = Some("client went away".into());
        let har = build(
            &[Arc::new(ex)],
            |_| None,
            Profile::Chrome,
            &ExportOptions::default(),
        );
        let e = &har.log.entries[0];
        assert_eq!(e.response.status, 0);
        assert_eq!(e.response.body_size, -1);
        assert_eq!(e.response.content.mime_type, "x-unknown");
        assert_eq!(e.cors.as_ref().unwrap().verdict, "unknown");
        let back = crate::har::import::import_slice(&to_vec(&har).unwrap()).unwrap();
        assert!(back.exchanges[0].response.is_none());
        assert_eq!(back.exchanges[0].error.as_deref(), Some("client went away"));
    }

    /// Found by the `har_import` fuzz target: a preflight imported with another resource
    /// type was exported as `preflight`, which changed its verdict's wording on re-import.
    #[test]
    fn preflights_are_marked_but_a_recorded_resource_type_is_kept() {
        let mut ex = Exchange::default();
        ex.request.method = "OPTIONS".into();
        ex.request.url = "http://a.test/x".into();
        ex.request
            .headers
            .push("Access-Control-Request-Method", "PUT");
        assert_eq!(
            entry(&ex, &ExportOptions::default())
                .resource_type
                .as_deref(),
            Some("preflight")
        );
        ex.resource_type = Some("image".into());
        assert_eq!(
            entry(&ex, &ExportOptions::default())
                .resource_type
                .as_deref(),
            Some("image")
        );
    }

    #[test]
    fn redaction_is_case_insensitive_and_extendable() {
        let opts = ExportOptions {
            redact: true,
            extra_redacted: vec!["X-Api-Key".into()],
            credentials_stripped: false,
        };
        assert!(opts.redacts("COOKIE"));
        assert!(opts.redacts("x-api-key"));
        assert!(!opts.redacts("origin"));
        let off = ExportOptions {
            redact: false,
            ..opts
        };
        assert!(!off.redacts("cookie"));
    }
}
