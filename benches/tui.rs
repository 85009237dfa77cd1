//! Cost of one TUI frame with 100,000 exchanges in the list (target: ≤ 5 ms), and of
//! re-filtering them. Rendering goes to ratatui's in-memory TestBackend, so this measures
//! corscope's work, not the terminal's.

use chrono::{TimeZone, Utc};
use corscope::cors::profile::Profile;
use corscope::tui::action::Action;
use corscope::tui::app::{App, StatusInfo};
use corscope::tui::filter::Filter;
use corscope::tui::model::{Badge, Row};
use corscope::tui::view;
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

const N: u64 = 100_000;

fn rows() -> Vec<Row> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .unwrap_or_default();
    (0..N)
        .map(|i| {
            let badge = match i % 5 {
                0 => Badge::Blocked,
                1 => Badge::NotCors,
                _ => Badge::Allowed,
            };
            Row {
                id: i,
                started: t0 + chrono::Duration::milliseconds(i as i64 * 10),
                badge,
                stage: (badge == Badge::Blocked).then_some("actual"),
                method: if i % 3 == 0 { "PUT" } else { "GET" }.into(),
                origin: Some("http://localhost:5173".into()),
                host: format!("api{}.example.test", i % 7),
                path: format!("/v1/items/{i}?page={}", i % 13),
                status: Some(200),
                reason: if badge == Badge::Blocked {
                    "No 'Access-Control-Allow-Origin' header is present on the requested resource."
                        .into()
                } else {
                    String::new()
                },
                is_cors: badge != Badge::NotCors,
                is_preflight: false,
                paired_with: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut app = App::new(Profile::Chrome, StatusInfo::default());
    app.upsert_rows(rows());
    let area = Rect::new(0, 0, 200, 50);
    app.list_height = view::list_height(area);
    app.refresh();
    let Ok(mut term) = Terminal::new(TestBackend::new(area.width, area.height));
    c.bench_function("tui frame, 100k exchanges, following", |b| {
        b.iter(|| term.draw(|f| view::draw(f, &app, None)).map(|_| ()))
    });
    app.update(Action::Top);
    app.update(Action::PageDown);
    c.bench_function("tui frame, 100k exchanges, scrolled", |b| {
        b.iter(|| {
            app.update(Action::Down);
            term.draw(|f| view::draw(f, &app, None)).map(|_| ())
        })
    });
    c.bench_function("re-filter 100k rows (verdict:blocked host:api3)", |b| {
        b.iter(|| {
            if let Ok(f) = Filter::parse("verdict:blocked host:api3") {
                app.filter = f;
            }
            app.upsert_rows(std::iter::empty());
            app.refresh();
            app.visible_len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
