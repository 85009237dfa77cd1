//! HAR export from a real proxied session (real upstreams, the in-process proxy and the live
//! engine): the file passes HAR 1.2 structure checks and Chrome's importability rules, binary
//! content is base64, secrets are redacted by default, `_cors` holds the verdicts, and the
//! file imports back to the same exchanges and the same verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use corscope::capture::exchange::Exchange;
use corscope::cors::{self, Profile, Verdict};
use corscope::har::export::{self, ExportOptions, REDACTED};
use corscope::har::import::import_slice;
use corscope::live::Verdicts;
use http::Request;
use http_body_util::Full;
use serde_json::Value;

const APP: &str = "http://app.test";

struct Session {
    exchanges: Vec<Arc<Exchange>>,
    verdicts: Arc<Verdicts>,
}

impl Session {
    fn verdict(&self, id: u64) -> Option<Arc<Verdict>> {
        self.verdicts.get(id)
    }

    fn build(&self, opts: &ExportOptions) -> Value {
        let har = export::build(
            &self.exchanges,
            |id| self.verdict(id),
            Profile::Chrome,
            opts,
        );
        serde_json::from_slice(&export::to_vec(&har).unwrap()).unwrap()
    }
}

async fn send(proxy: std::net::SocketAddr, req: Request<Full<Bytes>>) -> u16 {
    let mut s = h1_to_proxy(proxy).await;
    let resp = s.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    body_bytes(resp).await;
    status
}

fn get(url: String) -> http::request::Builder {
    Request::get(url)
}

/// A session with simple, preflighted, blocked, binary, gzip, redirect, failed, POST and
/// HTTP/2 exchanges, judged live; the follower is stopped, so every verdict is final.
async fn record_session() -> Session {
    let cors = start_cors_server().await;
    let test_ca = TestCa::new();
    let h2_upstream = start_upstream(Some(test_ca.server_config(&[b"h2"]))).await;
    let proxy = start_proxy(Some(&test_ca), |_| {}).await;
    let follower = common::follow(proxy.store.clone());
    let verdicts = follower.verdicts.clone();
    let p = proxy.addr;
    let empty = || Full::new(Bytes::new());

    // 1: allowed simple GET with credentials.
    send(
        p,
        get(cors
            .url("/data?acao=origin&acac=true&setcookie=sid%3Dnew%3B%20Path%3D%2F%3B%20HttpOnly"))
        .header("Origin", APP)
        .header("Sec-Fetch-Mode", "cors")
        .header("Cookie", "sid=secret; theme=dark")
        .body(empty())
        .unwrap(),
    )
    .await;
    // 2: blocked simple GET (no ACAO).
    send(
        p,
        get(cors.url("/closed"))
            .header("Origin", APP)
            .header("Sec-Fetch-Mode", "cors")
            .body(empty())
            .unwrap(),
    )
    .await;
    // 3 + 4: preflight and its actual PUT, allowed.
    let pf = "/item?acao=origin&acam=PUT&acah=x-custom,authorization";
    send(
        p,
        Request::builder()
            .method("OPTIONS")
            .uri(cors.url(pf))
            .header("Accept", "*/*")
            .header("Access-Control-Request-Method", "PUT")
            .header("Access-Control-Request-Headers", "authorization,x-custom")
            .header("Origin", APP)
            .header("Sec-Fetch-Mode", "cors")
            .body(empty())
            .unwrap(),
    )
    .await;
    send(
        p,
        Request::put(cors.url(pf))
            .header("X-Custom", "1")
            .header("Authorization", "Bearer top-secret")
            .header("Origin", APP)
            .header("Sec-Fetch-Mode", "cors")
            .body(Full::new(Bytes::from_static(b"{\"a\":1}")))
            .unwrap(),
    )
    .await;
    // 5: binary body (not CORS).
    send(p, get(cors.url("/bin?bin=300")).body(empty()).unwrap()).await;
    // 6: gzip-encoded JSON.
    send(
        p,
        get(cors.url("/gz?gzip=1&ct=application/json"))
            .body(empty())
            .unwrap(),
    )
    .await;
    // 7: a redirect.
    send(
        p,
        get(cors.url("/old?status=302&location=/new"))
            .body(empty())
            .unwrap(),
    )
    .await;
    // 8: an unreachable upstream (corscope answers 502).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        send(p, get(format!("http://{dead}/")).body(empty()).unwrap()).await,
        502
    );
    // 9: a POST with a query string and a binary body.
    send(
        p,
        Request::post(cors.url("/form?a=1&b=two%20words"))
            .header("Content-Type", "application/octet-stream")
            .body(Full::new(Bytes::from_static(&[0xff, 0x00, 0xfe])))
            .unwrap(),
    )
    .await;
    // 10: HTTP/2 over TLS.
    let tunnel = connect_tunnel(p, &h2_upstream.addr.to_string()).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"h2"])
        .await
        .unwrap();
    let req = Request::get(format!("https://{}/echo", h2_upstream.addr))
        .body(Full::new(Bytes::new()))
        .unwrap();
    body_bytes(h2_request(tls, req).await).await;

    let exchanges = proxy.exchanges(10).await;
    follower.finish().await;
    for ex in &exchanges {
        assert!(verdicts.get(ex.id).is_some(), "no verdict for {}", ex.id);
    }
    proxy.stop().await;
    Session {
        exchanges,
        verdicts,
    }
}

/// No `null` anywhere, every number finite.
fn assert_no_nulls(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("null at {path}"),
        Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite), "{path}: {n}"),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_no_nulls(x, &format!("{path}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| assert_no_nulls(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

fn req_str(o: &Value, key: &str, path: &str) {
    assert!(o[key].is_string(), "{path}.{key} must be a string: {o}");
}

fn req_int(o: &Value, key: &str, path: &str) {
    assert!(o[key].is_i64(), "{path}.{key} must be an integer: {o}");
}

fn req_name_values(o: &Value, key: &str, path: &str) {
    let list = o[key]
        .as_array()
        .unwrap_or_else(|| panic!("{path}.{key} must be an array"));
    for nv in list {
        req_str(nv, "name", path);
        req_str(nv, "value", path);
    }
}

/// The HAR 1.2 schema's required fields and types, plus Chrome's importer rules.
/// Validate `har` against the HAR 1.2 JSON schema with npm's `har-validator` (the
/// `har-schema` schemas through ajv), which scripts/test.sh installs into target/npm-tools.
fn assert_schema_valid(har: &Value) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm-tools");
    let validator = root.join("node_modules/har-validator");
    assert!(
        validator.exists(),
        "har-validator is not installed in {}: run scripts/test.sh, which installs it with npm",
        root.display()
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(har).unwrap()).unwrap();
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(
            "const v = require(process.argv[1]);\
             const har = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));\
             v.har(har).then(() => process.exit(0), e => {\
               console.error(JSON.stringify(e.errors || String(e))); process.exit(1); });",
        )
        .arg(&validator)
        .arg(file.path())
        .output()
        .expect("node must be installed (scripts/test.sh needs Node.js for har-validator)");
    assert!(
        out.status.success(),
        "HAR 1.2 schema violations: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_valid_har(har: &Value) {
    assert_schema_valid(har);
    assert_no_nulls(har, "$");
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert_eq!(log["creator"]["name"], "corscope");
    req_str(&log["creator"], "version", "log.creator");
    let entries = log["entries"].as_array().expect("entries array");
    let mut last_start = None;
    for (i, e) in entries.iter().enumerate() {
        let p = format!("entries[{i}]");
        let start = chrono::DateTime::parse_from_rfc3339(e["startedDateTime"].as_str().unwrap())
            .unwrap_or_else(|err| panic!("{p}.startedDateTime: {err}"));
        if let Some(prev) = last_start {
            assert!(start >= prev, "{p}: entries not in start order");
        }
        last_start = Some(start);
        assert!(e["cache"].is_object(), "{p}.cache");
        let t = &e["timings"];
        for key in ["send", "wait", "receive"] {
            let v = t[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{p}.timings.{key}"));
            assert!(v >= 0.0, "{p}.timings.{key} = {v}");
        }
        for key in ["blocked", "dns", "connect", "ssl"] {
            let v = t[key].as_f64().unwrap();
            assert!(v == -1.0 || v >= 0.0, "{p}.timings.{key} = {v}");
        }
        let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
            .iter()
            .map(|k| t[k].as_f64().unwrap())
            .filter(|v| *v >= 0.0)
            .sum();
        let time = e["time"].as_f64().unwrap();
        assert!((time - sum).abs() < 1e-6, "{p}: time {time} != sum {sum}");
        let rq = &e["request"];
        for key in ["method", "url", "httpVersion"] {
            req_str(rq, key, &p);
        }
        url::Url::parse(rq["url"].as_str().unwrap()).unwrap();
        req_name_values(rq, "cookies", &p);
        req_name_values(rq, "headers", &p);
        req_name_values(rq, "queryString", &p);
        req_int(rq, "headersSize", &p);
        req_int(rq, "bodySize", &p);
        if let Some(pd) = rq.get("postData") {
            req_str(pd, "mimeType", &p);
        }
        let rs = &e["response"];
        req_int(rs, "status", &p);
        for key in ["statusText", "httpVersion", "redirectURL"] {
            req_str(rs, key, &p);
        }
        req_name_values(rs, "cookies", &p);
        req_name_values(rs, "headers", &p);
        req_int(rs, "headersSize", &p);
        req_int(rs, "bodySize", &p);
        req_int(&rs["content"], "size", &p);
        req_str(&rs["content"], "mimeType", &p);
        if let Some(ip) = e.get("serverIPAddress") {
            req_str(e, "serverIPAddress", &p);
            ip.as_str().unwrap().parse::<std::net::IpAddr>().unwrap();
        }
        req_str(e, "connection", &p);
        let c = &e["_cors"];
        req_str(c, "verdict", &p);
        req_str(c, "profile", &p);
    }
}

fn entry_for<'a>(har: &'a Value, method: &str, url_part: &str) -> (usize, &'a Value) {
    har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, e)| {
            e["request"]["method"] == method
                && e["request"]["url"].as_str().unwrap().contains(url_part)
        })
        .unwrap_or_else(|| panic!("no {method} {url_part}"))
}

fn header<'a>(list: &'a Value, name: &str) -> Option<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
        .and_then(|h| h["value"].as_str())
}

#[tokio::test]
async fn exported_har_is_valid_redacted_and_carries_the_verdicts() {
    let s = record_session().await;
    let har = s.build(&ExportOptions::default());
    assert_valid_har(&har);
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 10);

    // Redaction by default: header values and cookie values.
    let (_, creds) = entry_for(&har, "GET", "/data");
    assert_eq!(
        header(&creds["request"]["headers"], "cookie"),
        Some(REDACTED)
    );
    let cookies = creds["request"]["cookies"].as_array().unwrap();
    assert_eq!(cookies.len(), 2);
    assert_eq!(cookies[0]["name"], "sid");
    assert_eq!(cookies[0]["value"], REDACTED);
    assert_eq!(
        header(&creds["response"]["headers"], "set-cookie"),
        Some(REDACTED)
    );
    let set = &creds["response"]["cookies"][0];
    assert_eq!(set["name"], "sid");
    assert_eq!(set["path"], "/");
    assert_eq!(set["httpOnly"], true);
    let (put_i, put) = entry_for(&har, "PUT", "/item");
    assert_eq!(
        header(&put["request"]["headers"], "authorization"),
        Some(REDACTED)
    );
    assert!(!serde_json::to_string(&har).unwrap().contains("top-secret"));
    assert!(har["log"]["comment"].as_str().unwrap().contains("cookie"));

    // --no-redact keeps them; --redact NAME adds one.
    let plain = s.build(&ExportOptions {
        redact: false,
        ..ExportOptions::default()
    });
    let (_, creds_plain) = entry_for(&plain, "GET", "/data");
    assert_eq!(
        header(&creds_plain["request"]["headers"], "cookie"),
        Some("sid=secret; theme=dark")
    );
    assert_eq!(creds_plain["request"]["cookies"][0]["value"], "secret");
    assert_eq!(creds_plain["response"]["cookies"][0]["value"], "new");
    let extra = s.build(&ExportOptions {
        extra_redacted: vec!["X-Custom".into()],
        ..ExportOptions::default()
    });
    let (_, put_extra) = entry_for(&extra, "PUT", "/item");
    assert_eq!(
        header(&put_extra["request"]["headers"], "x-custom"),
        Some(REDACTED)
    );
    // Redaction never changes a verdict.
    for (a, b) in entries
        .iter()
        .zip(plain["log"]["entries"].as_array().unwrap())
    {
        assert_eq!(a["_cors"], b["_cors"]);
    }

    // Preflight marked as Chrome marks it, and paired by entry index.
    let (pf_i, pf) = entry_for(&har, "OPTIONS", "/item");
    assert_eq!(pf["_resourceType"], "preflight");
    assert_eq!(pf["_cors"]["role"], "preflight");
    assert_eq!(pf["_cors"]["paired_with"], put_i);
    assert_eq!(put["_cors"]["paired_with"], pf_i);
    assert_eq!(put["_cors"]["verdict"], "allowed");
    assert_eq!(put["_cors"]["credentials"]["inferred"], true);
    assert_eq!(put["request"]["postData"]["text"], "{\"a\":1}");
    let (_, blocked) = entry_for(&har, "GET", "/closed");
    assert_eq!(blocked["_cors"]["verdict"], "blocked");
    assert_eq!(blocked["_cors"]["stage"], "actual");
    assert!(blocked["_cors"]["chrome_message"]
        .as_str()
        .unwrap()
        .contains("No 'Access-Control-Allow-Origin' header"));
    assert_eq!(
        blocked["_cors"]["firefox_reason"]["code"],
        "CORSMissingAllowOrigin"
    );
    assert!(blocked["_cors"]["fix"].is_string());
    assert_eq!(creds["_cors"]["credentials"]["mode"], "include");

    // _cors equals the live verdicts, entry for entry.
    let mut by_start: Vec<&Arc<Exchange>> = s.exchanges.iter().collect();
    by_start.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
    let index: HashMap<u64, usize> = by_start
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id, i))
        .collect();
    for (i, ex) in by_start.iter().enumerate() {
        let v = s.verdict(ex.id).unwrap();
        let c = &entries[i]["_cors"];
        assert_eq!(c["verdict"], v.outcome.label(), "entry {i}");
        assert_eq!(
            c.get("stage").and_then(Value::as_str),
            v.outcome
                .stage()
                .map(|st| format!("{st:?}").to_ascii_lowercase())
                .as_deref()
        );
        assert_eq!(
            c.get("paired_with").and_then(Value::as_u64),
            v.paired_with.map(|id| index[&id] as u64)
        );
        assert_eq!(
            c.get("chrome_message").and_then(Value::as_str),
            v.chrome_message.as_deref()
        );
        assert_eq!(c.get("fix").and_then(Value::as_str), v.fix.as_deref());
        assert_eq!(c["profile"], "chrome");
    }

    // Content: binary as base64, gzip decoded, redirect, failure, query string, HTTP/2.
    let (_, bin) = entry_for(&har, "GET", "/bin");
    let content = &bin["response"]["content"];
    assert_eq!(content["encoding"], "base64");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content["text"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len(), 300);
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b == pattern(i as u64)));
    assert_eq!(content["size"], 300);
    let (_, gz) = entry_for(&har, "GET", "/gz");
    assert_eq!(
        gz["response"]["content"]["text"],
        "{\"method\":\"GET\",\"echo\":0}"
    );
    assert!(gz["response"]["content"].get("encoding").is_none());
    assert_eq!(gz["response"]["content"]["mimeType"], "application/json");
    let (_, redirect) = entry_for(&har, "GET", "/old");
    assert_eq!(redirect["response"]["status"], 302);
    assert_eq!(redirect["response"]["redirectURL"], "/new");
    let failed = entries
        .iter()
        .find(|e| e["response"]["status"] == 502)
        .unwrap();
    assert!(failed["_error"].as_str().unwrap().contains("refused"));
    assert_eq!(failed["_syntheticResponse"], true);
    let (_, post) = entry_for(&har, "POST", "/form");
    let qs = post["request"]["queryString"].as_array().unwrap();
    assert_eq!(qs[1]["name"], "b");
    assert_eq!(qs[1]["value"], "two words");
    assert_eq!(post["request"]["postData"]["_encoding"], "base64");
    assert_eq!(post["request"]["postData"]["text"], "/wD+");
    assert_eq!(post["request"]["bodySize"], 3);
    let (_, h2) = entry_for(&har, "GET", "https://");
    assert_eq!(h2["request"]["httpVersion"], "HTTP/2");
    assert_eq!(h2["serverIPAddress"], "127.0.0.1");
}

#[tokio::test]
async fn round_trip_restores_fields_and_verdicts() {
    let s = record_session().await;
    let dir = tempfile::tempdir().unwrap();
    for opts in [
        ExportOptions {
            redact: false,
            ..ExportOptions::default()
        },
        ExportOptions::default(),
    ] {
        let har = export::build(&s.exchanges, |id| s.verdict(id), Profile::Chrome, &opts);
        let path = dir.path().join("session.har");
        export::write_atomic(&path, &har).unwrap();
        let imported = import_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(imported.errors.is_empty(), "{:?}", imported.errors);
        assert_eq!(imported.exchanges.len(), s.exchanges.len());
        assert_eq!(imported.recorded_cors.len(), s.exchanges.len());

        // The engine gives the same verdicts on the imported file as recorded in `_cors`.
        let again = cors::analyze(&imported.exchanges, Profile::Chrome);
        for v in &again {
            let recorded = &imported.recorded_cors[&v.exchange];
            let fresh = export::cors_info(
                Some(v),
                Profile::Chrome,
                &(0..imported.exchanges.len() as u64)
                    .map(|i| (i, i as usize))
                    .collect(),
            );
            assert_eq!(&fresh, recorded, "entry {}", v.exchange);
        }

        if opts.redact {
            continue;
        }
        // Every field export wrote comes back (response bodies come back decoded).
        let mut by_start: Vec<&Arc<Exchange>> = s.exchanges.iter().collect();
        by_start.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
        for (orig, back) in by_start.iter().zip(&imported.exchanges) {
            assert_eq!(back.request.method, orig.request.method);
            assert_eq!(back.request.url, orig.request.url);
            assert_eq!(back.request.http_version, orig.request.http_version);
            assert_eq!(back.request.headers, orig.request.headers);
            assert_eq!(back.request.body.captured, orig.request.body.captured);
            assert_eq!(back.started.timestamp_millis(), orig.started_ms());
            assert_eq!(back.connection_id, orig.connection_id);
            assert_eq!(back.server_ip, orig.server_ip);
            assert_eq!(back.client_addr, orig.client_addr);
            assert_eq!(back.error, orig.error);
            assert_eq!(back.synthetic_response, orig.synthetic_response);
            assert!((back.timings.wait - orig.timings.wait).abs() < 0.001);
            assert_eq!(back.timings.dns.is_some(), orig.timings.dns.is_some());
            match (&orig.response, &back.response) {
                (Some(o), Some(b)) => {
                    assert_eq!(b.status, o.status);
                    assert_eq!(b.status_text, o.status_text);
                    assert_eq!(b.http_version, o.http_version);
                    assert_eq!(b.headers, o.headers);
                    let decoded = corscope::capture::decode::decode_content(
                        o.headers.first("content-encoding"),
                        &o.body.captured,
                    )
                    .unwrap();
                    assert_eq!(&b.body.captured[..], &decoded.bytes[..]);
                }
                (None, None) => {}
                other => panic!("response mismatch: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_corrupt_entry_is_skipped_and_the_others_import() {
    let s = record_session().await;
    let mut har = s.build(&ExportOptions::default());
    har["log"]["entries"][2]["startedDateTime"] = Value::String("last tuesday".into());
    har["log"]["entries"][4]["request"] = Value::String("garbage".into());
    let imported = import_slice(&serde_json::to_vec(&har).unwrap()).unwrap();
    assert_eq!(imported.entry_count, 10);
    assert_eq!(imported.exchanges.len(), 8);
    let skipped: Vec<usize> = imported.errors.iter().map(|e| e.index).collect();
    assert_eq!(skipped, [2, 4]);
}

#[tokio::test]
async fn analyze_reexports_with_the_same_verdicts() {
    let s = record_session().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.har");
    let output = dir.path().join("out.har");
    let har = export::build(
        &s.exchanges,
        |id| s.verdict(id),
        Profile::Chrome,
        &ExportOptions::default(),
    );
    export::write_atomic(&input, &har).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["analyze", "--json", "--har"])
        .arg(&output)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
    let b: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_valid_har(&b);
    let (ea, eb) = (
        a["log"]["entries"].as_array().unwrap(),
        b["log"]["entries"].as_array().unwrap(),
    );
    assert_eq!(ea.len(), eb.len());
    for (x, y) in ea.iter().zip(eb) {
        assert_eq!(x["_cors"], y["_cors"]);
        assert_eq!(x["request"]["headers"], y["request"]["headers"]);
    }
    // The JSON lines printed agree with the file.
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (row, e) in rows.iter().zip(eb) {
        assert_eq!(row["verdict"], e["_cors"]["verdict"]);
    }
}

fn analyze_json(path: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["analyze", "--json"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Browser recordings re-exported by `analyze --har` judge exactly as the originals, also
/// when the original is a Chrome DevTools export without credentials.
#[test]
fn reexported_browser_recordings_give_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chromium/chromium-baseline.har");
    let mut chrome: Value = serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
    chrome["log"]["creator"]["name"] = Value::String("WebInspector".into());
    let as_chrome = dir.path().join("chrome.har");
    std::fs::write(&as_chrome, serde_json::to_vec(&chrome).unwrap()).unwrap();
    for input in [fixture, as_chrome] {
        let output = dir.path().join("out.har");
        let before = analyze_json(&input, &["--har".as_ref(), output.as_os_str()]);
        let exported: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
        assert_valid_har(&exported);
        let after = analyze_json(&output, &[]);
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b, a);
        }
    }
}
