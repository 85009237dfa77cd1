//! HAR → [`Exchange`]s. Reads files from corscope, Chrome DevTools (preflight rows,
//! stripped cookies), Firefox and mitmproxy (null timings). A corrupt entry is reported with
//! its index and skipped; the rest are imported. Each exchange's id is its entry index.

use crate::capture::{Body, Exchange, Header, HeaderList, RequestRecord, ResponseRecord, Timings};
use crate::har::model::Entry;
use base64::Engine as _;
use chrono::{DateTime, Utc};

/// A file that cannot be read as HAR at all.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    /// The bytes are not JSON (or are truncated).
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not `{"log": {"entries": [...]}}`.
    #[error("not a HAR file: {0}")]
    Shape(String),
    /// The file breaks off or stops being JSON inside an entry, so nothing after it can be
    /// read (entries before it were fine).
    #[error("entry {index} is malformed, the file cannot be read past it: {source}")]
    Entry {
        /// Index of the entry in `log.entries`.
        index: usize,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
}

/// One entry that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {message}")]
pub struct EntryError {
    /// Index of the entry in `log.entries`.
    pub index: usize,
    /// What is wrong with it.
    pub message: String,
}

/// What an import produced: the exchanges (id = entry index) and the skipped entries.
#[derive(Debug, Default)]
pub struct Imported {
    /// The imported entries, in file order; `id` is the entry index.
    pub exchanges: Vec<Exchange>,
    /// The skipped entries.
    pub errors: Vec<EntryError>,
    /// Number of entries in the file.
    pub entry_count: usize,
    /// `log.creator.name` (e.g. `WebInspector` for Chrome DevTools).
    pub creator: String,
    /// `log._credentialsStripped`: corscope re-exported a recording without credentials.
    pub credentials_stripped: bool,
    /// The `_cors` objects a corscope export recorded, by exchange id (= entry index).
    pub recorded_cors: std::collections::BTreeMap<u64, crate::har::model::CorsInfo>,
}

impl Imported {
    /// True when the exporter is known to strip `Cookie` and `Authorization` headers
    /// (Chrome DevTools' default "sanitized" export), so their absence proves nothing.
    pub fn strips_credentials(&self) -> bool {
        self.creator == "WebInspector" || self.credentials_stripped
    }
}

thread_local! {
    /// While `log.entries` is being read: how many entries were read so far, so a syntax
    /// error can name the entry it happened in.
    static ENTRIES_READ: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// `log.entries`, each entry kept as raw JSON so one bad entry does not fail the others.
struct RawEntries<'a>(Vec<&'a serde_json::value::RawValue>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = RawEntries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of HAR entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                ENTRIES_READ.with(|c| c.set(Some(0)));
                while let Some(e) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                    v.push(e);
                    ENTRIES_READ.with(|c| c.set(Some(v.len())));
                }
                ENTRIES_READ.with(|c| c.set(None));
                Ok(RawEntries(v))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// Import a HAR from its bytes (UTF-8, BOM tolerated).
pub fn import_slice(bytes: &[u8]) -> Result<Imported, HarError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    #[derive(serde::Deserialize)]
    struct Root<'a> {
        #[serde(borrow)]
        log: RawLog<'a>,
    }
    #[derive(serde::Deserialize)]
    struct RawLog<'a> {
        #[serde(borrow)]
        entries: Option<RawEntries<'a>>,
        #[serde(default)]
        creator: Option<serde_json::Value>,
        #[serde(default, rename = "_credentialsStripped")]
        credentials_stripped: Option<serde_json::Value>,
    }
    ENTRIES_READ.with(|c| c.set(None));
    let root: Root<'_> = serde_json::from_slice(bytes).map_err(|e| {
        if let Some(index) = ENTRIES_READ.with(|c| c.take()) {
            HarError::Entry { index, source: e }
        } else if e.is_data() {
            HarError::Shape(format!(
                "expected {{\"log\": {{\"entries\": [...]}}}} ({e})"
            ))
        } else {
            HarError::Json(e)
        }
    })?;
    let creator = root
        .log
        .creator
        .as_ref()
        .and_then(|c| c.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_owned();
    let raw = root
        .log
        .entries
        .ok_or_else(|| HarError::Shape("log.entries is missing".to_owned()))?
        .0;
    let credentials_stripped =
        root.log.credentials_stripped.and_then(|v| v.as_bool()) == Some(true);
    let mut out = Imported {
        entry_count: raw.len(),
        creator,
        credentials_stripped,
        ..Imported::default()
    };
    for (index, r) in raw.into_iter().enumerate() {
        let entry: Result<Entry, _> = serde_json::from_str(r.get());
        match entry.map_err(|e| e.to_string()).and_then(|e| {
            let ex = to_exchange(index, &e)?;
            Ok((ex, e.cors))
        }) {
            Ok((ex, cors)) => {
                if let Some(cors) = cors {
                    out.recorded_cors.insert(ex.id, cors);
                }
                out.exchanges.push(ex);
            }
            Err(message) => out.errors.push(EntryError { index, message }),
        }
    }
    Ok(out)
}

fn headers(list: &[crate::har::model::NameValue]) -> HeaderList {
    list.iter()
        .map(|h| Header::new(h.name.clone(), h.value.clone()))
        .collect()
}

fn opt(v: f64) -> Option<f64> {
    (v >= 0.0).then_some(v)
}

/// Convert one HAR entry.
pub fn to_exchange(index: usize, e: &Entry) -> Result<Exchange, String> {
    let started: DateTime<Utc> = DateTime::parse_from_rfc3339(e.started_date_time.trim())
        .map_err(|err| format!("bad startedDateTime '{}': {err}", e.started_date_time))?
        .with_timezone(&Utc);
    if e.request.method.is_empty() {
        return Err("request.method is missing".to_owned());
    }
    let url = url::Url::parse(&e.request.url)
        .map_err(|err| format!("bad request.url '{}': {err}", e.request.url))?;
    let mut url_s = url.to_string();
    if let Some((a, _)) = url_s.split_once('#') {
        url_s = a.to_owned();
    }
    let req_body = e
        .request
        .post_data
        .as_ref()
        .and_then(|p| {
            let text = p.text.as_ref()?;
            Some(if p.encoding.as_deref() == Some("base64") {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .unwrap_or_else(|_| text.as_bytes().to_vec())
            } else {
                text.clone().into_bytes()
            })
        })
        .map(bytes::Bytes::from)
        .unwrap_or_default();
    let request = RequestRecord {
        method: e.request.method.clone().into(),
        url: url_s,
        http_version: e.request.http_version.clone().into(),
        headers: headers(&e.request.headers),
        body: Body {
            total_size: u64::try_from(e.request.body_size).unwrap_or(req_body.len() as u64),
            captured: req_body,
        },
    };
    // Status 0 is how Chrome and mitmproxy record "no response". A status no HTTP response
    // can carry is a corrupt entry, not a response with status 0.
    let status = match e.response.status {
        s if s <= 0 => None,
        s => Some(u16::try_from(s).map_err(|_| format!("bad response.status {s}"))?),
    };
    let response = status.map(|status| {
        let text = e.response.content.text.as_deref().unwrap_or("");
        let body = if e.response.content.encoding.as_deref() == Some("base64") {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap_or_else(|_| text.as_bytes().to_vec())
        } else {
            text.as_bytes().to_vec()
        };
        let body = bytes::Bytes::from(body);
        ResponseRecord {
            status,
            status_text: e.response.status_text.clone().into(),
            http_version: e.response.http_version.clone().into(),
            headers: headers(&e.response.headers),
            body: Body {
                total_size: u64::try_from(e.response.content.size).unwrap_or(body.len() as u64),
                captured: body,
            },
        }
    });
    let t = &e.timings;
    Ok(Exchange {
        id: index as u64,
        connection_id: e
            .connection
            .as_deref()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0),
        started,
        request,
        response,
        timings: Timings {
            blocked: opt(t.blocked).into(),
            dns: opt(t.dns).into(),
            connect: opt(t.connect).into(),
            ssl: opt(t.ssl).into(),
            send: t.send.max(0.0),
            wait: t.wait.max(0.0),
            receive: t.receive.max(0.0),
        },
        error: e.error.clone().or_else(|| e.response.error.clone()),
        server_ip: e.server_ip_address.as_deref().map(Into::into),
        client_addr: e.client_address.as_deref().map(Into::into),
        resource_type: e.resource_type.as_deref().map(Into::into),
        synthetic_response: e.synthetic_response.unwrap_or(false),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_import() {
        let har = br#"{"log":{"version":"1.2","creator":{"name":"mitmproxy exporthar"},"entries":[
          {"startedDateTime":"2026-01-01T00:00:00.000Z","time":null,
           "request":{"method":"GET","url":"http://a.test/x#frag","headers":[{"name":"Origin","value":"http://b.test"}]},
           "response":{"status":200,"headers":[],"content":{"text":"aGk=","encoding":"base64"}},
           "timings":{"send":null,"wait":1,"receive":null,"dns":null},"_resourceType":"fetch","unknown":1},
          {"startedDateTime":"yesterday","request":{"method":"GET","url":"http://a.test/"},"response":{"status":200}},
          {"startedDateTime":"2026-01-01T00:00:01Z","request":{"method":"OPTIONS","url":"http://a.test/"},"response":{"status":0}}
        ]}}"#;
        let imp = import_slice(har).unwrap();
        assert_eq!(imp.entry_count, 3);
        assert_eq!(imp.creator, "mitmproxy exporthar");
        assert!(!imp.strips_credentials());
        assert_eq!(imp.exchanges.len(), 2);
        assert_eq!(imp.errors.len(), 1);
        assert_eq!(imp.errors[0].index, 1);
        let e = &imp.exchanges[0];
        assert_eq!(e.request.url, "http://a.test/x");
        assert_eq!(&e.response.as_ref().unwrap().body.captured[..], b"hi");
        assert_eq!(e.timings.dns, None);
        assert_eq!(e.resource_type.as_deref(), Some("fetch"));
        assert_eq!(imp.exchanges[1].id, 2);
        assert!(imp.exchanges[1].response.is_none());
    }

    /// Found by the `har_import` fuzz target: a status past 65535 became a response with
    /// status 0, which exports as "no response" and so judged differently once re-imported.
    #[test]
    fn status_out_of_range_skips_the_entry() {
        let har = br#"{"log":{"entries":[
          {"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/"},"response":{"status":70000}},
          {"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/"},"response":{"status":1e300}},
          {"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/"},"response":{"status":65535}}
        ]}}"#;
        let imp = import_slice(har).unwrap();
        assert_eq!(
            imp.errors.iter().map(|e| e.index).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(imp.errors[0].message.contains("response.status"));
        assert_eq!(imp.exchanges.len(), 1);
        assert_eq!(imp.exchanges[0].response.as_ref().unwrap().status, 65535);
    }

    #[test]
    fn malformed_files() {
        assert!(matches!(import_slice(b"{not json"), Err(HarError::Json(_))));
        assert!(matches!(
            import_slice(b"{\"foo\":1}"),
            Err(HarError::Shape(_))
        ));
        assert!(matches!(import_slice(b"[]"), Err(HarError::Shape(_))));
        let cut = br#"{"log":{"entries":[{"startedDateTime":"x"},{"request":{"method":"GE"#;
        match import_slice(cut) {
            Err(HarError::Entry { index, .. }) => assert_eq!(index, 1),
            other => panic!("{other:?}"),
        }
    }
}
