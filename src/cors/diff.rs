//! The header diff: what a request needed (origin, credentials, method, each unsafe header)
//! against what each response granted, item by item, with the exact values seen.

use crate::capture::HeaderList;
use crate::cors::check::{combined, is_redirect_status, AllowList};
use crate::cors::profile::Profile;
use crate::cors::safelist::is_safelisted_method;
use serde::Serialize;

/// What a diff line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    /// The preflight's status (2xx needed).
    Status,
    /// `Access-Control-Allow-Origin` against the request's Origin.
    Origin,
    /// `Access-Control-Allow-Credentials` (include mode only).
    Credentials,
    /// `Access-Control-Allow-Methods` against the method.
    Method,
    /// `Access-Control-Allow-Headers` against one unsafe header name.
    Header,
}

/// Which response granted (or refused) the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The OPTIONS response.
    Preflight,
    /// The final response.
    Actual,
    /// A 3xx response in the chain.
    Redirect,
}

/// One needed-vs-granted line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffItem {
    /// What the line is about.
    pub item: Item,
    /// What the request needed (`http://app`, `PUT`, `x-custom`, `true`, `2xx`).
    pub needed: String,
    /// Which response was consulted.
    pub response: Source,
    /// The response header consulted (none for the status line).
    pub header: Option<&'static str>,
    /// The value exactly as the response sent it (lines joined with `, `); `None` = absent.
    pub granted: Option<String>,
    /// True when this item alone passes.
    pub ok: bool,
}

fn raw(headers: &HeaderList, name: &str) -> Option<String> {
    headers.get_combined(name)
}

/// Origin (and, in include mode, credentials) lines for any CORS response.
pub fn origin_diff(
    response: &HeaderList,
    origin: &str,
    include: bool,
    source: Source,
) -> Vec<DiffItem> {
    let acao = combined(response, "access-control-allow-origin");
    let origin_ok = match acao.as_deref() {
        Some("*") => !include,
        Some(v) => v == origin,
        None => false,
    };
    let mut out = vec![DiffItem {
        item: Item::Origin,
        needed: origin.to_owned(),
        response: source,
        header: Some("Access-Control-Allow-Origin"),
        granted: raw(response, "access-control-allow-origin"),
        ok: origin_ok,
    }];
    if include {
        let acac = combined(response, "access-control-allow-credentials");
        out.push(DiffItem {
            item: Item::Credentials,
            needed: "true".to_owned(),
            response: source,
            header: Some("Access-Control-Allow-Credentials"),
            granted: raw(response, "access-control-allow-credentials"),
            ok: acac.as_deref() == Some("true"),
        });
    }
    out
}

/// Every line a preflight response is judged on.
pub fn preflight_diff<'n>(
    status: u16,
    response: &HeaderList,
    origin: &str,
    method: &str,
    header_names: impl IntoIterator<Item = &'n str>,
    include: bool,
    profile: Profile,
) -> Vec<DiffItem> {
    let mut out = vec![DiffItem {
        item: Item::Status,
        needed: "2xx".to_owned(),
        response: Source::Preflight,
        header: None,
        granted: Some(status.to_string()),
        ok: (200..=299).contains(&status) && !is_redirect_status(status),
    }];
    out.extend(origin_diff(response, origin, include, Source::Preflight));
    let methods = AllowList::parse(response, "access-control-allow-methods").ok();
    let headers = AllowList::parse(response, "access-control-allow-headers").ok();
    if !is_safelisted_method(method) {
        let ok = methods
            .as_ref()
            .is_some_and(|m| m.contains_exact(method) || (!include && m.has_wildcard()));
        out.push(DiffItem {
            item: Item::Method,
            needed: method.to_owned(),
            response: Source::Preflight,
            header: Some("Access-Control-Allow-Methods"),
            granted: raw(response, "access-control-allow-methods"),
            ok,
        });
    }
    for name in header_names {
        let ok = headers.as_ref().is_some_and(|h| {
            h.contains_ci(name)
                || (!include
                    && h.has_wildcard()
                    && !(profile == Profile::Spec && name.eq_ignore_ascii_case("authorization")))
        });
        out.push(DiffItem {
            item: Item::Header,
            needed: name.to_owned(),
            response: Source::Preflight,
            header: Some("Access-Control-Allow-Headers"),
            granted: raw(response, "access-control-allow-headers"),
            ok,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capture::Header;

    #[test]
    fn preflight_lines() {
        let h: HeaderList = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "GET, put"),
            ("Access-Control-Allow-Headers", "X-A"),
        ]
        .iter()
        .map(|(n, v)| Header::new(*n, *v))
        .collect();
        let d = preflight_diff(
            204,
            &h,
            "http://o",
            "PUT",
            ["x-a", "x-b"],
            false,
            Profile::Chrome,
        );
        let oks: Vec<(Item, bool)> = d.iter().map(|i| (i.item, i.ok)).collect();
        assert_eq!(
            oks,
            vec![
                (Item::Status, true),
                (Item::Origin, true),
                (Item::Method, false),
                (Item::Header, true),
                (Item::Header, false)
            ]
        );
        assert_eq!(d[2].granted.as_deref(), Some("GET, put"));
    }
}
