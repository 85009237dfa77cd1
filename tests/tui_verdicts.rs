//! The UI over real engine verdicts: snapshots of each detail tab for a blocked preflight
//! (80×24 and 160×48), the diff view, an empty screen, a filter applied; and the feed that
//! keeps rows in step with live verdicts, including while the list is paused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use corscope::capture::store::Store;
use corscope::capture::{Exchange, HeaderList, RequestRecord, ResponseRecord};
use corscope::cors::{self, Profile};
use corscope::live::{self, Verdicts};
use corscope::tui::action::Action;
use corscope::tui::app::{App, StatusInfo, Tab};
use corscope::tui::feed::Feed;
use corscope::tui::{rows, view};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio_util::sync::CancellationToken;

const APP: &str = "http://localhost:5173";
const API: &str = "https://api.example.test/v1/items/7";

fn headers(list: &[(&str, &str)]) -> HeaderList {
    let mut h = HeaderList::default();
    for (k, v) in list {
        h.push(*k, *v);
    }
    h
}

fn exchange(
    id: u64,
    ms: i64,
    method: &str,
    req: &[(&str, &str)],
    status: u16,
    resp: &[(&str, &str)],
) -> Exchange {
    Exchange {
        id,
        started: Utc.timestamp_millis_opt(1_764_072_000_000 + ms).unwrap(),
        request: RequestRecord {
            method: method.to_owned().into(),
            url: API.into(),
            http_version: "HTTP/2".into(),
            headers: headers(req),
            ..Default::default()
        },
        response: Some(ResponseRecord {
            status,
            status_text: "".into(),
            http_version: "HTTP/2".into(),
            headers: headers(resp),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A simple allowed GET, then a PUT whose preflight does not allow PUT (never sent).
fn session() -> Vec<Exchange> {
    let cors = [
        ("Origin", APP),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    let mut get = cors.to_vec();
    get.push(("Accept", "*/*"));
    let mut pf = cors.to_vec();
    pf.extend([
        ("Access-Control-Request-Method", "PUT"),
        (
            "Access-Control-Request-Headers",
            "content-type,x-request-id",
        ),
    ]);
    vec![
        exchange(
            1,
            0,
            "GET",
            &get,
            200,
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Content-Type", "application/json"),
            ],
        ),
        exchange(
            2,
            50,
            "OPTIONS",
            &pf,
            204,
            &[
                ("Access-Control-Allow-Origin", APP),
                ("Access-Control-Allow-Methods", "GET, POST"),
                ("Access-Control-Allow-Headers", "content-type"),
            ],
        ),
    ]
}

fn app_for(exchanges: &[Exchange]) -> App {
    let verdicts = cors::analyze(exchanges, Profile::Chrome);
    let mut app = App::new(
        Profile::Chrome,
        StatusInfo {
            listen: "127.0.0.1:8080".into(),
            ca_hint: String::new(),
            ..StatusInfo::default()
        },
    );
    app.upsert_rows(
        exchanges
            .iter()
            .zip(&verdicts)
            .map(|(e, v)| rows::row(e, Some(v))),
    );
    app.refresh();
    app
}

fn render(app: &mut App, exchanges: &[Exchange], w: u16, h: u16) -> String {
    let verdicts = cors::analyze(exchanges, Profile::Chrome);
    let detail = app.selected_id().map(|id| {
        let i = exchanges.iter().position(|e| e.id == id).unwrap();
        rows::detail(&exchanges[i], Some(&verdicts[i]), None)
    });
    let area = ratatui::layout::Rect::new(0, 0, w, h);
    app.list_height = view::list_height(area);
    app.refresh();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view::draw(f, app, detail.as_ref())).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn snapshot(name: &str, screen: &str) {
    insta::with_settings!({filters => vec![(r"\d\d:\d\d:\d\d ", "HH:MM:SS ")]}, {
        insta::assert_snapshot!(name, screen);
    });
}

#[test]
fn blocked_preflight_every_tab_two_sizes() {
    let exchanges = session();
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = app_for(&exchanges);
        assert_eq!(app.selected_id(), Some(2), "follow mode selects the newest");
        app.update(Action::Open);
        for tab in Tab::ALL {
            while app.tab != tab {
                app.update(Action::NextTab);
            }
            let screen = render(&mut app, &exchanges, w, h);
            match tab {
                Tab::Verdict => {
                    assert!(screen.contains("BLOCKED"), "{screen}");
                    assert!(screen.contains("Method PUT is not allowed"), "{screen}");
                }
                Tab::Diff => {
                    assert!(screen.contains("✗"), "{screen}");
                    assert!(screen.contains("GET, POST"), "{screen}");
                }
                _ => {}
            }
            snapshot(
                &format!("blocked_preflight_{}_{w}x{h}", tab.title().to_lowercase()),
                &screen,
            );
        }
    }
}

#[test]
fn empty_screen_says_how_to_start() {
    let mut app = app_for(&[]);
    let screen = render(&mut app, &[], 100, 20);
    assert!(screen.contains("Waiting for traffic"), "{screen}");
    assert!(
        screen.contains("  curl -x http://127.0.0.1:8080 URL"),
        "{screen}"
    );
    snapshot("empty", &screen);

    // The commands the proxy gave are shown as they are.
    let mut app = App::new(
        Profile::Chrome,
        StatusInfo {
            listen: "127.0.0.1:9999".into(),
            try_commands: vec![
                "corscope browser --listen 127.0.0.1:9999 [URL]".into(),
                "curl -x http://127.0.0.1:9999 --cacert /ca.pem URL".into(),
            ],
            ..StatusInfo::default()
        },
    );
    let screen = render(&mut app, &[], 100, 20);
    assert!(
        screen.contains("│  corscope browser --listen 127.0.0.1:9999 [URL]"),
        "{screen}"
    );
    assert!(
        screen.contains("│  curl -x http://127.0.0.1:9999 --cacert /ca.pem URL"),
        "{screen}"
    );
}

#[test]
fn filter_applied() {
    let exchanges = session();
    let mut app = app_for(&exchanges);
    app.filter = corscope::tui::filter::Filter::parse("verdict:blocked method:OPTIONS").unwrap();
    app.update(Action::BlockedOnly);
    app.update(Action::BlockedOnly);
    let screen = render(&mut app, &exchanges, 120, 24);
    assert!(screen.contains("Exchanges 1/2"), "{screen}");
    snapshot("filter_applied", &screen);
}

#[tokio::test]
async fn pausing_the_list_loses_nothing() {
    let store = Arc::new(Store::default());
    let verdicts = Arc::new(Verdicts::new(Profile::Chrome));
    let stop = CancellationToken::new();
    let task = tokio::spawn(live::follow(store.clone(), verdicts.clone(), stop.clone()));
    let mut app = App::new(Profile::Chrome, StatusInfo::default());
    let mut feed = Feed::default();
    app.update(Action::Pause);
    assert!(app.paused);
    let mut rx = verdicts.subscribe();
    let n = 500u64;
    for i in 0..n {
        let mut e = session().remove(0);
        e.started = Utc::now();
        e.request.url = format!("{API}?n={i}");
        store.push(e);
    }
    while verdicts.log_end() < n + 1 {
        rx.changed().await.unwrap();
    }
    feed.sync(&mut app, &store, &verdicts);
    assert_eq!(app.rows().len(), 0, "paused: the list does not move");
    assert_eq!(app.status.unseen, n, "but the new exchanges are counted");
    app.update(Action::Pause);
    feed.sync(&mut app, &store, &verdicts);
    assert_eq!(
        app.rows().len() as u64,
        n,
        "resumed: every exchange is there"
    );
    assert_eq!(app.status.unseen, 0);
    // A profile switch recomputes every verdict; the rows are rebuilt, none lost.
    let before = verdicts.changes_since(1, 1).generation;
    verdicts.set_profile(Profile::Spec);
    while verdicts.changes_since(1, 1).generation == before {
        rx.changed().await.unwrap();
    }
    feed.sync(&mut app, &store, &verdicts);
    assert_eq!(app.rows().len() as u64, n);
    assert_eq!(app.profile, Profile::Spec);
    stop.cancel();
    task.await.unwrap();
}

#[test]
fn help_at_two_sizes() {
    let exchanges = session();
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = app_for(&exchanges);
        app.update(Action::Help);
        let screen = render(&mut app, &exchanges, w, h);
        assert!(screen.contains("Keys"), "{screen}");
        snapshot(&format!("help_{w}x{h}"), &screen);
    }
}

#[test]
fn rows_of_evicted_exchanges_go_in_batches_and_the_selection_stays() {
    let mut app = App::new(Profile::Chrome, StatusInfo::default());
    app.show_non_cors = true;
    let rows: Vec<_> = (1..=100u64)
        .map(|id| {
            let mut e = exchange(id, id as i64, "GET", &[], 200, &[]);
            e.request.url = format!("{API}?n={id}");
            rows::row(&e, None)
        })
        .collect();
    app.upsert_rows(rows);
    app.refresh();
    for _ in 0..30 {
        app.update(Action::Up);
    }
    let selected = app.selected_id().unwrap();
    assert_eq!(selected, 70);
    // Fewer than a quarter evicted: kept until a batch is worth re-indexing.
    app.forget_rows_before(20);
    assert_eq!(app.rows().len(), 100);
    app.forget_rows_before(41);
    assert_eq!(app.rows().len(), 60);
    assert_eq!(app.rows()[0].id, 41);
    assert_eq!(app.selected_id(), Some(selected));
    assert_eq!(app.row(70).map(|r| r.id), Some(70));
    assert!(app.row(40).is_none());
}
