//! `corscope headless` (the proxy without a UI, exchanges as JSON lines) and
//! `corscope ca` (the local CA).
//!
//! JSON lines: one object per line, `"type": "exchange"` for each completed exchange and
//! `"type": "event"` for events (e.g. a client that rejected corscope's certificate). The
//! writer follows the store by cursor, so a slow output never slows the proxy and never
//! skips an exchange unless the store's cap evicted it first (then a warning says so).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::capture::event::Event;
use crate::capture::exchange::{Exchange, HeaderList, Timings};
use crate::capture::store::Store;
use crate::cli::{CaAction, CaArgs, CertFormat, HeadlessArgs, ProxyArgs};
use crate::config::{default_data_dir, ProxyConfig};
use crate::proxy::Proxy;
use crate::tls::ca::CertificateAuthority;

/// Exchanges read from the store per batch while writing JSON lines.
const JSONL_BATCH: usize = 256;

/// Run the proxy until Ctrl-C / SIGTERM; returns the exit code.
pub fn run(proxy_args: &ProxyArgs, args: &HeadlessArgs) -> anyhow::Result<i32> {
    crate::logging::init_stderr();
    let config = ProxyConfig::from_args(proxy_args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(config, args.jsonl.clone()))?;
    Ok(0)
}

async fn run_async(config: ProxyConfig, jsonl: Option<PathBuf>) -> anyhow::Result<()> {
    let ca =
        Arc::new(CertificateAuthority::load_or_create(&config.data_dir).context("loading the CA")?);
    let store = Arc::new(Store::default());
    let output = open_output(jsonl.as_deref()).await?;
    let ca_path = ca.paths().cert.clone();
    let proxy = Proxy::bind(config, ca, store.clone()).await?;
    tracing::info!(
        "corscope listening on http://{} (CA certificate: {})",
        proxy.local_addr(),
        ca_path.display()
    );
    let stop_writer = CancellationToken::new();
    let writer =
        output.map(|out| tokio::spawn(write_jsonl(store.clone(), out, stop_writer.clone())));
    let shutdown = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy.run(shutdown.clone()));
    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    proxy_task.await.context("proxy task failed")?;
    stop_writer.cancel();
    if let Some(writer) = writer {
        writer
            .await
            .context("JSON lines writer failed")?
            .context("writing JSON lines")?;
    }
    Ok(())
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

/// Follow the store and write every exchange and event as a JSON line until `stop`,
/// then write whatever is left and flush.
pub async fn write_jsonl<W>(
    store: Arc<Store>,
    mut out: W,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut changes = store.subscribe();
    let mut cursors = Cursors {
        exchange: 1,
        event: 1,
    };
    loop {
        write_new(&store, &mut cursors, &mut out).await?;
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
    write_new(&store, &mut cursors, &mut out).await?;
    out.flush().await
}

struct Cursors {
    exchange: u64,
    event: u64,
}

async fn write_new<W: AsyncWrite + Unpin>(
    store: &Store,
    cursors: &mut Cursors,
    out: &mut W,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let events = store.events_since(cursors.event, JSONL_BATCH);
        for (i, event) in events.items.iter().enumerate() {
            let line = EventLine {
                kind: "event",
                seq: events.next - (events.items.len() - i) as u64,
                event,
            };
            serde_json::to_writer(&mut buf, &line)?;
            buf.push(b'\n');
        }
        cursors.event = events.next;
        let batch = store.exchanges_since(cursors.exchange, JSONL_BATCH);
        if batch.missed > 0 {
            tracing::warn!(
                missed = batch.missed,
                "JSON lines fell behind the store's cap"
            );
        }
        cursors.exchange = batch.next;
        for exchange in &batch.items {
            serde_json::to_writer(&mut buf, &ExchangeLine::from(exchange.as_ref()))?;
            buf.push(b'\n');
        }
        if !buf.is_empty() {
            out.write_all(&buf).await?;
            buf.clear();
        }
        if batch.items.len() < JSONL_BATCH && events.items.len() < JSONL_BATCH {
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

/// One exchange as a JSON line.
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

impl<'a> From<&'a Exchange> for ExchangeLine<'a> {
    fn from(e: &'a Exchange) -> Self {
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
