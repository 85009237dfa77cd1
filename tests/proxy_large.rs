//! A 200 MB download streams through corscope while it keeps only the capture limit:
//! alone in its own test binary so the process's peak memory belongs to this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};

const SIZE: u64 = 200 * 1024 * 1024;
const CAP: usize = 64 * 1024;

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test]
async fn a_200_mb_download_streams_with_bounded_capture_and_memory() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |c| c.max_body_capture = CAP).await;
    let before = peak_rss();
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/bytes?n={SIZE}", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len() as u64;
        }
    }
    assert_eq!(received, SIZE);
    let exchanges = proxy.exchanges(1).await;
    let response = exchanges[0].response.as_ref().unwrap();
    assert_eq!(response.body.total_size, SIZE);
    assert_eq!(response.body.captured.len(), CAP);
    assert!(response.body.is_truncated());
    assert!(response
        .body
        .captured
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(i as u64)));
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        // Upstream, proxy and client all run in this process; none may buffer the body.
        let grown = after.saturating_sub(before);
        assert!(
            grown < 64 * 1024 * 1024,
            "peak memory grew by {grown} bytes"
        );
    }
}
