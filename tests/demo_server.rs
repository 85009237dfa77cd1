//! The demo origins answer each scenario as its table says: real servers on loopback,
//! driven by a real HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use corscope::demo::scenarios::{Value, SCENARIOS};
use corscope::demo::server;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

async fn send(method: &str, url: &str, origin: Option<&str>) -> (u16, http::HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test]
async fn every_scenario_is_served_as_its_table_says() {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let demo = server::start("127.0.0.1".parse().unwrap(), rx)
        .await
        .unwrap();
    let page = demo.page_origin();

    let (status, headers, body) = send("GET", &format!("{page}/"), None).await;
    assert_eq!(status, 200);
    assert!(headers.get("set-cookie").is_some());
    assert!(String::from_utf8_lossy(&body).contains("corscope demo"));
    let (_, _, cfg) = send("GET", &format!("{page}/demo-config.json"), None).await;
    let cfg: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
    assert_eq!(cfg["scenarios"].as_array().unwrap().len(), SCENARIOS.len());
    assert_eq!(cfg["api"]["api"], demo.api_origin());

    for s in SCENARIOS {
        let url = format!("{}{}", demo.api_origin(), s.path());
        let (status, headers, _) = send(s.method, &url, Some(&page)).await;
        assert_eq!(status, s.actual.status, "{}", s.id);
        for (name, v) in s.actual.headers {
            let got = headers.get(*name).map(|h| h.to_str().unwrap().to_owned());
            let want = match v {
                Value::Lit(l) => (*l).to_owned(),
                Value::ReflectOrigin => page.clone(),
                Value::RedirectTarget => format!("{}{}", demo.api2_origin(), s.target_path()),
                Value::PageOrigin => page.clone(),
            };
            assert_eq!(got.as_deref(), Some(want.as_str()), "{} {name}", s.id);
        }
        let (pf_status, _, _) = send("OPTIONS", &url, Some(&page)).await;
        assert_eq!(
            pf_status,
            s.preflight.map_or(404, |p| p.status),
            "{} preflight",
            s.id
        );
        if let Some(target) = s.redirect_target {
            let t = format!("{}{}", demo.api2_origin(), s.target_path());
            let (status, _, _) = send("GET", &t, Some("null")).await;
            assert_eq!(status, target.status, "{} target", s.id);
        }
    }
}

#[tokio::test]
async fn page_results_are_collected() {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut demo = server::start("127.0.0.1".parse().unwrap(), rx)
        .await
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Full<Bytes>>();
    let req = http::Request::post(format!("{}/demo-results", demo.page_origin()))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            b"{\"results\":[{\"id\":\"simple-ok\",\"fetch\":\"resolved\"}]}",
        )))
        .unwrap();
    assert_eq!(client.request(req).await.unwrap().status(), 204);
    let got = demo.wait_results().await.unwrap();
    assert_eq!(got["results"][0]["fetch"], "resolved");
}
