//! Validated configuration: the command line turned into what the proxy needs, with the
//! checks that must hold before anything listens (loopback unless `--allow-remote`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::cli::ProxyArgs;
use crate::proxy::auth::{ProxyAuth, ProxyAuthError};
use crate::tls::upstream::UpstreamTrust;

/// How long open connections may take to finish after Ctrl-C / SIGTERM before corscope
/// exits anyway. Long enough for in-flight page loads, short enough not to annoy.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long reaching an upstream (DNS + TCP + TLS) may take before the client gets a 504.
/// A reachable server answers in well under a second; ten covers a slow DNS resolver or a
/// distant host without leaving a dead one hanging the page.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an upstream may take to send the response head (counted from when the request
/// is sent, connecting included) before the client gets a 504. Long enough for long
/// polling and slow reports; browsers themselves wait minutes.
pub const UPSTREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a response body may stay silent while corscope waits for it before the
/// exchange is failed and the client's connection aborted. Generous, because server-sent
/// events and streamed logs are quiet for long stretches; `--idle-timeout 0` turns it off.
pub const UPSTREAM_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Client connections served at once (`--max-connections`). Each costs a task, a socket
/// and buffers (measured: about 13 KB per idle connection); past this, new connections get
/// a one-line 503 and are closed rather than letting memory and descriptors grow unbounded.
/// A browser opens at most a few dozen connections to a proxy.
pub const MAX_CONNECTIONS: usize = 4_096;

/// Time a client may take to send a request head (`--header-timeout`). hyper's timer
/// starts whenever the proxy waits for a head, so this also closes keep-alive connections
/// that sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a request body may go without a byte from the client while the proxy waits for
/// one (`--body-timeout`); then the exchange ends with 408 and the upstream request is
/// aborted. As nginx's `client_body_timeout`: between two reads, not for the whole body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to listen on non-loopback address {0} without --allow-remote (anyone who \
         can reach it could use corscope as an open intercepting proxy)"
    )]
    RemoteNotAllowed(SocketAddr),
    #[error("invalid --ignore-hosts pattern {pattern:?}: {source}")]
    IgnorePattern {
        pattern: String,
        source: globset::Error,
    },
    #[error("no platform data directory could be found; pass --data-dir")]
    NoDataDir,
    #[error(transparent)]
    ProxyAuth(#[from] ProxyAuthError),
    #[error("--max-connections must be at least 1")]
    NoConnections,
}

/// Hosts to tunnel untouched (`--ignore-hosts`), matched case-insensitively against the
/// CONNECT host without its port.
#[derive(Debug, Clone, Default)]
pub struct HostMatcher {
    patterns: Vec<String>,
    set: GlobSet,
}

impl HostMatcher {
    /// Compile glob patterns such as `*.apple.com`.
    pub fn new(patterns: &[String]) -> Result<Self, ConfigError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = Glob::new(&pattern.to_ascii_lowercase()).map_err(|source| {
                ConfigError::IgnorePattern {
                    pattern: pattern.clone(),
                    source,
                }
            })?;
            builder.add(glob);
        }
        let set = builder
            .build()
            .map_err(|source| ConfigError::IgnorePattern {
                pattern: patterns.join(" "),
                source,
            })?;
        Ok(Self {
            patterns: patterns.to_vec(),
            set,
        })
    }

    /// True when `host` matches one of the patterns.
    pub fn matches(&self, host: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(host.to_ascii_lowercase())
    }
}

/// Everything the proxy needs to run.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// Where the CA lives.
    pub data_dir: PathBuf,
    pub ignore_hosts: HostMatcher,
    /// Bytes kept per body.
    pub max_body_capture: usize,
    /// Time a client may take to send a request head; also how long a client connection
    /// may sit idle between requests.
    pub header_timeout: Duration,
    /// Time a request body may go without a byte from the client.
    pub body_timeout: Duration,
    /// Client connections served at once; more are refused with a 503.
    pub max_connections: usize,
    /// Credentials clients must send (`Proxy-Authorization: Basic`), if any.
    pub proxy_auth: Option<ProxyAuth>,
    pub upstream_trust: UpstreamTrust,
    /// See [`UPSTREAM_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`UPSTREAM_RESPONSE_TIMEOUT`].
    pub response_timeout: Duration,
    /// See [`UPSTREAM_BODY_IDLE_TIMEOUT`]; `None`: a body may stay silent forever.
    pub body_idle_timeout: Option<Duration>,
    pub drain_timeout: Duration,
}

impl ProxyConfig {
    /// Validate the command line.
    pub fn from_args(args: &ProxyArgs) -> Result<Self, ConfigError> {
        if !args.listen.ip().is_loopback() && !args.allow_remote {
            return Err(ConfigError::RemoteNotAllowed(args.listen));
        }
        if args.max_connections == 0 {
            return Err(ConfigError::NoConnections);
        }
        let proxy_auth = args
            .proxy_auth
            .as_deref()
            .map(ProxyAuth::parse)
            .transpose()?;
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        };
        Ok(Self {
            listen: args.listen,
            data_dir,
            ignore_hosts: HostMatcher::new(&args.ignore_hosts)?,
            max_body_capture: args.max_body_capture,
            header_timeout: Duration::from_secs(args.header_timeout),
            body_timeout: Duration::from_secs(args.body_timeout),
            max_connections: args.max_connections,
            proxy_auth,
            upstream_trust: UpstreamTrust {
                extra_ca_files: args.upstream_ca.clone(),
                extra_ca_certs: Vec::new(),
                insecure: args.insecure_upstream,
                system_roots: true,
            },
            connect_timeout: positive(args.connect_timeout),
            response_timeout: positive(args.response_timeout),
            body_idle_timeout: (args.idle_timeout > 0)
                .then(|| Duration::from_secs(args.idle_timeout)),
            drain_timeout: DRAIN_TIMEOUT,
        })
    }

    /// Defaults for embedding and tests: loopback on an ephemeral port, CA in `data_dir`.
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            ignore_hosts: HostMatcher::default(),
            max_body_capture: 1024 * 1024,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            proxy_auth: None,
            upstream_trust: UpstreamTrust::default(),
            connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
            response_timeout: UPSTREAM_RESPONSE_TIMEOUT,
            body_idle_timeout: Some(UPSTREAM_BODY_IDLE_TIMEOUT),
            drain_timeout: DRAIN_TIMEOUT,
        }
    }

    /// Things to tell the user at start (they are allowed, but risky).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.listen.ip().is_loopback() {
            warnings.push(format!(
                "listening on non-loopback address {}: anyone who can reach it can use this \
                 intercepting proxy",
                self.listen
            ));
            if self.proxy_auth.is_none() {
                warnings.push(
                    "--allow-remote without --proxy-auth: no password protects this proxy; \
                     add --proxy-auth USER:PASSWORD"
                        .to_owned(),
                );
            }
        }
        if self.upstream_trust.insecure {
            warnings
                .push("--insecure-upstream: upstream TLS certificates are NOT verified".to_owned());
        }
        warnings
    }
}

/// Whole seconds as a timeout; 0 would fail every request, so it means one second.
fn positive(secs: u64) -> Duration {
    Duration::from_secs(secs.max(1))
}

/// The platform data directory (e.g. `~/.local/share/corscope` on Linux).
pub fn default_data_dir() -> Result<PathBuf, ConfigError> {
    directories::ProjectDirs::from("", "", "corscope")
        .map(|dirs| dirs.data_dir().to_owned())
        .ok_or(ConfigError::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_patterns_match_case_insensitively() {
        let m = HostMatcher::new(&["*.Apple.com".to_owned(), "pinned.test".to_owned()]).unwrap();
        assert!(m.matches("gs.apple.com"));
        assert!(m.matches("PINNED.test"));
        assert!(!m.matches("apple.com.evil"));
        assert!(!HostMatcher::default().matches("x"));
    }
}
