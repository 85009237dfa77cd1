//! The status line (top) and the key-hint / input bar (bottom).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::tui::app::{App, Confirm, Mode};
use crate::tui::model::Badge;
use crate::tui::theme;

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App) {
    let c = app.counts();
    let mut spans = vec![
        Span::styled(" corscope ", theme::title()),
        Span::raw(format!("{} ", app.status.listen)),
        if app.paused {
            Span::styled(
                format!("⏸ paused ({} new, p resumes) ", app.status.unseen),
                theme::warn(),
            )
        } else {
            Span::styled("● live ", theme::ok())
        },
        Span::raw(format!(
            "{} exchanges  ",
            c.total as u64 + app.status.unseen
        )),
        Span::styled(format!("✓{} ", c.allowed), theme::badge(Badge::Allowed)),
        Span::styled(format!("✗{} ", c.blocked), theme::badge(Badge::Blocked)),
        Span::styled(format!("…{} ", c.pending), theme::badge(Badge::Pending)),
    ];
    if !app.show_non_cors && c.not_cors > 0 {
        spans.push(Span::styled(
            format!("({} non-CORS hidden, a) ", c.not_cors),
            theme::dim(),
        ));
    }
    if app.status.evicted > 0 {
        spans.push(Span::styled(
            format!("{} evicted ", app.status.evicted),
            theme::warn(),
        ));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!("filter: {} ", app.filter.source()),
            theme::key(),
        ));
    }
    if app.blocked_only {
        spans.push(Span::styled("blocked only ", theme::key()));
    }
    spans.push(Span::raw(
        format!("profile: {:?} ", app.profile).to_lowercase(),
    ));
    if !app.status.ca_hint.is_empty() {
        spans.push(Span::styled(app.status.ca_hint.clone(), theme::dim()));
    }
    frame.render_widget(Line::from(spans), area);
}

pub fn draw_bottom(frame: &mut Frame, area: Rect, app: &App) {
    let line = match &app.mode {
        Mode::Filter { input, error } => {
            let mut spans = vec![
                Span::styled("/", theme::key()),
                Span::raw(input.clone()),
                Span::styled("▏", theme::key()),
            ];
            if let Some(e) = error {
                spans.push(Span::styled(format!("  {e}"), theme::bad()));
            } else {
                spans.push(Span::styled(
                    "  Enter keep · Esc close · e.g. verdict:blocked host:api method:PUT status:4xx",
                    theme::dim(),
                ));
            }
            Line::from(spans)
        }
        Mode::Confirm(Confirm::Clear) => {
            Line::styled("Clear all captured exchanges? y / n", theme::warn())
        }
        Mode::Confirm(Confirm::Quit) => Line::styled(
            "Quit with exchanges not exported (e exports a HAR)? y / n",
            theme::warn(),
        ),
        Mode::Export { input } => Line::from(vec![
            Span::styled("Export HAR to: ", theme::key()),
            Span::raw(input.clone()),
            Span::styled("▏", theme::key()),
            Span::styled("  Enter save · Esc cancel", theme::dim()),
        ]),
        Mode::Normal | Mode::Help => match &app.flash {
            Some(msg) => Line::raw(msg.clone()),
            None => hints(),
        },
    };
    frame.render_widget(line, area);
}

fn hints() -> Line<'static> {
    let pairs = [
        ("?", "help"),
        ("/", "filter"),
        ("b", "blocked"),
        ("Enter", "details"),
        ("←→", "tabs"),
        ("p", "pause"),
        ("e", "export"),
        ("y", "curl"),
        ("q", "quit"),
    ];
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(format!(" {k}"), theme::key()));
        spans.push(Span::styled(format!(" {what} "), theme::dim()));
    }
    Line::from(spans)
}
