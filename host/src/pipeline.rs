//! A running pipeline: source → rules → windows → Redis, with checkpoints
//! and hot reload of rules at batch boundaries.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{Config, SourceKind};
use crate::contract::Batch;
use crate::lanes::SINGLE_LANE;
use crate::plugin::reload::{ReloadEvent, Reloader};
use crate::plugin::{ActiveRule, RuleLoader, RuleRegistry};
use crate::processor::{DeadLetter, Processor, RuleOutcome};
use crate::sink::{
    CheckpointKeys, CommitSize, Fence, LaneCommit, OutputSettings, PreparedCommit, RedisStore,
    RuleCommit, StoreError, restore,
};
use crate::source::kafka::Assignment;
use crate::source::{Position, Rebalance, Source};
use crate::state::RuleState;
use crate::stats::{RuleStats, SourceStats};
use crate::window::Alignment;

/// Longest wait between attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long flushing revoked partitions may take: well under librdkafka's
/// default session timeout (45 s), so the group never waits on us. A flush
/// that does not make it is dropped; the next owner replays from the last
/// checkpoint, which stays exact.
const REVOKE_FLUSH_BOUND: Duration = Duration::from_secs(5);

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
        fences: BTreeMap::new(),
        seqs: BTreeMap::new(),
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
    /// Partitioned sources: the lanes owned, with their ownership tokens.
    fences: BTreeMap<String, u64>,
    /// Partitioned sources: each owned lane's last checkpoint sequence
    /// number (see [`crate::sink::merge`]).
    seqs: BTreeMap<String, u64>,
    /// Lanes flushed on revoke and kept in memory in case they come back:
    /// token, state and position.
    parked: BTreeMap<String, Parked>,
    /// When each lane last had records (idle partitions).
    last_seen: HashMap<String, Instant>,
    /// A lane without records this long stops holding the watermark back.
    idle_after: Option<Duration>,
}

/// A checkpoint being written in the background.
struct InFlight {
    task: tokio::task::JoinHandle<(RedisStore, Result<CommitSize, StoreError>)>,
    prepared: Arc<PreparedCommit>,
    /// The offsets it records, to commit to Kafka once it is written.
    written: Vec<(String, u64)>,
}

/// A lane flushed on revoke.
struct Parked {
    token: u64,
    seq: u64,
    states: Vec<RuleState>,
    position: Option<Position>,
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

    /// Drops the records of partitions this instance does not own (any
    /// still arriving after it was fenced out), and notes which lanes had
    /// records.
    fn keep_owned(&mut self, batch: &mut Batch) {
        let now = Instant::now();
        let mut owned: Vec<(u32, u32, bool)> = Vec::new();
        let lanes = &self.processor.lanes;
        let fences = &self.fences;
        let last_seen = &mut self.last_seen;
        batch.records.retain(|record| {
            let key = (record.source, record.partition);
            if let Some(&(_, _, own)) = owned.iter().find(|(s, p, _)| (*s, *p) == key) {
                return own;
            }
            let lane = lanes.lane_of(&batch.sources, record);
            let own = fences.contains_key(&lane);
            if own {
                last_seen.insert(lane, now);
            } else {
                tracing::debug!(%lane, "records of a partition this instance does not own; skipped");
            }
            owned.push((key.0, key.1, own));
            own
        });
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
            if !partitioned || self.fences.contains_key(&lane) {
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

    /// Reads a lane's state and position from its checkpoint.
    async fn restore_lane(&mut self, lane: &str) -> Result<(), StoreError> {
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
        if self.partitioned() {
            let seq = restore::commit_seq(self.store.connection(), &keys).await?;
            self.seqs.insert(lane.to_owned(), seq);
        }
        match restore::position(self.store.connection(), &keys, lane).await? {
            Some(position) => {
                self.positions.insert(lane.to_owned(), position);
            }
            None => {
                self.positions.remove(lane);
            }
        }
        Ok(())
    }

    /// The checkpoint keys of a lane.
    fn lane_keys(&self, lane: &str) -> CheckpointKeys {
        self.layout().keys(lane)
    }

    /// Where lanes are checkpointed and under which tokens.
    fn layout(&self) -> LaneLayout<'_> {
        LaneLayout {
            base: self.store.keys(),
            positions: &self.positions,
            fences: &self.fences,
            seqs: &self.seqs,
            partitioned: self.partitioned(),
        }
    }

    /// Follows changes of the partitions owned: revoked ones are flushed
    /// (within [`REVOKE_FLUSH_BOUND`]) and parked, lost ones dropped
    /// unwritten, assigned ones restored from their checkpoint (or taken
    /// back from the parked ones if nobody owned them in between).
    async fn rebalance(&mut self, events: Vec<Rebalance>) -> Result<(), StoreError> {
        self.settle(None).await?;
        for event in events {
            match event {
                Rebalance::Revoked(lanes) => {
                    let flushed = self
                        .checkpoint_within(Some(REVOKE_FLUSH_BOUND), false)
                        .await?;
                    for lane in lanes {
                        let Some(token) = self.fences.remove(&lane) else {
                            continue;
                        };
                        let seq = self.seqs.remove(&lane).unwrap_or(0);
                        let states = self.processor.lanes.remove(&lane);
                        let position = self.positions.remove(&lane);
                        if let (true, Some(states)) = (flushed, states) {
                            if let Some(kafka) = self.source().kafka() {
                                kafka.park(&lane, token);
                            }
                            self.parked.insert(
                                lane,
                                Parked {
                                    token,
                                    seq,
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
        match parked.get(lane) {
            Some(held) if kept && held.token == token => {
                self.processor
                    .lanes
                    .insert(lane.to_owned(), held.states.clone());
                if let Some(position) = &held.position {
                    self.positions.insert(lane.to_owned(), position.clone());
                }
                self.seqs.insert(lane.to_owned(), held.seq);
                tracing::info!(lane, token, "partition back; its state was kept in memory");
            }
            _ => {
                self.restore_lane(lane).await?;
                tracing::info!(
                    lane,
                    token,
                    "partition taken; state restored from its checkpoint"
                );
            }
        }
        self.fences.insert(lane.to_owned(), token);
        self.last_seen.insert(lane.to_owned(), Instant::now());
        Ok(())
    }

    /// Forgets a lane without writing it.
    fn drop_lane(&mut self, lane: &str) {
        self.fences.remove(lane);
        self.seqs.remove(lane);
        self.processor.lanes.remove(lane);
        self.positions.remove(lane);
        self.last_seen.remove(lane);
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

    /// Writes one checkpoint, retrying until it is written.
    async fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.checkpoint_within(None, false).await.map(|_| ())
    }

    /// Waits for the checkpoint in flight, if any, and settles it: a failed
    /// write is retried (input waits meanwhile), a fenced one rewinds the
    /// lanes. Returns false if `deadline` passed first.
    async fn settle(&mut self, deadline: Option<Instant>) -> Result<bool, StoreError> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(true);
        };
        let (writer, first) = in_flight
            .task
            .await
            .map_err(|error| StoreError::Corrupt(format!("checkpoint task failed: {error}")))?;
        self.writer = Some(writer);
        let result = match first {
            Ok(size) => {
                tracing::debug!(?size, "checkpoint written");
                Ok(true)
            }
            Err(error @ StoreError::Fenced(_)) => Err(error),
            Err(error) => {
                tracing::warn!(%error, "checkpoint failed; input paused, retrying");
                self.write(&in_flight.prepared, deadline).await
            }
        };
        let done = self
            .after_write(result, &in_flight.prepared, &in_flight.written)
            .await?;
        Ok(done.unwrap_or(true))
    }

    /// Writes a checkpoint on the writer connection, retrying while Redis
    /// is unavailable (see [`commit_with_retry`]).
    async fn write(
        &mut self,
        prepared: &PreparedCommit,
        deadline: Option<Instant>,
    ) -> Result<bool, StoreError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(StoreError::Corrupt("no checkpoint connection".to_owned()));
        };
        let mut kafka = self.source.as_mut().and_then(Source::kafka);
        let result =
            commit_with_retry(writer, prepared, &self.stop, deadline, kafka.as_deref_mut()).await;
        if let Some(kafka) = kafka {
            kafka.resume();
        }
        result
    }

    /// Follows up a checkpoint write: `Some(written)`, or `None` if it was
    /// refused because partitions were taken over (they are dropped, the
    /// other lanes rewound to their checkpoints).
    async fn after_write(
        &mut self,
        result: Result<bool, StoreError>,
        prepared: &PreparedCommit,
        written: &[(String, u64)],
    ) -> Result<Option<bool>, StoreError> {
        match result {
            Ok(true) => {
                self.note_committed(prepared);
                if let Some(kafka) = self.source.as_mut().and_then(Source::kafka) {
                    kafka.commit_offsets(written);
                }
                self.catalog_written = true;
                self.summary.checkpoints += 1;
                Ok(Some(true))
            }
            Ok(false) => Ok(Some(false)),
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
    /// With `overlap`, the checkpoint is handed to Redis and processing
    /// goes on while Redis writes it (the changes are already drained into
    /// it); the next checkpoint, or anything that needs it written, waits
    /// for it first. So Redis works on one checkpoint while weir works on
    /// the next, instead of taking turns.
    async fn checkpoint_within(
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
        let mut dead_letters = Some(self.processor.take_dead_letters());
        loop {
            let processor = &mut self.processor;
            let quarantine: Vec<u64> = (0..processor.registry.rules().len())
                .map(|index| {
                    processor
                        .quarantine_remaining(index)
                        .map_or(0, |left| left.as_millis() as u64)
                })
                .collect();
            let layout = LaneLayout {
                base: self.store.keys(),
                positions: &self.positions,
                fences: &self.fences,
                seqs: &self.seqs,
                partitioned: processor.lanes.is_partitioned(),
            };
            let rules = processor.registry.rules();
            let mut lane_names = Vec::new();
            let mut commits = Vec::new();
            for (lane, states) in processor.lanes.iter_mut() {
                let mut dead = dead_letters.take().unwrap_or_default().into_iter();
                let rule_commits: Vec<RuleCommit<'_>> = rules
                    .iter()
                    .zip(states.iter_mut())
                    .zip(&quarantine)
                    .map(|((rule, state), quarantined)| {
                        let error = self.load_errors.get(&rule.path).map(String::as_str);
                        rule_commit(
                            rule,
                            state,
                            dead.next().unwrap_or_default(),
                            !self.catalog_written,
                            error,
                            Some(*quarantined),
                        )
                    })
                    .collect();
                commits.push(layout.commit(lane, rule_commits, true));
                lane_names.push(lane.to_owned());
            }
            if commits.is_empty() {
                return Ok(true);
            }
            let prepared = self.store.prepare(&commits, layout.fences(&lane_names));
            let written: Vec<(String, u64)> = commits
                .iter()
                .flat_map(|c| c.positions.iter().map(|(l, p)| (l.clone(), p.offset)))
                .collect();
            drop(commits);
            if overlap && let Some(mut writer) = self.writer.take() {
                let prepared = Arc::new(prepared);
                let sent = prepared.clone();
                let task = tokio::spawn(async move {
                    let result = writer.send(&sent).await;
                    (writer, result)
                });
                self.in_flight = Some(InFlight {
                    task,
                    prepared,
                    written,
                });
                return Ok(true);
            }
            let result = self.write(&prepared, deadline).await;
            if let Some(done) = self.after_write(result, &prepared, &written).await? {
                return Ok(done);
            }
        }
    }

    /// Notes the lanes' new checkpoint sequence numbers after a write.
    fn note_committed(&mut self, prepared: &PreparedCommit) {
        for fence in prepared.fences() {
            self.seqs.insert(fence.lane.clone(), fence.seq + 1);
        }
    }

    /// After a checkpoint that was refused (fenced), the changes it
    /// drained from the lanes still owned are not in Redis: reload those
    /// lanes from their checkpoint and read their partitions again from
    /// the checkpointed offsets. A batch read but not yet in the windows
    /// is dropped too: its records are read again.
    async fn rewind_lanes(&mut self) -> Result<(), StoreError> {
        if self.pending.take().is_some() {
            tracing::debug!("pending batch dropped; it is read again from the checkpoint");
        }
        let lanes: Vec<String> = self.fences.keys().cloned().collect();
        for lane in lanes {
            self.restore_lane(&lane).await?;
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
    fn release_idle_lanes(&mut self) {
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
struct LaneLayout<'p> {
    base: &'p CheckpointKeys,
    positions: &'p BTreeMap<String, Position>,
    fences: &'p BTreeMap<String, u64>,
    seqs: &'p BTreeMap<String, u64>,
    partitioned: bool,
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
    fn commit<'a>(
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
    fn fences(&self, lanes: &[String]) -> Vec<Fence> {
        lanes
            .iter()
            .filter_map(|lane| {
                Some(Fence {
                    lane: lane.clone(),
                    token: *self.fences.get(lane)?,
                    seq: self.seqs.get(lane).copied().unwrap_or(0),
                })
            })
            .collect()
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

/// Writes one checkpoint, retrying with backoff while Redis is unavailable.
/// The pipeline reads nothing meanwhile (a Kafka consumer is not polled;
/// librdkafka heartbeats on its own), so memory stays bounded and nothing
/// is lost.
/// Returns `Ok(false)` if `deadline` passed first.
async fn commit_with_retry(
    store: &mut RedisStore,
    prepared: &PreparedCommit,
    stop: &AtomicBool,
    deadline: Option<Instant>,
    mut kafka: Option<&mut crate::source::KafkaSource>,
) -> Result<bool, StoreError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0;
    let first_failure = Instant::now();
    loop {
        let started = Instant::now();
        match store.send(prepared).await {
            Ok(size) => {
                if attempts > 0 {
                    tracing::warn!(attempts, down_for = ?first_failure.elapsed(), "Redis is back; checkpoint written, input resumes");
                }
                tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                return Ok(true);
            }
            Err(error @ StoreError::Fenced(_)) => return Err(error),
            Err(error) => {
                attempts += 1;
                if stop.load(Ordering::Relaxed) && attempts >= 3 {
                    return Err(error);
                }
                if deadline.is_some_and(|deadline| Instant::now() + backoff > deadline) {
                    tracing::warn!(%error, "checkpoint failed and time is up");
                    return Ok(false);
                }
                tracing::warn!(%error, attempts, retry_in = ?backoff, "checkpoint failed; input paused, retrying");
                if attempts == 1
                    && let Some(kafka) = kafka.as_deref_mut()
                {
                    kafka.pause();
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Err(error) = store.reconnect().await {
                    tracing::debug!(%error, "Redis still unavailable");
                }
            }
        }
    }
}
