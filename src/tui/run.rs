//! The interactive mode: the proxy, the live verdicts and the UI, driven by one
//! `tokio::select!` over terminal events, verdict changes, a frame clock and shutdown.
//! The proxy never waits on the UI: the UI reads the store and the verdicts when it draws.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseButton, MouseEventKind};
use futures_util::StreamExt as _;
use ratatui::layout::Rect;
use tokio_util::sync::CancellationToken;

use super::app::{App, Effect, StatusInfo};
use super::detail::Detail;
use super::feed::Feed;
use super::terminal::{TerminalGuard, Tui};
use super::{curl, rows, view};
use crate::capture::store::Store;
use crate::cli::ProxyArgs;
use crate::config::ProxyConfig;
use crate::live::{self, Verdicts};
use crate::proxy::Proxy;
use crate::replay::Replayer;
use crate::tls::ca::CertificateAuthority;

/// Shortest time between two frames (about 30 frames a second at most).
pub const FRAME: Duration = Duration::from_millis(33);

/// `corscope browser` with what it needs to find a proxy on `listen` whose CA is in
/// `data_dir`: each option only when it differs from the default.
pub(crate) fn browser_command(listen: &str, data_dir: &Path) -> String {
    let mut command = String::from("corscope browser");
    if listen != crate::cli::DEFAULT_LISTEN {
        command.push_str(&format!(" --listen {listen}"));
    }
    if crate::config::default_data_dir().ok().as_deref() != Some(data_dir) {
        let dir = data_dir.display().to_string();
        command.push_str(&format!(" --data-dir {}", curl::sh_word(&dir)));
    }
    command
}

/// Commands that send traffic through this proxy, for the empty list: `corscope browser`
/// and curl told the CA to trust.
fn try_commands(listen: &str, data_dir: &Path, ca: &Path) -> Vec<String> {
    let ca = ca.display().to_string();
    vec![
        format!(
            "{} [URL]    # a browser profile that uses this proxy and trusts its CA",
            browser_command(listen, data_dir)
        ),
        format!(
            "curl -x http://{listen} --cacert {} URL",
            curl::sh_word(&ca)
        ),
    ]
}

/// `corscope` with no subcommand: proxy + live verdicts + UI.
pub fn run(args: &ProxyArgs) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the interactive UI needs a terminal; for scripts and CI use \
             `corscope headless --jsonl -`"
        );
    }
    let config = ProxyConfig::from_args(args)?;
    let data_dir = config.data_dir.clone();
    let log = config.data_dir.join("corscope.log");
    crate::logging::init_file(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let ca = Arc::new(
            CertificateAuthority::load_or_create(&config.data_dir).context("loading the CA")?,
        );
        let store = Arc::new(Store::default());
        let verdicts = Arc::new(Verdicts::new(args.profile));
        let ca_path = ca.paths().cert.clone();
        let proxy = Proxy::bind(config, ca, store.clone()).await?;
        let replayer = Replayer::with_tls(store.clone(), verdicts.clone(), proxy.upstream_tls());
        let listen = proxy.local_addr().to_string();
        let status = StatusInfo {
            try_commands: try_commands(&listen, &data_dir, &ca_path),
            listen,
            ca_hint: format!("CA {}", ca_path.display()),
            ..StatusInfo::default()
        };
        let shutdown = CancellationToken::new();
        let proxy_task = tokio::spawn(proxy.run(shutdown.clone()));
        let follower = tokio::spawn(live::follow(
            store.clone(),
            verdicts.clone(),
            shutdown.clone(),
        ));
        let result = run_ui(store, verdicts, status, Some(Arc::new(replayer))).await;
        shutdown.cancel();
        let _ = proxy_task.await;
        let _ = follower.await;
        result.map(|()| 0)
    })
}

/// Own the terminal and run the UI over `store` and `verdicts` until the user quits.
///
/// `replayer` resends requests for the `r` key (`None`: the key says it is not available).
pub async fn run_ui(
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    status: StatusInfo,
    replayer: Option<Arc<Replayer>>,
) -> anyhow::Result<()> {
    let mut guard = TerminalGuard::enter().context("setting up the terminal")?;
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ui = Ui {
        app: App::new(verdicts.profile(), status),
        store,
        verdicts,
        feed: Feed::default(),
        detail: None,
        detail_stale: true,
        replayer,
        done_tx,
        done_rx,
    };
    let result = ui.event_loop(&mut guard.terminal).await;
    drop(guard);
    result
}

struct Ui {
    app: App,
    store: Arc<Store>,
    verdicts: Arc<Verdicts>,
    feed: Feed,
    detail: Option<Detail>,
    detail_stale: bool,
    replayer: Option<Arc<Replayer>>,
    /// Background work (resends) reports here with a line for the status bar.
    done_tx: tokio::sync::mpsc::UnboundedSender<String>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Ui {
    async fn event_loop(&mut self, term: &mut Tui) -> anyhow::Result<()> {
        let mut events = EventStream::new();
        let mut verdict_changes = self.verdicts.subscribe();
        let mut store_changes = self.store.subscribe();
        let mut frame = tokio::time::interval(FRAME);
        frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        let area = term.size().map(|s| Rect::new(0, 0, s.width, s.height))?;
                        if let Some(effect) = self.on_event(ev, area) {
                            if !self.apply(effect, term)? {
                                return Ok(());
                            }
                        }
                        dirty = true;
                    }
                    Some(Err(e)) => return Err(e).context("reading terminal input"),
                    None => return Ok(()),
                },
                Some(line) = self.done_rx.recv() => {
                    self.app.flash = Some(line);
                    dirty = true;
                }
                _ = verdict_changes.changed() => dirty = true,
                _ = store_changes.changed() => dirty = true,
                _ = frame.tick() => {
                    if dirty {
                        dirty = self.sync();
                        self.draw(term)?;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event, area: Rect) -> Option<Effect> {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.app.on_key(k),
            Event::Mouse(m) => {
                match m.kind {
                    MouseEventKind::ScrollUp => self.app.scroll(-3),
                    MouseEventKind::ScrollDown => self.app.scroll(3),
                    MouseEventKind::Down(MouseButton::Left) => {
                        let list = view::list_area(area);
                        if m.row > list.y && m.row < list.y + list.height.saturating_sub(1) {
                            let pos = self.app.offset() + (m.row - list.y - 1) as usize;
                            self.app.select_visible(pos);
                        }
                    }
                    _ => {}
                }
                None
            }
            _ => None,
        }
    }

    /// Carry out an effect; false means quit.
    fn apply(&mut self, effect: Effect, term: &mut Tui) -> anyhow::Result<bool> {
        match effect {
            Effect::Quit => return Ok(false),
            Effect::ClearStore => {
                self.store.clear();
                self.verdicts.clear();
                self.app.clear_rows();
                self.detail = None;
                self.app.flash = Some("cleared".to_owned());
            }
            Effect::ExportHar(path) => {
                self.app.flash = Some(match self.export(&path) {
                    Ok(n) => {
                        self.app.unsaved = false;
                        format!("exported {n} exchanges to {path}")
                    }
                    Err(e) => format!("export failed: {e:#}"),
                });
            }
            Effect::SetProfile(p) => {
                self.verdicts.set_profile(p);
                self.app.flash = Some(format!("recomputing verdicts as {p:?}").to_lowercase());
            }
            Effect::CopyCurl(id) => {
                if let Some(ex) = self.store.get(id) {
                    let cmd = curl::to_curl(&ex);
                    // OSC 52: the terminal puts it on the clipboard (also over SSH).
                    let b64 = base64::engine::general_purpose::STANDARD.encode(cmd.as_bytes());
                    let backend = term.backend_mut();
                    let _ = write!(backend, "\x1b]52;c;{b64}\x07");
                    let _ = backend.flush();
                    tracing::info!(exchange = id, curl = %cmd, "copied as curl");
                    self.app.flash = Some(format!("copied: {cmd}"));
                }
            }
            Effect::Resend(id) => self.resend(id),
            Effect::Resume => {}
        }
        self.detail_stale = true;
        Ok(true)
    }

    /// Resend exchange `id` in the background; its outcome comes back on `done_rx` and the
    /// new exchanges arrive through the store like any other.
    fn resend(&mut self, id: u64) {
        let Some(replayer) = self.replayer.clone() else {
            self.app.flash = Some("resending is not available here".to_owned());
            return;
        };
        self.app.flash = Some(format!("resending #{id}…"));
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let line = match replayer.resend(id).await {
                Ok(r) => r.summary,
                Err(e) => e.to_string(),
            };
            tracing::info!(exchange = id, "{line}");
            let _ = done.send(line);
        });
    }

    /// Write the session as HAR (redacted by default, like Chrome DevTools).
    fn export(&self, path: &str) -> anyhow::Result<usize> {
        use crate::har::export;
        let snapshot = self.store.snapshot();
        let har = export::build(
            &snapshot.exchanges,
            |id| self.verdicts.get(id),
            self.verdicts.profile(),
            &export::ExportOptions::default(),
        );
        export::write_atomic(std::path::Path::new(path), &har)?;
        Ok(snapshot.exchanges.len())
    }

    /// Bring the list up to date; returns true when more changes wait for the next frame.
    fn sync(&mut self) -> bool {
        let (more, touched) = self.feed.sync(&mut self.app, &self.store, &self.verdicts);
        if touched.is_some_and(|t| {
            t.rebuilt || self.app.selected_id().is_some_and(|id| t.ids.contains(&id))
        }) {
            self.detail_stale = true;
        }
        more
    }

    fn draw(&mut self, term: &mut Tui) -> anyhow::Result<()> {
        let size = term.size()?;
        self.app.list_height = view::list_height(Rect::new(0, 0, size.width, size.height));
        self.app.refresh();
        let selected = self.app.selected_id();
        if self.detail_stale || self.detail.as_ref().map(|d| d.id) != selected {
            self.detail = selected.and_then(|id| self.build_detail(id));
            self.detail_stale = false;
        }
        term.draw(|f| view::draw(f, &self.app, self.detail.as_ref()))?;
        Ok(())
    }

    fn build_detail(&self, id: u64) -> Option<Detail> {
        let ex = self.store.get(id)?;
        let v = self.verdicts.get(id);
        let paired_id = v.as_ref().and_then(|v| v.paired_with);
        let paired = paired_id.and_then(|p| self.store.get(p));
        let paired_v = paired_id.and_then(|p| self.verdicts.get(p));
        Some(rows::detail(
            &ex,
            v.as_deref(),
            paired.as_deref().map(|p| (p, paired_v.as_deref())),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::try_commands;

    /// `corscope browser` is given what it needs to find this proxy and its CA, and only
    /// that; curl is told the CA to trust.
    #[test]
    fn empty_list_commands_reach_this_proxy() {
        // Neither --data-dir nor CORSCOPE_DATA_DIR: the platform's directory.
        let data = crate::config::default_data_dir().unwrap();
        let default = try_commands("127.0.0.1:8080", &data, Path::new("/ca.pem"));
        assert!(
            default[0].starts_with("corscope browser [URL]"),
            "{default:?}"
        );
        assert_eq!(
            default[1],
            "curl -x http://127.0.0.1:8080 --cacert /ca.pem URL"
        );

        let other = try_commands(
            "127.0.0.1:9999",
            Path::new("/elsewhere"),
            Path::new("/elsewhere/ca/corscope-ca.pem"),
        );
        assert!(
            other[0].starts_with(
                "corscope browser --listen 127.0.0.1:9999 --data-dir /elsewhere [URL]"
            ),
            "{other:?}"
        );
        assert_eq!(
            other[1],
            "curl -x http://127.0.0.1:9999 --cacert /elsewhere/ca/corscope-ca.pem URL"
        );

        // A path a shell would split is quoted.
        let spaced = try_commands(
            "127.0.0.1:8080",
            Path::new("/my data"),
            Path::new("/my data/ca/corscope-ca.pem"),
        );
        assert!(spaced[0].contains(" --data-dir '/my data' "), "{spaced:?}");
        assert_eq!(
            spaced[1],
            "curl -x http://127.0.0.1:8080 --cacert '/my data/ca/corscope-ca.pem' URL"
        );
    }
}
