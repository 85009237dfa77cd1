//! Conformance: the engine against what real Chromium 156 did on recorded traffic
//! (tests/fixtures/chromium). A case is blocked iff one of its entries is judged blocked; its
//! stage is that entry's stage; where Chromium logged a console message the engine's Chrome
//! message must equal it; for allowed cases the readable response headers must match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/fetch.rs"]
mod fetch;
use corscope::cors::{self, Profile, Verdict};
use corscope::har::import::import_slice;
use fetch::fetch_outcome;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Expected {
    id: String,
    outcome: String,
    stage: String,
    console_message: Option<String>,
    readable_headers: Option<Vec<String>>,
    entries: Vec<usize>,
}

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chromium");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "har"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", dir.display());
    v
}

/// How a case agreed.
#[derive(PartialEq)]
enum Agreement {
    /// Outcome, stage, console message and readable headers all as Chromium.
    Exact,
    /// Chromium's console line is one the engine listed as an alternative, because the wire
    /// hides what picks between them (a request that was never sent).
    Alternative,
    /// The engine said `unknown` and Chromium logged no CORS error: the browser's decision
    /// came from a script option the wire does not show (e.g. `redirect: 'manual'` vs
    /// `'error'`), not from a CORS check.
    Undecidable,
}

/// Compare one case; `Err` describes the disagreement.
fn judge(case: &Expected, verdicts: &[Option<&Verdict>]) -> Result<Agreement, String> {
    let vs: Vec<&Verdict> = case
        .entries
        .iter()
        .map(|&i| {
            verdicts
                .get(i)
                .copied()
                .flatten()
                .ok_or(format!("entry {i} missing"))
        })
        .collect::<Result<_, _>>()?;
    let (got_outcome, blocked) = fetch_outcome(&vs);
    let got_stage = blocked
        .and_then(|v| v.outcome.stage())
        .map_or("none".to_owned(), |s| format!("{s:?}").to_ascii_lowercase());
    if got_outcome == "unknown" {
        return match &case.console_message {
            None => Ok(Agreement::Undecidable),
            Some(m) => Err(format!("engine says unknown, but Chromium logged: {m}")),
        };
    }
    if got_outcome != case.outcome || got_stage != case.stage {
        return Err(format!(
            "expected {}/{} got {got_outcome}/{got_stage} ({})",
            case.outcome,
            case.stage,
            blocked
                .or(vs.last().copied())
                .map_or(String::new(), |v| v.explanation.clone())
        ));
    }
    let mut agreement = Agreement::Exact;
    if let Some(msg) = &case.console_message {
        let got = blocked.and_then(|v| v.chrome_message.as_deref());
        let alternative = blocked.is_some_and(|v| v.chrome_message_alternatives.contains(msg));
        if alternative && got != Some(msg.as_str()) {
            agreement = Agreement::Alternative;
        } else if got != Some(msg.as_str()) {
            return Err(format!(
                "console message\n    expected {msg}\n    got      {got:?}"
            ));
        }
    }
    if case.outcome == "allowed" {
        if let Some(want) = &case.readable_headers {
            let last = vs
                .iter()
                .rev()
                .find(|v| v.role != Some(cors::classify::Role::Preflight));
            let got = last.and_then(|v| v.readable_headers.clone());
            if got.as_ref() != Some(want) {
                return Err(format!("readable headers: expected {want:?} got {got:?}"));
            }
        }
    }
    Ok(agreement)
}

#[test]
fn chromium_fixtures_agree() {
    let mut total = 0usize;
    let mut agree = 0usize;
    let mut failures = Vec::new();
    let mut alternative = Vec::new();
    let mut undecidable = Vec::new();
    for har in fixtures() {
        let name = har.file_stem().unwrap().to_string_lossy().into_owned();
        let expected = har.with_extension("expected.jsonl");
        let imported = import_slice(&std::fs::read(&har).unwrap()).unwrap();
        assert!(imported.errors.is_empty(), "{name}: {:?}", imported.errors);
        let verdicts = cors::analyze(&imported.exchanges, Profile::Chrome);
        let mut by_entry: Vec<Option<&Verdict>> = vec![None; imported.entry_count];
        for v in &verdicts {
            by_entry[v.exchange as usize] = Some(v);
        }
        let (mut n, mut ok) = (0usize, 0usize);
        for line in std::fs::read_to_string(&expected).unwrap().lines() {
            let case: Expected = serde_json::from_str(line).unwrap();
            if case.entries.is_empty() {
                // Blocked in JS before anything reached the network: nothing to judge.
                continue;
            }
            n += 1;
            match judge(&case, &by_entry) {
                Ok(a) => {
                    ok += 1;
                    match a {
                        Agreement::Exact => {}
                        Agreement::Alternative => alternative.push(format!("{name}/{}", case.id)),
                        Agreement::Undecidable => undecidable.push(format!("{name}/{}", case.id)),
                    }
                }
                Err(e) => failures.push(format!("{name}/{}: {e}", case.id)),
            }
        }
        println!("{name}: agreement {ok}/{n} cases");
        total += n;
        agree += ok;
    }
    println!("agreement: {agree}/{total} cases");
    println!(
        "  of which {} matched a listed alternative console message: {alternative:?}",
        alternative.len()
    );
    println!(
        "  of which {} undecidable from the wire (engine: unknown, no CORS error logged): {undecidable:?}",
        undecidable.len()
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
