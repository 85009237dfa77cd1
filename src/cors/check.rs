//! The two checks a browser runs on responses: the CORS check (every response of a
//! cors-tainted request, redirects included) and the CORS-preflight check (status, method,
//! headers, max-age). Both follow Fetch §3.5 / §CORS-preflight fetch with Chromium's observed
//! differences per [`Profile`]. Nothing here allocates on the success path.

use crate::capture::HeaderList;
use crate::cors::profile::Profile;
use crate::cors::safelist::{is_safelisted_method, is_token, SAFELISTED_RESPONSE_HEADERS};
use serde::Serialize;

/// Why a check failed, named after Chromium's `network::mojom::CorsError` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No `Access-Control-Allow-Origin` header.
    MissingAllowOrigin,
    /// Several values (two header lines, or a comma/space list).
    MultipleAllowOriginValues,
    /// A value that is not an origin at all (e.g. empty).
    InvalidAllowOriginValue,
    /// An origin, but not the request's.
    AllowOriginMismatch,
    /// `*` while the request's credentials mode is `include`.
    WildcardOriginNotAllowed,
    /// Credentials mode `include` and `Access-Control-Allow-Credentials` is not `true`.
    InvalidAllowCredentials,
    /// The preflight response status is not 2xx.
    PreflightInvalidStatus,
    /// The preflight response is a redirect.
    PreflightDisallowedRedirect,
    /// `Access-Control-Allow-Methods` does not parse.
    InvalidAllowMethods,
    /// `Access-Control-Allow-Headers` does not parse.
    InvalidAllowHeaders,
    /// The method is not allowed by the preflight response.
    MethodDisallowed,
    /// A request header is not allowed by the preflight response.
    HeaderDisallowed,
    /// A redirect location carries user name / password.
    RedirectContainsCredentials,
    /// A `mode: 'same-origin'` request redirected to another origin (the hint is the
    /// location). Chrome logs nothing for it; the page gets a TypeError.
    DisallowedByMode,
    /// The preflight passed (as far as the wire shows) but the request never followed.
    ActualNotSent,
}

impl FailureKind {
    /// Chromium's enum name (without the `Preflight` variant prefix), for JSON output.
    pub fn chrome_name(self, preflight: bool) -> &'static str {
        use FailureKind::*;
        match (self, preflight) {
            (MissingAllowOrigin, false) => "kMissingAllowOriginHeader",
            (MissingAllowOrigin, true) => "kPreflightMissingAllowOriginHeader",
            (MultipleAllowOriginValues, false) => "kMultipleAllowOriginValues",
            (MultipleAllowOriginValues, true) => "kPreflightMultipleAllowOriginValues",
            (InvalidAllowOriginValue, false) => "kInvalidAllowOriginValue",
            (InvalidAllowOriginValue, true) => "kPreflightInvalidAllowOriginValue",
            (AllowOriginMismatch, false) => "kAllowOriginMismatch",
            (AllowOriginMismatch, true) => "kPreflightAllowOriginMismatch",
            (WildcardOriginNotAllowed, false) => "kWildcardOriginNotAllowed",
            (WildcardOriginNotAllowed, true) => "kPreflightWildcardOriginNotAllowed",
            (InvalidAllowCredentials, false) => "kInvalidAllowCredentials",
            (InvalidAllowCredentials, true) => "kPreflightInvalidAllowCredentials",
            (PreflightInvalidStatus, _) => "kPreflightInvalidStatus",
            (PreflightDisallowedRedirect, _) => "kPreflightDisallowedRedirect",
            (InvalidAllowMethods, _) => "kInvalidAllowMethodsPreflightResponse",
            (InvalidAllowHeaders, _) => "kInvalidAllowHeadersPreflightResponse",
            (MethodDisallowed, _) => "kMethodDisallowedByPreflightResponse",
            (HeaderDisallowed, _) => "kHeaderDisallowedByPreflightResponse",
            (RedirectContainsCredentials, _) => "kRedirectContainsCredentials",
            (DisallowedByMode, _) => "kDisallowedByMode",
            (ActualNotSent, _) => "none",
        }
    }
}

/// A failed check: what failed, the value that failed it (Chrome's "hint"), and whether it
/// failed on a preflight response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What failed.
    pub kind: FailureKind,
    /// The offending value, method or header name (empty when there is none).
    pub hint: String,
    /// True when the failing response was a preflight's.
    pub preflight: bool,
}

impl Failure {
    fn new(kind: FailureKind, hint: impl Into<String>) -> Self {
        Self {
            kind,
            hint: hint.into(),
            preflight: false,
        }
    }
}

/// Trim HTTP optional whitespace, as header parsers do with field values.
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Every value of `name` (case-insensitive), borrowed from the list only.
fn values<'a: 'n, 'n>(
    headers: &'a HeaderList,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + 'n {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Chromium's view of a header: every line's value trimmed, lines joined with `", "`.
/// Returns `None` when absent. Borrowed when there is exactly one line.
pub fn combined<'a>(headers: &'a HeaderList, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut it = values(headers, name);
    let first = trim_ows(it.next()?);
    match it.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut s = String::with_capacity(first.len() * 2 + 2);
            s.push_str(first);
            s.push_str(", ");
            s.push_str(trim_ows(second));
            for v in it {
                s.push_str(", ");
                s.push_str(trim_ows(v));
            }
            Some(std::borrow::Cow::Owned(s))
        }
    }
}

/// The CORS check (Fetch §CORS check) of one response. `origin` is the request's serialized
/// origin as sent on this hop (`null` after a cross-origin redirect).
pub fn cors_check(response: &HeaderList, origin: &str, include: bool) -> Result<(), Failure> {
    let Some(acao) = combined(response, "access-control-allow-origin") else {
        return Err(Failure::new(FailureKind::MissingAllowOrigin, ""));
    };
    let acao: &str = &acao;
    if acao == "*" {
        if include {
            return Err(Failure::new(FailureKind::WildcardOriginNotAllowed, "*"));
        }
        return Ok(());
    }
    if acao != origin {
        let kind = if acao.contains([' ', ',']) {
            FailureKind::MultipleAllowOriginValues
        } else if acao == "null" || url::Url::parse(acao).is_ok() {
            FailureKind::AllowOriginMismatch
        } else {
            FailureKind::InvalidAllowOriginValue
        };
        return Err(Failure::new(kind, acao));
    }
    if include {
        let acac = combined(response, "access-control-allow-credentials");
        let acac = acac.as_deref().unwrap_or("");
        if acac != "true" {
            return Err(Failure::new(FailureKind::InvalidAllowCredentials, acac));
        }
    }
    Ok(())
}

/// True for HTTP redirect statuses that carry a location the fetch would follow.
pub fn is_redirect_status(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A validated `Access-Control-Allow-Methods` / `-Headers` value: the items as written,
/// empty items skipped. Chromium splits on `,`, trims, and requires each item to be a token.
/// Items are walked in place rather than collected: this runs for every preflight.
#[derive(Debug, Clone, Copy)]
pub struct AllowList<'a> {
    headers: &'a HeaderList,
    name: &'static str,
}

impl<'a> AllowList<'a> {
    /// Validate every line of `name`. `Err(token)` names the first item that is not a token.
    pub fn parse(headers: &'a HeaderList, name: &'static str) -> Result<Self, String> {
        let list = Self { headers, name };
        for line in values(headers, name) {
            for item in line.split(',') {
                let item = trim_ows(item);
                if !item.is_empty() && !is_token(item) {
                    return Err(item.to_owned());
                }
            }
        }
        Ok(list)
    }

    /// The items in order.
    pub fn items(&self) -> impl Iterator<Item = &'a str> + 'a {
        values(self.headers, self.name)
            .flat_map(|l| l.split(','))
            .map(trim_ows)
            .filter(|i| !i.is_empty())
    }

    /// Byte-exact membership (methods are case-sensitive).
    pub fn contains_exact(&self, s: &str) -> bool {
        self.items().any(|i| i == s)
    }

    /// Case-insensitive membership (header names).
    pub fn contains_ci(&self, s: &str) -> bool {
        self.items().any(|i| i.eq_ignore_ascii_case(s))
    }

    /// True when the list holds a literal `*`.
    pub fn has_wildcard(&self) -> bool {
        self.contains_exact("*")
    }
}

/// What a passed preflight grants, for the preflight cache model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Max-age in seconds after the profile's default and cap.
    pub max_age_s: u64,
    /// True when `Authorization` passed only because of `Access-Control-Allow-Headers: *`
    /// (Chromium and Firefox allow it; the spec does not).
    pub authorization_via_wildcard: bool,
}

/// The profile's default preflight cache lifetime when `Access-Control-Max-Age` is absent.
pub const DEFAULT_MAX_AGE_S: u64 = 5;

/// The longest preflight cache lifetime a browser accepts.
pub fn max_age_cap(profile: Profile) -> u64 {
    match profile {
        // preflight_result.cc kMaxTimeout: 2 h.
        Profile::Chrome => 7200,
        // MDN Access-Control-Max-Age: 24 h.
        Profile::Firefox => 86_400,
        Profile::Spec => u64::MAX,
    }
}

/// Parse `Access-Control-Max-Age` (seconds) as the profile's browser does, then clamp it
/// to the profile's cap. Absent ⇒ the 5 s default.
/// - Chrome (`preflight_result.cc` `ParseAccessControlMaxAge`): a value that is not a
///   64-bit integer (empty, `abc`, `1.5`, too large) also gets the default; a negative one
///   0 (not cached).
/// - Spec: anything but delta-seconds (digits) is a failure, and a failure gets the default.
/// - Firefox (`nsCORSListenerProxy`): a value with anything but digits makes no cache entry
///   (0); an empty one gets the default.
pub fn parse_max_age(headers: &HeaderList, profile: Profile) -> u64 {
    let default = DEFAULT_MAX_AGE_S.min(max_age_cap(profile));
    let raw = match combined(headers, "access-control-max-age") {
        None => return default,
        Some(v) if v.is_empty() => return default,
        Some(v) => v,
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let secs = match profile {
        Profile::Chrome => {
            let (negative, magnitude) = match raw.as_bytes().first() {
                Some(b'-') => (true, &raw[1..]),
                Some(b'+') => (false, &raw[1..]),
                _ => (false, &raw[..]),
            };
            match magnitude.parse::<i64>() {
                Ok(_) if !digits(magnitude) => default,
                Ok(_) if negative => 0,
                Ok(n) => u64::try_from(n).unwrap_or(0),
                Err(_) => default,
            }
        }
        Profile::Spec if digits(&raw) => raw.parse::<u64>().unwrap_or(u64::MAX),
        Profile::Spec => default,
        Profile::Firefox if digits(&raw) => raw.parse::<u64>().unwrap_or(u64::MAX),
        Profile::Firefox => 0,
    };
    secs.min(max_age_cap(profile))
}

/// The CORS-preflight check of a preflight response for a request with `method` (as sent)
/// and unsafe `header_names` (lowercase), in credentials mode `include` or not.
/// `origin` is the Origin this preflight carried.
pub fn preflight_check<'n>(
    status: u16,
    response: &HeaderList,
    origin: &str,
    method: &str,
    header_names: impl IntoIterator<Item = &'n str>,
    include: bool,
    profile: Profile,
) -> Result<Grant, Failure> {
    let preflight = |mut f: Failure| {
        f.preflight = true;
        f
    };
    if is_redirect_status(status) && response.contains("location") {
        return Err(preflight(Failure::new(
            FailureKind::PreflightDisallowedRedirect,
            "",
        )));
    }
    cors_check(response, origin, include).map_err(preflight)?;
    if !(200..=299).contains(&status) {
        return Err(preflight(Failure::new(
            FailureKind::PreflightInvalidStatus,
            status.to_string(),
        )));
    }
    let methods = AllowList::parse(response, "access-control-allow-methods")
        .map_err(|t| Failure::new(FailureKind::InvalidAllowMethods, t))?;
    let headers = AllowList::parse(response, "access-control-allow-headers")
        .map_err(|t| Failure::new(FailureKind::InvalidAllowHeaders, t))?;
    let method_ok = methods.contains_exact(method)
        || is_safelisted_method(method)
        || (!include && methods.has_wildcard());
    if !method_ok {
        return Err(Failure::new(FailureKind::MethodDisallowed, method));
    }
    let wildcard = !include && headers.has_wildcard();
    let mut authorization_via_wildcard = false;
    for name in header_names {
        if headers.contains_ci(name) {
            continue;
        }
        let is_auth = name.eq_ignore_ascii_case("authorization");
        if wildcard && !(is_auth && profile == Profile::Spec) {
            authorization_via_wildcard |= is_auth;
            continue;
        }
        return Err(Failure::new(
            FailureKind::HeaderDisallowed,
            name.to_ascii_lowercase(),
        ));
    }
    Ok(Grant {
        max_age_s: parse_max_age(response, profile),
        authorization_via_wildcard,
    })
}

/// Response header names (lowercase, sorted, unique) that JS can read from a CORS
/// response: the safelisted ones plus `Access-Control-Expose-Headers`; `*` exposes all
/// but `Set-Cookie` unless credentials are included, where it is taken literally.
pub fn exposed_headers(response: &HeaderList, include: bool) -> Vec<String> {
    let mut listed: Vec<String> = Vec::new();
    let mut star = false;
    for line in response.get_all("access-control-expose-headers") {
        for item in line.split(',') {
            let item = trim_ows(item);
            if item == "*" && !include {
                star = true;
            } else if !item.is_empty() {
                listed.push(item.to_ascii_lowercase());
            }
        }
    }
    let mut out: Vec<String> = response
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .filter(|n| n != "set-cookie" && n != "set-cookie2")
        .filter(|n| star || SAFELISTED_RESPONSE_HEADERS.contains(&n.as_str()) || listed.contains(n))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// All response header names but `Set-Cookie`: what a same-origin (basic) response exposes.
pub fn basic_headers(response: &HeaderList) -> Vec<String> {
    let mut out: Vec<String> = response
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .filter(|n| n != "set-cookie" && n != "set-cookie2")
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Header pairs of a table row.
    type H = &'static [(&'static str, &'static str)];

    const O: &str = "http://127.0.0.1:41001";

    fn hl(pairs: &[(&str, &str)]) -> HeaderList {
        pairs
            .iter()
            .map(|(n, v)| crate::capture::Header::new(*n, *v))
            .collect()
    }

    #[test]
    fn acao_forms() {
        use FailureKind::*;
        let cases: &[(H, &str, bool, Option<FailureKind>)] = &[
            (&[("Access-Control-Allow-Origin", "*")], O, false, None),
            (
                &[("Access-Control-Allow-Origin", "*")],
                O,
                true,
                Some(WildcardOriginNotAllowed),
            ),
            (&[("Access-Control-Allow-Origin", O)], O, false, None),
            (&[("access-control-allow-origin", O)], O, false, None),
            (
                &[("Access-Control-Allow-Origin", " http://127.0.0.1:41001 ")],
                O,
                false,
                None,
            ),
            (&[], O, false, Some(MissingAllowOrigin)),
            (
                &[("Access-Control-Allow-Origin", "")],
                O,
                false,
                Some(InvalidAllowOriginValue),
            ),
            (
                &[("Access-Control-Allow-Origin", "foo")],
                O,
                false,
                Some(InvalidAllowOriginValue),
            ),
            (
                &[("Access-Control-Allow-Origin", "null")],
                O,
                false,
                Some(AllowOriginMismatch),
            ),
            (
                &[("Access-Control-Allow-Origin", "null")],
                "null",
                false,
                None,
            ),
            (
                &[("Access-Control-Allow-Origin", "http://127.0.0.1:41001/")],
                O,
                false,
                Some(AllowOriginMismatch),
            ),
            (
                &[("Access-Control-Allow-Origin", "HTTP://127.0.0.1:41001")],
                O,
                false,
                Some(AllowOriginMismatch),
            ),
            (
                &[(
                    "Access-Control-Allow-Origin",
                    "http://127.0.0.1:41001, http://x",
                )],
                O,
                false,
                Some(MultipleAllowOriginValues),
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", O),
                    ("Access-Control-Allow-Origin", O),
                ],
                O,
                false,
                Some(MultipleAllowOriginValues),
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Allow-Origin", "*"),
                ],
                O,
                false,
                Some(MultipleAllowOriginValues),
            ),
        ];
        for (h, origin, inc, want) in cases {
            let got = cors_check(&hl(h), origin, *inc).err().map(|f| f.kind);
            assert_eq!(got, *want, "{h:?} origin={origin} include={inc}");
        }
        let f = cors_check(
            &hl(&[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Origin", "*"),
            ]),
            O,
            false,
        )
        .unwrap_err();
        assert_eq!(f.hint, "*, *");
    }

    #[test]
    fn acac_rules() {
        let base = ("Access-Control-Allow-Origin", O);
        for (acac, include, ok) in [
            (None, false, true),
            (None, true, false),
            (Some("true"), true, true),
            (Some("True"), true, false),
            (Some("false"), true, false),
            (Some(" true "), true, true),
            (Some("True"), false, true),
        ] {
            let mut h = vec![base];
            if let Some(v) = acac {
                h.push(("Access-Control-Allow-Credentials", v));
            }
            let r = cors_check(&hl(&h), O, include);
            assert_eq!(r.is_ok(), ok, "{acac:?} include={include}");
            if let Err(f) = r {
                assert_eq!(f.kind, FailureKind::InvalidAllowCredentials);
                assert_eq!(f.hint, acac.unwrap_or("").trim());
            }
        }
    }

    #[test]
    fn allow_list_parsing() {
        let h = hl(&[
            ("Access-Control-Allow-Methods", " GET ,, put,PATCH ,"),
            ("Access-Control-Allow-Methods", "FOO"),
        ]);
        let l = AllowList::parse(&h, "access-control-allow-methods").unwrap();
        assert_eq!(
            l.items().collect::<Vec<_>>(),
            vec!["GET", "put", "PATCH", "FOO"]
        );
        assert!(l.contains_exact("PATCH"));
        assert!(!l.contains_exact("PUT"));
        assert!(l.contains_ci("put"));
        let bad = hl(&[("Access-Control-Allow-Headers", "x-a, x b")]);
        assert_eq!(
            AllowList::parse(&bad, "access-control-allow-headers").unwrap_err(),
            "x b"
        );
        let empty = hl(&[("Access-Control-Allow-Headers", "")]);
        let items = AllowList::parse(&empty, "access-control-allow-headers").unwrap();
        assert_eq!(items.items().count(), 0);
    }

    fn pf(
        h: &[(&str, &str)],
        method: &str,
        names: &[&str],
        include: bool,
        p: Profile,
    ) -> Result<Grant, FailureKind> {
        let mut all = vec![("Access-Control-Allow-Origin", if include { O } else { "*" })];
        if include {
            all.push(("Access-Control-Allow-Credentials", "true"));
        }
        all.extend_from_slice(h);
        preflight_check(204, &hl(&all), O, method, names.iter().copied(), include, p)
            .map_err(|f| f.kind)
    }

    #[test]
    fn preflight_methods_and_headers() {
        use FailureKind::*;
        type Row = (
            H,
            &'static str,
            &'static [&'static str],
            bool,
            Profile,
            Option<FailureKind>,
        );
        const M: &str = "Access-Control-Allow-Methods";
        const HH: &str = "Access-Control-Allow-Headers";
        let c = Profile::Chrome;
        let cases: &[Row] = &[
            (&[(M, "PUT")], "PUT", &[], false, c, None),
            (&[(M, "put")], "PUT", &[], false, c, Some(MethodDisallowed)),
            (
                &[(M, "PATCH")],
                "patch",
                &[],
                false,
                c,
                Some(MethodDisallowed),
            ),
            (&[(M, "patch")], "patch", &[], false, c, None),
            (&[], "GET", &[], false, c, None),
            (&[(M, "*")], "DELETE", &[], false, c, None),
            (&[(M, "*")], "DELETE", &[], true, c, Some(MethodDisallowed)),
            (
                &[(M, "GET, x y")],
                "GET",
                &[],
                false,
                c,
                Some(InvalidAllowMethods),
            ),
            (&[(HH, "X-Custom")], "GET", &["x-custom"], false, c, None),
            (
                &[(HH, "x-a")],
                "GET",
                &["x-a", "x-b"],
                false,
                c,
                Some(HeaderDisallowed),
            ),
            (&[(HH, "*")], "GET", &["x-a"], false, c, None),
            (
                &[(HH, "*")],
                "GET",
                &["x-a"],
                true,
                c,
                Some(HeaderDisallowed),
            ),
            (&[(HH, "*")], "GET", &["authorization"], false, c, None),
            (
                &[(HH, "*")],
                "GET",
                &["authorization"],
                false,
                Profile::Firefox,
                None,
            ),
            (
                &[(HH, "*")],
                "GET",
                &["authorization"],
                false,
                Profile::Spec,
                Some(HeaderDisallowed),
            ),
            (
                &[(HH, "*, Authorization")],
                "GET",
                &["authorization"],
                false,
                Profile::Spec,
                None,
            ),
            (
                &[(HH, "a,(b)")],
                "GET",
                &[],
                false,
                c,
                Some(InvalidAllowHeaders),
            ),
        ];
        for (h, method, names, inc, p, want) in cases {
            assert_eq!(
                pf(h, method, names, *inc, *p).err(),
                *want,
                "{h:?} {method} {names:?} {inc} {p:?}"
            );
        }
        let g = pf(&[(HH, "*")], "GET", &["authorization"], false, c).unwrap();
        assert!(g.authorization_via_wildcard);
    }

    #[test]
    fn preflight_status_and_redirect() {
        let ok_h = [("Access-Control-Allow-Origin", "*")];
        for (status, ok) in [
            (200, true),
            (204, true),
            (299, true),
            (300, false),
            (304, false),
            (404, false),
            (500, false),
        ] {
            let r = preflight_check(status, &hl(&ok_h), O, "GET", [], false, Profile::Chrome);
            match r {
                Ok(_) => assert!(ok, "{status}"),
                Err(f) => {
                    assert!(!ok, "{status}");
                    assert_eq!(f.kind, FailureKind::PreflightInvalidStatus);
                    assert_eq!(f.hint, status.to_string());
                }
            }
        }
        // CORS check comes before the status check.
        let r = preflight_check(500, &hl(&[]), O, "PUT", [], false, Profile::Chrome).unwrap_err();
        assert_eq!(r.kind, FailureKind::MissingAllowOrigin);
        assert!(r.preflight);
        // A redirect fails first, whatever else the response says.
        let r = preflight_check(
            302,
            &hl(&[("Location", "/x")]),
            O,
            "PUT",
            [],
            false,
            Profile::Chrome,
        )
        .unwrap_err();
        assert_eq!(r.kind, FailureKind::PreflightDisallowedRedirect);
    }

    #[test]
    fn max_age_parsing_and_caps() {
        use Profile::{Chrome, Firefox, Spec};
        let cases: &[(Option<&str>, Profile, u64)] = &[
            (None, Chrome, 5),
            (Some("600"), Chrome, 600),
            (Some("86400"), Chrome, 7200),
            (Some("86400"), Firefox, 86_400),
            (Some("100000"), Firefox, 86_400),
            (Some("100000"), Spec, 100_000),
            (Some("0"), Chrome, 0),
            // Chrome: not an integer ⇒ the default (seen: `abc` cached for 5 s); negative ⇒ 0.
            (Some("abc"), Chrome, 5),
            (Some("1.5"), Chrome, 5),
            (Some(""), Chrome, 5),
            (Some("600, 600"), Chrome, 5),
            (Some("99999999999999999999999"), Chrome, 5),
            (Some("9999999999"), Chrome, 7200),
            (Some("-1"), Chrome, 0),
            (Some("+7"), Chrome, 7),
            (Some("-"), Chrome, 5),
            // The spec: anything but digits is a failure, which gets the default.
            (Some("abc"), Spec, 5),
            (Some("-1"), Spec, 5),
            // Firefox: anything but digits makes no entry.
            (Some("abc"), Firefox, 0),
            (Some("-1"), Firefox, 0),
            (Some(""), Firefox, 5),
        ];
        for (v, p, want) in cases {
            let h = match v {
                Some(v) => hl(&[("Access-Control-Max-Age", v)]),
                None => hl(&[]),
            };
            assert_eq!(parse_max_age(&h, *p), *want, "{v:?} {p:?}");
        }
    }

    #[test]
    fn exposure() {
        let base = [
            ("Content-Type", "text/plain"),
            ("Cache-Control", "no-store"),
            ("X-Custom", "c"),
            ("X-Other", "o"),
            ("Set-Cookie", "a=b"),
            ("Date", "x"),
        ];
        let with = |aceh: &str| {
            let mut v = base.to_vec();
            v.push(("Access-Control-Expose-Headers", aceh));
            hl(&v)
        };
        assert_eq!(
            exposed_headers(&hl(&base), false),
            vec!["cache-control", "content-type"]
        );
        assert_eq!(
            exposed_headers(&with("x-other, X-CUSTOM"), true),
            vec!["cache-control", "content-type", "x-custom", "x-other"]
        );
        assert_eq!(
            exposed_headers(&with("*"), false),
            vec![
                "access-control-expose-headers",
                "cache-control",
                "content-type",
                "date",
                "x-custom",
                "x-other"
            ]
        );
        assert_eq!(
            exposed_headers(&with("*"), true),
            vec!["cache-control", "content-type"]
        );
        assert_eq!(
            exposed_headers(&with("Set-Cookie"), false),
            vec!["cache-control", "content-type"]
        );
        assert_eq!(
            basic_headers(&hl(&base)),
            vec![
                "cache-control",
                "content-type",
                "date",
                "x-custom",
                "x-other"
            ]
        );
    }
}
