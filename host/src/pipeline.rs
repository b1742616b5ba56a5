//! A running pipeline: source → rules → windows → Redis, with checkpoints
//! and hot reload of rules at batch boundaries.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::contract::Batch;
use crate::plugin::reload::{ReloadEvent, Reloader};
use crate::plugin::{ActiveRule, RuleLoader, RuleRegistry};
use crate::processor::{DeadLetter, Processor, RuleOutcome, apply_outcomes};
use crate::sink::{OutputSettings, RedisStore, RuleCommit, StoreError, restore};
use crate::source::{FILE_POSITION_FIELD, Position, Source};
use crate::state::RuleState;
use crate::stats::{RuleStats, SourceStats};
use crate::window::Alignment;

/// Longest wait between attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Per rule: name and counters.
    pub rules: Vec<(String, RuleStats)>,
    /// Source counters.
    pub source: SourceStats,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Rule versions swapped in, added or removed while running.
    pub reloads: u64,
}

/// Sets up the engine for the configured limits.
pub fn loader(config: &Config) -> anyhow::Result<RuleLoader> {
    RuleLoader::new(&config.limits).context("cannot set up the WebAssembly engine")
}

/// Loads the configured rules, or lists every plugin problem.
pub fn load_rules(config: &Config) -> anyhow::Result<RuleRegistry> {
    Ok(RuleRegistry::load_dir(
        &loader(config)?,
        &config.plugins.dir,
        &config.rules,
    )?)
}

fn output_settings(config: &Config) -> OutputSettings {
    OutputSettings {
        default_ttl_secs: config.redis.default_ttl_secs,
        ttl_secs: config
            .rules
            .iter()
            .map(|(name, rule)| (name.clone(), rule.ttl_secs.clone()))
            .collect(),
        index_windows: config.redis.index_windows,
    }
}

/// Runs the configured pipeline until its input ends or `stop` is set.
///
/// On start, window state and the source position are restored from the
/// checkpoint in Redis, so a restart (even after `kill -9`) continues
/// exactly where the last checkpoint left off. While running, rule files
/// added to, changed in or removed from the plugins folder are swapped in
/// at a batch boundary.
pub async fn run(config: &Config, stop: Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let loader = Arc::new(loader(config)?);
    // Watch before the first load, so a file that lands while the rules
    // load is not missed (at worst it is loaded twice).
    let reloader = match Reloader::start(loader.clone(), &config.plugins.dir, config.rules.clone())
    {
        Ok(reloader) => Some(reloader),
        Err(error) => {
            tracing::warn!(%error, "cannot watch the plugins folder; rules will not be reloaded");
            None
        }
    };
    let registry = tokio::task::block_in_place(|| {
        RuleRegistry::load_dir(&loader, &config.plugins.dir, &config.rules)
    })?;
    let align = Alignment::new(config.windows.day_offset_secs);
    let lateness_ms = config.windows.allowed_lateness_ms();
    let mut processor = Processor::new(registry, align, lateness_ms, &config.limits);
    let mut store = connect(config, &stop).await?;

    let keys = store.keys().clone();
    let position = restore::position(store.connection(), &keys, FILE_POSITION_FIELD).await?;
    for (rule, state) in processor.registry.rules().iter().zip(&mut processor.states) {
        let groups =
            restore::rule_state(store.connection(), &keys, &rule.spec, lateness_ms, state).await?;
        if groups > 0 {
            tracing::info!(rule = %rule.spec.name, groups, "restored open windows from checkpoint");
        }
    }
    let source = Source::open(&config.source, position.as_ref(), &config.redis.url, &keys)?;
    let start_position = source.positions();
    for rule in processor.registry.rules() {
        tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule loaded");
    }
    let mut pipeline = Pipeline {
        config,
        store,
        processor,
        source,
        stop,
        catalog_written: false,
        load_errors: HashMap::new(),
        summary: RunSummary::default(),
        pending: None,
        applied_position: start_position,
    };
    pipeline.run(reloader.as_ref()).await
}

async fn connect(config: &Config, stop: &AtomicBool) -> anyhow::Result<RedisStore> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match RedisStore::connect(
            &config.redis.url,
            &config.checkpoint.namespace,
            output_settings(config),
        )
        .await
        {
            Ok(store) => return Ok(store),
            Err(error) if !stop.load(Ordering::Relaxed) => {
                tracing::warn!(url = %config.redis.url, %error, retry_in = ?backoff, "cannot reach Redis; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => return Err(error).context("cannot reach Redis"),
        }
    }
}

struct Pipeline<'c> {
    config: &'c Config,
    store: RedisStore,
    processor: Processor,
    source: Source,
    stop: Arc<AtomicBool>,
    catalog_written: bool,
    /// The last load error of each rule file, until it loads.
    load_errors: HashMap<PathBuf, String>,
    summary: RunSummary,
    /// A batch whose rule calls are done but whose outcomes are not yet in
    /// the windows (see [`Pipeline::run`]).
    pending: Option<Pending>,
    /// Where a restart resumes: just past the last batch in the windows.
    applied_position: Vec<(String, Position)>,
}

/// A batch between the two halves of processing.
struct Pending {
    batch: Batch,
    /// The source positions just past the batch.
    position: Vec<(String, Position)>,
    outcomes: Vec<RuleOutcome>,
}

impl Pipeline<'_> {
    async fn run(&mut self, reloader: Option<&Reloader>) -> anyhow::Result<RunSummary> {
        let interval = Duration::from_millis(self.config.checkpoint.interval_ms);
        let mut last_checkpoint = Instant::now();
        let mut ended = false;
        while !self.stop.load(Ordering::Relaxed) {
            let events: Vec<ReloadEvent> = reloader
                .map(|r| r.events.try_iter().collect())
                .unwrap_or_default();
            if !events.is_empty() {
                self.apply_reloads(events).await?;
                last_checkpoint = Instant::now();
            }
            let Some(batch) = self.source.next_batch().await? else {
                ended = true;
                break;
            };
            let position = self.source.positions();
            self.process(batch, position)?;
            if last_checkpoint.elapsed() >= interval {
                self.checkpoint().await?;
                last_checkpoint = Instant::now();
            }
        }
        self.finish_pending();
        if ended {
            self.processor.close_all();
        }
        self.checkpoint().await?;
        let mut summary = std::mem::take(&mut self.summary);
        summary.source = self.source.stats();
        summary.rules = self
            .processor
            .registry
            .rules()
            .iter()
            .zip(&self.processor.states)
            .map(|(rule, state)| (rule.spec.name.clone(), state.stats))
            .collect();
        Ok(summary)
    }

    /// Processes a batch in two overlapping halves: on a helper thread the
    /// rules run over this batch, while this thread applies the previous
    /// batch's outcomes to the windows. Outcomes are applied in batch order,
    /// so results are those of processing batches one at a time; the
    /// pipeline just uses both cores.
    fn process(&mut self, batch: Batch, position: Vec<(String, Position)>) -> anyhow::Result<()> {
        let previous = self.pending.take();
        let (mut calls, states) = self.processor.parts();
        let applied = &mut self.applied_position;
        // Rule calls are synchronous CPU work, and WASI's sync bindings must
        // not run on an async worker: leave the async context.
        let outcomes = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let rules = scope.spawn(|| calls.run_parallel(&batch));
                if let Some(previous) = previous {
                    apply_outcomes(states, &previous.batch.records, previous.outcomes);
                    *applied = previous.position;
                }
                rules.join()
            })
        })
        .map_err(|_| anyhow::anyhow!("a rule call panicked in the host"))?;
        self.pending = Some(Pending {
            batch,
            position,
            outcomes,
        });
        Ok(())
    }

    /// Applies the pending batch, so the windows hold everything read.
    fn finish_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            let (_, states) = self.processor.parts();
            apply_outcomes(states, &pending.batch.records, pending.outcomes);
            self.applied_position = pending.position;
        }
    }

    /// Applies rule changes at a batch boundary: everything before is
    /// checkpointed first, so each record is processed by exactly one version.
    async fn apply_reloads(&mut self, events: Vec<ReloadEvent>) -> Result<(), StoreError> {
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
        let Some((rule, mut state, dead_letters)) = self.processor.remove_rule(index) else {
            return Ok(());
        };
        tracing::info!(rule = %rule.spec.name, "rule removed; flushing its open windows");
        state.close_all();
        let commit = rule_commit(&rule, &mut state, dead_letters, true, None, None);
        self.commit(&[commit]).await?;
        self.store.forget_rule(&rule.spec.name).await
    }

    /// Writes one checkpoint of every rule and the source position (after
    /// applying the pending batch, so the checkpoint covers every record
    /// read and the dead letters gathered with them).
    async fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.finish_pending();
        let dead_letters = self.processor.take_dead_letters();
        let processor = &mut self.processor;
        let quarantine: Vec<u64> = (0..processor.states.len())
            .map(|index| {
                processor
                    .quarantine_remaining(index)
                    .map_or(0, |left| left.as_millis() as u64)
            })
            .collect();
        let rules = processor.registry.rules();
        let commits: Vec<RuleCommit<'_>> = rules
            .iter()
            .zip(processor.states.iter_mut())
            .zip(dead_letters)
            .zip(quarantine)
            .map(|(((rule, state), dead), quarantined)| {
                let error = self.load_errors.get(&rule.path).map(String::as_str);
                rule_commit(
                    rule,
                    state,
                    dead,
                    !self.catalog_written,
                    error,
                    Some(quarantined),
                )
            })
            .collect();
        let positions = self.applied_position.clone();
        let result = commit_with_retry(&mut self.store, &positions, &commits, &self.stop).await;
        drop(commits);
        result?;
        self.catalog_written = true;
        self.summary.checkpoints += 1;
        Ok(())
    }

    async fn commit(&mut self, commits: &[RuleCommit<'_>]) -> Result<(), StoreError> {
        commit_with_retry(&mut self.store, &[], commits, &self.stop).await
    }
}

fn rule_commit<'a>(
    rule: &'a ActiveRule,
    state: &'a mut RuleState,
    dead_letters: Vec<DeadLetter>,
    write_catalog: bool,
    last_load_error: Option<&'a str>,
    quarantined_for_ms: Option<u64>,
) -> RuleCommit<'a> {
    let changes = state.drain_changes();
    RuleCommit {
        spec: &rule.spec,
        version_hash: &rule.version_hash,
        loaded_at_ms: rule.loaded_at_ms,
        quarantined_for_ms: quarantined_for_ms.unwrap_or(0),
        last_load_error,
        state,
        changes,
        dead_letters,
        write_catalog,
    }
}

/// Writes one checkpoint, retrying with backoff while Redis is unavailable
/// (the pipeline reads nothing meanwhile, so nothing is lost).
async fn commit_with_retry(
    store: &mut RedisStore,
    positions: &[(String, Position)],
    commits: &[RuleCommit<'_>],
    stop: &AtomicBool,
) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        let started = Instant::now();
        match store.commit(positions, commits).await {
            Ok(size) => {
                tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                return Ok(());
            }
            Err(error) => {
                attempts += 1;
                if stop.load(Ordering::Relaxed) && attempts >= 3 {
                    return Err(error);
                }
                tracing::warn!(%error, retry_in = ?backoff, "checkpoint failed; pausing input and retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
