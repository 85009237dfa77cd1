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
            None => hints(area.width),
        },
    };
    frame.render_widget(line, area);
}

/// The key hints, in the order of the help screen, as many as fit in `width` columns:
/// the least needed are left out first (the help screen lists them all).
fn hints(width: u16) -> Line<'static> {
    // (key, what, rank): a lower rank stays longer.
    let pairs = [
        ("?", "help", 0),
        ("/", "filter", 2),
        ("b", "blocked", 4),
        ("Enter", "details", 3),
        ("←→", "tabs", 9),
        ("p", "pause", 8),
        ("e", "export", 6),
        ("y", "curl", 7),
        ("r", "resend", 5),
        ("q", "quit", 1),
    ];
    // " k what " per pair.
    let cols = |k: &str, what: &str| k.chars().count() + what.chars().count() + 3;
    let mut shown: Vec<_> = pairs.to_vec();
    while shown.len() > 1
        && shown.iter().map(|(k, w, _)| cols(k, w)).sum::<usize>() > usize::from(width)
    {
        let least = shown
            .iter()
            .enumerate()
            .max_by_key(|(_, p)| p.2)
            .map_or(0, |(i, _)| i);
        shown.remove(least);
    }
    let mut spans = Vec::new();
    for (k, what, _) in shown {
        spans.push(Span::styled(format!(" {k}"), theme::key()));
        spans.push(Span::styled(format!(" {what} "), theme::dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn hints_fit_the_width_and_keep_help_and_quit() {
        let wide = text(&hints(200));
        assert_eq!(wide.matches("  ").count() + 1, 10, "{wide:?}");
        assert!(
            wide.contains("r resend") && wide.contains("←→ tabs"),
            "{wide:?}"
        );
        for width in [80, 60, 30, 16] {
            let line = text(&hints(width));
            assert!(
                line.chars().count() <= usize::from(width),
                "{width}: {line:?}"
            );
            assert!(
                line.contains("? help") && line.contains("q quit"),
                "{width}: {line:?}"
            );
        }
        // At 80 columns the least needed go: tabs and pause.
        let at_80 = text(&hints(80));
        assert!(
            !at_80.contains("tabs") && !at_80.contains("pause"),
            "{at_80:?}"
        );
        assert!(
            at_80.contains("r resend") && at_80.contains("b blocked"),
            "{at_80:?}"
        );
    }
}
