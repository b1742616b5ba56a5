//! Calling every rule on a batch: the half of the engine that runs rules
//! (on helper threads while the other half updates windows).

use std::time::Instant;

use super::RuleSlot;
use crate::contract::raw::BatchView;
use crate::contract::{Batch, Span};
use crate::model::{
    DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, Measure, Route, RuleOutcome, RuleOutput, SourceLanes,
    Text, Texts,
};
use crate::plugin::isolation::{Isolated, run_isolated};
use crate::plugin::{CallError, RuleRunner};

/// The rule-calling half of an [`Engine`](super::Engine).
pub struct RuleCalls<'a> {
    rules: &'a mut [RuleSlot],
    /// The pipeline's sources, by the index batches are tagged with.
    origins: &'a [SourceLanes],
    /// Threads a large batch is spread over ([`RuleCalls::run_parallel`]).
    threads: usize,
}

impl<'a> RuleCalls<'a> {
    pub(super) fn new(
        rules: &'a mut [RuleSlot],
        origins: &'a [SourceLanes],
        threads: usize,
    ) -> Self {
        Self {
            rules,
            origins,
            threads,
        }
    }

    /// Runs one batch through every rule on this thread, isolating records
    /// that make a rule fail; returns one outcome per rule, in rule order.
    pub fn run(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(0, batch, 1)
    }

    /// Like [`RuleCalls::run`], but a large batch is cut into runs of
    /// consecutive records, one per thread (`[engine] threads`), that run
    /// side by side, each on its own instance of each rule. Outputs are
    /// joined in record order, so the outcome is the same.
    pub fn run_parallel(&mut self, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(0, batch, self.threads)
    }

    /// Like [`RuleCalls::run_parallel`], for a batch read from source
    /// `origin` (an index into the engine's sources), which decides what
    /// each rule's route lets through.
    pub fn run_parallel_from(&mut self, origin: usize, batch: &Batch) -> Vec<RuleOutcome> {
        self.run_with(origin, batch, self.threads)
    }

    fn run_with(&mut self, origin: usize, batch: &Batch, threads: usize) -> Vec<RuleOutcome> {
        let Some(origin) = self.origins.get(origin).or(self.origins.first()) else {
            return Vec::new();
        };
        if batch.records.is_empty() {
            return self
                .rules
                .iter()
                .map(|slot| RuleOutcome::new(slot.id))
                .collect();
        }
        let now = Instant::now();
        let mut outcomes = Vec::new();
        for slot in self.rules.iter_mut() {
            let RuleSlot {
                id,
                rule,
                breaker,
                dead_letters: dead,
                route,
                ..
            } = slot;
            let name = rule.spec.name.as_str();
            let mut outcome = RuleOutcome::new(*id);
            // The rule's own records: all of them, or those its route admits.
            let routed = outcome_route(&mut outcome, route, origin, batch);
            let (given, index) = match &routed {
                Some((given, _)) if given.records.is_empty() => {
                    // Nothing here is for this rule: no call, nothing counted.
                    outcomes.push(outcome);
                    continue;
                }
                Some((given, index)) => (given, Some(index.as_slice())),
                None => (batch, None),
            };
            if breaker.is_open(now) {
                outcome.quarantined = given.records.len() as u64;
                outcomes.push(outcome);
                continue;
            }
            let isolated = match call(&mut rule.runner, &mut rule.spares, given.into(), threads) {
                Ok(isolated) => match index {
                    Some(index) => in_batch(isolated, index, &given.data),
                    None => isolated,
                },
                Err(error) => {
                    outcome.traps = 1;
                    outcome.quarantined = given.records.len() as u64;
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
            outcome.output = Some(isolated.output);
            outcomes.push(outcome);
        }
        outcomes
    }
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
    match text.resolve(Texts { data, own: "" }) {
        Some(resolved) => output.own(resolved),
        None => Text::Batch(Span {
            start: u32::MAX,
            len: 1,
        }),
    }
}

/// Fewest records worth a thread of their own: below this, handing a run
/// to another thread costs about what calling the rule on it does.
const MIN_RUN_RECORDS: usize = 128;

/// Runs `batch` through `rule`: on up to `threads` threads when the batch
/// is large enough, each on its own run of consecutive records and its own
/// instance (`spares` grows to the number needed, on first use). Outputs,
/// traps and record numbers are joined in record order, so the result is
/// the one a single instance gives.
fn call(
    runner: &mut Box<dyn RuleRunner>,
    spares: &mut Vec<Box<dyn RuleRunner>>,
    batch: BatchView<'_>,
    threads: usize,
) -> Result<Isolated, CallError> {
    let wanted = threads.min(batch.records.len() / MIN_RUN_RECORDS).max(1);
    while spares.len() + 1 < wanted {
        let Some(spare) = runner.fork() else { break };
        spares.push(spare);
    }
    let runs = wanted.min(spares.len() + 1);
    if runs == 1 {
        return run_isolated(runner.as_mut(), batch);
    }
    let len = batch.records.len();
    let starts: Vec<usize> = (0..runs).map(|run| run * len / runs).collect();
    let ends = starts.iter().skip(1).copied().chain([len]);
    let mut views = starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| batch.with_records(&batch.records[start..end]));
    let runner = runner.as_mut();
    let results: Vec<Result<Isolated, CallError>> = std::thread::scope(|scope| {
        let first = views.next();
        let others: Vec<_> = spares
            .iter_mut()
            .zip(views)
            .map(|(spare, view)| scope.spawn(move || run_isolated(spare.as_mut(), view)))
            .collect();
        let mut results: Vec<_> = first
            .map(|view| run_isolated(runner, view))
            .into_iter()
            .collect();
        results.extend(others.into_iter().map(|other| {
            other.join().unwrap_or_else(|_| {
                Err(CallError {
                    detail: "a rule call panicked in the host".to_owned(),
                })
            })
        }));
        results
    });
    let mut joined: Option<Isolated> = None;
    for (result, &start) in results.into_iter().zip(&starts) {
        let run = result?;
        let Some(joined) = joined.as_mut() else {
            joined = Some(run);
            continue;
        };
        let shift = start as u32;
        joined.traps += run.traps;
        joined.output.append(&run.output, shift);
        joined.trapped.extend(
            run.trapped
                .into_iter()
                .map(|(index, reason)| (index + shift, reason)),
        );
    }
    joined.ok_or_else(|| CallError {
        detail: "a batch was cut into no runs".to_owned(),
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
