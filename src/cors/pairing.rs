//! Pairing and the incremental engine: links each preflight to its actual request (same URL,
//! Origin, method = ACRM, close in time, same client), links actual requests that rode a
//! cached preflight (per-profile cache model), follows redirect chains hop by hop, and
//! settles preflights and redirects whose follow-up never came. [`Session`] is what the live
//! proxy feeds; [`crate::cors::analyze`] runs the same session over a whole HAR.
//!
//! Lookups are indexed by URL, and per-URL lists are pruned to the pairing window, so
//! pushing an exchange costs O(requests to that URL within the window).

use crate::capture::{Exchange, ExchangeId, HeaderList};
use crate::cors::check::{
    basic_headers, cors_check, exposed_headers, is_redirect_status, preflight_check, AllowList,
    Failure, FailureKind,
};
use crate::cors::classify::{
    classify, infer_credentials, needs, strip_fragment, url_origin, Class, Credentials, Kind, Role,
};
use crate::cors::diff::{origin_diff, preflight_diff, Source};
use crate::cors::fix::{explain, fix, Context};
use crate::cors::lint::{authorization_via_wildcard, reflects_any_origin, response_lints};
use crate::cors::profile::Profile;
use crate::cors::verdict::{
    chrome_detail, chrome_message, firefox_reason, for_exchange, resource_word, OtherOutcome,
    Outcome, PreflightUse, RedirectInfo, Stage, Verdict,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A verdict as the session holds it, handed out for exchange `id`. Exchanges judged
/// alike (a repeated preflight answered from the session's memo) hold one verdict, whose
/// own `exchange` is then the first of them: [`Shared::into_own`] makes the copy under
/// `id`, and a holder of many verdicts can keep the shared one instead (the `*_shared`
/// methods of [`Session`]; the others hand out copies).
#[derive(Debug, Clone)]
pub struct Shared {
    /// The exchange this verdict is for.
    pub id: ExchangeId,
    /// Its verdict, perhaps shared with other exchanges.
    pub verdict: Arc<Verdict>,
}

impl Shared {
    /// The verdict under its own exchange id (a copy when it is shared).
    pub fn into_own(self) -> Arc<Verdict> {
        for_exchange(&self.verdict, self.id)
    }
}

fn own(handed: Vec<Shared>) -> Vec<Arc<Verdict>> {
    handed.into_iter().map(Shared::into_own).collect()
}

/// How long, by default, a preflight waits for its actual request before the engine calls
/// it blocked. Browsers send the actual request right after a passing preflight; 2 s covers
/// a slow page without leaving the user staring at "pending".
pub const DEFAULT_PREFLIGHT_WAIT_MS: i64 = 2_000;

/// How far apart (ms) a preflight and its actual request, or a redirect and its next hop,
/// may be and still be linked.
pub const DEFAULT_PAIRING_WINDOW_MS: i64 = 10_000;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The browser modelled.
    pub profile: Profile,
    /// See [`DEFAULT_PREFLIGHT_WAIT_MS`].
    pub preflight_wait_ms: i64,
    /// See [`DEFAULT_PAIRING_WINDOW_MS`].
    pub pairing_window_ms: i64,
    /// False when the recording strips `Cookie`/`Authorization` (Chrome DevTools HAR
    /// exports): a request without them then has an unknown credentials mode.
    pub credentials_visible: bool,
    /// Release the state of exchanges nothing can link to any more (live capture, where
    /// every verdict is handed out as it changes). When false, the session keeps every
    /// verdict for [`Session::verdicts`] (whole-file analysis).
    pub release_settled: bool,
}

impl Config {
    /// Defaults for `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            preflight_wait_ms: DEFAULT_PREFLIGHT_WAIT_MS,
            pairing_window_ms: DEFAULT_PAIRING_WINDOW_MS,
            credentials_visible: true,
            release_settled: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new(Profile::default())
    }
}

#[derive(Debug, Clone)]
struct Chain {
    first_url: String,
    /// The fragment of the browser's URL for this hop (never on the wire): a location's
    /// fragment, or the one before it when the location has none (Fetch §HTTP-redirect
    /// fetch). Chrome names the URL with it.
    fragment: Option<Box<str>>,
    page_origin: String,
    /// The hop before this one.
    previous: ExchangeId,
    hop: u32,
}

#[derive(Debug)]
struct PreflightState {
    /// When its response was in (ms, rounded down).
    ended: i64,
    acrm: String,
    acrh: Vec<String>,
    status: Option<u16>,
    response: HeaderList,
    paired: Option<usize>,
    settled: bool,
}

#[derive(Debug)]
struct Node {
    id: ExchangeId,
    started: i64,
    client: Option<String>,
    class: Class,
    method: String,
    url: String,
    resource: &'static str,
    chain: Option<Chain>,
    pf: Option<PreflightState>,
    /// Credentials mode of a CORS request (chain-wide: once included, always included).
    include: bool,
    /// For a 3xx hop: the next hop was seen.
    followed: bool,
    /// For a 3xx hop: waiting for its next hop.
    awaiting: bool,
    /// Listed in the redirect index (a 3xx whose next hop may come).
    registered: bool,
    /// The fragment of its redirect location, if it has one.
    location_fragment: Option<Box<str>>,
    settled: bool,
}

/// What the verdict of a lone preflight (no actual request paired with it, no redirect
/// before it, a response received) depends on, besides its exchange id and whether its
/// wait is over (which memo slot it is in).
#[derive(Debug)]
struct LoneKey {
    kind: Kind,
    method: String,
    url: String,
    origin: Option<String>,
    resource: &'static str,
    acrm: String,
    /// The requested header names in the order they are checked (learned order included).
    order: Vec<String>,
    status: u16,
    response: HeaderList,
    /// Whether another preflight's actual request went out ([`Session::repeated`]).
    repeated: bool,
}

impl LoneKey {
    fn new(n: &Node, pf: &PreflightState, status: u16, order: Vec<String>, repeated: bool) -> Self {
        Self {
            kind: n.class.kind,
            method: n.method.clone(),
            url: n.url.clone(),
            origin: n.class.origin.clone(),
            resource: n.resource,
            acrm: pf.acrm.clone(),
            order,
            status,
            response: pf.response.clone(),
            repeated,
        }
    }

    /// True when node `n` (preflight state `pf`) has these inputs; compared in place, so
    /// a repeat costs no copies.
    fn fits(
        &self,
        n: &Node,
        pf: &PreflightState,
        status: u16,
        order: &[String],
        repeated: bool,
    ) -> bool {
        self.status == status
            && self.repeated == repeated
            && self.kind == n.class.kind
            && self.resource == n.resource
            && self.url == n.url
            && self.method == n.method
            && self.acrm == pf.acrm
            && self.origin == n.class.origin
            && self.order == order
            && self.response == pf.response
    }
}

/// The last lone preflight judged and its verdict. Pages and load generators repeat the
/// same preflight many times a second; each is judged twice (pending, then settled), and
/// a repeat with the same inputs gets the same verdict but for its id.
#[derive(Debug)]
struct LoneMemo {
    key: LoneKey,
    /// Shared by every repeat: held under their positions and handed out as copies with
    /// their own ids ([`Session::handout`]).
    verdict: Arc<Verdict>,
}

#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    preflight: usize,
    expires: i64,
    include: bool,
}

/// The incremental engine. Push exchanges in the order they started; each push returns the
/// verdicts it created or changed. [`Session::tick`] settles waits by the clock you pass in;
/// [`Session::finish`] settles everything (end of a HAR).
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    nodes: Slots<Node>,
    /// Shared with whoever the verdicts are handed to, so handing one out copies nothing.
    /// A repeat of a lone preflight holds the first one's verdict (its `exchange` is the
    /// first one's id); [`Session::handout`] gives it its own.
    verdicts: Slots<Arc<Verdict>>,
    open_preflights: HashMap<String, Positions>,
    cache: HashMap<String, Vec<CacheEntry>>,
    redirects: HashMap<String, Positions>,
    actuals: HashMap<String, Positions>,
    echoes: HashMap<String, Vec<String>>,
    /// Nodes waiting for a follow-up, by (start, position): settling by the clock takes the
    /// due ones from the front instead of walking every waiting node on every tick.
    waiting: std::collections::BTreeSet<(i64, usize)>,
    /// Where each request header name sits, on average, among the script-visible headers
    /// of the CORS requests this browser sent (0 = first, 1 = last), learned from the wire.
    header_positions: HashMap<String, (f64, u32)>,
    /// With `release_settled`: the oldest node not yet looked at for release.
    release_scan: usize,
    /// Nodes past the pairing window still held (waiting, or a cached preflight).
    held_back: Vec<usize>,
    /// Clock of the last sweep of the indexes.
    last_sweep: i64,
    /// See [`LoneMemo`]: one for pending verdicts, one for settled ones.
    lone: [Option<Box<LoneMemo>>; 2],
    /// False only in tests that check the memo changes nothing.
    memo: bool,
}

/// Node positions listed under one URL, in push order (ascending): forgetting the oldest
/// takes them from the front.
type Positions = std::collections::VecDeque<usize>;

/// Drop the positions below `cut` from the front of `list`.
fn drop_front(list: &mut Positions, cut: usize) {
    let below = list.partition_point(|&i| i < cut);
    list.drain(..below);
}

/// How often (ms of the session's clock) stale index entries are swept out.
const SWEEP_EVERY_MS: u64 = 1_000;

/// Per-exchange state in push order, indexed by push position. Entries nothing can reach
/// any more are released; positions stay stable, and released ones at the front are
/// dropped for good, so a long capture costs only what recent traffic needs.
#[derive(Debug)]
struct Slots<T> {
    /// Position of `items[0]`.
    base: usize,
    items: std::collections::VecDeque<Option<Box<T>>>,
}

impl<T> Slots<T> {
    fn new() -> Self {
        Self {
            base: 0,
            items: std::collections::VecDeque::new(),
        }
    }

    /// Positions handed out so far.
    fn len(&self) -> usize {
        self.base + self.items.len()
    }

    fn push(&mut self, item: T) {
        self.items.push_back(Some(Box::new(item)));
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i.checked_sub(self.base)?)?.as_deref()
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items
            .get_mut(i.checked_sub(self.base)?)?
            .as_deref_mut()
    }

    fn release(&mut self, i: usize) {
        if let Some(slot) = i.checked_sub(self.base).and_then(|k| self.items.get_mut(k)) {
            *slot = None;
        }
        while matches!(self.items.front(), Some(None)) {
            self.items.pop_front();
            self.base += 1;
        }
    }

    /// Drop every entry before position `cut`.
    fn forget_before(&mut self, cut: usize) {
        let n = cut.saturating_sub(self.base).min(self.items.len());
        self.items.drain(..n);
        self.base += n;
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(|slot| slot.as_deref())
    }

    fn into_vec(self) -> Vec<T> {
        self.items.into_iter().flatten().map(|b| *b).collect()
    }
}

impl<T> std::ops::Index<usize> for Slots<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(item) => item,
            None => unreachable!("pairing state {i} was released while still linked"),
        }
    }
}

impl<T> std::ops::IndexMut<usize> for Slots<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        match self.get_mut(i) {
            Some(item) => item,
            None => unreachable!("pairing state {i} was released while still linked"),
        }
    }
}

fn client_host(addr: Option<&str>) -> Option<String> {
    let a = addr?;
    let host = match a.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => a,
    };
    Some(host.trim_matches(['[', ']']).to_owned())
}

fn same_client(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The fragment of a redirect's location (`None` when it has none).
fn location_fragment(ex: &Exchange) -> Option<Box<str>> {
    let loc = ex.response.as_ref()?.headers.first("location")?.trim();
    let base = url::Url::parse(&ex.request.url).ok()?;
    base.join(loc).ok()?.fragment().map(Box::from)
}

fn location_of(ex: &Exchange) -> Option<String> {
    let resp = ex.response.as_ref()?;
    if !is_redirect_status(resp.status) {
        return None;
    }
    let loc = resp.headers.first("location")?.trim();
    let base = url::Url::parse(&ex.request.url).ok()?;
    let mut u = base.join(loc).ok()?;
    u.set_fragment(None);
    Some(u.to_string())
}

/// The names listed in `Access-Control-Request-Headers`, lowercase, in the order sent.
fn parse_acrh(h: &HeaderList) -> Vec<String> {
    let mut v: Vec<String> = h
        .get_all("access-control-request-headers")
        .flat_map(|l| l.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    v.dedup();
    v
}

fn has_userinfo(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

impl Session {
    /// An empty session.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            nodes: Slots::new(),
            verdicts: Slots::new(),
            open_preflights: HashMap::new(),
            cache: HashMap::new(),
            redirects: HashMap::new(),
            actuals: HashMap::new(),
            echoes: HashMap::new(),
            waiting: std::collections::BTreeSet::new(),
            header_positions: HashMap::new(),
            release_scan: 0,
            held_back: Vec::new(),
            last_sweep: i64::MIN,
            lone: [None, None],
            memo: true,
        }
    }

    /// The profile verdicts are computed for.
    pub fn profile(&self) -> Profile {
        self.cfg.profile
    }

    /// Every verdict held, in push order: all of them, unless `release_settled` is set.
    pub fn verdicts(&self) -> impl Iterator<Item = Arc<Verdict>> + '_ {
        self.nodes
            .iter()
            .zip(self.verdicts.iter())
            .map(|(n, v)| for_exchange(v, n.id))
    }

    /// Take the held verdicts out, in push order.
    pub fn into_verdicts(self) -> Vec<Verdict> {
        let ids: Vec<ExchangeId> = self.nodes.iter().map(|n| n.id).collect();
        ids.into_iter()
            .zip(self.verdicts.into_vec())
            .map(|(id, v)| Arc::unwrap_or_clone(for_exchange(&v, id)))
            .collect()
    }

    /// The verdict of node `i` to hand out.
    fn handout(&self, i: usize) -> Shared {
        Shared {
            id: self.nodes[i].id,
            verdict: self.verdicts[i].clone(),
        }
    }

    /// Judge a finished exchange. Returns the new verdict and every earlier verdict that
    /// changed because of it (a preflight learns its actual request, a redirect its next hop).
    pub fn push(&mut self, ex: &Exchange) -> Vec<Arc<Verdict>> {
        own(self.push_shared(ex))
    }

    /// [`Session::push`], handing verdicts out as the session holds them.
    pub fn push_shared(&mut self, ex: &Exchange) -> Vec<Shared> {
        let changed = self.push_inner(ex);
        let out = changed.iter().map(|&i| self.handout(i)).collect();
        if self.cfg.release_settled {
            let idx = self.nodes.len() - 1;
            if !self.linkable(idx) {
                self.release(idx);
            }
        }
        out
    }

    /// Settle the preflights and redirects that waited `preflight_wait_ms` without a
    /// follow-up, as of `now_ms` (milliseconds since the Unix epoch).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Arc<Verdict>> {
        own(self.tick_shared(now_ms))
    }

    /// [`Session::tick`], handing verdicts out as the session holds them.
    pub fn tick_shared(&mut self, now_ms: i64) -> Vec<Shared> {
        let wait = self.cfg.preflight_wait_ms;
        let due: Vec<usize> = self
            .waiting
            .iter()
            .take_while(|(started, _)| started.saturating_add(wait) <= now_ms)
            .map(|&(_, i)| i)
            .collect();
        let out = self.settle(due);
        // Sweeping the indexes walks all of them: at most once per SWEEP_EVERY_MS of clock
        // (lookups prune what they touch to the window themselves), not on every push.
        if now_ms.abs_diff(self.last_sweep) >= SWEEP_EVERY_MS {
            self.last_sweep = now_ms;
            self.forget_stale(now_ms);
            if self.cfg.release_settled {
                self.release_stale(now_ms);
            }
        }
        out
    }

    /// True when a later exchange may still link to node `idx` through an index: a
    /// preflight, a CORS request, a redirect hop, or anything still waiting.
    fn linkable(&self, idx: usize) -> bool {
        let n = &self.nodes[idx];
        n.class.is_preflight || n.class.kind == Kind::Cors || n.awaiting || n.registered
    }

    fn release(&mut self, idx: usize) {
        self.nodes.release(idx);
        self.verdicts.release(idx);
    }

    /// Release nodes older than the pairing window (the indexes no longer list them) that
    /// nothing waits on and no cached preflight entry names.
    fn release_stale(&mut self, now_ms: i64) {
        let window = self.cfg.pairing_window_ms;
        let old = |n: &Node| now_ms.saturating_sub(n.started) > window;
        let mut candidates = std::mem::take(&mut self.held_back);
        self.release_scan = self.release_scan.max(self.nodes.base);
        while self.release_scan < self.nodes.len() {
            match self.nodes.get(self.release_scan) {
                Some(n) if !old(n) => break,
                Some(_) => candidates.push(self.release_scan),
                None => {}
            }
            self.release_scan += 1;
        }
        if candidates.is_empty() {
            return;
        }
        let cached: std::collections::HashSet<usize> =
            self.cache.values().flatten().map(|e| e.preflight).collect();
        for i in candidates {
            let Some(n) = self.nodes.get(i) else { continue };
            if self.waiting.contains(&(n.started, i)) || cached.contains(&i) || !old(n) {
                self.held_back.push(i);
            } else {
                self.release(i);
            }
        }
    }

    /// Number of exchanges pushed so far.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Forget every exchange with an id below `id` (the store evicted them), so a long
    /// live session holds no more than the store does. Exchanges are forgotten in push
    /// order up to the first with an id at or past `id`: the follower pushes by start time,
    /// nearly id order, so one pushed early only keeps a few others a while longer.
    /// Whatever was still waiting among them is settled first: the returned verdicts are
    /// their final ones. Later exchanges can no longer pair with the forgotten ones (a
    /// cached preflight that was forgotten reads as "not seen", as one cached before the
    /// capture does).
    pub fn forget_before(&mut self, id: ExchangeId) -> Vec<Arc<Verdict>> {
        own(self.forget_before_shared(id))
    }

    /// [`Session::forget_before`], handing verdicts out as the session holds them.
    pub fn forget_before_shared(&mut self, id: ExchangeId) -> Vec<Shared> {
        let cut = self.nodes.base
            + self
                .nodes
                .items
                .iter()
                .take_while(|n| n.as_ref().is_none_or(|n| n.id < id))
                .count();
        if cut == self.nodes.base {
            return Vec::new();
        }
        // Only the forgotten nodes are visited (the follower forgets a few at a time, and
        // walking every index then cost more than judging): what waits among them is
        // settled, and they leave the lists of their own URLs.
        let mut due = Vec::new();
        let mut urls: HashSet<String> = HashSet::new();
        for i in self.nodes.base..cut {
            let Some(n) = self.nodes.get(i) else { continue };
            if self.waiting.contains(&(n.started, i)) {
                due.push((n.started, i));
            }
            if !urls.contains(n.url.as_str()) {
                urls.insert(n.url.clone());
            }
        }
        due.sort_unstable();
        let settled = self.settle(due.into_iter().map(|(_, i)| i).collect());
        for url in &urls {
            for map in [&mut self.open_preflights, &mut self.actuals] {
                if let Some(list) = map.get_mut(url) {
                    drop_front(list, cut);
                    if list.is_empty() {
                        map.remove(url);
                    }
                }
            }
            if let Some(list) = self.cache.get_mut(url) {
                list.retain(|e| e.preflight >= cut);
                if list.is_empty() {
                    self.cache.remove(url);
                }
            }
        }
        // Redirect hops are listed under the URL they point to: few, so all are looked at.
        self.redirects.retain(|_, list| {
            drop_front(list, cut);
            !list.is_empty()
        });
        self.held_back.retain(|i| *i >= cut);
        self.nodes.forget_before(cut);
        self.verdicts.forget_before(cut);
        settled
    }

    /// Exchanges whose pairing state is still held (with `release_settled`, the recent
    /// and still-linkable ones; otherwise all).
    pub fn held(&self) -> usize {
        self.nodes.iter().count()
    }

    /// True before the first push.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 0
    }

    /// Drop index entries nothing can link to any more (older than the pairing window, and
    /// expired cache entries), so the indexes stay as small as the recent traffic.
    fn forget_stale(&mut self, now_ms: i64) {
        let window = self.cfg.pairing_window_ms;
        let nodes = &self.nodes;
        let fresh = |i: &usize| now_ms.saturating_sub(nodes[*i].started) <= window;
        for map in [
            &mut self.open_preflights,
            &mut self.redirects,
            &mut self.actuals,
        ] {
            map.retain(|_, list| {
                list.retain(fresh);
                !list.is_empty()
            });
        }
        self.cache.retain(|_, list| {
            list.retain(|e| e.expires > now_ms);
            !list.is_empty()
        });
    }

    /// Settle everything still waiting (end of input).
    pub fn finish(&mut self) -> Vec<Arc<Verdict>> {
        own(self.finish_shared())
    }

    /// [`Session::finish`], handing verdicts out as the session holds them.
    pub fn finish_shared(&mut self) -> Vec<Shared> {
        self.settle_where(|_| true)
    }

    fn settle_where(&mut self, due: impl Fn(&Node) -> bool) -> Vec<Shared> {
        let due: Vec<usize> = self
            .waiting
            .iter()
            .map(|&(_, i)| i)
            .filter(|&i| due(&self.nodes[i]))
            .collect();
        self.settle(due)
    }

    /// Settle waiting nodes `due` (in the order given): their wait is over.
    fn settle(&mut self, due: Vec<usize>) -> Vec<Shared> {
        let mut out = Vec::with_capacity(due.len());
        for i in due {
            self.waiting.remove(&(self.nodes[i].started, i));
            self.nodes[i].settled = true;
            if let Some(pf) = self.nodes[i].pf.as_mut() {
                pf.settled = true;
            }
            self.rejudge(i);
            out.push(self.handout(i));
        }
        out
    }

    fn push_inner(&mut self, ex: &Exchange) -> Vec<usize> {
        let idx = self.nodes.len();
        let class = classify(ex);
        let url = strip_fragment(&ex.request.url).to_owned();
        let resource = resource_word(
            ex.resource_type.as_deref(),
            ex.request.headers.first("sec-fetch-dest"),
        );
        let pf = class.is_preflight.then(|| {
            let h = &ex.request.headers;
            PreflightState {
                ended: ex.started_ms() + ex.timings.total().max(0.0) as i64,
                acrm: h
                    .first("access-control-request-method")
                    .map(|m| m.trim().to_owned())
                    .unwrap_or_default(),
                acrh: parse_acrh(h),
                status: ex.response.as_ref().map(|r| r.status),
                response: ex
                    .response
                    .as_ref()
                    .map(|r| r.headers.clone())
                    .unwrap_or_default(),
                paired: None,
                settled: false,
            }
        });
        self.nodes.push(Node {
            id: ex.id,
            started: ex.started_ms(),
            client: client_host(ex.client_addr.as_deref()),
            class,
            method: ex.request.method.to_string(),
            url,
            resource,
            chain: None,
            pf,
            include: false,
            followed: false,
            awaiting: false,
            registered: false,
            location_fragment: None,
            settled: false,
        });
        self.verdicts.push(Arc::new(self.placeholder(idx)));
        let mut changed = vec![idx];
        let kind = self.nodes[idx].class.kind;
        if self.nodes[idx].class.is_preflight {
            self.link_chain(idx, false, &mut changed);
            let url = self.nodes[idx].url.clone();
            self.open_preflights.entry(url).or_default().push_back(idx);
            self.waiting.insert((self.nodes[idx].started, idx));
            self.verdicts[idx] = self.judge_preflight_memo(idx);
        } else if kind == Kind::Cors {
            self.learn_header_order(ex);
            self.link_chain(idx, true, &mut changed);
            self.push_actual(idx, ex, &mut changed);
        } else {
            self.link_chain(idx, true, &mut changed);
            if kind == Kind::SameOrigin {
                self.register_redirect(idx, ex);
            }
            let (redirect, explanation, readable) = self.judge_other(idx, ex);
            // The placeholder just made is this verdict but for these fields.
            let v = Arc::make_mut(&mut self.verdicts[idx]);
            v.outcome = Outcome::NotCors;
            v.redirect = redirect;
            v.explanation = explanation.to_owned();
            v.readable_headers = readable;
            if let Some(f) = self.same_origin_redirect_failure(idx, ex) {
                let mut v = Verdict::clone(&self.verdicts[idx]);
                v.outcome = Outcome::Blocked {
                    stage: Stage::Redirect,
                };
                v.readable_headers = None;
                let status = ex.response.as_ref().map_or(0, |r| r.status);
                self.fill_failure(idx, &mut v, &f, status, false);
                self.verdicts[idx] = Arc::new(v);
            }
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    fn placeholder(&self, idx: usize) -> Verdict {
        let n = &self.nodes[idx];
        Verdict {
            exchange: n.id,
            kind: n.class.kind,
            role: None,
            outcome: Outcome::Pending,
            paired_with: None,
            preflight: None,
            redirect: None,
            method: n.method.clone(),
            url: n.url.clone(),
            origin: n.class.origin.clone(),
            credentials: None,
            chrome_error: None,
            chrome_message: None,
            chrome_message_alternatives: Vec::new(),
            firefox_reason: None,
            explanation: String::new(),
            diff: Vec::new(),
            fix: None,
            lints: Vec::new(),
            readable_headers: None,
            other_outcome: None,
            notes: Vec::new(),
        }
    }

    fn prune(list: &mut Positions, nodes: &Slots<Node>, now: i64, window: i64) {
        list.retain(|&i| now.saturating_sub(nodes[i].started) <= window);
    }

    /// Link a request to the 3xx hop that pointed at its URL.
    fn link_chain(&mut self, idx: usize, consume: bool, changed: &mut Vec<usize>) {
        // Most URLs are no redirect's target: nothing to copy then.
        if !self.redirects.contains_key(&self.nodes[idx].url) {
            return;
        }
        let (url, started, origin) = {
            let n = &self.nodes[idx];
            (n.url.clone(), n.started, n.class.origin.clone())
        };
        let window = self.cfg.pairing_window_ms;
        let Some(list) = self.redirects.get_mut(&url) else {
            return;
        };
        Self::prune(list, &self.nodes, started, window);
        let nodes = &self.nodes;
        let me = &nodes[idx];
        // The newest first: a browser follows a redirect at once, so an older 3xx to the
        // same URL still listed is one whose fetch stopped (e.g. at the next hop's
        // preflight), not the one this request follows.
        let pos = list.iter().rposition(|&h| {
            let hop = &nodes[h];
            let page = hop
                .chain
                .as_ref()
                .map(|c| c.page_origin.clone())
                .or_else(|| hop.class.origin.clone())
                .or_else(|| url_origin(&hop.url));
            let origin_ok = match (&origin, &hop.class.origin) {
                (None, _) => me.class.kind != Kind::Cors,
                (Some(o), _) if o == "null" => true,
                (Some(o), Some(ho)) if o == ho => true,
                (Some(o), _) => Some(o) == page.as_ref(),
            };
            hop.started <= started && same_client(&hop.client, &me.client) && origin_ok
        });
        let Some(pos) = pos else { return };
        let h = list[pos];
        if consume {
            list.remove(pos);
        }
        let hop = &self.nodes[h];
        let chain = Chain {
            first_url: hop
                .chain
                .as_ref()
                .map_or_else(|| hop.url.clone(), |c| c.first_url.clone()),
            fragment: hop
                .location_fragment
                .clone()
                .or_else(|| hop.chain.as_ref().and_then(|c| c.fragment.clone())),
            page_origin: hop
                .chain
                .as_ref()
                .map(|c| c.page_origin.clone())
                .or_else(|| hop.class.origin.clone())
                .or_else(|| url_origin(&hop.url))
                .unwrap_or_else(|| "null".to_owned()),
            previous: hop.id,
            hop: hop.chain.as_ref().map_or(1, |c| c.hop + 1),
        };
        let inherited = hop.include;
        self.nodes[idx].chain = Some(chain);
        self.nodes[idx].include |= inherited;
        if !self.nodes[h].followed {
            self.nodes[h].followed = true;
            self.nodes[h].awaiting = false;
            let started = self.nodes[h].started;
            self.waiting.remove(&(started, h));
            self.rejudge(h);
            changed.push(h);
        }
    }

    fn register_redirect(&mut self, idx: usize, ex: &Exchange) {
        if let Some(target) = location_of(ex) {
            let window = self.cfg.pairing_window_ms;
            let started = self.nodes[idx].started;
            let list = self.redirects.entry(target).or_default();
            Self::prune(list, &self.nodes, started, window);
            list.push_back(idx);
            self.nodes[idx].registered = true;
            self.nodes[idx].location_fragment = location_fragment(ex);
        }
    }

    fn push_actual(&mut self, idx: usize, ex: &Exchange, changed: &mut Vec<usize>) {
        let profile = self.cfg.profile;
        let window = self.cfg.pairing_window_ms;
        let need = needs(ex, profile);
        let (url, started) = (self.nodes[idx].url.clone(), self.nodes[idx].started);
        // Pair with an open preflight: exact ACRH first, then any; the newest first. A
        // browser sends the actual request right after its own preflight, so an older one
        // still open belongs to a fetch that stopped there (it failed in that fetch's
        // credentials mode, or the page gave up on it).
        let mut paired = None;
        if let Some(list) = self.open_preflights.get_mut(&url) {
            Self::prune(list, &self.nodes, started, window);
            let nodes = &self.nodes;
            let me = &nodes[idx];
            let fits = |&&p: &&usize| {
                let n = &nodes[p];
                let Some(pf) = n.pf.as_ref() else {
                    return false;
                };
                let origin_ok = n.class.origin == me.class.origin
                    || (me.class.origin.as_deref() == Some("null") && n.chain.is_some());
                pf.paired.is_none()
                    && n.started <= started
                    && pf.acrm == me.method
                    && origin_ok
                    && same_client(&n.client, &me.client)
            };
            paired = list
                .iter()
                .rev()
                .filter(fits)
                .find(|&&p| {
                    self.nodes[p]
                        .pf
                        .as_ref()
                        .is_some_and(|pf| pf.acrh == need.unsafe_headers)
                })
                .or_else(|| list.iter().rev().find(fits))
                .copied();
            if let Some(p) = paired {
                // Older preflights of the same shape whose responses were in before this
                // one was sent were given up by their fetches (which would have sent their
                // requests by then): no later request is theirs.
                let sent = nodes[p].started;
                let given_up = |x: usize| {
                    x < p && fits(&&x) && nodes[x].pf.as_ref().is_some_and(|pf| pf.ended <= sent)
                };
                list.retain(|&x| x != p && !given_up(x));
            }
        }
        let mut cached = None;
        let authorization_preflighted = match paired {
            Some(p) => self.nodes[p]
                .pf
                .as_ref()
                .is_some_and(|pf| pf.acrh.iter().any(|h| h == "authorization")),
            // A script-set Authorization is an unsafe header: a request that rode a cached
            // preflight covering it set it itself, which says nothing about the mode. Look
            // for such an entry in the mode the other evidence gives before taking the
            // header as the browser's own (stored HTTP auth, sent only in include mode).
            None if need.unsafe_headers.iter().any(|h| h == "authorization") => {
                let include = self.nodes[idx].include || infer_credentials(ex, true).is_include();
                cached = self.cache_lookup(idx, &need.unsafe_headers, include);
                cached.is_some()
            }
            None => false,
        };
        let mut creds = infer_credentials(ex, authorization_preflighted);
        if !self.cfg.credentials_visible && !creds.is_include() {
            creds = Credentials::unknown(
                "no Cookie in the recording, but its exporter strips cookies: mode unknown",
            );
        }
        self.nodes[idx].include |= creds.is_include();
        let include = self.nodes[idx].include;
        if let Some(p) = paired {
            if let Some(pf) = self.nodes[p].pf.as_mut() {
                pf.paired = Some(idx);
            }
            let started = self.nodes[p].started;
            self.waiting.remove(&(started, p));
            self.verdicts[p] = Arc::new(self.judge_preflight(p));
            changed.push(p);
            if self.verdicts[p].outcome == Outcome::Allowed {
                self.add_cache(p, include);
            }
        } else if need.preflight() && cached.is_none() {
            cached = self.cache_lookup(idx, &need.unsafe_headers, include);
        }
        let pre = match (paired, cached) {
            (Some(p), _) => Some((p, PreflightUse::Paired)),
            (None, Some(p)) => Some((p, PreflightUse::Cached)),
            (None, None) if need.preflight() => None,
            _ => None,
        };
        let mut v = self.judge_actual(idx, ex, pre, need.preflight(), creds);
        self.track_echo(idx, ex, &mut v);
        if pre.is_some() && v.outcome.is_blocked() && profile != Profile::Chrome {
            // Fetch: a failed CORS-with-preflight fetch clears the cache entries for its URL.
            // Chromium does not: its cache drops an entry only when a lookup finds it
            // expired or short of the request (preflight_cache.cc), and the next request
            // rides the entry of a preflight whose request then failed the CORS check.
            self.cache.remove(&url);
        }
        self.verdicts[idx] = Arc::new(v);
        if self.verdicts[idx].outcome == Outcome::Pending {
            self.nodes[idx].awaiting = true;
            self.waiting.insert((self.nodes[idx].started, idx));
            self.register_redirect(idx, ex);
        }
        // A passing preflight left unpaired may now count as a repeat of this request's.
        let list = self.actuals.entry(url.clone()).or_default();
        Self::prune(list, &self.nodes, started, window);
        list.push_back(idx);
        if let Some(open) = self.open_preflights.get(&url) {
            let settled: Vec<usize> = open
                .iter()
                .copied()
                .filter(|&p| {
                    let n = &self.nodes[p];
                    started.saturating_sub(n.started) <= window
                        && n.pf
                            .as_ref()
                            .is_some_and(|pf| pf.settled && pf.paired.is_none())
                })
                .collect();
            for p in settled {
                let before = self.verdicts[p].clone();
                self.rejudge(p);
                if !self.verdicts[p].same_apart_from_exchange(&before) {
                    changed.push(p);
                }
            }
        }
    }

    fn add_cache(&mut self, p: usize, include: bool) {
        let n = &self.nodes[p];
        let Some(pf) = n.pf.as_ref() else { return };
        let max_age = crate::cors::check::parse_max_age(&pf.response, self.cfg.profile);
        let expires = n
            .started
            .saturating_add(i64::try_from(max_age.saturating_mul(1000)).unwrap_or(i64::MAX));
        let key = n.url.clone();
        let list = self.cache.entry(key).or_default();
        let now = n.started;
        list.retain(|e| e.expires > now);
        list.push(CacheEntry {
            preflight: p,
            expires,
            include,
        });
    }

    fn cache_lookup(&mut self, idx: usize, names: &[String], include: bool) -> Option<usize> {
        let (url, started) = (&self.nodes[idx].url, self.nodes[idx].started);
        let list = self.cache.get_mut(url)?;
        list.retain(|e| e.expires > started);
        let me = &self.nodes[idx];
        list.iter()
            .rev()
            .find(|e| {
                let p = &self.nodes[e.preflight];
                let Some(pf) = p.pf.as_ref() else {
                    return false;
                };
                if p.class.origin != me.class.origin || (include && !e.include) {
                    return false;
                }
                let cred = e.include;
                let methods = AllowList::parse(&pf.response, "access-control-allow-methods");
                let headers = AllowList::parse(&pf.response, "access-control-allow-headers");
                let (Ok(m), Ok(h)) = (methods, headers) else {
                    return false;
                };
                let method_ok = crate::cors::safelist::is_safelisted_method(&me.method)
                    || m.contains_exact(&me.method)
                    || pf.acrm == me.method
                    || (!cred && m.has_wildcard());
                let headers_ok = names.iter().all(|n| {
                    h.contains_ci(n)
                        || pf.acrh.contains(n)
                        || (!cred
                            && h.has_wildcard()
                            && !(n == "authorization" && self.cfg.profile == Profile::Spec))
                });
                method_ok && headers_ok
            })
            .map(|e| e.preflight)
    }

    fn track_echo(&mut self, idx: usize, ex: &Exchange, v: &mut Verdict) {
        let Some(resp) = ex.response.as_ref() else {
            return;
        };
        let Some(origin) = self.nodes[idx].class.origin.as_deref() else {
            return;
        };
        let acao = crate::cors::check::combined(&resp.headers, "access-control-allow-origin");
        let acac = crate::cors::check::combined(&resp.headers, "access-control-allow-credentials");
        if origin == "null" || acao.as_deref() != Some(origin) || acac.as_deref() != Some("true") {
            return;
        }
        let Some(server) = url_origin(&self.nodes[idx].url) else {
            return;
        };
        let seen = self.echoes.entry(server).or_default();
        if seen.len() < 2 && !seen.iter().any(|o| o == origin) {
            seen.push(origin.to_owned());
        }
        if seen.len() >= 2 {
            v.lints.push(reflects_any_origin());
        }
    }

    /// Recompute a verdict that depends on later traffic (preflights, redirect hops).
    fn rejudge(&mut self, i: usize) {
        if self.nodes[i].pf.is_some() {
            self.verdicts[i] = self.judge_preflight_memo(i);
            return;
        }
        let v = Arc::make_mut(&mut self.verdicts[i]);
        if self.nodes[i].followed {
            if v.outcome == Outcome::Pending || v.outcome == Outcome::Unknown {
                v.outcome = Outcome::Allowed;
                v.explanation =
                    "The redirect passed the CORS check and the browser followed it.".to_owned();
            }
        } else if self.nodes[i].settled && v.outcome == Outcome::Pending {
            v.outcome = Outcome::Unknown;
            v.explanation = "The redirect passed the CORS check but no next hop followed: with redirect: 'manual' the page got an opaque-redirect response (allowed), with redirect: 'error' the fetch was rejected; the wire does not say which.".to_owned();
        }
    }

    /// The URL Chrome names for exchange `idx`: its own, with the fragment a redirect
    /// gave it.
    fn message_url(&self, idx: usize) -> std::borrow::Cow<'_, str> {
        let n = &self.nodes[idx];
        match n.chain.as_ref().and_then(|c| c.fragment.as_deref()) {
            Some(fragment) => format!("{}#{fragment}", n.url).into(),
            None => n.url.as_str().into(),
        }
    }

    fn message_parts(&self, idx: usize) -> (Option<String>, String) {
        let n = &self.nodes[idx];
        match &n.chain {
            Some(c) => (Some(c.first_url.clone()), c.page_origin.clone()),
            None => (None, self.request_origin(idx)),
        }
    }

    /// The origin of the page that made request `idx`: its `Origin` header, or for a
    /// same-origin request that sent none (a GET), its URL's.
    fn request_origin(&self, idx: usize) -> String {
        let n = &self.nodes[idx];
        n.class
            .origin
            .clone()
            .or_else(|| {
                (n.class.kind == Kind::SameOrigin)
                    .then(|| url_origin(&n.url))
                    .flatten()
            })
            .unwrap_or_else(|| "null".into())
    }

    /// What refuses the redirect of same-origin request `idx` besides CORS:
    /// - Fetch §HTTP-redirect fetch: a cors-mode request redirected to a location that
    ///   carries a user name or password and is not same origin with the request's origin
    ///   (Chrome `kRedirectContainsCredentials`);
    /// - Fetch §main fetch: a `mode: 'same-origin'` request whose URL is now another origin
    ///   (Chrome `kDisallowedByMode`, with no console line).
    fn same_origin_redirect_failure(&self, idx: usize, ex: &Exchange) -> Option<Failure> {
        let n = &self.nodes[idx];
        if n.class.kind != Kind::SameOrigin {
            return None;
        }
        let loc = location_of(ex)?;
        let cross = url_origin(&loc).as_deref() != Some(self.request_origin(idx).as_str());
        let kind = match ex.request.headers.first("sec-fetch-mode").map(str::trim) {
            Some("cors") if cross && has_userinfo(&loc) => FailureKind::RedirectContainsCredentials,
            Some("same-origin") if cross => FailureKind::DisallowedByMode,
            _ => return None,
        };
        Some(Failure {
            kind,
            hint: loc,
            preflight: false,
        })
    }

    fn fill_failure(&self, idx: usize, v: &mut Verdict, f: &Failure, status: u16, include: bool) {
        let n = &self.nodes[idx];
        let (from, page_origin) = self.message_parts(idx);
        v.chrome_error = Some(f.kind.chrome_name(f.preflight));
        let url = self.message_url(idx);
        v.chrome_message = chrome_message(f, n.resource, &url, from.as_deref(), &page_origin);
        v.firefox_reason = firefox_reason(f, &n.url, status);
        let origin = self.request_origin(idx);
        let ctx = Context {
            origin: &origin,
            response_to: if n.pf.is_some() { "OPTIONS" } else { &n.method },
            url: &n.url,
            include,
        };
        v.explanation = explain(f, &ctx);
        v.fix = fix(f, &ctx);
    }

    /// Remember the order in which this browser sends script-visible request headers.
    /// Chromium checks a preflight's header names in its own request-header order (not the
    /// sorted order of `Access-Control-Request-Headers`) and names the first refused one;
    /// when the actual request was never sent, the order learned from the requests it did
    /// send tells which one that was.
    fn learn_header_order(&mut self, ex: &Exchange) {
        let names: Vec<String> = ex
            .request
            .headers
            .iter()
            .filter(|h| !crate::cors::safelist::is_ignored_request_header(h.name, h.value))
            .map(|h| h.name.to_ascii_lowercase())
            .collect();
        if names.len() < 2 {
            return;
        }
        let last = (names.len() - 1) as f64;
        for (i, name) in names.into_iter().enumerate() {
            let slot = self.header_positions.entry(name).or_insert((0.0, 0));
            slot.0 += i as f64 / last;
            slot.1 += 1;
        }
    }

    /// `acrh` in the order Chromium checks it: learned positions first, names never seen
    /// keep their (sorted) place after them.
    fn check_order(&self, acrh: &[String]) -> Vec<String> {
        let key = |name: &String| match self.header_positions.get(name) {
            Some(&(sum, n)) if n > 0 => sum / f64::from(n),
            _ => f64::INFINITY,
        };
        let mut out = acrh.to_vec();
        out.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| a.cmp(b)));
        out
    }

    /// [`Session::judge_preflight`], reusing the last lone preflight's verdict when this
    /// one is lone too and every input the verdict depends on is the same.
    fn judge_preflight_memo(&mut self, idx: usize) -> Arc<Verdict> {
        let n = &self.nodes[idx];
        let lone = n.pf.as_ref().and_then(|pf| {
            let status = pf.status?;
            (pf.paired.is_none() && n.chain.is_none()).then_some((pf, status))
        });
        let Some((pf, status)) = lone.filter(|_| self.memo) else {
            return Arc::new(self.judge_preflight(idx));
        };
        let order = self.check_order(&pf.acrh);
        let repeated = pf.settled && self.repeated(idx);
        let slot = usize::from(pf.settled);
        let memo = self.lone[slot].as_ref();
        if let Some(m) = memo.filter(|m| m.key.fits(n, pf, status, &order, repeated)) {
            return m.verdict.clone();
        }
        let key = LoneKey::new(n, pf, status, order, repeated);
        let v = Arc::new(self.judge_preflight(idx));
        self.lone[slot] = Some(Box::new(LoneMemo {
            key,
            verdict: v.clone(),
        }));
        v
    }

    fn judge_preflight(&self, idx: usize) -> Verdict {
        let profile = self.cfg.profile;
        let n = &self.nodes[idx];
        let mut v = self.placeholder(idx);
        v.role = Some(Role::Preflight);
        v.redirect = n.chain.as_ref().map(|c| self.redirect_info(c));
        let Some(pf) = n.pf.as_ref() else { return v };
        // Linked both ways whatever the preflight got, a network error included.
        v.paired_with = pf.paired.map(|a| self.nodes[a].id);
        let origin = n.class.origin.as_deref().unwrap_or("null");
        let order = self.check_order(&pf.acrh);
        let names = || order.iter().map(String::as_str);
        let Some(status) = pf.status else {
            v.outcome = if pf.settled || pf.paired.is_some() {
                Outcome::Blocked {
                    stage: Stage::Preflight,
                }
            } else {
                Outcome::Pending
            };
            v.explanation = "The preflight got no response (network error).".to_owned();
            return v;
        };
        let check = |include: bool| {
            preflight_check(
                status,
                &pf.response,
                origin,
                &pf.acrm,
                names(),
                include,
                profile,
            )
        };
        let (result, include, creds) = match pf.paired {
            Some(a) => {
                let include = self.nodes[a].include;
                let creds = self.verdicts[a].credentials.clone().unwrap_or_else(|| {
                    if include {
                        Credentials::include("from the actual request")
                    } else {
                        Credentials::not_include("from the actual request")
                    }
                });
                (check(include), include, creds)
            }
            None if !pf.settled => {
                v.outcome = Outcome::Pending;
                v.explanation = "Waiting for the actual request.".to_owned();
                v.diff = preflight_diff(status, &pf.response, origin, &pf.acrm, names(), false, profile);
                return v;
            }
            None => match check(false) {
                Err(f) => (Err(f), false, Credentials::not_include("actual request not sent")),
                // Passing without credentials, failing with them: that failure is why the
                // request never followed, even when a request to the URL went out after it
                // (a later fetch in another mode, with a preflight of its own).
                Ok(g) => match check(true) {
                    Err(f) => (
                        Err(f),
                        true,
                        Credentials::include(
                            "actual request not sent, and only a credentialed request fails this preflight",
                        ),
                    ),
                    // Another preflight's request (or a cached one) went out: a repeat.
                    Ok(_) if self.repeated(idx) => (
                        Ok(g),
                        false,
                        Credentials::not_include("actual request not seen"),
                    ),
                    Ok(_) => {
                        let f = Failure {
                            kind: FailureKind::ActualNotSent,
                            hint: String::new(),
                            preflight: true,
                        };
                        (Err(f), false, Credentials::not_include("actual request not sent"))
                    }
                },
            },
        };
        v.credentials = Some(creds);
        v.diff = preflight_diff(
            status,
            &pf.response,
            origin,
            &pf.acrm,
            names(),
            include,
            profile,
        );
        v.lints = response_lints(&HeaderList::default(), &pf.response, true, profile);
        match result {
            Ok(grant) => {
                v.outcome = Outcome::Allowed;
                v.explanation = if pf.paired.is_some() {
                    "The preflight passed; the browser sent the actual request.".to_owned()
                } else {
                    "The preflight passed; it repeats another preflight for the same request (no-store / reload fetches skip the preflight cache).".to_owned()
                };
                if grant.authorization_via_wildcard {
                    v.lints.push(authorization_via_wildcard());
                    v.notes.push("Chrome 156 and Firefox ESR 153 let Access-Control-Allow-Headers: * cover Authorization; the Fetch standard does not (blocked under --profile spec).".to_owned());
                }
                if let Err(f) = check(!include) {
                    v.other_outcome = Some(other(!include, Some(&f), n.resource));
                }
            }
            Err(f) => {
                v.outcome = Outcome::Blocked {
                    stage: Stage::Preflight,
                };
                self.fill_failure(idx, &mut v, &f, status, include);
                if f.kind == FailureKind::ActualNotSent {
                    v.chrome_error = None;
                } else if pf.paired.is_none() {
                    v.chrome_message_alternatives = self.alternatives(idx, status, include);
                    let primary = v.chrome_message.clone();
                    v.chrome_message_alternatives
                        .retain(|m| Some(m) != primary.as_ref());
                } else if pf.paired.is_some() && check(!include).is_ok() {
                    v.other_outcome = Some(other(!include, None, n.resource));
                }
                if profile == Profile::Spec
                    && f.kind == FailureKind::HeaderDisallowed
                    && f.hint == "authorization"
                    && preflight_check(
                        status,
                        &pf.response,
                        origin,
                        &pf.acrm,
                        names(),
                        include,
                        Profile::Chrome,
                    )
                    .is_ok()
                {
                    v.notes.push("Chrome 156 and Firefox ESR 153 let Access-Control-Allow-Headers: * cover Authorization and would allow this.".to_owned());
                }
            }
        }
        v
    }

    /// For a preflight whose request never came: the console lines Chrome could have printed
    /// in either credentials mode and for any of the refused headers (Chrome names the first
    /// refused header in the request's own header order, which only the request shows).
    fn alternatives(&self, idx: usize, status: u16, include: bool) -> Vec<String> {
        let n = &self.nodes[idx];
        let Some(pf) = n.pf.as_ref() else {
            return Vec::new();
        };
        let origin = n.class.origin.as_deref().unwrap_or("null");
        let (from, page_origin) = self.message_parts(idx);
        let url = self.message_url(idx);
        let profile = self.cfg.profile;
        let mut out: Vec<String> = Vec::new();
        for mode in [include, !include] {
            let order = self.check_order(&pf.acrh);
            let names = order.iter().map(String::as_str);
            let Err(f) =
                preflight_check(status, &pf.response, origin, &pf.acrm, names, mode, profile)
            else {
                continue;
            };
            let mut failures = vec![f.clone()];
            if f.kind == FailureKind::HeaderDisallowed {
                for name in &pf.acrh {
                    let one = std::iter::once(name.as_str());
                    if let Err(g) =
                        preflight_check(status, &pf.response, origin, &pf.acrm, one, mode, profile)
                    {
                        failures.push(g);
                    }
                }
            }
            for g in failures {
                if let Some(m) = chrome_message(&g, n.resource, &url, from.as_deref(), &page_origin)
                {
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
            }
        }
        out
    }

    fn repeated(&self, idx: usize) -> bool {
        let n = &self.nodes[idx];
        let Some(pf) = n.pf.as_ref() else {
            return false;
        };
        let window = self.cfg.pairing_window_ms;
        self.actuals.get(&n.url).is_some_and(|l| {
            l.iter().any(|&a| {
                let m = &self.nodes[a];
                m.started >= n.started
                    && m.started - n.started <= window
                    && m.method == pf.acrm
                    && same_client(&m.client, &n.client)
            })
        })
    }

    fn redirect_info(&self, c: &Chain) -> RedirectInfo {
        RedirectInfo {
            from: c.first_url.clone(),
            previous: c.previous,
            hop: c.hop,
        }
    }

    fn judge_actual(
        &self,
        idx: usize,
        ex: &Exchange,
        pre: Option<(usize, PreflightUse)>,
        needs_preflight: bool,
        creds: Credentials,
    ) -> Verdict {
        let profile = self.cfg.profile;
        let n = &self.nodes[idx];
        let include = n.include;
        let mut v = self.placeholder(idx);
        v.redirect = n.chain.as_ref().map(|c| self.redirect_info(c));
        v.role = Some(if pre.is_some() || needs_preflight {
            Role::Actual
        } else {
            Role::Simple
        });
        v.credentials = Some(if include && !creds.is_include() {
            Credentials::include("an earlier hop of this redirect chain carried credentials")
        } else {
            creds
        });
        match pre {
            Some((p, kind)) => {
                v.paired_with = Some(self.nodes[p].id);
                v.preflight = Some(kind);
            }
            None if needs_preflight => {
                v.preflight = Some(PreflightUse::NotSeen);
                v.notes.push("This request needed a preflight but none was seen: the browser used one cached before the capture (or the preflight went elsewhere).".to_owned());
            }
            None => {}
        }
        if let Some((p, PreflightUse::Paired)) = pre {
            if let Outcome::Blocked { .. } = self.verdicts[p].outcome {
                let pv = &self.verdicts[p];
                v.outcome = Outcome::Blocked {
                    stage: Stage::Preflight,
                };
                v.chrome_error = pv.chrome_error;
                v.chrome_message = pv.chrome_message.clone();
                v.firefox_reason = pv.firefox_reason.clone();
                v.explanation = format!(
                    "Its preflight failed under the {profile:?} profile, so the browser would not have sent it: {}",
                    pv.explanation
                );
                v.fix = pv.fix.clone();
                return v;
            }
        }
        let Some(resp) = ex.response.as_ref() else {
            v.outcome = Outcome::Unknown;
            v.explanation = format!(
                "No response was received{}.",
                ex.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            return v;
        };
        let origin = n.class.origin.as_deref().unwrap_or("null");
        let location = location_of(ex);
        let source = if location.is_some() {
            Source::Redirect
        } else {
            Source::Actual
        };
        v.diff = origin_diff(&resp.headers, origin, include, source);
        v.lints = response_lints(&ex.request.headers, &resp.headers, false, profile);
        if profile == Profile::Chrome
            && ex.request.headers.iter().any(|h| {
                !h.value.is_ascii()
                    && crate::cors::safelist::is_safelisted_request_header(h.name, h.value, profile)
            })
        {
            v.notes.push("Firefox treats non-ASCII bytes in a safelisted header as unsafe and would send a preflight here.".to_owned());
        }
        let result = cors_check(&resp.headers, origin, include);
        let other_result = cors_check(&resp.headers, origin, !include);
        match (&result, &other_result) {
            (Ok(()), Err(f)) => v.other_outcome = Some(other(!include, Some(f), n.resource)),
            (Err(_), Ok(())) => v.other_outcome = Some(other(!include, None, n.resource)),
            _ => {}
        }
        match result {
            Err(f) => {
                if n.class.ambiguous {
                    v.outcome = Outcome::Unknown;
                    self.fill_failure(idx, &mut v, &f, resp.status, include);
                    v.explanation = format!(
                        "Without Sec-Fetch headers this could be a form submission (no CORS) or a fetch(); if it was a fetch(): {}",
                        v.explanation
                    );
                    return v;
                }
                v.outcome = Outcome::Blocked {
                    stage: if location.is_some() {
                        Stage::Redirect
                    } else {
                        Stage::Actual
                    },
                };
                self.fill_failure(idx, &mut v, &f, resp.status, include);
            }
            Ok(()) => match location {
                Some(loc) => {
                    // Fetch §HTTP-redirect fetch: with the CORS flag set (every request
                    // judged here) a location carrying credentials is a network error,
                    // wherever it points.
                    if has_userinfo(&loc) {
                        let f = Failure {
                            kind: FailureKind::RedirectContainsCredentials,
                            hint: loc,
                            preflight: false,
                        };
                        v.outcome = Outcome::Blocked {
                            stage: Stage::Redirect,
                        };
                        self.fill_failure(idx, &mut v, &f, resp.status, include);
                    } else {
                        v.outcome = Outcome::Pending;
                        v.explanation =
                            "The redirect passed the CORS check; waiting for the next hop."
                                .to_owned();
                    }
                }
                None => {
                    v.outcome = Outcome::Allowed;
                    v.explanation = format!(
                        "The response allows origin {origin}{}; JS can read it.",
                        if include { " with credentials" } else { "" }
                    );
                    v.readable_headers = Some(exposed_headers(&resp.headers, include));
                }
            },
        }
        v
    }

    /// What the verdict of an exchange CORS does not apply to says beyond its
    /// [placeholder](Self::placeholder): the redirect that led here, the explanation and
    /// the response headers the page can read.
    fn judge_other(
        &self,
        idx: usize,
        ex: &Exchange,
    ) -> (Option<RedirectInfo>, &'static str, Option<Vec<String>>) {
        let n = &self.nodes[idx];
        let redirect = n.chain.as_ref().map(|c| self.redirect_info(c));
        let resp = ex.response.as_ref();
        let (explanation, readable) = match n.class.kind {
            Kind::SameOrigin => (
                "Same-origin request: no CORS check applies.",
                resp.map(|r| basic_headers(&r.headers)),
            ),
            Kind::NoCors => (
                "no-cors request: the page gets an opaque response (no status, no headers, no body) and no CORS check applies.",
                Some(Vec::new()),
            ),
            Kind::Navigation => ("Navigation: CORS never applies.", None),
            _ => ("Not a browser CORS request (no Origin header).", None),
        };
        (redirect, explanation, readable)
    }
}

fn other(include: bool, failure: Option<&Failure>, resource: &str) -> OtherOutcome {
    OtherOutcome {
        credentials: if include { "include" } else { "not-include" },
        verdict: if failure.is_some() {
            "blocked"
        } else {
            "allowed"
        },
        reason: failure.and_then(|f| chrome_detail(f, resource)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capture::{Header, ResponseRecord};
    use chrono::{TimeZone, Utc};

    const APP: &str = "http://app.test";
    const API: &str = "http://api.test/r";

    fn ex(
        id: u64,
        ms: i64,
        method: &str,
        url: &str,
        req: &[(&str, &str)],
        status: u16,
        resp: &[(&str, &str)],
    ) -> Exchange {
        let mut e = Exchange {
            id,
            started: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
            ..Exchange::default()
        };
        e.request.method = method.to_owned().into();
        e.request.url = url.into();
        e.request.headers = req.iter().map(|(n, v)| Header::new(*n, *v)).collect();
        e.response = Some(ResponseRecord {
            status,
            headers: resp.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            ..ResponseRecord::default()
        });
        e
    }

    fn preflight(id: u64, ms: i64, method: &str, acrh: &str, resp: &[(&str, &str)]) -> Exchange {
        let mut req = vec![
            ("Origin", APP),
            ("Access-Control-Request-Method", method),
            ("Sec-Fetch-Mode", "cors"),
        ];
        if !acrh.is_empty() {
            req.push(("Access-Control-Request-Headers", acrh));
        }
        ex(id, ms, "OPTIONS", API, &req, 204, resp)
    }

    fn actual(id: u64, ms: i64, method: &str, extra: &[(&str, &str)]) -> Exchange {
        let mut req = vec![("Origin", APP), ("Sec-Fetch-Mode", "cors")];
        req.extend_from_slice(extra);
        ex(
            id,
            ms,
            method,
            API,
            &req,
            200,
            &[("Access-Control-Allow-Origin", "*")],
        )
    }

    const PF_OK: &[(&str, &str)] = &[
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "PUT"),
        ("Access-Control-Allow-Headers", "x-a"),
    ];

    fn run(profile: Profile, exs: &[Exchange]) -> Vec<Verdict> {
        crate::cors::analyze(exs, profile)
    }

    /// Reusing the last lone preflight's verdict changes nothing: a session with the memo
    /// and one without report the same verdicts at every step, over traffic where each
    /// input the verdict depends on varies (URL, origin, requested method and headers,
    /// learned header order, status, response headers, repeats, pairing, settling).
    #[test]
    fn lone_preflight_memo_changes_no_verdict() {
        const NO_ORIGIN: &[(&str, &str)] = &[("Access-Control-Allow-Methods", "PUT")];
        const CREDS: &[(&str, &str)] = &[
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "PUT, DELETE"),
            ("Access-Control-Allow-Headers", "x-a"),
        ];
        let responses = [PF_OK, NO_ORIGIN, CREDS];
        let urls = [API, "http://api.test/other"];
        let origins = [APP, "http://elsewhere.test"];
        let acrhs = ["x-a", "x-a,x-b", "", "x-b"];
        for profile in [Profile::Chrome, Profile::Spec] {
            let mut cfg = Config::new(profile);
            cfg.release_settled = true;
            let mut with = Session::new(cfg);
            let mut without = Session::new(cfg);
            without.memo = false;
            let mut seed = 0x2545_f491_u64;
            let mut next = |n: u64| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) % n
            };
            let mut ms = 0i64;
            for id in 1..=600u64 {
                ms += i64::try_from(next(700)).unwrap();
                // Mostly the same preflight, so the memo is hit; now and then one input
                // changes, an actual request follows (pairs, teaches the header order)
                // or a request to the URL makes an earlier preflight a repeat.
                let mut e = if next(5) == 0 {
                    let extra: &[(&str, &str)] = if next(2) == 0 {
                        &[("x-b", "1"), ("x-a", "1")]
                    } else {
                        &[("x-a", "1"), ("x-b", "1")]
                    };
                    actual(
                        id,
                        ms,
                        ["PUT", "DELETE"][usize::try_from(next(2)).unwrap()],
                        extra,
                    )
                } else {
                    let pick = |n: u64, k: u64| if n == 0 { k } else { 0 };
                    let which = next(6);
                    let acrh = acrhs[usize::try_from(pick(which, next(4))).unwrap()];
                    let method =
                        ["PUT", "DELETE"][usize::try_from(pick(which + 5, next(2)) % 2).unwrap()];
                    let resp =
                        responses[usize::try_from(pick(which.wrapping_sub(1), next(3))).unwrap()];
                    let mut e = preflight(id, ms, method, acrh, resp);
                    if which == 2 {
                        e.request.url = urls[1].into();
                    }
                    if which == 3 {
                        e.request.headers = e
                            .request
                            .headers
                            .iter()
                            .map(|h| {
                                let v = if h.name == "Origin" {
                                    origins[1]
                                } else {
                                    h.value
                                };
                                Header::new(h.name, v)
                            })
                            .collect();
                    }
                    if which == 4 {
                        if let Some(r) = e.response.as_mut() {
                            r.status = 500;
                        }
                    }
                    e
                };
                e.client_addr = Some("127.0.0.1:5000".into());
                let step = |s: &mut Session| {
                    let mut out = s.tick(ms);
                    out.extend(s.push(&e));
                    out
                };
                assert_eq!(
                    step(&mut with),
                    step(&mut without),
                    "{profile:?}: after exchange {id}"
                );
            }
            assert_eq!(with.finish(), without.finish(), "{profile:?}: at the end");
        }
    }

    /// The `*_shared` methods hand out what `push`, `tick` and `finish` do, as the session
    /// holds it: repeats of a lone preflight judged alike come out as one verdict, each
    /// handed out under its own exchange id.
    #[test]
    fn shared_handouts_are_one_verdict_under_each_exchange_id() {
        let mut cfg = Config::new(Profile::Chrome);
        cfg.release_settled = true;
        let mut shared = Session::new(cfg);
        let mut copies = Session::new(cfg);
        let same = |handed: &[Shared], copied: &[Arc<Verdict>]| {
            let own: Vec<Arc<Verdict>> = handed.iter().cloned().map(Shared::into_own).collect();
            assert_eq!(own, copied);
            for (h, c) in handed.iter().zip(copied) {
                assert_eq!(h.id, c.exchange);
            }
        };
        let mut pending = Vec::new();
        for id in 1..=5u64 {
            let e = preflight(id, i64::try_from(id).unwrap() * 10, "PUT", "x-a", PF_OK);
            let handed = shared.push_shared(&e);
            same(&handed, &copies.push(&e));
            assert_eq!(handed.len(), 1);
            pending.push(handed[0].clone());
        }
        assert_eq!(pending[0].verdict.exchange, 1);
        assert!(pending
            .iter()
            .all(|s| Arc::ptr_eq(&s.verdict, &pending[0].verdict)));
        assert_eq!(pending[0].verdict.outcome, Outcome::Pending);
        // Their wait ends: settled alike, again one verdict.
        let later = 1_700_000_060_000;
        let settled = shared.tick_shared(later);
        same(&settled, &copies.tick(later));
        let ids: Vec<ExchangeId> = settled.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert!(settled
            .iter()
            .all(|s| Arc::ptr_eq(&s.verdict, &settled[0].verdict)));
        assert_ne!(settled[0].verdict.outcome, Outcome::Pending);
        // A different preflight left waiting at the end.
        let e = preflight(6, 60_010, "DELETE", "", PF_OK);
        same(&shared.push_shared(&e), &copies.push(&e));
        let last = shared.finish_shared();
        same(&last, &copies.finish());
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].id, 6);
    }

    #[test]
    fn pairs_preflight_with_actual() {
        let v = run(
            Profile::Chrome,
            &[
                preflight(0, 0, "PUT", "x-a", PF_OK),
                actual(1, 2, "PUT", &[("X-A", "1")]),
            ],
        );
        assert_eq!(v[0].outcome, Outcome::Allowed);
        assert_eq!(v[0].paired_with, Some(1));
        assert_eq!(v[1].paired_with, Some(0));
        assert_eq!(v[1].preflight, Some(PreflightUse::Paired));
        assert_eq!(v[1].role, Some(Role::Actual));
        assert_eq!(v[1].readable_headers.as_deref(), Some(&[][..]));
    }

    /// Found by the `engine` fuzz target: a preflight that got no response did not name the
    /// actual request paired with it, though that request named the preflight.
    #[test]
    fn preflight_without_response_still_names_its_actual() {
        let mut pf = preflight(0, 0, "PUT", "x-a", PF_OK);
        pf.response = None;
        pf.error = Some("connection reset".into());
        let v = run(Profile::Chrome, &[pf, actual(1, 2, "PUT", &[("X-A", "1")])]);
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        assert_eq!(v[1].preflight, Some(PreflightUse::Paired));
        assert_eq!(v[1].paired_with, Some(0));
        assert_eq!(v[0].paired_with, Some(1));
    }

    #[test]
    fn preflight_without_actual_is_blocked_at_end() {
        let cred_ok = [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "PUT"),
        ];
        let v = run(Profile::Chrome, &[preflight(0, 0, "PUT", "", &cred_ok)]);
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        assert!(v[0].chrome_message.is_none());
        // Passing only without credentials: the block is the credentialed one.
        let v = run(Profile::Chrome, &[preflight(0, 0, "PUT", "x-a", PF_OK)]);
        assert_eq!(
            v[0].chrome_error,
            Some("kPreflightWildcardOriginNotAllowed")
        );
        assert!(v[0].credentials.as_ref().unwrap().is_include());
        let bad = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "GET"),
        ];
        let v = run(Profile::Chrome, &[preflight(0, 0, "PUT", "", &bad)]);
        assert_eq!(
            v[0].chrome_error,
            Some("kMethodDisallowedByPreflightResponse")
        );
    }

    #[test]
    fn mismatched_method_does_not_pair() {
        let v = run(
            Profile::Chrome,
            &[
                preflight(0, 0, "PUT", "x-a", PF_OK),
                actual(1, 2, "DELETE", &[("X-A", "1")]),
            ],
        );
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        assert_eq!(v[1].preflight, Some(PreflightUse::NotSeen));
    }

    #[test]
    fn cache_model_per_profile() {
        // No Max-Age: Chrome caches 5 s.
        let exs = [
            preflight(0, 0, "PUT", "x-a", PF_OK),
            actual(1, 1, "PUT", &[("X-A", "1")]),
            actual(2, 3_000, "PUT", &[("X-A", "1")]),
            actual(3, 6_000, "PUT", &[("X-A", "1")]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[2].preflight, Some(PreflightUse::Cached));
        assert_eq!(v[2].paired_with, Some(0));
        assert_eq!(v[3].preflight, Some(PreflightUse::NotSeen));
        // Max-Age 86400: Chrome caps at 7200 s, Firefox at 86400 s.
        let mut long = PF_OK.to_vec();
        long.push(("Access-Control-Max-Age", "86400"));
        let exs = [
            preflight(0, 0, "PUT", "x-a", &long),
            actual(1, 1, "PUT", &[("X-A", "1")]),
            actual(2, 8_000_000, "PUT", &[("X-A", "1")]),
        ];
        assert_eq!(
            run(Profile::Chrome, &exs)[2].preflight,
            Some(PreflightUse::NotSeen)
        );
        assert_eq!(
            run(Profile::Firefox, &exs)[2].preflight,
            Some(PreflightUse::Cached)
        );
        assert!(run(Profile::Chrome, &exs)[0]
            .lints
            .iter()
            .any(|l| l.code == "max-age-above-cap"));
        // A header the entry does not cover is a miss.
        let exs = [
            preflight(0, 0, "PUT", "x-a", PF_OK),
            actual(1, 1, "PUT", &[("X-A", "1")]),
            actual(2, 2, "PUT", &[("X-A", "1"), ("X-B", "1")]),
        ];
        assert_eq!(
            run(Profile::Chrome, &exs)[2].preflight,
            Some(PreflightUse::NotSeen)
        );
        // An entry made without credentials does not serve a credentialed request.
        let exs = [
            preflight(0, 0, "PUT", "x-a", PF_OK),
            actual(1, 1, "PUT", &[("X-A", "1")]),
            actual(2, 2, "PUT", &[("X-A", "1"), ("Cookie", "a=1")]),
        ];
        assert_eq!(
            run(Profile::Chrome, &exs)[2].preflight,
            Some(PreflightUse::NotSeen)
        );
    }

    /// A script-set Authorization on a request that rode a cached preflight listing it is
    /// the script's header, not stored HTTP auth: the request is not credentialed, finds
    /// the non-credentialed entry, and '*' allows it (Chromium did).
    #[test]
    fn cached_preflight_covers_a_script_set_authorization() {
        let pf = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "authorization"),
            ("Access-Control-Max-Age", "600"),
        ];
        let auth = [("Authorization", "Bearer t")];
        let exs = [
            preflight(0, 0, "PUT", "authorization", &pf),
            actual(1, 1, "PUT", &auth),
            actual(2, 2, "PUT", &auth),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[2].preflight, Some(PreflightUse::Cached), "{:#?}", v[2]);
        assert_eq!(v[2].paired_with, Some(0));
        assert_eq!(v[2].outcome, Outcome::Allowed, "{:#?}", v[2]);
        assert!(!v[2].credentials.as_ref().unwrap().is_include());
        // With no entry to ride, the header is still taken as the browser's own.
        let exs = [actual(0, 0, "PUT", &auth)];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[0].preflight, Some(PreflightUse::NotSeen));
        assert!(v[0].credentials.as_ref().unwrap().is_include());
        assert!(v[0].outcome.is_blocked());
    }

    /// The preflight passed, the request it allowed failed the CORS check: Chrome keeps
    /// the cache entry (the next request is sent without a preflight), the spec clears it.
    #[test]
    fn a_failed_request_leaves_chromes_preflight_cache_entry() {
        let pf = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "PUT"),
        ];
        let blocked = ex(
            1,
            1,
            "PUT",
            API,
            &[("Origin", APP), ("Sec-Fetch-Mode", "cors")],
            200,
            &[],
        );
        let exs = [
            preflight(0, 0, "PUT", "", &pf),
            blocked,
            actual(2, 2, "PUT", &[]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert!(v[1].outcome.is_blocked());
        assert_eq!(v[2].preflight, Some(PreflightUse::Cached));
        assert_eq!(v[2].paired_with, Some(0));
        let v = run(Profile::Spec, &exs);
        assert_eq!(v[2].preflight, Some(PreflightUse::NotSeen));
    }

    #[test]
    fn repeated_preflight_is_not_an_error() {
        // Passes in either credentials mode: nothing explains the first one's missing
        // request but a repeat.
        let pf = [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "x-a"),
        ];
        let exs = [
            preflight(0, 0, "PUT", "x-a", &pf),
            preflight(1, 1, "PUT", "x-a", &pf),
            actual(2, 2, "PUT", &[("X-A", "1")]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert!(v.iter().all(|v| v.outcome == Outcome::Allowed), "{v:#?}");
        assert_eq!(v[2].paired_with, Some(1));
    }

    /// A credentialed fetch whose preflight fails only because of its credentials, then
    /// the same request without them (Chromium: the first rejected at its preflight, the
    /// second sent after a preflight of its own). The request pairs with the newest
    /// preflight, and the older one stays blocked in include mode.
    #[test]
    fn request_pairs_with_its_own_preflight_not_an_abandoned_one() {
        let pf = [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "x-a"),
        ];
        let exs = [
            preflight(0, 0, "PUT", "x-a", &pf),
            preflight(1, 5, "PUT", "x-a", &pf),
            actual(2, 6, "PUT", &[("X-A", "1")]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[2].paired_with, Some(1), "{:#?}", v[2]);
        assert_eq!(v[1].outcome, Outcome::Allowed);
        assert_eq!(v[2].outcome, Outcome::Allowed);
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            },
            "{:#?}",
            v[0]
        );
        assert_eq!(v[0].chrome_error, Some("kPreflightInvalidAllowCredentials"));
        assert!(v[0].credentials.as_ref().unwrap().is_include());
    }

    /// Call 1 (credentialed) fails at its preflight; call 2 (not) sends its own preflight
    /// and request; call 3 rides the preflight cache. Call 3's request is not the first
    /// preflight's: that one's response was in before call 2's preflight was sent.
    #[test]
    fn a_given_up_preflight_pairs_with_no_later_request() {
        let pf = [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "x-a"),
            ("Access-Control-Max-Age", "600"),
        ];
        let exs = [
            preflight(0, 0, "PUT", "x-a", &pf),
            preflight(1, 5, "PUT", "x-a", &pf),
            actual(2, 6, "PUT", &[("X-A", "1")]),
            actual(3, 9, "PUT", &[("X-A", "1")]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[2].paired_with, Some(1));
        assert_eq!(v[3].preflight, Some(PreflightUse::Cached), "{:#?}", v[3]);
        assert_eq!(v[3].paired_with, Some(1));
        assert_eq!(v[0].chrome_error, Some("kPreflightInvalidAllowCredentials"));
        // Preflights in flight together (their responses came after both were sent)
        // still pair with the requests that follow them.
        let mut first = preflight(0, 0, "PUT", "x-a", PF_OK);
        first.timings.wait = 3.0;
        let exs = [
            first,
            preflight(1, 1, "PUT", "x-a", PF_OK),
            actual(2, 4, "PUT", &[("X-A", "1")]),
            actual(3, 5, "PUT", &[("X-A", "1")]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[2].paired_with, Some(1));
        assert_eq!(v[3].paired_with, Some(0));
        assert_eq!(v[3].preflight, Some(PreflightUse::Paired));
    }

    /// Two fetches redirected to the same URL one after the other: the second's next hop
    /// follows the second's 3xx (not credentialed), not the first's (credentialed, whose
    /// fetch stopped at the next hop's preflight).
    #[test]
    fn a_hop_follows_the_newest_redirect_to_its_url() {
        const NEXT: &str = "http://other.test/r2";
        let hop0 = |id, ms, cookie: bool| {
            let mut req = vec![("Origin", APP), ("Sec-Fetch-Mode", "cors")];
            if cookie {
                req.push(("Cookie", "a=1"));
            }
            ex(
                id,
                ms,
                "GET",
                API,
                &req,
                302,
                &[
                    ("Access-Control-Allow-Origin", APP),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Location", NEXT),
                ],
            )
        };
        let pf_next = |id, ms| {
            ex(
                id,
                ms,
                "OPTIONS",
                NEXT,
                &[
                    ("Origin", "null"),
                    ("Access-Control-Request-Method", "GET"),
                    ("Access-Control-Request-Headers", "x-a"),
                    ("Sec-Fetch-Mode", "cors"),
                ],
                204,
                &[
                    ("Access-Control-Allow-Origin", "null"),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Access-Control-Allow-Headers", "*"),
                ],
            )
        };
        let next = ex(
            4,
            4,
            "GET",
            NEXT,
            &[("Origin", "null"), ("Sec-Fetch-Mode", "cors"), ("X-A", "1")],
            200,
            &[("Access-Control-Allow-Origin", APP)],
        );
        let exs = [
            hop0(0, 0, true),
            pf_next(1, 1),
            hop0(2, 2, false),
            pf_next(3, 3),
            next,
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(
            v[1].chrome_error,
            Some("kHeaderDisallowedByPreflightResponse")
        );
        assert_eq!(v[3].outcome, Outcome::Allowed, "{:#?}", v[3]);
        assert_eq!(v[4].redirect.as_ref().map(|r| r.previous), Some(2));
        assert_eq!(
            v[4].chrome_error,
            Some("kAllowOriginMismatch"),
            "{:#?}",
            v[4]
        );
    }

    #[test]
    fn incremental_push_tick_and_late_actual() {
        let mut s = Session::new(Config::new(Profile::Chrome));
        let out = s.push(&preflight(0, 0, "PUT", "x-a", PF_OK));
        assert_eq!(out[0].outcome, Outcome::Pending);
        assert!(s.tick(1_700_000_000_000 + 1_000).is_empty());
        let out = s.tick(1_700_000_000_000 + DEFAULT_PREFLIGHT_WAIT_MS);
        assert_eq!(
            out[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        // The actual arrives late but within the pairing window: the preflight is re-judged.
        let out = s.push(&actual(1, 3_000, "PUT", &[("X-A", "1")]));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].outcome, Outcome::Allowed);
        assert_eq!(out[0].paired_with, Some(1));
    }

    #[test]
    fn redirect_taint_and_message() {
        let hop0 = ex(
            0,
            0,
            "GET",
            API,
            &[("Origin", APP), ("Sec-Fetch-Mode", "cors")],
            302,
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Location", "http://other.test/r2"),
            ],
        );
        let hop1 = ex(
            1,
            1,
            "GET",
            "http://other.test/r2",
            &[("Origin", "null"), ("Sec-Fetch-Mode", "cors")],
            200,
            &[("Access-Control-Allow-Origin", APP)],
        );
        let v = run(Profile::Chrome, &[hop0.clone(), hop1]);
        assert_eq!(v[0].outcome, Outcome::Allowed);
        assert_eq!(
            v[1].outcome,
            Outcome::Blocked {
                stage: Stage::Actual
            }
        );
        assert_eq!(v[1].redirect.as_ref().map(|r| r.hop), Some(1));
        assert_eq!(
            v[1].chrome_message.as_deref(),
            Some("Access to fetch at 'http://other.test/r2' (redirected from 'http://api.test/r') from origin 'http://app.test' has been blocked by CORS policy: The 'Access-Control-Allow-Origin' header has a value 'http://app.test' that is not equal to the supplied origin. Have the server send the header with a valid value.")
        );
        // A redirect nobody followed is unknown (manual vs error is not on the wire).
        assert_eq!(run(Profile::Chrome, &[hop0])[0].outcome, Outcome::Unknown);
        // A 3xx without ACAO is blocked at the redirect stage.
        let bad = ex(
            0,
            0,
            "GET",
            API,
            &[("Origin", APP)],
            302,
            &[("Location", "/x")],
        );
        assert_eq!(
            run(Profile::Chrome, &[bad])[0].outcome,
            Outcome::Blocked {
                stage: Stage::Redirect
            }
        );
        // A preflight must not redirect.
        let pf = ex(
            0,
            0,
            "OPTIONS",
            API,
            &[("Origin", APP), ("Access-Control-Request-Method", "PUT")],
            307,
            &[("Access-Control-Allow-Origin", "*"), ("Location", "/y")],
        );
        assert_eq!(
            run(Profile::Chrome, &[pf])[0].chrome_error,
            Some("kPreflightDisallowedRedirect")
        );
    }

    /// A redirect location with a user name or password: refused on every hop of a
    /// cross-origin request (even to its own origin), and for a same-origin cors-mode
    /// request when it points to another origin. Chromium names no location in the text.
    #[test]
    fn redirect_location_with_credentials() {
        let redirect = |id, url: &str, req: &[(&str, &str)], loc: &str| {
            let resp = [("Access-Control-Allow-Origin", "*"), ("Location", loc)];
            ex(id, 0, "GET", url, req, 302, &resp)
        };
        let cors = [("Origin", APP), ("Sec-Fetch-Mode", "cors")];
        let v = run(
            Profile::Chrome,
            &[redirect(0, API, &cors, "http://u:p@api.test/next")],
        );
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Redirect
            }
        );
        assert_eq!(
            v[0].chrome_message.as_deref(),
            Some("Access to fetch at 'http://api.test/r' from origin 'http://app.test' has been blocked by CORS policy: Redirect location '' contains a username and password, which is disallowed for cross-origin requests.")
        );
        assert!(v[0].explanation.contains("http://u:p@api.test/next"));
        // Same-origin, cors mode (a GET sends no Origin): refused when the location is
        // another origin, followed when it is the page's own.
        let page = "http://app.test/start";
        let same = [
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        let v = run(
            Profile::Chrome,
            &[redirect(0, page, &same, "http://u:p@api.test/next")],
        );
        assert_eq!(v[0].kind, Kind::SameOrigin);
        assert_eq!(v[0].chrome_error, Some("kRedirectContainsCredentials"));
        assert_eq!(
            v[0].chrome_message.as_deref(),
            Some("Access to fetch at 'http://app.test/start' from origin 'http://app.test' has been blocked by CORS policy: Redirect location '' contains a username and password, which is disallowed for cross-origin requests.")
        );
        let v = run(
            Profile::Chrome,
            &[redirect(0, page, &same, "http://u:p@app.test/next")],
        );
        assert_eq!(v[0].outcome, Outcome::NotCors);
        // A navigation or a no-cors request is not held to it.
        let nav = [("Sec-Fetch-Mode", "navigate")];
        let v = run(
            Profile::Chrome,
            &[redirect(0, page, &nav, "http://u:p@api.test/next")],
        );
        assert_eq!(v[0].outcome, Outcome::NotCors);
    }

    /// Chrome names a redirected hop by the browser's URL, fragment included: the
    /// location's, or the one before it when the location has none.
    #[test]
    fn a_redirected_hop_is_named_with_its_fragment() {
        let cors_null = [("Origin", "null"), ("Sec-Fetch-Mode", "cors")];
        let exs = [
            ex(
                0,
                0,
                "GET",
                API,
                &[("Origin", APP), ("Sec-Fetch-Mode", "cors")],
                302,
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Location", "http://other.test/r2#frag"),
                ],
            ),
            ex(
                1,
                1,
                "GET",
                "http://other.test/r2",
                &cors_null,
                307,
                &[("Access-Control-Allow-Origin", "*"), ("Location", "/r3")],
            ),
            ex(2, 2, "GET", "http://other.test/r3", &cors_null, 200, &[]),
        ];
        let v = run(Profile::Chrome, &exs);
        assert_eq!(v[1].outcome, Outcome::Allowed);
        assert_eq!(v[2].url, "http://other.test/r3");
        assert_eq!(
            v[2].chrome_message.as_deref(),
            Some("Access to fetch at 'http://other.test/r3#frag' (redirected from 'http://api.test/r') from origin 'http://app.test' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource.")
        );
    }

    /// `mode: 'same-origin'`: a redirect to another origin is refused (Chromium: a
    /// TypeError and no console line); one within the origin is followed.
    #[test]
    fn same_origin_mode_refuses_a_cross_origin_redirect() {
        let page = "http://app.test/start";
        let req = [
            ("Sec-Fetch-Mode", "same-origin"),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        let to = |loc| ex(0, 0, "GET", page, &req, 302, &[("Location", loc)]);
        let v = run(Profile::Chrome, &[to("http://api.test/r")]);
        assert_eq!(
            v[0].outcome,
            Outcome::Blocked {
                stage: Stage::Redirect
            }
        );
        assert_eq!(v[0].chrome_error, Some("kDisallowedByMode"));
        assert_eq!(v[0].chrome_message, None);
        assert!(
            v[0].explanation.contains("mode 'same-origin'"),
            "{:#?}",
            v[0]
        );
        let v = run(Profile::Chrome, &[to("/elsewhere")]);
        assert_eq!(v[0].outcome, Outcome::NotCors);
    }

    #[test]
    fn profiles_disagree_on_wildcard_authorization() {
        let resp = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", "*"),
        ];
        let exs = [
            preflight(0, 0, "GET", "authorization", &resp),
            actual(1, 1, "GET", &[("Authorization", "Bearer x")]),
        ];
        let chrome = run(Profile::Chrome, &exs);
        assert_eq!(chrome[0].outcome, Outcome::Allowed);
        assert!(chrome[0]
            .lints
            .iter()
            .any(|l| l.code == "acah-wildcard-authorization"));
        assert!(!chrome[1].credentials.as_ref().unwrap().is_include());
        let spec = run(Profile::Spec, &exs);
        assert_eq!(
            spec[0].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        assert_eq!(
            spec[1].outcome,
            Outcome::Blocked {
                stage: Stage::Preflight
            }
        );
        assert!(!spec[0].notes.is_empty());
    }

    #[test]
    fn credentials_decide_and_other_outcome_is_shown() {
        let v = run(Profile::Chrome, &[actual(0, 0, "GET", &[])]);
        assert_eq!(v[0].outcome, Outcome::Allowed);
        let other = v[0].other_outcome.as_ref().unwrap();
        assert_eq!((other.credentials, other.verdict), ("include", "blocked"));
        let v = run(
            Profile::Chrome,
            &[actual(0, 0, "GET", &[("Cookie", "a=1")])],
        );
        assert_eq!(v[0].chrome_error, Some("kWildcardOriginNotAllowed"));
    }

    #[test]
    fn stripped_recordings_have_unknown_credentials() {
        let mut cfg = Config::new(Profile::Chrome);
        cfg.credentials_visible = false;
        let v = crate::cors::analyze_with(&[actual(0, 0, "GET", &[])], cfg);
        let c = v[0].credentials.as_ref().unwrap();
        assert_eq!(c.mode, crate::cors::classify::CredentialsMode::Unknown);
        assert!(v[0].other_outcome.is_some());
    }

    #[test]
    fn reflect_lint_needs_two_origins() {
        let mk = |id, origin: &str| {
            ex(
                id,
                id as i64,
                "GET",
                API,
                &[
                    ("Origin", origin),
                    ("Cookie", "a"),
                    ("Sec-Fetch-Mode", "cors"),
                ],
                200,
                &[
                    ("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Vary", "Origin"),
                ],
            )
        };
        let v = run(
            Profile::Chrome,
            &[mk(0, "http://a.test"), mk(1, "http://b.test")],
        );
        assert!(v[0].lints.is_empty());
        assert_eq!(
            v[1].lints.iter().map(|l| l.code).collect::<Vec<_>>(),
            vec!["reflect-any-origin-with-credentials"]
        );
    }

    #[test]
    fn client_host_parsing() {
        assert_eq!(
            client_host(Some("127.0.0.1:5000")).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(client_host(Some("[::1]:5000")).as_deref(), Some("::1"));
        assert_eq!(client_host(None), None);
    }
    #[test]
    fn refused_header_named_in_the_browsers_own_header_order() {
        // Chromium checks header names in its request-header order, not ACRH's sorted one.
        // A request it did send shows that x-z comes before content-type.
        let mut s = Session::new(Config::new(Profile::Chrome));
        let sent = actual(
            0,
            0,
            "GET",
            &[("X-Z", "1"), ("Content-Type", "application/json")],
        );
        s.push(&sent);
        s.push(&preflight(1, 10, "PUT", "content-type,x-z", PF_OK));
        let out = s.finish();
        let v = out.iter().find(|v| v.exchange == 1).unwrap();
        let msg = v.chrome_message.as_deref().unwrap();
        assert!(
            msg.contains("Request header field x-z is not allowed"),
            "{msg}"
        );
        // Without that evidence the sorted order decides.
        let mut fresh = Session::new(Config::new(Profile::Chrome));
        fresh.push(&preflight(1, 10, "PUT", "content-type,x-z", PF_OK));
        let out = fresh.finish();
        let msg = out[0].chrome_message.clone().unwrap();
        assert!(
            msg.contains("Request header field content-type is not allowed"),
            "{msg}"
        );
    }

    #[test]
    fn forgetting_settles_what_waited_and_later_requests_do_without_it() {
        let cfg = Config::new(Profile::Chrome);
        let mut s = Session::new(cfg);
        // A passing preflight cached for 60 s, its actual, and a lonely preflight.
        let cached = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "x-a"),
            ("Access-Control-Max-Age", "60"),
        ];
        s.push(&preflight(1, 0, "PUT", "x-a", &cached));
        s.push(&actual(2, 1, "PUT", &[("X-A", "1")]));
        s.push(&preflight(3, 2, "DELETE", "", PF_OK));
        let settled = s.forget_before(4);
        assert_eq!(s.held(), 0);
        assert_eq!(s.len(), 3);
        let lonely = settled.iter().find(|v| v.exchange == 3).unwrap();
        assert!(lonely.outcome.is_blocked(), "{lonely:?}");
        // A repeat that would have ridden the forgotten cached preflight: judged on its
        // own, the preflight "not seen" (as one cached before the capture).
        let v = s.push(&actual(4, 10, "PUT", &[("X-A", "2")]));
        assert_eq!(v[0].preflight, Some(PreflightUse::NotSeen));
        // Nothing left to settle or link to; forgetting again is a no-op.
        assert!(s.forget_before(4).is_empty());
        assert!(s.finish().is_empty());
        assert_eq!(s.verdicts().count(), 1);
    }
}
