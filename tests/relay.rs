//! The HTTP/1.1 relay (how plain requests go through corscope), checked byte for byte with
//! raw sockets on both sides: a scripted upstream that answers per path and counts its
//! connections, and a client that writes requests and reads responses itself. Covers what
//! the relay decides on its own: keeping one upstream connection per client connection,
//! getting past a kept connection the server closed, the framings of responses (length,
//! chunked, until close, none for HEAD / 304), interim responses, hop-by-hop headers, the
//! record (wire case, decoded bodies), and handing a connection to hyper mid-way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted upstream saw.
#[derive(Default)]
struct Seen {
    connections: usize,
    /// Request heads (and bodies) in arrival order, with the connection they came on.
    requests: Vec<(usize, String, Vec<u8>)>,
    /// Holds the second half of a `/gated/` body back until the test opens it.
    gate: Arc<tokio::sync::Notify>,
}

struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Scripted {
    /// `close_after_each`: the server closes every connection after one response, without
    /// saying so (as a server whose keep-alive timeout just expired does).
    async fn start(close_after_each: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let conn = {
                    let mut s = state.lock().unwrap();
                    s.connections += 1;
                    s.connections
                };
                tokio::spawn(serve(tcp, conn, state.clone(), close_after_each));
            }
        });
        Self { addr, seen }
    }

    fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }

    fn requests(&self) -> Vec<(usize, String, Vec<u8>)> {
        self.seen.lock().unwrap().requests.clone()
    }

    fn open_gate(&self) {
        self.seen.lock().unwrap().gate.notify_one();
    }
}

async fn serve(mut tcp: TcpStream, conn: usize, seen: Arc<Mutex<Seen>>, close_after_each: bool) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_until_head(&mut tcp, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let lower = head.to_ascii_lowercase();
        let body = if lower.contains("transfer-encoding: chunked") {
            while !buf.windows(5).any(|w| w == b"0\r\n\r\n") {
                if !read_more(&mut tcp, &mut buf).await {
                    return;
                }
            }
            let at = buf.windows(5).position(|w| w == b"0\r\n\r\n").unwrap() + 5;
            buf.drain(..at).collect()
        } else {
            let len: usize = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < len {
                if !read_more(&mut tcp, &mut buf).await {
                    return;
                }
            }
            buf.drain(..len).collect()
        };
        seen.lock()
            .unwrap()
            .requests
            .push((conn, head.clone(), body));
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let method = head.split(' ').next().unwrap_or_default().to_owned();
        // A body of the given length in two halves: `/gated/` sends the second once the
        // test opens the gate, `/cut/` closes the connection instead.
        let halves = [("/gated/", true), ("/cut/", false)]
            .into_iter()
            .find_map(|(prefix, gated)| Some((path.strip_prefix(prefix)?.parse().ok()?, gated)));
        if let Some((n, gated)) = halves {
            let n: u64 = n;
            let body: Vec<u8> = (0..n).map(pattern).collect();
            let half = body.len() / 2;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            if tcp
                .write_all(&[head.as_bytes(), &body[..half]].concat())
                .await
                .is_err()
            {
                return;
            }
            if !gated {
                let _ = tcp.shutdown().await;
                return;
            }
            let gate = seen.lock().unwrap().gate.clone();
            gate.notified().await;
            if tcp.write_all(&body[half..]).await.is_err() {
                return;
            }
            continue;
        }
        let big;
        let response: &[u8] = match (method.as_str(), path.as_str()) {
            (_, p) if p.starts_with("/big/") => {
                // A body of the given length, head and body in one write.
                let n: u64 = p["/big/".len()..].parse().unwrap();
                big = [
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes(),
                    (0..n).map(pattern).collect(),
                ]
                .concat();
                &big
            }
            ("HEAD", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Case: Mixed\r\n\r\n",
            (_, "/plain") => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nX-Case: Mixed\r\n\r\nhello",
            (_, "/chunked") => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            (_, "/early") => b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            (_, "/not-modified") => b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n",
            (_, "/until-close") => b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        };
        if tcp.write_all(response).await.is_err() {
            return;
        }
        if close_after_each || path == "/until-close" {
            let _ = tcp.shutdown().await;
            return;
        }
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match tcp.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn read_until_head(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        if !read_more(tcp, buf).await {
            return None;
        }
    }
}

/// A response as the client read it.
struct Answer {
    head: String,
    /// The body bytes as they came on the wire (chunk framing included).
    wire_body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Read one response to a request of `method` from `tcp` (`buf` keeps what follows it).
async fn read_response(tcp: &mut TcpStream, buf: &mut Vec<u8>, method: &str) -> Answer {
    tokio::time::timeout(WAIT, async {
        let end = read_until_head(tcp, buf).await.expect("a response head");
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let mut answer = Answer {
            head,
            wire_body: Vec::new(),
        };
        let status = answer.status();
        if method == "HEAD" || status == 304 || status == 204 {
            return answer;
        }
        if answer.header("transfer-encoding").is_some() {
            // Chunk by chunk up to the last one and the trailers' blank line.
            let mut at = 0;
            loop {
                while !buf[at..].windows(2).any(|w| w == b"\r\n") {
                    assert!(read_more(tcp, buf).await, "chunked body cut short");
                }
                let nl = at + buf[at..].windows(2).position(|w| w == b"\r\n").unwrap();
                let line = String::from_utf8_lossy(&buf[at..nl]).into_owned();
                let size =
                    usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
                at = nl + 2;
                if size == 0 {
                    while !buf[at..].windows(4).any(|w| w == b"\r\n\r\n")
                        && !buf[at..].starts_with(b"\r\n")
                    {
                        assert!(read_more(tcp, buf).await, "trailers cut short");
                    }
                    at = if buf[at..].starts_with(b"\r\n") {
                        at + 2
                    } else {
                        at + buf[at..].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
                    };
                    break;
                }
                while buf.len() < at + size + 2 {
                    assert!(read_more(tcp, buf).await, "chunk cut short");
                }
                at += size + 2;
            }
            answer.wire_body = buf.drain(..at).collect();
        } else if let Some(len) = answer.header("content-length") {
            let len: usize = len.parse().unwrap();
            while buf.len() < len {
                assert!(read_more(tcp, buf).await, "body cut short");
            }
            answer.wire_body = buf.drain(..len).collect();
        } else {
            while read_more(tcp, buf).await {}
            answer.wire_body = std::mem::take(buf);
        }
        answer
    })
    .await
    .expect("a response in time")
}

async fn request(tcp: &mut TcpStream, buf: &mut Vec<u8>, wire: &str) -> Answer {
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let method = wire.split(' ').next().unwrap();
    read_response(tcp, buf, method).await
}

#[tokio::test]
async fn kept_alive_requests_share_one_upstream_connection_and_hop_headers_stay_behind() {
    let upstream = Scripted::start(false).await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..5 {
        let answer = request(
            &mut tcp,
            &mut buf,
            &format!(
                "GET http://{up}/plain HTTP/1.1\r\nHost: {up}\r\nProxy-Connection: keep-alive\r\n\
                 X-Request: {i}\r\nConnection: X-Private\r\nX-Private: secret\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.wire_body, b"hello");
        for hop in ["connection", "keep-alive", "x-hop"] {
            assert_eq!(
                answer.header(hop),
                None,
                "{hop} reached the client: {}",
                answer.head
            );
        }
        assert!(answer.head.contains("X-Case: Mixed"), "{}", answer.head);
    }
    assert_eq!(
        upstream.connections(),
        1,
        "one upstream connection for the client's one"
    );
    let requests = upstream.requests();
    assert_eq!(requests.len(), 5);
    let (_, head, _) = &requests[0];
    assert!(
        head.starts_with("GET /plain HTTP/1.1\r\n"),
        "origin-form upstream: {head}"
    );
    assert!(head.contains(&format!("Host: {up}\r\n")), "{head}");
    assert!(head.contains("X-Request: 0\r\n"), "{head}");
    for hop in ["Proxy-Connection", "Connection", "X-Private"] {
        assert!(
            !head.contains(&format!("{hop}:")),
            "{hop} forwarded: {head}"
        );
    }
    // The record keeps both heads as written, hop-by-hop lines included.
    let ex = &proxy.exchanges(5).await[0];
    assert_eq!(ex.request.url, format!("http://{up}/plain"));
    assert_eq!(ex.request.headers.first("x-private"), Some("secret"));
    let resp = ex.response.as_ref().unwrap();
    let names: Vec<&str> = resp.headers.iter().map(|h| h.name).collect();
    assert_eq!(
        names,
        [
            "Content-Length",
            "Connection",
            "Keep-Alive",
            "X-Hop",
            "X-Case"
        ]
    );
    assert_eq!(&resp.body.captured[..], b"hello");
    assert!(ex.error.is_none(), "{:?}", ex.error);
    assert!(ex.server_ip.is_some());
}

#[tokio::test]
async fn a_kept_upstream_connection_the_server_closed_is_replaced() {
    let upstream = Scripted::start(true).await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    let wire = format!("GET http://{up}/plain HTTP/1.1\r\nHost: {up}\r\n\r\n");
    for round in 0..6 {
        // Half the time the server's close has arrived before the next request, half the
        // time it races it: both must end in a normal response.
        if round % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let answer = request(&mut tcp, &mut buf, &wire).await;
        assert_eq!(answer.status(), 200, "round {round}: {}", answer.head);
        assert_eq!(answer.wire_body, b"hello");
    }
    assert_eq!(upstream.connections(), 6);
    let recorded = proxy.exchanges(6).await;
    assert!(recorded.iter().all(|ex| ex.error.is_none()));
}

#[tokio::test]
async fn response_framings_reach_the_client_intact_and_bodies_are_recorded_decoded() {
    let upstream = Scripted::start(false).await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    let get = |path: &str| format!("GET http://{up}{path} HTTP/1.1\r\nHost: {up}\r\n\r\n");

    // Chunked: relayed chunk by chunk; the length beside it is dropped (RFC 9112 §6.3).
    let answer = request(&mut tcp, &mut buf, &get("/chunked")).await;
    assert_eq!(
        answer.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(answer.header("content-length"), None, "{}", answer.head);
    assert_eq!(
        answer.wire_body,
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    );
    // Interim responses are dropped, the final one relayed.
    let answer = request(&mut tcp, &mut buf, &get("/early")).await;
    assert_eq!((answer.status(), &answer.wire_body[..]), (200, &b"ok"[..]));
    // No body for HEAD and 304, whatever the length says; the connection goes on.
    let answer = request(
        &mut tcp,
        &mut buf,
        &format!("HEAD http://{up}/plain HTTP/1.1\r\nHost: {up}\r\n\r\n"),
    )
    .await;
    assert_eq!(answer.header("content-length").as_deref(), Some("5"));
    let answer = request(&mut tcp, &mut buf, &get("/not-modified")).await;
    assert_eq!(answer.status(), 304);
    // Until close: the client's connection closes after it, as the body's end.
    let answer = request(&mut tcp, &mut buf, &get("/until-close")).await;
    assert_eq!(answer.wire_body, b"until close");
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(buf.is_empty());
    assert_eq!(upstream.connections(), 1);

    let recorded = proxy.exchanges(5).await;
    let bodies: Vec<(u16, &[u8], u64)> = recorded
        .iter()
        .map(|ex| {
            let r = ex.response.as_ref().unwrap();
            (r.status, &r.body.captured[..], r.body.total_size)
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (200, &b"hello world"[..], 11),
            (200, &b"ok"[..], 2),
            (200, &b""[..], 0),
            (304, &b""[..], 0),
            (200, &b"until close"[..], 11),
        ]
    );
    assert_eq!(
        recorded[4].response.as_ref().unwrap().http_version,
        "HTTP/1.0"
    );
    assert!(recorded.iter().all(|ex| ex.error.is_none()));
}

#[tokio::test]
async fn large_bodies_of_known_length_reach_the_client_whole_and_are_recorded_whole() {
    // Sizes in the order a page might fetch them on one connection: repeats (the relay
    // then reads head and body at once and records the body as read), a smaller one, one
    // past the capture limit (recorded cut), a tiny one, and a large one again.
    let sizes: [u64; 7] = [100_000, 100_000, 100_000, 20_000, 300_000, 5, 100_000];
    let limit = 150_000;
    let upstream = Scripted::start(false).await;
    let proxy = start_proxy(None, |c| c.max_body_capture = limit).await;
    let up = upstream.addr;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let path = if n == 5 {
            "/plain".to_owned()
        } else {
            format!("/big/{n}")
        };
        let wire = format!("GET http://{up}{path} HTTP/1.1\r\nHost: {up}\r\n\r\n");
        let answer = request(&mut tcp, &mut buf, &wire).await;
        assert_eq!(answer.status(), 200, "request {i}: {}", answer.head);
        assert_eq!(answer.wire_body.len() as u64, n, "request {i}");
        if n != 5 {
            let expected: Vec<u8> = (0..n).map(pattern).collect();
            assert!(answer.wire_body == expected, "request {i}: body differs");
        }
    }
    assert_eq!(upstream.connections(), 1);
    let recorded = proxy.exchanges(sizes.len()).await;
    for (i, (ex, &n)) in recorded.iter().zip(&sizes).enumerate() {
        assert!(ex.error.is_none(), "request {i}: {:?}", ex.error);
        let body = &ex.response.as_ref().unwrap().body;
        assert_eq!(body.total_size, n, "request {i}");
        let kept = n.min(limit as u64);
        assert_eq!(body.captured.len() as u64, kept, "request {i}");
        if n != 5 {
            let expected: Vec<u8> = (0..kept).map(pattern).collect();
            assert!(
                body.captured[..] == expected[..],
                "request {i}: record differs"
            );
        }
    }
}

/// A body of known length that comes in several reads still streams: the client has the
/// first half while the upstream holds the second back; the record holds it whole. One
/// that ends early is recorded as far as it came, with the error, and the client's
/// connection closes.
#[tokio::test]
async fn a_body_in_several_reads_streams_to_the_client_and_is_recorded_whole() {
    let upstream = Scripted::start(false).await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let n = 200_000u64;
    let half = usize::try_from(n / 2).unwrap();
    let expected: Vec<u8> = (0..n).map(pattern).collect();
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!("GET http://{up}/gated/{n} HTTP/1.1\r\nHost: {up}\r\n\r\n");
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let end = tokio::time::timeout(WAIT, async {
        let end = read_until_head(&mut tcp, &mut buf).await.unwrap();
        while buf.len() < end + half {
            assert!(read_more(&mut tcp, &mut buf).await, "cut short");
        }
        end
    })
    .await
    .expect("the first half before the upstream sends the rest");
    assert_eq!(buf.len(), end + half, "nothing past what the upstream sent");
    assert!(buf[end..] == expected[..half]);
    upstream.open_gate();
    buf.drain(..end);
    tokio::time::timeout(WAIT, async {
        while buf.len() < expected.len() {
            assert!(read_more(&mut tcp, &mut buf).await, "cut short");
        }
    })
    .await
    .expect("the second half");
    assert!(buf == expected, "body differs");
    // The connection carries on.
    buf.clear();
    let wire = format!("GET http://{up}/big/{n} HTTP/1.1\r\nHost: {up}\r\n\r\n");
    let answer = request(&mut tcp, &mut buf, &wire).await;
    assert!(answer.wire_body == expected, "second body differs");
    assert_eq!(upstream.connections(), 1);

    // Cut after half: the client gets that half and a closed connection.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!("GET http://{up}/cut/{n} HTTP/1.1\r\nHost: {up}\r\n\r\n");
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let mut cut = Vec::new();
    tokio::time::timeout(WAIT, async { while read_more(&mut tcp, &mut cut).await {} })
        .await
        .expect("the connection closes");
    let end = cut.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(cut[end..] == expected[..half]);

    let recorded = proxy.exchanges(3).await;
    for ex in &recorded[..2] {
        assert!(ex.error.is_none(), "{:?}", ex.error);
        let body = &ex.response.as_ref().unwrap().body;
        assert_eq!(body.total_size, n);
        assert!(body.captured[..] == expected[..], "record differs");
    }
    let ex = &recorded[2];
    let error = ex.error.as_deref().unwrap_or_default();
    assert!(error.contains(&format!("after {half} bytes")), "{error}");
    let body = &ex.response.as_ref().unwrap().body;
    assert_eq!(body.total_size, n / 2);
    assert!(body.captured[..] == expected[..half], "cut record differs");
}

#[tokio::test]
async fn a_connection_moves_on_to_hyper_for_a_request_the_relay_does_not_serve() {
    let upstream = Scripted::start(false).await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    let answer = request(
        &mut tcp,
        &mut buf,
        &format!("POST http://{up}/plain HTTP/1.1\r\nHost: {up}\r\nContent-Length: 3\r\n\r\nabc"),
    )
    .await;
    assert_eq!(answer.wire_body, b"hello");
    // A chunked request body is hyper's to forward; the next request (pipelined behind it,
    // in the same write) and every later one too.
    let wire = format!(
        "POST http://{up}/plain HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nwxyz\r\n0\r\n\r\nGET http://{up}/chunked HTTP/1.1\r\nHost: {up}\r\n\r\n"
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let first = read_response(&mut tcp, &mut buf, "POST").await;
    let second = read_response(&mut tcp, &mut buf, "GET").await;
    assert_eq!(first.wire_body, b"hello");
    assert_eq!(second.status(), 200);
    let third = request(
        &mut tcp,
        &mut buf,
        &format!("GET http://{up}/plain HTTP/1.1\r\nHost: {up}\r\n\r\n"),
    )
    .await;
    assert_eq!(third.wire_body, b"hello");

    let bodies: Vec<Vec<u8>> = upstream.requests().into_iter().map(|r| r.2).collect();
    assert_eq!(bodies[0], b"abc");
    assert_eq!(bodies[1], b"4\r\nwxyz\r\n0\r\n\r\n");
    let recorded = proxy.exchanges(4).await;
    let methods: Vec<(&str, &[u8])> = recorded
        .iter()
        .map(|ex| (&*ex.request.method, &ex.request.body.captured[..]))
        .collect();
    assert_eq!(
        methods,
        [
            ("POST", &b"abc"[..]),
            ("POST", &b"wxyz"[..]),
            ("GET", &b""[..]),
            ("GET", &b""[..])
        ]
    );
    for ex in &recorded {
        assert!(
            ex.error.is_none(),
            "{} {}: {:?}",
            ex.request.method,
            ex.request.url,
            ex.error
        );
    }
}

/// corscope intercepting TLS to an HTTP/1.1 upstream, and an HTTP/1.1 client connection to
/// that upstream through it: the proxy, the upstream's `host:port` and the client.
async fn h1_through_interception<B>() -> (
    TestProxy,
    String,
    hyper::client::conn::http1::SendRequest<B>,
)
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"http/1.1"])
        .await
        .unwrap();
    (proxy, target, h1_over(tls).await)
}

#[tokio::test]
async fn the_relay_serves_requests_inside_intercepted_tls() {
    let (proxy, target, mut send) = h1_through_interception().await;
    for i in 0..3 {
        let req = http::Request::post(format!("https://{target}/echo?n={i}"))
            .header("host", &target)
            .body(http_body_util::Full::new(bytes::Bytes::from(format!(
                "body {i}"
            ))))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(body_bytes(resp).await, format!("body {i}").as_bytes());
    }
    let recorded = proxy.exchanges(3).await;
    for (i, ex) in recorded.iter().enumerate() {
        assert_eq!(ex.request.url, format!("https://{target}/echo?n={i}"));
        assert_eq!(
            &ex.request.body.captured[..],
            format!("body {i}").as_bytes()
        );
        assert_eq!(
            &ex.response.as_ref().unwrap().body.captured[..],
            format!("body {i}").as_bytes()
        );
        assert!(ex.error.is_none(), "{:?}", ex.error);
    }
}

#[tokio::test]
async fn large_bodies_inside_intercepted_tls_arrive_whole() {
    let (proxy, target, mut send) = h1_through_interception().await;
    let sizes: [u64; 4] = [100_000, 100_000, 300_000, 100_000];
    for &n in &sizes {
        let req = http::Request::get(format!("https://{target}/bytes?n={n}"))
            .header("host", &target)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = body_bytes(resp).await;
        let expected: Vec<u8> = (0..n).map(pattern).collect();
        assert!(body[..] == expected[..], "{n} bytes: body differs");
    }
    let recorded = proxy.exchanges(sizes.len()).await;
    for (ex, &n) in recorded.iter().zip(&sizes) {
        assert!(ex.error.is_none(), "{:?}", ex.error);
        let body = &ex.response.as_ref().unwrap().body;
        assert_eq!((body.total_size, body.captured.len() as u64), (n, n));
        let expected: Vec<u8> = (0..n).map(pattern).collect();
        assert!(
            body.captured[..] == expected[..],
            "{n} bytes: record differs"
        );
    }
}
