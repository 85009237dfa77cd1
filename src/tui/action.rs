//! Everything the user can ask the UI to do. Keys and mouse events become an [`Action`]
//! through the keymap; `App::update` is the only place state changes.

/// One user intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Move the selection one row up (or scroll the detail pane up).
    Up,
    /// Move the selection one row down (or scroll the detail pane down).
    Down,
    PageUp,
    PageDown,
    /// First row.
    Top,
    /// Last row, and follow new exchanges again.
    Bottom,
    /// Focus the next pane (list → detail).
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Next detail tab.
    NextTab,
    /// Previous detail tab.
    PrevTab,
    /// Open the selected exchange's details (focus the detail pane).
    Open,
    /// Leave the current mode: close help, cancel input, back to the list.
    Back,
    /// Fold or unfold the preflight under its request.
    ToggleFold,
    /// Start editing the filter expression.
    Filter,
    /// Show only blocked exchanges (toggle).
    BlockedOnly,
    /// Show or hide traffic that is not cross-origin (toggle).
    ToggleNonCors,
    /// Pause or resume the live list (traffic still flows and is still counted).
    Pause,
    /// Clear the captured exchanges (asks first).
    Clear,
    /// Export the session as HAR (asks for a path).
    Export,
    /// Switch the browser profile the verdicts follow (recomputes them).
    SwitchProfile,
    /// Copy the selected exchange as a curl command.
    CopyCurl,
    /// Resend the selected request to its server (its preflight first).
    Resend,
    /// Show or hide the key help.
    Help,
    /// Quit (asks when exchanges are unsaved).
    Quit,
}
