//! Which partitions (lanes) this instance owns: taking them on assignment
//! (restored from their checkpoint), giving them up on revocation or loss,
//! rewinding them after a refused checkpoint, and where each is checkpointed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Pipeline;
use crate::contract::Batch;
use crate::sink::{CheckpointKeys, Fence, LaneCommit, RuleCommit, StoreError, restore};
use crate::source::kafka::Assignment;
use crate::source::{Position, Rebalance};
use crate::state::RuleState;

/// How long flushing revoked partitions may take: well under librdkafka's
/// default session timeout (45 s), so the group never waits on us. A flush
/// that does not make it is dropped; the next owner replays from the last
/// checkpoint, which stays exact.
const REVOKE_FLUSH_BOUND: Duration = Duration::from_secs(5);

/// A lane this instance owns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owned {
    /// The ownership token it was taken under: checkpoints of the lane are
    /// written only while Redis still holds it.
    pub(super) token: u64,
    /// The sequence number of its last checkpoint (see
    /// [`crate::sink::merge`]): the next one writes `seq + 1`, once.
    pub(super) seq: u64,
}

/// A lane flushed on revoke.
pub(super) struct Parked {
    owned: Owned,
    states: Vec<RuleState>,
    position: Option<Position>,
}

impl Pipeline<'_> {
    /// Drops the records of partitions this instance does not own (any
    /// still arriving after it was fenced out), and notes which lanes had
    /// records.
    pub(super) fn keep_owned(&mut self, batch: &mut Batch) {
        let now = Instant::now();
        let mut owned: Vec<(u32, u32, bool)> = Vec::new();
        let lanes = &self.processor.lanes;
        let owned_lanes = &self.owned;
        let last_seen = &mut self.last_seen;
        batch.records.retain(|record| {
            let key = (record.source, record.partition);
            if let Some(&(_, _, own)) = owned.iter().find(|(s, p, _)| (*s, *p) == key) {
                return own;
            }
            let lane = lanes.lane_of(&batch.sources, record);
            let own = owned_lanes.contains_key(&lane);
            if own {
                last_seen.insert(lane, now);
            } else {
                tracing::debug!(%lane, "records of a partition this instance does not own; skipped");
            }
            owned.push((key.0, key.1, own));
            own
        });
    }

    /// Reads a lane's state and position from its checkpoint; returns the
    /// checkpoint's sequence number (0 for a lane that is not merged).
    pub(super) async fn restore_lane(&mut self, lane: &str) -> Result<u64, StoreError> {
        let keys = self.lane_keys(lane);
        let lateness_ms = self.config.windows.allowed_lateness_ms();
        let mut states = self.processor.lanes.empty_states();
        for (rule, state) in self.processor.registry.rules().iter().zip(&mut states) {
            let groups = restore::rule_state(
                self.store.connection(),
                &keys,
                &rule.spec,
                lateness_ms,
                state,
            )
            .await?;
            if groups > 0 {
                tracing::info!(rule = %rule.spec.name, lane, groups, "restored open windows from checkpoint");
            }
        }
        self.processor.lanes.insert(lane.to_owned(), states);
        let seq = if self.partitioned() {
            restore::commit_seq(self.store.connection(), &keys).await?
        } else {
            0
        };
        match restore::position(self.store.connection(), &keys, lane).await? {
            Some(position) => {
                self.positions.insert(lane.to_owned(), position);
            }
            None => {
                self.positions.remove(lane);
            }
        }
        Ok(seq)
    }

    /// The checkpoint keys of a lane.
    pub(super) fn lane_keys(&self, lane: &str) -> CheckpointKeys {
        self.layout().keys(lane)
    }

    /// Where lanes are checkpointed and under which tokens.
    pub(super) fn layout(&self) -> LaneLayout<'_> {
        LaneLayout {
            base: self.store.keys(),
            positions: &self.positions,
            owned: &self.owned,
            partitioned: self.partitioned(),
        }
    }

    /// Follows changes of the partitions owned: revoked ones are flushed
    /// (within [`REVOKE_FLUSH_BOUND`]) and parked, lost ones dropped
    /// unwritten, assigned ones restored from their checkpoint (or taken
    /// back from the parked ones if nobody owned them in between).
    pub(super) async fn rebalance(&mut self, events: Vec<Rebalance>) -> Result<(), StoreError> {
        self.settle(None).await?;
        for event in events {
            match event {
                Rebalance::Revoked(lanes) => {
                    let flushed = self
                        .checkpoint_within(Some(REVOKE_FLUSH_BOUND), false)
                        .await?;
                    for lane in lanes {
                        let Some(owned) = self.owned.remove(&lane) else {
                            continue;
                        };
                        let states = self.processor.lanes.remove(&lane);
                        let position = self.positions.remove(&lane);
                        if let (true, Some(states)) = (flushed, states) {
                            if let Some(kafka) = self.source().kafka() {
                                kafka.park(&lane, owned.token);
                            }
                            self.parked.insert(
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
                }
                Rebalance::Lost(lanes) => {
                    self.finish_pending();
                    for lane in lanes {
                        tracing::warn!(%lane, "partition lost; its state since the last checkpoint is dropped unwritten");
                        self.drop_lane(&lane);
                    }
                }
                Rebalance::Assigned(taken) => {
                    self.finish_pending();
                    let parked = std::mem::take(&mut self.parked);
                    for Assignment {
                        lane, token, kept, ..
                    } in taken
                    {
                        self.take_lane(&lane, token, kept, &parked).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts owning a lane under `token`.
    async fn take_lane(
        &mut self,
        lane: &str,
        token: u64,
        kept: bool,
        parked: &BTreeMap<String, Parked>,
    ) -> Result<(), StoreError> {
        self.drop_lane(lane);
        let seq = match parked.get(lane) {
            Some(held) if kept && held.owned.token == token => {
                self.processor
                    .lanes
                    .insert(lane.to_owned(), held.states.clone());
                if let Some(position) = &held.position {
                    self.positions.insert(lane.to_owned(), position.clone());
                }
                tracing::info!(lane, token, "partition back; its state was kept in memory");
                held.owned.seq
            }
            _ => {
                let seq = self.restore_lane(lane).await?;
                tracing::info!(
                    lane,
                    token,
                    "partition taken; state restored from its checkpoint"
                );
                seq
            }
        };
        self.owned.insert(lane.to_owned(), Owned { token, seq });
        self.last_seen.insert(lane.to_owned(), Instant::now());
        Ok(())
    }

    /// Forgets a lane without writing it.
    pub(super) fn drop_lane(&mut self, lane: &str) {
        self.owned.remove(lane);
        self.processor.lanes.remove(lane);
        self.positions.remove(lane);
        self.last_seen.remove(lane);
    }

    /// After a checkpoint that was refused (fenced), the changes it
    /// drained from the lanes still owned are not in Redis: reload those
    /// lanes from their checkpoint and read their partitions again from
    /// the checkpointed offsets. A batch read but not yet in the windows
    /// is dropped too: its records are read again.
    pub(super) async fn rewind_lanes(&mut self) -> Result<(), StoreError> {
        if self.pending.take().is_some() {
            tracing::debug!("pending batch dropped; it is read again from the checkpoint");
        }
        let lanes: Vec<String> = self.owned.keys().cloned().collect();
        for lane in lanes {
            let seq = self.restore_lane(&lane).await?;
            if let Some(owned) = self.owned.get_mut(&lane) {
                owned.seq = seq;
            }
            let offset = self.positions.get(&lane).map(|p| p.offset);
            if let Some(kafka) = self.source().kafka() {
                kafka.rewind(&lane, offset);
            }
            tracing::warn!(%lane, ?offset, "partition reloaded from its checkpoint after a refused write");
        }
        Ok(())
    }

    /// Raises the watermark of lanes without records for `idle_after` to
    /// the lowest watermark of the active lanes, so a quiet partition does
    /// not hold every window open.
    pub(super) fn release_idle_lanes(&mut self) {
        let Some(idle_after) = self.idle_after else {
            return;
        };
        let now = Instant::now();
        let idle: Vec<String> = self
            .last_seen
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) >= idle_after)
            .map(|(lane, _)| lane.clone())
            .collect();
        if idle.is_empty() {
            return;
        }
        let rules = self.processor.registry.rules().len();
        for rule in 0..rules {
            let active_min = self
                .processor
                .lanes
                .iter()
                .filter(|(lane, _)| !idle.iter().any(|i| i == lane))
                .filter_map(|(_, states)| states.get(rule))
                .filter(|state| state.watermark.max_event_ms().is_some())
                .map(|state| state.watermark.current())
                .min();
            let Some(watermark) = active_min else {
                continue;
            };
            for (lane, states) in self.processor.lanes.iter_mut() {
                if let Some(state) = states.get_mut(rule)
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

/// Where lanes are checkpointed (a partitioned source's lanes under their
/// own keys, merged; a file's one lane under the pipeline's keys) and the
/// tokens they are written under.
pub(super) struct LaneLayout<'p> {
    pub(super) base: &'p CheckpointKeys,
    pub(super) positions: &'p BTreeMap<String, Position>,
    pub(super) owned: &'p BTreeMap<String, Owned>,
    pub(super) partitioned: bool,
}

impl LaneLayout<'_> {
    /// The checkpoint keys of a lane.
    fn keys(&self, lane: &str) -> CheckpointKeys {
        if self.partitioned {
            self.base.lane(lane)
        } else {
            self.base.clone()
        }
    }

    /// One lane's part of a checkpoint (with its position if asked).
    pub(super) fn commit<'a>(
        &self,
        lane: &str,
        rules: Vec<RuleCommit<'a>>,
        with_position: bool,
    ) -> LaneCommit<'a> {
        let positions = match self.positions.get(lane) {
            Some(position) if with_position => vec![(lane.to_owned(), position.clone())],
            _ => Vec::new(),
        };
        LaneCommit {
            keys: self.keys(lane),
            merge_as: self.partitioned.then(|| lane.to_owned()),
            positions,
            rules,
        }
    }

    /// The tokens the given lanes are held under.
    pub(super) fn fences(&self, lanes: &[String]) -> Vec<Fence> {
        lanes
            .iter()
            .filter_map(|lane| {
                Some(Fence {
                    lane: lane.clone(),
                    token: self.owned.get(lane)?.token,
                    seq: self.owned.get(lane)?.seq,
                })
            })
            .collect()
    }
}
