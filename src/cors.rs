//! The CORS engine: pure functions over captured exchanges. No async, no I/O, no clock:
//! time comes in as data ([`Exchange::started_ms`]).
//!
//! - [`analyze`]: judge a whole recording (a HAR) at once, one verdict per exchange.
//! - [`Session`]: the same engine fed one exchange at a time by the live proxy.
//! - [`evaluate`]: the bare checks for one preflight + actual pair, without pairing or text.

pub mod check;
pub mod classify;
pub mod diff;
pub mod fix;
pub mod lint;
pub mod pairing;
pub mod profile;
pub mod safelist;
pub mod verdict;

pub use pairing::{Config, Session, Shared};
pub use profile::Profile;
pub use verdict::{Outcome, Stage, Verdict};

use crate::capture::Exchange;
use check::{cors_check, preflight_check, Failure, Grant};
use classify::{classify, infer_credentials, Kind};

/// Judge every exchange of a finished recording, as the browser did. Exchanges may come in
/// any order: they are replayed by start time, ties broken by id (capture order, since HAR
/// times have millisecond resolution). The result is index-aligned with the input.
/// Time passes as the recording's timestamps say (waits settle as in a live [`Session`]);
/// whatever still waits at the end is settled then, as at the end of a HAR.
pub fn analyze(exchanges: &[Exchange], profile: Profile) -> Vec<Verdict> {
    analyze_with(exchanges, Config::new(profile))
}

/// [`analyze`] with explicit settings.
pub fn analyze_with(exchanges: &[Exchange], cfg: Config) -> Vec<Verdict> {
    let mut order: Vec<usize> = (0..exchanges.len()).collect();
    order.sort_by_key(|&i| (exchanges[i].started_ms(), exchanges[i].id));
    let mut session = Session::new(cfg);
    for &i in &order {
        // Let time pass as it did on the wire, so waits settle exactly as in a live session.
        session.tick(exchanges[i].started_ms());
        session.push(&exchanges[i]);
    }
    session.finish();
    let mut slots: Vec<Option<Verdict>> = vec![None; exchanges.len()];
    for (v, &i) in session.into_verdicts().into_iter().zip(&order) {
        slots[i] = Some(v);
    }
    slots.into_iter().flatten().collect()
}

/// The verdict of `ex` judged on its own, as if it were the only exchange seen. For an
/// exchange whose verdict a session found to depend on nothing else
/// ([`Verdict::stands_alone`]: no CORS, or an allowed simple request, no redirect before
/// it), this is exactly the verdict the session gave, so holders of many verdicts may keep
/// only the exchange and recompute such a verdict when it is asked for.
pub fn judge_alone(ex: &Exchange, cfg: Config) -> Option<Verdict> {
    Session::new(cfg)
        .push(ex)
        .into_iter()
        .next()
        .map(std::sync::Arc::unwrap_or_clone)
}

/// The result of [`evaluate`]: each check that applied, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The request's class.
    pub kind: Kind,
    /// The preflight check, when a preflight was given.
    pub preflight: Option<Result<Grant, Failure>>,
    /// The CORS check of the actual response, when it applied.
    pub actual: Option<Result<(), Failure>>,
}

impl Evaluation {
    /// True when every check that applied passed.
    pub fn allowed(&self) -> bool {
        !matches!(self.preflight, Some(Err(_))) && !matches!(self.actual, Some(Err(_)))
    }
}

/// Run the checks for one actual request and (optionally) its preflight, in the credentials
/// mode inferred from the actual request. No pairing, no message text: this is the hot path.
pub fn evaluate(preflight: Option<&Exchange>, actual: &Exchange, profile: Profile) -> Evaluation {
    let class = classify(actual);
    let mut out = Evaluation {
        kind: class.kind,
        preflight: None,
        actual: None,
    };
    if class.kind != Kind::Cors {
        return out;
    }
    let origin = class.origin.as_deref().unwrap_or("null");
    let pf_lists_auth = preflight.is_some_and(|p| {
        p.request
            .headers
            .get_all("access-control-request-headers")
            .any(|v| {
                v.split(',')
                    .any(|h| h.trim().eq_ignore_ascii_case("authorization"))
            })
    });
    let include = infer_credentials(actual, pf_lists_auth).is_include();
    if let Some(p) = preflight {
        let r = match p.response.as_ref() {
            Some(resp) => {
                // The names the browser put in Access-Control-Request-Headers are what it
                // checks; recompute them only when the preflight does not carry the header.
                let pf_origin = p.request.headers.first("origin").unwrap_or(origin);
                let check = |names: &mut dyn Iterator<Item = &str>| {
                    preflight_check(
                        resp.status,
                        &resp.headers,
                        pf_origin.trim(),
                        &actual.request.method,
                        names,
                        include,
                        profile,
                    )
                };
                match p.request.headers.first("access-control-request-headers") {
                    Some(acrh) => {
                        check(&mut acrh.split(',').map(str::trim).filter(|n| !n.is_empty()))
                    }
                    None if p.request.headers.contains("access-control-request-method") => {
                        check(&mut std::iter::empty())
                    }
                    None => {
                        let names = safelist::unsafe_header_refs(&actual.request.headers, profile);
                        check(&mut names.iter().copied())
                    }
                }
            }
            None => Err(Failure {
                kind: check::FailureKind::ActualNotSent,
                hint: String::new(),
                preflight: true,
            }),
        };
        let failed = r.is_err();
        out.preflight = Some(r);
        if failed {
            return out;
        }
    }
    if let Some(resp) = actual.response.as_ref() {
        out.actual = Some(cors_check(&resp.headers, origin, include));
    }
    out
}
