//! `corscope headless` as a real process: JSON lines on stdout, one per exchange, and a
//! clean exit 0 on SIGTERM after draining. Also: non-loopback listening needs
//! --allow-remote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{Empty, Full};

/// Start the binary; returns the child and the address it reported on stderr.
fn spawn_headless(data_dir: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args([
            "headless",
            "--jsonl",
            "-",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
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
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
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
    let get = lines[0];
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
    assert!(get["error"].is_null());
    assert!(get["timings"]["wait"].is_number());
    chrono::DateTime::parse_from_rfc3339(get["started"].as_str().unwrap()).unwrap();

    let patch = lines[1];
    assert_eq!(patch["request"]["method"], "patch");
    assert_eq!(patch["request"]["body_size"], 5);
    assert_eq!(patch["response"]["body_size"], 5);

    let failed = lines[2];
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
