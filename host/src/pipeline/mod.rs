//! A running pipeline: source → rules → windows → Redis, with checkpoints
//! and hot reload of rules at batch boundaries.
//!
//! This module runs the loop (read, run the rules, apply to the windows);
//! [`checkpoint`] writes checkpoints, [`ownership`] follows which
//! partitions this instance owns, [`reload`] swaps rules in.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

mod checkpoint;
mod ownership;
mod reload;

use checkpoint::InFlight;
use ownership::{LaneLayout, Owned, Parked};

use crate::config::{Config, SourceKind};
use crate::contract::Batch;
use crate::lanes::SINGLE_LANE;
use crate::plugin::reload::{ReloadEvent, Reloader};
use crate::plugin::{RuleLoader, RuleRegistry};
use crate::processor::{Processor, RuleOutcome};
use crate::sink::{OutputSettings, RedisStore};
use crate::source::{Position, Source};
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
/// exactly where the last checkpoint left off; a Kafka source restores each
/// partition's lane when the partition is assigned. While running, rule
/// files added to, changed in or removed from the plugins folder are swapped
/// in at a batch boundary.
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
    let partitioned = Source::is_partitioned(&config.source);
    let processor = Processor::new(registry, align, lateness_ms, &config.limits, partitioned);
    let store = connect(config, &stop).await?;
    let writer = connect(config, &stop).await?;
    let keys = store.keys().clone();
    let idle_after = match &config.source.kind {
        SourceKind::Kafka(kafka) if kafka.idle_partition_ms > 0 => {
            Some(Duration::from_millis(kafka.idle_partition_ms))
        }
        _ => None,
    };
    let mut pipeline = Pipeline {
        config,
        store,
        writer: Some(writer),
        in_flight: None,
        processor,
        source: None,
        stop,
        catalog_written: false,
        load_errors: HashMap::new(),
        summary: RunSummary::default(),
        pending: None,
        positions: BTreeMap::new(),
        owned: BTreeMap::new(),
        parked: BTreeMap::new(),
        last_seen: HashMap::new(),
        idle_after,
    };
    let resume = if partitioned {
        None
    } else {
        pipeline.restore_lane(SINGLE_LANE).await?;
        pipeline.positions.get(SINGLE_LANE).cloned()
    };
    pipeline.source = Some(Source::open(
        &config.source,
        resume.as_ref(),
        &config.redis.url,
        &keys,
    )?);
    for rule in pipeline.processor.registry.rules() {
        tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule loaded");
    }
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
    /// Restores, fences and rule bookkeeping.
    store: RedisStore,
    /// Its own connection for checkpoints (WATCH is per connection), lent
    /// to the write in flight.
    writer: Option<RedisStore>,
    /// A periodic checkpoint Redis is writing while the next batches are
    /// processed.
    in_flight: Option<InFlight>,
    processor: Processor,
    /// Opened once the starting position is known.
    source: Option<Source>,
    stop: Arc<AtomicBool>,
    catalog_written: bool,
    /// The last load error of each rule file, until it loads.
    load_errors: HashMap<PathBuf, String>,
    summary: RunSummary,
    /// A batch whose rule calls are done but whose outcomes are not yet in
    /// the windows (see [`Pipeline::run`]).
    pending: Option<Pending>,
    /// Per lane: where a restart resumes, just past the last batch in its
    /// windows.
    positions: BTreeMap<String, Position>,
    /// Partitioned sources: the lanes owned.
    owned: BTreeMap<String, Owned>,
    /// Lanes flushed on revoke and kept in memory in case they come back:
    /// token, state and position.
    parked: BTreeMap<String, Parked>,
    /// When each lane last had records (idle partitions).
    last_seen: HashMap<String, Instant>,
    /// A lane without records this long stops holding the watermark back.
    idle_after: Option<Duration>,
}

/// A batch between the two halves of processing.
struct Pending {
    batch: Batch,
    /// The source positions just past the batch.
    positions: Vec<(String, Position)>,
    outcomes: Vec<RuleOutcome>,
}

impl Pipeline<'_> {
    fn source(&mut self) -> &mut Source {
        self.source
            .as_mut()
            .unwrap_or_else(|| unreachable!("the source is opened before the pipeline runs"))
    }

    fn partitioned(&self) -> bool {
        self.processor.lanes.is_partitioned()
    }

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
            let Some(step) = self.source().next_step().await? else {
                ended = true;
                break;
            };
            let positions = self.source().positions();
            let mut batch = step.batch;
            if self.partitioned() {
                self.keep_owned(&mut batch);
            }
            self.process(batch, positions)?;
            if !step.rebalances.is_empty() {
                self.rebalance(step.rebalances).await?;
            }
            if last_checkpoint.elapsed() >= interval {
                self.checkpoint_within(None, true).await?;
                last_checkpoint = Instant::now();
            }
        }
        self.finish_pending();
        if ended {
            self.processor.close_all();
        }
        self.checkpoint().await?;
        let mut summary = std::mem::take(&mut self.summary);
        summary.source = self.source().stats();
        let rules = self.processor.registry.rules();
        summary.rules = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let mut total = crate::stats::RuleStats::default();
                for state in self.processor.lanes.rule_states(index) {
                    total.add(&state.stats);
                }
                (rule.spec.name.clone(), total)
            })
            .collect();
        Ok(summary)
    }

    /// Processes a batch in two overlapping halves: on a helper thread the
    /// rules run over this batch, while this thread applies the previous
    /// batch's outcomes to the windows. Outcomes are applied in batch order,
    /// so results are those of processing batches one at a time; the
    /// pipeline just uses both cores.
    fn process(&mut self, batch: Batch, positions: Vec<(String, Position)>) -> anyhow::Result<()> {
        let previous = self.pending.take();
        let (mut calls, lanes) = self.processor.parts();
        let outcomes = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let rules = scope.spawn(|| calls.run_parallel(&batch));
                let applied = previous.map(|previous| {
                    lanes.apply(&previous.batch, previous.outcomes);
                    previous.positions
                });
                (rules.join(), applied)
            })
        });
        let (outcomes, applied) = outcomes;
        if let Some(applied) = applied {
            self.note_positions(applied);
        }
        let outcomes = outcomes.map_err(|_| anyhow::anyhow!("a rule call panicked in the host"))?;
        self.pending = Some(Pending {
            batch,
            positions,
            outcomes,
        });
        Ok(())
    }

    /// Records where the lanes now resume (owned lanes only).
    fn note_positions(&mut self, positions: Vec<(String, Position)>) {
        let partitioned = self.partitioned();
        for (lane, position) in positions {
            if !partitioned || self.owned.contains_key(&lane) {
                self.positions.insert(lane, position);
            }
        }
    }

    /// Applies the pending batch, so the windows hold everything read.
    fn finish_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            let (_, lanes) = self.processor.parts();
            lanes.apply(&pending.batch, pending.outcomes);
            self.note_positions(pending.positions);
        }
    }
}
