//! Resending a captured request (the UI's `r`): a real server whose CORS answers the test
//! changes between the browser's try and the resend, the requests captured by a real
//! corscope, and the resent ones judged and paired by the live verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use corscope::capture::store::Store;
use corscope::cors::classify::Role;
use corscope::cors::verdict::{Outcome, PreflightUse, Stage, Verdict};
use corscope::live::Verdicts;
use corscope::replay::{ReplayError, Replayer};
use corscope::tls::upstream::UpstreamTrust;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

const ORIGIN: &str = "http://app.test:3000";

/// What the server received: method, headers, body.
type Seen = (String, Vec<(String, String)>, Bytes);

/// A server for `PUT /items` from [`ORIGIN`] with a custom header: its preflight grants
/// `X-Token` while `preflight_ok`, and its answer carries `Access-Control-Allow-Origin`
/// while `answer_ok`. Every request it receives is kept (method, headers, body).
struct Api {
    addr: std::net::SocketAddr,
    preflight_ok: Arc<AtomicBool>,
    answer_ok: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn start_api() -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let preflight_ok = Arc::new(AtomicBool::new(true));
    let answer_ok = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<_>>> = Arc::default();
    let (pf, ans, log) = (preflight_ok.clone(), answer_ok.clone(), seen.clone());
    serve_h1_with(listener, move |req: Request<hyper::body::Incoming>| {
        let (pf, ans, log) = (pf.clone(), ans.clone(), log.clone());
        async move {
            let method = req.method().to_string();
            let headers = req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            log.lock().unwrap().push((method.clone(), headers, body));
            let mut resp = Response::builder().header("access-control-allow-origin", ORIGIN);
            if method == "OPTIONS" {
                resp = resp.status(StatusCode::NO_CONTENT);
                resp = resp.header("access-control-allow-methods", "PUT");
                if pf.load(Ordering::SeqCst) {
                    resp = resp.header("access-control-allow-headers", "x-token");
                }
            } else if !ans.load(Ordering::SeqCst) {
                resp = Response::builder();
            }
            Ok::<_, Infallible>(resp.body(full("ok")).unwrap())
        }
    });
    Api {
        addr,
        preflight_ok,
        answer_ok,
        seen,
    }
}

impl Api {
    fn seen_methods(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.clone())
            .collect()
    }
}

/// What a browser sends through the proxy for `fetch(url, {method: 'PUT', headers:
/// {'X-Token': 't'}, body})`: the preflight, then the request when the preflight allows it.
async fn browser_put(proxy: std::net::SocketAddr, url: &str) {
    let mut send = h1_to_proxy(proxy).await;
    let pf = Request::options(url)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "x-token")
        .header("sec-fetch-mode", "cors")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(pf).await.unwrap();
    let granted = resp.headers().contains_key("access-control-allow-headers");
    body_bytes(resp).await;
    if granted {
        let put = Request::put(url)
            .header("origin", ORIGIN)
            .header("x-token", "t")
            .header("content-type", "application/json")
            .header("sec-fetch-mode", "cors")
            .body(Full::new(Bytes::from_static(b"{\"n\":1}")))
            .unwrap();
        body_bytes(send.send_request(put).await.unwrap()).await;
    }
}

/// Wait until exchange `id` has a settled verdict.
async fn settled(verdicts: &Verdicts, id: u64) -> Arc<Verdict> {
    let mut changes = verdicts.subscribe();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(v) = verdicts.get(id).filter(|v| v.outcome != Outcome::Pending) {
                return v;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("verdict in time")
}

/// A replayer over `store` and `verdicts` trusting only the webpki roots (the servers here
/// are plain HTTP).
fn replayer(store: &Arc<Store>, verdicts: &Arc<Verdicts>) -> Replayer {
    Replayer::new(store.clone(), verdicts.clone(), &UpstreamTrust::default()).unwrap()
}

fn blocked(stage: Stage) -> Outcome {
    Outcome::Blocked { stage }
}

#[tokio::test]
async fn a_request_blocked_at_its_answer_is_resent_with_its_preflight_and_passes_once_fixed() {
    let api = start_api().await;
    let proxy = start_proxy(None, |_| {}).await;
    let follower = follow(proxy.store.clone());
    let url = format!("http://{}/items", api.addr);
    browser_put(proxy.addr, &url).await;
    let put = proxy.exchanges(2).await[1].id;
    let before = settled(&follower.verdicts, put).await;
    assert_eq!(before.outcome, blocked(Stage::Actual));

    // The server is fixed; resending the blocked request sends its preflight, then it.
    api.answer_ok.store(true, Ordering::SeqCst);
    let replayer = replayer(&proxy.store, &follower.verdicts);
    let resent = replayer.resend(put).await.unwrap();
    let (pf_id, put_id) = (resent.preflight.unwrap(), resent.request.unwrap());
    assert!(put_id > pf_id && pf_id > put, "{resent:?}");
    assert_eq!(
        resent.summary,
        format!("resent #{put} as preflight #{pf_id}, request #{put_id}")
    );
    assert_eq!(api.seen_methods(), ["OPTIONS", "PUT", "OPTIONS", "PUT"]);
    // Sent as captured (the body too), without the proxy hop's own headers.
    {
        let seen = api.seen.lock().unwrap();
        let (_, first, first_body) = &seen[1];
        let (_, again, again_body) = &seen[3];
        assert_eq!(again_body, first_body);
        let names = |h: &Vec<(String, String)>| {
            let mut n: Vec<String> = h.iter().map(|(n, _)| n.clone()).collect();
            n.sort();
            n
        };
        assert_eq!(names(again), names(first));
        assert!(again.iter().any(|(n, v)| n == "x-token" && v == "t"));
    }
    let after = settled(&follower.verdicts, put_id).await;
    assert_eq!(after.outcome, Outcome::Allowed, "{after:?}");
    assert_eq!(after.role, Some(Role::Actual));
    assert_eq!(after.paired_with, Some(pf_id));
    assert_eq!(after.preflight, Some(PreflightUse::Paired));
    let pf = settled(&follower.verdicts, pf_id).await;
    assert_eq!(pf.paired_with, Some(put_id));
    // The browser's own exchanges keep their verdicts.
    assert_eq!(
        follower.verdicts.get(put).unwrap().outcome,
        blocked(Stage::Actual)
    );
    follower.finish().await;
}

#[tokio::test]
async fn a_preflight_that_still_refuses_stops_the_resent_request() {
    let api = start_api().await;
    let proxy = start_proxy(None, |_| {}).await;
    let follower = follow(proxy.store.clone());
    let url = format!("http://{}/items", api.addr);
    browser_put(proxy.addr, &url).await;
    let put = proxy.exchanges(2).await[1].id;
    settled(&follower.verdicts, put).await;

    // A change on the server broke the preflight: the resend stops where a browser stops.
    api.preflight_ok.store(false, Ordering::SeqCst);
    api.answer_ok.store(true, Ordering::SeqCst);
    let replayer = replayer(&proxy.store, &follower.verdicts);
    let resent = replayer.resend(put).await.unwrap();
    assert_eq!(resent.request, None);
    let pf_id = resent.preflight.unwrap();
    assert!(
        resent.summary.contains("does not allow the request"),
        "{}",
        resent.summary
    );
    assert_eq!(api.seen_methods(), ["OPTIONS", "PUT", "OPTIONS"]);
    let pf = settled(&follower.verdicts, pf_id).await;
    assert_eq!(pf.outcome, blocked(Stage::Preflight));

    // Resending that lone preflight sends it alone (its request was never captured).
    api.preflight_ok.store(true, Ordering::SeqCst);
    let again = replayer.resend(pf_id).await.unwrap();
    assert_eq!(again.request, None);
    assert!(
        again.summary.contains("never captured"),
        "{}",
        again.summary
    );
    assert_eq!(api.seen_methods(), ["OPTIONS", "PUT", "OPTIONS", "OPTIONS"]);
    follower.finish().await;
}

#[tokio::test]
async fn a_request_whose_preflight_was_never_seen_is_resent_with_one_built_for_it() {
    // The request is pushed as captured with no preflight before it (cached before the
    // capture began): the resend builds the preflight Chromium would send.
    let api = start_api().await;
    api.answer_ok.store(true, Ordering::SeqCst);
    let store = Arc::new(Store::default());
    let follower = follow(store.clone());
    let url = format!("http://{}/items?x=1", api.addr);
    let mut ex = corscope::capture::Exchange {
        started: chrono::Utc::now(),
        ..Default::default()
    };
    ex.request.method = "PUT".to_owned().into();
    ex.request.url = url.clone();
    for (n, v) in [
        ("Host", api.addr.to_string().as_str()),
        ("Origin", ORIGIN),
        ("X-Token", "t"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        ex.request.headers.push(n, v);
    }
    let id = store.push(ex);
    let before = settled(&follower.verdicts, id).await;
    assert_eq!(before.preflight, Some(PreflightUse::NotSeen), "{before:?}");
    let replayer = replayer(&store, &follower.verdicts);
    let resent = replayer.resend(id).await.unwrap();
    let (pf_id, put_id) = (resent.preflight.unwrap(), resent.request.unwrap());
    {
        let seen = api.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let pf = &seen[0].1;
        let get = |name: &str| pf.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(seen[0].0, "OPTIONS");
        assert_eq!(get("access-control-request-method"), Some("PUT"));
        assert_eq!(get("access-control-request-headers"), Some("x-token"));
        assert_eq!(get("origin"), Some(ORIGIN));
        assert_eq!(get("sec-fetch-mode"), Some("cors"));
    }
    let after = settled(&follower.verdicts, put_id).await;
    assert_eq!(after.outcome, Outcome::Allowed, "{after:?}");
    assert_eq!(after.paired_with, Some(pf_id));
    follower.finish().await;
}

#[tokio::test]
async fn a_dead_server_is_recorded_in_the_resent_exchange_and_nothing_else_is_lost() {
    let api = start_api().await;
    api.answer_ok.store(true, Ordering::SeqCst);
    let proxy = start_proxy(None, |_| {}).await;
    let follower = follow(proxy.store.clone());
    // A simple GET (no preflight) to a server that then goes away.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let mut send = h1_to_proxy(proxy.addr).await;
    let get = Request::get(format!("http://{}/items", api.addr))
        .header("origin", ORIGIN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    body_bytes(send.send_request(get).await.unwrap()).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let get = Request::get(format!("http://{dead_addr}/gone"))
        .header("origin", ORIGIN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(get).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let captured = proxy.exchanges(2).await;
    let replayer = replayer(&proxy.store, &follower.verdicts);
    let resent = replayer.resend(captured[1].id).await.unwrap();
    let id = resent.request.unwrap();
    assert!(resent.summary.contains("failed"), "{}", resent.summary);
    let ex = proxy.store.get(id).unwrap();
    assert!(ex.response.is_none());
    let error = ex.error.as_deref().unwrap();
    assert!(error.contains(&dead_addr.port().to_string()), "{error}");
    // The other request resends as before.
    let ok = replayer.resend(captured[0].id).await.unwrap();
    let ex = proxy.store.get(ok.request.unwrap()).unwrap();
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
    assert_eq!(proxy.store.snapshot().exchanges.len(), 4);

    // An exchange no longer held, and one whose body was cut at the capture limit, are
    // refused with the reason.
    proxy.store.clear();
    assert!(matches!(
        replayer.resend(ok.request.unwrap()).await,
        Err(ReplayError::Gone(_))
    ));
    let mut big = corscope::capture::Exchange::default();
    big.request.method = "POST".to_owned().into();
    big.request.url = format!("http://{}/items", api.addr);
    big.request.body.captured = Bytes::from_static(b"abc");
    big.request.body.total_size = 10;
    let big = proxy.store.push(big);
    let err = replayer.resend(big).await.unwrap_err();
    assert!(err.to_string().contains("--max-body-capture"), "{err}");
    follower.finish().await;
}

#[tokio::test]
async fn a_request_that_rode_a_cached_preflight_gets_a_preflight_of_its_own() {
    // The second PUT rode the first one's preflight from the cache; resent with an empty
    // cache it needs a preflight, built for it (not the earlier request's, resent).
    let api = start_api().await;
    api.answer_ok.store(true, Ordering::SeqCst);
    let proxy = start_proxy(None, |_| {}).await;
    let follower = follow(proxy.store.clone());
    let url = format!("http://{}/items", api.addr);
    browser_put(proxy.addr, &url).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let put = Request::put(&url)
        .header("origin", ORIGIN)
        .header("x-token", "t2")
        .header("sec-fetch-mode", "cors")
        .body(Full::new(Bytes::from_static(b"2")))
        .unwrap();
    body_bytes(send.send_request(put).await.unwrap()).await;
    let second = proxy.exchanges(3).await[2].id;
    let v = settled(&follower.verdicts, second).await;
    assert_eq!(v.preflight, Some(PreflightUse::Cached), "{v:?}");
    let replayer = replayer(&proxy.store, &follower.verdicts);
    let resent = replayer.resend(second).await.unwrap();
    let (pf_id, put_id) = (resent.preflight.unwrap(), resent.request.unwrap());
    {
        let seen = api.seen.lock().unwrap();
        let methods: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(methods, ["OPTIONS", "PUT", "PUT", "OPTIONS", "PUT"]);
        let built = &seen[3].1;
        let has = |n: &str, v: &str| built.iter().any(|(a, b)| a == n && b == v);
        assert!(has("sec-fetch-dest", "empty"), "{built:?}");
        assert!(
            has("access-control-request-headers", "x-token"),
            "{built:?}"
        );
        assert_eq!(seen[4].2, Bytes::from_static(b"2"));
    }
    let after = settled(&follower.verdicts, put_id).await;
    assert_eq!(after.outcome, Outcome::Allowed, "{after:?}");
    assert_eq!(after.paired_with, Some(pf_id));
    follower.finish().await;
}
