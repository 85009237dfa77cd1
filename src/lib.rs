//! corscope: an intercepting HTTP(S) proxy that shows live CORS traffic and explains,
//! in the browser's own words, why each cross-origin exchange was allowed or blocked.
//!
//! Data flow: the [`proxy`] records every exchange as [`capture`] events into one bounded
//! store; the pure [`cors`] engine pairs preflights with their actual requests and judges
//! each exchange; views (the TUI, headless JSON lines, HAR export) render snapshots. HAR
//! import feeds the same engine offline.
//!
//! Module map:
//! - [`cli`] / [`config`]: command line and validated configuration.
//! - [`capture`]: the exchange data model and the store.
//! - [`cors`]: classification, pairing, checks, verdicts, diffs, fixes, lints.
//! - [`har`]: HAR 1.2 model, import and export.
//! - [`logging`]: tracing setup.

pub mod browser;
pub mod capture;
pub mod cli;
pub mod cors;
pub mod demo;
pub mod logging;
pub mod tui;

/// Run a parsed command line. Returns the process exit code.
pub fn run(cli: cli::Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(cli::Command::Headless(_)) | None => {
            anyhow::bail!("the proxy is not built yet")
        }
        Some(cli::Command::Analyze(_)) => anyhow::bail!("analyze is not built yet"),
        Some(cli::Command::Ca(_)) => anyhow::bail!("ca is not built yet"),
    }
}
