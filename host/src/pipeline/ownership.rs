//! Which partitions (lanes) this instance owns, from the loop's side:
//! taking them on assignment (restored from their checkpoint, or from the
//! parked copy), giving them up on revocation or loss, rewinding them after
//! a refused checkpoint, and letting idle ones stop holding the watermark
//! back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{LaneTable, Parked, Pipeline};
use crate::checkpoint::{CheckpointStore, StoreError};
use crate::contract::Batch;
use crate::engine::Engine;
use crate::model::Assignment;
use crate::source::Rebalance;

/// How long flushing revoked partitions may take: well under librdkafka's
/// default session timeout (45 s), so the group never waits on us. A flush
/// that does not make it is dropped; the next owner replays from the last
/// checkpoint, which stays exact.
const REVOKE_FLUSH_BOUND: Duration = Duration::from_secs(5);

impl<S: CheckpointStore> Pipeline<S> {
    /// Drops the records of partitions this instance does not own (any
    /// still arriving after it was fenced out), and notes which lanes had
    /// records.
    pub(super) fn keep_owned(&mut self, origin: usize, batch: &mut Batch) {
        let now = Instant::now();
        let mut decided: Vec<(u32, u32, bool)> = Vec::new();
        let engine_lanes = &self.engine.lanes;
        let table = &mut self.lanes;
        batch.records.retain(|record| {
            let key = (record.source, record.partition);
            if let Some(&(_, _, own)) = decided.iter().find(|(s, p, _)| (*s, *p) == key) {
                return own;
            }
            let lane = engine_lanes.lane_of(origin, &batch.sources, record);
            let own = table.holds(&lane);
            if own {
                table.seen(&lane, now);
            } else {
                tracing::debug!(%lane, "records of a partition this instance does not own; skipped");
            }
            decided.push((key.0, key.1, own));
            own
        });
    }

    /// Reads a lane's state and position from its checkpoint; returns the
    /// checkpoint's sequence number.
    pub(super) async fn restore_lane(&mut self, lane: &str) -> Result<u64, StoreError> {
        restore_lane(
            &mut self.engine,
            &mut self.checkpointer.store,
            &mut self.lanes,
            self.settings.lateness_ms,
            lane,
        )
        .await
    }

    /// Follows changes of the partitions owned: revoked ones are flushed
    /// (within [`REVOKE_FLUSH_BOUND`]) and parked, lost ones dropped
    /// unwritten, assigned ones restored from their checkpoint (or taken
    /// back from the parked ones if nobody owned them in between).
    pub(super) async fn on_rebalance(&mut self, events: Vec<Rebalance>) -> Result<(), StoreError> {
        self.settle(None).await?;
        for event in events {
            match event {
                Rebalance::Revoked(lanes) => self.revoke(lanes).await?,
                Rebalance::Lost(lanes) => {
                    self.finish_pending();
                    for lane in lanes {
                        tracing::warn!(%lane, "partition lost; its state since the last checkpoint is dropped unwritten");
                        self.drop_lane(&lane);
                    }
                }
                Rebalance::Assigned(taken) => {
                    self.finish_pending();
                    let parked = self.lanes.take_parked();
                    for assignment in taken {
                        self.take_lane(assignment, &parked).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Flushes, then parks revoked lanes.
    async fn revoke(&mut self, lanes: Vec<String>) -> Result<(), StoreError> {
        let flushed = self
            .checkpoint_within(Some(REVOKE_FLUSH_BOUND), false)
            .await?;
        for lane in lanes {
            let Some((Some(owned), position)) = self.lanes.remove(&lane) else {
                continue;
            };
            let states = self.engine.lanes.remove(&lane);
            if let (true, Some(states)) = (flushed, states) {
                self.sources.park(&lane, owned.token);
                self.lanes.park(
                    lane,
                    Parked {
                        owned,
                        states,
                        position,
                    },
                );
            } else {
                tracing::warn!(%lane, "revoked partition not flushed in time; the next owner replays it from the last checkpoint");
            }
        }
        if !flushed {
            // The partitions kept lost their drained changes too.
            self.rewind_lanes().await?;
        }
        Ok(())
    }

    /// Starts owning a lane under the token it was assigned with.
    async fn take_lane(
        &mut self,
        assignment: Assignment,
        parked: &BTreeMap<String, Parked>,
    ) -> Result<(), StoreError> {
        let Assignment {
            lane, token, kept, ..
        } = assignment;
        self.drop_lane(&lane);
        let seq = match parked.get(&lane) {
            Some(held) if kept && held.owned.token == token => {
                self.engine.lanes.insert(lane.clone(), held.states.clone());
                self.lanes.set_position(&lane, held.position.clone());
                tracing::info!(lane, token, "partition back; its state was kept in memory");
                held.owned.seq
            }
            _ => {
                let seq = self.restore_lane(&lane).await?;
                tracing::info!(
                    lane,
                    token,
                    "partition taken; state restored from its checkpoint"
                );
                seq
            }
        };
        self.lanes.own(&lane, token, seq, Instant::now());
        Ok(())
    }

    /// Forgets a lane without writing it.
    pub(super) fn drop_lane(&mut self, lane: &str) {
        self.lanes.remove(lane);
        self.engine.lanes.remove(lane);
    }

    /// After a checkpoint that was refused (fenced), the changes it
    /// drained from the lanes still owned are not in the store: reload
    /// those lanes from their checkpoint and read their partitions again
    /// from the checkpointed offsets. A batch read but not yet in the
    /// windows is dropped too: its records are read again.
    pub(super) async fn rewind_lanes(&mut self) -> Result<(), StoreError> {
        if self.pending.take().is_some() {
            tracing::debug!("pending batch dropped; it is read again from the checkpoint");
        }
        for lane in self.lanes.owned() {
            let seq = self.restore_lane(&lane).await?;
            self.lanes.set_seq(&lane, seq);
            let offset = self.lanes.position(&lane).map(|p| p.offset);
            self.sources.rewind(&lane, offset);
            tracing::warn!(%lane, ?offset, "partition reloaded from its checkpoint after a refused write");
        }
        Ok(())
    }

    /// Raises the watermark of lanes without records for `idle_after` to
    /// the lowest watermark of the active lanes, so a quiet partition does
    /// not hold every window open.
    pub(super) fn release_idle_lanes(&mut self) {
        let Some(idle_after) = self.settings.idle_after else {
            return;
        };
        let idle = self.lanes.idle(Instant::now(), idle_after);
        if idle.is_empty() {
            return;
        }
        let ids: Vec<_> = self.engine.rules().iter().map(|slot| slot.id).collect();
        let lanes = &mut self.engine.lanes;
        for id in ids {
            let active_min = lanes
                .iter()
                .filter(|(lane, _)| !idle.iter().any(|i| i == lane))
                .filter_map(|(_, states)| states.get(id))
                .filter(|state| state.watermark.max_event_ms().is_some())
                .map(|state| state.watermark.current())
                .min();
            let Some(watermark) = active_min else {
                continue;
            };
            for (lane, states) in lanes.iter_mut() {
                if let Some(state) = states.get_mut(id)
                    && idle.iter().any(|i| i == lane)
                    && state.watermark.current() < watermark
                {
                    tracing::debug!(lane, watermark, "idle partition's watermark raised");
                    state.watermark.raise_to(watermark);
                    state.advance();
                }
            }
        }
    }
}

/// Deletes a lane's checkpoint before a run that cannot resume from it
/// (stdin). Restoring it would add the new input to the windows and
/// counters of the previous run: piping the same log again would count
/// what that run had read twice. Output values the new input reaches are
/// overwritten with this run's (they are absolute); others stay.
pub(super) async fn discard_lane<S: CheckpointStore>(
    store: &mut S,
    lane: &str,
) -> Result<(), StoreError> {
    let keys = store.discard_lane(lane).await?;
    if keys > 0 {
        tracing::warn!(
            keys,
            "stdin cannot resume where a previous run stopped: previous checkpoint discarded \
             (open windows, watermarks, counters); this run counts its input from scratch"
        );
    }
    Ok(())
}

/// Reads a lane's state (into the engine) and position (into the table)
/// from its checkpoint in `store`; returns the checkpoint's sequence number.
pub(super) async fn restore_lane<S: CheckpointStore>(
    engine: &mut Engine,
    store: &mut S,
    table: &mut LaneTable,
    lateness_ms: i64,
    lane: &str,
) -> Result<u64, StoreError> {
    let mut states = engine.lanes.empty_states();
    for slot in engine.rules() {
        let Some(state) = states.get_mut(slot.id) else {
            continue;
        };
        let spec = &slot.rule.spec;
        let groups = store.restore_rule(lane, spec, lateness_ms, state).await?;
        if groups > 0 {
            tracing::info!(rule = %spec.name, lane, groups, "restored open windows from checkpoint");
        }
    }
    engine.lanes.insert(lane.to_owned(), states);
    let seq = store.commit_seq(lane).await?;
    table.set_position(lane, store.position(lane).await?);
    Ok(seq)
}
