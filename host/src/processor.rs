//! Running batches through every rule and into its windows: the pipeline's
//! CPU path, with no I/O, so benchmarks and tests can drive it directly.
//!
//! A rule that fails on a batch costs only the records it fails on: the
//! batch is bisected in fresh instances (see [`crate::plugin::isolation`]),
//! the records that fail alone become dead letters, and a rule that keeps
//! failing is quarantined for a while. Other rules never notice.

use std::time::Instant;

use crate::config::LimitsConfig;
use crate::contract::{Batch, BatchOutput, RecordMeta};
use crate::lanes::Lanes;
use crate::plugin::breaker::Breaker;
use crate::plugin::isolation::{Isolated, run_isolated};
use crate::plugin::{ActiveRule, RuleRegistry};
use crate::plugin::{CallError, RuleRunner};
use crate::window::Alignment;

/// Payload bytes kept in a dead letter.
pub const DEAD_LETTER_PAYLOAD_BYTES: usize = 4096;

/// A record a rule failed on, for the `weir:R:dead` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why the call failed.
    pub reason: String,
    /// Source name.
    pub source: String,
    /// Partition.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
    /// Hash naming the rule version.
    pub version: String,
    /// The payload, cut at [`DEAD_LETTER_PAYLOAD_BYTES`].
    pub payload: Vec<u8>,
}

/// Every rule with its state.
pub struct Processor {
    /// The rules.
    pub registry: RuleRegistry,
    /// Window state per lane (input partition), one per rule in registry order.
    pub lanes: Lanes,
    breakers: Vec<Breaker>,
    dead_letters: Vec<Vec<DeadLetter>>,
}

impl Processor {
    /// Fresh state for every rule; `partitioned`: keep a lane per input
    /// partition (see [`crate::lanes`]).
    pub fn new(
        registry: RuleRegistry,
        align: Alignment,
        lateness_ms: i64,
        limits: &LimitsConfig,
        partitioned: bool,
    ) -> Self {
        let rules = registry.rules();
        let specs = rules.iter().map(|rule| rule.spec.clone()).collect();
        Self {
            lanes: Lanes::new(specs, align, lateness_ms, partitioned),
            breakers: rules.iter().map(|_| Breaker::new(limits)).collect(),
            dead_letters: rules.iter().map(|_| Vec::new()).collect(),
            registry,
        }
    }

    /// Runs one batch through every rule and applies what each produced.
    pub fn process(&mut self, batch: &Batch) {
        let (mut calls, lanes) = self.parts();
        let outcomes = calls.run(batch);
        lanes.apply(batch, outcomes);
    }

    /// The two halves of processing, which may run at the same time on
    /// different batches: rule calls (this batch) and window updates (the
    /// previous batch's outcomes).
    pub fn parts(&mut self) -> (RuleCalls<'_>, &mut Lanes) {
        (
            RuleCalls {
                registry: &mut self.registry,
                breakers: &mut self.breakers,
                dead_letters: &mut self.dead_letters,
            },
            &mut self.lanes,
        )
    }

    /// Adds a rule with fresh state.
    pub fn add_rule(&mut self, rule: ActiveRule, limits: &LimitsConfig) {
        self.lanes.push_rule(rule.spec.clone());
        self.registry.push(rule);
        self.breakers.push(Breaker::new(limits));
        self.dead_letters.push(Vec::new());
    }

    /// Swaps the rule in slot `index` for a new version of it (same name),
    /// keeping the state of unchanged metrics.
    pub fn replace_rule(&mut self, index: usize, rule: ActiveRule, limits: &LimitsConfig) {
        if index >= self.registry.rules().len() {
            return;
        }
        self.lanes.replace_rule(index, rule.spec.clone());
        if let Some(breaker) = self.breakers.get_mut(index) {
            *breaker = Breaker::new(limits);
        }
        self.registry.replace(index, rule);
    }

    /// Takes rule `index` out, with each lane's state of it (to flush) and
    /// its dead letters.
    pub fn remove_rule(&mut self, index: usize) -> Option<RemovedRule> {
        let rule = self.registry.remove(index)?;
        self.breakers.remove(index);
        Some(RemovedRule {
            rule,
            states: self.lanes.remove_rule(index),
            dead_letters: self.dead_letters.remove(index),
        })
    }

    /// Takes the dead letters gathered since the last call, per rule.
    pub fn take_dead_letters(&mut self) -> Vec<Vec<DeadLetter>> {
        self.dead_letters.iter_mut().map(std::mem::take).collect()
    }

    /// Whether rule `index` is quarantined now, and for how much longer.
    pub fn quarantine_remaining(&self, index: usize) -> Option<std::time::Duration> {
        self.breakers.get(index)?.remaining(Instant::now())
    }

    /// The input ended: close every window of every rule.
    pub fn close_all(&mut self) {
        self.lanes.close_all();
    }
}

/// A rule taken out of a [`Processor`].
pub struct RemovedRule {
    /// The rule.
    pub rule: ActiveRule,
    /// Its state in each lane.
    pub states: Vec<(String, crate::state::RuleState)>,
    /// Records it failed on since the last checkpoint.
    pub dead_letters: Vec<DeadLetter>,
}

/// What one rule made of one batch.
#[derive(Debug, Default)]
pub struct RuleOutcome {
    /// The output to apply (`None`: the rule was skipped).
    pub output: Option<BatchOutput>,
    /// Failed calls.
    pub traps: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Records skipped by quarantine.
    pub quarantined: u64,
}

/// The rule-calling half of a [`Processor`].
pub struct RuleCalls<'a> {
    registry: &'a mut RuleRegistry,
    breakers: &'a mut [Breaker],
    dead_letters: &'a mut [Vec<DeadLetter>],
}

impl RuleCalls<'_> {
    /// Runs one batch through every rule on this thread, isolating records
    /// that make a rule fail; returns one outcome per rule, in rule order.
    pub fn run(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(batch, false)
    }

    /// Like [`RuleCalls::run`], but a large batch is split in two halves
    /// that run side by side on two instances of each rule. Outputs are
    /// joined in record order, so the outcome is the same.
    pub fn run_parallel(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(batch, true)
    }

    fn run_with(&mut self, batch: &Batch, parallel: bool) -> Vec<RuleOutcome> {
        let rules = self.registry.rules_mut().iter_mut();
        if batch.records.is_empty() {
            return rules.map(|_| RuleOutcome::default()).collect();
        }
        let now = Instant::now();
        let mut outcomes = Vec::new();
        for ((rule, breaker), dead) in rules
            .zip(self.breakers.iter_mut())
            .zip(self.dead_letters.iter_mut())
        {
            let name = rule.spec.name.as_str();
            let mut outcome = RuleOutcome::default();
            if breaker.is_open(now) {
                outcome.quarantined = batch.records.len() as u64;
                outcomes.push(outcome);
                continue;
            }
            let isolated = match call(&mut rule.runner, &mut rule.spare, batch, parallel) {
                Ok(isolated) => isolated,
                Err(error) => {
                    outcome.traps = 1;
                    outcome.quarantined = batch.records.len() as u64;
                    let length = breaker.record_traps(u32::MAX, now);
                    tracing::error!(rule = name, %error, quarantine = ?length, "cannot replace a failed instance; rule quarantined");
                    outcomes.push(outcome);
                    continue;
                }
            };
            outcome.traps = u64::from(isolated.traps);
            for (index, reason) in &isolated.trapped {
                let Some(meta) = batch.records.get(*index as usize) else {
                    continue;
                };
                let start = meta.payload.start as usize;
                let len = (meta.payload.len as usize).min(DEAD_LETTER_PAYLOAD_BYTES);
                tracing::warn!(rule = name, offset = meta.offset, reason = %first_line(reason), "record made the rule fail; dead-lettered");
                dead.push(DeadLetter {
                    reason: reason.clone(),
                    source: batch
                        .sources
                        .get(meta.source as usize)
                        .cloned()
                        .unwrap_or_default(),
                    partition: meta.partition,
                    offset: meta.offset,
                    version: rule.version_hash.clone(),
                    payload: batch
                        .data
                        .get(start..start + len)
                        .unwrap_or_default()
                        .to_vec(),
                });
            }
            outcome.dead_lettered = isolated.trapped.len() as u64;
            if !isolated.trapped.is_empty() {
                if let Some(length) = breaker.record_traps(isolated.trapped.len() as u32, now) {
                    tracing::error!(rule = name, quarantine = ?length, "rule keeps failing; quarantined, its records are skipped until then");
                }
            } else {
                breaker.record_success();
            }
            for reject in isolated.output.rejects.iter().take(3) {
                let offset = batch.records.get(reject.record as usize).map(|r| r.offset);
                tracing::debug!(rule = name, offset, reason = %reject.reason, "record rejected");
            }
            outcome.output = Some(isolated.output);
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// Smallest batch worth splitting across two instances.
const MIN_SPLIT_RECORDS: usize = 256;

/// Runs `batch` through `rule`, in two halves on two instances when asked
/// and worthwhile.
fn call(
    runner: &mut Box<dyn RuleRunner>,
    spare: &mut Option<Box<dyn RuleRunner>>,
    batch: &Batch,
    parallel: bool,
) -> Result<Isolated, CallError> {
    if !parallel || batch.records.len() < MIN_SPLIT_RECORDS {
        return run_isolated(runner.as_mut(), batch);
    }
    if spare.is_none() {
        *spare = runner.fork();
    }
    let Some(spare) = spare.as_mut() else {
        return run_isolated(runner.as_mut(), batch);
    };
    let half = batch.records.len() / 2;
    let part = |records: &[RecordMeta]| Batch {
        sources: batch.sources.clone(),
        data: batch.data.clone(),
        records: records.to_vec(),
    };
    let (first, second) = (part(&batch.records[..half]), part(&batch.records[half..]));
    let runner = runner.as_mut();
    let (first, second) = std::thread::scope(|scope| {
        let other = scope.spawn(|| run_isolated(spare.as_mut(), &second));
        (run_isolated(runner, &first), other.join())
    });
    let mut joined = first?;
    let second = second.map_err(|_| CallError {
        detail: "a rule call panicked in the host".to_owned(),
    })??;
    let shift = half as u32;
    joined.traps += second.traps;
    joined
        .output
        .updates
        .extend(second.output.updates.into_iter().map(|mut update| {
            update.record += shift;
            update
        }));
    joined
        .output
        .rejects
        .extend(second.output.rejects.into_iter().map(|mut reject| {
            reject.record += shift;
            reject
        }));
    joined.trapped.extend(
        second
            .trapped
            .into_iter()
            .map(|(index, reason)| (index + shift, reason)),
    );
    Ok(joined)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
