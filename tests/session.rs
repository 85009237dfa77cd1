//! The incremental engine (push + tick, as the live proxy drives it) must reach the same
//! verdicts as the batch analysis once everything has settled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use corscope::cors::{self, Config, Profile, Session, Verdict};
use corscope::har::import::import_slice;
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<corscope::capture::Exchange> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chromium")
        .join(name);
    import_slice(&std::fs::read(p).unwrap()).unwrap().exchanges
}

fn incremental(exs: &[corscope::capture::Exchange], profile: Profile) -> Vec<Verdict> {
    let mut s = Session::new(Config::new(profile));
    let mut latest: HashMap<u64, Verdict> = HashMap::new();
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
            latest.get(&v.exchange),
            Some(v),
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
            let mut latest: HashMap<u64, Verdict> = HashMap::new();
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
                    assert_eq!(&latest[&ex.id], b, "{name} lag {lag}: entry {}", ex.id);
                    compared += 1;
                }
            }
            eprintln!("{name} lag {lag}: {compared} of {} compared", exs.len());
            assert!(compared > 0);
        }
    }
}
