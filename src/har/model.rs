//! The HAR 1.2 data model, for reading and writing. Tolerant on input: unknown fields are
//! ignored, missing optional fields default, `null` timings (mitmproxy) read as unknown.
//! Custom `_…` fields that matter for CORS (`_resourceType`, `_fromCache`, `_error`) are kept.

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
