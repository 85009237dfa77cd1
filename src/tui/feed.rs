//! Keeps the UI's rows in step with the live verdicts: follows the verdicts' change log by
//! cursor (so nothing is skipped), stops while the list is paused (so nothing is lost: the
//! log keeps what arrived), and rebuilds everything when the verdicts were recomputed or
//! the reader fell behind the log.

use super::app::App;
use super::rows;
use crate::capture::store::Store;
use crate::capture::ExchangeId;
use crate::live::Verdicts;

/// Verdict changes applied to the list per frame; the rest wait for the next frame so a
/// burst of traffic cannot stall input handling.
pub const SYNC_BATCH: usize = 20_000;

/// Where the UI is in the verdicts' change log.
#[derive(Debug, Default)]
pub struct Feed {
    cursor: u64,
    generation: u64,
}

/// What one sync changed.
#[derive(Debug, Default)]
pub struct Touched {
    /// Exchanges whose rows were added or replaced.
    pub ids: Vec<ExchangeId>,
    /// Every row was rebuilt.
    pub rebuilt: bool,
}

/// Evicted and not-yet-shown counts for the status line.
fn update_counters(app: &mut App, store: &Store) {
    let stats = store.stats();
    let first = store.first_id();
    // Rows of evicted exchanges may linger until they are dropped in a batch.
    let held_rows = app.rows().iter().skip_while(|r| r.id < first).count();
    app.status.evicted = stats.evicted_exchanges;
    app.status.unseen = (stats.exchanges as u64).saturating_sub(held_rows as u64);
}

impl Feed {
    /// Apply new verdicts to `app` (nothing while paused, apart from the counters).
    /// Returns whether more changes wait, and what changed.
    pub fn sync(
        &mut self,
        app: &mut App,
        store: &Store,
        verdicts: &Verdicts,
    ) -> (bool, Option<Touched>) {
        app.profile = verdicts.profile();
        if app.paused {
            update_counters(app, store);
            return (false, None);
        }
        // Rows the store evicted go (not while paused: then the list does not move).
        app.forget_rows_before(store.first_id());
        let changes = verdicts.changes_since(self.cursor.max(1), SYNC_BATCH);
        if changes.generation != self.generation || changes.missed > 0 {
            self.rebuild(app, store, verdicts);
            self.generation = changes.generation;
            update_counters(app, store);
            return (
                false,
                Some(Touched {
                    ids: Vec::new(),
                    rebuilt: true,
                }),
            );
        }
        self.cursor = changes.next;
        let mut ids = changes.ids;
        ids.sort_unstable();
        ids.dedup();
        let fresh: Vec<_> = ids
            .iter()
            .filter_map(|&id| {
                let ex = store.get(id)?;
                let v = verdicts.get(id);
                Some(rows::row(&ex, v.as_deref()))
            })
            .collect();
        app.upsert_rows(fresh);
        update_counters(app, store);
        let more = ids.len() >= SYNC_BATCH;
        (
            more,
            Some(Touched {
                ids,
                rebuilt: false,
            }),
        )
    }

    /// Rebuild every row from the store (profile switch, clear, or a reader that fell
    /// behind the change log).
    fn rebuild(&mut self, app: &mut App, store: &Store, verdicts: &Verdicts) {
        // Take the log position first: a change that lands during the rebuild is applied
        // again on the next sync rather than missed.
        self.cursor = verdicts.log_end();
        let snapshot = store.snapshot();
        app.clear_rows();
        let fresh: Vec<_> = snapshot
            .exchanges
            .iter()
            .filter_map(|ex| {
                let v = verdicts.get(ex.id)?;
                Some(rows::row(ex, Some(&v)))
            })
            .collect();
        app.upsert_rows(fresh);
    }
}
