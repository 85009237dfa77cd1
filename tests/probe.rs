//! `corscope probe` as a user runs it, against real local servers with good and broken CORS
//! answers: what the server saw (preflight only when needed, Chromium's ACRM/ACRH
//! formatting, no actual request after a refusing preflight), the exit status, the text
//! and `--json` output, HTTPS, and a clear error for a refused connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const APP: &str = "http://app.test";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn probe(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_corscope"))
        .arg("probe")
        .args(args)
        .env_remove("CORSCOPE_LOG")
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test]
async fn simple_get_sends_no_preflight_and_is_allowed() {
    let server = start_cors_server().await;
    let url = server.url("/data?acao=origin");
    let run = probe(&["--origin", APP, &url]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].header("origin"), Some(APP));
    assert_eq!(seen[0].header("sec-fetch-mode"), Some("cors"));
    assert_eq!(seen[0].header("sec-fetch-dest"), Some("empty"));
    assert_eq!(seen[0].header("sec-fetch-site"), Some("cross-site"));
    assert_eq!(seen[0].header("accept"), Some("*/*"));
    assert_eq!(seen[0].header("cookie"), None);
    assert!(run.stdout.contains("no preflight needed"), "{}", run.stdout);
    assert!(run.stdout.contains("Verdict:  ALLOWED"), "{}", run.stdout);
}

#[tokio::test]
async fn put_with_custom_headers_sends_chromiums_preflight_then_the_put() {
    let server = start_cors_server().await;
    let url = server.url("/item?acao=origin&acam=PUT&acah=X-A,x-b,content-type");
    let run = probe(&[
        "--origin",
        APP,
        "-X",
        "put",
        "-H",
        "X-B: 1",
        "-H",
        "X-A: 2",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &url,
    ])
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let pf = &seen[0];
    assert_eq!(pf.method, "OPTIONS");
    assert_eq!(pf.header("access-control-request-method"), Some("PUT"));
    assert_eq!(
        pf.header("access-control-request-headers"),
        Some("content-type,x-a,x-b")
    );
    assert_eq!(pf.header("accept"), Some("*/*"));
    assert_eq!(pf.header("origin"), Some(APP));
    assert_eq!(pf.header("sec-fetch-mode"), Some("cors"));
    assert_eq!(pf.header("sec-fetch-dest"), Some("empty"));
    assert!(pf.header("x-a").is_none() && pf.header("cookie").is_none());
    let put = &seen[1];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.header("x-a"), Some("2"));
    assert_eq!(put.header("x-b"), Some("1"));
    assert_eq!(put.header("content-length"), Some("2"));
    assert!(
        run.stdout.contains("── preflight: OPTIONS"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Verdict:  ALLOWED"), "{}", run.stdout);
}

#[tokio::test]
async fn a_method_only_preflight_has_no_acrh_and_keeps_the_method_case() {
    let server = start_cors_server().await;
    // `patch` is not normalised, and `Allow-Methods: PATCH` does not match it.
    let url = server.url("/item?acao=origin&acam=PATCH");
    let run = probe(&["--origin", APP, "-X", "patch", &url]).await;
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    assert_eq!(
        seen.len(),
        1,
        "the actual request must not be sent: {seen:?}"
    );
    assert_eq!(seen[0].method, "OPTIONS");
    assert_eq!(
        seen[0].header("access-control-request-method"),
        Some("patch")
    );
    assert_eq!(seen[0].header("access-control-request-headers"), None);
    assert!(
        run.stdout.contains("Verdict:  BLOCKED at preflight"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Method patch is not allowed by Access-Control-Allow-Methods"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not sent"), "{}", run.stdout);
    assert!(run.stdout.contains("Fix:"), "{}", run.stdout);
}

#[tokio::test]
async fn json_output_for_a_refused_method() {
    let server = start_cors_server().await;
    let url = server.url("/item?acao=origin&acam=GET,POST");
    let run = probe(&["--origin", APP, "-X", "DELETE", "--json", &url]).await;
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    assert_eq!(server.seen().len(), 1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["verdict"], "blocked");
    assert_eq!(v["stage"], "preflight");
    assert_eq!(v["method"], "DELETE");
    assert_eq!(v["origin"], APP);
    assert_eq!(v["preflight_sent"], true);
    assert_eq!(v["actual_sent"], false);
    assert_eq!(v["credentials"], "omit");
    assert!(v["chrome_message"]
        .as_str()
        .unwrap()
        .contains("Method DELETE is not allowed"));
    assert_eq!(v["firefox_reason"]["code"], "CORSMethodNotFound");
    assert!(v["fix"].as_str().unwrap().contains("DELETE"));
    assert!(v["diff"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["ok"] == false));
    let exchanges = v["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0]["request"]["method"], "OPTIONS");
    assert_eq!(exchanges[0]["response"]["status"], 204);
    assert_eq!(exchanges[0]["verdict"]["verdict"], "blocked");
    assert_eq!(exchanges[0]["verdict"]["role"], "preflight");
}

#[tokio::test]
async fn credentials_include_needs_allow_credentials() {
    let server = start_cors_server().await;
    let url = server.url("/me?acao=origin");
    let run = probe(&["--origin", APP, "--credentials", "include", "--json", &url]).await;
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("cookie"), Some("corscope_probe=1"));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["stage"], "actual");
    assert!(v["chrome_message"]
        .as_str()
        .unwrap()
        .contains("Access-Control-Allow-Credentials"));
    let ok = probe(&[
        "--origin",
        APP,
        "-H",
        "Cookie: sid=1",
        &server.url("/me?acao=origin&acac=true"),
    ])
    .await;
    assert_eq!(ok.code, Some(0), "{}", ok.stdout);
    assert_eq!(server.seen()[1].header("cookie"), Some("sid=1"));
}

#[tokio::test]
async fn https_with_insecure_and_a_server_without_cors_headers() {
    let ca = TestCa::new();
    let upstream = start_upstream(Some(ca.server_config(&[b"http/1.1"]))).await;
    let url = format!("https://127.0.0.1:{}/echo", upstream.addr.port());
    let refused = probe(&["--origin", APP, &url]).await;
    assert_eq!(
        refused.code,
        Some(2),
        "untrusted certificate: {}",
        refused.stderr
    );
    assert!(refused.stderr.contains("TLS"), "{}", refused.stderr);
    let run = probe(&["--origin", APP, "--insecure", &url]).await;
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("No 'Access-Control-Allow-Origin' header is present"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn connection_refused_is_a_clear_error() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = probe(&["--origin", APP, &format!("http://{dead}/x")]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("cannot connect to 127.0.0.1"),
        "{}",
        run.stderr
    );
    let bad = probe(&["--origin", "not an origin", "http://127.0.0.1:1/"]).await;
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("--origin"), "{}", bad.stderr);
}
