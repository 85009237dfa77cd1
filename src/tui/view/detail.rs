//! The detail pane: tab bar and the selected tab's lines.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, Pane, Tab};
use crate::tui::detail::Detail;
use crate::tui::theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, detail: Option<&Detail>) {
    let border = if app.pane == Pane::Detail {
        theme::focused_border()
    } else {
        theme::border()
    };
    let block = Block::bordered().border_style(border);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [tabs_area, body_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let selected = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    frame.render_widget(
        Tabs::new(Tab::ALL.iter().map(|t| t.title()))
            .select(selected)
            .highlight_style(theme::key()),
        tabs_area,
    );
    let lines: Vec<Line> = match detail {
        Some(d) if app.selected_id() == Some(d.id) => d.lines(app.tab).to_vec(),
        _ => vec![Line::styled("Select an exchange to see why.", theme::dim())],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        body_area,
    );
}
