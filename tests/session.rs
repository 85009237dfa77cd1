//! The incremental engine (push + tick, as the live proxy drives it) must reach the same
//! verdicts as the batch analysis once everything has settled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use corscope::cors::{self, Config, Profile, Session, Verdict};
use corscope::har::import::import_slice;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(name: &str) -> Vec<corscope::capture::Exchange> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chromium")
        .join(name);
    import_slice(&std::fs::read(p).unwrap()).unwrap().exchanges
}

fn incremental(exs: &[corscope::capture::Exchange], profile: Profile) -> Vec<Verdict> {
    let mut s = Session::new(Config::new(profile));
    let mut latest: HashMap<u64, Arc<Verdict>> = HashMap::new();
    for ex in exs {
        for v in s.tick(ex.started_ms()) {
            latest.insert(v.exchange, v);
        }
        for v in s.push(ex) {
            latest.insert(v.exchange, v);
        }
    }
    for v in s.finish() {
        latest.insert(v.exchange, v);
    }
    // What was reported through push/tick/finish must equal the session's final state.
    for v in s.verdicts() {
        assert_eq!(
            latest.get(&v.exchange).map(|l| &**l),
            Some(&*v),
            "stale report for {}",
            v.exchange
        );
    }
    s.into_verdicts()
}

#[test]
fn incremental_equals_batch_on_fixtures() {
    for name in [
        "chromium-baseline.har",
        "random-seed-1.har",
        "random-seed-2.har",
    ] {
        let exs = fixture(name);
        for profile in [Profile::Chrome, Profile::Firefox, Profile::Spec] {
            let batch = cors::analyze(&exs, profile);
            let inc = incremental(&exs, profile);
            assert_eq!(batch.len(), inc.len());
            for (b, i) in batch.iter().zip(&inc) {
                assert_eq!(b, i, "{name} {profile:?} entry {}", b.exchange);
            }
        }
    }
}

#[test]
fn batch_is_order_independent() {
    let exs = fixture("chromium-baseline.har");
    let forward = cors::analyze(&exs, Profile::Chrome);
    let mut rev = exs.clone();
    rev.reverse();
    let backward = cors::analyze(&rev, Profile::Chrome);
    for (i, v) in backward.iter().enumerate() {
        assert_eq!(v.exchange, rev[i].id);
    }
    let mut backward = backward;
    backward.reverse();
    for (f, b) in forward.iter().zip(&backward) {
        assert!(
            f == b,
            "entry {} differs when the input is reversed",
            f.exchange
        );
    }
}

/// A live session releases the state of exchanges nothing can link to any more; that must
/// not change a single verdict it reports.
#[test]
fn releasing_settled_state_changes_no_verdict() {
    for name in [
        "chromium-baseline.har",
        "random-seed-1.har",
        "random-seed-2.har",
    ] {
        let exs = fixture(name);
        let mut ordered = exs.clone();
        ordered.sort_by_key(|e| (e.started_ms(), e.id));
        for profile in [Profile::Chrome, Profile::Firefox, Profile::Spec] {
            let batch = cors::analyze(&exs, profile);
            let mut cfg = Config::new(profile);
            cfg.release_settled = true;
            let mut s = Session::new(cfg);
            let mut latest: HashMap<u64, Arc<Verdict>> = HashMap::new();
            for ex in &ordered {
                latest.extend(s.tick(ex.started_ms()).into_iter().map(|v| (v.exchange, v)));
                latest.extend(s.push(ex).into_iter().map(|v| (v.exchange, v)));
            }
            latest.extend(s.finish().into_iter().map(|v| (v.exchange, v)));
            assert_eq!(latest.len(), batch.len(), "{name}");
            for b in &batch {
                assert_eq!(
                    latest.get(&b.exchange).map(|l| &**l),
                    Some(b),
                    "{name} {profile:?}"
                );
            }
        }
    }
}

/// Verdicts that stand alone are exactly what judging their exchange alone gives, which
/// is what lets the live verdict table keep only the exchange for them.
#[test]
fn standalone_verdicts_are_recomputable() {
    let mut checked = 0;
    let mut cors_checked = 0;
    for name in [
        "chromium-baseline.har",
        "random-seed-1.har",
        "random-seed-2.har",
    ] {
        let exs = fixture(name);
        for profile in [Profile::Chrome, Profile::Firefox, Profile::Spec] {
            for v in cors::analyze(&exs, profile) {
                if !v.stands_alone() {
                    continue;
                }
                let ex = exs.iter().find(|e| e.id == v.exchange).unwrap();
                assert_eq!(
                    cors::judge_alone(ex, Config::new(profile)).as_ref(),
                    Some(&v)
                );
                checked += 1;
                cors_checked += usize::from(v.kind == cors::classify::Kind::Cors);
            }
        }
    }
    assert!(checked > 0, "no standalone verdict in the fixtures");
    assert!(
        cors_checked > 0,
        "no allowed simple CORS request in the fixtures"
    );
}

/// Hours of mixed traffic: the state held stays that of the pairing window, not the total.
#[test]
fn live_session_state_is_bounded_by_the_window() {
    use corscope::capture::{Exchange, HeaderList, RequestRecord, ResponseRecord};
    let mut cfg = Config::new(Profile::Chrome);
    cfg.release_settled = true;
    let mut s = Session::new(cfg);
    let t0 = chrono::Utc::now();
    let n = 20_000u64;
    for i in 0..n {
        let mut req = HeaderList::default();
        req.push("Host", "api.test");
        let mut resp = HeaderList::default();
        if i % 2 == 0 {
            req.push("Origin", "http://app.test");
            resp.push("Access-Control-Allow-Origin", "*");
        }
        let ex = Exchange {
            id: i + 1,
            // 10 exchanges per second: the 10 s window holds about 100.
            started: t0 + chrono::Duration::milliseconds(i as i64 * 100),
            request: RequestRecord {
                method: "GET".into(),
                url: format!("http://api.test/item/{i}"),
                headers: req,
                ..Default::default()
            },
            response: Some(ResponseRecord {
                status: 200,
                headers: resp,
                ..Default::default()
            }),
            ..Default::default()
        };
        s.tick(ex.started_ms());
        let out = s.push(&ex);
        assert_eq!(out.len(), 1);
    }
    assert!(s.held() <= 150, "held {} of {n}", s.held());
}

/// The live session forgets what the store evicted: lagging `lag` exchanges behind, it
/// holds no more than that, settles what waited among the forgotten, never trips over a
/// link to a forgotten exchange, and judges every exchange that did not depend on one
/// exactly as before.
#[test]
fn forgetting_evicted_exchanges_bounds_the_session_and_keeps_other_verdicts() {
    use corscope::cors::classify::Role;
    for name in [
        "chromium-baseline.har",
        "random-seed-1.har",
        "random-seed-2.har",
    ] {
        let exs = fixture(name);
        let full = incremental(&exs, Profile::Chrome);
        let before: HashMap<u64, &Verdict> = full.iter().map(|v| (v.exchange, v)).collect();
        // Exchanges whose verdict another one may change: preflights, redirect hops.
        let linked: std::collections::HashSet<u64> = full
            .iter()
            .filter_map(|v| v.redirect.as_ref().map(|r| r.previous))
            .collect();
        for lag in [1usize, 2, 5, 20] {
            let mut s = Session::new(Config::new(Profile::Chrome));
            let mut latest: HashMap<u64, Arc<Verdict>> = HashMap::new();
            for (i, ex) in exs.iter().enumerate() {
                let mut out = s.tick(ex.started_ms());
                out.extend(s.push(ex));
                if i + 1 > lag {
                    out.extend(s.forget_before(exs[i + 1 - lag].id));
                }
                for v in out {
                    latest.insert(v.exchange, v);
                }
                assert!(s.held() <= lag, "{name} lag {lag}: holds {}", s.held());
            }
            for v in s.finish() {
                latest.insert(v.exchange, v);
            }
            assert_eq!(s.len(), exs.len());
            assert_eq!(
                latest.len(),
                exs.len(),
                "{name} lag {lag}: every exchange judged"
            );
            let mut compared = 0;
            for ex in &exs {
                let b = before[&ex.id];
                let alone = b.paired_with.is_none()
                    && b.redirect.is_none()
                    && b.role != Some(Role::Preflight)
                    && !linked.contains(&ex.id);
                if alone {
                    assert_eq!(&*latest[&ex.id], b, "{name} lag {lag}: entry {}", ex.id);
                    compared += 1;
                }
            }
            eprintln!("{name} lag {lag}: {compared} of {} compared", exs.len());
            assert!(compared > 0);
        }
    }
}
