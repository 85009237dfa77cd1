//! End to end in a real headless Chromium (Debian's `chromium`, installed by the test
//! script): `corscope browser --headless` opens the demo page through a real corscope
//! proxy; for every `fetch()` the page makes, what the page saw (resolved or threw) must
//! equal corscope's verdict on the exchanges that fetch produced. The demo's emulated
//! traffic must get the same verdicts as the browser's (the emulation is faithful).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use corscope::capture::store::Store;
use corscope::config::ProxyConfig;
use corscope::cors::Profile;
use corscope::demo::{scenarios::SCENARIOS, server, traffic};
use corscope::live::{self, Verdicts};
use corscope::proxy::Proxy;
use corscope::tls::ca::CertificateAuthority;
use tokio_util::sync::CancellationToken;

mod common;

struct Running {
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    proxy: std::net::SocketAddr,
    shutdown: CancellationToken,
    follower: tokio::task::JoinHandle<()>,
}

async fn start(data: &std::path::Path, upstream_ca: Option<&common::TestCa>) -> Running {
    let ca = Arc::new(CertificateAuthority::load_or_create(data).unwrap());
    let store = Arc::new(Store::default());
    let verdicts = Arc::new(Verdicts::new(Profile::Chrome));
    let mut config = ProxyConfig::local(data.to_owned());
    config.listen = "127.0.0.1:0".parse().unwrap();
    if let Some(ca) = upstream_ca {
        config.upstream_trust.extra_ca_certs.push(ca.cert.clone());
    }
    let proxy = Proxy::bind(config, ca, store.clone()).await.unwrap();
    let addr = proxy.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(proxy.run(shutdown.clone()));
    let follower = tokio::spawn(live::follow(
        store.clone(),
        verdicts.clone(),
        shutdown.clone(),
    ));
    Running {
        store,
        verdicts,
        proxy: addr,
        shutdown,
        follower,
    }
}

/// Per scenario id: was any exchange of that fetch judged blocked?
async fn blocked_by_scenario(r: Running) -> BTreeMap<String, bool> {
    r.shutdown.cancel();
    r.follower.await.unwrap();
    let mut out = BTreeMap::new();
    for ex in r.store.snapshot().exchanges {
        let Some((_, rest)) = ex.request.url.split_once("/api/") else {
            continue;
        };
        let id = rest.split(['/', '?']).next().unwrap().to_owned();
        let blocked = r
            .verdicts
            .get(ex.id)
            .is_some_and(|v| v.outcome.is_blocked());
        *out.entry(id).or_insert(false) |= blocked;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_over_http_agrees_with_corscope() {
    chromium_fetch_results_equal_corscope_verdicts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_over_intercepted_https_agrees_with_corscope() {
    chromium_fetch_results_equal_corscope_verdicts(true).await;
}

/// Open the demo page (over HTTPS through the interception when `https`) in Chromium.
async fn chromium_fetch_results_equal_corscope_verdicts(https: bool) {
    let data = tempfile::tempdir().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let origin_ca = https.then(common::TestCa::new);
    let tls = origin_ca
        .as_ref()
        .map(|ca| ca.server_config(&[b"h2", b"http/1.1"]));
    let mut demo = server::start_with("127.0.0.1".parse().unwrap(), rx, tls)
        .await
        .unwrap();
    let running = start(data.path(), origin_ca.as_ref()).await;
    let page = format!("{}/", demo.page_origin());

    let mut browser = tokio::process::Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["browser", "chromium", "--headless", "--listen"])
        .arg(running.proxy.to_string())
        .arg("--data-dir")
        .arg(data.path())
        .arg(&page)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let results = tokio::time::timeout(Duration::from_secs(120), demo.wait_results())
        .await
        .expect("the demo page did not report its results within 120 s (is chromium installed?)")
        .unwrap();
    // SIGTERM: corscope closes the browser and removes its profile.
    let pid = browser.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), browser.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "corscope browser exited with {status}");

    let store = running.store.clone();
    let corscope = blocked_by_scenario(running).await;
    let page_results = results["results"].as_array().unwrap();
    assert_eq!(page_results.len(), SCENARIOS.len());
    let mut disagreements = Vec::new();
    for r in page_results {
        let id = r["id"].as_str().unwrap();
        let threw = r["fetch"] == "threw";
        let blocked = corscope.get(id).copied();
        let table = SCENARIOS.iter().find(|s| s.id == id).unwrap();
        // The scenario table's expectation is what this browser really did.
        assert_eq!(
            table.expect == corscope::demo::scenarios::Expect::Blocked,
            threw,
            "{id}: the demo table disagrees with Chromium ({})",
            r["detail"]
        );
        if blocked != Some(threw) {
            disagreements.push(format!(
                "{id}: page {} but corscope says {:?} ({})",
                r["fetch"], blocked, r["detail"]
            ));
        }
    }
    if https {
        // Every demo exchange was seen inside the interception, over TLS.
        assert!(store
            .snapshot()
            .exchanges
            .iter()
            .filter(|e| e.request.url.contains("/api/"))
            .all(|e| e.request.url.starts_with("https://")));
    }
    println!(
        "chromium vs corscope ({}): {}/{} fetches agree",
        demo.scheme,
        page_results.len() - disagreements.len(),
        page_results.len()
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");

    // Chromium's own background traffic reached the proxy too: it must be handled quietly
    // (never judged as CORS traffic) and never stop the proxy.
    for ex in store.snapshot().exchanges {
        if !ex.request.url.contains("127.0.0.1") {
            assert!(ex.response.as_ref().is_none_or(|r| r.status >= 400));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_emulation_gets_the_browsers_verdicts() {
    // The emulated traffic must produce, per scenario, the verdict the scenario table says a
    // browser gets (the table is checked against Chromium by the test above).
    let data = tempfile::tempdir().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let demo = server::start("127.0.0.1".parse().unwrap(), rx)
        .await
        .unwrap();
    let running = start(data.path(), None).await;
    let results = traffic::run_all(
        running.proxy,
        &demo.page_origin(),
        &demo.api_origin(),
        Profile::Chrome,
    )
    .await;
    let corscope = blocked_by_scenario(running).await;
    for (s, (id, result)) in SCENARIOS.iter().zip(&results) {
        let expect_blocked = s.expect == corscope::demo::scenarios::Expect::Blocked;
        assert_eq!(corscope.get(*id).copied(), Some(expect_blocked), "{id}");
        assert_eq!(
            matches!(result, traffic::FetchResult::Rejected(_)),
            expect_blocked,
            "{id}: emulated fetch {result:?}"
        );
    }
}
