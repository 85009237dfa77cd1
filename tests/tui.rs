//! TUI screens rendered on ratatui's TestBackend: the list with verdict badges, grouping of
//! preflights, filters, the detail tabs and the generated help. Volatile text (clock
//! times) is filtered out of the snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use corscope::capture::{Body, Exchange, HeaderList, RequestRecord, ResponseRecord};
use corscope::cors::profile::Profile;
use corscope::tui::action::Action;
use corscope::tui::app::{App, Effect, Mode, StatusInfo, Tab};
use corscope::tui::detail::{self, Detail};
use corscope::tui::model::{Badge, Row};
use corscope::tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn row(id: u64, badge: Badge, method: &str, path: &str, status: Option<u16>, reason: &str) -> Row {
    Row {
        id,
        started: Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, id as u32 % 60)
            .unwrap(),
        badge,
        stage: (badge == Badge::Blocked).then_some("actual"),
        method: method.into(),
        origin: Some("http://localhost:5173".into()),
        host: "api.example.test".into(),
        path: path.into(),
        status,
        reason: reason.into(),
        is_cors: badge != Badge::NotCors,
        is_preflight: false,
        paired_with: None,
    }
}

fn sample_rows() -> Vec<Row> {
    let mut pf = row(3, Badge::Allowed, "OPTIONS", "/items/7", Some(204), "");
    pf.is_preflight = true;
    pf.paired_with = Some(4);
    let mut put = row(4, Badge::Allowed, "PUT", "/items/7", Some(200), "");
    put.paired_with = Some(3);
    let mut lonely_pf = row(
        5,
        Badge::Blocked,
        "OPTIONS",
        "/admin",
        Some(204),
        "Method DELETE is not allowed by Access-Control-Allow-Methods in preflight response.",
    );
    lonely_pf.is_preflight = true;
    lonely_pf.stage = Some("preflight");
    let mut nav = row(6, Badge::NotCors, "GET", "/", Some(200), "");
    nav.origin = None;
    vec![
        row(1, Badge::Allowed, "GET", "/items", Some(200), ""),
        row(
            2,
            Badge::Blocked,
            "GET",
            "/private",
            Some(200),
            "No 'Access-Control-Allow-Origin' header is present on the requested resource.",
        ),
        pf,
        put,
        lonely_pf,
        nav,
        row(
            7,
            Badge::Pending,
            "OPTIONS",
            "/slow",
            None,
            "waiting for the actual request",
        ),
    ]
}

fn app_with_rows() -> App {
    let mut app = App::new(
        Profile::Chrome,
        StatusInfo {
            listen: "127.0.0.1:8080".into(),
            ca_hint: "CA: corscope ca path".into(),
            ..StatusInfo::default()
        },
    );
    app.upsert_rows(sample_rows());
    app.refresh();
    app
}

fn render(app: &mut App, detail: Option<&Detail>, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.list_height = view::list_height(ratatui::layout::Rect::new(0, 0, w, h));
    app.refresh();
    term.draw(|f| view::draw(f, app, detail)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
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

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn list_shows_badges_and_folds_paired_preflights() {
    let mut app = app_with_rows();
    let screen = render(&mut app, None, 120, 24);
    // The paired preflight (id 3) is folded under its PUT; the lonely one (id 5) shows.
    assert!(screen.contains("+pf"), "{screen}");
    assert_eq!(screen.matches("OPTIONS").count(), 2, "{screen}");
    // Non-CORS navigation hidden by default, but counted.
    assert!(screen.contains("1 non-CORS hidden"), "{screen}");
    assert!(screen.contains("✗"), "blocked badge symbol: {screen}");
    snapshot("list_default", &screen);

    app.update(Action::ToggleFold);
    let unfolded = render(&mut app, None, 120, 24);
    assert_eq!(unfolded.matches("OPTIONS").count(), 3, "{unfolded}");
    app.update(Action::ToggleNonCors);
    let all = render(&mut app, None, 120, 24);
    assert!(all.contains("Exchanges 7/7"), "{all}");
}

#[test]
fn filter_bar_filters_as_you_type_and_reports_errors() {
    let mut app = app_with_rows();
    assert_eq!(app.on_key(key('/')), None);
    for c in "verdict:blocked".chars() {
        app.on_key(key(c));
    }
    let screen = render(&mut app, None, 120, 24);
    assert!(screen.contains("Exchanges 2/7"), "{screen}");
    assert!(!screen.contains("/items "), "{screen}");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.mode, Mode::Normal);
    assert!(render(&mut app, None, 120, 24).contains("filter: verdict:blocked"));

    app.on_key(key('/'));
    for c in " colour:red".chars() {
        app.on_key(key(c));
    }
    let screen = render(&mut app, None, 120, 24);
    assert!(screen.contains("unknown filter key `colour:`"), "{screen}");
    // The last text that parsed stays in force while the rest does not parse.
    assert!(
        screen.contains("filter: verdict:blocked colour "),
        "{screen}"
    );
    assert!(screen.contains("Exchanges 0/7"), "{screen}");
}

#[test]
fn blocked_only_toggle() {
    let mut app = app_with_rows();
    app.update(Action::BlockedOnly);
    app.refresh();
    assert!(app.visible_rows().all(|r| r.badge == Badge::Blocked));
    assert_eq!(app.visible_len(), 2);
}

#[test]
fn navigation_follow_mode_and_selection_stability() {
    let mut app = app_with_rows();
    let last = app.selected_id();
    assert_eq!(last, Some(7), "follow mode selects the newest");
    app.update(Action::Up);
    assert!(!app.follow);
    let picked = app.selected_id();
    // New traffic does not move a selection the user chose.
    app.upsert_rows([row(8, Badge::Allowed, "GET", "/new", Some(200), "")]);
    app.refresh();
    assert_eq!(app.selected_id(), picked);
    app.update(Action::Bottom);
    assert!(app.follow);
    app.upsert_rows([row(9, Badge::Allowed, "GET", "/newer", Some(200), "")]);
    app.refresh();
    assert_eq!(app.selected_id(), Some(9));
    app.update(Action::Top);
    assert_eq!(app.selected_pos(), 0);
}

#[test]
fn pause_clear_quit_and_export_go_through_effects() {
    let mut app = app_with_rows();
    assert_eq!(app.update(Action::Pause), None);
    assert!(app.paused);
    assert_eq!(app.update(Action::Pause), Some(Effect::Resume));

    assert_eq!(app.update(Action::Clear), None);
    assert_eq!(app.on_key(key('n')), None, "n cancels");
    app.update(Action::Clear);
    assert_eq!(app.on_key(key('y')), Some(Effect::ClearStore));

    // Unsaved exchanges: quitting asks first.
    assert_eq!(app.update(Action::Quit), None);
    assert_eq!(app.mode, Mode::Confirm(corscope::tui::app::Confirm::Quit));
    assert_eq!(app.on_key(key('y')), Some(Effect::Quit));

    app.update(Action::Export);
    let Mode::Export { input } = &app.mode else {
        panic!("export prompt")
    };
    assert!(input.ends_with(".har"));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "out.har".chars() {
        app.on_key(key(c));
    }
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        Some(Effect::ExportHar("out.har".into()))
    );
    assert_eq!(
        app.update(Action::SwitchProfile),
        Some(Effect::SetProfile(Profile::Firefox))
    );
    // `y` and `r` act on the selected exchange.
    let selected = app.selected_id().unwrap();
    assert_eq!(app.on_key(key('y')), Some(Effect::CopyCurl(selected)));
    assert_eq!(app.on_key(key('r')), Some(Effect::Resend(selected)));
}

#[test]
fn help_is_generated_from_the_keymap() {
    let mut app = app_with_rows();
    app.update(Action::Help);
    let screen = render(&mut app, None, 120, 40);
    for b in corscope::tui::keymap::BINDINGS {
        assert!(screen.contains(b.help), "help lacks {:?}: {screen}", b.help);
    }
    snapshot("help", &screen);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn detail_tabs_show_request_response_body_and_timing() {
    let mut headers = HeaderList::default();
    headers.push("Origin", "http://localhost:5173");
    headers.push("X-Token", "abc");
    let mut resp_headers = HeaderList::default();
    resp_headers.push("Content-Type", "application/json");
    let ex = Exchange {
        id: 2,
        started: Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 2).unwrap(),
        request: RequestRecord {
            method: "GET".into(),
            url: "http://api.example.test/private".into(),
            http_version: "HTTP/1.1".into(),
            headers,
            body: Body::default(),
        },
        response: Some(ResponseRecord {
            status: 200,
            status_text: "OK".into(),
            http_version: "HTTP/1.1".into(),
            headers: resp_headers,
            body: Body {
                captured: bytes::Bytes::from_static(b"{\"secret\":1}"),
                total_size: 12,
            },
        }),
        ..Default::default()
    };
    let mut d = Detail {
        id: 2,
        ..Default::default()
    };
    d.tabs.insert(Tab::Request, detail::request_lines(&ex));
    d.tabs.insert(Tab::Response, detail::response_lines(&ex));
    d.tabs.insert(Tab::Body, detail::body_lines(&ex));
    d.tabs.insert(Tab::Timing, detail::timing_lines(&ex));

    let mut app = app_with_rows();
    app.update(Action::Top);
    app.update(Action::Down);
    assert_eq!(app.selected_id(), Some(2));
    app.update(Action::Open);
    app.update(Action::NextTab);
    app.update(Action::NextTab);
    assert_eq!(app.tab, Tab::Request);
    let screen = render(&mut app, Some(&d), 120, 30);
    assert!(
        screen.contains("GET http://api.example.test/private HTTP/1.1"),
        "{screen}"
    );
    assert!(screen.contains("X-Token: abc"), "{screen}");
    app.update(Action::NextTab);
    assert!(render(&mut app, Some(&d), 120, 30).contains("HTTP/1.1 200 OK"));
    app.update(Action::NextTab);
    app.update(Action::NextTab);
    assert_eq!(app.tab, Tab::Body);
    let body = render(&mut app, Some(&d), 120, 30);
    assert!(body.contains("\"secret\": 1"), "pretty JSON: {body}");
    app.update(Action::NextTab);
    assert!(render(&mut app, Some(&d), 120, 30).contains("total"));
}
