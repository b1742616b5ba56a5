//! A running pipeline: source → rules → windows → Redis, with checkpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::plugin::{RuleLoader, RuleRegistry};
use crate::processor::Processor;
use crate::sink::{OutputSettings, RedisStore, RuleCommit, StoreError, restore};
use crate::source::Source;
use crate::stats::{RuleStats, SourceStats};
use crate::window::Alignment;

/// The only partition of file and stdin sources.
const PARTITION: u32 = 0;
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
}

/// Loads the configured rules, or lists every plugin problem.
pub fn load_rules(config: &Config) -> anyhow::Result<RuleRegistry> {
    let loader = RuleLoader::new(&config.limits).context("cannot set up the WebAssembly engine")?;
    Ok(RuleRegistry::load_dir(
        &loader,
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
/// exactly where the last checkpoint left off.
pub async fn run(config: &Config, stop: Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let registry = tokio::task::block_in_place(|| load_rules(config))?;
    let align = Alignment::new(config.windows.day_offset_secs);
    let lateness_ms = config.windows.allowed_lateness_ms();
    let mut processor = Processor::new(registry, align, lateness_ms, &config.limits);
    let mut store = connect(config, &stop).await?;

    let keys = store.keys().clone();
    let position = restore::position(store.connection(), &keys, PARTITION).await?;
    for (rule, state) in processor.registry.rules().iter().zip(&mut processor.states) {
        let groups =
            restore::rule_state(store.connection(), &keys, &rule.spec, lateness_ms, state).await?;
        if groups > 0 {
            tracing::info!(rule = %rule.spec.name, groups, "restored open windows from checkpoint");
        }
    }
    let mut source = Source::open(&config.source, position.as_ref())?;
    for rule in processor.registry.rules() {
        tracing::info!(rule = %rule.spec.name, version = %rule.spec.version, hash = %rule.version_hash, "rule loaded");
    }

    let interval = Duration::from_millis(config.checkpoint.interval_ms);
    let mut summary = RunSummary::default();
    let mut last_checkpoint = Instant::now();
    let mut catalog_written = false;
    let mut ended = false;
    while !stop.load(Ordering::Relaxed) {
        let Some(batch) = source.next_batch().await? else {
            ended = true;
            break;
        };
        // Rule calls are synchronous CPU work, and WASI's sync bindings must
        // not run on an async worker: leave the async context for them.
        tokio::task::block_in_place(|| processor.process(&batch));
        if last_checkpoint.elapsed() >= interval {
            checkpoint(
                &mut store,
                &mut processor,
                &source,
                &mut catalog_written,
                &stop,
            )
            .await?;
            summary.checkpoints += 1;
            last_checkpoint = Instant::now();
        }
    }
    if ended {
        processor.close_all();
    }
    checkpoint(
        &mut store,
        &mut processor,
        &source,
        &mut catalog_written,
        &stop,
    )
    .await?;
    summary.checkpoints += 1;
    summary.source = source.stats();
    summary.rules = processor
        .registry
        .rules()
        .iter()
        .zip(&processor.states)
        .map(|(rule, state)| (rule.spec.name.clone(), state.stats))
        .collect();
    Ok(summary)
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

/// Writes one checkpoint, retrying with backoff while Redis is unavailable
/// (the pipeline reads nothing meanwhile, so nothing is lost).
async fn checkpoint(
    store: &mut RedisStore,
    processor: &mut Processor,
    source: &Source,
    catalog_written: &mut bool,
    stop: &AtomicBool,
) -> Result<(), StoreError> {
    let changes: Vec<_> = processor
        .states
        .iter_mut()
        .map(|state| state.drain_changes())
        .collect();
    let dead_letters = processor.take_dead_letters();
    let commits: Vec<RuleCommit<'_>> = processor
        .registry
        .rules()
        .iter()
        .zip(&processor.states)
        .zip(changes.into_iter().zip(dead_letters))
        .enumerate()
        .map(
            |(index, ((rule, state), (changes, dead_letters)))| RuleCommit {
                spec: &rule.spec,
                version_hash: &rule.version_hash,
                loaded_at_ms: rule.loaded_at_ms,
                quarantined_for_ms: processor
                    .quarantine_remaining(index)
                    .map_or(0, |left| left.as_millis() as u64),
                state,
                changes,
                dead_letters,
                write_catalog: !*catalog_written,
            },
        )
        .collect();
    let position = source.position();
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        let started = Instant::now();
        match store
            .commit(position.as_ref().map(|p| (PARTITION, p)), &commits)
            .await
        {
            Ok(size) => {
                tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                *catalog_written = true;
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
