//! Rule changes while running: swapped in at a batch boundary, after a
//! checkpoint, so each record is processed by exactly one rule version.

use std::time::Instant;

use super::Pipeline;
use super::checkpoint::{RuleNotes, rule_commit};
use crate::checkpoint::{CheckpointStore, LaneCommit, StoreError};
use crate::model::RuleId;
use crate::plugin::reload::ReloadEvent;

impl<S: CheckpointStore> Pipeline<S> {
    /// Applies rule changes at a batch boundary: everything before is
    /// checkpointed first, so each record is processed by exactly one version.
    pub(super) async fn on_reload(&mut self, events: Vec<ReloadEvent>) -> Result<(), StoreError> {
        let started = Instant::now();
        let count = events.len();
        self.checkpoint().await?;
        for event in events {
            match event {
                ReloadEvent::Failed { path, error } => {
                    tracing::error!(path = %path.display(), %error, "rule failed to load; the running version (if any) stays");
                    if let Some(slot) = self
                        .engine
                        .find_by_path(&path)
                        .and_then(|id| self.engine.rule(id))
                    {
                        let name = slot.name().to_owned();
                        self.reload_counts.entry(name).or_default().load_errors += 1;
                    }
                    self.load_errors.insert(path, error);
                }
                ReloadEvent::Removed(path) => {
                    self.load_errors.remove(&path);
                    match self.engine.find_by_path(&path) {
                        Some(id) => self.retire(id).await?,
                        None => {
                            tracing::debug!(path = %path.display(), "a removed file that held no running rule")
                        }
                    }
                }
                ReloadEvent::Loaded(rule) => {
                    let rule = *rule;
                    self.load_errors.remove(&rule.path);
                    let by_path = self.engine.find_by_path(&rule.path);
                    match (by_path, self.engine.find_by_name(&rule.spec.name)) {
                        (Some(old), Some(same)) if old == same => {
                            let name = rule.spec.name.clone();
                            let note = format!("{} ({})", rule.spec.version, rule.version_hash);
                            tracing::info!(rule = %name, version = %rule.spec.version, hash = %rule.version_hash, "rule reloaded");
                            let reset = self.engine.replace_rule(old, rule);
                            let note = if reset.is_empty() {
                                format!("reloaded {note}; every open window kept")
                            } else {
                                tracing::warn!(rule = %name, metrics = %reset.join(", "), "rule reloaded with changed or dropped metrics; their open windows were discarded");
                                format!(
                                    "reloaded {note}; open windows discarded: {}",
                                    reset.join(", ")
                                )
                            };
                            self.reload_counts.entry(name.clone()).or_default().reloads += 1;
                            self.last_reloads.insert(name, note);
                        }
                        (_, Some(other)) => {
                            let from = self
                                .engine
                                .rule(other)
                                .map(|slot| slot.rule.path.display().to_string())
                                .unwrap_or_default();
                            let error =
                                format!("rule `{}` is already loaded from {from}", rule.spec.name);
                            tracing::error!(path = %rule.path.display(), %error, "rule not loaded");
                            self.reload_counts
                                .entry(rule.spec.name.clone())
                                .or_default()
                                .load_errors += 1;
                            self.load_errors.insert(rule.path.clone(), error);
                            continue;
                        }
                        (old, None) => {
                            if let Some(old) = old {
                                self.retire(old).await?;
                            }
                            tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule added");
                            self.reload_counts
                                .entry(rule.spec.name.clone())
                                .or_default()
                                .reloads += 1;
                            self.last_reloads.insert(
                                rule.spec.name.clone(),
                                format!("added {} ({})", rule.spec.version, rule.version_hash),
                            );
                            self.engine.add_rule(rule);
                        }
                    }
                }
            }
            self.summary.reloads += 1;
            self.catalog_written = false;
        }
        // How long the input stood still: the checkpoint before the swap and the swap.
        tracing::info!(
            events = count,
            pause_us = started.elapsed().as_micros() as u64,
            "rule changes applied"
        );
        Ok(())
    }

    /// Removes rule `id`: its open windows are closed and flushed to the
    /// store, and its checkpoint state is dropped.
    async fn retire(&mut self, id: RuleId) -> Result<(), StoreError> {
        let Some(removed) = self.engine.remove_rule(id) else {
            return Ok(());
        };
        let rule = &removed.rule;
        tracing::info!(rule = %rule.spec.name, "rule removed; flushing its open windows");
        self.last_reloads.remove(&rule.spec.name);
        let mut dead_letters = Some(removed.dead_letters);
        let mut states = removed.states;
        let mut lanes = Vec::new();
        let mut lane_names = Vec::new();
        for (lane, state) in &mut states {
            state.close_all();
            let commit = rule_commit(
                rule,
                state,
                dead_letters.take().unwrap_or_default(),
                true,
                RuleNotes::default(),
                0,
            );
            lanes.push(LaneCommit {
                lane: lane.clone(),
                merged: self.lanes.is_partitioned(),
                positions: Vec::new(),
                rules: vec![commit],
            });
            lane_names.push(lane.clone());
        }
        let prepared = self
            .checkpointer
            .prepare(&lanes, self.lanes.fences(&lane_names));
        drop(lanes);
        match self.checkpointer.send(&prepared, Vec::new(), None).await {
            Ok(super::Written::Yes { fences, .. }) => self.lanes.committed(&fences),
            Ok(super::Written::TimedOut) | Err(StoreError::Fenced(_)) => {}
            Err(error) => return Err(error),
        }
        for lane in &lane_names {
            self.checkpointer
                .store
                .forget_rule(lane, &rule.spec.name)
                .await?;
        }
        Ok(())
    }
}
