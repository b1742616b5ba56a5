//! Calling every rule on a batch: the half of the engine that runs rules
//! (on helper threads while the other half updates windows).

use std::time::Instant;

use super::RuleSlot;
use super::share;
use crate::contract::{Batch, Span};
use crate::model::{
    DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, Measure, Route, RuleOutcome, RuleOutput, SourceLanes,
    Text, Texts,
};
use crate::plugin::CallError;
use crate::plugin::isolation::Isolated;

/// The rule-calling half of an [`Engine`](super::Engine).
pub struct RuleCalls<'a> {
    rules: &'a mut [RuleSlot],
    /// The pipeline's sources, by the index batches are tagged with.
    origins: &'a [SourceLanes],
    /// Threads a large batch is spread over ([`RuleCalls::run_parallel`]).
    threads: usize,
    /// The threads besides this one.
    helpers: &'a share::Helpers,
}

impl<'a> RuleCalls<'a> {
    pub(super) fn new(
        rules: &'a mut [RuleSlot],
        origins: &'a [SourceLanes],
        threads: usize,
        helpers: &'a share::Helpers,
    ) -> Self {
        Self {
            rules,
            origins,
            threads,
            helpers,
        }
    }

    /// Runs one batch through every rule on this thread, isolating records
    /// that make a rule fail; returns one outcome per rule, in rule order.
    pub fn run(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(0, batch, 1, || ()).0
    }

    /// Like [`RuleCalls::run`], but a large batch is cut into runs of
    /// consecutive records that threads (`[engine] threads`) share, each
    /// calling its own instance of each rule. Outputs are joined in record
    /// order, so the outcome is the same.
    pub fn run_parallel(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(0, batch, self.threads, || ()).0
    }

    /// Like [`RuleCalls::run_parallel`], for a batch read from source
    /// `origin` (an index into the engine's sources), which decides what
    /// each rule's route lets through; this thread first runs `meanwhile`
    /// (the pipeline applies the previous batch's outcomes) while the
    /// other threads start on the calls, then shares the rest of them.
    /// With one thread, `meanwhile` runs first and the calls after it.
    pub fn run_beside<T>(
        &mut self,
        origin: usize,
        batch: &Batch,
        meanwhile: impl FnOnce() -> T,
    ) -> (Vec<RuleOutcome>, T) {
        self.run_with(origin, batch, self.threads, meanwhile)
    }

    fn run_with<T>(
        &mut self,
        origin: usize,
        batch: &Batch,
        threads: usize,
        meanwhile: impl FnOnce() -> T,
    ) -> (Vec<RuleOutcome>, T) {
        let Some(origin) = self.origins.get(origin).or(self.origins.first()) else {
            return (Vec::new(), meanwhile());
        };
        if batch.records.is_empty() {
            let outcomes = self.rules.iter().map(|slot| RuleOutcome::new(slot.id));
            return (outcomes.collect(), meanwhile());
        }
        let now = Instant::now();
        let planned: Vec<Planned> = self
            .rules
            .iter_mut()
            .map(|slot| plan(slot, origin, batch, now))
            .collect();
        let most = planned
            .iter()
            .filter(|p| p.call)
            .map(|p| runs_of(p.given(batch).records.len(), threads))
            .max()
            .unwrap_or(1);
        let workers = threads.clamp(1, most);
        grow_spares(self.rules, &planned, workers);
        let instances: share::Instances<'_> = self
            .rules
            .iter_mut()
            .map(|slot| {
                let rule = &mut slot.rule;
                let own = std::iter::once(&mut rule.runner).chain(rule.spares.iter_mut());
                own.take(workers).collect()
            })
            .collect();
        let tasks = cut(&planned, batch, threads, &instances);
        let (results, value) =
            share::run_shared(&tasks, instances, workers, self.helpers, meanwhile);
        let mut runs: Vec<Vec<_>> = planned.iter().map(|_| Vec::new()).collect();
        for (task, result) in tasks.iter().zip(results) {
            runs[task.rule].push((task.start(), result));
        }
        // The tasks borrow `planned`, which the outcomes below take apart.
        drop(tasks);
        let mut outcomes = Vec::with_capacity(planned.len());
        for ((slot, p), runs) in self.rules.iter_mut().zip(planned).zip(runs) {
            if !p.call {
                outcomes.push(p.outcome);
                continue;
            }
            let joined = share::join_runs(runs);
            outcomes.push(finish(
                slot,
                p.outcome,
                joined,
                p.routed.as_ref(),
                batch,
                now,
            ));
        }
        (outcomes, value)
    }
}

/// How many runs a rule's `given` records are cut into on `threads`
/// threads.
fn runs_of(given: usize, threads: usize) -> usize {
    if threads <= 1 {
        return 1;
    }
    (given / MIN_RUN_RECORDS).clamp(1, threads * RUNS_PER_THREAD)
}

/// Makes sure every rule to call has `workers` instances, forking spares
/// on first use; a rule that cannot make one runs on those it has.
fn grow_spares(rules: &mut [RuleSlot], planned: &[Planned], workers: usize) {
    for (slot, _) in rules.iter_mut().zip(planned).filter(|(_, p)| p.call) {
        let rule = &mut slot.rule;
        while rule.spares.len() + 1 < workers {
            let Some(spare) = rule.runner.fork() else {
                break;
            };
            rule.spares.push(spare);
        }
    }
}

/// Cuts each planned rule's records into its runs, in rule then record
/// order, binding run k to instance k modulo the rule's instances.
fn cut<'b>(
    planned: &'b [Planned],
    batch: &'b Batch,
    threads: usize,
    instances: &share::Instances<'_>,
) -> Vec<share::Task<'b>> {
    let mut runs = Vec::new();
    for (index, p) in planned.iter().enumerate().filter(|(_, p)| p.call) {
        let given = p.given(batch);
        let len = given.records.len();
        let n = runs_of(len, threads);
        let own = instances.get(index).map_or(1, Vec::len).max(1);
        for run in 0..n {
            let (start, end) = (run * len / n, (run + 1) * len / n);
            runs.push(share::Task {
                rule: index,
                instance: run % own,
                given,
                records: start..end,
                own_bytes: n > 1,
            });
        }
    }
    runs
}

/// Fewest records worth a run of their own: below this, handing a run to
/// another thread costs about what calling the rule on it does.
const MIN_RUN_RECORDS: usize = 128;

/// Runs per thread a large batch is cut into, per rule: enough that a
/// thread that starts late (the pipeline's, after applying the previous
/// batch) still finds work, few enough that each call is long.
const RUNS_PER_THREAD: usize = 4;

/// What one rule is to do with a batch, decided before any call.
struct Planned {
    outcome: RuleOutcome,
    /// The records its route admits (their bytes only) and each one's
    /// index in the batch; `None`: the whole batch.
    routed: Option<(Batch, Vec<u32>)>,
    /// Whether to call it (it has records and is not quarantined).
    call: bool,
}

impl Planned {
    fn given<'b>(&'b self, batch: &'b Batch) -> &'b Batch {
        self.routed.as_ref().map_or(batch, |(given, _)| given)
    }
}

/// Decides what `slot`'s rule gets of `batch`: nothing (no record is for
/// it, or it is quarantined, which counts its records as such), or a call.
fn plan(slot: &mut RuleSlot, origin: &SourceLanes, batch: &Batch, now: Instant) -> Planned {
    let mut outcome = RuleOutcome::new(slot.id);
    let routed = outcome_route(&mut outcome, &slot.route, origin, batch);
    let given = routed
        .as_ref()
        .map_or(batch.records.len(), |(given, _)| given.records.len());
    // Nothing here is for this rule: no call, nothing counted.
    let mut call = given > 0;
    if call && slot.breaker.is_open(now) {
        outcome.quarantined = given as u64;
        call = false;
    }
    Planned {
        outcome,
        routed,
        call,
    }
}

/// Turns what a rule's call gave into its outcome: dead letters for the
/// records it failed on, the breaker told, record numbers of a routed
/// batch translated back to the whole batch's.
fn finish(
    slot: &mut RuleSlot,
    mut outcome: RuleOutcome,
    result: Result<Isolated, CallError>,
    routed: Option<&(Batch, Vec<u32>)>,
    batch: &Batch,
    now: Instant,
) -> RuleOutcome {
    let RuleSlot {
        rule,
        breaker,
        dead_letters: dead,
        ..
    } = slot;
    let name = rule.spec.name.as_str();
    let isolated = match result {
        Ok(isolated) => match routed {
            Some((given, index)) => in_batch(isolated, index, &given.data),
            None => isolated,
        },
        Err(error) => {
            outcome.traps = 1;
            outcome.quarantined =
                routed.map_or(batch.records.len(), |(given, _)| given.records.len()) as u64;
            let length = breaker.record_traps(u32::MAX, now);
            tracing::error!(rule = name, %error, quarantine = ?length, "cannot replace a failed instance; rule quarantined");
            return outcome;
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
    outcome.output = Some(isolated.output);
    outcome
}

/// For a rule whose route leaves out some of the batch's sources: notes
/// which it sees in `outcome` and returns the records it is given (their
/// bytes only) with each one's index in `batch`. `None`: it sees them all.
fn outcome_route(
    outcome: &mut RuleOutcome,
    route: &Route,
    origin: &SourceLanes,
    batch: &Batch,
) -> Option<(Batch, Vec<u32>)> {
    let mask = route.mask(origin, &batch.sources)?;
    let mut given = Batch {
        sources: batch.sources.clone(),
        data: Vec::new(),
        records: Vec::new(),
    };
    let mut index = Vec::new();
    for (i, record) in batch.records.iter().enumerate() {
        if !mask.get(record.source as usize).copied().unwrap_or(false) {
            continue;
        }
        let mut copy = *record;
        copy.payload = copy_span(&mut given.data, &batch.data, record.payload);
        copy.key = record
            .key
            .map(|key| copy_span(&mut given.data, &batch.data, key));
        given.records.push(copy);
        index.push(i as u32);
    }
    outcome.sees = Some(mask);
    Some((given, index))
}

/// Appends the bytes `span` names in `from` to `to`; returns where they are.
fn copy_span(to: &mut Vec<u8>, from: &[u8], span: Span) -> Span {
    let start = to.len();
    let bytes = from
        .get(span.start as usize..(span.start as usize + span.len as usize))
        .unwrap_or_default();
    to.extend_from_slice(bytes);
    Span {
        start: start as u32,
        len: bytes.len() as u32,
    }
}

/// What a rule made of the records it was given, with record numbers
/// translated back to the whole batch's (`index`: the batch index of each
/// record given). A number the rule made up stays out of range. Text the
/// rule gave as spans of the records given (`data`) is copied out, since
/// the whole batch's buffer holds other bytes there.
fn in_batch(mut isolated: Isolated, index: &[u32], data: &[u8]) -> Isolated {
    let at = |record: u32| index.get(record as usize).copied().unwrap_or(u32::MAX);
    let output = &mut isolated.output;
    let mut updates = std::mem::take(&mut output.updates);
    for update in &mut updates {
        update.record = at(update.record);
        update.key = own(output, update.key, data);
        if let Measure::Member(text) | Measure::Decimal(text) = &mut update.measure {
            *text = own(output, *text, data);
        }
    }
    output.updates = updates;
    for reject in &mut isolated.output.rejects {
        reject.record = at(reject.record);
    }
    for (record, _) in &mut isolated.trapped {
        *record = at(*record);
    }
    isolated
}

/// `text`, copied into `output`'s own texts if it is a span of `data`. A
/// span outside `data` stays invalid: an empty span past any buffer.
fn own(output: &mut RuleOutput, text: Text, data: &[u8]) -> Text {
    let Text::Batch(_) = text else {
        return text;
    };
    match text.resolve(Texts {
        data,
        batch_text: None,
        own: "",
    }) {
        Some(resolved) => output.own(resolved),
        None => Text::Batch(Span {
            start: u32::MAX,
            len: 1,
        }),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
