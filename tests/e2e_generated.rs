//! Differential end to end: randomly generated CORS cases run by a real headless Chromium
//! through a real corscope proxy, and what the browser did compared with the engine's
//! verdicts, case by case.
//!
//! From a seed, [`generate`] makes cases in the space of the recorded fixtures
//! (tests/fixtures/chromium): a page origin and two API origins on loopback ports (same
//! site, different origins; the page sets a cookie), a `fetch()` with a method, request
//! headers, a body, a credentials mode and one to three calls to the same URL, and
//! server answers for the preflight and the actual request of every hop of a redirect
//! chain (Access-Control-Allow-* values, Max-Age, statuses, redirects to the same API,
//! the other one or the page origin), plus edges of the rules the recordings do not
//! reach (several or padded ACAO values, unparsable allow lists, preflight redirects,
//! odd safelisted values, `Vary`, `Set-Cookie`, relative locations, a same-origin start,
//! `redirect: 'manual'` and `'error'`).
//!
//! The test servers answer `/case/<id>/<hop>` from the case's definition. Chromium runs
//! with the arguments `corscope browser` gives it (proxy = a real in-process corscope,
//! whose store the live follower judges) plus console logging to stderr. The page runs the
//! cases one after another and posts what each call got (resolved or threw, readable
//! header names). A case's exchanges are split into its calls, and per call:
//! - outcome: the page's (resolved / threw) against the engine's (any exchange of the
//!   call judged blocked; unknown or pending counts as a disagreement, but for `unknown`
//!   on a call with a redirect mode when Chromium logged nothing: a 3xx that passed the
//!   CORS check and was not followed reads the same on the wire under both modes);
//! - stage: what the wire shows for a blocked call (its last exchange is a preflight, a
//!   3xx, or the final response) against the stage of the engine's blocked verdict;
//! - console text: the CORS line Chromium logged for it against the engine's Chrome
//!   message (or one of the alternatives it lists when the wire hides the choice);
//! - readable headers of an allowed call against the engine's `readable_headers`.
//!
//! Every check runs twice: on the live verdicts, and on the verdicts of the recording
//! exported to HAR and read back (how recordings are judged). A disagreement prints the
//! case, what the page saw, what the servers saw, the console lines, and every exchange
//! with its verdicts. Hunt with more: `CORSCOPE_GEN_SEED=1,2,3` `CORSCOPE_GEN_CASES=1000`;
//! rerun a few with `CORSCOPE_GEN_ONLY=s1-17,s1-40` (with their seed and count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/fetch.rs"]
mod fetch;
use fetch::fetch_outcome;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corscope::browser::{chromium_args, find, BrowserKind, LaunchOptions};
use corscope::capture::store::Store;
use corscope::capture::Exchange;
use corscope::cors::classify::Role;
use corscope::cors::{self, Profile, Verdict};
use corscope::har::{self, export::ExportOptions};
use corscope::live::Verdicts;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;

mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

/// The suite's default seed and number of cases: two Chromium runs of [`BATCH`] cases,
/// about ten seconds on a 2-core machine.
const DEFAULT_SEED: u64 = 1;
const DEFAULT_CASES: usize = 800;

/// Cases per Chromium run: a long hunt restarts the browser (and its preflight cache and
/// cookie jar) every this many cases.
const BATCH: usize = 400;

/// What the page logs when every case has run; seen on stderr, it means every console
/// line of the cases before it was read.
const SENTINEL: &str = "corscope-generated-cases-done";

// ---------------------------------------------------------------------------------------
// Randomness: splitmix64, seeded per case so a case can be rerun alone.

/// The generator for case `index` of `seed`.
fn rng_for_case(seed: u64, index: usize) -> Rng {
    let mut r = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) ^ index as u64);
    r.next();
    r
}

// ---------------------------------------------------------------------------------------
// The cases.

/// One of the three test servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Server {
    Page,
    Api,
    Api2,
}

impl Server {
    fn index(self) -> usize {
        self as usize
    }
}

/// A server answer. Header values may hold placeholders, filled in when served:
/// `$ORIGIN` (the request's Origin; the header is left out when there is none), `$APP`,
/// `$API`, `$API2`, `$SELF` (this server's origin), `$APP_UPPER` / `$APP_HTTPS` /
/// `$APP_LOCALHOST` (the page origin with an upper-case scheme, with https, with the host
/// spelled `localhost`), `$NEXT` (the next hop's absolute URL), `$NEXT_PATH` (its path),
/// `$NEXT_USERINFO` (its URL with a user name and password).
#[derive(Debug, Clone, Serialize)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

/// One URL of the chain: `/case/<id>/<hop>` on `server`.
#[derive(Debug, Clone, Serialize)]
struct Hop {
    server: Server,
    preflight: Answer,
    actual: Answer,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
enum BodyKind {
    Text(String),
    Params(String),
}

#[derive(Debug, Clone, Serialize)]
struct Case {
    id: String,
    /// `cors`, `no-cors`, or `same-origin` (from the page's own origin only: to another
    /// origin it is refused in JS before any request).
    mode: &'static str,
    method: String,
    credentials: &'static str,
    /// Set by the script, in this order (names in the case the script uses).
    headers: Vec<(String, String)>,
    body: Option<BodyKind>,
    /// `fetch()` calls to the same URL, one after another.
    calls: u8,
    /// How the calls after the first differ from it.
    later: Option<Later>,
    /// The fetch `cache` mode, when not the default.
    cache: Option<&'static str>,
    /// The fetch `redirect` mode (`manual` or `error`), when not the default.
    redirect: Option<&'static str>,
    hops: Vec<Hop>,
}

/// What changes for the calls after the first (the preflight cache decides whether they
/// need a preflight of their own).
#[derive(Debug, Clone, Default, Serialize)]
struct Later {
    credentials: Option<&'static str>,
    header: Option<(String, String)>,
    /// Wait this long before the second call (past `Max-Age: 1`).
    pause_ms: u32,
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// The method as fetch() sends it (Fetch "normalize").
fn normalized(method: &str) -> String {
    let upper = method.to_ascii_uppercase();
    if ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].contains(&upper.as_str()) {
        upper
    } else {
        method.to_owned()
    }
}

fn generate(seed: u64, n: usize) -> Vec<Case> {
    (0..n)
        .map(|i| gen_case(&mut rng_for_case(seed, i), format!("s{seed}-{i}")))
        .collect()
}

/// What the request needs from the servers, for answers that mostly grant it.
struct Want {
    /// False for no-cors: Chromium rejects its redirects to a location with credentials
    /// without a CORS check (no console line; the engine makes no CORS claim there).
    cors: bool,
    method: String,
    names: Vec<String>,
    include: bool,
}

fn gen_case(rng: &mut Rng, id: String) -> Case {
    let mode = *rng.weighted(&[(94, "cors"), (4, "no-cors"), (2, "same-origin")]);
    let mut method = (*rng.weighted(&[
        (16, "GET"),
        (12, "POST"),
        (7, "HEAD"),
        (8, "PUT"),
        (6, "DELETE"),
        (6, "PATCH"),
        (5, "patch"),
        (5, "FOO"),
        (2, "put"),
        (1, "delete"),
        (1, "Get"),
        (1, "foo"),
        (1, "OPTIONS"),
    ]))
    .to_owned();
    if mode == "no-cors" && !["GET", "HEAD", "POST"].contains(&normalized(&method).as_str()) {
        // Any other method is refused in JS before a request is made.
        method = "GET".into();
    }
    let credentials = *rng.weighted(&[(40, "include"), (30, "omit"), (30, "same-origin")]);
    let headers = gen_request_headers(rng);
    let body_allowed = !matches!(normalized(&method).as_str(), "GET" | "HEAD");
    let body = if body_allowed {
        rng.weighted(&[
            (45, None),
            (40, Some(BodyKind::Text("abc".into()))),
            (15, Some(BodyKind::Params("a=1&b=2".into()))),
        ])
        .clone()
    } else {
        None
    };
    let calls = *rng.weighted(&[(78, 1u8), (18, 2), (4, 3)]);
    let later = (calls > 1 && rng.chance(30)).then(|| gen_later(rng, credentials, &headers));
    let cache = if calls > 1 && rng.chance(10) {
        Some(*rng.pick(&["no-store", "reload"]))
    } else {
        None
    };
    let start = if mode == "same-origin" {
        Server::Page
    } else {
        *rng.weighted(&[(86, Server::Api), (8, Server::Api2), (6, Server::Page)])
    };
    let redirects = *rng.weighted(&[(78, 0usize), (16, 1), (6, 2)]);
    let mut servers = vec![start];
    for _ in 0..redirects {
        servers.push(*rng.weighted(&[(40, Server::Api), (35, Server::Api2), (25, Server::Page)]));
    }
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.dedup();
    let want = Want {
        cors: mode == "cors",
        method: normalized(&method),
        names,
        include: credentials == "include",
    };
    let mut hops: Vec<Hop> = servers
        .iter()
        .enumerate()
        .map(|(i, &server)| {
            // Fetch lets a request that stayed on the page's origin follow a location with
            // credentials to it; Chromium refuses any such subresource URL without a CORS
            // check (no console line), which the engine makes no claim about.
            let page_only = servers[..=i].iter().all(|&s| s == Server::Page);
            let next = servers.get(i + 1).map(|&s| Next {
                same_server: s == server,
                credentials_ok: want.cors && !(page_only && s == Server::Page),
            });
            // Half the hops answer as the request needs, but for a field or two.
            let good = rng.chance(50);
            Hop {
                server,
                preflight: gen_preflight(rng, &want, good),
                actual: gen_actual(rng, &want, good, next),
            }
        })
        .collect();
    if later.as_ref().is_some_and(|l| l.pause_ms > 0) {
        for hop in &mut hops {
            for (name, value) in &mut hop.preflight.headers {
                if name == "Access-Control-Max-Age" {
                    *value = "1".into();
                }
            }
        }
    }
    // Drawn last, so that the rest of a case is as it was before redirect modes came.
    // Only a cross-origin CORS start: the browser stops at that first 3xx, which the
    // engine judges (or calls undecidable when it passed: the wire does not show the mode).
    let redirect = (mode == "cors" && start != Server::Page && redirects > 0 && rng.chance(15))
        .then(|| *rng.pick(&["manual", "error"]));
    if redirect.is_some() {
        // A location with credentials fails only a redirect that is followed: from the
        // wire the engine takes the default, `follow`, and blocks it.
        for (name, value) in &mut hops[0].actual.headers {
            if name == "Location" && value == "$NEXT_USERINFO" {
                *value = "$NEXT".into();
            }
        }
    }
    Case {
        id,
        mode,
        method,
        credentials,
        headers,
        body,
        calls,
        later,
        cache,
        redirect,
        hops,
    }
}

fn gen_later(rng: &mut Rng, credentials: &'static str, headers: &[(String, String)]) -> Later {
    let mut later = Later::default();
    match rng.below(20) {
        0..=8 => {
            let other: Vec<&'static str> = ["include", "omit", "same-origin"]
                .into_iter()
                .filter(|c| *c != credentials)
                .collect();
            later.credentials = Some(*rng.pick(&other));
        }
        9..=18 => {
            let (name, value) = *rng.pick(&[
                ("X-Custom", "2"),
                ("X-Trace-Id", "def"),
                ("Authorization", "Bearer u"),
                ("Content-Type", "application/json"),
                ("Content-Language", "de"),
            ]);
            let dup = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            later.header = (!dup).then(|| h(name, value));
        }
        _ => later.pause_ms = 1_100,
    }
    later
}

/// `name` as written or lowercased (scripts spell header names either way).
fn spelled(rng: &mut Rng, name: &str) -> String {
    if rng.chance(50) {
        name.to_owned()
    } else {
        name.to_ascii_lowercase()
    }
}

fn gen_request_headers(rng: &mut Rng) -> Vec<(String, String)> {
    let x128 = "x".repeat(128);
    let x129 = "x".repeat(129);
    let mut out = Vec::new();
    if rng.chance(35) {
        let v = *rng.weighted(&[
            (10, "text/plain"),
            (8, "application/x-www-form-urlencoded"),
            (6, "text/plain;charset=UTF-8"),
            (10, "application/json"),
            (3, "multipart/form-data; boundary=x"),
            (2, "Text/Plain"),
            (2, "text/plain; x=\"y\""),
            (2, "text/plain, application/json"),
            (2, " text/plain "),
            (2, "text/html"),
            (1, "text/plain; charset=\"utf-8\""),
            (1, "application/x-www-form-urlencoded;"),
            (1, ""),
        ]);
        out.push(h(&spelled(rng, "Content-Type"), v));
    }
    if rng.chance(20) {
        let v = rng
            .weighted(&[
                (10, "en"),
                (6, x128.as_str()),
                (6, x129.as_str()),
                (3, "en_US"),
                (3, "en-US, de"),
                (1, ""),
                (1, "\u{e9}"),
            ])
            .to_string();
        out.push(h(&spelled(rng, "Content-Language"), v));
    }
    if rng.chance(12) {
        let v = *rng.weighted(&[
            (6, "application/json"),
            (3, "text/\"x\""),
            (3, "application/json, text/plain;q=0.9"),
            (1, ""),
            (1, "text/\u{e9}"),
        ]);
        out.push(h("Accept", v));
    }
    if rng.chance(5) {
        out.push(h(
            "Accept-Language",
            *rng.pick(&["de", "en-US,en;q=0.9", "de{x}"]),
        ));
    }
    if rng.chance(15) {
        let v = *rng.weighted(&[
            (8, "bytes=0-5"),
            (3, "bytes=5-"),
            (3, "bytes=-5"),
            (3, "bytes=0-1,3-4"),
            (2, "bytes = 0-5"),
            (1, ""),
        ]);
        out.push(h(&spelled(rng, "Range"), v));
    }
    if rng.chance(25) {
        out.push(h(&spelled(rng, "X-Custom"), "1"));
    }
    if rng.chance(18) {
        out.push(h(&spelled(rng, "X-Trace-Id"), "abc"));
    }
    if rng.chance(15) {
        out.push(h(&spelled(rng, "Authorization"), "Bearer t"));
    }
    // The order the script sets them in is part of the case (Chrome names the first
    // refused header in its own request-header order).
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    // A header set twice is sent once, its values joined with ", ".
    if !out.is_empty() && rng.chance(4) {
        let (name, value) = out[rng.below(out.len())].clone();
        let i = rng.below(out.len() + 1);
        out.insert(i, (name, value));
    }
    out
}

/// True when a field of a good answer keeps its right value.
fn keep(rng: &mut Rng, good: bool) -> bool {
    good && !rng.chance(15)
}

fn gen_acao(rng: &mut Rng, good: bool, include: bool) -> Option<Vec<&'static str>> {
    if keep(rng, good) {
        let any = if include { "$ORIGIN" } else { "*" };
        return Some(vec![*rng.weighted(&[
            (65, "$ORIGIN"),
            (20, "$APP"),
            (15, any),
        ])]);
    }
    rng.weighted(&[
        (35, Some(vec!["$APP"])),
        (14, Some(vec!["$ORIGIN"])),
        (15, Some(vec!["*"])),
        (4, Some(vec!["$SELF"])),
        (3, Some(vec!["$APP_UPPER"])),
        (5, Some(vec!["null"])),
        (3, Some(vec!["http://127.0.0.1:1"])),
        (3, Some(vec!["$APP/"])),
        (8, None),
        (2, Some(vec!["$APP", "$APP"])),
        (1, Some(vec!["*", "*"])),
        (1, Some(vec!["$ORIGIN", "*"])),
        (2, Some(vec!["$APP, $API"])),
        (2, Some(vec![" $ORIGIN "])),
        (1, Some(vec!["\t*"])),
        (1, Some(vec![""])),
        (1, Some(vec!["$APP_HTTPS"])),
        (1, Some(vec!["$APP_LOCALHOST"])),
    ])
    .clone()
}

fn gen_acac(rng: &mut Rng, good: bool, include: bool) -> Vec<&'static str> {
    if keep(rng, good) && (include || rng.chance(50)) {
        return vec!["true"];
    }
    rng.weighted(&[
        (45, vec!["true"]),
        (10, vec!["True"]),
        (10, vec!["false"]),
        (30, vec![]),
        (2, vec!["true", "true"]),
        (3, vec![" true "]),
        (1, vec!["TRUE"]),
        (1, vec!["1"]),
    ])
    .clone()
}

/// The origin part every answer carries (ACAO, ACAC, sometimes `Vary: Origin`).
fn origin_part(rng: &mut Rng, good: bool, include: bool, out: &mut Vec<(String, String)>) {
    if let Some(values) = gen_acao(rng, good, include) {
        for v in values {
            out.push(h("Access-Control-Allow-Origin", v));
        }
    }
    for v in gen_acac(rng, good, include) {
        out.push(h("Access-Control-Allow-Credentials", v));
    }
    if rng.chance(8) {
        out.push(h("Vary", "Origin"));
    }
}

fn gen_acam(rng: &mut Rng, m: &str, good: bool, include: bool) -> Vec<String> {
    if keep(rng, good) {
        return match rng.below(10) {
            0..=5 => vec![m.to_owned()],
            6..=8 => vec![format!("GET, {m}")],
            _ if include => vec![format!("{m}, OPTIONS")],
            _ => vec!["*".into()],
        };
    }
    match rng.below(100) {
        0..=24 => vec![m.to_owned()],
        25..=31 => vec![m.to_ascii_uppercase()],
        32..=38 => vec![m.to_ascii_lowercase()],
        39..=46 => vec!["*".into()],
        47..=56 => vec![format!("GET, {m}")],
        57..=61 => vec!["GET".into()],
        62..=66 => vec!["GET, POST".into()],
        67..=76 => vec![],
        77..=80 => vec![format!("GET, {m}, OPTIONS")],
        81..=83 => vec!["GET, GET".into()],
        84..=86 => vec![format!("{m},,GET")],
        87..=89 => vec![format!("  {m} ")],
        90..=92 => vec![format!("{m};")],
        93..=95 => vec!["GET".into(), m.to_owned()],
        96..=97 => vec![format!("\"{m}\"")],
        _ => vec![String::new()],
    }
}

fn gen_acah(rng: &mut Rng, names: &[String], good: bool, include: bool) -> Vec<String> {
    let all = names.join(", ");
    if keep(rng, good) {
        return match rng.below(10) {
            0..=5 => vec![all],
            6..=7 => vec![all.to_ascii_uppercase()],
            _ if include => names.to_vec(),
            _ => vec!["*".into()],
        };
    }
    match rng.below(100) {
        0..=29 => vec![all.clone()],
        30..=39 => vec![all.to_ascii_uppercase()],
        40..=47 if names.len() > 1 => {
            let drop = rng.below(names.len());
            let rest: Vec<&str> = (0..names.len())
                .filter(|&i| i != drop)
                .map(|i| names[i].as_str())
                .collect();
            vec![rest.join(", ")]
        }
        40..=54 => vec!["*".into()],
        55..=60 => vec!["*, Authorization".into()],
        61..=66 => vec!["X-Unused".into()],
        67..=80 => vec![],
        81..=83 => vec![String::new()],
        84..=86 if !names.is_empty() => vec![format!("{};", names[0])],
        84..=89 => vec![names.join(" ")],
        90..=93 => vec![names.join(",,")],
        _ => names.iter().map(|n| n.to_ascii_uppercase()).collect(),
    }
}

fn gen_preflight(rng: &mut Rng, want: &Want, good: bool) -> Answer {
    let mut headers = Vec::new();
    origin_part(rng, good, want.include, &mut headers);
    for v in gen_acam(rng, &want.method, good, want.include) {
        headers.push(h("Access-Control-Allow-Methods", v));
    }
    for v in gen_acah(rng, &want.names, good, want.include) {
        if !v.is_empty() || rng.chance(50) {
            headers.push(h("Access-Control-Allow-Headers", v));
        }
    }
    if let Some(v) = *rng.weighted(&[
        (40, None),
        (25, Some("0")),
        (25, Some("600")),
        (3, Some("abc")),
        (2, Some("-1")),
        (2, Some(" 600 ")),
        (3, Some("1")),
    ]) {
        headers.push(h("Access-Control-Max-Age", v));
    }
    let status = if keep(rng, good) {
        *rng.pick(&[204u16, 200])
    } else {
        *rng.weighted(&[
            (50, 204u16),
            (25, 200),
            (5, 299),
            (4, 404),
            (4, 500),
            (4, 301),
            (1, 302),
            (1, 307),
            (1, 308),
            (2, 300),
        ])
    };
    if (301..=308).contains(&status) && (status != 301 || rng.chance(80)) {
        headers.push(h("Location", "/elsewhere"));
    }
    headers.push(h("Cache-Control", "no-store"));
    Answer { status, headers }
}

/// Where a redirecting hop sends the request.
struct Next {
    same_server: bool,
    /// A location with a user name and password may be generated.
    credentials_ok: bool,
}

/// `next`: set when this hop redirects.
fn gen_actual(rng: &mut Rng, want: &Want, good: bool, next: Option<Next>) -> Answer {
    let mut headers = Vec::new();
    origin_part(rng, good, want.include, &mut headers);
    headers.push(h("X-Custom", "c"));
    headers.push(h("X-Other", "o"));
    let aceh: Vec<&str> = rng
        .weighted(&[
            (55, vec![]),
            (12, vec!["x-other, X-CUSTOM"]),
            (12, vec!["X-Custom"]),
            (12, vec!["*"]),
            (3, vec!["x-other", "X-Custom"]),
            (3, vec!["*, x-custom"]),
            (3, vec!["Set-Cookie, x-other"]),
            (1, vec!["x-custom;"]),
            (1, vec![""]),
            (1, vec![" X-Custom , x-other "]),
        ])
        .clone();
    for v in aceh {
        headers.push(h("Access-Control-Expose-Headers", v));
    }
    if rng.chance(6) {
        // A path no request goes to: the cookie is stored but never sent back.
        headers.push(h("Set-Cookie", "gen=1; Path=/never"));
    }
    headers.push(h("Content-Type", "text/plain"));
    headers.push(h("Cache-Control", "no-store"));
    let status = match next {
        Some(Next {
            same_server,
            credentials_ok,
        }) => {
            let location = *rng.weighted(&[
                (if same_server { 30 } else { 0 }, "$NEXT_PATH"),
                (64, "$NEXT"),
                (3, "$NEXT#frag"),
                (if credentials_ok { 3 } else { 0 }, "$NEXT_USERINFO"),
            ]);
            headers.push(h("Location", location));
            *rng.pick(&[301u16, 302, 303, 307, 308])
        }
        None => *rng.weighted(&[
            (50, 200u16),
            (10, 201),
            (10, 204),
            (5, 299),
            (12, 404),
            (13, 500),
            (1, 300),
        ]),
    };
    Answer { status, headers }
}

// ---------------------------------------------------------------------------------------
// The servers.

/// A request one of the servers received.
#[derive(Debug, Clone)]
struct Seen {
    server: Server,
    method: String,
    path: String,
    preflight: bool,
    case: Option<String>,
    status: u16,
    redirect: bool,
}

struct State {
    cases: HashMap<String, Case>,
    /// Page, API, API2.
    origins: [String; 3],
    /// Added to every case URL (`?n=`), as the recordings do.
    nonce: u64,
    page_html: String,
    log: Mutex<Vec<Seen>>,
    results: Mutex<BTreeMap<String, serde_json::Value>>,
    done: tokio::sync::watch::Sender<bool>,
}

impl State {
    fn case_url(&self, id: &str, hop: usize, server: Server) -> String {
        format!(
            "{}{}",
            self.origins[server.index()],
            self.case_path(id, hop)
        )
    }

    fn case_path(&self, id: &str, hop: usize) -> String {
        format!("/case/{id}/{hop}?n={}", self.nonce)
    }

    /// Fill in an answer header's placeholders; `None` leaves the header out.
    fn resolve(
        &self,
        value: &str,
        origin: Option<&str>,
        me: Server,
        case: &Case,
        hop: usize,
    ) -> Option<String> {
        let mut out = String::new();
        let mut rest = value;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let name_len = rest[at + 1..]
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len() - at - 1);
            let name = &rest[at + 1..at + 1 + name_len];
            let next = || case.hops.get(hop + 1).map(|n| (hop + 1, n.server));
            let filled = match name {
                "ORIGIN" => origin?.to_owned(),
                "APP" => self.origins[0].clone(),
                "API" => self.origins[1].clone(),
                "API2" => self.origins[2].clone(),
                "SELF" => self.origins[me.index()].clone(),
                "APP_UPPER" => self.origins[0].replacen("http://", "HTTP://", 1),
                "APP_HTTPS" => self.origins[0].replacen("http://", "https://", 1),
                "APP_LOCALHOST" => self.origins[0].replacen("127.0.0.1", "localhost", 1),
                "NEXT" => {
                    let (i, s) = next()?;
                    self.case_url(&case.id, i, s)
                }
                "NEXT_PATH" => self.case_path(&case.id, next()?.0),
                "NEXT_USERINFO" => {
                    let (i, s) = next()?;
                    self.case_url(&case.id, i, s)
                        .replacen("http://", "http://user:secret@", 1)
                }
                other => panic!("unknown placeholder ${other}"),
            };
            out.push_str(&filled);
            rest = &rest[at + 1 + name_len..];
        }
        out.push_str(rest);
        Some(out)
    }
}

async fn route(
    req: Request<Incoming>,
    me: Server,
    state: Arc<State>,
) -> Result<Response<common::UpBody>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let origin = req
        .headers()
        .get("origin")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_preflight =
        method == "OPTIONS" && req.headers().contains_key("access-control-request-method");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut seen = Seen {
        server: me,
        method: method.clone(),
        path: path.clone(),
        preflight: is_preflight,
        case: None,
        status: 404,
        redirect: false,
    };
    let resp = match (me, method.as_str(), path.as_str()) {
        (Server::Page, "GET", "/") => {
            let mut r = Response::new(common::full(state.page_html.clone()));
            let hd = r.headers_mut();
            hd.insert("content-type", "text/html; charset=utf-8".parse().unwrap());
            hd.insert("set-cookie", "oracle_sid=1; Path=/".parse().unwrap());
            hd.insert("cache-control", "no-store".parse().unwrap());
            r
        }
        (Server::Page, "POST", "/result") => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = v["id"].as_str().unwrap().to_owned();
            state.results.lock().unwrap().insert(id, v);
            Response::new(common::full("ok"))
        }
        (Server::Page, "POST", "/done") => {
            state.done.send_replace(true);
            Response::new(common::full("ok"))
        }
        _ => match case_answer(&state, me, &path, is_preflight, origin.as_deref()) {
            Some((id, r)) => {
                seen.case = Some(id);
                r
            }
            None => {
                let mut r = Response::new(common::full("not found"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        },
    };
    seen.status = resp.status().as_u16();
    seen.redirect = resp.headers().contains_key("location");
    if path != "/favicon.ico" {
        state.log.lock().unwrap().push(seen);
    }
    Ok(resp)
}

/// The answer to `/case/<id>/<hop>` on `me`, with the case id.
fn case_answer(
    state: &State,
    me: Server,
    path: &str,
    is_preflight: bool,
    origin: Option<&str>,
) -> Option<(String, Response<common::UpBody>)> {
    let mut parts = path.strip_prefix("/case/")?.split('/');
    let id = parts.next()?;
    let hop: usize = parts.next()?.parse().ok()?;
    let case = state.cases.get(id)?;
    let def = case.hops.get(hop).filter(|d| d.server == me)?;
    let answer = if is_preflight {
        &def.preflight
    } else {
        &def.actual
    };
    let body = if is_preflight {
        ""
    } else {
        "generated case response"
    };
    let mut r = Response::new(common::full(body));
    *r.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    for (name, value) in &answer.headers {
        if let Some(v) = state.resolve(value, origin, me, case, hop) {
            r.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(&v).unwrap(),
            );
        }
    }
    Some((id.to_owned(), r))
}

/// The page: runs every case in order and posts each one's results.
fn page_html(state_cases: &[serde_json::Value]) -> String {
    let cases = serde_json::to_string(state_cases)
        .unwrap()
        .replace('<', "\\u003c");
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>corscope generated cases</title>
<script>
const CASES = {cases};
function body(b) {{
  if (b === null) return undefined;
  if (b.params !== undefined) return new URLSearchParams(b.params);
  return b.text;
}}
async function one(c, i) {{
  const init = {{ method: c.method, headers: [...c.headers], credentials: c.credentials, mode: c.mode }};
  if (i > 0 && c.later !== null) {{
    if (c.later.credentials !== null) init.credentials = c.later.credentials;
    if (c.later.header !== null) init.headers.push(c.later.header);
    if (i == 1 && c.later.pause_ms > 0) await new Promise(r => setTimeout(r, c.later.pause_ms));
  }}
  if (c.cache !== null) init.cache = c.cache;
  if (c.redirect !== null) init.redirect = c.redirect;
  const b = body(c.body);
  if (b !== undefined) init.body = b;
  try {{
    const r = await fetch(c.url, init);
    const headers = [...r.headers.keys()];
    await r.arrayBuffer();
    return {{ ok: true, status: r.status, type: r.type, url: r.url, headers }};
  }} catch (e) {{
    return {{ ok: false, error: String(e) }};
  }}
}}
(async () => {{
  for (const c of CASES) {{
    const calls = [];
    for (let i = 0; i < c.calls; i++) calls.push(await one(c, i));
    await fetch('/result', {{ method: 'POST', body: JSON.stringify({{ id: c.id, calls }}) }});
  }}
  console.log('{SENTINEL}');
  await fetch('/done', {{ method: 'POST', body: String(CASES.length) }});
}})();
</script>"#
    )
}

// ---------------------------------------------------------------------------------------
// One Chromium run over a batch of cases.

/// An exchange the proxy recorded and the engine's verdicts on it: live (the follower's)
/// and from the recording exported to HAR and read back, as recordings are judged.
struct Judged {
    ex: Arc<Exchange>,
    live: Option<Arc<Verdict>>,
    har: Option<Arc<Verdict>>,
}

/// What one run produced, ready to judge.
struct Run {
    state: Arc<State>,
    exchanges: Vec<Judged>,
    console: Vec<String>,
}

async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    (l, origin)
}

/// The cases as the page runs them: URL of the first hop, fetch options, calls.
fn page_cases(cases: &[Case], origins: &[String; 3], nonce: u64) -> Vec<serde_json::Value> {
    cases
        .iter()
        .map(|c| {
            let body = match &c.body {
                None => serde_json::Value::Null,
                Some(BodyKind::Text(t)) => json!({ "text": t }),
                Some(BodyKind::Params(p)) => json!({ "params": p }),
            };
            let url = format!(
                "{}/case/{}/0?n={nonce}",
                origins[c.hops[0].server.index()],
                c.id
            );
            json!({
                "id": c.id,
                "url": url,
                "method": c.method,
                "headers": c.headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
                "credentials": c.credentials,
                "body": body,
                "calls": c.calls,
                "mode": c.mode,
                "later": c.later,
                "cache": c.cache,
                "redirect": c.redirect,
            })
        })
        .collect()
}

async fn run_batch(cases: &[Case], nonce: u64) -> Run {
    let (page_l, page) = bind().await;
    let (api_l, api) = bind().await;
    let (api2_l, api2) = bind().await;
    let origins = [page, api, api2];
    let for_page = page_cases(cases, &origins, nonce);
    let (done, mut done_rx) = tokio::sync::watch::channel(false);
    let state = Arc::new(State {
        cases: cases.iter().map(|c| (c.id.clone(), c.clone())).collect(),
        page_html: page_html(&for_page),
        origins,
        nonce,
        log: Mutex::default(),
        results: Mutex::default(),
        done,
    });
    for (listener, server) in [
        (page_l, Server::Page),
        (api_l, Server::Api),
        (api2_l, Server::Api2),
    ] {
        let state = state.clone();
        common::serve_h1_with(listener, move |req| route(req, server, state.clone()));
    }

    let proxy = common::start_proxy(None, |_| {}).await;
    let follower = common::follow(proxy.store.clone());
    let verdicts = follower.verdicts.clone();

    let mut browser = Browser::launch(&proxy, &format!("{}/", state.origins[0]));
    let budget = Duration::from_secs(60) + Duration::from_millis(300) * cases.len() as u32;
    if tokio::time::timeout(budget, done_rx.wait_for(|d| *d))
        .await
        .is_err()
    {
        let results = state.results.lock().unwrap();
        let missing = cases.iter().find(|c| !results.contains_key(&c.id));
        panic!(
            "the page did not finish within {budget:?} (is chromium installed?); {} of {} \
             cases reported, first missing: {:?}",
            results.len(),
            cases.len(),
            missing.map(|c| &c.id)
        );
    }
    tokio::time::timeout(Duration::from_secs(10), browser.sentinel.wait_for(|s| *s))
        .await
        .expect("Chromium's console log (stderr) ends with the page's last line")
        .unwrap();
    let answered = state
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.case.is_some())
        .count();
    wait_recorded(&proxy.store, answered).await;
    let console = browser.close().await;

    follower.finish().await;
    let recorded: Vec<Arc<Exchange>> = proxy
        .store
        .snapshot()
        .exchanges
        .into_iter()
        .filter(|e| case_of(&e.request.url).is_some())
        .collect();
    let mut har = read_back(&recorded, &verdicts);
    let exchanges = recorded
        .into_iter()
        .map(|ex| Judged {
            live: verdicts.get(ex.id),
            har: har.remove(&ex.id),
            ex,
        })
        .collect();
    proxy.stop().await;
    Run {
        state,
        exchanges,
        console,
    }
}

/// Every request a server answered is recorded by the proxy once its response went back:
/// wait until the store holds `answered` case exchanges.
async fn wait_recorded(store: &Store, answered: usize) {
    let recorded = || {
        store
            .snapshot()
            .exchanges
            .iter()
            .filter(|e| case_of(&e.request.url).is_some() && e.response.is_some())
            .count()
    };
    let mut changes = store.subscribe();
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while recorded() < answered {
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the proxy recorded {} case exchanges, the servers answered {answered}",
        recorded()
    );
}

/// Headless Chromium with exactly the arguments `corscope browser` gives it, plus console
/// logging to stderr (which `corscope browser` discards), and what it logged.
struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
    /// Console messages, but the page's last one.
    console: Arc<Mutex<Vec<String>>>,
    /// Set when the page's last console message ([`SENTINEL`]) was read.
    sentinel: tokio::sync::watch::Receiver<bool>,
}

impl Browser {
    fn launch(proxy: &common::TestProxy, page: &str) -> Self {
        let (_, exe) = find(Some(BrowserKind::Chromium)).expect("chromium is installed");
        let profile = tempfile::tempdir().unwrap();
        let opts = LaunchOptions {
            proxy: proxy.addr,
            ca_der: proxy.ca.cert_der().to_vec(),
            ca_pem_path: proxy.ca.paths().cert.clone(),
            headless: true,
            url: Some(page.to_owned()),
        };
        let mut args = chromium_args(&opts, profile.path()).unwrap();
        let url = args.pop().unwrap();
        args.extend(["--enable-logging=stderr".into(), "--v=0".into(), url]);
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let console: Arc<Mutex<Vec<String>>> = Arc::default();
        let (sentinel_tx, sentinel) = tokio::sync::watch::channel(false);
        let stderr = child.stderr.take().unwrap();
        let lines = console.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match console_message(&line) {
                    Some(msg) if msg == SENTINEL => {
                        sentinel_tx.send_replace(true);
                    }
                    Some(msg) => lines.lock().unwrap().push(msg),
                    None => {}
                }
            }
        });
        Self {
            child,
            _profile: profile,
            console,
            sentinel,
        }
    }

    /// Close Chromium (SIGTERM: it exits cleanly and its profile can be removed); returns
    /// its console messages.
    async fn close(mut self) -> Vec<String> {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill().unwrap();
            self.child.wait().await.unwrap();
        }
        let lines = self.console.lock().unwrap().clone();
        lines
    }
}

/// The engine's verdicts on `recorded` exported to HAR (nothing redacted), read back and
/// judged as a whole, by exchange id.
fn read_back(recorded: &[Arc<Exchange>], verdicts: &Verdicts) -> HashMap<u64, Arc<Verdict>> {
    let opts = ExportOptions {
        redact: false,
        ..ExportOptions::default()
    };
    let har = har::export::build(recorded, |id| verdicts.get(id), Profile::Chrome, &opts);
    let imported = har::import::import_slice(&har::export::to_vec(&har).unwrap()).unwrap();
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
    // Entries are written in the order the exchanges started.
    let mut order: Vec<&Arc<Exchange>> = recorded.iter().collect();
    order.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
    let judged = cors::analyze(&imported.exchanges, Profile::Chrome);
    order
        .iter()
        .zip(judged)
        .map(|(e, v)| (e.id, Arc::new(v)))
        .collect()
}

/// The message of a Chromium console log line:
/// `[pid:tid:MMDD/HHMMSS.us:INFO:CONSOLE:N] "<message>", source: <url> (N)`.
fn console_message(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(":INFO:CONSOLE")?;
    let (_, rest) = rest.split_once("] \"")?;
    let (msg, _) = rest.rsplit_once("\", source: ")?;
    Some(msg.to_owned())
}

/// The case id in a URL or a console message (`…/case/<id>/…`).
fn case_of(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("/case/")?;
    rest.split('/').next().filter(|id| !id.is_empty())
}

// ---------------------------------------------------------------------------------------
// Judging.

#[derive(Default)]
struct Tally {
    cases: usize,
    calls: usize,
    allowed: usize,
    blocked: BTreeMap<String, usize>,
    console_compared: usize,
    headers_compared: usize,
    /// Calls the engine called undecidable (`unknown`) for which Chromium logged nothing.
    undecidable: usize,
    /// Cases whose exchanges the store holds in another order than they were sent.
    reordered: usize,
    disagreements: Vec<String>,
}

fn stage_name(v: &Verdict) -> String {
    v.outcome
        .stage()
        .map_or("none".to_owned(), |s| format!("{s:?}").to_ascii_lowercase())
}

fn judge(run: &Run, cases: &[Case], tally: &mut Tally) {
    let results = run.state.results.lock().unwrap().clone();
    let log = run.state.log.lock().unwrap().clone();
    let stray: Vec<&Seen> = log
        .iter()
        .filter(|s| s.case.is_none() && !matches!(s.path.as_str(), "/" | "/result" | "/done"))
        .collect();
    if !stray.is_empty() {
        tally.disagreements.push(format!(
            "requests outside any case reached the servers: {stray:?}"
        ));
    }
    let mut console: HashMap<&str, Vec<&String>> = HashMap::new();
    for line in &run.console {
        match case_of(line) {
            Some(id) => console.entry(id).or_default().push(line),
            None if line.contains("CORS") || line.contains("Fetch API") => tally
                .disagreements
                .push(format!("a console line names no case: {line}")),
            None => {}
        }
    }
    let mut by_case: HashMap<&str, Vec<&Judged>> = HashMap::new();
    for j in &run.exchanges {
        if let Some(id) = case_of(&j.ex.request.url) {
            by_case.entry(id).or_default().push(j);
        }
    }
    // In the order they were sent: the store holds them in the order their records were
    // completed, and a preflight (on a connection of its own) can be recorded after the
    // request that followed it.
    for list in by_case.values_mut() {
        let before: Vec<u64> = list.iter().map(|j| j.ex.id).collect();
        list.sort_by_key(|j| (j.ex.started, j.ex.id));
        if list.iter().map(|j| j.ex.id).ne(before) {
            tally.reordered += 1;
        }
    }
    for case in cases {
        tally.cases += 1;
        let id = case.id.as_str();
        let page = &results[id];
        let exchanges = by_case.remove(id).unwrap_or_default();
        let lines = console.remove(id).unwrap_or_default();
        let seen: Vec<&Seen> = log
            .iter()
            .filter(|s| s.case.as_deref() == Some(id))
            .collect();
        let problems = judge_case(case, page, &exchanges, &lines, tally);
        if !problems.is_empty() {
            let report = Report {
                case,
                page,
                seen: &seen,
                exchanges: &exchanges,
                lines: &lines,
            };
            tally.disagreements.push(report.describe(&problems));
        }
    }
}

/// The ways the engine disagrees with what Chromium did on one case, call by call, on
/// both paths: the live verdicts and the verdicts of the recording read back from HAR.
fn judge_case(
    case: &Case,
    page: &serde_json::Value,
    exchanges: &[&Judged],
    lines: &[&String],
    tally: &mut Tally,
) -> Vec<String> {
    let mut problems = Vec::new();
    let page_calls = page["calls"].as_array().unwrap();
    if exchanges.is_empty() {
        problems.push(
            "nothing reached the network (the generator made a case the browser refuses in JS)"
                .into(),
        );
        return problems;
    }
    for j in exchanges {
        if j.live.is_none() || j.har.is_none() {
            problems.push(format!("no verdict for exchange {}", j.ex.id));
        }
    }
    let calls = split_calls(exchanges);
    if calls.len() != page_calls.len() {
        problems.push(format!(
            "the exchanges make {} calls, the page made {}",
            calls.len(),
            page_calls.len()
        ));
        return problems;
    }
    // Chromium logs one line per blocked call, in call order, but for the failures the
    // engine says it logs none for (which the count of lines checks).
    let mut lines = lines.iter();
    for (i, (call, page_call)) in calls.iter().zip(page_calls).enumerate() {
        tally.calls += 1;
        let live: Vec<&Verdict> = call.iter().filter_map(|j| j.live.as_deref()).collect();
        let silent = live
            .iter()
            .find(|v| v.outcome.is_blocked())
            .is_some_and(|v| {
                v.chrome_error.is_some()
                    && v.chrome_message.is_none()
                    && v.chrome_message_alternatives.is_empty()
            });
        // A 3xx that passed the CORS check and was not followed: `redirect: 'manual'` or
        // `'error'`, which the wire does not show. Chromium logs no CORS line for either;
        // one logged anyway is left over, and reported below. Without a redirect mode, an
        // `unknown` is a disagreement like any other.
        let undecidable = case.redirect.is_some() && fetch_outcome(&live).0 == "unknown";
        tally.undecidable += usize::from(undecidable);
        let line = if page_call["ok"] == false && !silent && !undecidable {
            let line = lines.next();
            if line.is_none() {
                problems.push(format!("call {i} threw but Chromium logged no CORS line"));
            }
            line
        } else {
            None
        };
        let har: Vec<&Verdict> = call.iter().filter_map(|j| j.har.as_deref()).collect();
        let ctx = CallCtx {
            call,
            page_call,
            line,
            undecidable,
            i,
        };
        let (stage, compared) = judge_call(&live, &ctx, &mut problems, "");
        match stage {
            Some(stage) => *tally.blocked.entry(stage).or_default() += 1,
            None if page_call["ok"] == true && !undecidable => tally.allowed += 1,
            None => {}
        }
        tally.console_compared += usize::from(compared && line.is_some());
        tally.headers_compared += usize::from(compared && page_call["ok"] == true);
        judge_call(&har, &ctx, &mut problems, " (HAR)");
    }
    let extra: Vec<&&String> = lines.collect();
    if !extra.is_empty() {
        problems.push(format!(
            "Chromium logged lines no call accounts for: {extra:?}"
        ));
    }
    problems
}

/// One `fetch()` call of a case: its exchanges, what the page got, the console line
/// Chromium logged for it, and whether the wire cannot decide it (see [`judge_case`]).
struct CallCtx<'a> {
    call: &'a [&'a Judged],
    page_call: &'a serde_json::Value,
    line: Option<&'a &'a String>,
    undecidable: bool,
    i: usize,
}

/// Compare one call's verdicts with what the page saw and Chromium logged; push what
/// disagrees (tagged with `path`). Returns the engine's stage when it agreed the call was
/// blocked, and whether the outcomes agreed (so the details were compared).
fn judge_call(
    verdicts: &[&Verdict],
    ctx: &CallCtx<'_>,
    problems: &mut Vec<String>,
    path: &str,
) -> (Option<String>, bool) {
    let CallCtx {
        call,
        page_call,
        line,
        undecidable,
        i,
    } = *ctx;
    let (engine, blocked) = fetch_outcome(verdicts);
    if undecidable && engine == "unknown" {
        return (None, false);
    }
    let browser = if page_call["ok"] == true {
        "allowed"
    } else {
        "blocked"
    };
    if engine != browser {
        problems.push(format!(
            "call {i}: Chromium: {browser}, engine{path}: {engine}"
        ));
        return (None, false);
    }
    if let Some(b) = blocked {
        let got = stage_name(b);
        let wire = wire_stage(&call.last().unwrap().ex);
        if got != wire {
            problems.push(format!(
                "call {i}: stage: the wire says {wire}, engine{path}: {got}"
            ));
        }
        if let Some(line) = line {
            let matched = verdicts.iter().any(|v| {
                v.chrome_message.as_deref() == Some(line.as_str())
                    || v.chrome_message_alternatives.iter().any(|m| m == *line)
            });
            if !matched {
                let engine_msgs: Vec<&str> = verdicts
                    .iter()
                    .filter_map(|v| v.chrome_message.as_deref())
                    .collect();
                problems.push(format!(
                    "call {i}: console message\n      Chromium: {line}\n      engine{path}: {engine_msgs:?}"
                ));
            }
        }
        return (Some(got), true);
    }
    let want: Vec<String> = page_call["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let last = verdicts
        .iter()
        .rev()
        .find(|v| v.role != Some(Role::Preflight));
    let got = last.and_then(|v| v.readable_headers.clone());
    if got.as_ref() != Some(&want) {
        problems.push(format!(
            "call {i}: readable headers\n      Chromium: {want:?}\n      engine{path}: {got:?}"
        ));
    }
    (None, true)
}

fn is_preflight(e: &Exchange) -> bool {
    e.request.method == "OPTIONS" && e.request.headers.contains("access-control-request-method")
}

/// The hop of a case URL (`/case/<id>/<hop>`).
fn hop_of(url: &str) -> Option<usize> {
    let (_, rest) = url.split_once("/case/")?;
    rest.split(['/', '?']).nth(1)?.parse().ok()
}

/// A case's exchanges grouped by `fetch()` call. The calls ran one after another and each
/// starts at hop 0 with its preflight, or with its request when it needed none.
fn split_calls<'a>(exchanges: &[&'a Judged]) -> Vec<Vec<&'a Judged>> {
    let mut calls: Vec<Vec<&Judged>> = Vec::new();
    for &e in exchanges {
        let first_hop = hop_of(&e.ex.request.url) == Some(0);
        let after_own_preflight = calls
            .last()
            .and_then(|c| c.last())
            .is_some_and(|p| is_preflight(&p.ex) && hop_of(&p.ex.request.url) == Some(0));
        let starts = first_hop && (is_preflight(&e.ex) || !after_own_preflight);
        match calls.last_mut() {
            Some(call) if !starts => call.push(e),
            _ => calls.push(vec![e]),
        }
    }
    calls
}

/// The stage the wire shows for a blocked call from its last exchange: a preflight
/// whose request never followed, a redirect that was not followed, or the final response.
fn wire_stage(last: &Exchange) -> &'static str {
    let redirect = last
        .response
        .as_ref()
        .is_some_and(|r| (300..400).contains(&r.status) && r.headers.contains("location"));
    if is_preflight(last) {
        "preflight"
    } else if redirect {
        "redirect"
    } else {
        "actual"
    }
}

/// Request headers a reader needs (what the browser added for every request is left out).
fn interesting_request_header(name: &str) -> bool {
    !matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "connection"
            | "user-agent"
            | "sec-ch-ua"
            | "sec-ch-ua-mobile"
            | "sec-ch-ua-platform"
            | "referer"
            | "accept-encoding"
            | "accept-language"
            | "sec-fetch-dest"
            | "sec-fetch-mode"
            | "content-length"
    )
}

/// Everything known about one case, for a disagreement's report.
struct Report<'a> {
    case: &'a Case,
    page: &'a serde_json::Value,
    seen: &'a [&'a Seen],
    exchanges: &'a [&'a Judged],
    lines: &'a [&'a String],
}

impl Report<'_> {
    fn describe(&self, problems: &[String]) -> String {
        let Report {
            case,
            page,
            seen,
            exchanges,
            lines,
        } = self;
        let mut out = String::new();
        writeln!(out, "case {}:", case.id).unwrap();
        for p in problems {
            writeln!(out, "  - {p}").unwrap();
        }
        writeln!(
            out,
            "  definition: {}",
            serde_json::to_string(case).unwrap()
        )
        .unwrap();
        writeln!(out, "  page saw: {}", page["calls"]).unwrap();
        let served: Vec<String> = seen
            .iter()
            .map(|s| {
                let what = if s.preflight { "preflight" } else { &s.method };
                format!("{what} {:?} {}", s.server, s.status)
            })
            .collect();
        writeln!(out, "  servers saw: {}", served.join(", ")).unwrap();
        for l in lines.iter() {
            writeln!(out, "  console: {l}").unwrap();
        }
        for j in exchanges.iter() {
            let e = &j.ex;
            writeln!(out, "  #{} {} {}", e.id, e.request.method, e.request.url).unwrap();
            for hd in e.request.headers.iter() {
                if interesting_request_header(hd.name) {
                    writeln!(out, "      > {}: {}", hd.name, hd.value).unwrap();
                }
            }
            match &e.response {
                Some(r) => {
                    writeln!(out, "      < {}", r.status).unwrap();
                    for hd in r.headers.iter() {
                        if !matches!(
                            hd.name.to_ascii_lowercase().as_str(),
                            "date" | "content-length"
                        ) {
                            writeln!(out, "      < {}: {}", hd.name, hd.value).unwrap();
                        }
                    }
                }
                None => writeln!(out, "      (no response: {:?})", e.error).unwrap(),
            }
            describe_verdict(&mut out, "=", j.live.as_deref());
            let same = |a: &Verdict, b: &Verdict| {
                a.outcome == b.outcome
                    && a.chrome_message == b.chrome_message
                    && a.readable_headers == b.readable_headers
            };
            match (j.live.as_deref(), j.har.as_deref()) {
                (Some(a), Some(b)) if same(a, b) => {}
                (_, har) => describe_verdict(&mut out, "= (HAR)", har),
            }
        }
        out
    }
}

fn describe_verdict(out: &mut String, tag: &str, v: Option<&Verdict>) {
    let Some(v) = v else {
        writeln!(out, "      {tag} no verdict").unwrap();
        return;
    };
    writeln!(
        out,
        "      {tag} {} {} role={:?} paired_with={:?} preflight={:?}",
        v.outcome.label(),
        stage_name(v),
        v.role,
        v.paired_with,
        v.preflight
    )
    .unwrap();
    if let Some(m) = &v.chrome_message {
        writeln!(out, "        chrome: {m}").unwrap();
    }
    for m in &v.chrome_message_alternatives {
        writeln!(out, "        or:     {m}").unwrap();
    }
    if let Some(r) = &v.readable_headers {
        writeln!(out, "        readable: {r:?}").unwrap();
    }
    writeln!(out, "        {}", v.explanation).unwrap();
}

fn env_list<T: std::str::FromStr>(name: &str) -> Option<Vec<T>> {
    let v = std::env::var(name).ok()?;
    Some(
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: cannot parse {s:?}"))
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_cases_agree_with_chromium() {
    let seeds: Vec<u64> = env_list("CORSCOPE_GEN_SEED").unwrap_or(vec![DEFAULT_SEED]);
    let n: usize = env_list("CORSCOPE_GEN_CASES")
        .and_then(|v| v.first().copied())
        .unwrap_or(DEFAULT_CASES);
    let only: Option<Vec<String>> = env_list("CORSCOPE_GEN_ONLY");
    let mut cases: Vec<Case> = seeds.iter().flat_map(|&s| generate(s, n)).collect();
    if let Some(only) = &only {
        cases.retain(|c| only.contains(&c.id));
    }
    assert!(!cases.is_empty(), "no cases to run");
    let started = Instant::now();
    let mut tally = Tally::default();
    for (i, batch) in cases.chunks(BATCH).enumerate() {
        let run = run_batch(batch, i as u64 + 1).await;
        judge(&run, batch, &mut tally);
    }
    println!(
        "seeds {seeds:?}: {} cases ({} calls) in {:.1?}: {} calls allowed, blocked by stage \
         {:?}; {} console messages and {} readable-header lists compared; {} calls undecidable \
         from the wire; {} cases recorded out of order; {} disagreements",
        tally.cases,
        tally.calls,
        started.elapsed(),
        tally.allowed,
        tally.blocked,
        tally.console_compared,
        tally.headers_compared,
        tally.undecidable,
        tally.reordered,
        tally.disagreements.len()
    );
    assert!(
        tally.disagreements.is_empty(),
        "{} disagreements between Chromium and the engine:\n\n{}",
        tally.disagreements.len(),
        tally.disagreements.join("\n")
    );
}

#[test]
fn generation_is_deterministic_and_spans_the_dimensions() {
    let a = serde_json::to_string(&generate(7, 300)).unwrap();
    let b = serde_json::to_string(&generate(7, 300)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, serde_json::to_string(&generate(8, 300)).unwrap());
    let cases = generate(DEFAULT_SEED, DEFAULT_CASES);
    let methods: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c.method.as_str()).collect();
    for m in [
        "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "patch", "FOO",
    ] {
        assert!(methods.contains(m), "no {m} among {methods:?}");
    }
    assert!(cases.iter().any(|c| c.hops.len() == 3));
    assert!(cases.iter().any(|c| c.calls > 1));
    assert!(cases
        .iter()
        .any(|c| c.hops[0].server == Server::Page && c.hops.len() > 1));
    for mode in ["manual", "error"] {
        assert!(
            cases.iter().any(|c| c.redirect == Some(mode)),
            "no redirect: '{mode}'"
        );
    }
    for c in &cases {
        let body_ok = c.body.is_none() || !matches!(normalized(&c.method).as_str(), "GET" | "HEAD");
        assert!(
            body_ok,
            "{}: fetch() refuses a body with {}",
            c.id, c.method
        );
    }
}
