//! The engine: running batches through every rule and into its windows.
//! CPU work only, no I/O, so the pipeline, benchmarks and tests drive it
//! directly.
//!
//! A rule that fails on a batch costs only the records it fails on: the
//! batch is bisected in fresh instances (see [`crate::plugin::isolation`]),
//! the records that fail alone become dead letters, and a rule that keeps
//! failing is quarantined for a while. Other rules never notice.

mod calls;
mod lanes;
mod rejects;
mod run_data;
mod share;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

pub use calls::RuleCalls;
pub use lanes::{LaneRules, Lanes};
pub use rejects::{FirstReject, RejectLog};

use crate::config::{EngineConfig, LimitsConfig};
use crate::contract::Batch;
use crate::model::{
    Alignment, DeadLetter, Route, RuleAlignments, RuleId, RuleOutcome, RuleStats, SourceLanes,
};
use crate::plugin::breaker::Breaker;
use crate::plugin::{ActiveRule, RuleRegistry};
use crate::state::RuleState;

/// Everything kept for one running rule, in one place: its instances,
/// breaker, the dead letters since the last checkpoint and its rejects.
pub struct RuleSlot {
    /// Stable for as long as the rule runs, across new versions.
    pub id: RuleId,
    /// The loaded version.
    pub rule: ActiveRule,
    breaker: Breaker,
    dead_letters: Vec<DeadLetter>,
    /// Why its records were rejected, for logs and the run's summary.
    pub rejects: RejectLog,
    /// Which records it is given (`[rules.<name>] topics`).
    route: Route,
}

impl RuleSlot {
    fn new(id: RuleId, rule: ActiveRule, limits: &LimitsConfig, route: Route) -> Self {
        Self {
            id,
            rule,
            breaker: Breaker::new(limits),
            dead_letters: Vec::new(),
            rejects: RejectLog::default(),
            route,
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.rule.spec.name
    }

    /// Whether the rule is quarantined now, and for how much longer.
    pub fn quarantine_remaining(&self) -> Option<Duration> {
        self.breaker.remaining(Instant::now())
    }
}

/// Every rule with its state.
pub struct Engine {
    rules: Vec<RuleSlot>,
    /// Window state per lane (input partition) and rule.
    pub lanes: Lanes,
    limits: LimitsConfig,
    next_id: u32,
    /// Routes by rule name, for rules loaded now or later; a rule not
    /// named here sees every record.
    routes: BTreeMap<String, Route>,
    /// Where each rule's windows start, decided when the rule is added or
    /// a new version replaces it (the lanes keep the result by rule id).
    alignments: RuleAlignments,
    /// The pipeline's sources, by the index batches are tagged with (see
    /// [`Engine::with_sources`]).
    origins: Vec<SourceLanes>,
    /// Threads calling the rules on one batch (`[engine] threads`).
    threads: usize,
    /// The threads that share the calls with the pipeline's own.
    helpers: share::Helpers,
}

impl Engine {
    /// Fresh state for every rule, its windows aligned as `alignments`
    /// says for it (one [`Alignment`] aligns every rule alike), also for
    /// rules added later; `partitioned`: keep a lane per input partition
    /// (see [`crate::model::partition_lane`]).
    pub fn new(
        registry: RuleRegistry,
        alignments: impl Into<RuleAlignments>,
        lateness_ms: i64,
        limits: &LimitsConfig,
        partitioned: bool,
    ) -> Self {
        let mut engine = Self {
            rules: Vec::new(),
            lanes: Lanes::new(lateness_ms, partitioned),
            limits: limits.clone(),
            next_id: 0,
            routes: BTreeMap::new(),
            alignments: alignments.into(),
            origins: Vec::new(),
            threads: EngineConfig::default_threads(),
            helpers: share::Helpers::new(EngineConfig::default_threads()),
        };
        engine.origins = vec![engine.lanes.origin(0).clone()];
        for rule in registry.into_rules() {
            engine.add_rule(rule);
        }
        engine
    }

    /// Calls the rules of one batch on `threads` threads, which share the
    /// batch's runs of records, each run on one of `threads` instances of
    /// the rule (see [`RuleCalls::run_parallel`]); at least 1.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self.helpers = share::Helpers::new(self.threads);
        self
    }

    /// Gives the rules named in `routes` only the records their route
    /// admits (`[rules.<name>] sources` and `topics`), now and whenever a rule of that
    /// name is loaded; the others see every record. Records a rule does not
    /// see are not its input: they are not counted for it at all.
    pub fn with_routes(mut self, routes: BTreeMap<String, Route>) -> Self {
        for slot in &mut self.rules {
            slot.route = routes.get(slot.name()).cloned().unwrap_or_default();
        }
        self.routes = routes;
        self
    }

    /// The pipeline's sources, in the order batches name them by index: how
    /// each names its lanes, and what `[rules.<name>] sources` routes by.
    /// Without this call there is one, `[source]`.
    pub fn with_sources(mut self, origins: Vec<SourceLanes>) -> Self {
        if !origins.is_empty() {
            self.lanes.set_origins(origins.clone());
            self.origins = origins;
        }
        self
    }

    /// Notes the records each rule rejected in `batch` (see [`RejectLog`]);
    /// `lines`: each record's line number, where the source knows it.
    pub fn note_rejects(&mut self, batch: &Batch, outcomes: &[RuleOutcome], lines: &[u64]) {
        for outcome in outcomes {
            let Some(output) = &outcome.output else {
                continue;
            };
            if output.rejects.is_empty() {
                continue;
            }
            let Some(slot) = self.rules.iter_mut().find(|slot| slot.id == outcome.rule) else {
                continue;
            };
            for reject in &output.rejects {
                let line = lines.get(reject.record as usize).copied();
                slot.rejects.note(&slot.rule.spec.name, batch, reject, line);
            }
        }
    }

    /// Takes the rules out (benchmarks reuse them across runs).
    pub fn into_registry(self) -> RuleRegistry {
        RuleRegistry::from_rules(self.rules.into_iter().map(|slot| slot.rule).collect())
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
            RuleCalls::new(&mut self.rules, &self.origins, self.threads, &self.helpers),
            &mut self.lanes,
        )
    }

    /// The rules and the lanes' state at once (a checkpoint reads the one
    /// while draining the other).
    pub fn slots_and_lanes(&mut self) -> (&[RuleSlot], &mut Lanes) {
        (&self.rules, &mut self.lanes)
    }

    /// The running rules, in the order they were added.
    pub fn rules(&self) -> &[RuleSlot] {
        &self.rules
    }

    /// Rule `id`.
    pub fn rule(&self, id: RuleId) -> Option<&RuleSlot> {
        self.rules.iter().find(|slot| slot.id == id)
    }

    /// The rule loaded from `path`.
    pub fn find_by_path(&self, path: &Path) -> Option<RuleId> {
        self.rules
            .iter()
            .find(|slot| slot.rule.path == path)
            .map(|slot| slot.id)
    }

    /// The rule named `name`.
    pub fn find_by_name(&self, name: &str) -> Option<RuleId> {
        self.rules
            .iter()
            .find(|slot| slot.rule.spec.name == name)
            .map(|slot| slot.id)
    }

    /// Where rule `id`'s windows start.
    pub fn alignment(&self, id: RuleId) -> Option<Alignment> {
        self.lanes.alignment(id)
    }

    /// Adds a rule with fresh state; returns its id.
    pub fn add_rule(&mut self, rule: ActiveRule) -> RuleId {
        let id = RuleId(self.next_id);
        self.next_id += 1;
        let align = self.alignments.of(&rule.spec);
        self.lanes.add_rule(id, rule.spec.clone(), align);
        let route = self
            .routes
            .get(&rule.spec.name)
            .cloned()
            .unwrap_or_default();
        self.rules
            .push(RuleSlot::new(id, rule, &self.limits, route));
        id
    }

    /// Swaps rule `id` for a new version of it (same name), keeping the
    /// state of unchanged metrics. Returns the metrics whose open windows
    /// the new version reset (changed, dropped, or moved by a new
    /// alignment: see [`RuleAlignments::of`]).
    pub fn replace_rule(&mut self, id: RuleId, rule: ActiveRule) -> Vec<String> {
        let Some(slot) = self.rules.iter_mut().find(|slot| slot.id == id) else {
            return Vec::new();
        };
        let align = self.alignments.of(&rule.spec);
        let reset = self.lanes.replace_rule(id, rule.spec.clone(), align);
        slot.breaker = Breaker::new(&self.limits);
        slot.route = self
            .routes
            .get(&rule.spec.name)
            .cloned()
            .unwrap_or_default();
        slot.rule = rule;
        reset
    }

    /// Takes rule `id` out, with each lane's state of it (to flush) and its
    /// dead letters.
    pub fn remove_rule(&mut self, id: RuleId) -> Option<RemovedRule> {
        let index = self.rules.iter().position(|slot| slot.id == id)?;
        let slot = self.rules.remove(index);
        Some(RemovedRule {
            states: self.lanes.remove_rule(id),
            rule: slot.rule,
            dead_letters: slot.dead_letters,
        })
    }

    /// Takes the dead letters gathered since the last call, per rule.
    pub fn take_dead_letters(&mut self) -> Vec<(RuleId, Vec<DeadLetter>)> {
        self.rules
            .iter_mut()
            .map(|slot| (slot.id, std::mem::take(&mut slot.dead_letters)))
            .collect()
    }

    /// Rule `id`'s counters over every lane.
    pub fn totals(&self, id: RuleId) -> RuleStats {
        self.lanes.rule_totals(id)
    }

    /// The input ended: close every window of every rule.
    pub fn close_all(&mut self) {
        self.lanes.close_all();
    }
}

/// A rule taken out of an [`Engine`].
pub struct RemovedRule {
    /// The rule.
    pub rule: ActiveRule,
    /// Its state in each lane.
    pub states: Vec<(String, RuleState)>,
    /// Records it failed on since the last checkpoint.
    pub dead_letters: Vec<DeadLetter>,
}

#[cfg(test)]
mod tests;
