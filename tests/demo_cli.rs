//! `corscope demo --headless`: the real binary starts the demo origins and the proxy, sends
//! the browser-like traffic and prints one JSON line per exchange with its verdict.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use corscope::demo::scenarios::{Expect, SCENARIOS};

#[test]
fn headless_demo_prints_a_verdict_per_exchange() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args([
            "demo",
            "--headless",
            "--jsonl",
            "-",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for s in SCENARIOS {
        let path = format!("/api/{}", s.id);
        let mine: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| {
                let url = l["request"]["url"].as_str().unwrap();
                url.ends_with(&path) || url.ends_with(&format!("{path}/target"))
            })
            .collect();
        assert!(!mine.is_empty(), "{}: no exchange", s.id);
        let blocked = mine.iter().any(|l| l["verdict"] == "blocked");
        assert_eq!(blocked, s.expect == Expect::Blocked, "{}: {mine:#?}", s.id);
        assert!(mine.iter().all(|l| l["verdict"] != "pending"), "{}", s.id);
    }
}
