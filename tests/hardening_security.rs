//! Security defaults: `--proxy-auth` (407 for absolute-form requests and CONNECT, the
//! credential never forwarded nor recorded), the warning for `--allow-remote` without it,
//! the CA key's permissions, the CA key and certificate never written into a HAR or the
//! log, and requests aimed at corscope itself refused instead of looping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod harden;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use base64::Engine as _;
use bytes::Bytes;
use common::*;
use corscope::capture::event::EventKind;
use corscope::har::export::{self, ExportOptions};
use corscope::proxy::auth::ProxyAuth;
use corscope::tls::ca::{CaError, CertificateAuthority};
use harden::*;
use http::{Request, StatusCode};
use http_body_util::Empty;
use tokio::io::AsyncWriteExt;

const USER_PASS: &str = "alice:s3cret:pw";

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test]
async fn proxy_auth_guards_absolute_form_requests_and_connect() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| {
        c.proxy_auth = Some(ProxyAuth::parse(USER_PASS).unwrap())
    })
    .await;
    let up = upstream.addr;
    let get = |auth: Option<String>| {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!("GET http://{up}/guarded HTTP/1.1\r\nHost: {up}\r\n{auth}Connection: close\r\n\r\n")
    };
    let connect = |auth: Option<String>| {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!("CONNECT {up} HTTP/1.1\r\nHost: {up}\r\n{auth}Connection: close\r\n\r\n")
    };
    let refused = [
        ("GET without credentials", get(None)),
        ("GET with a wrong password", get(Some(basic("alice:wrong")))),
        (
            "GET with a password prefix",
            get(Some(basic("alice:s3cret"))),
        ),
        (
            "GET with another scheme",
            get(Some("Bearer s3cret".to_owned())),
        ),
        ("GET with bad base64", get(Some("Basic %%%".to_owned()))),
        ("CONNECT without credentials", connect(None)),
        (
            "CONNECT with a wrong password",
            connect(Some(basic("alice:nope"))),
        ),
    ];
    for (name, wire) in &refused {
        let answer = raw_exchange(proxy.addr, wire.as_bytes()).await;
        assert_eq!(status_of(&answer), Some(407), "{name}: {answer}");
        assert!(
            answer.contains("proxy-authenticate: Basic realm=\"corscope\"\r\n"),
            "{name}: {answer}"
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "nothing reached the upstream"
    );
    assert_eq!(upstream.seen(|s| s.connections_opened), 0);
    // 407s are the proxy's business, not the page's: events for wrong credentials only.
    assert!(proxy.store.snapshot().exchanges.is_empty());
    let failures = proxy
        .store
        .snapshot()
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ProxyAuthFailed)
        .count();
    assert_eq!(failures, 5);

    // The right credential: forwarded without it, recorded redacted.
    let answer = raw_exchange(proxy.addr, get(Some(basic(USER_PASS))).as_bytes()).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    let seen = &upstream.requests()[0];
    assert!(seen.header("proxy-authorization").is_none(), "{seen:?}");
    let ex = &proxy.exchanges(1).await[0];
    assert_eq!(
        ex.request.headers.first("Proxy-Authorization"),
        Some("[redacted]")
    );

    // CONNECT with it; the tunnel's requests need nothing more.
    let mut tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!(
        "CONNECT {up} HTTP/1.1\r\nHost: {up}\r\nProxy-Authorization: {}\r\n\r\n",
        basic(USER_PASS)
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    assert!(read_head(&mut tcp).await.starts_with("HTTP/1.1 200"));
    tcp.write_all(
        format!("GET /inside HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut tcp).await;
    assert!(answer.ends_with("ok GET /inside"), "{answer}");

    // Nothing of the credential in a HAR, even one written without redaction.
    let exchanges = proxy.exchanges(2).await;
    let unredacted = ExportOptions {
        redact: false,
        ..ExportOptions::default()
    };
    let har = export::build(
        &exchanges,
        |_| None,
        corscope::cors::Profile::Chrome,
        &unredacted,
    );
    let json = String::from_utf8(export::to_vec(&har).unwrap()).unwrap();
    let token = basic(USER_PASS);
    let token = token.strip_prefix("Basic ").unwrap();
    assert!(!json.contains(token) && !json.contains("s3cret"), "{json}");
}

#[tokio::test]
async fn a_407_does_not_hide_the_framing_of_the_next_request() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| {
        c.proxy_auth = Some(ProxyAuth::parse(USER_PASS).unwrap())
    })
    .await;
    let up = upstream.addr;
    let wire = format!(
        "GET http://{up}/first HTTP/1.1\r\nHost: {up}\r\n\r\n\
         POST http://{up}/second HTTP/1.1\r\nHost: {up}\r\nProxy-Authorization: {}\r\n\
         Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        basic(USER_PASS)
    );
    let answer = raw_exchange(proxy.addr, wire.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 407"), "{answer}");
    assert!(answer.contains("HTTP/1.1 400"), "{answer}");
    assert!(upstream.requests().is_empty());
    let refused = &proxy.exchanges(1).await[0];
    assert_eq!(
        refused.request.headers.first("Proxy-Authorization"),
        Some("[redacted]")
    );
}

#[tokio::test]
async fn proxy_auth_is_also_checked_for_http2_clients_connect_only() {
    // HTTP/2 is spoken only inside an intercepted tunnel, which its CONNECT authorised.
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"h2"]))).await;
    let proxy = start_proxy(Some(&ca), |c| {
        c.proxy_auth = Some(ProxyAuth::parse(USER_PASS).unwrap())
    })
    .await;
    let target = upstream.addr.to_string();
    let mut tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let wire = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {}\r\n\r\n",
        basic(USER_PASS)
    );
    tcp.write_all(wire.as_bytes()).await.unwrap();
    assert!(read_head(&mut tcp).await.starts_with("HTTP/1.1 200"));
    let tls = tls_over(tcp, proxy.client_roots(), &[b"h2"]).await.unwrap();
    let req = Request::get(format!("https://{target}/echo"))
        .version(http::Version::HTTP_2)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = h2_request(tls, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Start the binary with `args` after `headless`; returns it, its address and the stderr
/// lines read up to the "listening" line.
fn spawn(args: &[&str], data_dir: &std::path::Path) -> (std::process::Child, SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .arg("headless")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CORSCOPE_LOG")
        .env_remove("CORSCOPE_PROXY_AUTH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "corscope exited early: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    (child, addr, seen)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test]
async fn remote_listening_without_proxy_auth_warns_and_the_flag_works_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _, stderr) = spawn(&["--listen", "0.0.0.0:0", "--allow-remote"], dir.path());
    stop(child);
    assert!(
        stderr.contains("--allow-remote without --proxy-auth"),
        "{stderr}"
    );

    let (child, addr, stderr) = spawn(
        &[
            "--listen",
            "0.0.0.0:0",
            "--allow-remote",
            "--proxy-auth",
            USER_PASS,
        ],
        dir.path(),
    );
    assert!(!stderr.contains("without --proxy-auth"), "{stderr}");
    let addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let upstream = RecordingUpstream::start().await;
    let wire = format!(
        "GET http://{0}/x HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
        upstream.addr
    );
    assert_eq!(
        status_of(&raw_exchange(addr, wire.as_bytes()).await),
        Some(407)
    );
    stop(child);

    // From the environment, so the password stays out of `ps`.
    let child = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["headless", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("CORSCOPE_PROXY_AUTH", "nocolon")
        .output()
        .unwrap();
    assert_eq!(child.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&child.stderr).contains("USER:PASSWORD"));
}

#[cfg(unix)]
#[test]
fn the_ca_key_must_not_be_readable_by_group_or_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca.paths().key), 0o600);
    assert_eq!(mode(&ca.paths().dir), 0o700);
    for loose in [0o640, 0o604, 0o660, 0o666] {
        std::fs::set_permissions(&ca.paths().key, std::fs::Permissions::from_mode(loose)).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, CaError::KeyPermissions { .. }),
            "{loose:o}: {err}"
        );
    }
    // The binary refuses to start with it, naming the fix.
    let out = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["headless", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    std::fs::set_permissions(&ca.paths().key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(CertificateAuthority::load_or_create(dir.path()).is_ok());
}

/// The base64 lines of a PEM file (its secret or identifying content).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_ca_key_and_certificate_never_reach_the_har_or_the_log() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"h2", b"http/1.1"]))).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Create the CA first so the log captures a session that loads it.
    let corscope_ca = CertificateAuthority::load_or_create(&data_dir).unwrap();
    let log_path = data_dir.join("corscope.log");
    let har_path = dir.path().join("session.har");
    let upstream_ca = dir.path().join("upstream-ca.pem");
    std::fs::write(&upstream_ca, ca.cert_pem()).unwrap();
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args([
            "headless",
            "--listen",
            "127.0.0.1:0",
            "--no-redact",
            "--har",
        ])
        .arg(&har_path)
        .arg("--upstream-ca")
        .arg(&upstream_ca)
        .arg("--data-dir")
        .arg(&data_dir)
        // Everything corscope and its libraries log, at the most verbose level.
        .env("CORSCOPE_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let addr: SocketAddr = tokio::time::timeout(WAIT, async {
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().unwrap().parse().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("corscope started");
    // Intercepted HTTPS (a leaf signed with the CA key), over h2 and HTTP/1.1.
    let target = upstream.addr.to_string();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(corscope_ca.cert_der().clone()).unwrap();
    for alpn in [&[&b"h2"[..]][..], &[&b"http/1.1"[..]][..]] {
        let tunnel = connect_tunnel(addr, &target).await;
        let tls = tls_over(tunnel, roots.clone(), alpn).await.unwrap();
        if alpn[0] == b"h2" {
            let req = Request::get(format!("https://{target}/echo"))
                .version(http::Version::HTTP_2)
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap();
            assert_eq!(h2_request(tls, req).await.status(), StatusCode::OK);
        } else {
            let mut send = h1_over(tls).await;
            let req = Request::get("/echo")
                .header("host", &target)
                .body(Empty::<Bytes>::new())
                .unwrap();
            assert_eq!(
                send.send_request(req).await.unwrap().status(),
                StatusCode::OK
            );
        }
    }
    stop_and_wait(&mut child);
    let log_text = std::fs::read_to_string(&log_path).unwrap();
    let har_text = std::fs::read_to_string(&har_path).unwrap();
    assert!(har_text.contains("/echo"), "the HAR holds the session");
    assert!(log_text.lines().count() > 50, "trace logging was on");
    let key_pem = std::fs::read_to_string(&corscope_ca.paths().key).unwrap();
    let mut secrets = pem_body_lines(&key_pem);
    secrets.extend(pem_body_lines(corscope_ca.cert_pem()));
    assert!(secrets.len() > 4);
    for (name, text) in [("log", &log_text), ("HAR", &har_text)] {
        assert!(
            !text.contains("PRIVATE KEY"),
            "{name} mentions a private key"
        );
        assert!(
            !text.contains("BEGIN CERTIFICATE"),
            "{name} holds a certificate"
        );
        for line in &secrets {
            assert!(
                !text.contains(line.as_str()),
                "{name} contains CA material: {line}"
            );
        }
    }
    println!(
        "checked {} log lines and a {} byte HAR against {} lines of CA key and certificate",
        log_text.lines().count(),
        har_text.len(),
        secrets.len()
    );
}

fn stop_and_wait(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn requests_aimed_at_corscope_itself_are_refused_in_every_spelling() {
    let proxy = start_proxy(None, |_| {}).await;
    let port = proxy.addr.port();
    let upstream = RecordingUpstream::start().await;
    let spellings = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST.:{port}"),
        format!("0.0.0.0:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
    ];
    for host in &spellings {
        let before = proxy.store.snapshot().exchanges.len();
        let mut send = h1_to_proxy(proxy.addr).await;
        let req = Request::get(format!("http://{host}/loop"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::LOOP_DETECTED, "GET via {host}");
        let answer = raw_exchange(
            proxy.addr,
            format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), Some(508), "CONNECT {host}: {answer}");
        let recorded = new_exchanges(&proxy, before, 2).await;
        assert!(recorded
            .iter()
            .all(|e| e.error.as_deref().unwrap().contains("itself")));
        proxy_still_works(proxy.addr, upstream.addr).await;
    }
    // Only the checks' own requests went anywhere: one per spelling plus nothing looped.
    assert_eq!(upstream.requests().len(), spellings.len());
}
