//! `corscope headless` (the proxy without a UI: JSON lines, HAR, CI mode) and
//! `corscope ca` (the local CA).
//!
//! JSON lines: one object per line. `"type": "exchange"` lines carry the exchange and its
//! CORS verdict at top level (`verdict`, `stage`, and the other fields of
//! `corscope analyze --json`, with `paired_with` as an exchange id); when a verdict changes
//! later (a pending preflight settles) the exchange is written again with the same `id`.
//! `"type": "event"` lines report events (e.g. a client that rejected corscope's
//! certificate). The writer follows the live verdicts' change log by cursor, so a slow
//! output never slows the proxy.
//!
//! Stopping: SIGTERM, Ctrl-C or `--exit-after-idle` all take the same path: the proxy
//! drains, pending verdicts settle, then the JSON lines and the HAR file are completed, and
//! only then does the process exit ([`EXIT_BLOCKED`] with `--fail-on-blocked` when a CORS
//! exchange was blocked).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::capture::event::Event;
use crate::capture::exchange::{Exchange, ExchangeId, HeaderList, Timings};
use crate::capture::store::Store;
use crate::cli::{CaAction, CaArgs, CertFormat, HeadlessArgs, ProxyArgs};
use crate::config::{default_data_dir, ProxyConfig};
use crate::cors::classify::{Credentials, Kind, Role};
use crate::cors::diff::DiffItem;
use crate::cors::lint::Lint;
use crate::cors::verdict::{FirefoxReason, OtherOutcome, PreflightUse, RedirectInfo};
use crate::cors::{Stage, Verdict};
use crate::har::export::{self, ExportError, ExportOptions};
use crate::live::{self, Verdicts};
use crate::proxy::Proxy;
use crate::tls::ca::CertificateAuthority;

/// Exit status of `headless --fail-on-blocked` (and `probe`) when a CORS exchange was
/// blocked. 1 is left to panics and generic failures, 2 is corscope's error status.
pub const EXIT_BLOCKED: i32 = 3;

/// Verdict changes read per batch while writing JSON lines.
const JSONL_BATCH: usize = 256;

/// Run the proxy until Ctrl-C / SIGTERM / idle; returns the exit code.
pub fn run(proxy_args: &ProxyArgs, args: &HeadlessArgs) -> anyhow::Result<i32> {
    crate::logging::init_stderr();
    let config = ProxyConfig::from_args(proxy_args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let verdicts = Arc::new(Verdicts::new(proxy_args.profile));
    let blocked = runtime.block_on(run_async(config, args, verdicts.clone()))?;
    if !blocked.is_empty() && args.fail_on_blocked {
        eprint!("{}", blocked_summary(&blocked));
        let more = verdicts.blocked_not_kept();
        if more > 0 {
            eprintln!("  … and {more} more, evicted from the store (not listed)");
        }
        return Ok(EXIT_BLOCKED);
    }
    Ok(0)
}

/// Everything runs here; returns the blocked verdicts once every output is written.
async fn run_async(
    config: ProxyConfig,
    args: &HeadlessArgs,
    verdicts: Arc<Verdicts>,
) -> anyhow::Result<Vec<Arc<Verdict>>> {
    let ca =
        Arc::new(CertificateAuthority::load_or_create(&config.data_dir).context("loading the CA")?);
    let store = Arc::new(Store::default());
    let output = open_output(args.jsonl.as_deref()).await?;
    let ca_path = ca.paths().cert.clone();
    let proxy = Proxy::bind(config, ca, store.clone()).await?;
    tracing::info!(
        "corscope listening on http://{} (CA certificate: {})",
        proxy.local_addr(),
        ca_path.display()
    );
    let har = args.har.clone().map(|path| HarTarget {
        path,
        store: store.clone(),
        verdicts: verdicts.clone(),
        options: args.export.options(),
    });
    let stop_follow = CancellationToken::new();
    let follower = tokio::spawn(live::follow(
        store.clone(),
        verdicts.clone(),
        stop_follow.clone(),
    ));
    let stop_writer = CancellationToken::new();
    let writer = output.map(|out| {
        tokio::spawn(write_jsonl(
            store.clone(),
            verdicts.clone(),
            out,
            stop_writer.clone(),
        ))
    });
    let stop_periodic = CancellationToken::new();
    let periodic = match (&har, args.har_every) {
        (Some(target), Some(secs)) => Some(tokio::spawn(rewrite_every(
            target.clone(),
            Duration::from_secs(secs.max(1)),
            stop_periodic.clone(),
        ))),
        _ => None,
    };
    let shutdown = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy.run(shutdown.clone()));
    tokio::select! {
        () = wait_for_signal() => tracing::info!("signal received: shutting down"),
        () = idle(&store, args.exit_after_idle) => tracing::info!("idle: shutting down"),
    }
    shutdown.cancel();
    proxy_task.await.context("proxy task failed")?;
    // The proxy has drained: settle pending verdicts before writing anything final.
    stop_follow.cancel();
    follower.await.context("verdict task failed")?;
    stop_periodic.cancel();
    if let Some(task) = periodic {
        task.await.context("HAR writer failed")?;
    }
    stop_writer.cancel();
    if let Some(writer) = writer {
        writer
            .await
            .context("JSON lines writer failed")?
            .context("writing JSON lines")?;
    }
    if let Some(target) = har {
        let path = target.path.clone();
        tokio::task::spawn_blocking(move || target.write())
            .await
            .context("HAR writer failed")?
            .with_context(|| format!("writing HAR {}", path.display()))?;
    }
    Ok(verdicts.blocked())
}

/// Where and how the session's HAR is written.
#[derive(Clone)]
struct HarTarget {
    path: PathBuf,
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    options: ExportOptions,
}

impl HarTarget {
    fn write(&self) -> Result<(), ExportError> {
        let snapshot = self.store.snapshot();
        let har = export::build(
            &snapshot.exchanges,
            |id| self.verdicts.get(id),
            self.verdicts.profile(),
            &self.options,
        );
        export::write_atomic(&self.path, &har)
    }
}

/// `--har-every`: rewrite the HAR when something changed since the last write.
async fn rewrite_every(target: HarTarget, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut written = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let version = (
            target.store.version(),
            *target.verdicts.subscribe().borrow(),
        );
        if written == Some(version) {
            continue;
        }
        let t = target.clone();
        match tokio::task::spawn_blocking(move || t.write()).await {
            Ok(Ok(())) => written = Some(version),
            Ok(Err(e)) => tracing::warn!(error = %e, "periodic HAR write failed"),
            Err(e) => tracing::warn!(error = %e, "periodic HAR write failed"),
        }
    }
}

/// Resolves after `secs` without a change in the store (never when `secs` is `None`).
async fn idle(store: &Store, secs: Option<u64>) {
    let Some(secs) = secs else {
        return std::future::pending().await;
    };
    let mut changes = store.subscribe();
    loop {
        match tokio::time::timeout(Duration::from_secs(secs), changes.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return std::future::pending().await,
            Err(_) => return,
        }
    }
}

/// The stderr summary of `--fail-on-blocked`: one block per blocked exchange.
pub fn blocked_summary(blocked: &[Arc<Verdict>]) -> String {
    let mut out = format!(
        "corscope: {} blocked CORS exchange{}:\n",
        blocked.len(),
        if blocked.len() == 1 { "" } else { "s" }
    );
    for v in blocked {
        let stage = v
            .outcome
            .stage()
            .map(|s| format!(" at {}", stage_word(s)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  #{} {} {} from origin {} — blocked{stage}\n",
            v.exchange,
            v.method,
            v.url,
            v.origin.as_deref().unwrap_or("(none)")
        ));
        let why = v.chrome_message.as_deref().unwrap_or(&v.explanation);
        out.push_str(&format!("      {why}\n"));
        if let Some(fix) = &v.fix {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    out
}

/// A digest of one JSON line, to tell whether the same line was already written.
fn line_digest(line: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

fn stage_word(stage: Stage) -> &'static str {
    match stage {
        Stage::Preflight => "preflight",
        Stage::Actual => "actual",
        Stage::Redirect => "redirect",
    }
}

type Output = Box<dyn AsyncWrite + Send + Unpin>;

async fn open_output(path: Option<&Path>) -> anyhow::Result<Option<Output>> {
    let Some(path) = path else {
        return Ok(None);
    };
    if path == Path::new("-") {
        return Ok(Some(Box::new(tokio::io::stdout())));
    }
    let file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(Some(Box::new(file)))
}

pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Follow the verdict change log (and the store's events) and write JSON lines until
/// `stop`, then write whatever is left and flush. Run [`live::follow`] beside it, and stop
/// this writer only after the follower returned, so settled verdicts are written too.
pub async fn write_jsonl<W>(
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    mut out: W,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut store_changes = store.subscribe();
    let mut verdict_changes = verdicts.subscribe();
    let mut state = WriterState {
        event: 1,
        change: 1,
        written: HashMap::new(),
    };
    loop {
        write_new(&store, &verdicts, &mut state, &mut out).await?;
        tokio::select! {
            changed = store_changes.changed() => if changed.is_err() { break },
            changed = verdict_changes.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
        // Let a burst of changes gather into one write.
        tokio::select! {
            () = tokio::time::sleep(crate::live::COALESCE) => {}
            () = stop.cancelled() => break,
        }
    }
    write_new(&store, &verdicts, &mut state, &mut out).await?;
    out.flush().await
}

struct WriterState {
    event: u64,
    change: u64,
    /// A digest of the line last written per exchange, so an unchanged one is not repeated.
    written: HashMap<ExchangeId, u64>,
}

async fn write_new<W: AsyncWrite + Unpin>(
    store: &Store,
    verdicts: &Verdicts,
    state: &mut WriterState,
    out: &mut W,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let events = store.events_since(state.event, JSONL_BATCH);
        for (i, event) in events.items.iter().enumerate() {
            let line = EventLine {
                kind: "event",
                seq: events.next - (events.items.len() - i) as u64,
                event,
            };
            serde_json::to_writer(&mut buf, &line)?;
            buf.push(b'\n');
        }
        state.event = events.next;
        let changes = verdicts.changes_since(state.change, JSONL_BATCH);
        if changes.missed > 0 {
            tracing::warn!(
                missed = changes.missed,
                "JSON lines fell behind the verdict log's cap"
            );
        }
        state.change = changes.next;
        for id in &changes.ids {
            let (Some(verdict), Some(exchange)) = (verdicts.get(*id), store.get(*id)) else {
                continue;
            };
            let start = buf.len();
            serde_json::to_writer(&mut buf, &ExchangeLine::new(&exchange, Some(&verdict)))?;
            buf.push(b'\n');
            let digest = line_digest(&buf[start..]);
            if state.written.insert(*id, digest) == Some(digest) {
                // The same line was written before: the verdict did not change.
                buf.truncate(start);
            }
        }
        if state.written.len() > crate::capture::store::MAX_EXCHANGES {
            let first = store.first_id();
            state.written.retain(|id, _| *id >= first);
        }
        if !buf.is_empty() {
            out.write_all(&buf).await?;
            buf.clear();
        }
        if changes.ids.len() < JSONL_BATCH && events.items.len() < JSONL_BATCH {
            return out.flush().await;
        }
    }
}

#[derive(Serialize)]
struct EventLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    #[serde(flatten)]
    event: &'a Event,
}

/// One exchange and its verdict as a JSON line.
#[derive(Serialize)]
pub struct ExchangeLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    connection_id: u64,
    started: String,
    client_addr: Option<&'a str>,
    server_ip: Option<&'a str>,
    request: RequestLine<'a>,
    response: Option<ResponseLine<'a>>,
    timings: &'a Timings,
    error: Option<&'a str>,
    synthetic_response: bool,
    #[serde(flatten)]
    cors: VerdictLine<'a>,
}

/// The verdict fields of a line: the same names and values as `corscope analyze --json`.
#[derive(Serialize)]
struct VerdictLine<'a> {
    verdict: &'static str,
    stage: Option<Stage>,
    kind: Option<Kind>,
    role: Option<Role>,
    paired_with: Option<ExchangeId>,
    preflight: Option<PreflightUse>,
    redirect: Option<&'a RedirectInfo>,
    origin: Option<&'a str>,
    credentials: Option<&'a Credentials>,
    chrome_error: Option<&'static str>,
    chrome_message: Option<&'a str>,
    firefox_reason: Option<&'a FirefoxReason>,
    explanation: Option<&'a str>,
    diff: &'a [DiffItem],
    fix: Option<&'a str>,
    lints: &'a [Lint],
    readable_headers: Option<&'a [String]>,
    other_outcome: Option<&'a OtherOutcome>,
    notes: &'a [String],
}

impl<'a> VerdictLine<'a> {
    fn new(v: Option<&'a Verdict>) -> Self {
        Self {
            verdict: v.map_or("unknown", |v| v.outcome.label()),
            stage: v.and_then(|v| v.outcome.stage()),
            kind: v.map(|v| v.kind),
            role: v.and_then(|v| v.role),
            paired_with: v.and_then(|v| v.paired_with),
            preflight: v.and_then(|v| v.preflight),
            redirect: v.and_then(|v| v.redirect.as_ref()),
            origin: v.and_then(|v| v.origin.as_deref()),
            credentials: v.and_then(|v| v.credentials.as_ref()),
            chrome_error: v.and_then(|v| v.chrome_error),
            chrome_message: v.and_then(|v| v.chrome_message.as_deref()),
            firefox_reason: v.and_then(|v| v.firefox_reason.as_ref()),
            explanation: v.map(|v| v.explanation.as_str()),
            diff: v.map_or(&[], |v| v.diff.as_slice()),
            fix: v.and_then(|v| v.fix.as_deref()),
            lints: v.map_or(&[], |v| v.lints.as_slice()),
            readable_headers: v.and_then(|v| v.readable_headers.as_deref()),
            other_outcome: v.and_then(|v| v.other_outcome.as_ref()),
            notes: v.map_or(&[], |v| v.notes.as_slice()),
        }
    }
}

#[derive(Serialize)]
struct RequestLine<'a> {
    method: &'a str,
    url: &'a str,
    http_version: &'a str,
    headers: &'a HeaderList,
    body_size: u64,
    body_captured: usize,
}

#[derive(Serialize)]
struct ResponseLine<'a> {
    status: u16,
    status_text: &'a str,
    http_version: &'a str,
    headers: &'a HeaderList,
    body_size: u64,
    body_captured: usize,
}

impl<'a> ExchangeLine<'a> {
    /// The line for `e` with its verdict (`unknown` when it has none).
    pub fn new(e: &'a Exchange, verdict: Option<&'a Verdict>) -> Self {
        Self {
            kind: "exchange",
            id: e.id,
            connection_id: e.connection_id,
            started: e
                .started
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            client_addr: e.client_addr.as_deref(),
            server_ip: e.server_ip.as_deref(),
            request: RequestLine {
                method: &e.request.method,
                url: &e.request.url,
                http_version: &e.request.http_version,
                headers: &e.request.headers,
                body_size: e.request.body.total_size,
                body_captured: e.request.body.captured.len(),
            },
            response: e.response.as_ref().map(|r| ResponseLine {
                status: r.status,
                status_text: &r.status_text,
                http_version: &r.http_version,
                headers: &r.headers,
                body_size: r.body.total_size,
                body_captured: r.body.captured.len(),
            }),
            timings: &e.timings,
            error: e.error.as_deref(),
            synthetic_response: e.synthetic_response,
            cors: VerdictLine::new(verdict),
        }
    }
}

/// `corscope ca ...`; returns the exit code.
pub fn ca(proxy_args: &ProxyArgs, args: &CaArgs) -> anyhow::Result<i32> {
    crate::logging::init_stderr();
    let data_dir = match &proxy_args.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let mut stdout = std::io::stdout().lock();
    match args.action {
        CaAction::Path => {
            let ca = CertificateAuthority::load_or_create(&data_dir)?;
            writeln!(stdout, "{}", ca.paths().cert.display())?;
        }
        CaAction::Export { format } => {
            let ca = CertificateAuthority::load_or_create(&data_dir)?;
            match format {
                CertFormat::Pem => stdout.write_all(ca.cert_pem().as_bytes())?,
                CertFormat::Der => stdout.write_all(ca.cert_der().as_ref())?,
            }
        }
        CaAction::Regenerate { yes } => {
            if !yes {
                eprintln!(
                    "corscope: this replaces the CA in {}; browsers that trust the old one \
                     must import the new one. Run again with --yes to do it.",
                    data_dir.display()
                );
                return Ok(2);
            }
            let ca = CertificateAuthority::regenerate(&data_dir)?;
            writeln!(stdout, "{}", ca.paths().cert.display())?;
        }
    }
    stdout.flush()?;
    Ok(0)
}
