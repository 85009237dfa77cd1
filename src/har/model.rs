//! The HAR 1.2 data model, for reading and writing. Tolerant on input: unknown fields are
//! ignored, missing optional fields default, `null` timings (mitmproxy) read as unknown.
//! Custom `_…` fields that matter for CORS (`_resourceType`, `_fromCache`, `_error`) are kept,
//! as are the ones corscope writes itself (`_cors`, `_clientAddress`, `_syntheticResponse`,
//! `postData._encoding`), so its own files read back without loss.

use serde::{Deserialize, Deserializer, Serialize};

/// The file root: `{"log": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Har {
    pub log: Log,
}

/// `log`: creator, optional browser and pages, entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Log {
    pub version: String,
    pub creator: Creator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<Creator>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<serde_json::Value>,
    pub entries: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// corscope: true when the recording this file came from had `Cookie`/`Authorization`
    /// stripped (a Chrome DevTools export), so their absence says nothing about credentials.
    #[serde(
        rename = "_credentialsStripped",
        skip_serializing_if = "Option::is_none"
    )]
    pub credentials_stripped: Option<bool>,
}

/// `creator` / `browser`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Creator {
    pub name: String,
    pub version: String,
}

/// One request/response pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pageref: Option<String>,
    #[serde(rename = "startedDateTime")]
    pub started_date_time: String,
    #[serde(deserialize_with = "lenient_f64")]
    pub time: f64,
    pub request: Request,
    pub response: Response,
    /// HAR wants an object here, `{}` when there is nothing to say.
    #[serde(deserialize_with = "lenient_object")]
    pub cache: serde_json::Map<String, serde_json::Value>,
    pub timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    pub server_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Chrome DevTools: `fetch`, `xhr`, `preflight`, `document`, ...
    #[serde(rename = "_resourceType", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Chrome DevTools: `memory` / `disk` when served from the browser cache.
    #[serde(rename = "_fromCache", skip_serializing_if = "Option::is_none")]
    pub from_cache: Option<String>,
    /// mitmproxy / Chrome: an error text for a failed exchange.
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// corscope: the client socket address the request came from.
    #[serde(rename = "_clientAddress", skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// corscope: true when corscope generated the response (e.g. a 502 for a dead upstream).
    #[serde(rename = "_syntheticResponse", skip_serializing_if = "Option::is_none")]
    pub synthetic_response: Option<bool>,
    /// corscope: the CORS verdict recorded for this entry.
    #[serde(rename = "_cors", skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsInfo>,
}

/// The `_cors` object corscope writes per entry: the verdict in the same words and values
/// as `corscope analyze --json`, with `paired_with` as an index into `log.entries`.
/// Absent values are left out rather than written as `null` (Chrome's importer rejects
/// `null` numbers, and no consumer needs them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsInfo {
    /// `allowed`, `blocked`, `not-cors`, `pending` or `unknown`.
    pub verdict: String,
    /// `preflight`, `actual` or `redirect` when blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// `cors`, `same-origin`, `no-cors`, `navigation`, `not-cors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `preflight`, `actual` or `simple`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Index (in this file's `log.entries`) of the paired preflight or actual request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_with: Option<usize>,
    /// The `Origin` the request carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Chromium's `CorsError` name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrome_error: Option<String>,
    /// The console line Chrome prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrome_message: Option<String>,
    /// Firefox's reason code and console text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firefox_reason: Option<CorsReason>,
    /// What happened, in plain words.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub explanation: String,
    /// Needed-versus-granted lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<CorsDiff>,
    /// The smallest server-side change that makes it pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Findings that do not change the outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lints: Vec<CorsLint>,
    /// The inferred credentials mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CorsCredentials>,
    /// The browser profile the verdict models (`chrome`, `firefox`, `spec`).
    pub profile: String,
}

/// `_cors.firefox_reason`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsReason {
    /// The `security.properties` key, e.g. `CORSMissingAllowOrigin`.
    pub code: String,
    /// The console text.
    pub text: String,
}

/// One `_cors.diff` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsDiff {
    /// `status`, `origin`, `credentials`, `method` or `header`.
    pub item: String,
    /// What the request needed.
    pub needed: String,
    /// `preflight`, `actual` or `redirect`: the response consulted.
    pub response: String,
    /// The response header consulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The value the response sent; absent when it sent none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted: Option<String>,
    /// True when this line alone passes.
    pub ok: bool,
}

/// One `_cors.lints` finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsLint {
    /// Stable identifier.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// `_cors.credentials`: the inferred mode and what it rests on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsCredentials {
    /// `include`, `not-include` or `unknown`.
    pub mode: String,
    /// Always true: the wire never states the mode.
    pub inferred: bool,
    /// The evidence.
    pub evidence: String,
}

/// `request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(rename = "httpVersion")]
    pub http_version: String,
    pub cookies: Vec<Cookie>,
    pub headers: Vec<NameValue>,
    #[serde(rename = "queryString")]
    pub query_string: Vec<NameValue>,
    #[serde(rename = "postData", skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData>,
    #[serde(rename = "headersSize", deserialize_with = "lenient_i64")]
    pub headers_size: i64,
    #[serde(rename = "bodySize", deserialize_with = "lenient_i64")]
    pub body_size: i64,
}

/// `response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Response {
    #[serde(deserialize_with = "lenient_i64")]
    pub status: i64,
    #[serde(rename = "statusText")]
    pub status_text: String,
    #[serde(rename = "httpVersion")]
    pub http_version: String,
    pub cookies: Vec<Cookie>,
    pub headers: Vec<NameValue>,
    pub content: Content,
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    #[serde(rename = "headersSize", deserialize_with = "lenient_i64")]
    pub headers_size: i64,
    #[serde(rename = "bodySize", deserialize_with = "lenient_i64")]
    pub body_size: i64,
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A header or query parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

/// A cookie (only name and value matter here; the rest is kept loosely).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// `request.postData`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostData {
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<serde_json::Value>,
    /// corscope: `base64` when `text` holds a base64-encoded binary body (HAR 1.2 has no
    /// field for it; the HAR 1.3 proposal's `encoding` is not widely read yet).
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `response.content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Content {
    #[serde(deserialize_with = "lenient_i64")]
    pub size: i64,
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Bytes saved by content encoding (`bodySize` minus `size`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `timings` in ms; `-1` (or `null`, or absent) means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    #[serde(deserialize_with = "lenient_f64_unknown")]
    pub blocked: f64,
    #[serde(deserialize_with = "lenient_f64_unknown")]
    pub dns: f64,
    #[serde(deserialize_with = "lenient_f64_unknown")]
    pub connect: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub send: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub wait: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub receive: f64,
    #[serde(deserialize_with = "lenient_f64_unknown")]
    pub ssl: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            blocked: -1.0,
            dns: -1.0,
            connect: -1.0,
            send: 0.0,
            wait: 0.0,
            receive: 0.0,
            ssl: -1.0,
        }
    }
}

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(number(&serde_json::Value::deserialize(d)?).unwrap_or(0.0))
}

fn lenient_f64_unknown<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(number(&serde_json::Value::deserialize(d)?).unwrap_or(-1.0))
}

fn lenient_object<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    })
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(number(&serde_json::Value::deserialize(d)?).map_or(-1, |f| f as i64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let e: Entry = serde_json::from_str(
            r#"{"startedDateTime":"2026-01-01T00:00:00Z","time":null,"cache":null,
                "request":{"method":"GET","url":"http://a/","headers":[{"name":"A","value":"1"}]},
                "response":{"status":"200"},"timings":{"wait":null},"_resourceType":"preflight"}"#,
        )
        .unwrap();
        assert_eq!(e.response.status, 200);
        assert_eq!(e.timings.dns, -1.0);
        assert_eq!(e.timings.wait, 0.0);
        assert!(e.cache.is_empty());
        let text = serde_json::to_string(&Har {
            log: Log {
                entries: vec![e.clone()],
                ..Log::default()
            },
        })
        .unwrap();
        assert!(text.contains("\"cache\":{}"));
        assert!(!text.contains("null"));
        let back: Har = serde_json::from_str(&text).unwrap();
        assert_eq!(back.log.entries[0], e);
    }
}
