//! `corscope headless` as a real process: JSON lines on stdout, one per exchange with its
//! verdict, and a clean exit 0 on SIGTERM after draining; CI mode (`--fail-on-blocked`,
//! `--exit-after-idle`, `--har`) with exit status 3 when a CORS request was blocked. Also:
//! non-loopback listening needs --allow-remote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{Empty, Full};

/// Start the binary; returns the child and the address it reported on stderr.
fn spawn_headless(data_dir: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let (child, addr, _) = spawn_headless_with(data_dir, &["--jsonl", "-"]);
    (child, addr)
}

/// Start the binary with extra `headless` options; also returns a thread collecting the
/// rest of its stderr.
fn spawn_headless_with(
    data_dir: &std::path::Path,
    extra: &[&str],
) -> (
    std::process::Child,
    SocketAddr,
    std::thread::JoinHandle<String>,
) {
    spawn_headless_env(data_dir, extra, &[])
}

/// [`spawn_headless_with`], with environment variables set (`None`: removed).
fn spawn_headless_env(
    data_dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, Option<&std::path::Path>)],
) -> (
    std::process::Child,
    SocketAddr,
    std::thread::JoinHandle<String>,
) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_corscope"));
    for (name, value) in env {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .arg("headless")
        .args(extra)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("CORSCOPE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "corscope exited early"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (child, addr, rest)
}

#[tokio::test]
async fn headless_writes_one_json_line_per_exchange_and_exits_cleanly_on_sigterm() {
    let upstream = start_upstream(None).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_headless(dir.path());

    let mut send = h1_to_proxy(addr).await;
    let req = Request::get(format!("http://{}/echo", upstream.addr))
        .header("x-dup", "1")
        .header("x-dup", "2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    body_bytes(send.send_request(req).await.unwrap()).await;
    let mut send = h1_to_proxy(addr).await;
    let req = Request::builder()
        .method("patch")
        .uri(format!("http://{}/echo", upstream.addr))
        .body(Full::new(Bytes::from_static(b"12345")))
        .unwrap();
    body_bytes(send.send_request(req).await.unwrap()).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut send = h1_to_proxy(addr).await;
    let req = Request::get(format!("http://{dead}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), 502);

    // A client that does not trust corscope's CA: an event line, not an exchange.
    let tunnel = connect_tunnel(addr, &upstream.addr.to_string()).await;
    assert!(
        tls_over(tunnel, rustls::RootCertStore::empty(), &[b"http/1.1"])
            .await
            .is_err()
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));

    let all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let event = all
        .iter()
        .find(|v| v["type"] == "event")
        .expect("event line");
    assert_eq!(event["kind"], "client_tls_failed");
    assert_eq!(event["host"], "127.0.0.1");
    let lines: Vec<&serde_json::Value> = all.iter().filter(|v| v["type"] == "exchange").collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    // Lines come in the order exchanges complete; an exchange is recorded just after the
    // client has its response, so the next request (on another connection) may finish
    // first. Each is found by what it was.
    let find = |method: &str, status: u16| {
        *lines
            .iter()
            .find(|v| v["request"]["method"] == method && v["response"]["status"] == status)
            .unwrap_or_else(|| panic!("no {method} answered {status}: {stdout}"))
    };
    let get = find("GET", 200);
    for key in [
        "id",
        "connection_id",
        "started",
        "request",
        "response",
        "timings",
        "error",
    ] {
        assert!(get.get(key).is_some(), "missing {key}: {get}");
    }
    assert_eq!(get["request"]["method"], "GET");
    assert_eq!(
        get["request"]["url"],
        format!("http://{}/echo", upstream.addr)
    );
    assert_eq!(get["request"]["http_version"], "HTTP/1.1");
    let dups: Vec<&serde_json::Value> = get["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["name"] == "x-dup")
        .map(|h| &h["value"])
        .collect();
    assert_eq!(dups, ["1", "2"]);
    assert_eq!(get["response"]["status"], 200);
    assert_eq!(get["verdict"], "not-cors");
    assert!(get["stage"].is_null());
    assert!(get["error"].is_null());
    assert!(get["timings"]["wait"].is_number());
    chrono::DateTime::parse_from_rfc3339(get["started"].as_str().unwrap()).unwrap();

    let patch = find("patch", 200);
    assert_eq!(patch["request"]["method"], "patch");
    assert_eq!(patch["request"]["body_size"], 5);
    assert_eq!(patch["response"]["body_size"], 5);

    let failed = find("GET", 502);
    assert_eq!(failed["response"]["status"], 502);
    assert!(failed["error"].as_str().unwrap().contains("refused"));
}

#[test]
fn non_loopback_listen_needs_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(["headless", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

const APP: &str = "http://app.test";

async fn cors_request(proxy: SocketAddr, method: &str, url: String, headers: &[(&str, &str)]) {
    let mut send = h1_to_proxy(proxy).await;
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("Origin", APP)
        .header("Sec-Fetch-Mode", "cors");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    body_bytes(resp).await;
}

fn read_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn exchange_lines<'a>(
    lines: &'a [serde_json::Value],
    url_part: &str,
) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| {
            l["type"] == "exchange" && l["request"]["url"].as_str().unwrap().contains(url_part)
        })
        .collect()
}

#[tokio::test]
async fn ci_mode_fails_on_blocked_after_idle_and_writes_every_output() {
    let server = start_cors_server().await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("out.jsonl");
    let har = dir.path().join("out.har");
    let (mut child, addr, stderr) = spawn_headless_with(
        &dir.path().join("data"),
        &[
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--har",
            har.to_str().unwrap(),
            "--fail-on-blocked",
            "--exit-after-idle",
            "2",
        ],
    );
    cors_request(addr, "GET", server.url("/ok?acao=origin"), &[]).await;
    cors_request(addr, "GET", server.url("/closed"), &[]).await;
    // A preflight that refuses PUT: the browser never sends the PUT.
    cors_request(
        addr,
        "OPTIONS",
        server.url("/put-refused?acao=origin&acam=GET"),
        &[("Access-Control-Request-Method", "PUT")],
    )
    .await;

    // No signal: corscope stops by itself once idle.
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("2 blocked CORS exchanges"), "{stderr}");
    assert!(
        stderr.contains(&format!("GET {} from origin {APP}", server.url("/closed"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("No 'Access-Control-Allow-Origin' header is present"),
        "{stderr}"
    );
    assert!(stderr.contains("fix: "), "{stderr}");
    assert!(stderr.contains("/put-refused"), "{stderr}");

    let lines = read_lines(&jsonl);
    let ok = exchange_lines(&lines, "/ok");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["verdict"], "allowed");
    assert_eq!(ok[0]["kind"], "cors");
    assert_eq!(ok[0]["role"], "simple");
    let closed = exchange_lines(&lines, "/closed");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["verdict"], "blocked");
    assert_eq!(closed[0]["stage"], "actual");
    for key in [
        "chrome_message",
        "firefox_reason",
        "fix",
        "diff",
        "explanation",
    ] {
        assert!(!closed[0][key].is_null(), "{key}: {}", closed[0]);
    }
    // The preflight: a pending line, then the settled one with the same id.
    let pf = exchange_lines(&lines, "/put-refused");
    assert_eq!(pf.len(), 2, "{pf:?}");
    assert_eq!(pf[0]["id"], pf[1]["id"]);
    assert_eq!(pf[0]["verdict"], "pending");
    assert_eq!(pf[1]["verdict"], "blocked");
    assert_eq!(pf[1]["stage"], "preflight");
    assert_eq!(pf[1]["role"], "preflight");

    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let verdicts: Vec<&str> = entries
        .iter()
        .map(|e| e["_cors"]["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["allowed", "blocked", "blocked"]);
    assert_eq!(entries[2]["_resourceType"], "preflight");
}

#[tokio::test]
async fn sigterm_writes_outputs_before_exiting_with_the_blocked_status() {
    let server = start_cors_server().await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("out.jsonl");
    let har = dir.path().join("out.har");
    let (mut child, addr, stderr) = spawn_headless_with(
        &dir.path().join("data"),
        &[
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--har",
            har.to_str().unwrap(),
            "--har-every",
            "1",
            "--fail-on-blocked",
        ],
    );
    cors_request(addr, "GET", server.url("/closed"), &[("Cookie", "sid=1")]).await;
    // --har-every: the file appears (and holds the exchange) while corscope still runs.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let written = std::fs::read(&har)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|h| h["log"]["entries"].as_array().is_some_and(|e| e.len() == 1));
        if written {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "--har-every never wrote the file"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("1 blocked CORS exchange:"), "{stderr}");
    let lines = read_lines(&jsonl);
    assert_eq!(exchange_lines(&lines, "/closed")[0]["verdict"], "blocked");
    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entry = &har["log"]["entries"][0];
    assert_eq!(entry["_cors"]["verdict"], "blocked");
    // Redacted by default.
    let cookie = entry["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case("cookie"))
        .unwrap();
    assert_eq!(cookie["value"], "[redacted]");
    // No temporary files left behind by the atomic writes.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[tokio::test]
async fn without_fail_on_blocked_a_blocked_session_still_exits_0() {
    let server = start_cors_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, _stderr) =
        spawn_headless_with(&dir.path().join("data"), &["--exit-after-idle", "1"]);
    cors_request(addr, "GET", server.url("/closed"), &[]).await;
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_writes_a_har_with_every_exchange() {
    const CONNECTIONS: usize = 8;
    const EACH: usize = 400;
    let upstream = start_upstream(None).await;
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("out.har");
    let (mut child, addr, stderr) =
        spawn_headless_with(&dir.path().join("data"), &["--har", har.to_str().unwrap()]);
    let target = upstream.addr;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            tokio::spawn(async move {
                let mut send = h1_to_proxy(addr).await;
                for i in 0..EACH {
                    send.ready().await.unwrap();
                    let req = Request::post(format!("http://{target}/echo?c={c}&i={i}"))
                        .body(Full::new(Bytes::from_static(b"x")))
                        .unwrap();
                    let resp = send.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    body_bytes(resp).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), CONNECTIONS * EACH);
    let urls: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls.len(),
        CONNECTIONS * EACH,
        "every exchange exactly once"
    );
    for c in 0..CONNECTIONS {
        for i in 0..EACH {
            assert!(urls.contains(format!("http://{target}/echo?c={c}&i={i}").as_str()));
        }
    }
    assert!(entries.iter().all(|e| e["response"]["status"] == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_load_loses_no_completed_exchange() {
    // Clients keep sending while SIGTERM arrives: every response a client got whole is in
    // the HAR, and the HAR and the JSON lines (both written from the store at exit) agree
    // on every exchange.
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CONNECTIONS: usize = 8;
    let upstream = start_upstream(None).await;
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("out.har");
    let jsonl = dir.path().join("out.jsonl");
    let (mut child, addr, stderr) = spawn_headless_with(
        &dir.path().join("data"),
        &[
            "--har",
            har.to_str().unwrap(),
            "--jsonl",
            jsonl.to_str().unwrap(),
        ],
    );
    let target = upstream.addr;
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut completed = Vec::new();
                let mut send = h1_to_proxy(addr).await;
                for i in 0.. {
                    if send.ready().await.is_err() {
                        break;
                    }
                    let url = format!("http://{target}/echo?c={c}&i={i}");
                    let req = Request::post(&url)
                        .body(Full::new(Bytes::from_static(b"x")))
                        .unwrap();
                    let Ok(resp) = send.send_request(req).await else {
                        break;
                    };
                    let body = http_body_util::BodyExt::collect(resp.into_body()).await;
                    match body.map(|b| b.to_bytes()) {
                        Ok(bytes) if bytes.as_ref() == b"x" => completed.push(url),
                        _ => break,
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                completed
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) < 1_500 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut completed = Vec::new();
    for task in tasks {
        completed.extend(task.await.unwrap());
    }
    let exit = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let urls: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), entries.len(), "no exchange twice");
    for url in &completed {
        assert!(
            urls.contains(url.as_str()),
            "{url} completed but is not in the HAR"
        );
    }
    let ids: std::collections::HashSet<u64> = read_lines(&jsonl)
        .iter()
        .filter(|l| l["type"] == "exchange")
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), entries.len(), "the JSON lines and the HAR agree");
    eprintln!(
        "{} completed, {} in the HAR",
        completed.len(),
        entries.len()
    );
    assert!(completed.len() >= 1_500);
}

#[tokio::test]
async fn a_ca_in_the_system_store_is_trusted_for_upstreams() {
    // A company or dev CA installed in the operating system's store is trusted without
    // --upstream-ca, as curl and the browser trust it. SSL_CERT_FILE names the store here
    // (as it can on any Unix); a store without the upstream's CA gets 502 unknown issuer.
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let target = upstream.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("installed.pem");
    std::fs::write(&installed, ca.cert_pem()).unwrap();
    // Another CA by another name (a TestCa has the same name and would fail differently).
    let other_ca =
        corscope::tls::ca::CertificateAuthority::load_or_create(&dir.path().join("other"));
    let other = other_ca.unwrap().paths().cert.clone();
    for (i, (store, want)) in [(&installed, 200u16), (&other, 502)]
        .into_iter()
        .enumerate()
    {
        let data_dir = dir.path().join(format!("data{i}"));
        let corscope_ca =
            corscope::tls::ca::CertificateAuthority::load_or_create(&data_dir).unwrap();
        let env = [
            ("SSL_CERT_FILE", Some(store.as_path())),
            ("SSL_CERT_DIR", None),
        ];
        let (mut child, addr, stderr) = spawn_headless_env(&data_dir, &[], &env);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(corscope_ca.cert_der().clone()).unwrap();
        let resp = intercepted_get(addr, &target, "/echo", roots).await;
        let status = resp.status().as_u16();
        let body = body_bytes(resp).await;
        assert_eq!(status, want, "{}", String::from_utf8_lossy(&body));
        if want == 502 {
            assert!(
                String::from_utf8_lossy(&body).contains("unknown issuer"),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!stderr.join().unwrap().contains("WARN"));
    }
}
