//! From an exchange and its verdict to what the UI shows: the list row and the detail
//! tabs. This is the only place the TUI reads engine types; it decides nothing itself.

use ratatui::text::{Line, Span};

use super::app::Tab;
use super::detail::{self, Detail};
use super::model::{Badge, Row};
use super::theme;
use crate::capture::Exchange;
use crate::cors::classify::{CredentialsMode, Kind, Role};
use crate::cors::{Outcome, Verdict};

/// The list row for `ex` judged `v`.
pub fn row(ex: &Exchange, v: Option<&Verdict>) -> Row {
    let (host, path) = split_url(&ex.request.url);
    let badge = badge(ex, v);
    let is_cors = v.is_some_and(|v| v.kind == Kind::Cors);
    Row {
        id: ex.id,
        started: ex.started,
        badge,
        stage: v.and_then(|v| v.outcome.stage()).map(stage_word),
        method: ex.request.method.to_string(),
        origin: ex.request.headers.first("origin").map(str::to_owned),
        host,
        path,
        status: ex.response.as_ref().map(|r| r.status),
        reason: reason(ex, v),
        is_cors,
        is_preflight: v.is_some_and(|v| v.role == Some(Role::Preflight)),
        paired_with: v.and_then(|v| v.paired_with),
    }
}

fn badge(ex: &Exchange, v: Option<&Verdict>) -> Badge {
    match v.map(|v| v.outcome) {
        Some(Outcome::Allowed) => Badge::Allowed,
        Some(Outcome::Blocked { .. }) => Badge::Blocked,
        Some(Outcome::Pending) => Badge::Pending,
        Some(Outcome::Unknown) => Badge::Unknown,
        Some(Outcome::NotCors) | None if ex.error.is_some() => Badge::Failed,
        Some(Outcome::NotCors) | None => Badge::NotCors,
    }
}

fn stage_word(s: crate::cors::Stage) -> &'static str {
    match s {
        crate::cors::Stage::Preflight => "preflight",
        crate::cors::Stage::Actual => "actual",
        crate::cors::Stage::Redirect => "redirect",
    }
}

/// The short reason in the list: the Chrome detail for a block, the error for a failure.
fn reason(ex: &Exchange, v: Option<&Verdict>) -> String {
    if let Some(v) = v {
        if v.outcome.is_blocked() {
            if let Some(msg) = &v.chrome_message {
                return chrome_detail(msg).to_owned();
            }
            return v.explanation.clone();
        }
        if v.outcome == Outcome::Pending {
            return "waiting for the actual request".to_owned();
        }
        if let Some(l) = v.lints.first() {
            return format!("lint: {}", l.code);
        }
    }
    ex.error.clone().unwrap_or_default()
}

/// The part of Chrome's console line after "has been blocked by CORS policy: ".
fn chrome_detail(msg: &str) -> &str {
    msg.split_once("blocked by CORS policy: ")
        .map_or(msg, |(_, d)| d)
}

/// Split an absolute URL into host (with port) and path + query.
fn split_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

/// Every detail tab for `ex`, judged `v`; `paired` is the exchange it is paired with.
pub fn detail(
    ex: &Exchange,
    v: Option<&Verdict>,
    paired: Option<(&Exchange, Option<&Verdict>)>,
) -> Detail {
    let mut d = Detail {
        id: ex.id,
        ..Detail::default()
    };
    d.tabs.insert(Tab::Verdict, verdict_lines(ex, v));
    d.tabs.insert(Tab::Diff, diff_lines(v));
    d.tabs.insert(Tab::Request, detail::request_lines(ex));
    d.tabs.insert(Tab::Response, detail::response_lines(ex));
    d.tabs.insert(Tab::Preflight, preflight_lines(v, paired));
    d.tabs.insert(Tab::Body, detail::body_lines(ex));
    d.tabs.insert(Tab::Timing, detail::timing_lines(ex));
    d
}

fn heading(text: &str) -> Line<'static> {
    Line::styled(text.to_owned(), theme::title())
}

fn field(name: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<12}"), theme::dim()),
        Span::raw(value.into()),
    ])
}

fn verdict_lines(ex: &Exchange, v: Option<&Verdict>) -> Vec<Line<'static>> {
    let Some(v) = v else {
        return vec![Line::styled("not judged yet", theme::dim())];
    };
    let b = badge(ex, Some(v));
    let mut out = vec![Line::from(vec![
        Span::styled(
            format!("{} {}", b.symbol(), b.word().to_uppercase()),
            theme::badge(b).add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::raw(match v.outcome.stage() {
            Some(s) => format!(" at the {} stage", stage_word(s)),
            None => String::new(),
        }),
    ])];
    // Most important first: a small terminal still shows what Chrome says and the fix.
    if let Some(msg) = &v.chrome_message {
        out.push(Line::styled(chrome_detail(msg).to_owned(), theme::bad()));
    }
    if let Some(fix) = &v.fix {
        out.push(Line::from(vec![
            Span::styled("fix: ", theme::title()),
            Span::styled(fix.clone(), theme::ok()),
        ]));
    }
    out.push(Line::raw(v.explanation.clone()));
    out.push(Line::raw(""));
    out.push(field("request", format!("{} {}", v.method, v.url)));
    if let Some(o) = &v.origin {
        out.push(field("origin", o.clone()));
    }
    out.push(field("kind", kind_word(v)));
    if let Some(c) = &v.credentials {
        let mode = match c.mode {
            CredentialsMode::Include => "include",
            CredentialsMode::NotInclude => "not include",
            CredentialsMode::Unknown => "unknown",
        };
        out.push(field(
            "credentials",
            format!("{mode} (inferred: {})", c.evidence),
        ));
    }
    if let Some(p) = v.paired_with {
        out.push(field("paired with", format!("#{p}")));
    }
    if let Some(msg) = &v.chrome_message {
        out.push(Line::raw(""));
        out.push(heading("Chrome console"));
        out.push(Line::raw(msg.clone()));
    }
    if let Some(ff) = &v.firefox_reason {
        out.push(heading("Firefox"));
        out.push(Line::raw(format!("{}: {}", ff.code, ff.text)));
    }
    if let Some(other) = &v.other_outcome {
        out.push(Line::raw(""));
        out.push(heading("If the credentials mode were different"));
        out.push(Line::raw(format!(
            "with credentials {}: {}{}",
            other.credentials,
            other.verdict,
            other
                .reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        )));
    }
    if let Some(h) = &v.readable_headers {
        out.push(Line::raw(""));
        out.push(field(
            "JS can read",
            if h.is_empty() {
                "(no response headers)".into()
            } else {
                h.join(", ")
            },
        ));
    }
    if !v.lints.is_empty() {
        out.push(Line::raw(""));
        out.push(heading("Lints"));
        for l in &v.lints {
            out.push(Line::from(vec![
                Span::styled(format!("⚠ {} ", l.code), theme::warn()),
                Span::raw(l.message.clone()),
            ]));
        }
    }
    for n in &v.notes {
        out.push(Line::styled(format!("note: {n}"), theme::dim()));
    }
    out
}

fn kind_word(v: &Verdict) -> String {
    let kind = match v.kind {
        Kind::Cors => "cross-origin (CORS applies)",
        Kind::SameOrigin => "same-origin",
        Kind::NoCors => "no-cors (opaque response)",
        Kind::Navigation => "navigation",
        Kind::NotCors => "not a browser CORS request",
    };
    match v.role {
        Some(Role::Preflight) => format!("{kind}, preflight"),
        Some(Role::Actual) => format!("{kind}, preflighted request"),
        Some(Role::Simple) => format!("{kind}, simple request"),
        None => kind.to_owned(),
    }
}

fn diff_lines(v: Option<&Verdict>) -> Vec<Line<'static>> {
    let Some(v) = v.filter(|v| !v.diff.is_empty()) else {
        return vec![Line::styled(
            "No CORS requirements: nothing to compare.",
            theme::dim(),
        )];
    };
    let mut out = Vec::new();
    let mut current = None;
    for d in &v.diff {
        if current != Some(d.response) {
            current = Some(d.response);
            if !out.is_empty() {
                out.push(Line::raw(""));
            }
            let title = match d.response {
                crate::cors::diff::Source::Preflight => "preflight (OPTIONS) response granted",
                crate::cors::diff::Source::Actual => "actual response granted",
                crate::cors::diff::Source::Redirect => "redirect (3xx) response granted",
            };
            out.push(Line::styled(
                format!("   {:<8} {:<22} {title}", "", "needed"),
                theme::title(),
            ));
        }
        let (mark, style) = if d.ok {
            ("✓", theme::ok())
        } else {
            ("✗", theme::bad())
        };
        let granted = match (&d.header, &d.granted) {
            (Some(h), Some(g)) => format!("{h}: {g}"),
            (Some(h), None) => format!("no {h}"),
            (None, Some(g)) => format!("status {g}"),
            (None, None) => "—".to_owned(),
        };
        out.push(Line::from(vec![
            Span::styled(format!("{mark}  "), style),
            Span::raw(format!(
                "{:<8} {:<22} ",
                format!("{:?}", d.item).to_lowercase(),
                d.needed
            )),
            Span::styled(granted, style),
        ]));
    }
    out
}

fn preflight_lines(
    v: Option<&Verdict>,
    paired: Option<(&Exchange, Option<&Verdict>)>,
) -> Vec<Line<'static>> {
    let Some((p, pv)) = paired else {
        let text = match v.and_then(|v| v.preflight) {
            Some(crate::cors::verdict::PreflightUse::NotSeen) => {
                "This request needed a preflight, but none was seen: it rode one cached before the capture started."
            }
            _ => "No paired exchange.",
        };
        return vec![Line::styled(text, theme::dim())];
    };
    let mut out = vec![heading(&format!(
        "Paired exchange #{}: {} {}",
        p.id, p.request.method, p.request.url
    ))];
    if let Some(pv) = pv {
        let b = badge(p, Some(pv));
        out.push(Line::styled(
            format!("{} {}  {}", b.symbol(), b.word(), pv.explanation),
            theme::badge(b),
        ));
    }
    out.push(Line::raw(""));
    out.extend(detail::request_lines(p));
    out.push(Line::raw(""));
    out.extend(detail::response_lines(p));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("https://api.test:8443/a/b?c=1"),
            ("api.test:8443".to_owned(), "/a/b?c=1".to_owned())
        );
        assert_eq!(split_url("http://h"), ("h".to_owned(), "/".to_owned()));
    }

    #[test]
    fn chrome_detail_is_the_text_after_the_policy_prefix() {
        let m = "Access to fetch at 'http://a/' from origin 'http://b' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource.";
        assert!(chrome_detail(m).starts_with("No 'Access-Control-Allow-Origin'"));
    }
}
