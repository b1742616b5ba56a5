//! Rule changes while running: swapped in at a batch boundary, after a
//! checkpoint, so each record is processed by exactly one rule version.

use std::time::Instant;

use super::Pipeline;
use super::checkpoint::{commit_with_retry, rule_commit};
use crate::plugin::ActiveRule;
use crate::plugin::reload::ReloadEvent;
use crate::sink::{CheckpointKeys, StoreError};

impl Pipeline<'_> {
    /// Applies rule changes at a batch boundary: everything before is
    /// checkpointed first, so each record is processed by exactly one version.
    pub(super) async fn apply_reloads(
        &mut self,
        events: Vec<ReloadEvent>,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let count = events.len();
        self.checkpoint().await?;
        let limits = &self.config.limits;
        for event in events {
            match event {
                ReloadEvent::Failed { path, error } => {
                    tracing::error!(path = %path.display(), %error, "rule failed to load; the running version (if any) stays");
                    self.load_errors.insert(path, error);
                }
                ReloadEvent::Removed(path) => {
                    self.load_errors.remove(&path);
                    if let Some(index) = self.processor.registry.position_by_path(&path) {
                        self.retire(index).await?;
                    }
                }
                ReloadEvent::Loaded(loaded) => {
                    let rule = ActiveRule::from(*loaded);
                    self.load_errors.remove(&rule.path);
                    let registry = &self.processor.registry;
                    let by_path = registry.position_by_path(&rule.path);
                    match (by_path, registry.position_by_name(&rule.spec.name)) {
                        (Some(old), Some(same)) if old == same => {
                            tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule reloaded");
                            self.processor.replace_rule(old, rule, limits);
                        }
                        (_, Some(other)) => {
                            let error = format!(
                                "rule `{}` is already loaded from {}",
                                rule.spec.name,
                                registry.rules()[other].path.display()
                            );
                            tracing::error!(path = %rule.path.display(), %error, "rule not loaded");
                            self.load_errors.insert(rule.path.clone(), error);
                            continue;
                        }
                        (old, None) => {
                            if let Some(old) = old {
                                self.retire(old).await?;
                            }
                            tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule added");
                            self.processor.add_rule(rule, limits);
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

    /// Removes rule `index`: its open windows are closed and flushed to
    /// Redis, and its checkpoint state is dropped.
    async fn retire(&mut self, index: usize) -> Result<(), StoreError> {
        let Some(removed) = self.processor.remove_rule(index) else {
            return Ok(());
        };
        let rule = &removed.rule;
        tracing::info!(rule = %rule.spec.name, "rule removed; flushing its open windows");
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
                None,
                None,
            );
            lanes.push(self.layout().commit(lane, vec![commit], false));
            lane_names.push(lane.clone());
        }
        let prepared = self
            .store
            .prepare(&lanes, self.layout().fences(&lane_names));
        drop(lanes);
        let result = commit_with_retry(&mut self.store, &prepared, &self.stop, None, None).await;
        match result {
            Ok(true) => self.note_committed(&prepared),
            Ok(false) | Err(StoreError::Fenced(_)) => {}
            Err(error) => return Err(error),
        }
        let keys: Vec<CheckpointKeys> = lane_names.iter().map(|l| self.lane_keys(l)).collect();
        for keys in keys {
            self.store.forget_rule(&keys, &rule.spec.name).await?;
        }
        Ok(())
    }
}
