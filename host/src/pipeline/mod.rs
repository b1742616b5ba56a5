//! A running pipeline: source → engine → checkpoints, with hot reload of
//! rules at batch boundaries.
//!
//! The loop has one method per event: a batch ([`Pipeline::on_batch`]), a
//! checkpoint tick ([`Pipeline::on_tick`]), partitions moving
//! ([`Pipeline::on_rebalance`], in [`ownership`]), rule files changing
//! ([`Pipeline::on_reload`], in [`reload`]) and the end of the input
//! ([`Pipeline::on_end`]). The engine does the CPU work, the
//! [`Checkpointer`] owns the store, the [`LaneTable`] the lanes held.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Context;

mod checkpoint;
mod checkpointer;
mod lane_table;
mod ownership;
mod reload;
#[cfg(test)]
mod tests;

pub use checkpointer::{Checkpointer, MAX_BACKOFF, Written};
pub use lane_table::{LaneTable, Owned, Parked};

use crate::checkpoint::CheckpointStore;
use crate::config::{Config, SourceConfig, SourceKind, SourcesConfig};
use crate::contract::Batch;
use crate::engine::Engine;
use crate::model::{
    Alignment, LaneClaims, Position, Route, RuleAlignments, RuleOutcome, RuleStats, SINGLE_LANE,
    SourceLanes, SourceStats,
};
use crate::plugin::reload::{ReloadEvent, Reloader};
use crate::plugin::{RuleLoader, RuleRegistry};
use crate::sink::{OutputSettings, RedisStore, RedisTarget};
use crate::source::{Source, SourceEvent, SourceSet, source_claims};

/// Longest a checkpoint may be written before a due one waits for it
/// (see `Pipeline::store_is_behind`).
const STORE_BEHIND_LIMIT: Duration = Duration::from_secs(30);

/// New exact distinct members that make a checkpoint due before its
/// interval: 512 KiB of them encoded (8 bytes each). See
/// `Pipeline::checkpoint_is_due`.
const CHECKPOINT_MEMBERS: usize = 1 << 16;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Per rule: its totals.
    pub rules: Vec<RuleTotals>,
    /// Source counters, over every source.
    pub source: SourceStats,
    /// Each source's counters, by name (`default` for `[source]`).
    pub sources: Vec<(String, SourceStats)>,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Rule versions swapped in, added or removed while running.
    pub reloads: u64,
}

/// One rule's totals at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct RuleTotals {
    /// Rule name.
    pub name: String,
    /// Counters over every lane.
    pub stats: RuleStats,
    /// The most common reason its records were rejected in this run, and
    /// how many it rejected.
    pub top_reject: Option<(String, u64)>,
    /// The first records it rejected, with their line numbers (`weir test`).
    pub first_rejects: Vec<crate::engine::FirstReject>,
}

/// How the loop runs, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often a checkpoint is written.
    pub checkpoint_interval: Duration,
    /// Allowed lateness of every rule's windows.
    pub lateness_ms: i64,
    /// Partitioned sources: a lane without records this long stops holding
    /// the watermark back.
    pub idle_after: Option<Duration>,
}

impl Settings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            checkpoint_interval: Duration::from_millis(config.checkpoint.interval_ms),
            lateness_ms: config.windows.allowed_lateness_ms(),
            // The shortest of the Kafka sources' (one, under `[source]`).
            idle_after: config
                .sources
                .iter()
                .filter_map(|(_, source)| match &source.kind {
                    SourceKind::Kafka(kafka) if kafka.idle_partition_ms > 0 => {
                        Some(Duration::from_millis(kafka.idle_partition_ms))
                    }
                    _ => None,
                })
                .min(),
        }
    }
}

/// Sets up the engine for the configured limits.
pub fn loader(config: &Config) -> anyhow::Result<RuleLoader> {
    RuleLoader::new(&config.limits).context("cannot set up the WebAssembly engine")
}

/// The plugins folder as one absolute path, so the files loaded at start
/// and the files the watcher reports compare equal however the folder was
/// written in the config (relative, absolute, through a symlink).
pub fn plugins_dir(config: &Config) -> PathBuf {
    std::fs::canonicalize(&config.plugins.dir).unwrap_or_else(|_| config.plugins.dir.clone())
}

/// Loads the configured rules, or lists every plugin problem.
pub fn load_rules(config: &Config) -> anyhow::Result<RuleRegistry> {
    Ok(RuleRegistry::load_dir(
        &loader(config)?,
        &plugins_dir(config),
        &config.rules,
    )?)
}

/// The rules given only some sources' or topics' records
/// (`[rules.<name>] sources` and `topics`).
pub fn routes(config: &Config) -> BTreeMap<String, Route> {
    config
        .rules
        .iter()
        .map(|(name, rule)| {
            let route = Route::new(rule.sources.clone(), rule.topics.clone());
            (name.clone(), route)
        })
        .filter(|(_, route)| !route.is_all())
        .collect()
}

/// Whether lanes are owned, checkpointed on their own and merged in
/// Redis: a Kafka source's partitions, and every lane of named sources
/// (two sources may feed one rule, so no lane holds a whole value).
pub fn is_partitioned(sources: &SourcesConfig) -> bool {
    match sources {
        SourcesConfig::Single(source) => Source::is_partitioned(source),
        SourcesConfig::Named(_) => true,
    }
}

/// How each source of `sources` names its lanes, in the order the
/// pipeline numbers them.
pub fn origins(sources: &SourcesConfig) -> Vec<SourceLanes> {
    sources
        .iter()
        .map(|(name, source)| {
            let partitioned = Source::is_partitioned(source);
            if sources.is_named() {
                SourceLanes::named(name, partitioned)
            } else {
                SourceLanes::unnamed(name, partitioned)
            }
        })
        .collect()
}

/// Where each rule's windows start: `[windows] day_offset_secs`, or the
/// rule's own `[rules.<name>] day_offset_secs`.
pub fn alignments(config: &Config) -> RuleAlignments {
    let by_rule = config
        .rules
        .iter()
        .filter_map(|(name, rule)| Some((name.clone(), Alignment::new(rule.day_offset_secs?))))
        .collect();
    RuleAlignments::new(Alignment::new(config.windows.day_offset_secs), by_rule)
}

/// The output settings of `config`.
pub fn output_settings(config: &Config) -> OutputSettings {
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
    let dir = plugins_dir(config);
    // Watch before the first load, so a file that lands while the rules
    // load is not missed (at worst it is loaded twice).
    let reloader = match Reloader::start(loader.clone(), &dir, config.rules.clone()) {
        Ok(reloader) => Some(reloader),
        Err(error) => {
            tracing::warn!(%error, "cannot watch the plugins folder; rules will not be reloaded");
            None
        }
    };
    let registry =
        tokio::task::block_in_place(|| RuleRegistry::load_dir(&loader, &dir, &config.rules))?;
    let partitioned = is_partitioned(&config.sources);
    let engine = Engine::new(
        registry,
        alignments(config),
        config.windows.allowed_lateness_ms(),
        &config.limits,
        partitioned,
    )
    .with_routes(routes(config))
    .with_sources(origins(&config.sources))
    .with_threads(config.engine.threads);
    let store = connect(config, partitioned, &stop).await?;
    let settings = Settings::from_config(config);
    let mut pipeline = match &config.sources {
        SourcesConfig::Single(source) => {
            Pipeline::start(settings, engine, store, source, stop).await?
        }
        SourcesConfig::Named(_) => {
            Pipeline::start_named(settings, engine, store, &config.sources, stop).await?
        }
    };
    pipeline.run(reloader.as_ref().map(|r| &r.events)).await
}

/// Connects the checkpoint store, waiting out an outage (Redis down at
/// start-up) but not settings that can never work: a wrong password, an
/// untrusted certificate or a TLS mismatch fails the run at once.
async fn connect(
    config: &Config,
    partitioned: bool,
    stop: &AtomicBool,
) -> anyhow::Result<RedisStore> {
    let target = RedisTarget::new(&config.redis)?;
    let mut backoff = Duration::from_millis(100);
    loop {
        match RedisStore::connect(
            &target,
            &config.checkpoint.namespace,
            output_settings(config),
            partitioned,
        )
        .await
        {
            Ok(store) => return Ok(store),
            Err(error) if error.is_permanent() => return Err(error.into()),
            Err(error) if !stop.load(Ordering::Relaxed) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot reach Redis; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => return Err(error).context("cannot reach Redis"),
        }
    }
}

/// The loop and what it owns.
pub struct Pipeline<S: CheckpointStore> {
    settings: Settings,
    engine: Engine,
    sources: SourceSet,
    checkpointer: Checkpointer<S>,
    lanes: LaneTable,
    stop: Arc<AtomicBool>,
    /// Rules whose definitions the store has not seen since they changed.
    catalog_written: bool,
    /// Per rule file: the last load error, until it loads.
    load_errors: HashMap<PathBuf, String>,
    /// Per rule name: the last reload and what it reset, for `weir status`.
    last_reloads: HashMap<String, String>,
    /// Per rule name: reloads and load errors in this process (`/metrics`).
    reload_counts: HashMap<String, checkpoint::ReloadCounts>,
    summary: RunSummary,
    /// A batch whose rule calls are done but whose outcomes are not yet in
    /// the windows (see [`Pipeline::on_batch`]).
    pending: Option<Pending>,
}

/// A batch between the two halves of processing.
struct Pending {
    /// Which source it was read from.
    origin: usize,
    batch: Batch,
    /// The source positions just past the batch.
    positions: Vec<(String, Position)>,
    outcomes: Vec<RuleOutcome>,
}

impl<S: CheckpointStore> Pipeline<S> {
    /// Restores what the store holds for an unpartitioned source and opens
    /// the configured source where it left off (a partitioned source
    /// restores each lane as its partition is assigned). A source that
    /// cannot resume (stdin) starts from an empty checkpoint instead.
    pub async fn start(
        settings: Settings,
        engine: Engine,
        mut store: S,
        source: &SourceConfig,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        if !Source::resumes(source) {
            ownership::discard_lane(&mut store, SINGLE_LANE).await?;
        }
        Self::start_with(settings, engine, store, stop, |resume, claims| {
            Ok(Source::open(source, resume, claims)?)
        })
        .await
    }

    /// Like [`Pipeline::start`], with the source opened by `open` from the
    /// resume position and the store's lane claims.
    pub async fn start_with(
        settings: Settings,
        mut engine: Engine,
        mut store: S,
        stop: Arc<AtomicBool>,
        open: impl FnOnce(Option<&Position>, Arc<dyn LaneClaims>) -> anyhow::Result<Source>,
    ) -> anyhow::Result<Self> {
        let partitioned = engine.lanes.is_partitioned();
        let mut lanes = LaneTable::new(partitioned);
        if !partitioned {
            ownership::restore_lane(
                &mut engine,
                &mut store,
                &mut lanes,
                settings.lateness_ms,
                SINGLE_LANE,
            )
            .await?;
        }
        let source = open(lanes.position(SINGLE_LANE), store.claims())?;
        let sources = SourceSet::new(vec![(engine.lanes.origin(0).clone(), source)]);
        Self::with_sources(settings, engine, store, lanes, sources, stop).await
    }

    /// Starts a pipeline over `[sources.<name>]` tables: each file or
    /// stdin source's one lane is claimed (fenced, like a partition) and
    /// restored before the file is opened where it left off; each Kafka
    /// source claims its partitions as they are assigned, under lane names
    /// prefixed with the source's name. A stdin source starts from an
    /// empty checkpoint. `engine` knows the sources ([`Engine::with_sources`],
    /// in the order of `sources`) and keeps partitioned lanes.
    pub async fn start_named(
        settings: Settings,
        mut engine: Engine,
        mut store: S,
        sources: &SourcesConfig,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let mut lanes = LaneTable::new(true);
        let mut members = Vec::new();
        for (index, (name, config)) in sources.iter().enumerate() {
            let origin = engine.lanes.origin(index).clone();
            let mut resume = None;
            if !Source::is_partitioned(config) {
                let lane = origin.whole();
                if !Source::resumes(config) {
                    ownership::discard_lane(&mut store, &lane).await?;
                }
                let claims = store.claims();
                let taken = tokio::task::block_in_place(|| claims.claim(&lane));
                let seq = ownership::restore_lane(
                    &mut engine,
                    &mut store,
                    &mut lanes,
                    settings.lateness_ms,
                    &lane,
                )
                .await?;
                lanes.own(&lane, taken.token, seq, Instant::now());
                resume = lanes.position(&lane).cloned();
                tracing::info!(
                    source = name,
                    lane,
                    token = taken.token,
                    "source's lane taken; state restored from its checkpoint"
                );
            }
            let claims = source_claims(store.claims(), origin.clone());
            let source = Source::open(config, resume.as_ref(), claims)
                .with_context(|| format!("source {name:?}"))?;
            members.push((origin, source));
        }
        Self::with_sources(
            settings,
            engine,
            store,
            lanes,
            SourceSet::new(members),
            stop,
        )
        .await
    }

    /// The pipeline over `sources`, whose lanes `lanes` holds so far.
    async fn with_sources(
        settings: Settings,
        engine: Engine,
        store: S,
        lanes: LaneTable,
        sources: SourceSet,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        for slot in engine.rules() {
            let rule = &slot.rule;
            tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule loaded");
        }
        Ok(Self {
            settings,
            engine,
            sources,
            checkpointer: Checkpointer::new(store, stop.clone()).await?,
            lanes,
            stop,
            catalog_written: false,
            load_errors: HashMap::new(),
            last_reloads: HashMap::new(),
            reload_counts: HashMap::new(),
            summary: RunSummary::default(),
            pending: None,
        })
    }

    /// Runs until the input ends or `stop` is set; `reloads`: rule changes
    /// to apply at batch boundaries.
    pub async fn run(
        &mut self,
        reloads: Option<&Receiver<ReloadEvent>>,
    ) -> anyhow::Result<RunSummary> {
        let mut last_checkpoint = Instant::now();
        let mut ended = false;
        while !self.stop.load(Ordering::Relaxed) {
            let events: Vec<ReloadEvent> =
                reloads.map(|r| r.try_iter().collect()).unwrap_or_default();
            if !events.is_empty() {
                self.on_reload(events).await?;
                last_checkpoint = Instant::now();
            }
            let step = match self.sources.next_event().await? {
                None => {
                    ended = true;
                    break;
                }
                Some(SourceEvent::Ended { origin }) => {
                    self.on_source_end(origin);
                    continue;
                }
                Some(SourceEvent::Step { origin, step }) => (origin, step),
            };
            let (origin, step) = step;
            let positions = self.sources.positions(origin);
            self.note_progress(&positions);
            self.on_batch(origin, step.batch, positions, &step.lines)?;
            if !step.rebalances.is_empty() {
                self.on_rebalance(step.rebalances).await?;
            }
            if self.checkpoint_is_due(last_checkpoint) && !self.store_is_behind() {
                self.on_tick().await?;
                last_checkpoint = Instant::now();
            }
        }
        self.on_end(ended).await
    }

    /// Processes a batch in two overlapping halves: helper threads start
    /// calling the rules on this batch while this thread applies the
    /// previous batch's outcomes to the windows, then joins them on the
    /// calls left ([`RuleCalls::run_beside`](crate::engine::RuleCalls::run_beside)).
    /// Outcomes are applied in batch order, so results are those of
    /// processing batches one at a time; the pipeline just uses more cores.
    /// With `[engine] threads = 1` both halves run in turn on this thread.
    fn on_batch(
        &mut self,
        origin: usize,
        mut batch: Batch,
        positions: Vec<(String, Position)>,
        lines: &[u64],
    ) -> anyhow::Result<()> {
        if self.lanes.is_partitioned() {
            self.keep_owned(origin, &mut batch);
        }
        let previous = self.pending.take();
        let (mut calls, lanes) = self.engine.parts();
        let apply_previous = || {
            previous.map(|previous| {
                lanes.apply_from(previous.origin, &previous.batch, previous.outcomes);
                previous.positions
            })
        };
        let (outcomes, applied) =
            tokio::task::block_in_place(|| calls.run_beside(origin, &batch, apply_previous));
        if let Some(applied) = applied {
            self.lanes.note_positions(applied);
        }
        self.engine.note_rejects(&batch, &outcomes, lines);
        self.pending = Some(Pending {
            origin,
            batch,
            positions,
            outcomes,
        });
        Ok(())
    }

    /// Tells `/metrics` and the progress reporter how far the source has
    /// read (atomic stores, once per batch).
    fn note_progress(&self, positions: &[(String, Position)]) {
        let file_offset = if self.sources.is_single_file() {
            positions.first().map(|(_, position)| position.offset)
        } else {
            None
        };
        crate::telemetry::live().source_read(&self.sources.stats(), file_offset);
    }

    /// Applies the pending batch, so the windows hold everything read.
    fn finish_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            let (_, lanes) = self.engine.parts();
            lanes.apply_from(pending.origin, &pending.batch, pending.outcomes);
            self.lanes.note_positions(pending.positions);
        }
    }

    /// One of several sources ended (the others go on): its lanes' windows
    /// close, as a single source's do at its end, so its results are
    /// final without waiting for the others.
    fn on_source_end(&mut self, origin: usize) {
        self.finish_pending();
        self.engine.lanes.close_origin(origin);
    }

    /// Whether it is time for a checkpoint: its interval has passed since
    /// the last one, or [`CHECKPOINT_MEMBERS`] new exact distinct members
    /// wait for one. Each waits as its 8 bytes, and every window it joined
    /// (a day and a minute) holds its own, until the checkpoint writes
    /// them: a replay, or a burst that fills a day with a million members
    /// within one interval, held 16 MB more than the day's table. So, as
    /// Kafka Streams flushes its record cache when it is full as well as
    /// on its commit interval, a checkpoint comes sooner when that much is
    /// waiting. In a live stream the interval comes first.
    fn checkpoint_is_due(&self, last_checkpoint: Instant) -> bool {
        last_checkpoint.elapsed() >= self.settings.checkpoint_interval
            || self.engine.lanes.pending_members() >= CHECKPOINT_MEMBERS
    }

    /// Whether a due checkpoint should wait: the store is still writing
    /// the last one, for less than [`STORE_BEHIND_LIMIT`]. Meanwhile
    /// batches go on into the windows and the next checkpoint takes them
    /// all, as soon as the store is done. Waiting instead would stop weir
    /// while the store works, and they would take turns: with Kafka at
    /// 160,000 lines/s, a checkpoint of a second's changes took Redis up
    /// to 2 s (one HINCRBY per client IP and minute), and the loop sat idle
    /// for that time. Past the limit the loop waits, so a store that has
    /// stalled pauses input instead of letting changes pile up.
    fn store_is_behind(&self) -> bool {
        self.checkpointer
            .writing_for()
            .is_some_and(|age| age < STORE_BEHIND_LIMIT)
    }

    /// Time for a periodic checkpoint, written while processing goes on.
    async fn on_tick(&mut self) -> anyhow::Result<()> {
        self.checkpoint_within(None, true).await?;
        Ok(())
    }

    /// The input ended (`ended`) or the pipeline was told to stop: the last
    /// checkpoint, and what the run did.
    async fn on_end(&mut self, ended: bool) -> anyhow::Result<RunSummary> {
        self.finish_pending();
        if ended {
            self.engine.close_all();
        }
        self.checkpoint().await?;
        let mut summary = std::mem::take(&mut self.summary);
        summary.source = self.sources.stats();
        summary.sources = self.sources.stats_by_source();
        summary.checkpoints = self.checkpointer.written;
        summary.rules = self
            .engine
            .rules()
            .iter()
            .map(|slot| RuleTotals {
                name: slot.name().to_owned(),
                stats: self.engine.totals(slot.id),
                top_reject: slot
                    .rejects
                    .most_common()
                    .map(|(reason, count)| (reason.to_owned(), count)),
                first_rejects: slot.rejects.first().to_vec(),
            })
            .collect();
        Ok(summary)
    }

    /// The store (tests read what was written).
    pub fn store(&self) -> &S {
        &self.checkpointer.store
    }
}
