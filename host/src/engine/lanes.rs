//! Window state split by input partition ("lanes", see [`crate::model`]):
//! each lane keeps its own windows, watermark and counters per rule, and is
//! checkpointed on its own.

use std::collections::BTreeMap;

use crate::contract::{Batch, RecordMeta};
use crate::model::{Alignment, RuleId, RuleOutcome, RuleSpec, RuleStats, SourceLanes};
use crate::state::RuleState;

/// One lane's state of every rule, by rule id.
#[derive(Debug, Clone, Default)]
pub struct LaneRules {
    states: Vec<(RuleId, RuleState)>,
}

impl LaneRules {
    /// The state of rule `id`.
    pub fn get(&self, id: RuleId) -> Option<&RuleState> {
        self.states.iter().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    /// The state of rule `id`, mutably.
    pub fn get_mut(&mut self, id: RuleId) -> Option<&mut RuleState> {
        self.states
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s)
    }

    /// Every rule's state, in the order rules were added.
    pub fn iter(&self) -> impl Iterator<Item = (RuleId, &RuleState)> {
        self.states.iter().map(|(id, state)| (*id, state))
    }

    /// Every rule's state, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (RuleId, &mut RuleState)> {
        self.states.iter_mut().map(|(id, state)| (*id, state))
    }

    /// Puts rule `id`'s state in place (replacing any).
    pub fn insert(&mut self, id: RuleId, state: RuleState) {
        match self.get_mut(id) {
            Some(slot) => *slot = state,
            None => self.states.push((id, state)),
        }
    }

    /// Takes rule `id`'s state out.
    pub fn remove(&mut self, id: RuleId) -> Option<RuleState> {
        let index = self.states.iter().position(|(i, _)| *i == id)?;
        Some(self.states.remove(index).1)
    }
}

/// What a lane needs to know of a rule to give it empty state: its
/// manifest and where its windows start.
#[derive(Debug, Clone)]
struct LaneRule {
    id: RuleId,
    spec: RuleSpec,
    align: Alignment,
}

impl LaneRule {
    fn empty_state(&self, lateness_ms: i64) -> RuleState {
        RuleState::new(&self.spec, self.align, lateness_ms)
    }
}

/// Every lane's state: one [`RuleState`] per rule.
#[derive(Debug, Clone)]
pub struct Lanes {
    by_name: BTreeMap<String, LaneRules>,
    /// Whether lanes are owned, checkpointed on their own and merged
    /// (Kafka, or several named sources); otherwise every record is in
    /// [`crate::model::SINGLE_LANE`].
    partitioned: bool,
    /// The pipeline's sources, by the index batches are tagged with: how
    /// each names its lanes.
    origins: Vec<SourceLanes>,
    /// The rules, by id, for a new lane's empty state.
    rules: Vec<LaneRule>,
    lateness_ms: i64,
}

impl Lanes {
    /// No lanes and no rules yet (see [`Lanes::add_rule`]).
    pub fn new(lateness_ms: i64, partitioned: bool) -> Self {
        Self {
            by_name: BTreeMap::new(),
            partitioned,
            origins: vec![SourceLanes::unnamed(
                crate::config::DEFAULT_SOURCE,
                partitioned,
            )],
            rules: Vec::new(),
            lateness_ms,
        }
    }

    /// The pipeline's sources, in the order batches name them by index
    /// (see [`Lanes::apply_from`]); none keeps the one `[source]`.
    pub fn set_origins(&mut self, origins: Vec<SourceLanes>) {
        if !origins.is_empty() {
            self.origins = origins;
        }
    }

    /// Source `origin` (the first one for an index out of range).
    pub fn origin(&self, origin: usize) -> &SourceLanes {
        self.origins.get(origin).unwrap_or(&self.origins[0])
    }

    /// Whether records are split by partition.
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// The lane a record read from source `origin` is in.
    pub fn lane_of(&self, origin: usize, sources: &[String], record: &RecordMeta) -> String {
        let origin = self.origin(origin);
        if !self.partitioned {
            return origin.whole();
        }
        let source = sources
            .get(record.source as usize)
            .map_or("", String::as_str);
        origin.lane(source, record.partition)
    }

    /// Empty state for every rule.
    pub fn empty_states(&self) -> LaneRules {
        LaneRules {
            states: self
                .rules
                .iter()
                .map(|rule| (rule.id, rule.empty_state(self.lateness_ms)))
                .collect(),
        }
    }

    /// Where rule `id`'s windows start.
    pub fn alignment(&self, id: RuleId) -> Option<Alignment> {
        self.rules
            .iter()
            .find(|rule| rule.id == id)
            .map(|rule| rule.align)
    }

    /// A lane's states, created empty if it is new.
    pub fn get_or_insert(&mut self, lane: &str) -> &mut LaneRules {
        if !self.by_name.contains_key(lane) {
            let states = self.empty_states();
            self.by_name.insert(lane.to_owned(), states);
        }
        self.by_name
            .get_mut(lane)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// Puts a lane's (restored) states in place.
    pub fn insert(&mut self, lane: String, states: LaneRules) {
        self.by_name.insert(lane, states);
    }

    /// Takes a lane out.
    pub fn remove(&mut self, lane: &str) -> Option<LaneRules> {
        self.by_name.remove(lane)
    }

    /// Whether a lane is held.
    pub fn contains(&self, lane: &str) -> bool {
        self.by_name.contains_key(lane)
    }

    /// The lanes and their states.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LaneRules)> {
        self.by_name
            .iter()
            .map(|(name, states)| (name.as_str(), states))
    }

    /// The lanes and their states, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut LaneRules)> {
        self.by_name
            .iter_mut()
            .map(|(name, states)| (name.as_str(), states))
    }

    /// Every lane's state of rule `id`.
    pub fn rule_states(&self, id: RuleId) -> impl Iterator<Item = &RuleState> {
        self.by_name
            .values()
            .filter_map(move |states| states.get(id))
    }

    /// Members new to an exact distinct group, over every lane and rule,
    /// that the next checkpoint will write.
    pub fn pending_members(&self) -> usize {
        self.by_name
            .values()
            .flat_map(LaneRules::iter)
            .map(|(_, state)| state.pending_members())
            .sum()
    }

    /// Rule `id`'s counters, added up over every lane.
    pub fn rule_totals(&self, id: RuleId) -> RuleStats {
        let mut total = RuleStats::default();
        for state in self.rule_states(id) {
            total.add(&state.stats);
        }
        total
    }

    /// A rule was added, its windows aligned by `align`: every lane gets
    /// empty state for it, and so does every lane made later.
    pub fn add_rule(&mut self, id: RuleId, spec: RuleSpec, align: Alignment) {
        let rule = LaneRule { id, spec, align };
        for states in self.by_name.values_mut() {
            states.insert(id, rule.empty_state(self.lateness_ms));
        }
        self.rules.push(rule);
    }

    /// Rule `id` has a new version, aligned by `align`: every lane keeps
    /// the windows of its unchanged metrics. Returns what the new version
    /// reset (see [`RuleState::migrate`]), once for all lanes.
    pub fn replace_rule(&mut self, id: RuleId, spec: RuleSpec, align: Alignment) -> Vec<String> {
        let rule = LaneRule { id, spec, align };
        let mut reset = Vec::new();
        for states in self.by_name.values_mut() {
            let migrated = match states.remove(id) {
                Some(old) => {
                    let (state, dropped) = old.migrate(&rule.spec, align);
                    reset.extend(dropped);
                    state
                }
                None => rule.empty_state(self.lateness_ms),
            };
            states.insert(id, migrated);
        }
        match self.rules.iter_mut().find(|slot| slot.id == id) {
            Some(slot) => *slot = rule,
            None => self.rules.push(rule),
        }
        // A metric is named once, whichever lanes held its open windows.
        reset.sort();
        reset.dedup();
        reset
    }

    /// Rule `id` was removed: returns each lane's state of it.
    pub fn remove_rule(&mut self, id: RuleId) -> Vec<(String, RuleState)> {
        self.rules.retain(|rule| rule.id != id);
        self.by_name
            .iter_mut()
            .filter_map(|(name, states)| Some((name.clone(), states.remove(id)?)))
            .collect()
    }

    /// Source `origin` ended (its input is finite) while others go on:
    /// every window of its lanes closes.
    pub fn close_origin(&mut self, origin: usize) {
        let origin = self.origin(origin).clone();
        for (lane, states) in self.by_name.iter_mut() {
            if origin.local(lane).is_some() {
                for (_, state) in states.iter_mut() {
                    state.close_all();
                }
            }
        }
    }

    /// The input ended: every window of every lane closes.
    pub fn close_all(&mut self) {
        for states in self.by_name.values_mut() {
            for (_, state) in states.iter_mut() {
                state.close_all();
            }
        }
    }

    /// Applies one batch's outcomes (one per rule, in rule order) to the
    /// windows of the lanes its records are in (a batch of the first
    /// source; see [`Lanes::apply_from`]).
    pub fn apply(&mut self, batch: &Batch, outcomes: Vec<RuleOutcome>) {
        self.apply_from(0, batch, outcomes);
    }

    /// Like [`Lanes::apply`], for a batch read from source `origin`.
    pub fn apply_from(&mut self, origin: usize, batch: &Batch, outcomes: Vec<RuleOutcome>) {
        // An empty batch ran no rule: nothing to count.
        let Some(first) = batch.records.first() else {
            return;
        };
        // Checked once for every rule and lane: see `Texts::with_batch_text`.
        let batch_text = std::str::from_utf8(&batch.data).ok();
        let first_lane = self.lane_of(origin, &batch.sources, first);
        let single = !self.partitioned
            || batch
                .records
                .iter()
                .all(|r| r.source == first.source && r.partition == first.partition);
        if single {
            let states = self.get_or_insert(&first_lane);
            for outcome in outcomes {
                let Some(state) = states.get_mut(outcome.rule) else {
                    tracing::error!(rule = %outcome.rule, "an outcome for a rule the lanes do not hold; dropped");
                    continue;
                };
                count_failures(state, &outcome, outcome.quarantined);
                let Some(output) = &outcome.output else {
                    continue;
                };
                if outcome.sees.is_none() {
                    state.apply(batch, batch_text, output);
                    continue;
                }
                // Only the records the rule's route gave it are its input.
                let seen = batch.records.iter().filter(|r| outcome.sees(r.source));
                state.stats.records_in += seen.count() as u64;
                state.stats.rejected += output.rejects.len() as u64;
                let texts = output.texts(&batch.data).with_batch_text(batch_text);
                for update in &output.updates {
                    state.apply_update(batch, texts, update);
                }
                state.advance();
            }
            return;
        }
        self.apply_mixed(origin, batch, batch_text, outcomes);
    }

    /// [`Lanes::apply`] for a batch with records of several partitions:
    /// each update goes to its record's lane, in record order.
    fn apply_mixed(
        &mut self,
        origin: usize,
        batch: &Batch,
        batch_text: Option<&str>,
        outcomes: Vec<RuleOutcome>,
    ) {
        // Which lane each record is in, as an index into `names`.
        let mut names: Vec<String> = Vec::new();
        let mut keys: Vec<(u32, u32)> = Vec::new();
        let mut lane_of_record: Vec<usize> = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            let key = (record.source, record.partition);
            let index = match keys.iter().position(|k| *k == key) {
                Some(index) => index,
                None => {
                    keys.push(key);
                    names.push(self.lane_of(origin, &batch.sources, record));
                    keys.len() - 1
                }
            };
            lane_of_record.push(index);
        }
        for name in &names {
            self.get_or_insert(name);
        }
        // A record index the rule made up counts against the first lane.
        let lane_of = |record: u32| lane_of_record.get(record as usize).copied().unwrap_or(0);
        let mut records_per_lane = vec![0u64; names.len()];
        for &lane in &lane_of_record {
            records_per_lane[lane] += 1;
        }
        let mut lanes: Vec<Option<&mut LaneRules>> = names.iter().map(|_| None).collect();
        for (name, states) in self.by_name.iter_mut() {
            if let Some(index) = names.iter().position(|n| n == name) {
                lanes[index] = Some(states);
            }
        }
        let mut lanes: Vec<&mut LaneRules> = lanes.into_iter().flatten().collect();
        for outcome in outcomes {
            let rule = outcome.rule;
            // The records of each lane that were the rule's input (all, or
            // none when its route leaves the lane's source out).
            let given: Vec<u64> = keys
                .iter()
                .zip(&records_per_lane)
                .map(|(&(source, _), &n)| if outcome.sees(source) { n } else { 0 })
                .collect();
            // Failed calls count in the first lane the rule was given records of.
            let first = given.iter().position(|&n| n > 0).unwrap_or(0);
            for (lane, states) in lanes.iter_mut().enumerate() {
                if let Some(state) = states.get_mut(rule) {
                    let share = if outcome.quarantined > 0 {
                        given[lane]
                    } else {
                        0
                    };
                    if lane == first {
                        count_failures(state, &outcome, share);
                    } else {
                        state.stats.quarantined += share;
                    }
                    if outcome.output.is_some() {
                        state.stats.records_in += given[lane];
                    }
                }
            }
            let Some(output) = outcome.output else {
                continue;
            };
            for reject in &output.rejects {
                if let Some(state) = lanes[lane_of(reject.record)].get_mut(rule) {
                    state.stats.rejected += 1;
                }
            }
            let texts = output.texts(&batch.data).with_batch_text(batch_text);
            for update in &output.updates {
                if let Some(state) = lanes[lane_of(update.record)].get_mut(rule) {
                    state.apply_update(batch, texts, update);
                }
            }
            for states in lanes.iter_mut() {
                if let Some(state) = states.get_mut(rule) {
                    state.advance();
                }
            }
        }
    }
}

/// Adds an outcome's failure counters to a state (`quarantined`: the share
/// of quarantined records that were in this lane).
fn count_failures(state: &mut RuleState, outcome: &RuleOutcome, quarantined: u64) {
    state.stats.traps += outcome.traps;
    state.stats.dead_lettered += outcome.dead_lettered;
    state.stats.quarantined += quarantined;
}

#[cfg(test)]
mod tests;
