//! Upstream faults through corscope, each tried against a real server that misbehaves on
//! purpose (raw TCP servers, rustls servers with bad certificates, an h2 server that sends
//! GOAWAY and RST_STREAM, servers that go silent). For every fault:
//! - the client gets a clean error: 502/504 with a one-line cause, or, when the response
//!   was already streaming, an aborted connection (or h2 stream) — never a short body that
//!   looks complete;
//! - the exchange is recorded with the cause in `error`;
//! - nothing else is disturbed: a good request in parallel and one after it succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use corscope::capture::exchange::Exchange;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

// ---------------------------------------------------------------------------------------
// Misbehaving raw upstreams

/// What a raw upstream does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehave {
    /// Answers with bytes that are not HTTP.
    Garbage,
    /// A status line, then a header line without a colon.
    InvalidHeader,
    /// Two different Content-Length values.
    ConflictingLengths,
    /// Content-Length: abc.
    InvalidLength,
    /// Both Content-Length and Transfer-Encoding: chunked (the chunked body is the real one).
    LengthAndChunked,
    /// Reads the request and closes without a word.
    CloseBeforeResponse,
    /// Head + half the Content-Length, then (on `go`) a TCP reset (SO_LINGER 0).
    ResetMidBody,
    /// A chunked head + one chunk, then (on `go`) a clean close without the last chunk.
    CloseMidChunked,
    /// Reads the request, never answers.
    SilentHead,
    /// Head + part of the body, then silence with the connection open.
    StallMidBody,
    /// A body sent slowly but steadily (a byte every 300 ms).
    Trickle,
    /// Plain HTTP where TLS is expected: answers the ClientHello with an HTTP 400.
    PlainHttpOnTlsPort,
    /// Accepts, reads the ClientHello, closes.
    CloseDuringHandshake,
    /// Accepts, reads the ClientHello, never answers.
    SilentTls,
}

struct Raw {
    addr: SocketAddr,
    /// Lets a mid-body fault proceed once the client has seen the first bytes.
    go: Arc<Notify>,
}

async fn raw_upstream(behaviour: Misbehave) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let go = Arc::new(Notify::new());
    let trigger = go.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(misbehave(tcp, behaviour, trigger.clone()));
        }
    });
    Raw { addr, go }
}

/// Read up to the end of a request head (or whatever the peer sends first).
async fn read_request(tcp: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if seen.first() == Some(&0x16) {
            return; // a TLS ClientHello
        }
    }
}

async fn misbehave(mut tcp: TcpStream, behaviour: Misbehave, go: Arc<Notify>) {
    use Misbehave::*;
    read_request(&mut tcp).await;
    let head_and = |head: &str, body: &[u8]| {
        let mut v = head.as_bytes().to_vec();
        v.extend_from_slice(body);
        v
    };
    let write = match behaviour {
        Garbage => b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02\xff\xfe".to_vec(),
        InvalidHeader => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nThis Is Not A Header\r\n\r\nok"
            .to_vec(),
        ConflictingLengths => {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec()
        }
        InvalidLength => b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello".to_vec(),
        LengthAndChunked => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
        CloseBeforeResponse | CloseDuringHandshake => return,
        ResetMidBody => head_and(
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
            &[b'r'; 50_000],
        ),
        CloseMidChunked => head_and(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            format!("1000\r\n{}\r\n", "c".repeat(0x1000)).as_bytes(),
        ),
        StallMidBody => head_and("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", &[b's'; 100]),
        Trickle => b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n".to_vec(),
        PlainHttpOnTlsPort => {
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
        SilentHead | SilentTls => Vec::new(),
    };
    if tcp.write_all(&write).await.is_err() {
        return;
    }
    match behaviour {
        ResetMidBody => {
            go.notified().await;
            tcp.set_zero_linger().unwrap();
            drop(tcp); // RST, not FIN
        }
        CloseMidChunked => {
            go.notified().await;
            let _ = tcp.shutdown().await;
        }
        Trickle => {
            for b in b"slow.." {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if tcp.write_all(&[*b]).await.is_err() {
                    return;
                }
            }
            let _ = tcp.read(&mut [0u8; 1]).await;
        }
        SilentHead | SilentTls | StallMidBody => {
            // Hold the connection open until the peer gives up.
            let _ = tcp.read_to_end(&mut Vec::new()).await;
        }
        _ => {
            let _ = tcp.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the client must see

/// The outcome a fault must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// corscope answers this status; its one-line body and the recorded error both contain
    /// every word.
    Answer(u16, &'static [&'static str]),
    /// The response head comes through, then the body fails: the client's read errors out
    /// after the first bytes, and the recorded error contains every word.
    Aborted(&'static [&'static str]),
    /// Not a fault after all: the client gets exactly this body; nothing is recorded as an
    /// error.
    Passed(&'static str),
}

/// Check a response against `expect`; `go` lets a mid-body fault proceed once the first
/// bytes arrived. Returns the response body text for `Answer`.
async fn check_response(resp: Response<Incoming>, expect: Expect, go: Option<&Notify>) {
    match expect {
        Expect::Answer(status, words) => {
            assert_eq!(resp.status().as_u16(), status);
            let text = String::from_utf8(body_bytes(resp).await.to_vec()).unwrap();
            assert_eq!(text.lines().count(), 1, "one line: {text:?}");
            assert!(text.starts_with("corscope: "), "{text}");
            for w in words {
                assert!(text.contains(w), "{w:?} not in the client's body {text:?}");
            }
        }
        Expect::Aborted(_) => {
            assert_eq!(resp.status(), StatusCode::OK);
            let mut body = resp.into_body();
            let first = tokio::time::timeout(WAIT, body.frame())
                .await
                .expect("first bytes in time")
                .expect("a first frame")
                .expect("the first bytes arrive intact");
            assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
            if let Some(go) = go {
                go.notify_one();
            }
            let ended = tokio::time::timeout(WAIT, async {
                loop {
                    match body.frame().await {
                        None => return Ok(()),
                        Some(Err(e)) => return Err(e),
                        Some(Ok(_)) => {}
                    }
                }
            })
            .await
            .expect("the body ends or fails in time");
            assert!(
                ended.is_err(),
                "the client must see the body fail, not end as if complete"
            );
        }
        Expect::Passed(body) => {
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(
                resp.headers().get("content-length").is_none()
                    || resp.headers().get("transfer-encoding").is_none(),
                "one framing only: {:?}",
                resp.headers()
            );
            assert_eq!(body_bytes(resp).await.as_ref(), body.as_bytes());
        }
    }
}

/// Wait for the exchange recorded for `url` and check its error against `expect`.
async fn check_recorded(proxy: &TestProxy, url: &str, expect: Expect) -> Arc<Exchange> {
    let mut changes = proxy.store.subscribe();
    let ex = tokio::time::timeout(WAIT, async {
        loop {
            let found = proxy
                .store
                .snapshot()
                .exchanges
                .into_iter()
                .find(|e| e.request.url == url);
            if let Some(ex) = found {
                return ex;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no exchange recorded for {url}"));
    // Shown with --nocapture: the causes as a user reads them.
    eprintln!("{url}\n    error: {:?}", ex.error);
    match expect {
        Expect::Answer(status, words) => {
            let error = ex.error.as_deref().expect("an error is recorded");
            for w in words {
                assert!(
                    error.contains(w),
                    "{w:?} not in the recorded error {error:?}"
                );
            }
            assert!(ex.synthetic_response);
            assert_eq!(ex.response.as_ref().unwrap().status, status);
        }
        Expect::Aborted(words) => {
            let error = ex.error.as_deref().expect("an error is recorded");
            for w in words {
                assert!(
                    error.contains(w),
                    "{w:?} not in the recorded error {error:?}"
                );
            }
            assert!(!ex.synthetic_response, "the upstream's own head is kept");
            assert_eq!(ex.response.as_ref().unwrap().status, 200);
        }
        Expect::Passed(_) => assert!(ex.error.is_none(), "{:?}", ex.error),
    }
    ex
}

/// A good request through the proxy (plain HTTP, 200 KB streamed): must succeed whole.
async fn good_request(proxy: SocketAddr, good: SocketAddr) {
    let mut send = h1_to_proxy(proxy).await;
    let req = Request::get(format!("http://{good}/bytes?n=200000"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("good request answered in time")
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = body_bytes(resp).await;
    assert_eq!(body.len(), 200_000);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(i as u64)));
}

/// One fault over plain HTTP, with a good request in parallel and one after.
async fn try_plain(proxy: &TestProxy, good: SocketAddr, behaviour: Misbehave, expect: Expect) {
    let raw = raw_upstream(behaviour).await;
    let url = format!("http://{}/{behaviour:?}", raw.addr);
    let parallel = tokio::spawn(good_request(proxy.addr, good));
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(&url).body(Empty::<Bytes>::new()).unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .unwrap_or_else(|_| panic!("{behaviour:?}: no answer in time"))
        .unwrap_or_else(|e| panic!("{behaviour:?}: no response head: {e}"));
    check_response(resp, expect, Some(&raw.go)).await;
    parallel.await.expect("the parallel good request succeeded");
    if let Expect::Answer(..) = expect {
        // The client's connection is still usable after corscope's own answer.
        let req = Request::get(format!("http://{good}/echo"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        assert_eq!(send.send_request(req).await.unwrap().status(), 200);
    }
    good_request(proxy.addr, good).await;
    check_recorded(proxy, &url, expect).await;
}

#[tokio::test]
async fn plain_http_upstream_faults_are_502s_or_aborts_and_recorded() {
    use Misbehave::*;
    let good = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let table: &[(Misbehave, Expect)] = &[
        (Garbage, Expect::Answer(502, &["invalid response", "HTTP"])),
        (
            InvalidHeader,
            Expect::Answer(502, &["invalid response", "header"]),
        ),
        (
            ConflictingLengths,
            Expect::Answer(502, &["invalid response", "content-length"]),
        ),
        (
            InvalidLength,
            Expect::Answer(502, &["invalid response", "content-length"]),
        ),
        (
            CloseBeforeResponse,
            Expect::Answer(502, &["closed the connection before sending a response"]),
        ),
        (
            ResetMidBody,
            Expect::Aborted(&["response body from upstream failed after", "reset"]),
        ),
        (
            CloseMidChunked,
            Expect::Aborted(&["response body from upstream failed after"]),
        ),
        (LengthAndChunked, Expect::Passed("hello world")),
    ];
    for &(behaviour, expect) in table {
        try_plain(&proxy, good.addr, behaviour, expect).await;
    }
    // Every fault is one exchange, every good request another: nothing went missing.
    let answers = table
        .iter()
        .filter(|(_, e)| matches!(e, Expect::Answer(..)))
        .count();
    let expected = table.len() * 3 + answers;
    let exchanges = proxy.exchanges(expected).await;
    assert_eq!(exchanges.len(), expected);
    assert_eq!(proxy.store.stats().total_exchanges, expected as u64);
}

#[tokio::test]
async fn refused_connections_and_unknown_hosts_are_502s_and_recorded() {
    let good = start_upstream(None).await;
    let proxy = start_proxy(None, |_| {}).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (
            format!("http://{dead}/refused"),
            Expect::Answer(502, &["refused"]),
        ),
        (
            "http://no-such-host.invalid/dns".to_owned(),
            Expect::Answer(502, &["DNS lookup for no-such-host.invalid failed"]),
        ),
    ];
    for (url, expect) in cases {
        let parallel = tokio::spawn(good_request(proxy.addr, good.addr));
        let mut send = h1_to_proxy(proxy.addr).await;
        let req = Request::get(&url).body(Empty::<Bytes>::new()).unwrap();
        let resp = tokio::time::timeout(WAIT, send.send_request(req))
            .await
            .expect("answered in time")
            .unwrap();
        check_response(resp, expect, None).await;
        parallel.await.unwrap();
        good_request(proxy.addr, good.addr).await;
        check_recorded(&proxy, &url, expect).await;
    }
}

// ---------------------------------------------------------------------------------------
// TLS through the interception

/// A CA the proxy trusts, and leaves signed by it however a test needs them.
struct Signer {
    cert: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl Signer {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "hardening test CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server config for a leaf valid for `names`; expired when `expired`; self-signed
    /// (not from this CA) when `self_signed`.
    fn server(&self, names: &[&str], expired: bool, self_signed: bool) -> Arc<ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let leaf = if self_signed {
            params.self_signed(&key).unwrap()
        } else {
            params.signed_by(&key, &self.issuer).unwrap()
        };
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der().clone()], der)
                .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A TLS server answering every request with "ok" (when a client gets that far).
async fn tls_upstream(config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = TlsAcceptor::from(config.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"ok",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

/// GET `path` on `target` through the interception (HTTP/1.1 inside the tunnel).
async fn intercepted_get(proxy: &TestProxy, target: SocketAddr, path: &str) -> Response<Incoming> {
    let tunnel = connect_tunnel(proxy.addr, &target.to_string()).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"http/1.1"])
        .await
        .expect("the client trusts corscope's CA");
    let mut send = h1_over(tls).await;
    let req = Request::get(path)
        .header("host", target.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("answered in time")
        .unwrap()
}

#[tokio::test]
async fn upstream_tls_failures_name_the_kind_and_how_to_get_past_it() {
    let signer = Signer::new();
    let trusted = TestCa::new();
    let good = start_upstream(Some(trusted.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&trusted), |c| {
        c.upstream_trust.extra_ca_certs.push(signer.cert.clone());
    })
    .await;
    let expired = tls_upstream(signer.server(&["127.0.0.1"], true, false)).await;
    let wrong_name = tls_upstream(signer.server(&["wrong.test"], false, false)).await;
    let self_signed = tls_upstream(signer.server(&["127.0.0.1"], false, true)).await;
    let plain = raw_upstream(Misbehave::PlainHttpOnTlsPort).await.addr;
    let closing = raw_upstream(Misbehave::CloseDuringHandshake).await.addr;
    let cases: [(&str, SocketAddr, Expect); 5] = [
        (
            "expired",
            expired,
            Expect::Answer(
                502,
                &["certificate expired on 2021-01-01", "--insecure-upstream"],
            ),
        ),
        (
            "wrong-name",
            wrong_name,
            Expect::Answer(
                502,
                &[
                    "name mismatch: the certificate is for wrong.test, not 127.0.0.1",
                    "--insecure-upstream",
                ],
            ),
        ),
        (
            "self-signed",
            self_signed,
            Expect::Answer(
                502,
                &["unknown issuer", "--upstream-ca", "--insecure-upstream"],
            ),
        ),
        (
            "plain-http",
            plain,
            Expect::Answer(502, &["did not answer with TLS", "http://"]),
        ),
        (
            "closed",
            closing,
            Expect::Answer(502, &["closed the connection during the handshake"]),
        ),
    ];
    for (name, addr, expect) in cases {
        let path = format!("/{name}");
        // In parallel: a good intercepted request in its own tunnel.
        let good_in_parallel = intercepted_get(&proxy, good.addr, "/echo");
        let (faulty, fine) = tokio::join!(intercepted_get(&proxy, addr, &path), good_in_parallel);
        assert_eq!(fine.status(), StatusCode::OK);
        check_response(faulty, expect, None).await;
        let after = intercepted_get(&proxy, good.addr, "/echo").await;
        assert_eq!(after.status(), StatusCode::OK);
        let url = format!("https://{addr}{path}");
        let ex = check_recorded(&proxy, &url, expect).await;
        assert!(ex
            .error
            .as_deref()
            .unwrap()
            .contains("upstream TLS handshake with 127.0.0.1"));
    }

    // The hint works: with --insecure-upstream all three are reached.
    let insecure = start_proxy(None, |c| c.upstream_trust.insecure = true).await;
    for addr in [expired, wrong_name, self_signed] {
        let resp = intercepted_get(&insecure, addr, "/").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body_bytes(resp).await.as_ref(), b"ok");
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/2 upstreams that send GOAWAY or RST_STREAM

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H2Fault {
    /// Answers, then a graceful GOAWAY: every connection serves one stream.
    GoawayAfterEachStream,
    /// Head + 1000 of 100000 bytes, then (on `go`) GOAWAY(INTERNAL_ERROR) and close.
    GoawayMidStream,
    /// RST_STREAM(INTERNAL_ERROR) instead of a response.
    ResetOnRequest,
    /// Head + 1000 of 100000 bytes, then (on `go`) RST_STREAM(INTERNAL_ERROR).
    ResetMidBody,
}

enum Kill {
    Graceful,
    Abrupt(h2::Reason),
}

struct H2Upstream {
    addr: SocketAddr,
    go: Arc<Notify>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// An h2-only TLS upstream (certificate from `ca`): `/good` is always answered; any other
/// path gets `fault`.
async fn h2_upstream(ca: &TestCa, fault: H2Fault) -> H2Upstream {
    let acceptor = TlsAcceptor::from(ca.server_config(&[b"h2"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let go = Arc::new(Notify::new());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (trigger, count) = (go.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, go) = (acceptor.clone(), trigger.clone());
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve_h2(tls, fault, go).await;
                }
            });
        }
    });
    H2Upstream {
        addr,
        go,
        connections,
    }
}

async fn serve_h2<T>(io: T, fault: H2Fault, go: Arc<Notify>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut conn) = h2::server::handshake(io).await else {
        return;
    };
    let (kill_tx, mut kill_rx) = tokio::sync::mpsc::unbounded_channel();
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => {
                    tokio::spawn(h2_stream(req, respond, fault, go.clone(), kill_tx.clone()));
                }
                _ => return,
            },
            Some(kill) = kill_rx.recv() => match kill {
                Kill::Graceful => conn.graceful_shutdown(),
                Kill::Abrupt(reason) => conn.abrupt_shutdown(reason),
            },
        }
    }
}

async fn h2_stream(
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    fault: H2Fault,
    go: Arc<Notify>,
    kill: tokio::sync::mpsc::UnboundedSender<Kill>,
) {
    if req.uri().path() == "/good" || fault == H2Fault::GoawayAfterEachStream {
        let mut s = respond.send_response(Response::new(()), false).unwrap();
        s.send_data(Bytes::from_static(b"good"), true).unwrap();
        if fault == H2Fault::GoawayAfterEachStream {
            let _ = kill.send(Kill::Graceful);
        }
        return;
    }
    if fault == H2Fault::ResetOnRequest {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    }
    let head = Response::builder()
        .header("content-length", "100000")
        .body(())
        .unwrap();
    let mut s = respond.send_response(head, false).unwrap();
    s.send_data(Bytes::from(vec![b'h'; 1000]), false).unwrap();
    go.notified().await;
    if fault == H2Fault::ResetMidBody {
        s.send_reset(h2::Reason::INTERNAL_ERROR);
    } else {
        let _ = kill.send(Kill::Abrupt(h2::Reason::INTERNAL_ERROR));
    }
    // Keep the stream's handle: dropping it would reset the stream by itself.
    std::future::pending::<()>().await;
}

type H2Send = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An h2 client connection to `target` through the interception.
async fn h2_through(proxy: &TestProxy, target: SocketAddr) -> H2Send {
    let tunnel = connect_tunnel(proxy.addr, &target.to_string()).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"h2"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_get(send: &mut H2Send, target: SocketAddr, path: &str) -> Response<Incoming> {
    let req = Request::get(format!("https://{target}{path}"))
        .version(Version::HTTP_2)
        .body(Empty::<Bytes>::new())
        .unwrap();
    tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("answered in time")
        .expect("a response head")
}

async fn h2_good(send: &mut H2Send, target: SocketAddr) {
    let resp = h2_get(send, target, "/good").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_bytes(resp).await.as_ref(), b"good");
}

#[tokio::test]
async fn http2_upstream_resets_are_502s_or_aborted_streams_and_recorded() {
    let ca = TestCa::new();
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let table = [
        (
            H2Fault::ResetOnRequest,
            Expect::Answer(502, &["before sending a response", "stream error received"]),
        ),
        (
            H2Fault::ResetMidBody,
            Expect::Aborted(&[
                "response body from upstream failed after 1000 bytes",
                "stream error received",
            ]),
        ),
    ];
    for (fault, expect) in table {
        let upstream = h2_upstream(&ca, fault).await;
        let target = upstream.addr;
        let mut send = h2_through(&proxy, target).await;
        let path = format!("/{fault:?}");
        // On the same client connection, and so the same upstream connection (opened by
        // this first request: before it, corscope cannot know the upstream speaks h2): a
        // good stream before the faulty one, one beside it, and one after it.
        h2_good(&mut send, target).await;
        let mut beside = send.clone();
        let faulty = async {
            let resp = h2_get(&mut send.clone(), target, &path).await;
            check_response(resp, expect, Some(&upstream.go)).await;
        };
        tokio::join!(faulty, h2_good(&mut beside, target));
        h2_good(&mut send, target).await;
        check_recorded(&proxy, &format!("https://{target}{path}"), expect).await;
        assert_eq!(
            upstream
                .connections
                .load(std::sync::atomic::Ordering::SeqCst),
            1,
            "a stream reset leaves the upstream connection in use"
        );
    }
}

#[tokio::test]
async fn http2_goaway_mid_stream_aborts_that_stream_only() {
    let ca = TestCa::new();
    let good = start_upstream(Some(ca.server_config(&[b"h2"]))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let upstream = h2_upstream(&ca, H2Fault::GoawayMidStream).await;
    let target = upstream.addr;
    let mut send = h2_through(&proxy, target).await;
    let mut elsewhere = h2_through(&proxy, good.addr).await;
    let expect = Expect::Aborted(&["response body from upstream failed after 1000 bytes"]);
    let faulty = async {
        let resp = h2_get(&mut send.clone(), target, "/goaway").await;
        check_response(resp, expect, Some(&upstream.go)).await;
    };
    let beside = async {
        let resp = h2_get(&mut elsewhere.clone(), good.addr, "/echo").await;
        assert_eq!(resp.status(), StatusCode::OK);
    };
    tokio::join!(faulty, beside);
    check_recorded(&proxy, &format!("https://{target}/goaway"), expect).await;
    // After the GOAWAY: the same client connection still works (a new upstream
    // connection), and so does everything else.
    h2_good(&mut send, target).await;
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    let resp = h2_get(&mut elsewhere, good.addr, "/echo").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn http2_goaway_after_each_stream_costs_nothing() {
    let ca = TestCa::new();
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let upstream = h2_upstream(&ca, H2Fault::GoawayAfterEachStream).await;
    let target = upstream.addr;
    let send = h2_through(&proxy, target).await;
    // Four streams at a time, so some are sent while a GOAWAY is on its way.
    const TASKS: usize = 4;
    const EACH: usize = 10;
    const N: usize = TASKS * EACH;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let mut send = send.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let resp = h2_get(&mut send, target, &format!("/after-goaway/{t}/{i}")).await;
                    assert_eq!(resp.status(), StatusCode::OK, "request {t}/{i}");
                    assert_eq!(body_bytes(resp).await.as_ref(), b"good");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let exchanges = proxy.exchanges(N).await;
    assert!(exchanges.iter().all(|e| e.error.is_none()), "{exchanges:?}");
    assert!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );
}

// ---------------------------------------------------------------------------------------
// Slow upstreams

fn quick_timeouts(c: &mut corscope::config::ProxyConfig) {
    c.connect_timeout = Duration::from_secs(1);
    c.response_timeout = Duration::from_secs(1);
    c.body_idle_timeout = Some(Duration::from_secs(1));
}

#[tokio::test]
async fn slow_upstreams_get_504_or_an_abort_and_steady_ones_are_left_alone() {
    use Misbehave::*;
    let good = start_upstream(None).await;
    let proxy = start_proxy(None, quick_timeouts).await;
    let table: &[(Misbehave, Expect)] = &[
        (
            SilentHead,
            Expect::Answer(504, &["no response within 1 s", "--response-timeout"]),
        ),
        (
            StallMidBody,
            Expect::Aborted(&["after 100 bytes", "no data from upstream for 1 s"]),
        ),
        (Trickle, Expect::Passed("slow..")),
    ];
    for &(behaviour, expect) in table {
        try_plain(&proxy, good.addr, behaviour, expect).await;
    }
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_a_connect_timeout() {
    let ca = TestCa::new();
    let good = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&ca), quick_timeouts).await;
    let silent = raw_upstream(Misbehave::SilentTls).await.addr;
    let expect = Expect::Answer(504, &["timed out after 1 s", "--connect-timeout"]);
    let (faulty, fine) = tokio::join!(
        intercepted_get(&proxy, silent, "/silent"),
        intercepted_get(&proxy, good.addr, "/echo")
    );
    assert_eq!(fine.status(), StatusCode::OK);
    check_response(faulty, expect, None).await;
    assert_eq!(
        intercepted_get(&proxy, good.addr, "/echo").await.status(),
        200
    );
    check_recorded(&proxy, &format!("https://{silent}/silent"), expect).await;
}

/// A listener whose accept queue is full (nothing ever accepts): a new TCP connect to it
/// gets no answer at all. Returns it with the connections that fill it.
async fn unanswering_listener() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => held.push(tcp),
            Ok(Err(e)) => panic!("connect failed instead of hanging: {e}"),
            Err(_) => return (addr, listener, held),
        }
    }
    panic!("the accept queue never filled: cannot make a connect hang here");
}

#[tokio::test]
async fn a_tcp_connect_that_gets_no_answer_is_a_504() {
    let good = start_upstream(None).await;
    let proxy = start_proxy(None, quick_timeouts).await;
    let (addr, _listener, _held) = unanswering_listener().await;
    let url = format!("http://{addr}/never-accepted");
    let expect = Expect::Answer(504, &["connecting to 127.0.0.1", "timed out after 1 s"]);
    let parallel = tokio::spawn(good_request(proxy.addr, good.addr));
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(&url).body(Empty::<Bytes>::new()).unwrap();
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .expect("answered in time")
        .unwrap();
    check_response(resp, expect, None).await;
    parallel.await.unwrap();
    good_request(proxy.addr, good.addr).await;
    check_recorded(&proxy, &url, expect).await;
}

#[tokio::test]
async fn a_slow_client_is_not_taken_for_a_stalled_upstream() {
    // The idle timer runs only while corscope waits for upstream data; a client that stops
    // reading for longer than the timeout still gets every byte.
    let good = start_upstream(None).await;
    let proxy = start_proxy(None, quick_timeouts).await;
    let n = 8 * 1024 * 1024u64;
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{}/bytes?n={n}", good.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let mut body = resp.into_body();
    let mut got = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap()
        .len() as u64;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    while let Some(frame) = body.frame().await {
        got += frame
            .expect("no error")
            .into_data()
            .map_or(0, |d| d.len() as u64);
    }
    assert_eq!(got, n);
    let exchanges = proxy.exchanges(1).await;
    assert!(exchanges[0].error.is_none(), "{:?}", exchanges[0].error);
}
