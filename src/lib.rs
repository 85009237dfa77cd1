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
//! - [`proxy`]: the capture proxy (HTTP/1.1, CONNECT + TLS interception, HTTP/2).
//! - [`tls`]: the local CA, leaf certificates, upstream TLS settings.
//! - [`headless`]: `corscope headless` (JSON lines) and `corscope ca`.
//! - [`cors`]: classification, pairing, checks, verdicts, diffs, fixes, lints.
//! - [`har`]: HAR 1.2 model, import and export.
//! - [`analyze`]: the `corscope analyze` command.
//! - [`probe`]: `corscope probe`, a browser's preflight + request without a browser.
//! - [`logging`]: tracing setup.

pub mod analyze;
pub mod browser;
pub mod capture;
pub mod cli;
pub mod config;
pub mod cors;
pub mod demo;
pub mod har;
pub mod headless;
pub mod live;
pub mod logging;
pub mod probe;
pub mod proxy;
pub mod replay;
pub mod tls;
pub mod tui;

/// Run a parsed command line. Returns the process exit code.
pub fn run(cli: cli::Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(cli::Command::Headless(args)) => headless::run(&cli.proxy, &args),
        None => tui::run::run(&cli.proxy),
        Some(cli::Command::Analyze(args)) => Ok(analyze::run(&args, cli.proxy.profile)?),
        Some(cli::Command::Probe(args)) => probe::run(&cli.proxy, &args),
        Some(cli::Command::Ca(args)) => headless::ca(&cli.proxy, &args),
        Some(cli::Command::Demo(args)) => demo::run(&cli.proxy, &args),
        Some(cli::Command::Browser(args)) => browser::run(&cli.proxy, &args),
    }
}
