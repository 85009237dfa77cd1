//! The connection cap: connections past `--max-connections` get a one-line 503 and are
//! closed, the ones within it are served, memory stays bounded with thousands of idle
//! connections, and the proxy serves again once they are gone. Run against the real binary
//! (so its memory can be read from /proc) and, for the small cap, in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod harden;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use corscope::capture::event::EventKind;
use harden::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

/// Idle connections opened against the default cap.
const IDLE_CONNECTIONS: usize = 10_000;
/// corscope's default `--max-connections`.
const CAP: usize = corscope::config::MAX_CONNECTIONS;
/// Connections opened before waiting for the proxy to have accepted them all: well below
/// the listen backlog (1024), so the kernel never drops a handshake (a dropped one would
/// only be accepted after SYN-ACK retransmits, seconds later).
const BATCH: usize = 500;
/// Connections being set up at once within a batch.
const CONNECTING_AT_ONCE: usize = 64;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn spawn_binary(data_dir: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args([
            "headless",
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "300",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("CORSCOPE_LOG")
        .stdout(Stdio::null())
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
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        if !rest.is_empty() {
            eprintln!("corscope stderr: {rest}");
        }
    });
    (child, addr)
}

/// What one connection's reader saw by the time the proxy closed it.
struct Closed {
    index: usize,
    text: String,
}

/// Open `n` connections; each one's reader reports on `done` when its connection ends.
/// After each batch the batch's last connection sends a probe request and waits for the
/// answer (200 within the cap, 503 past it): the accept queue is first in, first out, so
/// every connection of the batch has then been accepted by the proxy.
async fn open_idle(
    addr: SocketAddr,
    n: usize,
    done: mpsc::UnboundedSender<Closed>,
) -> (Vec<Option<OwnedWriteHalf>>, usize) {
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let mut writers = Vec::with_capacity(n);
    let mut probes_refused = 0;
    for batch_start in (0..n).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(n);
        let mut connecting = Vec::with_capacity(BATCH);
        for _ in batch_start..batch_end {
            let permit = gate.clone().acquire_owned().await.unwrap();
            connecting.push(tokio::spawn(async move {
                let tcp = TcpStream::connect(addr).await.unwrap();
                drop(permit);
                tcp
            }));
        }
        for (offset, task) in connecting.into_iter().enumerate() {
            let index = batch_start + offset;
            let mut tcp = task.await.unwrap();
            if index + 1 == batch_end {
                let probe = format!("GET http://{addr}/probe HTTP/1.1\r\nHost: x\r\n\r\n");
                tcp.write_all(probe.as_bytes()).await.unwrap();
                let head = read_head(&mut tcp).await;
                // corscope answers its own address with 508 (a loop), an accepted probe.
                if head.starts_with("HTTP/1.1 503") {
                    probes_refused += 1;
                    writers.push(None);
                    continue;
                }
                assert!(head.starts_with("HTTP/1.1 508"), "probe {index}: {head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                let mut body = vec![0u8; len];
                tcp.read_exact(&mut body).await.unwrap();
            }
            let (mut read, write) = tcp.into_split();
            writers.push(Some(write));
            let done = done.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                let _ = read.read_to_end(&mut out).await;
                let text = String::from_utf8_lossy(&out).into_owned();
                let _ = done.send(Closed { index, text });
            });
        }
    }
    (writers, probes_refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_hit_a_clean_cap_and_memory_stays_bounded() {
    let limit = corscope::proxy::raise_open_file_limit(0).unwrap();
    // This process holds every client socket plus the upstream's and a few more.
    let count = IDLE_CONNECTIONS.min((limit as usize).saturating_sub(500));
    if count < IDLE_CONNECTIONS {
        println!(
            "open-file limit {limit}: opening {count} connections instead of {IDLE_CONNECTIONS}"
        );
    }
    assert!(
        count > CAP,
        "the open-file limit {limit} is too low to pass the cap"
    );
    let upstream = RecordingUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_binary(dir.path());
    let pid = child.id();
    proxy_still_works(addr, upstream.addr).await;
    let baseline = rss_kb(pid);

    let (done_tx, mut done) = mpsc::unbounded_channel();
    let (mut writers, probes_refused) = open_idle(addr, count, done_tx).await;
    let refused_expected = count - CAP - probes_refused;
    let mut refused = std::collections::HashSet::new();
    let collected = tokio::time::timeout(WAIT * 3, async {
        while refused.len() < refused_expected {
            let closed = done.recv().await.unwrap();
            assert!(
                closed
                    .text
                    .starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
                "connection {} ended with {:?}",
                closed.index,
                closed.text
            );
            assert!(closed.text.contains("Connection: close"), "{}", closed.text);
            assert!(closed.text.ends_with(&format!(
                "connection limit ({CAP}) reached; try again later\n"
            )));
            refused.insert(closed.index);
        }
    })
    .await;
    assert!(
        collected.is_ok(),
        "only {} of the {refused_expected} connections past the cap were refused",
        refused.len()
    );
    let held = rss_kb(pid);
    assert!(
        done.try_recv().is_err(),
        "a connection within the cap was closed"
    );

    // A new connection is refused too while the cap is full.
    let answer = raw_exchange(addr, b"GET http://x/ HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    // Connections within the cap are served: send a request on three of them.
    let accepted: Vec<usize> = (0..count)
        .filter(|i| !refused.contains(i) && writers[*i].is_some())
        .take(3)
        .collect();
    for &i in &accepted {
        let wire = format!(
            "GET http://{0}/held-{i} HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            upstream.addr
        );
        writers[i]
            .as_mut()
            .unwrap()
            .write_all(wire.as_bytes())
            .await
            .unwrap();
    }
    for _ in &accepted {
        let closed = tokio::time::timeout(WAIT, done.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(accepted.contains(&closed.index));
        assert!(closed.text.starts_with("HTTP/1.1 200"), "{}", closed.text);
        assert!(closed
            .text
            .ends_with(&format!("ok GET /held-{}", closed.index)));
    }

    // The idle ones go away; the proxy serves again.
    writers.clear();
    drop(done);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let wire = format!(
            "GET http://{0}/after HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            upstream.addr
        );
        let answer = raw_exchange(addr, wire.as_bytes()).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused after the idle connections closed"
        );
        tokio::task::yield_now().await;
    }
    let per_connection = held.saturating_sub(baseline) * 1024 / CAP as u64;
    println!(
        "{count} connections: {} served and held idle, {} refused with 503; corscope RSS \
         {baseline} KB before, {held} KB holding them (~{per_connection} bytes per held connection)",
        CAP,
        refused.len() + probes_refused
    );
    assert!(
        held < baseline + 256 * 1024,
        "RSS grew from {baseline} KB to {held} KB"
    );
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
}

#[tokio::test]
async fn a_small_cap_refuses_cleanly_and_frees_slots_as_connections_close() {
    let upstream = RecordingUpstream::start().await;
    let proxy = start_proxy(None, |c| c.max_connections = 2).await;
    let mut first = TcpStream::connect(proxy.addr).await.unwrap();
    let second = TcpStream::connect(proxy.addr).await.unwrap();
    // Make sure both are being served before the third arrives.
    for tcp in [&mut first] {
        let wire = format!(
            "GET http://{0}/a HTTP/1.1\r\nHost: {0}\r\n\r\n",
            upstream.addr
        );
        tcp.write_all(wire.as_bytes()).await.unwrap();
        let head = read_head(tcp).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let third = raw_exchange(proxy.addr, b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    assert!(third.contains("connection limit (2) reached"), "{third}");
    let event = wait_for_event(&proxy, "--max-connections").await;
    assert_eq!(event.kind, EventKind::ConnectionLimit);
    drop(first);
    drop(second);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let wire = format!(
            "GET http://{0}/b HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            upstream.addr
        );
        let answer = raw_exchange(proxy.addr, wire.as_bytes()).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answer}");
        tokio::task::yield_now().await;
    }
    // One event per time the cap is reached, not one per refused connection.
    let limit_events = proxy
        .store
        .snapshot()
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ConnectionLimit)
        .count();
    assert_eq!(limit_events, 1);
}
