//! "Nothing lost" under load: with the TUI paused, every exchange pushed through corscope
//! is in the store or counted as evicted by its documented cap; the live verdicts and the
//! list hold no more than the store does and account for every exchange; blocked verdicts
//! outlive their evicted exchanges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use corscope::capture::store::{Store, StoreLimits, MAX_EXCHANGES};
use corscope::cors::Profile;
use corscope::live::Verdicts;
use corscope::tui::action::Action;
use corscope::tui::app::{App, StatusInfo};
use corscope::tui::feed::Feed;
use http::Request;
use http_body_util::{BodyExt, Full};

/// Client connections sending at once (keep-alive, one request at a time each).
const CONNECTIONS: usize = 8;

/// Send `per_connection` requests on each of [`CONNECTIONS`] keep-alive connections;
/// `url(c, i)` names request `i` of connection `c`. Every response must be whole.
async fn load(
    proxy: SocketAddr,
    per_connection: usize,
    url: impl Fn(usize, usize) -> String + Send + Sync + 'static,
) {
    let url = Arc::new(url);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut send = h1_to_proxy(proxy).await;
                for i in 0..per_connection {
                    send.ready().await.unwrap();
                    let req = Request::post(url(c, i))
                        .body(Full::new(Bytes::from_static(b"0123456789")))
                        .unwrap();
                    let resp = send.send_request(req).await.unwrap();
                    let status = resp.status();
                    let body = resp.into_body().collect().await.unwrap().to_bytes();
                    assert!(status.is_success(), "{status} {body:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Wait until the follower has judged everything the store holds.
async fn settled(store: &Store, verdicts: &Verdicts) {
    let mut rx = verdicts.subscribe();
    let last = store.stats().total_exchanges;
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while verdicts.get(last).is_none() {
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("the follower caught up");
}

/// Resume a paused list and sync until it has taken in every change.
fn resume(app: &mut App, feed: &mut Feed, store: &Store, verdicts: &Verdicts) {
    app.update(Action::Pause);
    assert!(!app.paused);
    while let (true, _) = feed.sync(app, store, verdicts) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_exchanges_are_all_stored_or_counted_as_evicted() {
    // All through the real proxy, past the store's own cap (MAX_EXCHANGES), while the
    // list is paused and its feed keeps syncing as the TUI's frames would.
    const SENT: usize = MAX_EXCHANGES + 4_000;
    let upstream = start_upstream(None).await;
    let store = Arc::new(Store::default());
    let proxy = start_proxy_with_store(None, store.clone(), |_| {}).await;
    let follower = common::follow(store.clone());
    let verdicts = follower.verdicts.clone();
    let mut app = App::new(Profile::Chrome, StatusInfo::default());
    let mut feed = Feed::default();
    app.update(Action::Pause);

    let target = upstream.addr;
    let traffic = tokio::spawn(load(proxy.addr, SENT / CONNECTIONS, move |c, i| {
        format!("http://{target}/echo?c={c}&i={i}")
    }));
    while !traffic.is_finished() {
        feed.sync(&mut app, &store, &verdicts);
        assert!(app.rows().is_empty(), "paused: the list does not move");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    traffic.await.unwrap();
    let sent = SENT as u64;
    let mut changes = store.subscribe();
    while store.stats().total_exchanges < sent {
        changes.changed().await.unwrap();
    }
    settled(&store, &verdicts).await;
    feed.sync(&mut app, &store, &verdicts);
    assert!(app.rows().is_empty());

    let stats = store.stats();
    assert_eq!(stats.total_exchanges, sent);
    assert_eq!(stats.exchanges, MAX_EXCHANGES);
    assert_eq!(stats.exchanges as u64 + stats.evicted_exchanges, sent);
    assert_eq!(store.first_id(), stats.evicted_exchanges + 1);
    // Ids are dense: the held ones are exactly the newest, each one whole.
    let held = store.snapshot().exchanges;
    assert!(held
        .iter()
        .zip(store.first_id()..)
        .all(|(e, id)| e.id == id));
    for e in &held {
        assert!(e.error.is_none(), "{:?}", e.error);
        assert_eq!(
            e.response.as_ref().unwrap().body.captured.as_ref(),
            b"0123456789"
        );
    }
    // Each (connection, request) pair is there once, unless evicted.
    let mut seen = std::collections::HashSet::new();
    assert!(held.iter().all(|e| seen.insert(e.request.url.clone())));
    // The verdicts hold one per held exchange: none for evicted ones, none missing.
    assert_eq!(verdicts.held(), stats.exchanges);
    assert!((store.first_id()..=sent).all(|id| verdicts.get(id).is_some()));
    // The paused list counted everything, and after resuming shows every held exchange.
    assert_eq!(app.status.unseen, stats.exchanges as u64);
    assert_eq!(app.status.evicted, stats.evicted_exchanges);
    resume(&mut app, &mut feed, &store, &verdicts);
    assert_eq!(app.rows().len(), stats.exchanges);
    assert_eq!(app.status.unseen, 0);

    follower.finish().await;
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_a_small_cap_real_traffic_is_counted_and_blocked_verdicts_survive() {
    // A store capped at 500 exchanges and 16 KiB of bodies, 4000 real exchanges, every
    // 100th blocked by CORS.
    const CAP: usize = 500;
    const SENT: usize = 4_000;
    let server = start_cors_server().await;
    let store = Arc::new(Store::new(StoreLimits {
        max_exchanges: CAP,
        max_captured_bytes: 16 * 1024,
        ..StoreLimits::default()
    }));
    let proxy = start_proxy_with_store(None, store.clone(), |_| {}).await;
    let follower = common::follow(store.clone());
    let verdicts = follower.verdicts.clone();
    let mut app = App::new(Profile::Chrome, StatusInfo::default());
    let mut feed = Feed::default();

    let per = SENT / CONNECTIONS;
    let base = server.url("");
    // CORS requests need an Origin: the server reflects it unless told otherwise; a
    // request to /closed gets no Access-Control-Allow-Origin (blocked).
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let base = base.clone();
            let proxy = proxy.addr;
            tokio::spawn(async move {
                let mut send = h1_to_proxy(proxy).await;
                for i in 0..per {
                    let n = c * per + i;
                    let path = if n % 100 == 99 {
                        format!("/closed?n={n}")
                    } else {
                        format!("/ok?acao=origin&n={n}&bin=100")
                    };
                    send.ready().await.unwrap();
                    let req = Request::get(format!("{base}{path}"))
                        .header("Origin", "http://app.test")
                        .header("Sec-Fetch-Mode", "cors")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let resp = send.send_request(req).await.unwrap();
                    assert!(resp.status().is_success());
                    resp.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    let mut synced = 0;
    for task in tasks {
        task.await.unwrap();
        // The list follows along (not paused here): it must stay bounded too.
        feed.sync(&mut app, &store, &verdicts);
        synced += 1;
    }
    assert_eq!(synced, CONNECTIONS);
    let sent = SENT as u64;
    let mut changes = store.subscribe();
    while store.stats().total_exchanges < sent {
        changes.changed().await.unwrap();
    }
    settled(&store, &verdicts).await;
    while let (true, _) = feed.sync(&mut app, &store, &verdicts) {}

    let stats = store.stats();
    assert_eq!(stats.total_exchanges, sent);
    assert_eq!(stats.exchanges, CAP);
    assert_eq!(stats.exchanges as u64 + stats.evicted_exchanges, sent);
    assert!(stats.captured_bytes <= 16 * 1024, "{stats:?}");
    assert!(stats.dropped_bodies > 0, "{stats:?}");
    assert!(verdicts.held() <= CAP, "verdicts held: {}", verdicts.held());
    assert!(
        app.rows().len() <= CAP + CAP / 3,
        "rows: {}",
        app.rows().len()
    );
    // Every blocked exchange, evicted or not, still fails --fail-on-blocked.
    let blocked = verdicts.blocked();
    assert_eq!(blocked.len(), SENT / 100, "{} blocked", blocked.len());
    assert!(blocked.iter().all(|v| v.url.contains("/closed")));
    follower.finish().await;
    proxy.stop().await;
}
