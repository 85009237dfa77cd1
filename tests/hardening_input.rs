//! Malformed and hostile client input, written byte for byte on raw sockets to a real
//! corscope: bad request lines and header fields, oversized heads, request smuggling
//! framings, truncated bodies, pipelining, origin-form requests, absolute-form inside a
//! tunnel, and odd CONNECT targets. After every bad input a normal request through the
//! same proxy must still work, the store must hold a record of the bad one, and a refused
//! request must never have reached the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod harden;

use bytes::Bytes;
use common::*;
use harden::*;
use http::Request;
use http_body_util::Empty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What should happen to one input.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused with this status before anything reached the upstream; recorded with it.
    Refused(u16),
    /// Forwarded: the upstream answered 200 and the exchange is recorded as such.
    Forwarded,
}

struct Case {
    name: &'static str,
    /// `{up}` is replaced by the upstream's address; `{marker}` by a unique path segment
    /// that must never reach the upstream when the input is refused.
    wire: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, wire: impl AsRef<[u8]>, expect: Expect) -> Case {
    Case {
        name,
        wire: wire.as_ref().to_vec(),
        expect,
    }
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let big = "a".repeat(70 * 1024);
    let many: String = (0..101).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    vec![
        // Request lines.
        case("request line without target", "GET\r\n\r\n", Refused(400)),
        case("request line with a trailing word", "GET http://{up}/{marker} HTTP/1.1 extra\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("unknown HTTP version", "GET http://{up}/{marker} HTTP/2.0\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("HTTP/0.9 style line", "GET http://{up}/{marker}\r\n\r\n", Refused(400)),
        case("method with a separator", "G(T http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("space inside the target", "GET http://{up}/{marker} x HTTP/1.1\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("control byte in the target", "GET http://{up}/{marker}\x7f HTTP/1.1\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("TLS bytes to the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", Refused(400)),
        case("binary garbage", b"\x00\xff\xfe\r\n\r\n", Refused(400)),
        case("request line over the head limit", format!("GET http://{{up}}/{{marker}}/{big} HTTP/1.1\r\nHost: {{up}}\r\n\r\n"), Refused(431)),
        // Header names.
        case("space in a header name", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX Y: 1\r\n\r\n", Refused(400)),
        case("space before the colon", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-Y : 1\r\n\r\n", Refused(400)),
        case("separator in a header name", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-(Y): 1\r\n\r\n", Refused(400)),
        case("empty header name", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\n: v\r\n\r\n", Refused(400)),
        case("header line without a colon", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nNoColon\r\n\r\n", Refused(400)),
        case("non-ASCII byte in a header name", b"GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-\xe9: 1\r\n\r\n", Refused(400)),
        // Header values.
        case("NUL in a header value", b"GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-A: a\x00b\r\n\r\n", Refused(400)),
        case("bare CR in a header value", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-A: a\rb\r\n\r\n", Refused(400)),
        case("obs-fold (line folding)", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-A: a\r\n b\r\n\r\n", Refused(400)),
        case("obs-fold with a tab", "GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-A: a\r\n\tb\r\n\r\n", Refused(400)),
        case("a header value over the head limit", format!("GET http://{{up}}/{{marker}} HTTP/1.1\r\nHost: {{up}}\r\nX-Big: {big}\r\n\r\n"), Refused(431)),
        case("101 header lines", format!("GET http://{{up}}/{{marker}} HTTP/1.1\r\nHost: {{up}}\r\n{many}\r\n"), Refused(431)),
        // Framing: request smuggling patterns.
        case("Content-Length and Transfer-Encoding", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
        case("Transfer-Encoding and Content-Length", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", Refused(400)),
        case("CL.TE smuggling a second request", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://{up}/{marker}-smuggled HTTP/1.1\r\nHost: {up}\r\n\r\n", Refused(400)),
        case("TE.CL smuggling a second request", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3c\r\nGET http://{up}/{marker}-smuggled HTTP/1.1\r\nHost: {up}\r\nX: \r\n\r\n0\r\n\r\n", Refused(400)),
        case("two differing Content-Lengths", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", Refused(400)),
        case("a Content-Length list", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: 3, 4\r\n\r\nabcd", Refused(400)),
        case("a signed Content-Length", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: +3\r\n\r\nabc", Refused(400)),
        case("a negative Content-Length", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: -1\r\n\r\n", Refused(400)),
        case("Transfer-Encoding gzip", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: gzip\r\n\r\nabc", Refused(400)),
        case("Transfer-Encoding gzip, chunked", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Refused(400)),
        case("Transfer-Encoding chunked twice", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Refused(400)),
        case("Transfer-Encoding on HTTP/1.0", "POST http://{up}/{marker} HTTP/1.0\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Refused(400)),
        case("Transfer-Encoding with a space before the colon", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc", Refused(400)),
        // Accepted variants: forwarded unchanged.
        case("non-UTF-8 header value", b"GET http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n", Forwarded),
        case("two equal Content-Lengths", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", Forwarded),
        case("bare LF line endings", "GET http://{up}/{marker} HTTP/1.1\nHost: {up}\nConnection: close\n\n", Forwarded),
        case("chunked with extensions and trailers", "POST http://{up}/{marker} HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", Forwarded),
    ]
}

#[tokio::test]
async fn malformed_requests_are_refused_recorded_and_never_reach_the_upstream() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr.to_string();
    let table = cases();
    let (mut refused, mut forwarded) = (0, 0);
    for (i, case) in table.iter().enumerate() {
        let marker = format!("case{i}");
        let wire = replace(&case.wire, b"{up}", up.as_bytes());
        let wire = replace(&wire, b"{marker}", marker.as_bytes());
        let before = proxy.store.snapshot().exchanges.len();
        let seen_before = upstream.requests().len();
        let answer = raw_exchange(proxy.addr, &wire).await;
        let status = status_of(&answer);
        let recorded = new_exchanges(&proxy, before, 1).await;
        let record = &recorded[0];
        let recorded_status = record.response.as_ref().map(|r| r.status);
        match case.expect {
            Expect::Refused(code) => {
                refused += 1;
                assert_eq!(status, Some(code), "{}: answered {answer:?}", case.name);
                assert_eq!(recorded_status, Some(code), "{}: {record:?}", case.name);
                assert!(
                    record.error.is_some(),
                    "{}: recorded without a reason",
                    case.name
                );
                assert!(
                    !upstream.raw_contains(marker.as_bytes()),
                    "{}: reached the upstream",
                    case.name
                );
            }
            Expect::Forwarded => {
                forwarded += 1;
                assert_eq!(status, Some(200), "{}: answered {answer:?}", case.name);
                assert_eq!(recorded_status, Some(200), "{}", case.name);
                assert_eq!(upstream.requests().len(), seen_before + 1, "{}", case.name);
            }
        }
        proxy_still_works(proxy.addr, upstream.addr).await;
    }
    println!(
        "{} malformed inputs: {refused} refused (never reached the upstream), {forwarded} \
         accepted and forwarded; a normal request worked after each",
        table.len()
    );
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[tokio::test]
async fn the_records_of_refused_requests_say_what_was_wrong() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let answer = raw_exchange(
        proxy.addr,
        format!(
            "POST http://{up}/s HTTP/1.1\r\nHost: {up}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(
        answer.contains("Content-Length and Transfer-Encoding"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let ex = &proxy.exchanges(1).await[0];
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.url, format!("http://{up}/s"));
    // The head as written, the Content-Length hyper dropped included.
    let names: Vec<&str> = ex.request.headers.iter().map(|h| h.name).collect();
    assert_eq!(names, ["Host", "Content-Length", "Transfer-Encoding"]);
    assert!(
        ex.error.as_deref().unwrap().contains("smuggling"),
        "{:?}",
        ex.error
    );

    raw_exchange(proxy.addr, b"GET http://x/ HTTP/1.1\r\nX-A: a\x00b\r\n\r\n").await;
    let ex = &proxy.exchanges(2).await[1];
    let error = ex.error.as_deref().unwrap();
    assert!(error.contains("malformed request"), "{error}");
    assert!(error.contains("GET http://x/ HTTP/1.1"), "{error}");
    assert_eq!(
        (&*ex.request.method, ex.request.url.as_str()),
        ("GET", "http://x/")
    );

    let big = "b".repeat(70 * 1024);
    raw_exchange(
        proxy.addr,
        format!("GET http://x/ HTTP/1.1\r\nX: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    let ex = &proxy.exchanges(3).await[2];
    assert!(
        ex.error.as_deref().unwrap().contains("64 KiB"),
        "{:?}",
        ex.error
    );
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn non_utf8_header_values_are_forwarded_byte_exact_and_recorded() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let mut wire =
        format!("GET http://{up}/latin HTTP/1.1\r\nHost: {up}\r\nX-Latin: ").into_bytes();
    wire.extend_from_slice(b"caf\xe9 \xff\x80\r\nConnection: close\r\n\r\n");
    let answer = raw_exchange(proxy.addr, &wire).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header("x-latin"), Some(&b"caf\xe9 \xff\x80"[..]));
    let ex = &proxy.exchanges(1).await[0];
    // Isomorphic decoding: each byte one code point, nothing lost.
    assert_eq!(
        ex.request.headers.first("X-Latin"),
        Some("caf\u{e9} \u{ff}\u{80}")
    );
}

#[tokio::test]
async fn a_body_cut_off_by_the_client_is_recorded_and_aborted_upstream() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    for (name, head, sent, relayed) in [
        (
            "content-length",
            "Content-Length: 100",
            &b"only ten b"[..],
            &b"only ten b"[..],
        ),
        // The first two bytes of the 5-byte chunk are relayed as they come.
        (
            "chunked",
            "Transfer-Encoding: chunked",
            &b"a\r\nonly ten b\r\n5\r\nab"[..],
            &b"only ten bab"[..],
        ),
    ] {
        let before = proxy.store.snapshot().exchanges.len();
        let requests_before = upstream.requests().len();
        let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
        let wire = format!("POST http://{up}/cut-{name} HTTP/1.1\r\nHost: {up}\r\n{head}\r\n\r\n");
        tcp.write_all(wire.as_bytes()).await.unwrap();
        tcp.write_all(sent).await.unwrap();
        // The upstream has the head and the first bytes before the client gives up.
        upstream
            .wait_for("the start of the cut-off request", |s| {
                s.requests.len() > requests_before
            })
            .await;
        tcp.shutdown().await.unwrap();
        let answer = read_until_closed(&mut tcp).await;
        assert_eq!(status_of(&answer), Some(400), "{name}: {answer}");
        assert!(
            answer.contains("in the middle of the request body"),
            "{answer}"
        );
        let ex = &new_exchanges(&proxy, before, 1).await[0];
        let error = ex.error.as_deref().unwrap();
        assert!(
            error.contains("in the middle of the request body"),
            "{name}: {error}"
        );
        assert_eq!(ex.request.body.captured.as_ref(), relayed, "{name}");
        // The upstream saw an incomplete request, never a complete one.
        upstream
            .wait_for("the request aborted", |s| {
                s.requests[requests_before].body.is_err()
                    && s.requests[requests_before].body.as_ref().err().unwrap()
                        != "body not read yet"
            })
            .await;
        proxy_still_works(proxy.addr, upstream.addr).await;
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_all_recorded() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    let wire = format!(
        "GET http://{up}/first HTTP/1.1\r\nHost: {up}\r\n\r\n\
         POST http://{up}/second HTTP/1.1\r\nHost: {up}\r\nContent-Length: 5\r\n\r\nhello\
         PUT http://{up}/third HTTP/1.1\r\nHost: {up}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\
         GET http://{up}/fourth HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_exchange(proxy.addr, wire.as_bytes()).await;
    let bodies: Vec<usize> = [
        "ok GET /first",
        "ok POST /second",
        "ok PUT /third",
        "ok GET /fourth",
    ]
    .iter()
    .map(|b| {
        answer
            .find(b)
            .unwrap_or_else(|| panic!("{b} missing in {answer}"))
    })
    .collect();
    assert!(
        bodies.windows(2).all(|w| w[0] < w[1]),
        "out of order: {answer}"
    );
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 4);
    let exchanges = proxy.exchanges(4).await;
    let urls: Vec<&str> = exchanges.iter().map(|e| e.request.url.as_str()).collect();
    let want: Vec<String> = ["first", "second", "third", "fourth"]
        .iter()
        .map(|p| format!("http://{up}/{p}"))
        .collect();
    assert_eq!(urls, want);
    assert_eq!(exchanges[1].request.body.captured.as_ref(), b"hello");
    assert_eq!(exchanges[2].request.body.captured.as_ref(), b"hi");
    assert_eq!(
        exchanges[1].request.headers.first("Content-Length"),
        Some("5")
    );
}

#[tokio::test]
async fn origin_form_requests_to_the_proxy_get_400_explaining_it_is_a_proxy() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let hosts = [
        "example.test".to_owned(),
        proxy.addr.to_string(),
        upstream.addr.to_string(),
    ];
    for (i, host) in hosts.iter().enumerate() {
        let before = proxy.store.snapshot().exchanges.len();
        let answer = raw_exchange(
            proxy.addr,
            format!("GET /origin-form-{i} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), Some(400), "{answer}");
        assert!(
            answer.contains("corscope is a proxy, not a web server"),
            "{answer}"
        );
        assert!(
            answer.contains(&format!("curl -x http://{}", proxy.addr)),
            "{answer}"
        );
        let ex = &new_exchanges(&proxy, before, 1).await[0];
        assert_eq!(ex.response.as_ref().unwrap().status, 400);
        assert!(!upstream.raw_contains(format!("origin-form-{i}").as_bytes()));
        proxy_still_works(proxy.addr, upstream.addr).await;
    }
}

#[tokio::test]
async fn absolute_form_inside_a_tunnel_must_name_the_tunnel_host() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let port = upstream.addr.port();
    for (connect_to, url, expect) in [
        // Same host and port as the CONNECT: served.
        (
            format!("localhost:{port}"),
            format!("http://localhost:{port}/same"),
            200,
        ),
        (
            format!("localhost:{port}"),
            format!("http://LOCALHOST.:{port}/same-case"),
            200,
        ),
        // A tunnel to an IP address accepts a host name (clients resolve names themselves).
        (
            format!("127.0.0.1:{port}"),
            format!("http://localhost:{port}/ip-tunnel"),
            200,
        ),
        // Another host or another port: 421, never forwarded anywhere.
        (
            format!("localhost:{port}"),
            "http://elsewhere.test/other-host".to_owned(),
            421,
        ),
        (
            format!("localhost:{port}"),
            format!("http://localhost:{}/other-port", port + 1),
            421,
        ),
        (
            format!("127.0.0.1:{port}"),
            format!("http://127.0.0.1:{}/ip-other-port", port + 1),
            421,
        ),
    ] {
        let mut tunnel = connect_tunnel(proxy.addr, &connect_to).await;
        let wire = format!("GET {url} HTTP/1.1\r\nHost: whatever\r\nConnection: close\r\n\r\n");
        tunnel.write_all(wire.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut tunnel).await;
        assert_eq!(
            status_of(&answer),
            Some(expect),
            "{url} in {connect_to}: {answer}"
        );
        let path = url.rsplit('/').next().unwrap();
        assert_eq!(
            upstream.raw_contains(path.as_bytes()),
            expect == 200,
            "{url}"
        );
        if expect == 421 {
            assert!(answer.contains("inside a tunnel to"), "{answer}");
        }
    }
    let exchanges = proxy.exchanges(6).await;
    let statuses: Vec<u16> = exchanges
        .iter()
        .map(|e| e.response.as_ref().unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 421, 421, 421]);
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn absolute_form_inside_an_intercepted_tls_tunnel() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let port = upstream.addr.port();
    for (url, expect) in [
        (format!("https://localhost:{port}/echo"), 200),
        (format!("https://elsewhere.test:{port}/echo"), 421),
    ] {
        let tunnel = connect_tunnel(proxy.addr, &format!("localhost:{port}")).await;
        let mut tls = tls_over_named(tunnel, proxy.client_roots(), &[b"http/1.1"], "localhost")
            .await
            .unwrap();
        let wire = format!("GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(wire.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status_of(&answer), Some(expect), "{url}: {answer}");
    }
    let exchanges = proxy.exchanges(2).await;
    assert_eq!(exchanges[1].response.as_ref().unwrap().status, 421);
    assert_eq!(
        exchanges[1].request.url,
        format!("https://localhost:{port}/echo")
    );
}

#[tokio::test]
async fn odd_connect_targets_get_400_and_are_recorded() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let targets = [
        ("host without a port", "localhost".to_owned()),
        ("IP without a port", "127.0.0.1".to_owned()),
        ("port 0", "127.0.0.1:0".to_owned()),
        ("empty host", ":443".to_owned()),
        ("empty target", "".to_owned()),
        ("port out of range", "127.0.0.1:99999".to_owned()),
        ("garbage", "!!not*a%host!!".to_owned()),
        ("unclosed IPv6 bracket", "[::1:443".to_owned()),
        (
            "a URL instead of host:port",
            format!("http://{}/", upstream.addr),
        ),
        ("a path", "/x".to_owned()),
    ];
    for (name, target) in &targets {
        let before = proxy.store.snapshot().exchanges.len();
        let answer = raw_exchange(
            proxy.addr,
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), Some(400), "{name}: {answer}");
        let ex = &new_exchanges(&proxy, before, 1).await[0];
        assert_eq!(ex.response.as_ref().unwrap().status, 400, "{name}");
        assert!(ex.error.is_some(), "{name}");
        proxy_still_works(proxy.addr, upstream.addr).await;
    }
    assert_eq!(
        upstream.requests().len(),
        targets.len(),
        "only the normal requests reached the upstream"
    );
    assert!(!upstream.raw_contains(b"CONNECT"));
    let no_port = &proxy.exchanges(1).await[0];
    assert!(
        no_port.error.as_deref().unwrap().contains("has no port"),
        "{:?}",
        no_port.error
    );
}

#[tokio::test]
async fn ipv6_literals_work_for_connect_and_absolute_form() {
    let upstream = match RecordingUpstream::start_on("[::1]:0".parse().unwrap()).await {
        Ok(up) => up,
        Err(e) => {
            println!("skipped: cannot bind [::1] on this machine ({e})");
            return;
        }
    };
    let proxy = start_proxy(None, |_| {}).await;
    let target = upstream.addr.to_string();
    assert!(target.starts_with("[::1]:"), "{target}");
    // Absolute-form.
    let mut send = h1_to_proxy(proxy.addr).await;
    let req = Request::get(format!("http://{target}/v6-absolute"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(body_bytes(resp).await.as_ref(), b"ok GET /v6-absolute");
    // CONNECT with plain HTTP inside.
    let mut tunnel = connect_tunnel(proxy.addr, &target).await;
    tunnel
        .write_all(
            format!("GET /v6-tunnel HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut tunnel).await;
    assert!(answer.ends_with("ok GET /v6-tunnel"), "{answer}");
    let exchanges = proxy.exchanges(2).await;
    assert_eq!(
        exchanges[0].request.url,
        format!("http://{target}/v6-absolute")
    );
    assert_eq!(
        exchanges[1].request.url,
        format!("http://{target}/v6-tunnel")
    );
    assert_eq!(exchanges[1].server_ip.as_deref(), Some("::1"));
}

#[tokio::test]
async fn intercepting_tls_to_an_ipv6_literal() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("skipped: cannot bind [::1] on this machine");
        return;
    }
    // A plain upstream is enough: the client's TLS ends at corscope, which mints a
    // certificate for the IP literal; the upstream leg is checked above.
    let upstream = RecordingUpstream::start_on("[::1]:0".parse().unwrap())
        .await
        .unwrap();
    let proxy = start_proxy(None, |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over_named(tunnel, proxy.client_roots(), &[b"http/1.1"], "::1").await;
    let tls = tls.expect("corscope's certificate is valid for the IPv6 literal");
    drop(tls);
}

#[tokio::test]
async fn http2_heads_have_the_same_size_limit() {
    let ca = TestCa::new();
    // An HTTP/1.1 upstream (whose limit is far above 64 KB), so only corscope's counts.
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let proxy = start_proxy(Some(&ca), |_| {}).await;
    let target = upstream.addr.to_string();
    let tunnel = connect_tunnel(proxy.addr, &target).await;
    let tls = tls_over(tunnel, proxy.client_roots(), &[b"h2"])
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut statuses = Vec::new();
    for size in [40 * 1024, 70 * 1024] {
        let req = Request::get(format!("https://{target}/echo"))
            .version(http::Version::HTTP_2)
            .header("x-big", "c".repeat(size))
            .body(Empty::<Bytes>::new())
            .unwrap();
        send.ready().await.unwrap();
        let status = match send.send_request(req).await {
            Ok(resp) => resp.status().as_u16(),
            Err(e) => {
                println!("{size} byte header: {e}");
                0
            }
        };
        statuses.push(status);
    }
    assert_eq!(statuses[0], 200);
    assert_ne!(statuses[1], 200, "a 70 KB head was forwarded over HTTP/2");
    println!(
        "HTTP/2 40 KB header: {}, 70 KB header: {}",
        statuses[0], statuses[1]
    );
    let recorded = proxy.exchanges(1).await;
    assert_eq!(recorded.len(), 1, "only the accepted request was forwarded");
}

#[tokio::test]
async fn framing_is_still_checked_after_a_refused_connect_on_the_same_connection() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let up = upstream.addr;
    // A CONNECT refused (no port), then a smuggling request, pipelined.
    let wire = format!(
        "CONNECT localhost HTTP/1.1\r\nHost: localhost\r\n\r\n\
         POST http://{up}/after-connect HTTP/1.1\r\nHost: {up}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    let answer = raw_exchange(proxy.addr, wire.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let second = answer.split("HTTP/1.1 ").nth(2).unwrap_or_default();
    assert!(second.starts_with("400"), "{answer}");
    assert!(
        second.contains("Content-Length and Transfer-Encoding"),
        "{answer}"
    );
    assert!(!upstream.raw_contains(b"after-connect"));
    let exchanges = proxy.exchanges(2).await;
    assert_eq!(
        exchanges[1].request.headers.first("Content-Length"),
        Some("4")
    );
    proxy_still_works(proxy.addr, upstream.addr).await;
}

#[tokio::test]
async fn cleartext_http2_is_recorded_as_unsupported() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |_| {}).await;
    let answer = raw_exchange(
        proxy.addr,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await;
    assert_eq!(answer, "", "hyper answers nothing to an HTTP/2 preface");
    let ex = &proxy.exchanges(1).await[0];
    assert!(ex.response.is_none());
    assert!(
        ex.error.as_deref().unwrap().contains("h2c"),
        "{:?}",
        ex.error
    );
    proxy_still_works(proxy.addr, upstream.addr).await;
}
