//! Live verdicts: the glue between the capture store and the pure CORS engine.
//!
//! One task ([`follow`]) reads completed exchanges from the store by cursor, feeds them to a
//! [`cors::Session`] in arrival order, lets wall-clock time pass so a preflight whose actual
//! request never comes is settled, and publishes each new or changed verdict here. Views
//! (the TUI, headless JSON lines, HAR export) read verdicts by exchange id and follow the
//! change log by cursor, so a verdict that settles later (a pending preflight) reaches
//! them again. The proxy never waits on any of this.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::capture::store::Store;
use crate::capture::{Exchange, ExchangeId};
use crate::cors::verdict::for_exchange;
use crate::cors::{self, Profile, Shared, Verdict};

/// How often waiting preflights are checked against the clock.
pub const TICK: Duration = Duration::from_millis(250);

/// Entries kept in the change log. A reader that falls further behind than this (a TUI
/// paused for a long time) gets `missed > 0` and rebuilds from [`Verdicts::get`].
pub const MAX_CHANGES: usize = 200_000;

/// How long a follower lets changes gather after one arrives before it reads them: the
/// proxy records thousands of exchanges a second, and one wake-up per exchange would cost
/// the machine more than the follower's work. A person does not notice 1 ms, and the work
/// one wake-up finds stays small (5 ms of preflights to judge at once showed in the proxy's
/// p99 latency). A store whose cap is below [`COALESCE_MIN_CAP`] is followed at every
/// change instead, so the engine sees each exchange before the store evicts it.
pub const COALESCE: Duration = Duration::from_millis(1);

/// The smallest store cap (exchanges) for which the follower coalesces changes and holds
/// exchanges back for [`REORDER`].
pub const COALESCE_MIN_CAP: usize = 10_000;

/// How long after an exchange started the follower waits before judging it. The engine
/// takes exchanges in the order they started, but the store holds them in the order their
/// records were completed: a preflight (on a connection of its own) can be recorded after
/// the request it allowed, when the relay finishes its record a moment after the browser
/// had the response. A browser sends a request that depends on another's response (the
/// actual request after its preflight, the next hop after a 3xx) only once that response
/// is in, so whatever it depends on is recorded well within this wait, and is judged
/// first. Verdicts show this much later, which nobody watching notices.
pub const REORDER: Duration = Duration::from_millis(100);

/// Exchanges read from the store per step.
const BATCH: usize = 1_024;

/// Distinct verdicts remembered so that a verdict equal to one of them but for its exchange
/// is kept as that one: repeated requests (polling, a page retrying a blocked call, a load
/// test) then cost the table a pointer each instead of a copy of the verdict.
const SHARED_VERDICTS: usize = 8;

/// Blocked verdicts kept after the store evicted their exchanges, so `--fail-on-blocked`
/// still fails and its summary still names them in a session longer than the store's
/// cap. Past this many only the count grows ([`Verdicts::blocked_not_kept`]).
pub const MAX_EVICTED_BLOCKED: usize = 1_000;

/// The current verdict of every held exchange, and a log of which ones changed.
#[derive(Debug)]
pub struct Verdicts {
    inner: Mutex<Inner>,
    version: watch::Sender<u64>,
    profile: watch::Sender<Profile>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The verdicts that do not [stand alone](Verdict::stands_alone), by exchange id. One
    /// that stands alone is recomputed from its exchange when asked for, rather than kept:
    /// most traffic is not CORS or is allowed, and such an exchange costs the table nothing.
    /// A kept verdict may be shared with other exchanges (its `exchange` is then another
    /// id); it is handed out under its own through [`for_exchange`].
    kept: ById,
    /// The last [`SHARED_VERDICTS`] distinct verdicts kept, newest first.
    shared: VecDeque<Arc<Verdict>>,
    /// The exchanges judged so far among those held.
    judged: Judged,
    /// Where standalone verdicts are recomputed from (set by [`follow`]).
    store: Option<Arc<Store>>,
    changes: VecDeque<ExchangeId>,
    /// Sequence number of `changes[0]` (sequences start at 1).
    first_change: u64,
    /// Bumped when every verdict was recomputed (profile switch) or dropped (clear).
    generation: u64,
    /// Verdicts of exchanges below this id were dropped (the store evicted them): the
    /// table holds no more than the store does.
    held_from: ExchangeId,
    /// Blocked verdicts of evicted exchanges, oldest first, at most
    /// [`MAX_EVICTED_BLOCKED`].
    evicted_blocked: Vec<Arc<Verdict>>,
    /// Blocked verdicts of evicted exchanges beyond that cap.
    blocked_not_kept: u64,
}

impl Inner {
    /// Record `v` as the verdict of exchange `id` (`v` may be another exchange's).
    fn insert(&mut self, id: ExchangeId, v: Arc<Verdict>) {
        self.judged.add(id);
        match Verdicts::kept(v) {
            Some(v) => {
                let v = self.share(v);
                self.kept.insert(id, v);
            }
            None => self.kept.remove(id),
        }
    }

    /// `v`, or an equal verdict of another exchange already kept.
    fn share(&mut self, v: Arc<Verdict>) -> Arc<Verdict> {
        // The session hands out one verdict for exchanges it judged alike: most often
        // the very one kept last.
        if self.shared.iter().any(|s| Arc::ptr_eq(s, &v)) {
            return v;
        }
        if let Some(same) = self.shared.iter().find(|s| s.same_apart_from_exchange(&v)) {
            return same.clone();
        }
        if self.shared.len() == SHARED_VERDICTS {
            self.shared.pop_back();
        }
        self.shared.push_front(v.clone());
        v
    }

    /// Number of exchanges judged and held.
    fn held(&self) -> usize {
        self.judged.len()
    }

    /// Keep `v`, the verdict of evicted exchange `id`, if it is blocked.
    fn keep_evicted(&mut self, id: ExchangeId, v: &Arc<Verdict>) {
        if !v.outcome.is_blocked() {
            return;
        }
        if self.evicted_blocked.len() < MAX_EVICTED_BLOCKED {
            self.evicted_blocked.push(for_exchange(v, id));
        } else {
            self.blocked_not_kept += 1;
        }
    }

    /// Drop the verdicts of exchanges below `first`, keeping the blocked ones aside.
    fn drop_below(&mut self, first: ExchangeId) {
        if first <= self.held_from {
            return;
        }
        for (id, v) in self.kept.take_below(first) {
            self.keep_evicted(id, &v);
        }
        self.judged.drop_below(first);
        self.held_from = first;
    }
}

/// Which exchange ids have a verdict: a range of the store's dense ids, less the few inside
/// it still held back by the follower ([`REORDER`]: an exchange that started earlier can
/// be judged before one the store recorded first). Ids the follower skipped were evicted
/// and are dropped with them.
#[derive(Debug, Default)]
struct Judged {
    range: std::ops::Range<ExchangeId>,
    waiting: std::collections::BTreeSet<ExchangeId>,
}

impl Judged {
    fn add(&mut self, id: ExchangeId) {
        if self.range.is_empty() {
            self.range = id..id + 1;
        } else if id >= self.range.end {
            // Those between were read but are not judged yet.
            self.waiting.extend(self.range.end..id);
            self.range.end = id + 1;
        } else if id < self.range.start {
            self.range.start = id;
        } else {
            self.waiting.remove(&id);
        }
    }

    fn contains(&self, id: ExchangeId) -> bool {
        self.range.contains(&id) && !self.waiting.contains(&id)
    }

    fn len(&self) -> usize {
        let range = self.range.end.saturating_sub(self.range.start);
        usize::try_from(range)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.waiting.len())
    }

    fn drop_below(&mut self, first: ExchangeId) {
        self.range = self.range.start.max(first)..self.range.end.max(first);
        self.waiting = self.waiting.split_off(&first);
    }
}

/// Verdicts by exchange id, one slot per id from the lowest held: the store's ids are
/// dense and the table follows them in order, so a slot is found by subtraction, and
/// eviction pops from the front. Empty slots at the front are dropped as they appear, so
/// the slots span no more than the ids from the oldest verdict kept to the newest.
#[derive(Debug, Default)]
struct ById {
    /// The id of `slots[0]`.
    base: ExchangeId,
    slots: VecDeque<Option<Arc<Verdict>>>,
}

impl ById {
    fn slot(&self, id: ExchangeId) -> Option<usize> {
        usize::try_from(id.checked_sub(self.base)?).ok()
    }

    fn get(&self, id: ExchangeId) -> Option<&Arc<Verdict>> {
        self.slots.get(self.slot(id)?)?.as_ref()
    }

    fn insert(&mut self, id: ExchangeId, v: Arc<Verdict>) {
        if self.slots.is_empty() || id < self.base {
            // Before the first slot (a verdict that changed after later ones were kept).
            let gap = if self.slots.is_empty() {
                0
            } else {
                usize::try_from(self.base - id).unwrap_or(usize::MAX)
            };
            for _ in 0..gap {
                self.slots.push_front(None);
            }
            self.base = id;
        }
        let Some(i) = self.slot(id) else { return };
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(v);
    }

    fn remove(&mut self, id: ExchangeId) {
        let Some(slot) = self.slot(id).and_then(|i| self.slots.get_mut(i)) else {
            return;
        };
        *slot = None;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Take out the verdicts of ids below `first`, in id order.
    fn take_below(&mut self, first: ExchangeId) -> Vec<(ExchangeId, Arc<Verdict>)> {
        let mut out = Vec::new();
        while self.base < first {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            if let Some(v) = slot {
                out.push((self.base, v));
            }
            self.base += 1;
        }
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        out
    }

    /// The verdicts held, in id order.
    fn iter(&self) -> impl Iterator<Item = (ExchangeId, &Arc<Verdict>)> {
        (self.base..)
            .zip(&self.slots)
            .filter_map(|(id, v)| Some((id, v.as_ref()?)))
    }

    fn clear(&mut self) {
        self.slots.clear();
    }
}

/// What a change-log read returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Exchanges whose verdict is new or changed, in the order that happened (an id may
    /// appear more than once).
    pub ids: Vec<ExchangeId>,
    /// The cursor to pass next time.
    pub next: u64,
    /// Changes the reader missed because the log was trimmed.
    pub missed: u64,
    /// The current generation; when it differs from the reader's last one, every verdict
    /// may have changed.
    pub generation: u64,
}

impl Verdicts {
    /// Empty, judging as `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            inner: Mutex::new(Inner {
                first_change: 1,
                ..Inner::default()
            }),
            version: watch::Sender::new(0),
            profile: watch::Sender::new(profile),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict of exchange `id`, once it has one.
    pub fn get(&self, id: ExchangeId) -> Option<Arc<Verdict>> {
        let store = {
            let inner = self.lock();
            if !inner.judged.contains(id) {
                return None;
            }
            match inner.kept.get(id) {
                Some(v) => return Some(for_exchange(v, id)),
                None => inner.store.clone()?,
            }
        };
        let ex = store.get(id)?;
        cors::judge_alone(&ex, self.engine_config()).map(Arc::new)
    }

    /// The engine settings verdicts are computed with.
    fn engine_config(&self) -> cors::Config {
        let mut cfg = cors::Config::new(self.profile());
        cfg.release_settled = true;
        cfg
    }

    fn kept(v: Arc<Verdict>) -> Option<Arc<Verdict>> {
        (!v.stands_alone()).then_some(v)
    }

    /// Verdict changes with sequence ≥ `cursor` (start with 1), at most `max`.
    pub fn changes_since(&self, cursor: u64, max: usize) -> Changes {
        let inner = self.lock();
        let start = cursor.max(inner.first_change);
        let skip = usize::try_from(start - inner.first_change).unwrap_or(usize::MAX);
        let ids: Vec<ExchangeId> = inner.changes.iter().skip(skip).take(max).copied().collect();
        Changes {
            next: start + ids.len() as u64,
            ids,
            missed: start - cursor.min(start),
            generation: inner.generation,
        }
    }

    /// The cursor just past the newest change (a reader that has everything starts here).
    pub fn log_end(&self) -> u64 {
        let inner = self.lock();
        inner.first_change + inner.changes.len() as u64
    }

    /// Bumped on every change; await `changed()` to learn of new verdicts.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The profile verdicts follow.
    pub fn profile(&self) -> Profile {
        *self.profile.borrow()
    }

    /// Ask for every verdict to be recomputed as `profile` (the follower does it).
    pub fn set_profile(&self, profile: Profile) {
        self.profile.send_replace(profile);
    }

    /// Forget every verdict (the store was cleared).
    pub fn clear(&self) {
        {
            let mut inner = self.lock();
            inner.kept.clear();
            inner.shared.clear();
            inner.judged = Judged::default();
            inner.evicted_blocked.clear();
            inner.blocked_not_kept = 0;
            inner.generation += 1;
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Every blocked verdict, in exchange order: those held, after the first
    /// [`MAX_EVICTED_BLOCKED`] of those whose exchanges the store evicted.
    pub fn blocked(&self) -> Vec<Arc<Verdict>> {
        let inner = self.lock();
        let v = inner
            .kept
            .iter()
            .filter(|(_, v)| v.outcome.is_blocked())
            .map(|(id, v)| for_exchange(v, id));
        let mut all = inner.evicted_blocked.clone();
        all.extend(v);
        all
    }

    /// Blocked verdicts of evicted exchanges not kept in [`Verdicts::blocked`] (past
    /// [`MAX_EVICTED_BLOCKED`]).
    pub fn blocked_not_kept(&self) -> u64 {
        self.lock().blocked_not_kept
    }

    /// Number of verdicts held (one per exchange the store holds, once judged).
    pub fn held(&self) -> usize {
        self.lock().held()
    }

    fn record(&self, verdicts: Vec<Shared>, evict_below: ExchangeId) {
        let changed = !verdicts.is_empty();
        {
            let mut inner = self.lock();
            if !changed && evict_below <= inner.held_from {
                return;
            }
            for Shared { id, verdict } in verdicts {
                if id < evict_below {
                    // Judged (or settled) after the store evicted it.
                    inner.keep_evicted(id, &verdict);
                    continue;
                }
                inner.changes.push_back(id);
                inner.insert(id, verdict);
            }
            while inner.changes.len() > MAX_CHANGES {
                inner.changes.pop_front();
                inner.first_change += 1;
            }
            inner.drop_below(evict_below);
        }
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// Every held verdict recomputed (a profile switch): evicted exchanges cannot be judged
    /// again, so their blocked verdicts go too.
    fn replace_all(&self, verdicts: Vec<Shared>) {
        {
            let mut inner = self.lock();
            inner.evicted_blocked.clear();
            inner.blocked_not_kept = 0;
            inner.kept.clear();
            inner.shared.clear();
            inner.judged = Judged::default();
            for Shared { id, verdict } in verdicts {
                inner.insert(id, verdict);
            }
            inner.generation += 1;
        }
        self.version.send_modify(|v| *v += 1);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Judge every exchange the store receives until `shutdown`; then settle whatever still
/// waits (as at the end of a HAR) so outputs written at exit are final.
pub async fn follow(store: Arc<Store>, verdicts: Arc<Verdicts>, shutdown: CancellationToken) {
    let mut profile_rx = verdicts.profile.subscribe();
    let mut changes = store.subscribe();
    profile_rx.mark_unchanged();
    verdicts.lock().store = Some(store.clone());
    let mut session = cors::Session::new(verdicts.engine_config());
    let mut cursor = 1;
    let coalesce = store.limits().max_exchanges >= COALESCE_MIN_CAP;
    // A store capped lower may evict an exchange before a held one would be judged.
    let reorder = if coalesce { REORDER } else { Duration::ZERO };
    let mut held = Held::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let due = now_ms() - duration_ms(reorder);
        cursor = feed(&store, &verdicts, &mut session, cursor, &mut held, due);
        verdicts.record(session.tick_shared(due), store.first_id());
        let next_due = held.next_due(reorder, now_ms());
        tokio::select! {
            c = changes.changed() => {
                if c.is_err() { break }
                if coalesce {
                    tokio::time::sleep(COALESCE).await;
                }
            },
            _ = tick.tick() => {}
            () = tokio::time::sleep(next_due.unwrap_or(TICK)), if next_due.is_some() => {}
            p = profile_rx.changed() => {
                if p.is_ok() {
                    let profile = *profile_rx.borrow_and_update();
                    // The rebuilt session judged every exchange the store holds, those
                    // held back and those not read yet: reading goes on after them.
                    (session, cursor) = rebuild(&store, &verdicts, profile, cursor);
                    held.exchanges.clear();
                }
            }
            () = shutdown.cancelled() => break,
        }
    }
    feed(&store, &verdicts, &mut session, cursor, &mut held, i64::MAX);
    verdicts.record(session.finish_shared(), store.first_id());
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Exchanges read from the store but not judged yet ([`REORDER`]), in the order they
/// started, each with when it was read (ms): one stamped later than that (a recording
/// from a clock ahead of this one) is held no longer than one read just now.
#[derive(Default)]
struct Held {
    exchanges: VecDeque<HeldExchange>,
}

/// One held exchange, with when it started kept beside it: finding where a new one goes
/// reads the queue, not thousands of exchanges behind their pointers (only a tie reads
/// the two exchanges' ids).
struct HeldExchange {
    started_ns: i64,
    read_ms: i64,
    ex: Arc<Exchange>,
}

impl HeldExchange {
    /// True when this one goes before `other`: by start time, then by id.
    fn before(&self, other: &HeldExchange) -> bool {
        self.started_ns < other.started_ns
            || (self.started_ns == other.started_ns && self.ex.id <= other.ex.id)
    }
}

/// Nanoseconds since the Unix epoch, clamped to what an `i64` holds (years 1677-2262).
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl Held {
    /// Add `ex`, read at `now_ms`, in its place by start time (it is nearly always last).
    fn add(&mut self, ex: Arc<Exchange>, now_ms: i64) {
        let held = HeldExchange {
            started_ns: nanos(ex.started),
            read_ms: now_ms,
            ex,
        };
        let at = match self.exchanges.back() {
            Some(last) if !last.before(&held) => {
                self.exchanges.partition_point(|h| h.before(&held))
            }
            _ => self.exchanges.len(),
        };
        self.exchanges.insert(at, held);
    }

    /// The first held exchange, when it started (or was read, if earlier) no later than
    /// `due`, or when the store evicted it (`first` is the oldest id it holds): judged now,
    /// an evicted exchange's verdict is still kept if it is blocked.
    fn pop_due(&mut self, due: i64, first: ExchangeId) -> Option<Arc<Exchange>> {
        let held = self.exchanges.front()?;
        if held.ex.started_ms().min(held.read_ms) <= due || held.ex.id < first {
            return self.exchanges.pop_front().map(|h| h.ex);
        }
        None
    }

    /// How long until the first held exchange is due, if any is held.
    fn next_due(&self, reorder: Duration, now_ms: i64) -> Option<Duration> {
        let held = self.exchanges.front()?;
        let due = held
            .ex
            .started_ms()
            .min(held.read_ms)
            .saturating_add(duration_ms(reorder));
        let wait = u64::try_from(due.saturating_sub(now_ms)).unwrap_or(0);
        Some(Duration::from_millis(wait))
    }
}

/// Read everything after `cursor` into `held`, then judge, in the order they started, the
/// held exchanges that are due (see [`Held::pop_due`]). Returns the new cursor.
fn feed(
    store: &Store,
    verdicts: &Verdicts,
    session: &mut cors::Session,
    mut cursor: u64,
    held: &mut Held,
    due: i64,
) -> u64 {
    let now = now_ms();
    loop {
        let batch = store.exchanges_since(cursor, BATCH);
        cursor = batch.next;
        let read = batch.items.len();
        for ex in batch.items {
            held.add(ex, now);
        }
        let first = store.first_id();
        let mut out = Vec::new();
        while let Some(ex) = held.pop_due(due, first) {
            out.extend(session.tick_shared(ex.started_ms()));
            out.extend(session.push_shared(&ex));
        }
        // Hold no more than the store: drop what it evicted (settling what still waited).
        out.extend(session.forget_before_shared(first));
        verdicts.record(out, first);
        if read < BATCH {
            return cursor;
        }
    }
}

/// A new session over everything the store holds, judged as `profile`, and the cursor
/// after the last of them (`cursor` if it holds none).
fn rebuild(
    store: &Store,
    verdicts: &Verdicts,
    profile: Profile,
    cursor: u64,
) -> (cors::Session, u64) {
    let mut held: Vec<Arc<Exchange>> = store.snapshot().exchanges;
    let next = held.last().map_or(cursor, |e| cursor.max(e.id + 1));
    // In the order they started, as the session takes them (see [`REORDER`]).
    held.sort_by_key(|e| (e.started, e.id));
    let mut cfg = verdicts.engine_config();
    cfg.profile = profile;
    let mut session = cors::Session::new(cfg);
    // The session hands each verdict out as it is made or changed; the last one per
    // exchange wins.
    let mut all = Vec::with_capacity(held.len());
    for ex in &held {
        all.extend(session.tick_shared(ex.started_ms()));
        all.extend(session.push_shared(ex));
    }
    all.extend(session.tick_shared(now_ms()));
    verdicts.replace_all(all);
    (session, next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capture::{HeaderList, RequestRecord, ResponseRecord};

    fn ex(method: &str, headers: &[(&str, &str)], resp: &[(&str, &str)], status: u16) -> Exchange {
        let mut h = HeaderList::default();
        for (k, v) in headers {
            h.push(*k, *v);
        }
        let mut r = HeaderList::default();
        for (k, v) in resp {
            r.push(*k, *v);
        }
        Exchange {
            started: chrono::Utc::now(),
            request: RequestRecord {
                method: method.to_owned().into(),
                url: "http://api.test/x".into(),
                http_version: "HTTP/1.1".into(),
                headers: h,
                ..Default::default()
            },
            response: Some(ResponseRecord {
                status,
                status_text: "OK".into(),
                http_version: "HTTP/1.1".into(),
                headers: r,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_verdicts_that_do_not_stand_alone_take_a_table_entry() {
        let store = Arc::new(Store::default());
        let verdicts = Verdicts::new(Profile::Chrome);
        verdicts.lock().store = Some(store.clone());
        let judge = |id: ExchangeId| judged(&store, &verdicts, id);
        let origin = ("Origin", "http://app.test");
        let plain: Vec<ExchangeId> = (0..5)
            .map(|_| store.push(ex("GET", &[], &[], 200)))
            .collect();
        let cors_id = store.push(ex("GET", &[origin], &[], 200));
        // An allowed simple CORS request stands alone too; a blocked one does not.
        let allowed = store.push(ex(
            "GET",
            &[origin],
            &[("Access-Control-Allow-Origin", "*")],
            200,
        ));
        let mut batch: Vec<Shared> = plain.iter().map(|&id| judge(id)).collect();
        batch.push(judge(cors_id));
        batch.push(judge(allowed));
        verdicts.record(batch, store.first_id());
        assert_eq!(verdicts.held(), 7);
        assert_eq!(verdicts.lock().kept.iter().count(), 1);
        for id in plain.iter().copied().chain([cors_id, allowed]) {
            assert_eq!(verdicts.get(id).unwrap().exchange, id);
        }
        assert_eq!(verdicts.get(cors_id).unwrap().outcome.label(), "blocked");
        assert_eq!(verdicts.get(allowed).unwrap().outcome.label(), "allowed");
        assert_eq!(verdicts.get(plain[0]).unwrap().outcome.label(), "not-cors");
        // Pushed but not judged yet: no verdict.
        let later = store.push(ex("GET", &[], &[], 200));
        assert!(verdicts.get(later).is_none());
        assert!(verdicts.get(0).is_none());
        assert_eq!(verdicts.blocked().len(), 1);
        verdicts.clear();
        assert_eq!(verdicts.held(), 0);
        assert!(verdicts.get(cors_id).is_none());
        assert!(verdicts.blocked().is_empty());
        verdicts.record(vec![judge(later)], store.first_id());
        assert_eq!(verdicts.held(), 1);
        assert!(verdicts.get(later).is_some());
        assert!(verdicts.get(plain[0]).is_none());
    }

    /// The id-indexed table: slots by subtraction, verdicts changed after later ones were
    /// kept, empty slots at the front dropped, eviction in id order.
    #[test]
    fn verdicts_by_id_follow_inserts_removals_and_eviction() {
        let cfg = cors::Config::new(Profile::Chrome);
        let plain = cors::judge_alone(&ex("GET", &[], &[], 200), cfg).unwrap();
        let v = |id: ExchangeId| {
            let mut v = plain.clone();
            v.exchange = id;
            Arc::new(v)
        };
        let mut t = ById::default();
        let ids = |t: &ById| t.iter().map(|(id, _)| id).collect::<Vec<_>>();
        t.insert(10, v(10));
        t.insert(13, v(13));
        assert_eq!(ids(&t), [10, 13]);
        assert!(t.get(11).is_none() && t.get(9).is_none() && t.get(99).is_none());
        // An earlier exchange's verdict changes and becomes kept.
        t.insert(7, v(7));
        assert_eq!(ids(&t), [7, 10, 13]);
        assert_eq!(t.get(7).unwrap().exchange, 7);
        // Replaced in place, and removed: the front's empty slots go.
        t.insert(10, v(100));
        assert_eq!(t.get(10).unwrap().exchange, 100);
        t.remove(7);
        assert_eq!(t.base, 10);
        t.remove(12);
        t.insert(20, v(20));
        let taken: Vec<ExchangeId> = t.take_below(14).into_iter().map(|(id, _)| id).collect();
        assert_eq!(taken, [10, 13]);
        assert_eq!(ids(&t), [20]);
        assert_eq!(t.base, 20);
        assert!(t.take_below(5).is_empty());
        t.remove(20);
        assert!(t.slots.is_empty());
        t.insert(3, v(3));
        assert_eq!(ids(&t), [3]);
        t.clear();
        assert_eq!(t.iter().count(), 0);
    }

    /// A store holding at most `max_exchanges` and a verdict table following it.
    fn capped_table(max_exchanges: usize) -> (Arc<Store>, Verdicts) {
        let store = Arc::new(Store::new(crate::capture::store::StoreLimits {
            max_exchanges,
            ..Default::default()
        }));
        let verdicts = Verdicts::new(Profile::Chrome);
        verdicts.lock().store = Some(store.clone());
        (store, verdicts)
    }

    /// Exchange `id` judged on its own, as the follower hands verdicts over.
    fn judged(store: &Store, verdicts: &Verdicts, id: ExchangeId) -> Shared {
        let v = cors::judge_alone(&store.get(id).unwrap(), verdicts.engine_config()).unwrap();
        Shared {
            id,
            verdict: Arc::new(v),
        }
    }

    /// The follower judges by start time, so an id can get its verdict after a later one:
    /// until then it has none (not a verdict judged alone), and it counts once it does.
    #[test]
    fn an_exchange_held_back_has_no_verdict_until_judged() {
        let (store, verdicts) = capped_table(10);
        let plain = ex("GET", &[("Origin", "http://app.test")], &[], 200);
        let ids: Vec<ExchangeId> = (0..4).map(|_| store.push(plain.clone())).collect();
        verdicts.record(vec![judged(&store, &verdicts, ids[0])], store.first_id());
        verdicts.record(vec![judged(&store, &verdicts, ids[2])], store.first_id());
        assert!(verdicts.get(ids[0]).is_some() && verdicts.get(ids[2]).is_some());
        assert!(verdicts.get(ids[1]).is_none(), "held back, not judged yet");
        assert!(verdicts.get(ids[3]).is_none());
        assert_eq!(verdicts.held(), 2);
        verdicts.record(vec![judged(&store, &verdicts, ids[1])], store.first_id());
        assert!(verdicts.get(ids[1]).is_some());
        assert_eq!(verdicts.held(), 3);
        // Eviction takes whatever still waited below the store's first id with it.
        verdicts.record(vec![judged(&store, &verdicts, ids[3])], ids[2]);
        assert_eq!(verdicts.held(), 2);
        assert!(verdicts.get(ids[1]).is_none() && verdicts.get(ids[2]).is_some());
    }

    /// The held queue gives exchanges back by start time, then id, however their records
    /// arrived: in order, before the last one, and tied with another's start.
    #[test]
    fn held_exchanges_come_out_by_start_then_id() {
        let t0 = chrono::Utc::now();
        let at = |id: u64, ms: i64| {
            let mut e = ex("GET", &[], &[], 200);
            e.id = id;
            e.started = t0 + chrono::Duration::milliseconds(ms);
            Arc::new(e)
        };
        let mut held = Held::default();
        // (id, start ms) in the order the store completed them.
        for (id, ms) in [(1, 0), (3, 20), (2, 10), (5, 10), (4, 10), (6, 30), (7, 5)] {
            held.add(at(id, ms), 0);
        }
        let order: Vec<u64> = std::iter::from_fn(|| held.pop_due(i64::MAX, 0))
            .map(|e| e.id)
            .collect();
        assert_eq!(order, [1, 7, 2, 4, 5, 3, 6]);
    }

    /// A profile switch judges everything the store holds, including exchanges the
    /// follower had not read yet; reading then goes on after them, so none is pushed into
    /// the new session twice.
    #[test]
    fn a_rebuilt_session_is_not_fed_what_it_already_judged() {
        let (store, verdicts) = capped_table(100);
        let origin = ("Origin", "http://app.test");
        let mut session = cors::Session::new(verdicts.engine_config());
        let mut held = Held::default();
        let first = store.push(ex("GET", &[origin], &[], 200));
        let cursor = feed(&store, &verdicts, &mut session, 1, &mut held, i64::MAX);
        assert_eq!(cursor, first + 1);
        // Two more arrive before the switch is handled.
        store.push(ex("GET", &[origin], &[], 200));
        let last = store.push(ex("PUT", &[origin], &[], 200));
        let (mut session, cursor) = rebuild(&store, &verdicts, Profile::Firefox, cursor);
        assert_eq!(cursor, last + 1);
        assert_eq!(session.len(), 3);
        feed(&store, &verdicts, &mut session, cursor, &mut held, i64::MAX);
        assert_eq!(session.len(), 3, "an exchange was pushed twice");
        // An empty store leaves the cursor where it was.
        store.clear();
        assert_eq!(
            rebuild(&store, &verdicts, Profile::Chrome, cursor).1,
            cursor
        );
    }

    /// Repeats of a blocked request keep one verdict between them, and each is still
    /// handed out under its own id: by `get`, by `blocked`, and once evicted.
    #[test]
    fn equal_verdicts_of_repeated_requests_share_one_copy() {
        let (store, verdicts) = capped_table(5);
        let judge = |id: ExchangeId| judged(&store, &verdicts, id);
        let origin = ("Origin", "http://app.test");
        let ids: Vec<ExchangeId> = (0..4)
            .map(|_| store.push(ex("GET", &[origin], &[], 200)))
            .collect();
        let other = store.push(ex("PUT", &[origin], &[], 200));
        let batch: Vec<Shared> = ids.iter().chain([&other]).map(|&id| judge(id)).collect();
        verdicts.record(batch, store.first_id());
        {
            let inner = verdicts.lock();
            let kept = |id: ExchangeId| inner.kept.get(id).unwrap();
            let first = kept(ids[0]);
            assert!(ids.iter().all(|&id| Arc::ptr_eq(kept(id), first)));
            assert!(!Arc::ptr_eq(kept(other), first));
        }
        for &id in ids.iter().chain([&other]) {
            assert_eq!(verdicts.get(id).unwrap().exchange, id);
        }
        let blocked: Vec<ExchangeId> = verdicts.blocked().iter().map(|v| v.exchange).collect();
        assert_eq!(blocked, [ids[0], ids[1], ids[2], ids[3], other]);
        // Two more push the first two out of the store: their blocked verdicts are kept
        // under their own ids.
        let more: Vec<Shared> = (0..2)
            .map(|_| store.push(ex("GET", &[origin], &[], 200)))
            .map(judge)
            .collect();
        verdicts.record(more, store.first_id());
        let blocked: Vec<ExchangeId> = verdicts.blocked().iter().map(|v| v.exchange).collect();
        assert_eq!(&blocked[..3], [ids[0], ids[1], ids[2]]);
        assert_eq!(blocked.len(), 7);
    }

    #[test]
    fn exchanges_skipped_because_they_were_evicted_are_not_judged() {
        let (store, verdicts) = capped_table(3);
        let judge = |id: ExchangeId| judged(&store, &verdicts, id);
        let first = store.push(ex("GET", &[], &[], 200));
        verdicts.record(vec![judge(first)], store.first_id());
        // Ids 2..=5 come, and 1 and 2 are evicted before the follower reads on.
        let ids: Vec<ExchangeId> = (0..4)
            .map(|_| store.push(ex("GET", &[], &[], 200)))
            .collect();
        assert_eq!(store.first_id(), 3);
        let read: Vec<Shared> = ids.iter().skip(1).map(|&id| judge(id)).collect();
        verdicts.record(read, store.first_id());
        assert_eq!(verdicts.held(), 3);
        assert!(verdicts.get(first).is_none());
        assert!(verdicts.get(ids[0]).is_none());
        assert!(ids[1..].iter().all(|&id| verdicts.get(id).is_some()));
    }

    /// `store` with the follower judging it (Chrome profile), the token that stops it, and
    /// its task.
    fn following(
        store: Store,
    ) -> (
        Arc<Store>,
        Arc<Verdicts>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let (store, verdicts) = (Arc::new(store), Arc::new(Verdicts::new(Profile::Chrome)));
        let stop = CancellationToken::new();
        let task = tokio::spawn(follow(store.clone(), verdicts.clone(), stop.clone()));
        (store, verdicts, stop, task)
    }

    #[tokio::test]
    async fn verdicts_follow_the_store_and_settle_at_shutdown() {
        let (store, verdicts, stop, task) = following(Store::default());
        let mut rx = verdicts.subscribe();
        let origin = ("Origin", "http://app.test");
        let blocked = store.push(ex("GET", &[origin], &[], 200));
        let allowed = store.push(ex(
            "GET",
            &[origin],
            &[("Access-Control-Allow-Origin", "*")],
            200,
        ));
        // A preflight whose actual request never comes: pending until settled.
        let lonely = store.push(ex(
            "OPTIONS",
            &[origin, ("Access-Control-Request-Method", "PUT")],
            &[("Access-Control-Allow-Origin", "*")],
            204,
        ));
        while verdicts.get(lonely).is_none() {
            rx.changed().await.unwrap();
        }
        assert_eq!(verdicts.get(blocked).unwrap().outcome.label(), "blocked");
        assert_eq!(verdicts.get(allowed).unwrap().outcome.label(), "allowed");
        assert_eq!(verdicts.get(lonely).unwrap().outcome.label(), "pending");
        stop.cancel();
        task.await.unwrap();
        let settled = verdicts.get(lonely).unwrap();
        assert_eq!(settled.outcome.label(), "blocked");
        // The log names the preflight twice: pending, then settled.
        let log = verdicts.changes_since(1, 100);
        assert_eq!(log.ids.iter().filter(|&&id| id == lonely).count(), 2);
        assert_eq!(verdicts.blocked().len(), 2);
    }

    /// A preflight recorded after the request it allowed (its record was completed a
    /// moment later, after the follower had read the request's): judged in the order they
    /// started, the two pair, as in a HAR.
    #[tokio::test]
    async fn exchanges_are_judged_in_the_order_they_started() {
        let (store, verdicts, stop, task) = following(Store::default());
        let mut rx = verdicts.subscribe();
        let origin = ("Origin", "http://app.test");
        let sent = chrono::Utc::now();
        let mut actual = ex(
            "PUT",
            &[origin],
            &[("Access-Control-Allow-Origin", "*")],
            200,
        );
        actual.started = sent + chrono::Duration::milliseconds(2);
        let mut preflight = ex(
            "OPTIONS",
            &[origin, ("Access-Control-Request-Method", "PUT")],
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "PUT"),
            ],
            204,
        );
        preflight.started = sent;
        let actual = store.push(actual);
        // The follower reads the request before the preflight's record comes.
        tokio::time::sleep(REORDER / 4).await;
        let preflight = store.push(preflight);
        while verdicts.get(preflight).is_none() {
            rx.changed().await.unwrap();
        }
        let v = verdicts.get(actual).unwrap();
        assert_eq!(v.paired_with, Some(preflight), "{v:#?}");
        assert_eq!(v.outcome.label(), "allowed");
        assert_eq!(verdicts.get(preflight).unwrap().outcome.label(), "allowed");
        stop.cancel();
        task.await.unwrap();
        assert_eq!(verdicts.get(preflight).unwrap().outcome.label(), "allowed");
    }

    #[tokio::test]
    async fn switching_profile_recomputes_every_verdict() {
        let (store, verdicts, stop, task) = following(Store::default());
        let origin = ("Origin", "http://app.test");
        // ACAH `*` covering Authorization: allowed in Chrome, blocked by the spec.
        store.push(ex(
            "OPTIONS",
            &[
                origin,
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Headers", "*"),
            ],
            204,
        ));
        let actual = store.push(ex(
            "GET",
            &[origin, ("Authorization", "Bearer x")],
            &[("Access-Control-Allow-Origin", "*")],
            200,
        ));
        let mut rx = verdicts.subscribe();
        while verdicts.get(actual).is_none() {
            rx.changed().await.unwrap();
        }
        let before = verdicts.changes_since(1, 10).generation;
        assert!(!verdicts.blocked().iter().any(|v| v.exchange == actual));
        verdicts.set_profile(Profile::Spec);
        while verdicts.changes_since(1, 10).generation == before {
            rx.changed().await.unwrap();
        }
        assert!(
            !verdicts.blocked().is_empty(),
            "the spec refuses `*` for Authorization"
        );
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn verdicts_hold_no_more_than_the_store_and_keep_evicted_blocks() {
        use crate::capture::store::StoreLimits;
        let cap = 50;
        let (store, verdicts, stop, task) = following(Store::new(StoreLimits {
            max_exchanges: cap,
            ..StoreLimits::default()
        }));
        let origin = ("Origin", "http://app.test");
        let mut rx = verdicts.subscribe();
        let n = 1_000u64;
        let mut blocked = Vec::new();
        for i in 1..=n {
            // Every 100th one is blocked (no ACAO); the rest are allowed.
            let resp: &[(&str, &str)] = if i % 100 == 0 {
                &[]
            } else {
                &[("Access-Control-Allow-Origin", "*")]
            };
            let id = store.push(ex("GET", &[origin], resp, 200));
            if i % 100 == 0 {
                blocked.push(id);
            }
            if i % 10 == 0 {
                // Let the follower run now and then, as live traffic would.
                tokio::task::yield_now().await;
                assert!(verdicts.held() <= 2 * cap, "held {}", verdicts.held());
            }
        }
        while verdicts.get(n).is_none() {
            rx.changed().await.unwrap();
        }
        stop.cancel();
        task.await.unwrap();
        let stats = store.stats();
        assert_eq!(
            stats.exchanges + stats.evicted_exchanges as usize,
            n as usize
        );
        assert!(verdicts.held() <= cap, "held {}", verdicts.held());
        assert!((store.first_id()..=n).all(|id| verdicts.get(id).is_some()));
        let kept: Vec<u64> = verdicts.blocked().iter().map(|v| v.exchange).collect();
        assert_eq!(kept, blocked, "blocked verdicts outlive their exchanges");
        assert_eq!(verdicts.blocked_not_kept(), 0);
    }
}
