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
    /// Run the proxy without a UI: JSON lines with verdicts, HAR, CI mode.
    ///
    /// Exit status: 0 after a clean stop (SIGTERM, Ctrl-C, --exit-after-idle); 3 with
    /// --fail-on-blocked when any CORS exchange was blocked (each is summarised on stderr);
    /// 2 on errors. Outputs are complete before corscope exits, however it stops.
    Headless(HeadlessArgs),
    /// Analyze a HAR file offline (Chrome DevTools, Firefox, mitmproxy, corscope).
    Analyze(AnalyzeArgs),
    /// Send the preflight and request a browser would send, and judge them like a browser.
    ///
    /// The preflight (only when one is needed) carries Chromium's headers: `Accept: */*`,
    /// Access-Control-Request-Method, Access-Control-Request-Headers (lowercase, sorted,
    /// `,`-joined unsafe names), Origin, Sec-Fetch-*. The request follows only when the
    /// preflight allows it.
    ///
    /// Exit status: 0 when not blocked, 3 when the browser would block it, 2 on errors
    /// (bad arguments, DNS, connection refused, TLS failure).
    Probe(ProbeArgs),
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

/// Where the proxy listens unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Options shared by every mode that runs the proxy.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Address to listen on. Non-loopback addresses need --allow-remote.
    #[arg(long, default_value = DEFAULT_LISTEN, global = true)]
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

    /// Seconds a client may take to send a request head before the connection is closed;
    /// also how long a client connection may sit idle between requests.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub header_timeout: u64,

    /// Seconds a request body may go without a byte from the client before the exchange
    /// ends with 408.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub body_timeout: u64,

    /// Client connections served at once; more get a 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = crate::config::MAX_CONNECTIONS, global = true)]
    pub max_connections: usize,

    /// Require clients to authenticate with HTTP Basic (`Proxy-Authorization`), answering
    /// 407 otherwise. The credential is never forwarded nor recorded.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        global = true,
        env = "CORSCOPE_PROXY_AUTH",
        hide_env_values = true
    )]
    pub proxy_auth: Option<String>,

    /// Extra CA certificate (PEM) to trust for upstream TLS, e.g. a local dev API's CA
    /// (besides the webpki roots and the system's CA store).
    #[arg(long, value_name = "FILE", global = true)]
    pub upstream_ca: Vec<PathBuf>,

    /// Do not verify upstream TLS certificates.
    #[arg(long, global = true)]
    pub insecure_upstream: bool,

    /// Seconds to reach an upstream (DNS, TCP, TLS) before answering 504.
    #[arg(long, value_name = "SECONDS", global = true,
          default_value_t = crate::config::UPSTREAM_CONNECT_TIMEOUT.as_secs())]
    pub connect_timeout: u64,

    /// Seconds to wait for an upstream's response head before answering 504.
    #[arg(long, value_name = "SECONDS", global = true,
          default_value_t = crate::config::UPSTREAM_RESPONSE_TIMEOUT.as_secs())]
    pub response_timeout: u64,

    /// Seconds a response body may stay silent before the exchange fails and the
    /// client's connection is cut (0: never).
    #[arg(long, value_name = "SECONDS", global = true,
          default_value_t = crate::config::UPSTREAM_BODY_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,
}

/// How HAR files are written (redaction).
#[derive(Debug, Clone, Default, Args)]
pub struct HarExportArgs {
    /// Also redact this header's values in HAR exports (repeatable; Cookie, Set-Cookie,
    /// Authorization and Proxy-Authorization are always redacted).
    #[arg(long = "redact", value_name = "HEADER")]
    pub redact: Vec<String>,

    /// Keep every header value in HAR exports, secrets included.
    #[arg(long)]
    pub no_redact: bool,
}

impl HarExportArgs {
    /// The export options these flags ask for.
    pub fn options(&self) -> crate::har::export::ExportOptions {
        crate::har::export::ExportOptions {
            redact: !self.no_redact,
            extra_redacted: self.redact.clone(),
            credentials_stripped: false,
        }
    }
}

/// `corscope headless`.
///
/// Exit status: 0 after a clean stop; 3 with --fail-on-blocked when any CORS exchange was
/// blocked; 2 on errors. Outputs (--jsonl, --har) are complete before corscope exits,
/// however it stops (SIGTERM, Ctrl-C, --exit-after-idle).
#[derive(Debug, Clone, Default, Args)]
pub struct HeadlessArgs {
    /// Write JSON lines to FILE (`-` for stdout): one line per exchange with its verdict,
    /// written again (same `id`) when a pending verdict settles.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,

    /// Write the session as HAR 1.2 to FILE on exit (with verdicts in `_cors`).
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,

    /// Also rewrite the --har file (atomically) every SECONDS while running.
    #[arg(long, value_name = "SECONDS", requires = "har")]
    pub har_every: Option<u64>,

    /// Exit with status 3 if any CORS exchange was blocked, after writing the outputs and
    /// a summary of each blocked exchange on stderr.
    #[arg(long)]
    pub fail_on_blocked: bool,

    /// Stop after SECONDS without traffic (no exchange completed, no event).
    #[arg(long, value_name = "SECONDS")]
    pub exit_after_idle: Option<u64>,

    #[command(flatten)]
    pub export: HarExportArgs,
}

/// `corscope analyze`.
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// HAR file to analyze.
    pub file: PathBuf,

    /// One JSON object per HAR entry instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also write the entries with their verdicts (`_cors`) as a new HAR file.
    #[arg(long, value_name = "OUT")]
    pub har: Option<PathBuf>,

    #[command(flatten)]
    pub export: HarExportArgs,
}

/// Credentials mode for `corscope probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialsArg {
    /// `credentials: 'include'`: cookies (-H 'Cookie: …') are sent.
    Include,
    /// `credentials: 'omit'`: no cookies.
    Omit,
}

/// `corscope probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The page origin the request comes from, e.g. `http://localhost:5173`.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: String,

    /// Request method (sent as given; DELETE, GET, HEAD, OPTIONS, POST, PUT are
    /// uppercased as browsers do).
    #[arg(
        short = 'X',
        long = "method",
        value_name = "METHOD",
        default_value = "GET"
    )]
    pub method: String,

    /// Request header set by the script, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Request body.
    #[arg(short = 'd', long = "data", value_name = "BODY")]
    pub data: Option<String>,

    /// Credentials mode (default: include when a Cookie header is given, else omit).
    /// `include` without a Cookie header sends `Cookie: corscope_probe=1` in place of the
    /// browser's cookie jar, so the request is judged as credentialed; `omit` drops Cookie.
    #[arg(long, value_enum)]
    pub credentials: Option<CredentialsArg>,

    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// The URL to request.
    pub url: String,
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
