//! The detail pane's content for one exchange, built when the selection or the exchange
//! changes (not per frame): one list of lines per tab.

use std::collections::HashMap;

use ratatui::text::{Line, Span};

use super::app::Tab;
use super::theme;
use crate::capture::{Body, Exchange, HeaderList};

/// Rendered lines per tab for one exchange.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    pub id: u64,
    pub tabs: HashMap<Tab, Vec<Line<'static>>>,
}

impl Detail {
    pub fn lines(&self, tab: Tab) -> &[Line<'static>] {
        self.tabs.get(&tab).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Lines listing `headers` as `Name: value`, in wire order.
pub fn header_lines(headers: &HeaderList) -> Vec<Line<'static>> {
    headers
        .iter()
        .map(|h| {
            Line::from(vec![
                Span::styled(format!("{}: ", h.name), theme::title()),
                Span::raw(h.value.to_owned()),
            ])
        })
        .collect()
}

/// The Request tab: request line and headers.
pub fn request_lines(ex: &Exchange) -> Vec<Line<'static>> {
    let r = &ex.request;
    let mut out = vec![
        Line::styled(
            format!("{} {} {}", r.method, r.url, r.http_version),
            theme::title(),
        ),
        Line::raw(""),
    ];
    out.extend(header_lines(&r.headers));
    out.push(Line::raw(""));
    out.push(Line::styled(body_summary(&r.body), theme::dim()));
    out
}

/// The Response tab: status line and headers, or the error.
pub fn response_lines(ex: &Exchange) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(err) = &ex.error {
        out.push(Line::styled(format!("error: {err}"), theme::bad()));
        out.push(Line::raw(""));
    }
    match &ex.response {
        Some(r) => {
            out.push(Line::styled(
                format!("{} {} {}", r.http_version, r.status, r.status_text),
                theme::title(),
            ));
            out.push(Line::raw(""));
            out.extend(header_lines(&r.headers));
            out.push(Line::raw(""));
            out.push(Line::styled(body_summary(&r.body), theme::dim()));
        }
        None => out.push(Line::styled("no response (yet)", theme::dim())),
    }
    out
}

fn body_summary(b: &Body) -> String {
    if b.total_size == 0 {
        "no body".to_owned()
    } else if b.is_truncated() {
        format!("body: {} bytes ({} kept)", b.total_size, b.captured.len())
    } else {
        format!("body: {} bytes", b.total_size)
    }
}

/// The Timing tab: HAR-style phases with a proportional bar.
pub fn timing_lines(ex: &Exchange) -> Vec<Line<'static>> {
    let t = &ex.timings;
    let total = t.total().max(0.001);
    let phases: [(&str, Option<f64>); 7] = [
        ("blocked", t.blocked.get()),
        ("dns", t.dns.get()),
        ("connect", t.connect.get()),
        ("tls", t.ssl.get()),
        ("send", Some(t.send)),
        ("wait", Some(t.wait)),
        ("receive", Some(t.receive)),
    ];
    let mut out = vec![
        Line::styled(
            format!("started {}", ex.started.format("%Y-%m-%d %H:%M:%S%.3f UTC")),
            theme::dim(),
        ),
        Line::raw(""),
    ];
    for (name, v) in phases {
        let line = match v {
            Some(ms) => {
                let width = ((ms / total) * 40.0).round().clamp(0.0, 40.0) as usize;
                format!("{name:>8} {ms:>9.2} ms  {}", "█".repeat(width))
            }
            None => format!("{name:>8}         –"),
        };
        out.push(Line::raw(line));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        format!("{:>8} {:>9.2} ms", "total", t.total()),
        theme::title(),
    ));
    out
}

/// Decoded text shown in the Body tab is cut at this many lines to keep the pane quick.
const MAX_BODY_LINES: usize = 2_000;

/// The Body tab: request body (if any) then response body, decoded and pretty-printed.
pub fn body_lines(ex: &Exchange) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if ex.request.body.total_size > 0 {
        out.push(Line::styled("Request body", theme::title()));
        out.extend(one_body(&ex.request.headers, &ex.request.body));
        out.push(Line::raw(""));
    }
    match &ex.response {
        Some(r) => {
            out.push(Line::styled("Response body", theme::title()));
            out.extend(one_body(&r.headers, &r.body));
        }
        None => out.push(Line::styled("no response body", theme::dim())),
    }
    out
}

fn one_body(headers: &HeaderList, body: &Body) -> Vec<Line<'static>> {
    use crate::capture::decode::{decode_content, render, Rendered};
    let mut out = Vec::new();
    if body.total_size == 0 {
        out.push(Line::styled("(empty)", theme::dim()));
        return out;
    }
    if body.is_truncated() {
        out.push(Line::styled(
            format!(
                "showing the first {} of {} bytes (capture limit)",
                body.captured.len(),
                body.total_size
            ),
            theme::warn(),
        ));
    }
    let decoded = match decode_content(headers.first("content-encoding"), &body.captured) {
        Ok(d) => d.bytes,
        Err(e) => {
            out.push(Line::styled(
                format!("cannot decode: {e}; raw bytes follow"),
                theme::warn(),
            ));
            body.captured.to_vec()
        }
    };
    let text = match render(headers.first("content-type"), &decoded) {
        Rendered::Empty => "(empty)".to_owned(),
        Rendered::Json(s) | Rendered::Text(s) => s,
        Rendered::Binary { size, hex } => format!("binary, {size} bytes\n{hex}"),
    };
    let total = text.lines().count();
    out.extend(
        text.lines()
            .take(MAX_BODY_LINES)
            .map(|l| Line::raw(l.to_owned())),
    );
    if total > MAX_BODY_LINES {
        out.push(Line::styled(
            format!("… {} more lines", total - MAX_BODY_LINES),
            theme::dim(),
        ));
    }
    out
}
