//! The exchange list. Only the rows on screen are turned into text, so the cost of a
//! frame does not grow with the number of exchanges.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::tui::app::{App, Pane};
use crate::tui::model::Row;
use crate::tui::theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let border = if app.pane == Pane::List {
        theme::focused_border()
    } else {
        theme::border()
    };
    let title = format!(
        " Exchanges {}/{}{} ",
        app.visible_len(),
        app.rows().len(),
        if app.follow { " · following" } else { "" }
    );
    let block = Block::bordered().title(title).border_style(border);
    let inner_h = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = (app.offset()..app.visible_len().min(app.offset() + inner_h))
        .filter_map(|pos| {
            let row = app.visible_row(pos)?;
            let mut line = row_line(row, width, app);
            if pos == app.selected_pos() {
                line = line.style(theme::selected());
            }
            Some(line)
        })
        .collect();
    let body = if lines.is_empty() {
        empty_hint(app)
            .into_iter()
            .map(|l| Line::styled(l, theme::dim()))
            .collect()
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(body).block(block), area);
}

/// What an empty list says: how to send traffic through the proxy, or why nothing shows.
fn empty_hint(app: &App) -> Vec<String> {
    if !app.rows().is_empty() {
        return vec![
            "No exchange matches the current view (/ filter, b blocked only, a non-CORS).".into(),
        ];
    }
    let listen = &app.status.listen;
    let mut hint = vec![format!(
        "Waiting for traffic. Send it through the proxy at http://{listen}, e.g."
    )];
    match app.status.try_commands.as_slice() {
        [] => hint.push(format!("  curl -x http://{listen} URL")),
        commands => hint.extend(commands.iter().map(|c| format!("  {c}"))),
    }
    hint
}

/// `12:03:04 ✗ PUT     +pf 403 localhost:5173 → api.example.com/items  reason`
fn row_line(row: &Row, width: usize, app: &App) -> Line<'static> {
    let time = row.started.with_timezone(&chrono::Local).format("%H:%M:%S");
    let status = row
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "–".to_owned());
    let origin = row.origin.as_deref().map(short_origin).unwrap_or_default();
    let fold = if row.is_preflight {
        "pf "
    } else if app.folded && row.paired_with.is_some() {
        "+pf"
    } else {
        "   "
    };
    let arrow = if origin.is_empty() { "" } else { " → " };
    let head = format!("{time} ");
    let mid = format!(
        " {:<7} {fold} {status:>3} {origin}{arrow}{}{}",
        truncate(&row.method, 7),
        row.host,
        row.path
    );
    let mid_room = width.saturating_sub(head.chars().count() + 1);
    let mid = truncate(&mid, mid_room);
    let tail_room = mid_room.saturating_sub(mid.chars().count());
    let tail = if row.reason.is_empty() || tail_room < 8 {
        String::new()
    } else {
        truncate(&format!("  {}", row.reason), tail_room)
    };
    Line::from(vec![
        Span::styled(head, theme::dim()),
        Span::styled(row.badge.symbol().to_owned(), theme::badge(row.badge)),
        Span::raw(mid),
        Span::styled(tail, theme::badge(row.badge)),
    ])
}

fn short_origin(o: &str) -> String {
    o.strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
        .unwrap_or(o)
        .to_owned()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
