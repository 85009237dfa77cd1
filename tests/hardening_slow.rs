//! Slow and vanishing clients against a real corscope with its timeouts set low: a head
//! trickled past `--header-timeout` (slowloris), idle keep-alive connections, a request
//! body that stalls past `--body-timeout` (and one that is slow but steady), and a client
//! that reads half of a large streamed response and disappears. After each, the proxy
//! still serves a normal request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod harden;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use corscope::capture::event::EventKind;
use harden::*;
use http::Request;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_trickled_head_is_cut_off_at_the_header_timeout_and_recorded_as_an_event() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| c.header_timeout = SHORT).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "GET http://{}/slowloris HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        upstream.addr
    );
    // One byte every 100 ms: the head would take far longer than the 1 s allowed.
    let mut sent = 0;
    let mut closed = false;
    for byte in head.bytes().chain(std::iter::repeat(b'a')).take(400) {
        if tcp.write_all(&[byte]).await.is_err() {
            closed = true;
            break;
        }
        sent += 1;
        let mut probe = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut probe)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection stayed open through {sent} trickled bytes"
    );
    let event = wait_for_event(&proxy, "--header-timeout").await;
    assert_eq!(event.kind, EventKind::ConnectionError);
    assert!(
        event.message.contains("bytes of a request head"),
        "{}",
        event.message
    );
    println!(
        "slowloris: closed after {sent} bytes (1 per 100 ms) — {}",
        event.message
    );
    assert!(!upstream.raw_contains(b"slowloris"));
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_quietly() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| c.header_timeout = SHORT).await;
    // A keep-alive connection after one request, and one that never sent a byte.
    let mut used = TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!(
        "GET http://{0}/once HTTP/1.1\r\nHost: {0}\r\n\r\n",
        upstream.addr
    );
    used.write_all(wire.as_bytes()).await.unwrap();
    let mut never = TcpStream::connect(proxy.addr).await.unwrap();
    let answer = read_until_closed(&mut used).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(read_until_closed(&mut never).await, "");
    proxy.exchanges(1).await;
    assert!(
        proxy.store.snapshot().events.is_empty(),
        "idle closes are not events: {:?}",
        proxy.store.snapshot().events
    );
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn a_stalled_request_body_ends_with_408_and_is_aborted_upstream() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| c.body_timeout = SHORT).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!(
        "POST http://{0}/stalled HTTP/1.1\r\nHost: {0}\r\nContent-Length: 100\r\n\r\nten bytes!",
        upstream.addr
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--body-timeout"), "{answer}");
    let ex = &proxy.exchanges(1).await[0];
    assert_eq!(ex.response.as_ref().unwrap().status, 408);
    assert!(
        ex.error
            .as_deref()
            .unwrap()
            .contains("no request body bytes for 1 s"),
        "{:?}",
        ex.error
    );
    assert_eq!(ex.request.body.captured.as_ref(), b"ten bytes!");
    upstream
        .wait_for("the stalled request aborted", |s| {
            s.requests.len() == 1
                && s.requests[0]
                    .body
                    .as_ref()
                    .is_err_and(|e| e != "body not read yet")
        })
        .await;
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn a_slow_but_steady_request_body_is_not_cut_off() {
    let upstream = RecordingUpstream::start().await;
    // Generous against the 200 ms gaps below, so a busy machine cannot fail the test.
    let proxy = start_proxy(None, |c| c.body_timeout = Duration::from_secs(2)).await;
    let body = b"slow but steady";
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!(
        "POST http://{0}/steady HTTP/1.1\r\nHost: {0}\r\nContent-Length: {1}\r\nConnection: close\r\n\r\n",
        upstream.addr,
        body.len()
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    // A byte every 200 ms: about 3 s in all, longer than the timeout, never idle that long.
    for byte in body {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tcp.write_all(&[*byte]).await.unwrap();
    }
    let answer = read_until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = upstream.requests();
    assert_eq!(seen[0].body.as_deref().unwrap(), body);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_response_is_recorded_and_the_upstream_released() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/stream?n={SIZE}", upstream.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let mut body = resp.into_body();
    let mut read = 0u64;
    while read < SIZE / 8 {
        let frame = body.frame().await.unwrap().unwrap();
        read += frame.into_data().map_or(0, |d| d.len() as u64);
    }
    // Gone: the response body and the connection are dropped.
    drop(body);
    drop(send);
    let ex = &proxy.exchanges(1).await[0];
    let error = ex.error.as_deref().unwrap();
    assert!(error.contains("the client went away"), "{error}");
    let relayed = ex.response.as_ref().unwrap().body.total_size;
    assert!(relayed >= read && relayed < SIZE, "{relayed} bytes relayed");
    // The upstream connection was closed, not left streaming into nowhere.
    upstream
        .wait_for("the upstream stream stopped", |s| {
            s.stream_write_failures == 1 && s.connections_closed == 1
        })
        .await;
    println!("client vanished after {read} of {SIZE} bytes; recorded: {error}");
    proxy_still_works(proxy.addr, upstream.addr).await;
}
