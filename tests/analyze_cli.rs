//! `corscope analyze` as a user runs it: the built binary on real and broken HAR files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corscope"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chromium")
        .join(name)
}

#[test]
fn json_one_object_per_entry() {
    let out = bin()
        .args(["analyze", "--json"])
        .arg(fixture("chromium-baseline.har"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 183);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["entry"], i);
        for key in [
            "kind",
            "verdict",
            "stage",
            "paired_with",
            "chrome_message",
            "firefox_reason",
            "diff",
            "fix",
            "lints",
        ] {
            assert!(r.get(key).is_some(), "entry {i} lacks {key}");
        }
        let verdict = r["verdict"].as_str().unwrap();
        assert!(
            ["allowed", "blocked", "not-cors", "unknown"].contains(&verdict),
            "{verdict}"
        );
    }
    // Entry 3 is a simple GET without ACAO: blocked at the actual response.
    assert_eq!(rows[3]["verdict"], "blocked");
    assert_eq!(rows[3]["stage"], "actual");
    assert_eq!(rows[3]["firefox_reason"]["code"], "CORSMissingAllowOrigin");
    assert!(rows[3]["fix"]
        .as_str()
        .unwrap()
        .contains("Access-Control-Allow-Origin"));
    // Preflights point at their actual request and back.
    let pf = rows
        .iter()
        .find(|r| r["kind"] == "cors" && r["role"] == "preflight" && !r["paired_with"].is_null())
        .unwrap();
    let actual = &rows[pf["paired_with"].as_u64().unwrap() as usize];
    assert_eq!(actual["paired_with"], pf["entry"]);
}

#[test]
fn table_output_and_profile() {
    let out = bin()
        .args(["analyze", "--profile", "spec"])
        .arg(fixture("chromium-baseline.har"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().next().unwrap().contains("VERDICT"));
    assert!(stdout.contains("blocked@preflight"));
    assert!(stdout.contains("183 entries, 183 analysed"));
}

#[test]
fn broken_entry_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.har");
    let har = r#"{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[
      {"startedDateTime":"2026-01-01T00:00:00.000Z","time":1,
       "request":{"method":"GET","url":"http://api.test/x","headers":[{"name":"Origin","value":"http://app.test"},{"name":"Sec-Fetch-Mode","value":"cors"}]},
       "response":{"status":200,"headers":[]},"timings":{"send":0,"wait":1,"receive":0}},
      {"startedDateTime":"2026-01-01T00:00:01.000Z","request":{"method":"GET","url":42},"response":{"status":200}},
      {"startedDateTime":"2026-01-01T00:00:02.000Z","time":1,
       "request":{"method":"GET","url":"http://api.test/y","headers":[{"name":"Origin","value":"http://app.test"}]},
       "response":{"status":200,"headers":[{"name":"Access-Control-Allow-Origin","value":"*"}]},"timings":{"send":0,"wait":1,"receive":0}}
    ]}}"#;
    std::fs::write(&path, har).unwrap();
    let out = bin()
        .args(["analyze", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("entry 1"), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["verdict"], "blocked");
    assert!(rows[1]["error"].is_string());
    assert_eq!(rows[2]["verdict"], "allowed");
}

#[test]
fn malformed_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.har");
    std::fs::write(&path, "{\"log\": {\"entries\": [").unwrap();
    let out = bin().arg("analyze").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bad.har") && stderr.contains("not a readable HAR"),
        "{stderr}"
    );
    let out = bin()
        .arg("analyze")
        .arg(dir.path().join("missing.har"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
