//! UI state and the one place it changes: [`App::update`]. Drawing reads `&App`; side
//! effects the UI cannot do itself (clearing the store, writing a HAR, copying to the
//! clipboard, quitting) come back as an [`Effect`] for the event loop to carry out.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::filter::Filter;
use super::keymap;
use super::model::{Badge, Row};
use crate::cors::profile::Profile;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    List,
    Detail,
}

/// Detail pane tabs, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Verdict,
    Diff,
    Request,
    Response,
    Preflight,
    Body,
    Timing,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Verdict,
        Tab::Diff,
        Tab::Request,
        Tab::Response,
        Tab::Preflight,
        Tab::Body,
        Tab::Timing,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Verdict => "Verdict",
            Tab::Diff => "Diff",
            Tab::Request => "Request",
            Tab::Response => "Response",
            Tab::Preflight => "Preflight",
            Tab::Body => "Body",
            Tab::Timing => "Timing",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn step(self, delta: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        let i = (self.index() as isize + delta).rem_euclid(n);
        Tab::ALL[i as usize]
    }
}

/// What a confirmation prompt is asking about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Clear,
    Quit,
}

/// Input modes: the keymap applies in `Normal`; the others take text or y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Editing the filter; `error` is the parse error of the current text, if any.
    Filter {
        input: String,
        error: Option<String>,
    },
    Confirm(Confirm),
    /// Asking for the HAR export path.
    Export {
        input: String,
    },
}

/// Work the event loop must do on the UI's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    ClearStore,
    ExportHar(String),
    SetProfile(Profile),
    /// Copy the exchange with this id as curl.
    CopyCurl(u64),
    /// Resend the exchange with this id to its server.
    Resend(u64),
    /// Capture display was resumed: take a fresh snapshot now.
    Resume,
}

/// Facts about the running proxy shown on the status line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusInfo {
    pub listen: String,
    pub ca_hint: String,
    /// Commands that send traffic through the proxy, shown while the list is empty.
    pub try_commands: Vec<String>,
    /// Exchanges evicted by the store's cap (still counted, bodies or rows gone).
    pub evicted: u64,
    /// Exchanges captured but not in the list yet (the list is paused).
    pub unseen: u64,
}

/// The whole UI state.
#[derive(Debug, Clone)]
pub struct App {
    rows: Vec<Row>,
    index_of: HashMap<u64, usize>,
    /// Indices into `rows` that pass the filter, in display order.
    visible: Vec<usize>,
    visible_dirty: bool,
    /// Selected position in `visible`.
    selected: usize,
    /// First visible list row (scroll offset).
    offset: usize,
    /// Keep the selection on the newest row as exchanges arrive.
    pub follow: bool,
    pub pane: Pane,
    pub tab: Tab,
    pub detail_scroll: u16,
    pub mode: Mode,
    pub filter: Filter,
    pub blocked_only: bool,
    pub show_non_cors: bool,
    /// Preflights folded under their actual requests.
    pub folded: bool,
    pub paused: bool,
    pub profile: Profile,
    pub status: StatusInfo,
    /// Exchanges captured since the last export.
    pub unsaved: bool,
    /// A one-line message for the user (export done, copied, errors).
    pub flash: Option<String>,
    /// Rows the list pane can show; set by the view from the terminal size.
    pub list_height: usize,
}

impl App {
    pub fn new(profile: Profile, status: StatusInfo) -> Self {
        Self {
            rows: Vec::new(),
            index_of: HashMap::new(),
            visible: Vec::new(),
            visible_dirty: false,
            selected: 0,
            offset: 0,
            follow: true,
            pane: Pane::List,
            tab: Tab::Verdict,
            detail_scroll: 0,
            mode: Mode::Normal,
            filter: Filter::default(),
            blocked_only: false,
            show_non_cors: false,
            folded: true,
            paused: false,
            profile,
            status,
            unsaved: false,
            flash: None,
            list_height: 20,
        }
    }

    /// Insert new rows or replace rows with the same id (a verdict settled, a response
    /// arrived). Rows arrive in id order for new exchanges.
    pub fn upsert_rows(&mut self, rows: impl IntoIterator<Item = Row>) {
        for row in rows {
            match self.index_of.get(&row.id) {
                Some(&i) => self.rows[i] = row,
                None => {
                    self.index_of.insert(row.id, self.rows.len());
                    self.rows.push(row);
                    self.unsaved = true;
                }
            }
        }
        self.visible_dirty = true;
    }

    /// Drop the rows of exchanges below `first` (the store evicted them), so the list
    /// holds no more than the store (plus at most a third: dropping re-indexes every row,
    /// so it waits until a quarter of the rows can go at once).
    pub fn forget_rows_before(&mut self, first: u64) {
        let n = self.rows.iter().take_while(|r| r.id < first).count();
        if n == 0 || n * 4 < self.rows.len() {
            return;
        }
        let keep = self.selected_id();
        self.rows.drain(..n);
        self.index_of = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        self.rebuild_visible(keep);
    }

    /// Forget every row (after the store was cleared).
    pub fn clear_rows(&mut self) {
        self.rows.clear();
        self.index_of.clear();
        self.visible.clear();
        self.selected = 0;
        self.offset = 0;
        self.follow = true;
        self.unsaved = false;
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn row(&self, id: u64) -> Option<&Row> {
        self.index_of.get(&id).map(|&i| &self.rows[i])
    }

    /// Rows that pass the filter, in order (call [`App::refresh`] first).
    pub fn visible_rows(&self) -> impl Iterator<Item = &Row> + '_ {
        self.visible.iter().map(|&i| &self.rows[i])
    }

    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The visible row at display position `pos`.
    pub fn visible_row(&self, pos: usize) -> Option<&Row> {
        self.visible.get(pos).map(|&i| &self.rows[i])
    }

    pub fn selected_pos(&self) -> usize {
        self.selected
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.visible_row(self.selected)
    }

    pub fn selected_id(&self) -> Option<u64> {
        self.selected_row().map(|r| r.id)
    }

    /// Counts for the status line: (all, allowed, blocked, pending, hidden non-CORS).
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.rows {
            c.total += 1;
            match r.badge {
                Badge::Allowed => c.allowed += 1,
                Badge::Blocked => c.blocked += 1,
                Badge::Pending => c.pending += 1,
                Badge::NotCors => c.not_cors += 1,
                Badge::Unknown | Badge::Failed => c.other += 1,
            }
        }
        c
    }

    fn row_shown(&self, row: &Row) -> bool {
        if !self.show_non_cors && !row.is_cors && row.badge != Badge::Failed {
            return false;
        }
        if self.blocked_only && row.badge != Badge::Blocked {
            return false;
        }
        // A paired preflight folds under its actual request; an unpaired one (the actual
        // request was never sent) is the blocked request itself and always shows.
        if self.folded && row.is_preflight && row.paired_with.is_some() {
            return false;
        }
        self.filter.matches(row)
    }

    /// Recompute the visible list if rows or the filter changed, keeping the selection on
    /// the same exchange (or on the newest one in follow mode).
    pub fn refresh(&mut self) {
        if !self.visible_dirty {
            return;
        }
        let keep = self.selected_id();
        self.rebuild_visible(keep);
    }

    fn rebuild_visible(&mut self, keep: Option<u64>) {
        self.visible = (0..self.rows.len())
            .filter(|&i| self.row_shown(&self.rows[i]))
            .collect();
        self.visible_dirty = false;
        if self.follow {
            self.selected = self.visible.len().saturating_sub(1);
        } else if let Some(id) = keep {
            self.selected = self
                .visible
                .iter()
                .position(|&i| self.rows[i].id >= id)
                .unwrap_or(self.visible.len().saturating_sub(1));
        }
        self.clamp_scroll();
    }

    fn mark_dirty(&mut self) {
        self.visible_dirty = true;
        self.refresh();
    }

    fn clamp_scroll(&mut self) {
        let len = self.visible.len();
        if len == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(len - 1);
        let h = self.list_height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        self.offset = self.offset.min(len.saturating_sub(h));
    }

    fn move_selection(&mut self, delta: isize) {
        let len = self.visible.len();
        if len == 0 {
            return;
        }
        let before = self.selected_id();
        let target = (self.selected as isize + delta).clamp(0, len as isize - 1) as usize;
        self.selected = target;
        self.follow = target == len - 1 && delta > 0;
        if self.selected_id() != before {
            self.detail_scroll = 0;
        }
        self.clamp_scroll();
    }

    /// Select the row at display position `pos` (a mouse click).
    pub fn select_visible(&mut self, pos: usize) {
        if pos < self.visible.len() {
            self.selected = pos;
            self.follow = false;
            self.detail_scroll = 0;
            self.clamp_scroll();
        }
    }

    /// Handle a key press: text input in the input modes, the keymap otherwise.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        match &mut self.mode {
            Mode::Normal => keymap::action_for(&key).and_then(|a| self.update(a)),
            Mode::Help => {
                if matches!(
                    keymap::action_for(&key),
                    Some(Action::Help | Action::Back | Action::Quit)
                ) {
                    self.mode = Mode::Normal;
                }
                None
            }
            Mode::Filter { .. } => {
                self.on_filter_key(key);
                None
            }
            Mode::Confirm(what) => {
                let what = *what;
                self.mode = Mode::Normal;
                match key.code {
                    KeyCode::Char('y' | 'Y') => Some(match what {
                        Confirm::Clear => Effect::ClearStore,
                        Confirm::Quit => Effect::Quit,
                    }),
                    _ => None,
                }
            }
            Mode::Export { input } => match key.code {
                KeyCode::Enter => {
                    let path = input.trim().to_owned();
                    self.mode = Mode::Normal;
                    (!path.is_empty()).then_some(Effect::ExportHar(path))
                }
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    None
                }
                _ => {
                    edit_line(input, key);
                    None
                }
            },
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        let Mode::Filter { input, error } = &mut self.mode else {
            return;
        };
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return;
            }
            KeyCode::Enter => {
                if error.is_none() {
                    self.mode = Mode::Normal;
                }
                return;
            }
            _ => edit_line(input, key),
        }
        // Filter as you type; keep the last good filter while the text does not parse.
        match Filter::parse(input) {
            Ok(f) => {
                *error = None;
                self.filter = f;
                self.mark_dirty();
            }
            Err(e) => *error = Some(e.to_string()),
        }
    }

    /// Apply one action. Returns the side effect the event loop must perform, if any.
    pub fn update(&mut self, action: Action) -> Option<Effect> {
        self.flash = None;
        let page = self.list_height.max(1) as isize;
        match action {
            Action::Up if self.pane == Pane::Detail => {
                self.detail_scroll = self.detail_scroll.saturating_sub(1)
            }
            Action::Down if self.pane == Pane::Detail => {
                self.detail_scroll = self.detail_scroll.saturating_add(1)
            }
            Action::PageUp if self.pane == Pane::Detail => {
                self.detail_scroll = self.detail_scroll.saturating_sub(page as u16)
            }
            Action::PageDown if self.pane == Pane::Detail => {
                self.detail_scroll = self.detail_scroll.saturating_add(page as u16)
            }
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => {
                self.move_selection(-(self.visible.len() as isize));
                self.follow = false;
            }
            Action::Bottom => {
                self.move_selection(self.visible.len() as isize);
                self.follow = true;
            }
            Action::NextPane | Action::PrevPane => {
                self.pane = match self.pane {
                    Pane::List => Pane::Detail,
                    Pane::Detail => Pane::List,
                }
            }
            Action::NextTab => {
                self.tab = self.tab.step(1);
                self.detail_scroll = 0;
            }
            Action::PrevTab => {
                self.tab = self.tab.step(-1);
                self.detail_scroll = 0;
            }
            Action::Open => self.pane = Pane::Detail,
            Action::Back => {
                self.pane = Pane::List;
                self.mode = Mode::Normal;
            }
            Action::ToggleFold => {
                self.folded = !self.folded;
                self.mark_dirty();
            }
            Action::Filter => {
                self.mode = Mode::Filter {
                    input: self.filter.source().to_owned(),
                    error: None,
                }
            }
            Action::BlockedOnly => {
                self.blocked_only = !self.blocked_only;
                self.mark_dirty();
            }
            Action::ToggleNonCors => {
                self.show_non_cors = !self.show_non_cors;
                self.mark_dirty();
            }
            Action::Pause => {
                self.paused = !self.paused;
                if !self.paused {
                    return Some(Effect::Resume);
                }
            }
            Action::Clear => self.mode = Mode::Confirm(Confirm::Clear),
            Action::Export => {
                self.mode = Mode::Export {
                    input: default_export_name(),
                }
            }
            Action::SwitchProfile => {
                self.profile = match self.profile {
                    Profile::Chrome => Profile::Firefox,
                    Profile::Firefox => Profile::Spec,
                    Profile::Spec => Profile::Chrome,
                };
                return Some(Effect::SetProfile(self.profile));
            }
            Action::CopyCurl => return self.selected_id().map(Effect::CopyCurl),
            Action::Resend => return self.selected_id().map(Effect::Resend),
            Action::Help => self.mode = Mode::Help,
            Action::Quit => {
                if self.unsaved && !self.rows.is_empty() {
                    self.mode = Mode::Confirm(Confirm::Quit);
                } else {
                    return Some(Effect::Quit);
                }
            }
        }
        None
    }

    /// Mouse wheel over the list (`delta` rows, negative = up).
    pub fn scroll(&mut self, delta: isize) {
        if self.pane == Pane::Detail {
            self.detail_scroll = if delta < 0 {
                self.detail_scroll
                    .saturating_sub(delta.unsigned_abs() as u16)
            } else {
                self.detail_scroll.saturating_add(delta as u16)
            };
        } else {
            self.move_selection(delta);
        }
    }
}

/// Counts shown on the status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub allowed: usize,
    pub blocked: usize,
    pub pending: usize,
    pub not_cors: usize,
    pub other: usize,
}

/// `corscope-YYYYMMDD-HHMMSS.har` in the current directory.
fn default_export_name() -> String {
    format!(
        "corscope-{}.har",
        chrono::Local::now().format("%Y%m%d-%H%M%S")
    )
}

/// Minimal line editing: type, Backspace, Ctrl-U clears.
fn edit_line(input: &mut String, key: KeyEvent) {
    match key.code {
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
        _ => {}
    }
}
