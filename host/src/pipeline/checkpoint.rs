//! Checkpoints from the loop's side: building one from every lane and rule,
//! and settling the outcome (lanes dropped and the others rewound when
//! another instance took partitions over).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Pipeline, Written};
use crate::checkpoint::{CheckpointStore, LaneCommit, RuleCommit, StateView, StoreError};
use crate::model::DeadLetter;
use crate::plugin::ActiveRule;
use crate::state::RuleState;

impl<S: CheckpointStore> Pipeline<S> {
    /// Writes one checkpoint, retrying until it is written.
    pub(super) async fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.checkpoint_within(None, false).await.map(|_| ())
    }

    /// Waits for the checkpoint in flight and settles it; returns false if
    /// `deadline` passed first.
    pub(super) async fn settle(&mut self, deadline: Option<Instant>) -> Result<bool, StoreError> {
        let result = self.checkpointer.settle(deadline).await;
        match result {
            Ok(None) => Ok(true),
            other => Ok(self
                .after_write(other.map(|w| w.unwrap_or(Written::TimedOut)))
                .await?
                .unwrap_or(true)),
        }
    }

    /// Follows up a checkpoint write: `Some(written)`, or `None` if it was
    /// refused because partitions were taken over (they are dropped, the
    /// other lanes rewound to their checkpoints).
    async fn after_write(
        &mut self,
        result: Result<Written, StoreError>,
    ) -> Result<Option<bool>, StoreError> {
        match result {
            Ok(Written::Yes { fences, offsets }) => {
                self.lanes.committed(&fences);
                self.sources.commit_offsets(&offsets);
                self.catalog_written = true;
                Ok(Some(true))
            }
            Ok(Written::TimedOut) => Ok(Some(false)),
            Err(StoreError::Fenced(lost)) => {
                for lane in &lost {
                    tracing::error!(%lane, "another instance took this partition; dropping it unwritten");
                    self.drop_lane(lane);
                }
                self.rewind_lanes().await?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Writes one checkpoint of every lane and rule, with the source
    /// positions (after applying the pending batch, so the checkpoint
    /// covers every record read and the dead letters gathered with them).
    /// Lanes another instance took over are dropped unwritten. With a
    /// `bound`, gives up after that long; returns whether it was written.
    ///
    /// With `overlap`, the checkpoint is handed to the store and processing
    /// goes on while the store writes it (the changes are already drained
    /// into it); the next checkpoint, or anything that needs it written,
    /// waits for it first. So the store works on one checkpoint while weir
    /// works on the next, instead of taking turns.
    pub(super) async fn checkpoint_within(
        &mut self,
        bound: Option<Duration>,
        overlap: bool,
    ) -> Result<bool, StoreError> {
        let deadline = bound.map(|bound| Instant::now() + bound);
        if !self.settle(deadline).await? {
            return Ok(false);
        }
        self.finish_pending();
        self.release_idle_lanes();
        let mut dead_letters = Some(self.engine.take_dead_letters());
        loop {
            let write_catalog = !self.catalog_written;
            let (rules, engine_lanes) = self.engine.slots_and_lanes();
            let mut lane_names = Vec::new();
            let mut commits = Vec::new();
            for (lane, states) in engine_lanes.iter_mut() {
                // Dead letters go with the first lane's checkpoint.
                let mut dead = dead_letters.take().unwrap_or_default();
                let mut rule_commits: Vec<RuleCommit> = Vec::new();
                for (id, state) in states.iter_mut() {
                    let Some(slot) = rules.iter().find(|slot| slot.id == id) else {
                        tracing::error!(rule = %id, lane, "window state of a rule that is not running; not checkpointed");
                        continue;
                    };
                    let letters = dead
                        .iter_mut()
                        .find(|(rule, _)| *rule == id)
                        .map(|(_, letters)| std::mem::take(letters))
                        .unwrap_or_default();
                    let quarantined_for_ms = slot
                        .quarantine_remaining()
                        .map_or(0, |left| left.as_millis() as u64);
                    rule_commits.push(rule_commit(
                        &slot.rule,
                        state,
                        letters,
                        write_catalog,
                        RuleNotes {
                            last_load_error: self
                                .load_errors
                                .get(&slot.rule.path)
                                .map(String::as_str),
                            last_reload: self.last_reloads.get(slot.name()).map(String::as_str),
                            counts: self
                                .reload_counts
                                .get(slot.name())
                                .copied()
                                .unwrap_or_default(),
                        },
                        quarantined_for_ms,
                    ));
                }
                commits.push(LaneCommit {
                    lane: lane.to_owned(),
                    merged: self.lanes.is_partitioned(),
                    positions: self
                        .lanes
                        .position(lane)
                        .map(|p| vec![(lane.to_owned(), p.clone())])
                        .unwrap_or_default(),
                    rules: rule_commits,
                });
                lane_names.push(lane.to_owned());
            }
            if commits.is_empty() {
                return Ok(true);
            }
            let fences = self.lanes.fences(&lane_names);
            let offsets: Vec<(String, u64)> = commits
                .iter()
                .flat_map(|c| c.positions.iter().map(|(l, p)| (l.clone(), p.offset)))
                .collect();
            if overlap {
                let sent = self
                    .checkpointer
                    .send_in_background(commits, fences, offsets)
                    .await;
                match sent {
                    Ok(None) => return Ok(true),
                    other => {
                        let result = other.map(|w| w.unwrap_or(Written::TimedOut));
                        if let Some(done) = self.after_write(result).await? {
                            return Ok(done);
                        }
                        continue;
                    }
                }
            }
            let prepared = self.checkpointer.prepare(&commits, fences);
            drop(commits);
            let result = self.checkpointer.send(&prepared, offsets, deadline).await;
            if let Some(done) = self.after_write(result).await? {
                return Ok(done);
            }
        }
    }
}

/// What `weir status` and `/metrics` tell about a rule's reloads.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RuleNotes<'a> {
    /// The last error loading a new version, while the old one runs.
    pub last_load_error: Option<&'a str>,
    /// The last reload and what it reset.
    pub last_reload: Option<&'a str>,
    /// Reloads and load errors so far.
    pub counts: ReloadCounts,
}

/// How often a rule was reloaded, and failed to load, in this process.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ReloadCounts {
    /// New versions swapped in.
    pub reloads: u64,
    /// Files that failed to load while the rule ran.
    pub load_errors: u64,
}

/// One rule's part of a lane's checkpoint: drains its changes.
pub(super) fn rule_commit(
    rule: &ActiveRule,
    state: &mut RuleState,
    dead_letters: Vec<DeadLetter>,
    write_catalog: bool,
    notes: RuleNotes<'_>,
    quarantined_for_ms: u64,
) -> RuleCommit {
    let changes = state.drain_changes();
    RuleCommit {
        spec: Arc::new(rule.spec.clone()),
        version_hash: rule.version_hash.clone(),
        loaded_at_ms: rule.loaded_at_ms,
        quarantined_for_ms,
        last_load_error: notes.last_load_error.map(str::to_owned),
        last_reload: notes.last_reload.map(str::to_owned),
        reloads: notes.counts.reloads,
        load_errors: notes.counts.load_errors,
        state: StateView::of(state),
        changes,
        dead_letters,
        write_catalog,
    }
}
