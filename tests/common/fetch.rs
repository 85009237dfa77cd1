//! How a `fetch()` call is judged from the verdicts on its exchanges (as the recorded
//! Chromium cases define it): blocked if any exchange is blocked, at that exchange's
//! stage; unknown if none is blocked but one is undecided; allowed otherwise. Included by
//! path (`#[path = "common/fetch.rs"] mod fetch;`).

use corscope::cors::{Outcome, Verdict};

/// `"blocked"`, `"unknown"` or `"allowed"`, and the first blocked verdict.
pub fn fetch_outcome<'a>(verdicts: &[&'a Verdict]) -> (&'static str, Option<&'a Verdict>) {
    let blocked = verdicts.iter().copied().find(|v| v.outcome.is_blocked());
    let undecided = verdicts
        .iter()
        .any(|v| matches!(v.outcome, Outcome::Unknown | Outcome::Pending));
    let outcome = match (blocked, undecided) {
        (Some(_), _) => "blocked",
        (None, true) => "unknown",
        (None, false) => "allowed",
    };
    (outcome, blocked)
}
