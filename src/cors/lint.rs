//! Lints: findings that do not change the verdict but will bite (credentials with a
//! reflected origin, `null` allowed, no `Vary: Origin`, `*` with credentials, Max-Age above
//! the browser's cap, legacy Private-Network headers, `Authorization` riding on `*`).

use crate::capture::HeaderList;
use crate::cors::check::{combined, max_age_cap};
use crate::cors::profile::Profile;
use serde::Serialize;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    /// Stable identifier, e.g. `missing-vary-origin`.
    pub code: &'static str,
    /// What is wrong and why it matters.
    pub message: String,
}

impl Lint {
    /// A lint with its message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Lints read from one response (and the request that got it).
pub fn response_lints(
    request: &HeaderList,
    response: &HeaderList,
    preflight: bool,
    profile: Profile,
) -> Vec<Lint> {
    let mut out = Vec::new();
    let acao = combined(response, "access-control-allow-origin");
    let acac_true =
        combined(response, "access-control-allow-credentials").as_deref() == Some("true");
    if acao.as_deref() == Some("null") {
        out.push(Lint::new(
            "null-origin-allowed",
            "Access-Control-Allow-Origin: null lets any sandboxed iframe, data: URL or redirected request read this response",
        ));
    }
    if acao.as_deref() == Some("*") && acac_true {
        out.push(Lint::new(
            "wildcard-with-credentials",
            "Access-Control-Allow-Credentials: true is ignored with Access-Control-Allow-Origin: * (and credentialed requests are refused)",
        ));
    }
    if !preflight {
        if let Some(a) = acao.as_deref().filter(|a| *a != "*") {
            let vary_ok = response.get_all("vary").any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("origin") || t.trim() == "*")
            });
            if !vary_ok {
                out.push(Lint::new(
                    "missing-vary-origin",
                    format!("Access-Control-Allow-Origin is '{a}' but the response has no Vary: Origin, so a cache may serve it to another origin"),
                ));
            }
        }
    }
    if preflight {
        if let Some(v) = combined(response, "access-control-max-age") {
            let cap = max_age_cap(profile);
            if let Ok(n) = v.parse::<u64>() {
                if n > cap {
                    out.push(Lint::new(
                        "max-age-above-cap",
                        format!("Access-Control-Max-Age {n} is above the browser's cap of {cap} s; the preflight is cached for {cap} s only"),
                    ));
                }
            }
        }
    }
    if request.contains("access-control-request-private-network")
        || response.contains("access-control-allow-private-network")
    {
        out.push(Lint::new(
            "legacy-private-network",
            "Private Network Access preflight headers are legacy: Chrome 142+ and Firefox 147+ use a Local Network Access permission prompt instead",
        ));
    }
    out
}

/// The lint for `Authorization` allowed only by `Access-Control-Allow-Headers: *`.
pub fn authorization_via_wildcard() -> Lint {
    Lint::new(
        "acah-wildcard-authorization",
        "Authorization is allowed only through Access-Control-Allow-Headers: *; Chrome and Firefox accept this today, the Fetch standard does not (list Authorization explicitly)",
    )
}

/// The code of [`reflects_any_origin`]: the one lint that draws on other exchanges.
pub const REFLECT_ANY_ORIGIN: &str = "reflect-any-origin-with-credentials";

/// The lint for a server that echoes any Origin while allowing credentials.
pub fn reflects_any_origin() -> Lint {
    Lint::new(
        REFLECT_ANY_ORIGIN,
        "the server echoes every Origin it is sent in Access-Control-Allow-Origin together with Access-Control-Allow-Credentials: true, so any site can read credentialed responses",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Header pairs of a table row.
    type H = &'static [(&'static str, &'static str)];
    use crate::capture::Header;

    fn hl(p: &[(&str, &str)]) -> HeaderList {
        p.iter().map(|(n, v)| Header::new(*n, *v)).collect()
    }

    fn codes(l: Vec<Lint>) -> Vec<&'static str> {
        l.into_iter().map(|l| l.code).collect()
    }

    #[test]
    fn lints_table() {
        let none = hl(&[]);
        let cases: &[(H, bool, Profile, &[&str])] = &[
            (
                &[("Access-Control-Allow-Origin", "null")],
                false,
                Profile::Chrome,
                &["null-origin-allowed", "missing-vary-origin"],
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "http://a"),
                    ("Vary", "Accept, Origin"),
                ],
                false,
                Profile::Chrome,
                &[],
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Allow-Credentials", "true"),
                ],
                false,
                Profile::Chrome,
                &["wildcard-with-credentials"],
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Max-Age", "86400"),
                ],
                true,
                Profile::Chrome,
                &["max-age-above-cap"],
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Max-Age", "86400"),
                ],
                true,
                Profile::Firefox,
                &[],
            ),
            (
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Allow-Private-Network", "true"),
                ],
                true,
                Profile::Chrome,
                &["legacy-private-network"],
            ),
        ];
        for (h, pf, p, want) in cases {
            assert_eq!(
                codes(response_lints(&none, &hl(h), *pf, *p)),
                *want,
                "{h:?}"
            );
        }
    }
}
