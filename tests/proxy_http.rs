//! Plain HTTP through corscope: bodies byte for byte both ways, keep-alive, method case,
//! hop-by-hop headers, faults (dead upstream, DNS failure, malformed requests), WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{Empty, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn content_length_bodies_pass_byte_exact_both_ways_and_are_recorded() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 256) as u8).collect();
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::post(format!("http://{}/echo", upstream.addr))
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_bytes(resp).await.as_ref(), body.as_slice());

    let exchanges = proxy.exchanges(1).await;
    let ex = &exchanges[0];
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.url, format!("http://{}/echo", upstream.addr));
    assert_eq!(ex.request.body.captured.as_ref(), body.as_slice());
    assert_eq!(ex.request.body.total_size, body.len() as u64);
    let response = ex.response.as_ref().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.captured.as_ref(), body.as_slice());
    assert_eq!(ex.server_ip.as_deref(), Some("127.0.0.1"));
    assert!(ex.error.is_none(), "{:?}", ex.error);
}

#[tokio::test]
async fn chunked_bodies_pass_byte_exact_both_ways() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let chunks: VecDeque<Bytes> = ["first,", "second,", "third"]
        .into_iter()
        .map(|s| Bytes::from_static(s.as_bytes()))
        .collect();
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::put(format!("http://{}/echo", upstream.addr))
        .body(Chunks(chunks))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(body_bytes(resp).await.as_ref(), b"first,second,third");

    // A chunked download: no content-length from upstream.
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/bytes?n=300000&chunked", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert!(resp.headers().get("content-length").is_none());
    let got = body_bytes(resp).await;
    assert_eq!(got.len(), 300_000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)));

    let exchanges = proxy.exchanges(2).await;
    assert_eq!(
        exchanges[0].request.body.captured.as_ref(),
        b"first,second,third"
    );
    let download = exchanges[1].response.as_ref().unwrap();
    assert_eq!(download.body.total_size, 300_000);
}

#[tokio::test]
async fn keep_alive_reuses_one_client_connection() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    for _ in 0..2 {
        let req = Request::get(format!("http://{}/echo", upstream.addr))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        body_bytes(resp).await;
    }
    let exchanges = proxy.exchanges(2).await;
    assert_eq!(exchanges[0].connection_id, exchanges[1].connection_id);
}

#[tokio::test]
async fn method_case_is_preserved_on_the_wire_and_in_the_record() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "patch http://{0}/echo HTTP/1.1\r\nHost: {0}\r\nContent-Length: 2\r\nProxy-Connection: keep-alive\r\n\r\nhi",
        upstream.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let response = read_head(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-seen-method: patch"), "{response}");
    // Hop-by-hop headers are not forwarded.
    let seen = response
        .lines()
        .find(|l| l.starts_with("x-seen-headers:"))
        .unwrap()
        .to_ascii_lowercase();
    assert!(!seen.contains("proxy-connection"), "{seen}");
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(exchanges[0].request.method, "patch");
    let names: Vec<&str> = exchanges[0]
        .request
        .headers
        .iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, ["Host", "Content-Length", "Proxy-Connection"]);
}

#[tokio::test]
async fn http1_request_headers_are_recorded_in_wire_order_and_case() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    // Two pipelined requests; the first has a chunked body, the second interleaves
    // duplicate header lines.
    let wire = format!(
        "POST http://{0}/echo HTTP/1.1\r\nHost: {0}\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n0\r\n\r\n\
         GET http://{0}/echo HTTP/1.1\r\nHost: {0}\r\nX-A: 1\r\nx-B: 2\r\nX-A: 3\r\n\r\n",
        upstream.addr
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let exchanges = proxy.exchanges(2).await;
    let mut by_method: Vec<_> = exchanges.iter().collect();
    by_method.sort_by_key(|e| e.request.method.clone());
    let get = &by_method[0].request;
    assert_eq!(get.method, "GET");
    let pairs: Vec<(&str, &str)> = get.headers.iter().map(|h| (h.name, h.value)).collect();
    assert_eq!(pairs[1..], [("X-A", "1"), ("x-B", "2"), ("X-A", "3")]);
    let post = &by_method[1].request;
    assert_eq!(post.headers.iter().next().unwrap().name, "Host");
    assert_eq!(post.body.captured.as_ref(), b"abc");
}

#[tokio::test]
async fn duplicate_response_headers_are_kept() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/dup", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.headers().get_all("set-cookie").iter().count(), 2);
    let exchanges = proxy.exchanges(1).await;
    let headers = &exchanges[0].response.as_ref().unwrap().headers;
    let cookies: Vec<&str> = headers.get_all("set-cookie").collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn dead_upstream_gets_502_naming_the_cause_and_is_recorded() {
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::post(format!("http://{dead}/x"))
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let text = String::from_utf8(body_bytes(resp).await.to_vec()).unwrap();
    assert!(text.contains("refused"), "{text}");
    assert_eq!(text.lines().count(), 1);
    let exchanges = proxy.exchanges(1).await;
    let ex = &exchanges[0];
    assert!(
        ex.error.as_deref().unwrap().contains("refused"),
        "{:?}",
        ex.error
    );
    assert!(ex.synthetic_response);
    assert_eq!(ex.response.as_ref().unwrap().status, 502);

    // Other connections are unaffected.
    let upstream = start_upstream(None).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/echo", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(
        send.send_request(req).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unresolvable_hosts_fail_fast_with_502() {
    // Chromium's background requests (update.googleapis.com, accounts.google.com) hit the
    // proxy in tests without a network: they must end quickly, not hang.
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::post("http://update.googleapis.invalid/service/update2/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let exchanges = proxy.exchanges(1).await;
    assert!(exchanges[0].error.as_deref().unwrap().contains("DNS"));
}

#[tokio::test]
async fn malformed_request_gets_400_and_is_recorded() {
    let proxy = start_proxy(None, |_| {}).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(b"GET http://x/ HTTP/1.1\r\nBad Header\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(exchanges[0].response.as_ref().unwrap().status, 400);
    assert!(exchanges[0].error.as_deref().unwrap().contains("malformed"));
}

#[tokio::test]
async fn origin_form_request_to_the_proxy_gets_400() {
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get("/not-a-proxy-request")
        .header("host", "example.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    proxy.exchanges(1).await;
}

#[tokio::test]
async fn slow_request_heads_are_timed_out() {
    let proxy = start_proxy(None, |c| {
        c.header_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(b"GET http://x/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "connection was not closed by the header timeout"
    );
}

#[tokio::test]
async fn websocket_passes_through_plain_proxy_requests() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let send = h1_to_proxy(proxy.addr).await;
    let uri = format!("http://{}/ws", upstream.addr);
    let echoed = websocket_echo(
        send,
        &uri,
        &upstream.addr.to_string(),
        Empty::<Bytes>::new(),
    )
    .await;
    assert_eq!(echoed, ["hello", "corscope"]);
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(exchanges[0].response.as_ref().unwrap().status, 101);
    assert!(exchanges[0].request.headers.contains("sec-websocket-key"));
}

#[tokio::test]
async fn plain_http_inside_a_connect_tunnel_is_recorded() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let tunnel = connect_tunnel(proxy.addr, &upstream.addr.to_string()).await;
    let mut send = h1_over(tunnel).await;
    let req = Request::post("/echo")
        .header("host", upstream.addr.to_string())
        .body(Full::new(Bytes::from_static(b"in the tunnel")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(body_bytes(resp).await.as_ref(), b"in the tunnel");
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(
        exchanges[0].request.url,
        format!("http://{}/echo", upstream.addr)
    );
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_open_connections_within_the_drain_time() {
    let upstream = start_upstream(None).await;
    let proxy = start_proxy(None, |c| {
        c.drain_timeout = std::time::Duration::from_secs(2)
    })
    .await;
    let addr = proxy.addr;
    // An idle keep-alive connection and an open WebSocket.
    let mut idle = h1_to_proxy(addr).await;
    let req = Request::get(format!("http://{}/echo", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    body_bytes(idle.send_request(req).await.unwrap()).await;
    let mut ws = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET http://{0}/ws HTTP/1.1\r\nHost: {0}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        upstream.addr
    );
    ws.write_all(head.as_bytes()).await.unwrap();
    assert!(read_head(&mut ws).await.starts_with("HTTP/1.1 101"));

    tokio::time::timeout(WAIT, proxy.stop())
        .await
        .expect("drained in time");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, ws.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "WebSocket tunnel closed at shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn requests_to_corscope_itself_are_refused_not_looped() {
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/loop", proxy.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::LOOP_DETECTED);
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "CONNECT localhost:{0} HTTP/1.1\r\nHost: localhost:{0}\r\n\r\n",
        proxy.addr.port()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    assert!(read_head(&mut tcp).await.starts_with("HTTP/1.1 508"));
    let exchanges = proxy.exchanges(2).await;
    assert!(exchanges
        .iter()
        .all(|e| e.error.as_deref().unwrap().contains("itself")));
}
