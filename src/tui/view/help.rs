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

/// One section's lines (title, then a line per binding).
fn section_lines(section: Section) -> Vec<Line<'static>> {
    let mut out = vec![Line::styled(section.title(), theme::title())];
    for b in BINDINGS.iter().filter(|b| b.section == section) {
        out.push(Line::from(vec![
            Span::styled(format!("  {:<10}", b.label), theme::key()),
            Span::raw(b.help),
        ]));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect) {
    let text = lines();
    if text.len() as u16 + 2 <= area.height {
        let height = text.len() as u16 + 2;
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
        return;
    }
    // A short terminal: navigation on the left, the rest on the right, full screen.
    let left = section_lines(Section::Navigate);
    let mut right = section_lines(Section::View);
    right.push(Line::raw(""));
    right.extend(section_lines(Section::Session));
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(" Keys (Esc closes) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}
