//! The `?` help screen, generated from the keymap table.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::keymap::{Section, BINDINGS};
use crate::tui::theme;

/// The help text: one section per keymap section, one line per binding.
pub fn lines() -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for section in Section::ALL {
        out.push(Line::styled(section.title(), theme::title()));
        for b in BINDINGS.iter().filter(|b| b.section == section) {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<10}", b.label), theme::key()),
                Span::raw(b.help),
            ]));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::styled(
        "Mouse: wheel scrolls, click selects. Esc or ? closes this help.",
        theme::dim(),
    ));
    out
}

pub fn draw(frame: &mut Frame, area: Rect) {
    let text = lines();
    let height = (text.len() as u16 + 2).min(area.height);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(72.min(area.width))])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(" Keys ")),
        popup,
    );
}
