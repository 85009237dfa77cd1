//! What kind of request an exchange is (navigation, no-cors, same-origin, CORS preflight,
//! CORS request) and what it needs (a preflight? which unsafe header names? which
//! credentials mode?), read from `Origin` and `Sec-Fetch-*` when present and from the
//! Origin-vs-URL comparison when not (plain-http hosts get no `Sec-Fetch-*`).

use crate::capture::Exchange;
use crate::cors::profile::Profile;
use crate::cors::safelist::{is_safelisted_method, unsafe_header_names};
use serde::Serialize;

/// The request class that decides whether CORS applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A cross-origin cors-mode request (or its preflight): the CORS checks apply.
    Cors,
    /// Same origin as the requesting page: no CORS check.
    SameOrigin,
    /// `mode: 'no-cors'` (e.g. a plain `<img>`): opaque response, no check.
    NoCors,
    /// A document navigation: never CORS.
    Navigation,
    /// Nothing marks it as a browser CORS request (no Origin, e.g. curl, or a websocket).
    NotCors,
}

/// The part an exchange plays within a CORS flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// An `OPTIONS` preflight.
    Preflight,
    /// A request that needed (and had, or rode a cached) preflight.
    Actual,
    /// A request that needed no preflight.
    Simple,
}

/// The request's credentials mode, as far as the wire tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsMode {
    /// Cookies / HTTP auth were attached: `credentials: 'include'` (or an XHR
    /// `withCredentials`).
    Include,
    /// No credentials seen: `omit` or `same-origin` — or `include` with an empty jar.
    NotInclude,
    /// The recording strips cookies (Chrome DevTools HAR export): judged as not-include,
    /// with the `include` outcome shown beside it.
    Unknown,
}

/// The inferred credentials mode and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    /// The mode the verdict assumes.
    pub mode: CredentialsMode,
    /// Always true: the wire never states the mode.
    pub inferred: bool,
    /// What the inference rests on.
    pub evidence: &'static str,
}

impl Credentials {
    /// Credentials were included.
    pub fn include(evidence: &'static str) -> Self {
        Self {
            mode: CredentialsMode::Include,
            inferred: true,
            evidence,
        }
    }

    /// No evidence of credentials.
    pub fn not_include(evidence: &'static str) -> Self {
        Self {
            mode: CredentialsMode::NotInclude,
            inferred: true,
            evidence,
        }
    }

    /// Mode unknown because the recording strips cookies.
    pub fn unknown(evidence: &'static str) -> Self {
        Self {
            mode: CredentialsMode::Unknown,
            inferred: true,
            evidence,
        }
    }

    /// True for `include`.
    pub fn is_include(&self) -> bool {
        self.mode == CredentialsMode::Include
    }
}

/// The classification of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Whether and how CORS applies.
    pub kind: Kind,
    /// True for an `OPTIONS` request carrying `Access-Control-Request-Method`.
    pub is_preflight: bool,
    /// The `Origin` header as sent (`null` after a cross-origin redirect).
    pub origin: Option<String>,
    /// True when the classification is a guess (no Sec-Fetch-*, a non-GET with Origin).
    pub ambiguous: bool,
}

/// Serialize a URL's origin the way the `Origin` header does (`scheme://host[:port]`).
pub fn url_origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// True when `origin` (an `Origin` header value) is the origin of `url`. Plain lowercase
/// http(s) URLs are compared without a full URL parse; anything unusual takes the parser.
pub fn same_origin_as_url(origin: &str, url: &str) -> bool {
    let (scheme, rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        ("http://", r, ":80")
    } else if let Some(r) = url.strip_prefix("https://") {
        ("https://", r, ":443")
    } else {
        return url_origin(url).is_some_and(|u| u == origin);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let plain = authority
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b':'));
    if !plain || authority.is_empty() {
        return url_origin(url).is_some_and(|u| u == origin);
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    origin.len() == scheme.len() + authority.len()
        && origin.starts_with(scheme)
        && origin.ends_with(authority)
}

/// The URL without its fragment, for keys and comparisons.
pub fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(a, _)| a)
}

/// Classify one exchange from its request head.
pub fn classify(ex: &Exchange) -> Class {
    let h = &ex.request.headers;
    let origin = h.first("origin").map(|o| o.trim().to_owned());
    let is_preflight = ex.request.method == "OPTIONS"
        && (h.contains("access-control-request-method")
            || ex.resource_type.as_deref() == Some("preflight"))
        && origin.is_some();
    let same_as_url = || {
        origin
            .as_deref()
            .is_some_and(|o| same_origin_as_url(o, &ex.request.url))
    };
    let mk = |kind, ambiguous| Class {
        kind,
        is_preflight,
        origin: origin.clone(),
        ambiguous,
    };
    if is_preflight {
        return mk(Kind::Cors, false);
    }
    if let Some(mode) = h.first("sec-fetch-mode") {
        let kind = match mode.trim() {
            "navigate" | "nested-navigate" => Kind::Navigation,
            // Main fetch makes a response opaque only for a request that went to another
            // origin; one whose URLs were all the page's own (Sec-Fetch-Site counts every
            // redirect) gets a basic response, headers and all.
            "no-cors" if h.first("sec-fetch-site").map(str::trim) == Some("same-origin") => {
                Kind::SameOrigin
            }
            "no-cors" => Kind::NoCors,
            "same-origin" => Kind::SameOrigin,
            "websocket" | "webtransport" => Kind::NotCors,
            _ if origin.is_none() => {
                if h.first("sec-fetch-site").map(str::trim) == Some("same-origin") {
                    Kind::SameOrigin
                } else {
                    Kind::NotCors
                }
            }
            _ if same_as_url() => Kind::SameOrigin,
            _ => Kind::Cors,
        };
        return mk(kind, false);
    }
    if ex.resource_type.as_deref() == Some("document") {
        return mk(Kind::Navigation, false);
    }
    match &origin {
        None => mk(Kind::NotCors, false),
        Some(_) if same_as_url() => mk(Kind::SameOrigin, false),
        Some(_) => {
            let xhr = matches!(ex.resource_type.as_deref(), Some("xhr" | "fetch"));
            // A cross-origin Origin on GET/HEAD only comes from cors mode. An HTML form can
            // also send one, but only as a POST with form-safe headers; anything else is a
            // script's request.
            let ambiguous = ex.request.method == "POST"
                && !xhr
                && unsafe_header_names(h, Profile::Spec).is_empty();
            mk(Kind::Cors, ambiguous)
        }
    }
}

/// What a CORS request needs from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Lowercase, sorted unsafe header names.
    pub unsafe_headers: Vec<String>,
    /// The method is not `GET`/`HEAD`/`POST`.
    pub unsafe_method: bool,
}

impl Needs {
    /// True when the browser must send a preflight first.
    pub fn preflight(&self) -> bool {
        self.unsafe_method || !self.unsafe_headers.is_empty()
    }
}

/// Compute what a (non-preflight) request needs.
pub fn needs(ex: &Exchange, profile: Profile) -> Needs {
    Needs {
        unsafe_headers: unsafe_header_names(&ex.request.headers, profile),
        unsafe_method: !is_safelisted_method(&ex.request.method),
    }
}

/// Infer the credentials mode of a request from what it carried. `authorization_preflighted`
/// says whether a preflight listed `authorization` (then a script set it, which is no
/// evidence of the mode).
pub fn infer_credentials(ex: &Exchange, authorization_preflighted: bool) -> Credentials {
    let h = &ex.request.headers;
    if h.contains("cookie") {
        return Credentials::include("Cookie header sent");
    }
    if h.contains("authorization") && !authorization_preflighted {
        return Credentials::include("Authorization sent without a preflight listing it");
    }
    Credentials::not_include("no Cookie or browser-attached Authorization")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capture::{Exchange, HeaderList};

    fn ex(method: &str, url: &str, headers: &[(&str, &str)]) -> Exchange {
        let mut e = Exchange::default();
        e.request.method = method.to_owned().into();
        e.request.url = url.into();
        e.request.headers = headers
            .iter()
            .map(|(n, v)| crate::capture::Header::new(*n, *v))
            .collect::<HeaderList>();
        e
    }

    #[test]
    fn kinds() {
        let api = "http://127.0.0.1:2/x";
        let app = "http://127.0.0.1:1";
        let cases: Vec<(Exchange, Kind, bool)> = vec![
            (
                ex("GET", api, &[("Origin", app), ("Sec-Fetch-Mode", "cors")]),
                Kind::Cors,
                false,
            ),
            (
                ex(
                    "OPTIONS",
                    api,
                    &[("Origin", app), ("Access-Control-Request-Method", "PUT")],
                ),
                Kind::Cors,
                true,
            ),
            (
                ex("GET", api, &[("Sec-Fetch-Mode", "no-cors")]),
                Kind::NoCors,
                false,
            ),
            (
                ex(
                    "POST",
                    "http://127.0.0.1:1/x",
                    &[
                        ("Origin", app),
                        ("Sec-Fetch-Mode", "no-cors"),
                        ("Sec-Fetch-Site", "same-origin"),
                    ],
                ),
                Kind::SameOrigin,
                false,
            ),
            (
                ex(
                    "GET",
                    api,
                    &[
                        ("Sec-Fetch-Mode", "no-cors"),
                        ("Sec-Fetch-Site", "same-site"),
                    ],
                ),
                Kind::NoCors,
                false,
            ),
            (
                ex("GET", api, &[("Sec-Fetch-Mode", "navigate")]),
                Kind::Navigation,
                false,
            ),
            (
                ex(
                    "PUT",
                    "http://127.0.0.1:1/x",
                    &[("Origin", app), ("Sec-Fetch-Mode", "cors")],
                ),
                Kind::SameOrigin,
                false,
            ),
            (
                ex(
                    "GET",
                    "http://127.0.0.1:1/x",
                    &[
                        ("Sec-Fetch-Mode", "cors"),
                        ("Sec-Fetch-Site", "same-origin"),
                    ],
                ),
                Kind::SameOrigin,
                false,
            ),
            (
                ex(
                    "GET",
                    "http://127.0.0.1:1/x",
                    &[("Origin", "null"), ("Sec-Fetch-Mode", "cors")],
                ),
                Kind::Cors,
                false,
            ),
            (ex("GET", api, &[("Origin", app)]), Kind::Cors, false),
            (ex("GET", api, &[]), Kind::NotCors, false),
            (
                ex("GET", "http://127.0.0.1:1/x", &[("Origin", app)]),
                Kind::SameOrigin,
                false,
            ),
        ];
        for (e, kind, pf) in cases {
            let c = classify(&e);
            assert_eq!((c.kind, c.is_preflight), (kind, pf), "{:?}", e.request);
        }
        assert!(classify(&ex("POST", api, &[("Origin", app)])).ambiguous);
        assert!(!classify(&ex("PUT", api, &[("Origin", app)])).ambiguous);
        let json = [("Origin", app), ("Content-Type", "application/json")];
        assert!(!classify(&ex("POST", api, &json)).ambiguous);
    }

    #[test]
    fn credentials() {
        let e = ex("GET", "http://a/", &[("Cookie", "a=1")]);
        assert!(infer_credentials(&e, false).is_include());
        let e = ex("GET", "http://a/", &[("Authorization", "Bearer x")]);
        assert!(infer_credentials(&e, false).is_include());
        assert!(!infer_credentials(&e, true).is_include());
        assert!(!infer_credentials(&ex("GET", "http://a/", &[]), false).is_include());
    }

    #[test]
    fn origins() {
        assert_eq!(
            url_origin("http://127.0.0.1:80/x").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(
            url_origin("HTTPS://Example.COM:8443/x").as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(strip_fragment("http://a/b#c"), "http://a/b");
        for (o, u, same) in [
            ("http://a.test", "http://a.test/x", true),
            ("http://a.test", "http://a.test:80/x", true),
            ("https://a.test", "https://a.test:443", true),
            ("http://a.test:8080", "http://a.test:8080?q", true),
            ("http://a.test", "http://A.TEST/x", true),
            ("http://a.test", "https://a.test/x", false),
            ("http://a.test", "http://a.test:81/x", false),
            ("http://a.test", "http://u:p@a.test/x", true),
            ("null", "http://a.test/", false),
            ("http://a.test", "not a url", false),
        ] {
            assert_eq!(same_origin_as_url(o, u), same, "{o} {u}");
        }
    }
}
