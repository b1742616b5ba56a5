//! Replaying a log file through one rule under event time, with the host's
//! real pipeline (file source, engine, windows, watermark, lateness,
//! aggregation, checkpoints) and the in-memory store instead of Redis: what
//! `weir test` prints, and what a Rust test can call on a native rule
//! (`ActiveRule::native::<MyRule>`) to keep golden replays next to the rule.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use weir::cli::replay::{ReplayOptions, replay_blocking};
//! use weir::plugin::ActiveRule;
//!
//! let rule = ActiveRule::native::<pvuv::PvUv>("{}")?;
//! let replay = replay_blocking(rule, "tests/golden/pvuv/input.log".as_ref(), &ReplayOptions::default())?;
//! assert!(replay.windows.contains_key("pv:60"));
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use super::golden::{self, Windows};
use crate::checkpoint::MemoryStore;
use crate::config::{LimitsConfig, SourceConfig, SourceKind};
use crate::engine::{Engine, FirstReject};
use crate::model::{Alignment, DeadLetter, RuleStats, SourceStats};
use crate::pipeline::{Pipeline, Settings};
use crate::plugin::{ActiveRule, RuleRegistry};
use crate::source::Source;

/// How a replay runs: the settings `weir run` takes from `[windows]`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Allowed lateness, as `[windows] allowed_lateness_secs`.
    pub lateness_secs: u64,
    /// Where day windows start, as `[windows] day_offset_secs`.
    pub day_offset_secs: i64,
}

impl Default for ReplayOptions {
    /// The pipeline's defaults: 10 s of lateness, UTC days.
    fn default() -> Self {
        Self {
            lateness_secs: 10,
            day_offset_secs: 0,
        }
    }
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The rule's name.
    pub rule: String,
    /// Its version, as its manifest says.
    pub version: String,
    /// Every window's final value (the input's end closes every window).
    pub windows: Windows,
    /// The rule's counters.
    pub stats: RuleStats,
    /// The file's counters (lines read, oversized lines skipped).
    pub source: SourceStats,
    /// The first rejected lines, with their line numbers.
    pub first_rejects: Vec<FirstReject>,
    /// The most common reject reason and its count.
    pub top_reject: Option<(String, u64)>,
    /// Lines that made the rule fail (trap, deadline, memory cap).
    pub dead_letters: Vec<DeadLetter>,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The day offset is outside a day.
    #[error("day offset {0} s is outside -86399..=86399")]
    DayOffset(i64),
    /// The input could not be read, or the pipeline failed.
    #[error(transparent)]
    Run(#[from] anyhow::Error),
}

/// Replays `input` through `rule` (see the module docs). Needs a
/// multi-threaded tokio runtime, as `weir run` does; [`replay_blocking`]
/// makes one.
pub async fn replay(
    rule: ActiveRule,
    input: &Path,
    options: &ReplayOptions,
) -> Result<Replay, ReplayError> {
    if options.day_offset_secs.abs() >= 86_400 {
        return Err(ReplayError::DayOffset(options.day_offset_secs));
    }
    std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
    let name = rule.spec.name.clone();
    let version = rule.spec.version.clone();
    let lateness_ms = i64::try_from(options.lateness_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let engine = Engine::new(
        RuleRegistry::from_rules(vec![rule]),
        Alignment::new(options.day_offset_secs),
        lateness_ms,
        &LimitsConfig::default(),
        false,
    );
    let source = SourceConfig {
        kind: SourceKind::File {
            path: input.to_owned(),
            follow: false,
            poll_interval_ms: SourceConfig::DEFAULT_POLL_INTERVAL_MS,
        },
        ..SourceConfig::default()
    };
    let settings = Settings {
        checkpoint_interval: Duration::from_secs(1),
        lateness_ms,
        idle_after: None,
    };
    let store = MemoryStore::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut pipeline =
        Pipeline::start_with(settings, engine, store.clone(), stop, |resume, claims| {
            Ok(Source::open(&source, resume, claims)?)
        })
        .await?;
    let summary = pipeline.run(None).await?;
    let totals = summary
        .rules
        .into_iter()
        .find(|rule| rule.name == name)
        .unwrap_or_default();
    let prefix = format!("weir:{name}:");
    let mut windows = Windows::new();
    for (key, fields) in store.outputs() {
        if key.starts_with(&prefix) {
            golden::add_hash(&mut windows, &key, &fields);
        }
    }
    Ok(Replay {
        dead_letters: store.dead_letters(&name),
        rule: name,
        version,
        windows,
        stats: totals.stats,
        source: summary.source,
        first_rejects: totals.first_rejects,
        top_reject: totals.top_reject,
    })
}

/// [`replay`] on a runtime of its own, for tests (`#[test]` functions).
pub fn replay_blocking(
    rule: ActiveRule,
    input: &Path,
    options: &ReplayOptions,
) -> Result<Replay, ReplayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(replay(rule, input, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native pvuv rule through the same replay equals the golden file
    /// the oracle wrote: what a rule's own `cargo test` can do.
    #[test]
    fn native_rule_replays_the_golden_case() {
        let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/pvuv");
        let rule = ActiveRule::native::<pvuv::PvUv>("{}").unwrap();
        let replay =
            replay_blocking(rule, &case.join("input.log"), &ReplayOptions::default()).unwrap();
        let expected =
            golden::parse(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
        assert_eq!(
            golden::diff(&expected, &replay.windows),
            Vec::<String>::new()
        );
        assert_eq!(replay.source.records, 500);
        assert_eq!(replay.stats.rejected, 35);
        assert!(
            replay
                .first_rejects
                .iter()
                .all(|reject| reject.line.is_some())
        );
    }

    #[test]
    fn refuses_a_day_offset_outside_a_day() {
        let rule = ActiveRule::native::<pvuv::PvUv>("{}").unwrap();
        let options = ReplayOptions {
            lateness_secs: 0,
            day_offset_secs: 86_400,
        };
        assert!(matches!(
            replay_blocking(rule, Path::new("/dev/null"), &options),
            Err(ReplayError::DayOffset(86_400))
        ));
    }
}
