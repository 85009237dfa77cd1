//! `corscope demo`: local origins with good and broken CORS set-ups, the proxy, the live
//! verdicts and the UI, so a newcomer sees corscope's verdicts within a minute of cloning
//! it. Without a browser, browser-like traffic is generated through the proxy; with
//! `--browser` a real browser opens the demo page through the proxy instead.

pub mod scenarios;
pub mod server;
pub mod traffic;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::capture::store::Store;
use crate::cli::{DemoArgs, ProxyArgs};
use crate::config::ProxyConfig;
use crate::live::{self, Verdicts};
use crate::proxy::Proxy;
use crate::tls::ca::CertificateAuthority;
use crate::tui::app::StatusInfo;

/// How long headless mode waits for the last verdicts after the traffic is done.
const SETTLE: Duration = Duration::from_millis(300);

/// Run the demo; returns the exit code.
pub fn run(proxy_args: &ProxyArgs, args: &DemoArgs) -> anyhow::Result<i32> {
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !args.headless && !terminal {
        anyhow::bail!(
            "the demo's UI needs a terminal; without one use `corscope demo --headless --jsonl -`"
        );
    }
    let config = ProxyConfig::from_args(proxy_args)?;
    if args.headless {
        crate::logging::init_stderr();
    } else {
        crate::logging::init_file(&config.data_dir.join("corscope.log"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(config, proxy_args.profile, args))
}

async fn run_async(
    config: ProxyConfig,
    profile: crate::cors::Profile,
    args: &DemoArgs,
) -> anyhow::Result<i32> {
    let ca =
        Arc::new(CertificateAuthority::load_or_create(&config.data_dir).context("loading the CA")?);
    let (stop_servers, servers_rx) = tokio::sync::watch::channel(false);
    let demo = server::start(std::net::Ipv4Addr::LOCALHOST.into(), servers_rx)
        .await
        .context("starting the demo origins")?;
    let store = Arc::new(Store::default());
    let verdicts = Arc::new(Verdicts::new(profile));
    let ca_der = ca.cert_der().to_vec();
    let ca_pem = ca.paths().cert.clone();
    let data_dir = config.data_dir.clone();
    let proxy = Proxy::bind(config, ca, store.clone()).await?;
    let replayer =
        crate::replay::Replayer::with_tls(store.clone(), verdicts.clone(), proxy.upstream_tls());
    let proxy_addr = proxy.local_addr();
    let shutdown = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy.run(shutdown.clone()));
    let follower = tokio::spawn(live::follow(
        store.clone(),
        verdicts.clone(),
        shutdown.clone(),
    ));
    let page = demo.page_origin();
    let mut browser = None;
    let traffic = if args.browser {
        let (kind, exe) = crate::browser::find(None)?;
        let opts = crate::browser::LaunchOptions {
            proxy: proxy_addr,
            ca_der,
            ca_pem_path: ca_pem,
            headless: args.headless,
            url: Some(format!("{page}/")),
        };
        browser = Some(crate::browser::launch(kind, &exe, &opts)?);
        None
    } else {
        let api = demo.api_origin();
        let page = page.clone();
        Some(tokio::spawn(async move {
            traffic::run_all(proxy_addr, &page, &api, profile).await
        }))
    };
    let result = if args.headless {
        let mut demo = demo.clone();
        match traffic {
            Some(t) => {
                let _ = t.await;
            }
            // A real browser posts the page's results when its fetches are done.
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(60), demo.wait_results()).await;
            }
        }
        tokio::time::sleep(SETTLE).await;
        shutdown.cancel();
        let _ = follower.await;
        write_verdicts(&store, &verdicts, args.jsonl.as_deref())
    } else {
        let status = StatusInfo {
            listen: proxy_addr.to_string(),
            ca_hint: format!(
                "demo page {page}/ (open it with `{} {page}/`)",
                crate::tui::run::browser_command(&proxy_addr.to_string(), &data_dir)
            ),
            ..StatusInfo::default()
        };
        crate::tui::run::run_ui(store, verdicts, status, Some(Arc::new(replayer))).await
    };
    if let Some(mut b) = browser {
        let _ = b.child.kill().await;
    }
    shutdown.cancel();
    let _ = stop_servers.send(true);
    let _ = proxy_task.await;
    result.map(|()| 0)
}

/// One JSON line per exchange, in the same shape as `corscope headless --jsonl`.
fn write_verdicts(
    store: &Store,
    verdicts: &Verdicts,
    path: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut out: Box<dyn std::io::Write> = match path {
        None => Box::new(std::io::stdout().lock()),
        Some(p) if p == std::path::Path::new("-") => Box::new(std::io::stdout().lock()),
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
    };
    for ex in store.snapshot().exchanges {
        let v = verdicts.get(ex.id);
        serde_json::to_writer(
            &mut out,
            &crate::headless::ExchangeLine::new(&ex, v.as_deref()),
        )?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
