//! Colours and styles in one place. Every verdict also has a symbol, so nothing depends
//! on colour alone.

use ratatui::style::{Color, Modifier, Style};

use super::model::Badge;

pub fn badge(b: Badge) -> Style {
    let fg = match b {
        Badge::Allowed => Color::Green,
        Badge::Blocked => Color::Red,
        Badge::Pending => Color::Yellow,
        Badge::NotCors => Color::DarkGray,
        Badge::Unknown => Color::Magenta,
        Badge::Failed => Color::LightRed,
    };
    let s = Style::new().fg(fg);
    if b == Badge::Blocked {
        s.add_modifier(Modifier::BOLD)
    } else {
        s
    }
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}

pub fn bad() -> Style {
    Style::new().fg(Color::Red)
}

pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn focused_border() -> Style {
    Style::new().fg(Color::Cyan)
}

pub fn border() -> Style {
    Style::new().fg(Color::DarkGray)
}
