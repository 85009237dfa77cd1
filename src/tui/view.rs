//! Drawing: one function per screen region (one file each under `view/`). Drawing takes
//! `&App` and the prepared detail, never mutates state, and does no I/O.

mod detail;
mod help;
mod list;
mod status;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::{App, Mode};
use super::detail::Detail;

/// Rows the list pane gets for a terminal of `area`; the event loop stores it in the
/// app so paging and scrolling know the page size.
pub fn list_height(area: Rect) -> usize {
    let [_, list, _, _] = regions(area);
    list.height.saturating_sub(2) as usize
}

/// Where the list pane is for a terminal of `area` (for mouse clicks).
pub fn list_area(area: Rect) -> Rect {
    regions(area)[1]
}

/// Status line, list, detail, bottom bar.
fn regions(area: Rect) -> [Rect; 4] {
    let body = area.height.saturating_sub(2);
    // The list gets 45% of the body, at least 5 rows when there is room.
    let list_h = (body * 45 / 100).max(5.min(body));
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(list_h),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// Draw one frame.
pub fn draw(frame: &mut Frame, app: &App, detail: Option<&Detail>) {
    let [top, list_area, detail_area, bottom] = regions(frame.area());
    status::draw_status(frame, top, app);
    list::draw(frame, list_area, app);
    detail::draw(frame, detail_area, app, detail);
    status::draw_bottom(frame, bottom, app);
    if app.mode == Mode::Help {
        help::draw(frame, frame.area());
    }
}
