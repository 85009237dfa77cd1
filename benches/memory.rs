//! Heap bytes per captured exchange, by owner: the store (the exchange itself), the CORS
//! session, and the live verdict table. Counted by a heap-tracking allocator, so the figure
//! is exact and repeatable; `bench/proxy.sh rss` measures the whole process from outside.
//!
//! `cargo bench --bench memory` prints one line per traffic shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use corscope::capture::store::Store;
use corscope::capture::{Body, Exchange, HeaderList, RequestRecord, ResponseRecord};
use corscope::cors::{Profile, Session};
use corscope::live::{follow, Verdicts};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const N: u64 = 10_000;

fn headers(pairs: &[(&str, &str)]) -> HeaderList {
    let mut h = HeaderList::default();
    for (n, v) in pairs {
        h.push(*n, *v);
    }
    h
}

/// One exchange shaped like a load generator's `GET /1k` through the proxy to nginx, or
/// (with `cors`) like a browser's cross-origin fetch of the same.
fn exchange(i: u64, cors: bool, conn: &Arc<str>, server: &Arc<str>) -> Exchange {
    let mut req = vec![
        ("host", "127.0.0.1:28443"),
        ("user-agent", "oha/1.16.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, compress, deflate, br"),
    ];
    let mut resp = vec![
        ("server", "nginx/1.22.1"),
        ("date", "Wed, 25 Nov 2026 15:08:04 GMT"),
        ("content-type", "text/plain"),
        ("content-length", "1024"),
        ("last-modified", "Wed, 25 Nov 2026 15:07:56 GMT"),
        ("connection", "keep-alive"),
        ("etag", "\"6b06f9cc-400\""),
        ("accept-ranges", "bytes"),
    ];
    if cors {
        req.push(("origin", "http://localhost:5173"));
        req.push(("sec-fetch-mode", "cors"));
        resp.push(("access-control-allow-origin", "http://localhost:5173"));
        resp.push(("vary", "Origin"));
    }
    let body: Vec<u8> = (0..1024u32)
        .map(|b| b"abcdefgh"[(b % 8) as usize] ^ (i as u8 & 1))
        .collect();
    Exchange {
        connection_id: i / 100,
        started: Utc::now(),
        request: RequestRecord {
            method: "GET".into(),
            url: format!("https://127.0.0.1:28443/1k?i={i}"),
            http_version: "HTTP/1.1".into(),
            headers: headers(&req),
            body: Body::default(),
        },
        response: Some(ResponseRecord {
            status: 200,
            status_text: "OK".into(),
            http_version: "HTTP/1.1".into(),
            headers: headers(&resp),
            body: Body {
                captured: Bytes::from(body),
                total_size: 1024,
            },
        }),
        // As the proxy records them: one label per client and upstream connection.
        client_addr: Some(conn.clone()),
        server_ip: Some(server.clone()),
        ..Exchange::default()
    }
}

fn live_bytes() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

fn measure(cors: bool) {
    let label = if cors {
        "cross-origin GET, 1 KB"
    } else {
        "plain GET, 1 KB"
    };
    let base = live_bytes();
    let store = Arc::new(Store::default());
    let server: Arc<str> = "127.0.0.1".into();
    let mut conn: Arc<str> = "127.0.0.1:40000".into();
    for i in 0..N {
        if i % 100 == 0 {
            conn = format!("127.0.0.1:{}", 40_000 + i / 100).into();
        }
        store.push(exchange(i, cors, &conn, &server));
    }
    drop((conn, server));
    let after_store = live_bytes();

    let mut cfg = corscope::cors::Config::new(Profile::Chrome);
    cfg.release_settled = true;
    let mut session = Session::new(cfg);
    for ex in store.snapshot().exchanges.iter() {
        session.tick(ex.started_ms());
        session.push(ex);
    }
    let after_session = live_bytes();
    drop(session);

    let verdicts = Arc::new(Verdicts::new(Profile::Chrome));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before_live = live_bytes();
    rt.block_on(async {
        let stop = CancellationToken::new();
        let task = tokio::spawn(follow(store.clone(), verdicts.clone(), stop.clone()));
        while verdicts.get(N).is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let held = live_bytes();
        stop.cancel();
        task.await.unwrap();
        let verdict_table = live_bytes();
        println!(
            "{label:<24} store {:>5} B/exchange | session {:>5} B/exchange | live (session + verdict table) {:>5} B/exchange, table alone {:>5} B/exchange",
            (after_store - base) / N,
            (after_session - after_store) / N,
            (held - before_live) / N,
            (verdict_table - before_live) / N,
        );
    });
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    measure(false);
    measure(true);
}
