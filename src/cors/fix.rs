//! The smallest server-side fix and a plain-language explanation for each failure.

use crate::cors::check::{Failure, FailureKind};

/// What the fix and explanation need to know about the failed exchange.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The Origin the failing response had to allow (`null` after a cross-origin redirect).
    pub origin: &'a str,
    /// The method of the failing response's request (`OPTIONS` for a preflight).
    pub response_to: &'a str,
    /// The URL that answered.
    pub url: &'a str,
    /// Credentials mode `include`.
    pub include: bool,
}

/// The smallest change on the server that makes this exchange pass.
pub fn fix(f: &Failure, c: &Context<'_>) -> Option<String> {
    use FailureKind::*;
    let on = format!("on the {} response from {}", c.response_to, c.url);
    let acao = if c.include {
        format!("Access-Control-Allow-Origin: {}", c.origin)
    } else {
        format!("Access-Control-Allow-Origin: {} (or *)", c.origin)
    };
    Some(match f.kind {
        MissingAllowOrigin => format!("add `{acao}` {on}"),
        MultipleAllowOriginValues => format!(
            "send exactly one Access-Control-Allow-Origin value, `{}`, {on} (now '{}')",
            c.origin, f.hint
        ),
        InvalidAllowOriginValue | AllowOriginMismatch => format!(
            "change Access-Control-Allow-Origin from '{}' to `{}` {on}",
            f.hint, c.origin
        ),
        WildcardOriginNotAllowed => format!(
            "replace `Access-Control-Allow-Origin: *` with `Access-Control-Allow-Origin: {}` and send `Access-Control-Allow-Credentials: true` {on}",
            c.origin
        ),
        InvalidAllowCredentials => {
            format!("send `Access-Control-Allow-Credentials: true` (exactly, lowercase) {on}")
        }
        PreflightInvalidStatus => format!(
            "answer the OPTIONS preflight at {} with a 2xx status (e.g. 204) instead of {}",
            c.url, f.hint
        ),
        PreflightDisallowedRedirect => format!(
            "answer the OPTIONS preflight at {} directly (2xx) instead of redirecting it; or make the page call the final URL",
            c.url
        ),
        InvalidAllowMethods => format!(
            "make Access-Control-Allow-Methods a comma-separated list of method tokens {on} (bad item '{}')",
            f.hint
        ),
        InvalidAllowHeaders => format!(
            "make Access-Control-Allow-Headers a comma-separated list of header names {on} (bad item '{}')",
            f.hint
        ),
        MethodDisallowed => format!(
            "add `{}` to Access-Control-Allow-Methods {on} (method names are case-sensitive)",
            f.hint
        ),
        HeaderDisallowed => format!("add `{}` to Access-Control-Allow-Headers {on}", f.hint),
        RedirectContainsCredentials => format!(
            "remove the user name and password from the redirect Location sent by {}",
            c.url
        ),
        DisallowedByMode => format!(
            "drop `mode: 'same-origin'` from the fetch of {} (and let {} allow the page's origin with CORS), or redirect within the page's origin",
            c.url, f.hint
        ),
        ActualNotSent => return None,
    })
}

/// What happened, in plain words.
pub fn explain(f: &Failure, c: &Context<'_>) -> String {
    use FailureKind::*;
    let mode = if c.include {
        "with credentials (cookies)"
    } else {
        "without credentials"
    };
    match f.kind {
        MissingAllowOrigin => format!(
            "The {} response has no Access-Control-Allow-Origin header, so the browser hides it from the page at {}.",
            c.response_to, c.origin
        ),
        MultipleAllowOriginValues => format!(
            "Access-Control-Allow-Origin must hold exactly one origin; the response sent '{}'.",
            f.hint
        ),
        InvalidAllowOriginValue => format!(
            "Access-Control-Allow-Origin '{}' is not an origin; the browser needs '{}' or '*'.",
            f.hint, c.origin
        ),
        AllowOriginMismatch => format!(
            "Access-Control-Allow-Origin is '{}' but the request's origin is '{}'; the comparison is byte for byte (scheme, host, port, no trailing slash).",
            f.hint, c.origin
        ),
        WildcardOriginNotAllowed => {
            "The request was sent with credentials, and '*' never allows a credentialed request: the server must name the origin.".to_owned()
        }
        InvalidAllowCredentials => format!(
            "The request was sent {mode}; that needs Access-Control-Allow-Credentials: true, but the response sent '{}'.",
            f.hint
        ),
        PreflightInvalidStatus => format!(
            "The preflight (OPTIONS) got status {}; only 2xx lets the browser send the real request.",
            f.hint
        ),
        PreflightDisallowedRedirect => {
            "The preflight (OPTIONS) was answered with a redirect; browsers never follow redirects for preflights.".to_owned()
        }
        InvalidAllowMethods => format!(
            "Access-Control-Allow-Methods does not parse ('{}' is not a method token).",
            f.hint
        ),
        InvalidAllowHeaders => format!(
            "Access-Control-Allow-Headers does not parse ('{}' is not a header name).",
            f.hint
        ),
        MethodDisallowed => format!(
            "The preflight does not allow method {} (Access-Control-Allow-Methods is compared case-sensitively{}).",
            f.hint,
            if c.include { "; '*' does not count with credentials" } else { "" }
        ),
        HeaderDisallowed => format!(
            "The request sets header '{}', which the preflight's Access-Control-Allow-Headers does not list{}.",
            f.hint,
            if c.include { " ('*' does not count with credentials)" } else { "" }
        ),
        RedirectContainsCredentials => format!(
            "The redirect location '{}' contains a user name and password; a fetch follows such a location only from a page-origin URL to another page-origin URL.",
            f.hint
        ),
        DisallowedByMode => format!(
            "The fetch has mode 'same-origin' and this redirect points to another origin ({}): the browser refuses to follow it and the page gets a TypeError (Chrome logs no CORS message).",
            f.hint
        ),
        ActualNotSent => {
            "The preflight passed as far as the wire shows, but the actual request never followed; the reason is not visible on the wire (the page may have aborted, or a browser-side check failed).".to_owned()
        }
    }
}
