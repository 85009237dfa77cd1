//! HTTPS through corscope: interception with HTTP/1.1 and HTTP/2 (ALPN on both legs),
//! WebSocket over TLS, `--ignore-hosts` tunnelling, a client that rejects corscope's CA,
//! and upstream certificate verification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::*;
use corscope::capture::event::EventKind;
use corscope::config::HostMatcher;
use http::{Request, StatusCode, Version};
use http_body_util::{Empty, Full};
use rustls::RootCertStore;

const H2_H1: [&[u8]; 2] = [b"h2", b"http/1.1"];

#[tokio::test]
async fn intercepted_http1_round_trip_is_recorded_as_https() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut send = h1_over(tls).await;
    let req = Request::post("/echo?q=1")
        .header("host", &target)
        .body(Full::new(Bytes::from_static(b"secret body")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The client spoke HTTP/1.1, so the upstream leg did too.
    assert_eq!(resp.headers()["x-seen-version"], "HTTP/1.1");
    assert_eq!(body_bytes(resp).await.as_ref(), b"secret body");
    let exchanges = proxy.exchanges(1).await;
    let ex = &exchanges[0];
    assert_eq!(ex.request.url, format!("https://{target}/echo?q=1"));
    assert_eq!(ex.request.http_version, "HTTP/1.1");
    assert_eq!(ex.request.body.captured.as_ref(), b"secret body");
    assert_eq!(ex.response.as_ref().unwrap().http_version, "HTTP/1.1");
}

#[tokio::test]
async fn http2_is_spoken_on_both_legs_of_an_interception() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &H2_H1)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let req = Request::put(format!("https://{target}/echo"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from_static(b"over h2")))
        .unwrap();
    let resp = h2_request(tls, req).await;
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.headers()["x-seen-version"], "HTTP/2.0");
    assert_eq!(body_bytes(resp).await.as_ref(), b"over h2");
    let exchanges = proxy.exchanges(1).await;
    let ex = &exchanges[0];
    assert_eq!(ex.request.http_version, "HTTP/2");
    assert_eq!(ex.request.method, "PUT");
    assert_eq!(ex.response.as_ref().unwrap().http_version, "HTTP/2");
    assert_eq!(ex.request.body.captured.as_ref(), b"over h2");
}

#[tokio::test]
async fn h2_client_reaches_an_http1_only_upstream() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &H2_H1)
        .await
        .unwrap();
    let req = Request::get(format!("https://{target}/bytes?n=100000"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = h2_request(tls, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_bytes(resp).await.len(), 100_000);
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(
        exchanges[0].response.as_ref().unwrap().http_version,
        "HTTP/1.1"
    );
}

#[tokio::test]
async fn websocket_passes_through_interception() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"http/1.1"])
        .await
        .unwrap();
    let send = h1_over(tls).await;
    let echoed = websocket_echo(send, "/ws", &target, Empty::<Bytes>::new()).await;
    assert_eq!(echoed, ["hello", "corscope"]);
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(exchanges[0].request.url, format!("https://{target}/ws"));
    assert_eq!(exchanges[0].response.as_ref().unwrap().status, 101);
}

#[tokio::test]
async fn ignored_hosts_are_tunnelled_untouched() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(None, |c| {
        c.ignore_hosts = HostMatcher::new(&["127.0.0.*".to_owned()]).unwrap();
    })
    .await;
    let tunnel = connect_tunnel(proxy.addr, &upstream.addr.to_string()).await;
    // Trusting only the upstream's own CA: works only if corscope did not intercept.
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let tls = tls_over(tunnel, roots, &[b"http/1.1"]).await.unwrap();
    let (_, session) = tls.get_ref();
    let presented = session.peer_certificates().unwrap();
    assert_eq!(presented[0], ca.leaf_chain[0]);
    let mut send = h1_over(tls).await;
    let req = Request::get("/echo")
        .header("host", upstream.addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(
        send.send_request(req).await.unwrap().status(),
        StatusCode::OK
    );
    assert!(proxy.store.snapshot().exchanges.is_empty());
}

#[tokio::test]
async fn a_client_that_rejects_the_ca_is_recorded_as_an_event_with_a_hint() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let mut changes = proxy.store.subscribe();
    let tunnel = connect_tunnel(proxy.addr, &upstream.addr.to_string()).await;
    // This client trusts the upstream's CA, not corscope's.
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    assert!(tls_over(tunnel, roots, &[b"http/1.1"]).await.is_err());
    let event = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(e) = proxy.store.snapshot().events.first().cloned() {
                return e;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(event.kind, EventKind::ClientTlsFailed);
    assert_eq!(event.host.as_deref(), Some("127.0.0.1"));
    assert!(event.message.contains("corscope ca"), "{}", event.message);
}

#[tokio::test]
async fn untrusted_upstream_certificate_gets_502_and_upstream_ca_fixes_it() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let target = upstream.addr.to_string();
    for (trusted, want) in [(false, StatusCode::BAD_GATEWAY), (true, StatusCode::OK)] {
        let proxy = start_proxy(trusted.then_some(&ca), |_| {}).await;
        let resp = intercepted_get(proxy.addr, &target, "/echo", proxy.client_roots()).await;
        assert_eq!(resp.status(), want);
        let exchanges = proxy.exchanges(1).await;
        if !trusted {
            let error = exchanges[0].error.as_deref().unwrap();
            assert!(error.contains("TLS"), "{error}");
        }
    }
}

#[tokio::test]
async fn insecure_upstream_skips_verification() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(None, |c| c.upstream_trust.insecure = true).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &H2_H1)
        .await
        .unwrap();
    let req = Request::get(format!("https://{target}/echo"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(h2_request(tls, req).await.status(), StatusCode::OK);
    let warnings = proxy.store.snapshot().events;
    assert!(warnings.iter().any(|e| e.message.contains("insecure")));
}

#[tokio::test]
async fn concurrent_first_connections_to_one_host_mint_one_certificate() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let roots = proxy.client_roots();
        let addr = proxy.addr;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let tunnel = connect_tunnel(addr, &target).await;
            let tls = tls_over(tunnel, roots, &[b"http/1.1"]).await.unwrap();
            tls.get_ref().1.peer_certificates().unwrap()[0].clone()
        }));
    }
    let mut certs = Vec::new();
    for task in tasks {
        certs.push(task.await.unwrap());
    }
    assert!(
        certs.windows(2).all(|w| w[0] == w[1]),
        "one leaf for one host"
    );
}

#[tokio::test]
async fn an_upstream_that_never_completes_tls_gets_504() {
    // Accepts TCP and then says nothing: the upstream TLS handshake cannot finish.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = silent.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let proxy = start_proxy(None, |c| {
        c.connect_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let resp = intercepted_get(proxy.addr, &target, "/", proxy.client_roots()).await;
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    let text = String::from_utf8(body_bytes(resp).await.to_vec()).unwrap();
    assert!(text.contains("timed out"), "{text}");
    let exchanges = proxy.exchanges(1).await;
    assert!(exchanges[0].error.as_deref().unwrap().contains("timed out"));
}

#[tokio::test]
async fn an_ignored_host_that_is_down_gets_502_on_connect_and_is_recorded() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start_proxy(None, |c| {
        c.ignore_hosts = HostMatcher::new(&["127.0.0.1".to_owned()]).unwrap();
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!("CONNECT {dead} HTTP/1.1\r\nHost: {dead}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut tcp, head.as_bytes())
        .await
        .unwrap();
    let response = read_head(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(exchanges[0].request.method, "CONNECT");
    assert_eq!(exchanges[0].request.url, dead.to_string());
    assert!(exchanges[0].error.as_deref().unwrap().contains("refused"));
}

#[tokio::test]
async fn ignore_hosts_also_match_the_tls_server_name() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&H2_H1))).await;
    let proxy = start_proxy(None, |c| {
        c.ignore_hosts = HostMatcher::new(&["local*".to_owned()]).unwrap();
    })
    .await;
    // CONNECT names an IP; only the SNI (localhost) matches the pattern.
    let tunnel = connect_tunnel(proxy.addr, &upstream.addr.to_string()).await;
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let tls = tls_over_named(tunnel, roots, &[b"http/1.1"], "localhost")
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.peer_certificates().unwrap()[0],
        ca.leaf_chain[0]
    );
    let mut send = h1_over(tls).await;
    let req = Request::get("/echo")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(
        send.send_request(req).await.unwrap().status(),
        StatusCode::OK
    );
    assert!(proxy.store.snapshot().exchanges.is_empty());
}

#[tokio::test]
async fn background_connects_to_unresolvable_hosts_end_in_a_quick_502() {
    // Like Chromium's CONNECT accounts.google.com:443 on a machine without DNS.
    let proxy = start_proxy(None, |_| {}).await;
    let host = "accounts.google.invalid";
    let tunnel = connect_tunnel(proxy.addr, &format!("{host}:443")).await;
    let tls = tls_over_named(tunnel, proxy.client_roots(), &H2_H1, host)
        .await
        .unwrap();
    let req = Request::post(format!("https://{host}/ListAccounts"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, h2_request(tls, req))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let exchanges = proxy.exchanges(1).await;
    assert_eq!(
        exchanges[0].request.url,
        format!("https://{host}/ListAccounts")
    );
    assert!(exchanges[0].error.as_deref().unwrap().contains("DNS"));
}

/// An h2-only TLS origin that counts the connections it accepted and, after answering
/// `/close`, ends that connection gracefully (GOAWAY); `ended` counts connections it
/// finished serving.
struct CountingH2 {
    addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ended: tokio::sync::watch::Receiver<usize>,
}

async fn start_counting_h2(ca: &TestCa) -> CountingH2 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (ended_tx, ended) = tokio::sync::watch::channel(0usize);
    let ended_tx = Arc::new(ended_tx);
    let config = ca.server_config(&[b"h2"]);
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let (config, ended_tx) = (config.clone(), ended_tx.clone());
            tokio::spawn(async move {
                let tls = tokio_rustls::TlsAcceptor::from(config)
                    .accept(tcp)
                    .await
                    .unwrap();
                let close = Arc::new(tokio::sync::Notify::new());
                let asked = close.clone();
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    let asked = asked.clone();
                    async move {
                        if req.uri().path() == "/close" {
                            asked.notify_one();
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(full("ok")))
                    }
                });
                let conn =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    () = close.notified() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                ended_tx.send_modify(|n| *n += 1);
            });
        }
    });
    CountingH2 {
        addr,
        accepted,
        ended,
    }
}

/// An HTTP/2 client connection through corscope to `target`, and its socket (shutting it
/// down closes the connection).
async fn h2_client(
    proxy: &TestProxy,
    target: &str,
) -> (
    hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    std::net::TcpStream,
) {
    let tunnel = connect_tunnel(proxy.addr, target).await.into_std().unwrap();
    let socket = tunnel.try_clone().unwrap();
    let tunnel = tokio::net::TcpStream::from_std(tunnel).unwrap();
    let tls = tls_over(tunnel, proxy.client_roots(), &H2_H1)
        .await
        .unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    (send, socket)
}

fn h2_get(target: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://{target}{path}"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn an_h2_clients_streams_share_its_own_upstream_connection_reopened_once_closed() {
    use std::sync::atomic::Ordering;
    let ca = TestCa::new();
    let mut origin = start_counting_h2(&ca).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = origin.addr.to_string();
    let (client, client_conn) = h2_client(&proxy, &target).await;

    // Concurrent streams of one client connection: one upstream connection.
    let streams = (0..8).map(|i| {
        let mut send = client.clone();
        let req = h2_get(&target, &format!("/n{i}"));
        async move { send.send_request(req).await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(streams).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 1);

    // The origin ends that connection; the next request goes over a new one.
    let mut send = client.clone();
    let resp = send.send_request(h2_get(&target, "/close")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    origin.ended.wait_for(|n| *n == 1).await.unwrap();
    let resp = send.send_request(h2_get(&target, "/after")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 2);

    // Another client connection has an upstream connection of its own.
    let (mut other, other_conn) = h2_client(&proxy, &target).await;
    let resp = other.send_request(h2_get(&target, "/other")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 3);

    let exchanges = proxy.exchanges(11).await;
    assert!(exchanges.iter().all(|e| e.error.is_none()), "{exchanges:?}");
    assert!(exchanges
        .iter()
        .all(|e| e.response.as_ref().unwrap().http_version == "HTTP/2"));

    // Client connections gone, their upstream connections close too.
    for socket in [client_conn, other_conn] {
        socket.shutdown(std::net::Shutdown::Both).unwrap();
    }
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        origin.ended.wait_for(|n| *n == 3),
    );
    assert!(
        closed.await.is_ok(),
        "upstream connections outlived their clients"
    );
}

#[tokio::test]
async fn an_h2_client_whose_origin_is_down_gets_a_502_naming_the_cause() {
    let ca = TestCa::new();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = dead.local_addr().unwrap().to_string();
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    // The tunnel is accepted (corscope answers CONNECT itself), then the origin goes.
    let (mut client, _conn) = h2_client(&proxy, &target).await;
    drop(dead);
    let resp = client.send_request(h2_get(&target, "/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let text = String::from_utf8(body_bytes(resp).await.to_vec()).unwrap();
    assert!(
        text.contains(&format!("connecting to 127.0.0.1:{}", &target[10..])),
        "{text}"
    );
    let exchanges = proxy.exchanges(1).await;
    assert!(exchanges[0]
        .error
        .as_deref()
        .unwrap()
        .contains("connecting to"));
}
