//! The verdict on one exchange and its parts: outcome and stage, the Chrome console message
//! exactly as Chromium prints it, the Firefox reason code and text, the header diff, the fix,
//! lints, and which response headers JS can read. Every type here serializes to the JSON
//! shape `corscope analyze --json` prints.

use crate::capture::ExchangeId;
use crate::cors::check::Failure;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

// Every type a verdict is made of, in one place; each is defined next to the rule it serves.
pub use crate::cors::check::FailureKind;
pub use crate::cors::classify::{Credentials, CredentialsMode, Kind, Role};
pub use crate::cors::diff::{DiffItem, Item as DiffItemKind, Source as DiffSource};
pub use crate::cors::lint::Lint;

/// Where in the flow a blocked request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The preflight failed, or the actual request never followed it.
    Preflight,
    /// The final response failed the CORS check.
    Actual,
    /// A 3xx response in the chain failed the CORS check (or could not be followed).
    Redirect,
}

/// What the browser did with the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// JS got the response (or, for a preflight, the actual request was allowed to go).
    Allowed,
    /// The browser refused it at `stage`.
    Blocked {
        /// Where it failed.
        stage: Stage,
    },
    /// No CORS check applies (same-origin, no-cors, navigation, non-browser).
    NotCors,
    /// Waiting for more traffic (a preflight's actual request, a redirect's next hop).
    Pending,
    /// The wire does not say.
    Unknown,
}

impl Outcome {
    /// The `verdict` label: `allowed`, `blocked`, `not-cors`, `pending`, `unknown`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Blocked { .. } => "blocked",
            Outcome::NotCors => "not-cors",
            Outcome::Pending => "pending",
            Outcome::Unknown => "unknown",
        }
    }

    /// The stage of a block, if blocked.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Outcome::Blocked { stage } => Some(*stage),
            _ => None,
        }
    }

    /// True when blocked.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Outcome::Blocked { .. })
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Outcome", 2)?;
        st.serialize_field("verdict", self.label())?;
        st.serialize_field("stage", &self.stage())?;
        st.end()
    }
}

/// How an actual request relates to a preflight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreflightUse {
    /// Its own preflight was on the wire just before it.
    Paired,
    /// It rode a preflight cached from an earlier exchange (the `paired_with` entry).
    Cached,
    /// It needed one, but none was seen: cached before the capture started.
    NotSeen,
}

/// Firefox's reason for the same failure: the `security.properties` key and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirefoxReason {
    /// The `security.properties` key without its version suffix (`CORSMissingAllowOrigin`).
    pub code: &'static str,
    /// The console text.
    pub text: String,
}

/// Position of an exchange in a redirect chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectInfo {
    /// The first URL of the chain (Chrome's "redirected from").
    pub from: String,
    /// The exchange whose 3xx led here.
    pub previous: ExchangeId,
    /// 1 for the first redirected hop.
    pub hop: u32,
}

/// The outcome under the other credentials mode, when it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherOutcome {
    /// `include` or `not-include`.
    pub credentials: &'static str,
    /// `allowed` or `blocked`.
    pub verdict: &'static str,
    /// The reason (Chrome's detail text) when it would be blocked.
    pub reason: Option<String>,
}

/// The engine's judgement of one exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The exchange judged (for an imported HAR: its entry index).
    #[serde(rename = "entry")]
    pub exchange: ExchangeId,
    /// Whether CORS applies at all, and how.
    pub kind: Kind,
    /// Preflight, preflighted actual request or simple request (CORS kinds only).
    pub role: Option<Role>,
    /// Serialized flat as `verdict` + `stage`.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The preflight of an actual request, or the actual request of a preflight.
    pub paired_with: Option<ExchangeId>,
    /// For actual requests: where their preflight came from.
    pub preflight: Option<PreflightUse>,
    /// Set when this exchange is a redirected hop.
    pub redirect: Option<RedirectInfo>,
    /// The method as sent.
    pub method: String,
    /// The URL (without fragment).
    pub url: String,
    /// The `Origin` header as sent.
    pub origin: Option<String>,
    /// The inferred credentials mode (CORS kinds only).
    pub credentials: Option<Credentials>,
    /// Chromium's `CorsError` name of the failure.
    pub chrome_error: Option<&'static str>,
    /// The console line Chrome prints for this failure.
    pub chrome_message: Option<String>,
    /// Other console lines Chrome may have printed instead, when the wire hides what
    /// decides between them (a preflight whose request was never sent hides the request's
    /// header order and credentials mode).
    pub chrome_message_alternatives: Vec<String>,
    /// Firefox's wording of the same failure.
    pub firefox_reason: Option<FirefoxReason>,
    /// What happened, in plain words.
    pub explanation: String,
    /// What the request needed against what each response granted.
    pub diff: Vec<DiffItem>,
    /// The smallest server-side change that makes it pass.
    pub fix: Option<String>,
    /// Findings that do not change the outcome.
    pub lints: Vec<Lint>,
    /// Response header names JS can read (allowed final responses only).
    pub readable_headers: Option<Vec<String>>,
    /// Set when the credentials mode decides the outcome.
    pub other_outcome: Option<OtherOutcome>,
    /// Where browsers and the spec disagree on this exchange.
    pub notes: Vec<String>,
}

impl Verdict {
    /// True when `other` says everything this verdict says, about another exchange
    /// perhaps (repeats of one request get such verdicts).
    pub fn same_apart_from_exchange(&self, other: &Verdict) -> bool {
        // Every field named, so that a new one cannot be forgotten here.
        let Verdict {
            exchange: _,
            kind,
            role,
            outcome,
            paired_with,
            preflight,
            redirect,
            method,
            url,
            origin,
            credentials,
            chrome_error,
            chrome_message,
            chrome_message_alternatives,
            firefox_reason,
            explanation,
            diff,
            fix,
            lints,
            readable_headers,
            other_outcome,
            notes,
        } = self;
        *kind == other.kind
            && *role == other.role
            && *outcome == other.outcome
            && *paired_with == other.paired_with
            && *preflight == other.preflight
            && *url == other.url
            && *origin == other.origin
            && *method == other.method
            && *redirect == other.redirect
            && *credentials == other.credentials
            && *chrome_error == other.chrome_error
            && *chrome_message == other.chrome_message
            && *chrome_message_alternatives == other.chrome_message_alternatives
            && *firefox_reason == other.firefox_reason
            && *explanation == other.explanation
            && *diff == other.diff
            && *fix == other.fix
            && *lints == other.lints
            && *readable_headers == other.readable_headers
            && *other_outcome == other.other_outcome
            && *notes == other.notes
    }

    /// True for a verdict that depends on its exchange alone, so that
    /// [`crate::cors::judge_alone`] recomputes it: no redirect led here, no preflight is
    /// involved, nothing was noted, and either CORS does not apply (and nothing was
    /// linted) or it is a simple request whose final response was allowed (and no lint
    /// drew on other exchanges). Such a verdict never changes later. Blocked verdicts
    /// never stand alone: `--fail-on-blocked` lists them from the table.
    pub fn stands_alone(&self) -> bool {
        let alone = self.redirect.is_none()
            && self.paired_with.is_none()
            && self.preflight.is_none()
            && self.notes.is_empty();
        alone
            && match self.outcome {
                Outcome::NotCors => self.lints.is_empty(),
                // A final response (a followed redirect is allowed too, but it was
                // pending until its next hop came; only final responses list the
                // headers JS can read).
                Outcome::Allowed => {
                    self.role == Some(Role::Simple)
                        && self.readable_headers.is_some()
                        && !self
                            .lints
                            .iter()
                            .any(|l| l.code == crate::cors::lint::REFLECT_ANY_ORIGIN)
                }
                _ => false,
            }
    }
}

/// `v` as the verdict of exchange `id`: the same allocation when it already is, else a copy
/// with the id set. Holders of many verdicts keep one copy of verdicts that are equal but
/// for their exchange ([`Verdict::same_apart_from_exchange`]) and hand out copies.
pub fn for_exchange(v: &std::sync::Arc<Verdict>, id: ExchangeId) -> std::sync::Arc<Verdict> {
    if v.exchange == id {
        v.clone()
    } else {
        let mut copy = Verdict::clone(v);
        copy.exchange = id;
        std::sync::Arc::new(copy)
    }
}

/// Chrome's resource kind word for the message (`fetch`, `XMLHttpRequest`, `font`, ...).
pub fn resource_word(resource_type: Option<&str>, sec_fetch_dest: Option<&str>) -> &'static str {
    match resource_type.map(str::to_ascii_lowercase).as_deref() {
        Some("xhr") => return "XMLHttpRequest",
        Some("fetch") | Some("preflight") => return "fetch",
        Some("font") => return "font",
        Some("image") => return "image",
        Some("script") => return "script",
        Some("stylesheet") => return "CSSStyleSheet",
        _ => {}
    }
    match sec_fetch_dest.map(str::trim) {
        Some("font") => "font",
        Some("image") => "image",
        Some("script") => "script",
        Some("style") => "CSSStyleSheet",
        _ => "fetch",
    }
}

/// Chromium's `EncodeHint`: control characters as `\uXXXX`.
fn encode_hint(hint: &str) -> String {
    let mut out = String::with_capacity(hint.len());
    for c in hint.chars() {
        if (c as u32) < 0x20 || c == '\u{7f}' {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The detail part of Chrome's console message (after "has been blocked by CORS policy: ").
pub fn chrome_detail(f: &Failure, resource: &str) -> Option<String> {
    use FailureKind::*;
    let hint = encode_hint(&f.hint);
    let fetch_suffix = if resource == "fetch" {
        " Have the server send the header with a valid value."
    } else {
        ""
    };
    let xhr_suffix = if resource == "XMLHttpRequest" {
        " The credentials mode of requests initiated by the XMLHttpRequest is controlled by the withCredentials attribute."
    } else {
        ""
    };
    let detail = match f.kind {
        MissingAllowOrigin => {
            "No 'Access-Control-Allow-Origin' header is present on the requested resource."
                .to_owned()
        }
        MultipleAllowOriginValues => format!(
            "The 'Access-Control-Allow-Origin' header contains multiple values '{hint}', but only one is allowed.{fetch_suffix}"
        ),
        InvalidAllowOriginValue => format!(
            "The 'Access-Control-Allow-Origin' header contains the invalid value '{hint}'.{fetch_suffix}"
        ),
        AllowOriginMismatch => format!(
            "The 'Access-Control-Allow-Origin' header has a value '{hint}' that is not equal to the supplied origin.{fetch_suffix}"
        ),
        WildcardOriginNotAllowed => format!(
            "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when the request's credentials mode is 'include'.{xhr_suffix}"
        ),
        InvalidAllowCredentials => format!(
            "The value of the 'Access-Control-Allow-Credentials' header in the response is '{hint}' which must be 'true' when the request's credentials mode is 'include'.{xhr_suffix}"
        ),
        PreflightInvalidStatus => "It does not have HTTP ok status.".to_owned(),
        PreflightDisallowedRedirect => "Redirect is not allowed for a preflight request.".to_owned(),
        InvalidAllowMethods => "Cannot parse Access-Control-Allow-Methods response header field in preflight response.".to_owned(),
        InvalidAllowHeaders => "Cannot parse Access-Control-Allow-Headers response header field in preflight response.".to_owned(),
        MethodDisallowed => format!(
            "Method {hint} is not allowed by Access-Control-Allow-Methods in preflight response."
        ),
        HeaderDisallowed => format!(
            "Request header field {hint} is not allowed by Access-Control-Allow-Headers in preflight response."
        ),
        // Chromium makes this error without its failed parameter (CheckRedirectLocation,
        // cors.cc), so the console shows an empty location whatever it was.
        RedirectContainsCredentials => "Redirect location '' contains a username and password, which is disallowed for cross-origin requests.".to_owned(),
        // Chromium logs no console line when it refuses such a redirect.
        ActualNotSent | DisallowedByMode => return None,
    };
    let prefixed = f.preflight
        && matches!(
            f.kind,
            MissingAllowOrigin
                | MultipleAllowOriginValues
                | InvalidAllowOriginValue
                | AllowOriginMismatch
                | WildcardOriginNotAllowed
                | InvalidAllowCredentials
                | PreflightInvalidStatus
                | PreflightDisallowedRedirect
        );
    Some(if prefixed {
        format!("Response to preflight request doesn't pass access control check: {detail}")
    } else {
        detail
    })
}

/// The full console line: `Access to fetch at '…' [(redirected from '…') ]from origin '…'
/// has been blocked by CORS policy: …`.
pub fn chrome_message(
    f: &Failure,
    resource: &str,
    url: &str,
    redirected_from: Option<&str>,
    origin: &str,
) -> Option<String> {
    let detail = chrome_detail(f, resource)?;
    let from = match redirected_from {
        Some(first) if first != url => format!("(redirected from '{first}') "),
        _ => String::new(),
    };
    Some(format!(
        "Access to {resource} at '{url}' {from}from origin '{origin}' has been blocked by CORS policy: {detail}"
    ))
}

/// Firefox's reason (key and console text) for the same failure.
pub fn firefox_reason(f: &Failure, url: &str, status: u16) -> Option<FirefoxReason> {
    use FailureKind::*;
    let h = &f.hint;
    let (code, reason) = match f.kind {
        MissingAllowOrigin => (
            "CORSMissingAllowOrigin",
            format!("CORS header 'Access-Control-Allow-Origin' missing. Status code: {status}"),
        ),
        MultipleAllowOriginValues => (
            "CORSMultipleAllowOriginNotAllowed",
            "Multiple CORS header 'Access-Control-Allow-Origin' not allowed".to_owned(),
        ),
        InvalidAllowOriginValue | AllowOriginMismatch => (
            "CORSAllowOriginNotMatchingOrigin",
            format!("CORS header 'Access-Control-Allow-Origin' does not match '{h}'"),
        ),
        WildcardOriginNotAllowed => (
            "CORSNotSupportingCredentials",
            "Credential is not supported if the CORS header 'Access-Control-Allow-Origin' is '*'"
                .to_owned(),
        ),
        InvalidAllowCredentials => (
            "CORSMissingAllowCredentials",
            "expected 'true' in CORS header 'Access-Control-Allow-Credentials'".to_owned(),
        ),
        PreflightInvalidStatus | PreflightDisallowedRedirect => (
            "CORSPreflightDidNotSucceed",
            format!("CORS preflight response did not succeed. Status code: {status}"),
        ),
        InvalidAllowMethods => (
            "CORSInvalidAllowMethod",
            format!("invalid token '{h}' in CORS header 'Access-Control-Allow-Methods'"),
        ),
        InvalidAllowHeaders => (
            "CORSInvalidAllowHeader",
            format!("invalid token '{h}' in CORS header 'Access-Control-Allow-Headers'"),
        ),
        MethodDisallowed => (
            "CORSMethodNotFound",
            "Did not find method in CORS header 'Access-Control-Allow-Methods'".to_owned(),
        ),
        HeaderDisallowed => (
            "CORSMissingAllowHeaderFromPreflight",
            format!("header '{h}' is not allowed according to header 'Access-Control-Allow-Headers' from CORS preflight response"),
        ),
        RedirectContainsCredentials => (
            "CORSExternalRedirectNotAllowed",
            "CORS request external redirect not allowed".to_owned(),
        ),
        ActualNotSent | DisallowedByMode => return None,
    };
    Some(FirefoxReason {
        code,
        text: format!(
            "Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at {url}. (Reason: {reason})."
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn outcome_serializes_flat() {
        let v = serde_json::to_value(Outcome::Blocked {
            stage: Stage::Preflight,
        })
        .unwrap();
        assert_eq!(v["verdict"], "blocked");
        assert_eq!(v["stage"], "preflight");
        let v = serde_json::to_value(Outcome::NotCors).unwrap();
        assert_eq!(v["verdict"], "not-cors");
        assert!(v["stage"].is_null());
    }

    #[test]
    fn messages() {
        let f = Failure {
            kind: FailureKind::MissingAllowOrigin,
            hint: String::new(),
            preflight: true,
        };
        assert_eq!(
            chrome_message(&f, "fetch", "http://b/1", Some("http://a/0"), "http://o").unwrap(),
            "Access to fetch at 'http://b/1' (redirected from 'http://a/0') from origin 'http://o' has been blocked by CORS policy: Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header is present on the requested resource."
        );
        let f = Failure {
            kind: FailureKind::HeaderDisallowed,
            hint: "x-a".into(),
            preflight: false,
        };
        assert_eq!(
            chrome_detail(&f, "fetch").unwrap(),
            "Request header field x-a is not allowed by Access-Control-Allow-Headers in preflight response."
        );
        let f = Failure {
            kind: FailureKind::AllowOriginMismatch,
            hint: "a\u{1}".into(),
            preflight: false,
        };
        assert!(chrome_detail(&f, "fetch").unwrap().contains("'a\\u0001'"));
        assert_eq!(resource_word(Some("xhr"), None), "XMLHttpRequest");
        assert_eq!(resource_word(None, Some("empty")), "fetch");
    }
}
