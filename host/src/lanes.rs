//! Window state split by input partition ("lanes").
//!
//! A file or stdin is one lane. A Kafka source has one lane per topic
//! partition: each keeps its own windows, watermark and counters, and is
//! checkpointed on its own, so whichever instance owns a partition can load
//! exactly its state, and whether a record is late depends only on the
//! records before it in its partition (an order Kafka keeps), never on how
//! partitions interleave or which instance holds them.

use std::collections::BTreeMap;

use crate::contract::{Batch, RecordMeta};
use crate::plugin::spec::RuleSpec;
use crate::processor::RuleOutcome;
use crate::state::RuleState;
use crate::window::Alignment;

/// The lane name of an unpartitioned source (a file, stdin); also its
/// checkpoint position field.
pub const SINGLE_LANE: &str = "0";

/// The lane (and checkpoint position field) of a topic partition.
pub fn partition_lane(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

/// Every lane's state: one [`RuleState`] per rule, in registry order.
#[derive(Debug, Clone)]
pub struct Lanes {
    by_name: BTreeMap<String, Vec<RuleState>>,
    /// Whether records are split by (source, partition); otherwise every
    /// record is in [`SINGLE_LANE`].
    partitioned: bool,
    /// The rules, for a new lane's empty state.
    specs: Vec<RuleSpec>,
    align: Alignment,
    lateness_ms: i64,
}

impl Lanes {
    /// No lanes yet.
    pub fn new(
        specs: Vec<RuleSpec>,
        align: Alignment,
        lateness_ms: i64,
        partitioned: bool,
    ) -> Self {
        Self {
            by_name: BTreeMap::new(),
            partitioned,
            specs,
            align,
            lateness_ms,
        }
    }

    /// Whether records are split by partition.
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// The lane a record is in.
    pub fn lane_of(&self, sources: &[String], record: &RecordMeta) -> String {
        if !self.partitioned {
            return SINGLE_LANE.to_owned();
        }
        let source = sources
            .get(record.source as usize)
            .map_or("", String::as_str);
        partition_lane(source, record.partition)
    }

    /// Empty state for every rule.
    pub fn empty_states(&self) -> Vec<RuleState> {
        self.specs
            .iter()
            .map(|spec| RuleState::new(spec, self.align, self.lateness_ms))
            .collect()
    }

    /// A lane's states, created empty if it is new.
    pub fn get_or_insert(&mut self, lane: &str) -> &mut Vec<RuleState> {
        if !self.by_name.contains_key(lane) {
            let states = self.empty_states();
            self.by_name.insert(lane.to_owned(), states);
        }
        self.by_name
            .get_mut(lane)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// Puts a lane's (restored) states in place.
    pub fn insert(&mut self, lane: String, states: Vec<RuleState>) {
        self.by_name.insert(lane, states);
    }

    /// Takes a lane out.
    pub fn remove(&mut self, lane: &str) -> Option<Vec<RuleState>> {
        self.by_name.remove(lane)
    }

    /// Whether a lane is held.
    pub fn contains(&self, lane: &str) -> bool {
        self.by_name.contains_key(lane)
    }

    /// The lanes and their states.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[RuleState])> {
        self.by_name
            .iter()
            .map(|(name, states)| (name.as_str(), states.as_slice()))
    }

    /// The lanes and their states, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Vec<RuleState>)> {
        self.by_name
            .iter_mut()
            .map(|(name, states)| (name.as_str(), states))
    }

    /// Every lane's state of rule `index`.
    pub fn rule_states(&self, index: usize) -> impl Iterator<Item = &RuleState> {
        self.by_name
            .values()
            .filter_map(move |states| states.get(index))
    }

    /// A rule was added: every lane gets empty state for it.
    pub fn push_rule(&mut self, spec: RuleSpec) {
        for states in self.by_name.values_mut() {
            states.push(RuleState::new(&spec, self.align, self.lateness_ms));
        }
        self.specs.push(spec);
    }

    /// Rule `index` has a new version: every lane keeps the windows of its
    /// unchanged metrics.
    pub fn replace_rule(&mut self, index: usize, spec: RuleSpec) {
        for states in self.by_name.values_mut() {
            if let Some(state) = states.get_mut(index) {
                let fresh = RuleState::new(&spec, self.align, self.lateness_ms);
                let old = std::mem::replace(state, fresh);
                *state = old.migrate(&spec);
            }
        }
        if let Some(slot) = self.specs.get_mut(index) {
            *slot = spec;
        }
    }

    /// Rule `index` was removed: returns each lane's state of it.
    pub fn remove_rule(&mut self, index: usize) -> Vec<(String, RuleState)> {
        if index < self.specs.len() {
            self.specs.remove(index);
        }
        self.by_name
            .iter_mut()
            .filter(|(_, states)| index < states.len())
            .map(|(name, states)| (name.clone(), states.remove(index)))
            .collect()
    }

    /// The input ended: every window of every lane closes.
    pub fn close_all(&mut self) {
        for state in self.by_name.values_mut().flatten() {
            state.close_all();
        }
    }

    /// Applies one batch's outcomes (one per rule, in rule order) to the
    /// windows of the lanes its records are in.
    pub fn apply(&mut self, batch: &Batch, outcomes: Vec<RuleOutcome>) {
        // An empty batch ran no rule: nothing to count.
        let Some(first) = batch.records.first() else {
            return;
        };
        let first_lane = self.lane_of(&batch.sources, first);
        let single = !self.partitioned
            || batch
                .records
                .iter()
                .all(|r| r.source == first.source && r.partition == first.partition);
        if single {
            let states = self.get_or_insert(&first_lane);
            for (state, outcome) in states.iter_mut().zip(outcomes) {
                count_failures(state, &outcome, outcome.quarantined);
                if let Some(output) = outcome.output {
                    state.apply(&batch.records, &output);
                }
            }
            return;
        }
        self.apply_mixed(batch, outcomes);
    }

    /// [`Lanes::apply`] for a batch with records of several partitions:
    /// each update goes to its record's lane, in record order.
    fn apply_mixed(&mut self, batch: &Batch, outcomes: Vec<RuleOutcome>) {
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
                    names.push(self.lane_of(&batch.sources, record));
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
        let mut lanes: Vec<Option<&mut Vec<RuleState>>> = names.iter().map(|_| None).collect();
        for (name, states) in self.by_name.iter_mut() {
            if let Some(index) = names.iter().position(|n| n == name) {
                lanes[index] = Some(states);
            }
        }
        let mut lanes: Vec<&mut Vec<RuleState>> = lanes.into_iter().flatten().collect();
        for (rule, outcome) in outcomes.into_iter().enumerate() {
            for (lane, states) in lanes.iter_mut().enumerate() {
                if let Some(state) = states.get_mut(rule) {
                    let share = if outcome.quarantined > 0 {
                        records_per_lane[lane]
                    } else {
                        0
                    };
                    if lane == 0 {
                        count_failures(state, &outcome, share);
                    } else {
                        state.stats.quarantined += share;
                    }
                    if outcome.output.is_some() {
                        state.stats.records_in += records_per_lane[lane];
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
            for update in &output.updates {
                if let Some(state) = lanes[lane_of(update.record)].get_mut(rule) {
                    state.apply_update(&batch.records, update);
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
mod tests {
    use super::*;
    use crate::contract::{self, BatchOutput, Measure, MetricUpdate, Span};

    fn counter() -> RuleSpec {
        let manifest = contract::Manifest {
            name: "hits".into(),
            version: "1".into(),
            metrics: vec![contract::Metric {
                name: "hits".into(),
                aggregation: contract::Aggregation::Count,
                windows: vec![contract::Window::Tumbling(60)],
            }],
        };
        RuleSpec::from_manifest(&manifest).unwrap()
    }

    /// A batch of one record per (partition, event time), all counted.
    fn run(lanes: &mut Lanes, records: &[(u32, i64)]) {
        let batch = Batch {
            sources: vec!["access".into()],
            data: Vec::new(),
            records: records
                .iter()
                .enumerate()
                .map(|(i, &(partition, _))| RecordMeta {
                    payload: Span { start: 0, len: 0 },
                    key: None,
                    source: 0,
                    partition,
                    offset: i as u64,
                    timestamp_ms: None,
                })
                .collect(),
        };
        let updates = records
            .iter()
            .enumerate()
            .map(|(i, &(_, time_ms))| MetricUpdate {
                record: i as u32,
                metric: 0,
                key: "all".into(),
                measure: Measure::One,
                event_time_ms: Some(time_ms),
            })
            .collect();
        let outcome = RuleOutcome {
            output: Some(BatchOutput {
                updates,
                rejects: Vec::new(),
            }),
            ..RuleOutcome::default()
        };
        lanes.apply(&batch, vec![outcome]);
    }

    fn stats(lanes: &Lanes, lane: &str) -> crate::stats::RuleStats {
        lanes
            .iter()
            .find(|(name, _)| *name == lane)
            .map(|(_, states)| states[0].stats)
            .unwrap()
    }

    /// Lateness is judged per partition: a record that is old for its own
    /// partition is late, the same event time on a partition that is behind
    /// is not, however the partitions interleave in a batch.
    #[test]
    fn each_partition_has_its_own_watermark() {
        let mut lanes = Lanes::new(vec![counter()], Alignment::new(0), 10_000, true);
        run(
            &mut lanes,
            &[(0, 600_000), (1, 5_000), (0, 5_000), (1, 6_000)],
        );
        let p0 = stats(&lanes, "access/0");
        let p1 = stats(&lanes, "access/1");
        assert_eq!((p0.records_in, p0.late), (2, 1));
        assert_eq!((p1.records_in, p1.late), (2, 0));
    }

    /// Unpartitioned sources keep one lane whatever the partition field.
    #[test]
    fn a_file_is_one_lane() {
        let mut lanes = Lanes::new(vec![counter()], Alignment::new(0), 10_000, false);
        run(&mut lanes, &[(0, 600_000), (1, 5_000)]);
        let one = stats(&lanes, SINGLE_LANE);
        assert_eq!((one.records_in, one.late), (2, 1));
    }
}
