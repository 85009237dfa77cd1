//! The one table of key bindings. The help screen is generated from it, so a binding
//! cannot exist without being documented.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// A key with the modifiers that must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

const fn plain(code: KeyCode) -> Key {
    Key {
        code,
        modifiers: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    plain(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::CONTROL,
    }
}

/// Which part of the help screen a binding is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Navigate,
    View,
    Session,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::Navigate => "Navigate",
            Section::View => "Filter and view",
            Section::Session => "Session",
        }
    }

    pub const ALL: [Section; 3] = [Section::Navigate, Section::View, Section::Session];
}

/// One row of the keymap: the keys, what they do, and how the help screen shows them.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written on the help screen.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    pub section: Section,
}

/// The keymap. Order is the order of the help screen.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    Binding { keys: &[plain(KeyCode::Up), ch('k')], label: "↑ k", action: Action::Up, help: "previous exchange (scroll up in details)", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Down), ch('j')], label: "↓ j", action: Action::Down, help: "next exchange (scroll down in details)", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::PageUp), ctrl('b')], label: "PgUp", action: Action::PageUp, help: "page up", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::PageDown), ctrl('f')], label: "PgDn", action: Action::PageDown, help: "page down", section: Section::Navigate },
    Binding { keys: &[ch('g'), plain(KeyCode::Home)], label: "g Home", action: Action::Top, help: "first exchange", section: Section::Navigate },
    Binding { keys: &[ch('G'), plain(KeyCode::End)], label: "G End", action: Action::Bottom, help: "last exchange; follow new ones", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Tab)], label: "Tab", action: Action::NextPane, help: "next pane", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::BackTab), Key { code: KeyCode::BackTab, modifiers: KeyModifiers::SHIFT }], label: "Shift-Tab", action: Action::PrevPane, help: "previous pane", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Right), ch('l')], label: "→ l", action: Action::NextTab, help: "next detail tab", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Left), ch('h')], label: "← h", action: Action::PrevTab, help: "previous detail tab", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Enter)], label: "Enter", action: Action::Open, help: "open the selected exchange", section: Section::Navigate },
    Binding { keys: &[plain(KeyCode::Esc)], label: "Esc", action: Action::Back, help: "back / cancel", section: Section::Navigate },
    Binding { keys: &[ch('/')], label: "/", action: Action::Filter, help: "filter: text host: origin: method: status: verdict: stage:", section: Section::View },
    Binding { keys: &[ch('b')], label: "b", action: Action::BlockedOnly, help: "blocked only (toggle)", section: Section::View },
    Binding { keys: &[ch('a')], label: "a", action: Action::ToggleNonCors, help: "show or hide non-CORS traffic", section: Section::View },
    Binding { keys: &[ch(' '), ch('f')], label: "Space f", action: Action::ToggleFold, help: "fold / unfold preflights under their requests", section: Section::View },
    Binding { keys: &[ch('P')], label: "P", action: Action::SwitchProfile, help: "switch browser profile (chrome → firefox → spec)", section: Section::View },
    Binding { keys: &[ch('p')], label: "p", action: Action::Pause, help: "pause / resume the live list (nothing is lost)", section: Section::Session },
    Binding { keys: &[ch('c')], label: "c", action: Action::Clear, help: "clear captured exchanges (asks)", section: Section::Session },
    Binding { keys: &[ch('e')], label: "e", action: Action::Export, help: "export the session as HAR (asks for a path)", section: Section::Session },
    Binding { keys: &[ch('y')], label: "y", action: Action::CopyCurl, help: "copy the selected exchange as curl", section: Section::Session },
    Binding { keys: &[ch('r')], label: "r", action: Action::Resend, help: "resend the selected request (its preflight first)", section: Section::Session },
    Binding { keys: &[ch('?')], label: "?", action: Action::Help, help: "this help", section: Section::Session },
    Binding { keys: &[ch('q'), ctrl('c')], label: "q", action: Action::Quit, help: "quit (asks if unsaved)", section: Section::Session },
];

/// The action bound to a key press, if any.
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    // Shifted letters arrive as the upper-case char, sometimes with SHIFT set: compare
    // without SHIFT for characters.
    let mods = match event.code {
        KeyCode::Char(_) => event.modifiers - KeyModifiers::SHIFT,
        _ => event.modifiers,
    };
    BINDINGS
        .iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|k| k.code == event.code && k.modifiers == mods)
        })
        .map(|b| b.action)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_key_maps_to_one_action_only() {
        let mut seen: Vec<(Key, Action)> = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                if let Some((_, other)) = seen.iter().find(|(sk, _)| sk == k) {
                    panic!("{k:?} bound to both {other:?} and {:?}", b.action);
                }
                seen.push((*k, b.action));
            }
        }
    }

    #[test]
    fn shifted_letters_and_ctrl_keys_resolve() {
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(action_for(&shifted), Some(Action::Bottom));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c), Some(Action::Quit));
        let plain_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(action_for(&plain_c), Some(Action::Clear));
        let unbound = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE);
        assert_eq!(action_for(&unbound), None);
    }
}
