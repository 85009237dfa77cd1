//! Engine cost: evaluations per second of a realistic preflight + actual pair, and the time
//! to analyse a ~100 MB HAR (generated here, never committed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use corscope::capture::{Exchange, Header, HeaderList, ResponseRecord};
use corscope::cors::{self, Profile};
use corscope::har::import::import_slice;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;

fn hl(p: &[(&str, &str)]) -> HeaderList {
    p.iter().map(|(n, v)| Header::new(*n, *v)).collect()
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";

fn pair() -> (Exchange, Exchange) {
    let started = Utc.timestamp_millis_opt(1_764_000_000_000).unwrap();
    let url = "http://127.0.0.1:41002/api/items/42?n=1764000000000";
    let mut pf = Exchange {
        started,
        ..Exchange::default()
    };
    pf.request.method = "OPTIONS".into();
    pf.request.url = url.into();
    pf.request.headers = hl(&[
        ("Host", "127.0.0.1:41002"),
        ("Connection", "keep-alive"),
        ("Accept", "*/*"),
        ("Access-Control-Request-Method", "PUT"),
        (
            "Access-Control-Request-Headers",
            "authorization,content-type,x-trace-id",
        ),
        ("Origin", "http://127.0.0.1:41001"),
        ("User-Agent", UA),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "same-site"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", "http://127.0.0.1:41001/"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
    ]);
    pf.response = Some(ResponseRecord {
        status: 204,
        headers: hl(&[
            ("Server", "api"),
            ("Date", "Wed, 25 Nov 2026 11:42:23 GMT"),
            ("Access-Control-Allow-Origin", "http://127.0.0.1:41001"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE"),
            (
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, X-Trace-Id",
            ),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin"),
        ]),
        ..ResponseRecord::default()
    });
    let mut actual = pf.clone();
    actual.request.method = "PUT".into();
    actual.request.headers = hl(&[
        ("Host", "127.0.0.1:41002"),
        ("Connection", "keep-alive"),
        ("Content-Length", "13"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("Authorization", "Bearer abc.def.ghi"),
        ("User-Agent", UA),
        ("Content-Type", "application/json"),
        ("X-Trace-Id", "5f1c"),
        ("Accept", "*/*"),
        ("Origin", "http://127.0.0.1:41001"),
        ("Sec-Fetch-Site", "same-site"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", "http://127.0.0.1:41001/"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "sid=1"),
    ]);
    actual.response = Some(ResponseRecord {
        status: 200,
        headers: hl(&[
            ("Server", "api"),
            ("Access-Control-Allow-Origin", "http://127.0.0.1:41001"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", "X-Trace-Id"),
            ("Content-Type", "application/json"),
            ("Vary", "Origin"),
        ]),
        ..ResponseRecord::default()
    });
    (pf, actual)
}

fn evaluations(c: &mut Criterion) {
    let (pf, actual) = pair();
    assert!(cors::evaluate(Some(&pf), &actual, Profile::Chrome).allowed());
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("preflight+actual pair", |b| {
        b.iter(|| cors::evaluate(Some(&pf), &actual, Profile::Chrome))
    });
    g.finish();
    let mut g = c.benchmark_group("analyze");
    g.throughput(Throughput::Elements(2));
    g.bench_function("full verdicts for a pair", |b| {
        let pair = [pf.clone(), actual.clone()];
        b.iter(|| cors::analyze(&pair, Profile::Chrome))
    });
    g.finish();
}

/// A HAR of about `target` bytes: the Chromium fixtures' entries repeated with shifted
/// times and distinct URLs, so pairing and the cache see realistic traffic.
fn big_har(target: usize) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/chromium");
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for f in [
        "chromium-baseline.har",
        "random-seed-1.har",
        "random-seed-2.har",
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        entries.extend(v["log"]["entries"].as_array().unwrap().iter().cloned());
    }
    let mut out = Vec::with_capacity(target + 1_000_000);
    out.extend_from_slice(
        br#"{"log":{"version":"1.2","creator":{"name":"bench","version":"1"},"entries":["#,
    );
    let base = Utc.timestamp_millis_opt(1_764_000_000_000).unwrap();
    let mut round = 0u64;
    let mut first = true;
    while out.len() < target {
        for (i, e) in entries.iter().enumerate() {
            let mut e = e.clone();
            let t = base + chrono::Duration::milliseconds((round * 60_000 + i as u64 * 3) as i64);
            e["startedDateTime"] = t
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into();
            let url = e["request"]["url"]
                .as_str()
                .unwrap()
                .replace("/case/", &format!("/r{round}/case/"));
            e["request"]["url"] = url.into();
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, &e).unwrap();
        }
        round += 1;
    }
    out.extend_from_slice(b"]}}");
    out
}

fn big_file(c: &mut Criterion) {
    let har = big_har(100 * 1024 * 1024);
    let mb = har.len() as f64 / (1024.0 * 1024.0);
    let mut g = c.benchmark_group("har");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(40));
    g.throughput(Throughput::Bytes(har.len() as u64));
    g.bench_function(format!("import+analyze {mb:.0} MB"), |b| {
        b.iter_batched(
            || (),
            |_| {
                let imp = import_slice(&har).unwrap();
                let v = cors::analyze(&imp.exchanges, Profile::Chrome);
                assert_eq!(v.len(), imp.exchanges.len());
                v.len()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The store's default cap on exchanges held.
const STORE_CAP: u64 = 100_000;

/// A preflight as a load generator sends it (no actual request follows), and its 204.
fn lone_preflight(id: u64, ms: i64) -> Exchange {
    let mut pf = Exchange {
        id,
        started: Utc.timestamp_millis_opt(ms).unwrap(),
        ..Exchange::default()
    };
    pf.request.method = "OPTIONS".into();
    pf.request.url = "http://127.0.0.1:28080/preflight".into();
    pf.request.headers = hl(&[
        ("host", "127.0.0.1:28080"),
        ("user-agent", "oha/1.14.0"),
        ("accept", "*/*"),
        ("origin", "http://localhost:5173"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type"),
    ]);
    pf.response = Some(ResponseRecord {
        status: 204,
        headers: hl(&[
            ("Server", "nginx/1.22.1"),
            ("Date", "Sat, 05 Dec 2026 06:00:00 GMT"),
            ("Connection", "keep-alive"),
            ("Access-Control-Allow-Origin", "http://localhost:5173"),
            ("Access-Control-Allow-Methods", "GET, PUT"),
            ("Access-Control-Allow-Headers", "content-type"),
            ("Access-Control-Max-Age", "600"),
        ]),
        ..ResponseRecord::default()
    });
    pf
}

/// The live follower's work per exchange: a session with released state, handing verdicts
/// out as it holds them (the `*_shared` calls the follower makes), fed one exchange
/// at a time with the clock moving 20,000 exchanges a second, each preflight settled after
/// its wait, and (as the follower does after each batch it reads) told every 16 exchanges
/// which ones a store capped at 100,000 evicted.
fn live_session(c: &mut Criterion) {
    let mut g = c.benchmark_group("live session");
    g.throughput(Throughput::Elements(1));
    let mut cfg = cors::Config::new(Profile::Chrome);
    cfg.release_settled = true;
    let base = 1_764_000_000_000i64;
    for (name, plain) in [("lone preflight", false), ("plain GET", true)] {
        g.bench_function(name, |b| {
            let mut session = cors::Session::new(cfg);
            let mut id = 0u64;
            let mut template = lone_preflight(0, base);
            if plain {
                template.request.method = "GET".into();
                template.request.url = "http://127.0.0.1:28080/1k".into();
                template.request.headers =
                    hl(&[("host", "127.0.0.1:28080"), ("user-agent", "oha/1.14.0")]);
            }
            b.iter(|| {
                id += 1;
                let ms = base + (id / 20) as i64;
                let mut ex = template.clone();
                ex.id = id;
                ex.started = Utc.timestamp_millis_opt(ms).unwrap();
                let mut n = session.tick_shared(ms).len();
                n += session.push_shared(&ex).len();
                if id.is_multiple_of(16) {
                    n += session
                        .forget_before_shared(id.saturating_sub(STORE_CAP))
                        .len();
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, evaluations, live_session, big_file);
criterion_main!(benches);
