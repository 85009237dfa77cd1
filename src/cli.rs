//! Command-line interface (clap derive). Doc comments here are the `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cors::profile::Profile;

/// corscope: an intercepting proxy that shows every cross-origin exchange and tells you,
/// in the browser's own words, why CORS allowed or blocked it.
#[derive(Debug, Parser)]
#[command(name = "corscope", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Proxy options for the default (interactive) mode.
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy without a UI and write one JSON object per exchange.
    Headless(HeadlessArgs),
    /// Analyze a HAR file offline (Chrome DevTools, Firefox, mitmproxy, corscope).
    Analyze(AnalyzeArgs),
    /// Manage the local certificate authority used for HTTPS interception.
    Ca(CaArgs),
    /// Start demo origins with good and broken CORS and watch corscope judge their traffic.
    Demo(DemoArgs),
    /// Launch a browser with a fresh profile that uses the running corscope proxy and trusts
    /// its CA (the profile is removed when the browser exits).
    Browser(BrowserArgs),
}

/// `corscope demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// No UI: run the demo traffic, print the verdicts and exit.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: write one JSON verdict per exchange to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE", requires = "headless")]
    pub jsonl: Option<PathBuf>,

    /// Open the demo page in a browser that uses the proxy, instead of emulating one.
    #[arg(long)]
    pub browser: bool,
}

/// `corscope browser`.
#[derive(Debug, Clone, Args)]
pub struct BrowserArgs {
    /// Which browser (default: the first of chromium, chrome, firefox found).
    #[arg(value_enum)]
    pub kind: Option<crate::browser::BrowserKind>,

    /// Page to open.
    pub url: Option<String>,

    /// Run the browser headless (CI).
    #[arg(long)]
    pub headless: bool,

    /// Path of the browser executable, when it is not found on PATH.
    #[arg(long, value_name = "PATH")]
    pub executable: Option<PathBuf>,
}

/// Options shared by every mode that runs the proxy.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Address to listen on. Non-loopback addresses need --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// Allow listening on a non-loopback address (an open intercepting proxy is a
    /// security hole: anyone who can reach it can use it).
    #[arg(long, global = true)]
    pub allow_remote: bool,

    /// Directory for the CA and other state (default: the platform data directory).
    #[arg(long, value_name = "DIR", global = true, env = "CORSCOPE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Browser whose CORS behaviour verdicts follow.
    #[arg(long, value_enum, default_value_t = Profile::Chrome, global = true)]
    pub profile: Profile,

    /// Hosts to tunnel untouched instead of intercepting (glob, e.g. `*.apple.com`;
    /// repeatable).
    #[arg(long = "ignore-hosts", value_name = "PATTERN", global = true)]
    pub ignore_hosts: Vec<String>,

    /// Bytes of each request and response body to keep; the rest streams through and is
    /// only counted.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_capture: usize,

    /// Seconds a client may take to send a request head before it is timed out.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub header_timeout: u64,

    /// Extra CA certificate (PEM) to trust for upstream TLS, e.g. a local dev API's CA.
    #[arg(long, value_name = "FILE", global = true)]
    pub upstream_ca: Vec<PathBuf>,

    /// Do not verify upstream TLS certificates.
    #[arg(long, global = true)]
    pub insecure_upstream: bool,
}

/// `corscope headless`.
#[derive(Debug, Clone, Args)]
pub struct HeadlessArgs {
    /// Write JSON lines to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
}

/// `corscope analyze`.
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// HAR file to analyze.
    pub file: PathBuf,

    /// One JSON object per HAR entry instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `corscope ca`.
#[derive(Debug, Clone, Args)]
pub struct CaArgs {
    #[command(subcommand)]
    pub action: CaAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CaAction {
    /// Print the path of the CA certificate (creating the CA if needed).
    Path,
    /// Write the CA certificate to stdout.
    Export {
        #[arg(long, value_enum, default_value_t = CertFormat::Pem)]
        format: CertFormat,
    },
    /// Replace the CA with a new one (browsers must trust the new one again).
    Regenerate {
        /// Confirm replacing the existing CA.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CertFormat {
    Pem,
    Der,
}
