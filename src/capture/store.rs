//! The store: the single owner of every completed exchange and event in a session.
//!
//! Writers (the proxy, HAR import) call [`Store::push`] / [`Store::push_event`]; each takes
//! one short lock and never waits on a reader. Readers never hold the lock for long either:
//! they copy out `Arc`s, either everything ([`Store::snapshot`]) or what came after a
//! cursor ([`Store::exchanges_since`], the way a consumer that must see every exchange,
//! such as the JSON-lines writer or the CORS engine, follows the store).
//!
//! Every change bumps a version published on a `tokio::sync::watch` channel
//! ([`Store::subscribe`]). A watch coalesces: a slow reader sees only the latest version,
//! so it redraws or reads once per burst instead of once per exchange, and the writer
//! never blocks on it.
//!
//! The store is bounded (see [`StoreLimits`]): past the byte cap the oldest captured
//! bodies are dropped first (headers and sizes stay), past the exchange cap the oldest
//! exchanges go. Both are counted in [`StoreStats`] so a view can say what it lost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use super::event::Event;
use super::exchange::{Exchange, ExchangeId};

/// Exchanges kept before the oldest are evicted. 100,000 exchanges with small bodies fit
/// in about 200 MB, the memory target for a long browsing session.
pub const MAX_EXCHANGES: usize = 100_000;

/// Captured body bytes kept across all exchanges before the oldest bodies are dropped.
/// Bodies are the bulk of the memory; headers and sizes are kept when a body goes.
pub const MAX_CAPTURED_BYTES: usize = 128 * 1024 * 1024;

/// Events kept (TLS failures, warnings); they are rare, this only bounds a misbehaving
/// client that fails handshakes in a loop.
pub const MAX_EVENTS: usize = 1_000;

/// The caps a store enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub max_exchanges: usize,
    pub max_captured_bytes: usize,
    pub max_events: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_exchanges: MAX_EXCHANGES,
            max_captured_bytes: MAX_CAPTURED_BYTES,
            max_events: MAX_EVENTS,
        }
    }
}

/// Counters describing what the store holds and what it had to drop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Exchanges currently held.
    pub exchanges: usize,
    /// Exchanges ever pushed.
    pub total_exchanges: u64,
    /// Exchanges evicted because of the exchange cap.
    pub evicted_exchanges: u64,
    /// Bodies whose captured bytes were dropped because of the byte cap.
    pub dropped_bodies: u64,
    /// Captured bytes dropped because of the byte cap.
    pub dropped_body_bytes: u64,
    /// Captured body bytes currently held.
    pub captured_bytes: usize,
    /// Events ever pushed.
    pub total_events: u64,
}

/// A consistent copy of the store's contents for a reader (cheap: `Arc`s only).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u64,
    pub exchanges: Vec<Arc<Exchange>>,
    pub events: Vec<Arc<Event>>,
    pub stats: StoreStats,
}

/// What a cursor read returns.
#[derive(Debug, Clone, Default)]
pub struct Batch<T> {
    /// Items at or after the cursor, oldest first.
    pub items: Vec<Arc<T>>,
    /// Items the reader missed because they were evicted before it read them.
    pub missed: u64,
    /// The cursor to pass next time.
    pub next: u64,
}

/// The single owner of captured exchanges and events. Share it as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    version: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    limits: StoreLimits,
    exchanges: VecDeque<Arc<Exchange>>,
    /// Id of `exchanges[0]`; ids are dense, so `id - first_id` is the index.
    first_id: ExchangeId,
    /// Index of the oldest exchange that may still hold captured bytes.
    body_cursor: usize,
    events: VecDeque<Arc<Event>>,
    first_event: u64,
    stats: StoreStats,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(StoreLimits::default())
    }
}

impl Store {
    /// An empty store with the given caps. Exchange ids start at 1.
    pub fn new(limits: StoreLimits) -> Self {
        let inner = Inner {
            limits,
            first_id: 1,
            first_event: 1,
            ..Inner::default()
        };
        Self {
            inner: Mutex::new(inner),
            version: watch::Sender::new(0),
        }
    }

    /// The caps this store enforces.
    pub fn limits(&self) -> StoreLimits {
        self.lock().limits
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the deque half-updated in a way
        // readers would trip over, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Add a completed exchange; its `id` is assigned here (dense, increasing) and returned.
    pub fn push(&self, mut exchange: Exchange) -> ExchangeId {
        exchange.shrink_to_fit();
        let id = {
            let mut inner = self.lock();
            let id = inner.first_id + inner.exchanges.len() as u64;
            exchange.id = id;
            inner.stats.captured_bytes += captured_len(&exchange);
            inner.stats.total_exchanges += 1;
            inner.exchanges.push_back(Arc::new(exchange));
            inner.enforce_limits();
            id
        };
        self.bump();
        id
    }

    /// Add an event; returns its sequence number (starting at 1).
    pub fn push_event(&self, event: Event) -> u64 {
        let seq = {
            let mut inner = self.lock();
            let seq = inner.first_event + inner.events.len() as u64;
            inner.events.push_back(Arc::new(event));
            inner.stats.total_events += 1;
            if inner.events.len() > inner.limits.max_events {
                inner.events.pop_front();
                inner.first_event += 1;
            }
            seq
        };
        self.bump();
        seq
    }

    /// The change signal: the version increases on every push. Await `changed()` on the
    /// receiver, then read; bursts coalesce into one wake-up.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Everything the store holds now.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            version: self.version(),
            exchanges: inner.exchanges.iter().cloned().collect(),
            events: inner.events.iter().cloned().collect(),
            stats: inner.stats_now(),
        }
    }

    /// The exchange with this id, if still held.
    pub fn get(&self, id: ExchangeId) -> Option<Arc<Exchange>> {
        let inner = self.lock();
        let index = id.checked_sub(inner.first_id)?;
        inner.exchanges.get(usize::try_from(index).ok()?).cloned()
    }

    /// Up to `max` exchanges with id ≥ `cursor` (start with cursor 1), oldest first.
    pub fn exchanges_since(&self, cursor: u64, max: usize) -> Batch<Exchange> {
        let inner = self.lock();
        read_since(&inner.exchanges, inner.first_id, cursor, max)
    }

    /// Up to `max` events with sequence ≥ `cursor` (start with cursor 1), oldest first.
    pub fn events_since(&self, cursor: u64, max: usize) -> Batch<Event> {
        let inner = self.lock();
        read_since(&inner.events, inner.first_event, cursor, max)
    }

    /// Id of the oldest exchange still held (ids below it were evicted or cleared).
    pub fn first_id(&self) -> ExchangeId {
        self.lock().first_id
    }

    /// Drop every exchange and event (the user cleared the session). Ids keep increasing,
    /// so cursors held by readers stay valid.
    pub fn clear(&self) {
        {
            let mut inner = self.lock();
            inner.first_id += inner.exchanges.len() as u64;
            inner.exchanges.clear();
            inner.body_cursor = 0;
            inner.stats.captured_bytes = 0;
            inner.first_event += inner.events.len() as u64;
            inner.events.clear();
        }
        self.bump();
    }

    /// Counters: what is held and what was dropped.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats_now()
    }
}

fn read_since<T>(items: &VecDeque<Arc<T>>, first: u64, cursor: u64, max: usize) -> Batch<T> {
    let start = cursor.max(first);
    let missed = start - cursor.min(start);
    let skip = usize::try_from(start - first).unwrap_or(usize::MAX);
    let items: Vec<Arc<T>> = items.iter().skip(skip).take(max).cloned().collect();
    let next = start + items.len() as u64;
    Batch {
        items,
        missed,
        next,
    }
}

fn captured_len(exchange: &Exchange) -> usize {
    exchange.request.body.captured.len()
        + exchange
            .response
            .as_ref()
            .map_or(0, |r| r.body.captured.len())
}

impl Inner {
    fn stats_now(&self) -> StoreStats {
        StoreStats {
            exchanges: self.exchanges.len(),
            ..self.stats
        }
    }

    fn enforce_limits(&mut self) {
        while self.exchanges.len() > self.limits.max_exchanges {
            if let Some(old) = self.exchanges.pop_front() {
                self.stats.captured_bytes =
                    self.stats.captured_bytes.saturating_sub(captured_len(&old));
                self.stats.evicted_exchanges += 1;
                self.first_id += 1;
                self.body_cursor = self.body_cursor.saturating_sub(1);
            }
        }
        while self.stats.captured_bytes > self.limits.max_captured_bytes {
            let Some(slot) = self.exchanges.get_mut(self.body_cursor) else {
                break;
            };
            let dropped = drop_bodies(slot);
            self.stats.captured_bytes = self.stats.captured_bytes.saturating_sub(dropped.bytes);
            self.stats.dropped_body_bytes += dropped.bytes as u64;
            self.stats.dropped_bodies += dropped.bodies;
            self.body_cursor += 1;
        }
    }
}

struct Dropped {
    bytes: usize,
    bodies: u64,
}

/// Drop the captured bytes of both bodies (sizes stay, so the body reads as truncated).
fn drop_bodies(slot: &mut Arc<Exchange>) -> Dropped {
    let mut dropped = Dropped {
        bytes: 0,
        bodies: 0,
    };
    if captured_len(slot) == 0 {
        return dropped;
    }
    // Copy-on-write: a reader holding the old Arc keeps its view.
    let exchange = Arc::make_mut(slot);
    let mut bodies = vec![&mut exchange.request.body];
    if let Some(response) = exchange.response.as_mut() {
        bodies.push(&mut response.body);
    }
    for body in bodies {
        if !body.captured.is_empty() {
            dropped.bytes += body.captured.len();
            dropped.bodies += 1;
            body.captured = Bytes::new();
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::exchange::Body;

    fn with_body(len: usize) -> Exchange {
        let mut e = Exchange::default();
        e.request.body = Body {
            captured: Bytes::from(vec![b'x'; len]),
            total_size: len as u64,
        };
        e
    }

    #[test]
    fn ids_are_dense_and_cursor_reads_follow() {
        let store = Store::default();
        assert_eq!(store.push(Exchange::default()), 1);
        assert_eq!(store.push(Exchange::default()), 2);
        let batch = store.exchanges_since(1, 10);
        assert_eq!(batch.items.len(), 2);
        assert_eq!(batch.next, 3);
        assert_eq!(batch.missed, 0);
        assert!(store.exchanges_since(3, 10).items.is_empty());
        assert_eq!(store.version(), 2);
    }

    #[test]
    fn exchange_cap_evicts_oldest_and_readers_learn_what_they_missed() {
        let store = Store::new(StoreLimits {
            max_exchanges: 2,
            ..StoreLimits::default()
        });
        for _ in 0..5 {
            store.push(Exchange::default());
        }
        let batch = store.exchanges_since(1, 10);
        assert_eq!(batch.missed, 3);
        assert_eq!(batch.items.first().map(|e| e.id), Some(4));
        assert_eq!(store.stats().evicted_exchanges, 3);
        assert!(store.get(3).is_none());
        assert_eq!(store.get(5).map(|e| e.id), Some(5));
    }

    #[test]
    fn byte_cap_drops_oldest_bodies_first_and_keeps_sizes() {
        let store = Store::new(StoreLimits {
            max_captured_bytes: 250,
            ..StoreLimits::default()
        });
        for _ in 0..3 {
            store.push(with_body(100));
        }
        let stats = store.stats();
        assert_eq!(stats.captured_bytes, 200);
        assert_eq!(stats.dropped_bodies, 1);
        assert_eq!(stats.dropped_body_bytes, 100);
        let first = store.get(1).unwrap();
        assert!(first.request.body.captured.is_empty());
        assert_eq!(first.request.body.total_size, 100);
        assert_eq!(store.get(3).unwrap().request.body.captured.len(), 100);
    }

    #[test]
    fn events_are_bounded() {
        let store = Store::new(StoreLimits {
            max_events: 1,
            ..StoreLimits::default()
        });
        use crate::capture::event::{Event, EventKind};
        store.push_event(Event::now(EventKind::Warning, None, "a"));
        store.push_event(Event::now(EventKind::Warning, None, "b"));
        let batch = store.events_since(1, 10);
        assert_eq!(batch.missed, 1);
        assert_eq!(batch.items.len(), 1);
    }
}
