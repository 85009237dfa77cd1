//! The bodies of the fuzz targets, shared by `cargo fuzz` (`fuzz/fuzz_targets/*.rs`) and the
//! stable-toolchain smoke test (`tests/fuzz_smoke.rs`). Each entry point takes the raw bytes
//! a fuzzer hands it, builds its input from them (with `arbitrary` where the input has
//! structure), calls the real parsers, engine and importer, and asserts what they promise.
//! A failed assertion is a crash to libFuzzer and a failed test to `cargo test`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use corscope::capture::decode::{decode_content, render, MAX_DECODED_BYTES};
use corscope::capture::exchange::decode_header_bytes;
use corscope::capture::{Body, Exchange, Header, HeaderList, RequestRecord, ResponseRecord};
use corscope::cors::check::{
    basic_headers, combined, cors_check, exposed_headers, max_age_cap, parse_max_age,
    preflight_check, AllowList, DEFAULT_MAX_AGE_S,
};
use corscope::cors::classify::{same_origin_as_url, url_origin};
use corscope::cors::diff::{origin_diff, preflight_diff, Source};
use corscope::cors::lint::response_lints;
use corscope::cors::safelist::{
    is_ignored_request_header, is_safelisted_request_header, is_token, mime_essence,
    parse_single_range, unsafe_header_names, unsafe_header_refs, MAX_SAFELISTED_VALUE_BYTES,
};
use corscope::cors::verdict::{chrome_message, firefox_reason, PreflightUse, Verdict};
use corscope::cors::{self, Config, Outcome, Profile, Session};
use corscope::har::export::{self, ExportOptions};
use corscope::har::import::import_slice;

/// A target body: takes the fuzzer's bytes, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `cargo fuzz` knows them and as `fuzz/corpus/<name>/` is laid.
pub const TARGETS: [(&str, Target); 3] = [
    ("headers", headers),
    ("engine", engine),
    ("har_import", har_import),
];

const PROFILES: [Profile; 3] = [Profile::Chrome, Profile::Firefox, Profile::Spec];

// ---------------------------------------------------------------------------------------
// Shared vocabulary: header names and values a CORS exchange is made of, so that fuzzed
// inputs hit the rules instead of missing every branch with random names.
// ---------------------------------------------------------------------------------------

const ORIGINS: [&str; 6] = [
    "http://app.test",
    "http://api.test",
    "https://api.test",
    "http://127.0.0.1:8080",
    "http://localhost:3000",
    "null",
];

const PATHS: [&str; 5] = ["/", "/data", "/item?x=1", "/r", "/a%20b"];

#[derive(Debug, Clone, Arbitrary)]
enum Name {
    Origin,
    Acrm,
    Acrh,
    SecFetchMode,
    SecFetchSite,
    SecFetchDest,
    Cookie,
    Authorization,
    ContentType,
    Accept,
    AcceptLanguage,
    ContentLanguage,
    Range,
    XCustom,
    MethodOverride,
    Acao,
    Acac,
    Acam,
    Acah,
    Aceh,
    MaxAge,
    Vary,
    Location,
    SetCookie,
    Other(String),
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            Name::Origin => "Origin",
            Name::Acrm => "Access-Control-Request-Method",
            Name::Acrh => "Access-Control-Request-Headers",
            Name::SecFetchMode => "Sec-Fetch-Mode",
            Name::SecFetchSite => "Sec-Fetch-Site",
            Name::SecFetchDest => "Sec-Fetch-Dest",
            Name::Cookie => "Cookie",
            Name::Authorization => "authorization",
            Name::ContentType => "Content-Type",
            Name::Accept => "Accept",
            Name::AcceptLanguage => "Accept-Language",
            Name::ContentLanguage => "content-language",
            Name::Range => "Range",
            Name::XCustom => "X-Custom",
            Name::MethodOverride => "X-HTTP-Method-Override",
            Name::Acao => "Access-Control-Allow-Origin",
            Name::Acac => "Access-Control-Allow-Credentials",
            Name::Acam => "Access-Control-Allow-Methods",
            Name::Acah => "access-control-allow-headers",
            Name::Aceh => "Access-Control-Expose-Headers",
            Name::MaxAge => "Access-Control-Max-Age",
            Name::Vary => "Vary",
            Name::Location => "Location",
            Name::SetCookie => "Set-Cookie",
            Name::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum Value {
    Origin(u8),
    Star,
    True,
    Method(Method),
    /// A comma list of header names, with the given separator padding.
    List(Vec<Name>, bool),
    Number(u32),
    Mime(u8),
    Range(u16, Option<u16>),
    Url(u8, u8),
    RelativeUrl(u8),
    Raw(String),
}

const MIMES: [&str; 6] = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/json",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "TEXT/PLAIN; x=\"y\"",
];

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Origin(i) => pick(&ORIGINS, *i).to_owned(),
            Value::Star => "*".to_owned(),
            Value::True => "true".to_owned(),
            Value::Method(m) => m.as_str().to_owned(),
            Value::List(names, padded) => {
                let sep = if *padded { " , " } else { "," };
                names.iter().map(Name::as_str).collect::<Vec<_>>().join(sep)
            }
            Value::Number(n) => n.to_string(),
            Value::Mime(i) => pick(&MIMES, *i).to_owned(),
            Value::Range(a, b) => match b {
                Some(b) => format!("bytes={a}-{b}"),
                None => format!("bytes={a}-"),
            },
            Value::Url(o, p) => format!("{}{}", pick(&ORIGINS[..5], *o), pick(&PATHS, *p)),
            Value::RelativeUrl(p) => pick(&PATHS, *p).to_owned(),
            Value::Raw(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
struct HeaderSpec {
    name: Name,
    value: Value,
}

fn header_list(specs: &[HeaderSpec]) -> HeaderList {
    specs
        .iter()
        .take(16)
        .map(|h| Header::new(h.name.as_str(), h.value.render()))
        .collect()
}

#[derive(Debug, Clone, Arbitrary)]
enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    LowerPatch,
    Options,
    LowerOptions,
    Other(String),
}

impl Method {
    fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::LowerPatch => "patch",
            Method::Options => "OPTIONS",
            Method::LowerOptions => "options",
            // The wire never carries an empty method, and HAR import refuses one.
            Method::Other(s) if s.is_empty() => "X",
            Method::Other(s) => s,
        }
    }
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

// ---------------------------------------------------------------------------------------
// headers: the header and safelist parsers, origins, content decoding.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
enum Coding {
    None,
    Identity,
    Gzip,
    Deflate,
    Br,
    Zstd,
    Chain,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct HeadersInput {
    request: Vec<HeaderSpec>,
    response: Vec<HeaderSpec>,
    loose: Vec<(String, String)>,
    origin: Value,
    url: Value,
    method: Method,
    status: u16,
    coding: Coding,
    raw: Vec<u8>,
}

/// Fuzz target `headers`: safelist checks, header-list parsing, the CORS and preflight
/// checks against their diffs, origin serialization, max-age, lints, header-byte decoding
/// and content decoding, on arbitrary values.
pub fn headers(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = HeadersInput::arbitrary(&mut u) else {
        return;
    };
    let mut request = header_list(&input.request);
    for (n, v) in input.loose.iter().take(8) {
        request.push(n.as_str(), v.as_str());
    }
    let response = header_list(&input.response);

    check_header_bytes(&input.raw);
    for h in request.iter().chain(response.iter()) {
        check_value_parsers(h.name, h.value);
    }
    for profile in PROFILES {
        check_unsafe_names(&request, profile);
    }
    check_combined(&response);
    check_allow_lists(&response);
    check_exposed(&response);
    check_max_age(&response);

    let origin = input.origin.render();
    let url = input.url.render();
    check_origins(&origin, &url);
    check_cors_checks(&input, &request, &response, &origin, &url);
    check_decoding(&input.coding, &input.raw);
}

fn check_header_bytes(raw: &[u8]) {
    let s = decode_header_bytes(raw);
    match std::str::from_utf8(raw) {
        Ok(text) => assert_eq!(s, text),
        Err(_) => {
            // Isomorphic decode: one code point per byte, and back again without loss.
            let back: Vec<u8> = s
                .chars()
                .filter_map(|c| u8::try_from(u32::from(c)).ok())
                .collect();
            assert_eq!(back, raw, "isomorphic decode lost bytes");
            assert_eq!(s.chars().count(), raw.len());
        }
    }
}

fn check_value_parsers(name: &str, value: &str) {
    let _ = is_ignored_request_header(name, value);
    let chrome = is_safelisted_request_header(name, value, Profile::Chrome);
    let firefox = is_safelisted_request_header(name, value, Profile::Firefox);
    let spec = is_safelisted_request_header(name, value, Profile::Spec);
    // Firefox only adds a rule (no non-ASCII byte); Chrome follows the standard here.
    assert!(
        !firefox || chrome,
        "firefox safelists what chrome does not: {name}: {value:?}"
    );
    assert_eq!(chrome, spec, "{name}: {value:?}");
    if chrome {
        assert!(value.len() <= MAX_SAFELISTED_VALUE_BYTES);
        if name.eq_ignore_ascii_case("content-type") {
            assert!(mime_essence(value).is_some());
        }
        if name.eq_ignore_ascii_case("range") {
            assert!(matches!(parse_single_range(value), Some((Some(_), _))));
        }
    }
    if let Some((ty, sub)) = mime_essence(value) {
        assert!(is_token(ty) && is_token(sub), "{value:?} -> {ty:?}/{sub:?}");
    }
    if let Some((first, last)) = parse_single_range(value) {
        assert!(first.is_some() || last.is_some());
        if let (Some(f), Some(l)) = (first, last) {
            assert!(f <= l);
        }
        let again = format!(
            "bytes={}-{}",
            first.map(|f| f.to_string()).unwrap_or_default(),
            last.map(|l| l.to_string()).unwrap_or_default()
        );
        assert_eq!(parse_single_range(&again), Some((first, last)));
    }
}

fn check_unsafe_names(request: &HeaderList, profile: Profile) {
    let names = unsafe_header_names(request, profile);
    let refs = unsafe_header_refs(request, profile);
    let lowered: Vec<String> = refs.iter().map(|r| r.to_ascii_lowercase()).collect();
    assert_eq!(names, lowered, "names and refs disagree");
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "not sorted and unique: {names:?}"
    );
    for n in &names {
        assert_eq!(*n, n.to_ascii_lowercase());
        assert!(
            request
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(n)
                    && !is_ignored_request_header(h.name, h.value)),
            "{n} is not a header of the request"
        );
    }
    // Every header that is neither ignored nor safelisted must be listed.
    for h in request.iter() {
        if !is_ignored_request_header(h.name, h.value)
            && !is_safelisted_request_header(h.name, h.value, profile)
        {
            assert!(
                names.contains(&h.name.to_ascii_lowercase()),
                "{} missing from {names:?}",
                h.name
            );
        }
    }
}

fn check_combined(response: &HeaderList) {
    for name in ["access-control-allow-origin", "vary", "x-custom"] {
        let c = combined(response, name);
        assert_eq!(c.is_some(), response.contains(name));
        if response.get_all(name).count() == 1 {
            let one = response.first(name).unwrap_or_default();
            assert_eq!(c.as_deref(), Some(one.trim_matches([' ', '\t'])));
        }
    }
}

fn check_allow_lists(response: &HeaderList) {
    for name in [
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        match AllowList::parse(response, name) {
            Ok(list) => {
                for item in list.items() {
                    assert!(is_token(item), "{item:?} passed as a token");
                    assert!(list.contains_exact(item));
                    // Header names compare case-insensitively: lowering round-trips.
                    assert!(list.contains_ci(&item.to_ascii_lowercase()));
                    assert!(list.contains_ci(&item.to_ascii_uppercase()));
                }
                let listed = response
                    .get_all(name)
                    .flat_map(|l| l.split(','))
                    .filter(|i| !i.trim_matches([' ', '\t']).is_empty())
                    .count();
                assert_eq!(list.items().count(), listed);
                assert_eq!(list.has_wildcard(), list.items().any(|i| i == "*"));
            }
            Err(bad) => {
                assert!(!bad.is_empty() && !is_token(&bad));
                assert!(response.get_all(name).any(|l| l.contains(bad.as_str())));
            }
        }
    }
}

fn check_exposed(response: &HeaderList) {
    let with = exposed_headers(response, true);
    let without = exposed_headers(response, false);
    let basic = basic_headers(response);
    for list in [&with, &without, &basic] {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        assert!(list
            .iter()
            .all(|n| *n == n.to_ascii_lowercase() && n != "set-cookie"));
    }
    // Credentials only ever take away (`*` becomes literal); nothing beats a basic response.
    assert!(
        with.iter().all(|n| without.contains(n)),
        "{with:?} {without:?}"
    );
    assert!(without.iter().all(|n| basic.contains(n)));
}

fn check_max_age(response: &HeaderList) {
    for profile in PROFILES {
        let age = parse_max_age(response, profile);
        assert!(age <= max_age_cap(profile));
        match combined(response, "access-control-max-age") {
            None => assert_eq!(age, DEFAULT_MAX_AGE_S.min(max_age_cap(profile))),
            Some(v) => {
                if let Ok(n) = v.parse::<u64>() {
                    if v.bytes().all(|b| b.is_ascii_digit()) {
                        assert_eq!(age, n.min(max_age_cap(profile)));
                    }
                }
            }
        }
    }
}

fn check_origins(origin: &str, url: &str) {
    for candidate in [origin, url] {
        if let Some(o) = url_origin(candidate) {
            // A serialized origin parses back to itself, and is its own URL's origin.
            assert_eq!(url_origin(&o).as_deref(), Some(o.as_str()), "{candidate}");
            assert!(same_origin_as_url(&o, candidate), "{o} vs {candidate}");
        }
    }
    // The fast path for plain URLs must agree with the URL parser on canonical URLs (the
    // form the proxy and HAR import store).
    let canonical = url::Url::parse(url).is_ok_and(|u| u.as_str() == url);
    if canonical {
        let expected = url_origin(url).as_deref() == Some(origin);
        assert_eq!(
            same_origin_as_url(origin, url),
            expected,
            "{origin} vs {url}"
        );
    }
}

fn check_cors_checks(
    input: &HeadersInput,
    request: &HeaderList,
    response: &HeaderList,
    origin: &str,
    url: &str,
) {
    let method = input.method.as_str();
    for include in [false, true] {
        let r = cors_check(response, origin, include);
        let diff_ok = origin_diff(response, origin, include, Source::Actual)
            .iter()
            .all(|d| d.ok);
        assert_eq!(
            r.is_ok(),
            diff_ok,
            "cors check and its diff disagree: {r:?}"
        );
        if include && r.is_ok() {
            assert!(cors_check(response, origin, false).is_ok());
        }
        if let Err(f) = &r {
            let _ = chrome_message(f, "fetch", url, None, origin);
            let _ = firefox_reason(f, url, input.status);
        }
        for profile in PROFILES {
            let names = unsafe_header_names(request, profile);
            let names = || names.iter().map(String::as_str);
            let pf = preflight_check(
                input.status,
                response,
                origin,
                method,
                names(),
                include,
                profile,
            );
            let diff = preflight_diff(
                input.status,
                response,
                origin,
                method,
                names(),
                include,
                profile,
            );
            assert_eq!(
                pf.is_ok(),
                diff.iter().all(|d| d.ok),
                "preflight check and its diff disagree: {pf:?} {diff:?}"
            );
            if pf.is_ok() {
                // The spec profile is the strictest; dropping credentials only loosens.
                let chrome = preflight_check(
                    input.status,
                    response,
                    origin,
                    method,
                    names(),
                    include,
                    Profile::Chrome,
                );
                assert!(chrome.is_ok() || profile != Profile::Spec);
                if include {
                    let loose = preflight_check(
                        input.status,
                        response,
                        origin,
                        method,
                        names(),
                        false,
                        profile,
                    );
                    assert!(loose.is_ok(), "{loose:?}");
                }
            }
            if let Err(f) = &pf {
                let _ = chrome_message(f, "XMLHttpRequest", url, Some(url), origin);
                let _ = firefox_reason(f, url, input.status);
            }
            let _ = response_lints(request, response, include, profile);
        }
    }
}

fn check_decoding(coding: &Coding, raw: &[u8]) {
    let encoding = match coding {
        Coding::None => None,
        Coding::Identity => Some("identity"),
        Coding::Gzip => Some("gzip"),
        Coding::Deflate => Some("deflate"),
        Coding::Br => Some("br"),
        Coding::Zstd => Some("zstd"),
        Coding::Chain => Some("gzip, br"),
        Coding::Raw(s) => Some(s.as_str()),
    };
    if let Ok(d) = decode_content(encoding, raw) {
        assert!(d.bytes.len() <= MAX_DECODED_BYTES);
        assert!(!d.truncated || d.bytes.len() == MAX_DECODED_BYTES);
        if matches!(coding, Coding::None | Coding::Identity) {
            assert_eq!(d.bytes, raw);
        }
        let _ = render(Some("application/json"), &d.bytes);
        let _ = render(None, &d.bytes);
    }
    // What a server compresses decodes back to the same bytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zipped = gz.write_all(raw).and_then(|()| gz.finish());
    if let Ok(zipped) = zipped {
        let d = decode_content(Some("x-gzip, identity"), &zipped);
        assert_eq!(
            d.map(|d| d.bytes).ok().as_deref(),
            Some(raw),
            "gzip round trip"
        );
    }
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    if let Ok(raw_deflate) = z.write_all(raw).and_then(|()| z.finish()) {
        let d = decode_content(Some("Deflate"), &raw_deflate);
        assert_eq!(
            d.map(|d| d.bytes).ok().as_deref(),
            Some(raw),
            "deflate round trip"
        );
    }
}

// ---------------------------------------------------------------------------------------
// engine: batch analysis against the incremental session, over arbitrary exchanges.
// ---------------------------------------------------------------------------------------

/// 2026-11-24T16:00:00Z: any fixed instant; what matters is the gaps.
const BASE_MS: i64 = 1_764_000_000_000;

/// Most steps one input becomes: enough for chains, caches and interleavings.
const MAX_STEPS: usize = 24;

#[derive(Debug, Clone, Arbitrary)]
enum Delay {
    Same,
    One,
    Small(u8),
    /// Around the preflight wait (2 s).
    Wait(u8),
    /// Around the default preflight cache lifetime (5 s).
    MaxAge(u8),
    /// Around the pairing window (10 s).
    Window(u8),
    Long(u32),
    /// Started before the previous exchange (HAR entries need not be in order).
    Back(u16),
}

impl Delay {
    fn ms(&self) -> i64 {
        let near = |centre: i64, k: u8| centre + i64::from(k % 5) - 2;
        match self {
            Delay::Same => 0,
            Delay::One => 1,
            Delay::Small(k) => i64::from(*k),
            Delay::Wait(k) => near(2_000, *k),
            Delay::MaxAge(k) => near(5_000, *k),
            Delay::Window(k) => near(10_000, *k),
            Delay::Long(k) => i64::from(*k % 10_000_000),
            Delay::Back(k) => -i64::from(*k),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum Status {
    Ok,
    NoContent,
    Moved,
    Found,
    SeeOther,
    Temporary,
    Permanent,
    BadRequest,
    Forbidden,
    NotFound,
    ServerError,
    BadGateway,
    Any(u16),
}

impl Status {
    fn code(&self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::NoContent => 204,
            Status::Moved => 301,
            Status::Found => 302,
            Status::SeeOther => 303,
            Status::Temporary => 307,
            Status::Permanent => 308,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::ServerError => 500,
            Status::BadGateway => 502,
            Status::Any(n) => *n,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum Mode {
    Cors,
    NoCors,
    SameOrigin,
    Navigate,
    Websocket,
}

const RESOURCE_TYPES: [&str; 6] = ["fetch", "xhr", "preflight", "document", "font", "image"];

#[derive(Debug, Clone, Arbitrary)]
struct ExchangeSpec {
    method: Method,
    host: u8,
    path: u8,
    /// The page's origin, sent as `Origin`.
    page: Option<u8>,
    mode: Option<Mode>,
    headers: Vec<HeaderSpec>,
    response: Option<(Status, Vec<HeaderSpec>)>,
    /// A failed exchange: no response, an error text.
    error: bool,
    synthetic: bool,
    client: Option<u8>,
    resource_type: Option<u8>,
    delay: Delay,
}

#[derive(Debug, Clone, Arbitrary)]
enum Step {
    One(ExchangeSpec),
    /// A preflight made for `actual` (same URL, Origin, ACRM, ACRH), then `actual`.
    Preflighted {
        response: Option<(Status, Vec<HeaderSpec>)>,
        actual: ExchangeSpec,
    },
}

#[derive(Debug, Arbitrary)]
struct EngineInput {
    steps: Vec<Step>,
    /// Extra clock ticks the live proxy would make between pushes (fractions of the gap).
    ticks: Vec<u8>,
    credentials_visible: bool,
}

fn url_of(spec: &ExchangeSpec) -> String {
    format!(
        "{}{}",
        pick(&ORIGINS[..5], spec.host),
        pick(&PATHS, spec.path)
    )
}

fn response_of(r: &Option<(Status, Vec<HeaderSpec>)>) -> Option<ResponseRecord> {
    r.as_ref().map(|(status, headers)| ResponseRecord {
        status: status.code(),
        status_text: "".into(),
        http_version: "HTTP/1.1".into(),
        headers: header_list(headers),
        body: Body::default(),
    })
}

fn exchange(spec: &ExchangeSpec, id: u64, started_ms: i64) -> Exchange {
    let mut headers = HeaderList::default();
    if let Some(page) = spec.page {
        headers.push("Origin", pick(&ORIGINS, page));
    }
    if let Some(mode) = &spec.mode {
        let m = match mode {
            Mode::Cors => "cors",
            Mode::NoCors => "no-cors",
            Mode::SameOrigin => "same-origin",
            Mode::Navigate => "navigate",
            Mode::Websocket => "websocket",
        };
        headers.push("Sec-Fetch-Mode", m);
    }
    for h in header_list(&spec.headers).iter() {
        headers.push(h.name, h.value);
    }
    let response = if spec.error {
        None
    } else {
        response_of(&spec.response)
    };
    Exchange {
        id,
        connection_id: u64::from(spec.client.unwrap_or(0)),
        started: chrono::DateTime::from_timestamp_millis(started_ms).unwrap_or_default(),
        request: RequestRecord {
            method: spec.method.as_str().to_owned().into(),
            url: url_of(spec),
            http_version: "HTTP/1.1".into(),
            headers,
            body: Body::default(),
        },
        error: (spec.error || response.is_none()).then(|| "connection refused".to_owned()),
        response,
        timings: Default::default(),
        server_ip: None,
        client_addr: spec
            .client
            .map(|c| format!("127.0.0.{}:{}", c % 3, 40000 + u16::from(c)).into()),
        resource_type: spec.resource_type.map(|r| pick(&RESOURCE_TYPES, r).into()),
        synthetic_response: spec.synthetic,
    }
}

/// The preflight a browser would send for `actual`.
fn preflight_for(actual: &Exchange, response: &Option<(Status, Vec<HeaderSpec>)>) -> Exchange {
    let mut headers = HeaderList::default();
    if let Some(o) = actual.request.headers.first("origin") {
        headers.push("Origin", o);
    }
    headers.push("Access-Control-Request-Method", &*actual.request.method);
    let names = unsafe_header_names(&actual.request.headers, Profile::Chrome);
    if !names.is_empty() {
        headers.push("Access-Control-Request-Headers", names.join(","));
    }
    headers.push("Sec-Fetch-Mode", "cors");
    Exchange {
        request: RequestRecord {
            method: "OPTIONS".into(),
            url: actual.request.url.clone(),
            http_version: "HTTP/1.1".into(),
            headers,
            body: Body::default(),
        },
        response: response_of(response),
        error: None,
        resource_type: Some("preflight".into()),
        synthetic_response: false,
        ..actual.clone()
    }
}

fn build_exchanges(steps: &[Step]) -> Vec<Exchange> {
    let mut out = Vec::new();
    let mut now = BASE_MS;
    for step in steps.iter().take(MAX_STEPS) {
        match step {
            Step::One(spec) => {
                now += spec.delay.ms();
                out.push(exchange(spec, out.len() as u64, now));
            }
            Step::Preflighted { response, actual } => {
                now += actual.delay.ms();
                let placeholder = exchange(actual, 0, now);
                let mut pf = preflight_for(&placeholder, response);
                pf.id = out.len() as u64;
                out.push(pf);
                now += 1;
                out.push(exchange(actual, out.len() as u64, now));
            }
        }
    }
    out
}

/// Fuzz target `engine`: batch analysis equals the incremental session (with extra clock
/// ticks), is independent of input order, settles everything, and its verdicts serialize,
/// export and import back.
pub fn engine(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = EngineInput::arbitrary(&mut u) else {
        return;
    };
    let exchanges = build_exchanges(&input.steps);
    for profile in PROFILES {
        let mut cfg = Config::new(profile);
        cfg.credentials_visible = input.credentials_visible;
        let batch = cors::analyze_with(&exchanges, cfg);
        assert_eq!(batch.len(), exchanges.len());
        for (v, ex) in batch.iter().zip(&exchanges) {
            assert_eq!(v.exchange, ex.id);
            assert_ne!(v.outcome, Outcome::Pending, "pending after the end: {v:?}");
            assert!(serde_json::to_string(v).is_ok());
        }
        check_pairs(&batch);

        let by_id: HashMap<u64, &Verdict> = batch.iter().map(|v| (v.exchange, v)).collect();
        let live = incremental(&exchanges, cfg, &input.ticks);
        assert_eq!(live.len(), batch.len());
        for v in &live {
            assert_eq!(
                Some(&v),
                by_id.get(&v.exchange),
                "batch and incremental differ"
            );
        }

        let mut reversed = exchanges.clone();
        reversed.reverse();
        for v in cors::analyze_with(&reversed, cfg) {
            assert_eq!(
                Some(&&v),
                by_id.get(&v.exchange),
                "input order changed a verdict"
            );
        }

        if profile == Profile::Chrome {
            for (ex, v) in exchanges.iter().zip(&batch) {
                let pf = v
                    .paired_with
                    .and_then(|p| exchanges.iter().find(|e| e.id == p));
                let _ = cors::evaluate(pf, ex, profile);
            }
            check_export(&exchanges, &batch, profile);
        }
    }
}

/// Every `paired_with` names an exchange of the input; a preflight and the actual request
/// it was paired with point at each other.
fn check_pairs(verdicts: &[Verdict]) {
    let by_id: HashMap<u64, &Verdict> = verdicts.iter().map(|v| (v.exchange, v)).collect();
    for v in verdicts {
        let Some(p) = v.paired_with else { continue };
        let Some(other) = by_id.get(&p) else {
            panic!("{} paired with unknown {p}", v.exchange);
        };
        if v.preflight == Some(PreflightUse::Paired) {
            assert_eq!(other.paired_with, Some(v.exchange), "one-sided pairing");
        }
    }
}

/// Feed the session as the live proxy does: sorted by start, ticks in between, then finish.
/// What each call reported must match the session's final state.
fn incremental(exchanges: &[Exchange], cfg: Config, ticks: &[u8]) -> Vec<Verdict> {
    let mut order: Vec<&Exchange> = exchanges.iter().collect();
    order.sort_by_key(|e| (e.started_ms(), e.id));
    let mut session = Session::new(cfg);
    let mut latest: HashMap<u64, Arc<Verdict>> = HashMap::new();
    let mut ticks = ticks.iter();
    let mut last = i64::MIN;
    for ex in order {
        let now = ex.started_ms();
        // A tick somewhere in the gap since the previous start, as a frame timer would.
        if let (Some(&t), true) = (ticks.next(), last != i64::MIN) {
            let at = last + (now - last) * i64::from(t) / 255;
            for v in session.tick(at) {
                latest.insert(v.exchange, v);
            }
        }
        for v in session.tick(now) {
            latest.insert(v.exchange, v);
        }
        for v in session.push(ex) {
            latest.insert(v.exchange, v);
        }
        last = now;
    }
    for v in session.finish() {
        latest.insert(v.exchange, v);
    }
    for v in session.verdicts() {
        assert_eq!(
            latest.get(&v.exchange).map(|l| &**l),
            Some(&*v),
            "stale report for {}",
            v.exchange
        );
    }
    session.into_verdicts()
}

/// Export the judged exchanges as HAR and import the file again: nothing may be lost.
fn check_export(exchanges: &[Exchange], verdicts: &[Verdict], profile: Profile) {
    let arcs: Vec<Arc<Exchange>> = exchanges.iter().cloned().map(Arc::new).collect();
    let by_id: HashMap<u64, Arc<Verdict>> = verdicts
        .iter()
        .map(|v| (v.exchange, Arc::new(v.clone())))
        .collect();
    let har = export::build(
        &arcs,
        |id| by_id.get(&id).cloned(),
        profile,
        &ExportOptions::default(),
    );
    let bytes = match export::to_vec(&har) {
        Ok(b) => b,
        Err(e) => panic!("export failed: {e}"),
    };
    match import_slice(&bytes) {
        Ok(imp) => {
            assert_eq!(imp.entry_count, exchanges.len());
            assert!(
                imp.errors.is_empty(),
                "export wrote entries it cannot read: {:?}",
                imp.errors
            );
            assert_eq!(imp.recorded_cors.len(), exchanges.len());
        }
        Err(e) => panic!("export is not a readable HAR: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// har_import: arbitrary bytes as a HAR file.
// ---------------------------------------------------------------------------------------

/// Fuzz target `har_import`: any bytes either fail to import with an error or import to
/// exchanges the engine judges; that judgement exports to a HAR which imports again, and
/// judging the re-imported file gives the verdicts recorded in it.
pub fn har_import(data: &[u8]) {
    let imported = match import_slice(data) {
        Ok(i) => i,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(
        imported.exchanges.len() + imported.errors.len(),
        imported.entry_count
    );
    assert!(imported.exchanges.windows(2).all(|w| w[0].id < w[1].id));
    let profile = Profile::Chrome;
    let mut cfg = Config::new(profile);
    cfg.credentials_visible = !imported.strips_credentials();
    let verdicts = cors::analyze_with(&imported.exchanges, cfg);
    assert_eq!(verdicts.len(), imported.exchanges.len());

    let arcs: Vec<Arc<Exchange>> = imported.exchanges.iter().cloned().map(Arc::new).collect();
    let by_id: HashMap<u64, Arc<Verdict>> = verdicts
        .iter()
        .map(|v| (v.exchange, Arc::new(v.clone())))
        .collect();
    let opts = ExportOptions {
        credentials_stripped: imported.strips_credentials(),
        ..ExportOptions::default()
    };
    let har = export::build(&arcs, |id| by_id.get(&id).cloned(), profile, &opts);
    let bytes = match export::to_vec(&har) {
        Ok(b) => b,
        Err(e) => panic!("export failed: {e}"),
    };
    let again = match import_slice(&bytes) {
        Ok(i) => i,
        Err(e) => panic!("our own export does not import: {e}"),
    };
    assert_eq!(again.entry_count, imported.exchanges.len());
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(again.strips_credentials(), imported.strips_credentials());

    // The re-imported file, judged again, says what it recorded.
    let mut cfg = Config::new(profile);
    cfg.credentials_visible = !again.strips_credentials();
    let rejudged = cors::analyze_with(&again.exchanges, cfg);
    let index: HashMap<u64, usize> = again
        .exchanges
        .iter()
        .map(|e| (e.id, e.id as usize))
        .collect();
    let now: BTreeMap<u64, _> = rejudged
        .iter()
        .map(|v| (v.exchange, export::cors_info(Some(v), profile, &index)))
        .collect();
    for (id, recorded) in &again.recorded_cors {
        assert_eq!(
            now.get(id),
            Some(recorded),
            "entry {id} judged differently after a round trip"
        );
    }
}
