//! Everything the host keeps for one rule: its windows and its watermark.

use super::aggregate::{Contribution, Mismatch};
use super::decimal::{is_decimal, number_units, parse_units};
use super::windows::{MetricWindows, SlotChange};
use crate::contract::Batch;
use crate::model::{Aggregation, Alignment, RuleSpec, RuleStats};
use crate::model::{Measure, RuleOutput, Texts, Update};
use crate::window::Watermark;

/// The windows of one metric, one entry per window shape of its manifest.
#[derive(Debug, Clone)]
pub struct MetricState {
    /// Metric name.
    pub name: String,
    /// How updates combine.
    pub aggregation: Aggregation,
    /// One per window shape.
    pub windows: Vec<MetricWindows>,
}

/// The state of one rule: open windows, watermark and counters.
#[derive(Debug, Clone)]
pub struct RuleState {
    /// Per metric, in manifest order.
    pub metrics: Vec<MetricState>,
    /// The rule's watermark.
    pub watermark: Watermark,
    /// Counters.
    pub stats: RuleStats,
    align: Alignment,
    /// Windows of a previous definition of a metric that kept its name and
    /// window shape (its aggregation changed), at their (metric, window)
    /// index in this state: their checkpoint state is deleted at the next
    /// checkpoint. Left there, a restart would read it back under the new
    /// definition, which the checkpoint then names.
    retired: Vec<(usize, usize, MetricWindows)>,
}

/// Changes of one metric's windows since the last checkpoint.
#[derive(Debug, Clone)]
pub struct MetricChanges {
    /// Index into [`RuleState::metrics`].
    pub metric: usize,
    /// Index into the metric's windows.
    pub window: usize,
    /// Changed slots.
    pub slots: Vec<SlotChange>,
}

impl RuleState {
    /// Empty state for a rule.
    pub fn new(spec: &RuleSpec, align: Alignment, lateness_ms: i64) -> Self {
        Self {
            metrics: spec
                .metrics
                .iter()
                .map(|metric| MetricState {
                    name: metric.name.clone(),
                    aggregation: metric.aggregation,
                    windows: metric
                        .windows
                        .iter()
                        .map(|&window| MetricWindows::new(window, metric.aggregation))
                        .collect(),
                })
                .collect(),
            watermark: Watermark::new(lateness_ms),
            stats: RuleStats::default(),
            align,
            retired: Vec::new(),
        }
    }

    /// The state for a new version of the rule, its windows aligned by
    /// `align`: metrics whose definition (name, aggregation, windows) is
    /// unchanged keep their open windows, except window shapes the new
    /// alignment moves (see [`RuleState::realign_from`]); the others start
    /// empty. The watermark and counters carry over. Also returns the
    /// metrics whose open windows were discarded (changed, dropped or
    /// moved), for the caller to report once.
    pub fn migrate(mut self, spec: &RuleSpec, align: Alignment) -> (Self, Vec<String>) {
        let mut next = Self::new(spec, align, self.watermark.lateness_ms());
        next.watermark = self.watermark;
        next.stats = self.stats;
        for (metric, new) in spec.metrics.iter().zip(&mut next.metrics) {
            let kept = self.metrics.iter().position(|old| {
                old.name == metric.name
                    && old.aggregation == metric.aggregation
                    && old
                        .windows
                        .iter()
                        .map(MetricWindows::spec)
                        .eq(metric.windows.iter().copied())
            });
            if let Some(index) = kept {
                *new = self.metrics.swap_remove(index);
            }
        }
        let mut discarded = next.realign_from(self.align);
        // What is left had open windows (or could have): changed
        // definitions and metrics the new version dropped.
        discarded.extend(
            self.metrics
                .iter()
                .filter(|old| old.windows.iter().any(|w| w.open_slots().next().is_some()))
                .map(|old| old.name.clone()),
        );
        discarded.sort();
        discarded.dedup();
        next.retire(self.metrics);
        (next, discarded)
    }

    /// Keeps, for deletion at the next checkpoint, the windows of `old`
    /// metrics (of a previous version, not carried over) whose name and
    /// window shape this state still has.
    fn retire(&mut self, old: Vec<MetricState>) {
        for metric in old {
            let Some(index) = self.metrics.iter().position(|m| m.name == metric.name) else {
                continue;
            };
            for mut windows in metric.windows {
                let shape = windows.spec();
                let Some(window) = self.metrics[index]
                    .windows
                    .iter()
                    .position(|w| w.spec() == shape)
                else {
                    continue;
                };
                windows.discard_open();
                self.retired.push((index, window, windows));
            }
        }
    }

    /// Brings open windows made under alignment `was` (by a checkpoint, or
    /// the previous version of the rule) to this state's alignment. Window
    /// shapes whose starts both share (a minute when the day offset moved
    /// by whole hours) keep their open windows: they mean the same. The
    /// others lose them (see [`MetricWindows::discard_open`]): a day that
    /// began at UTC midnight is not a day of UTC+8, and no part of it can
    /// be reassigned, as Flink drops state it cannot restore into a changed
    /// window. Returns the metrics that lost open windows.
    pub fn realign_from(&mut self, was: Alignment) -> Vec<String> {
        let mut discarded = Vec::new();
        for metric in &mut self.metrics {
            let mut lost = false;
            for windows in &mut metric.windows {
                if !was.same_windows(self.align, windows.spec()) {
                    lost |= windows.discard_open();
                }
            }
            if lost {
                discarded.push(metric.name.clone());
            }
        }
        discarded
    }

    /// Window alignment.
    pub fn alignment(&self) -> Alignment {
        self.align
    }

    /// Applies what a batch produced, in record order, then closes the
    /// windows the watermark passed. `batch_text`: the batch's data as
    /// text, if all of it is UTF-8 (see [`Texts::with_batch_text`]).
    pub fn apply(&mut self, batch: &Batch, batch_text: Option<&str>, output: &RuleOutput) {
        self.stats.records_in += batch.records.len() as u64;
        self.stats.rejected += output.rejects.len() as u64;
        let texts = output.texts(&batch.data).with_batch_text(batch_text);
        for update in &output.updates {
            self.apply_update(batch, texts, update);
        }
        self.advance();
    }

    /// Applies one update (of `batch`, its texts in `texts`) to the windows it falls in. The
    /// caller counts the records and calls [`RuleState::advance`] at the end
    /// of the batch. An update the metric cannot take (a measure of the
    /// wrong kind, a key or member that is not text of the batch, a decimal
    /// finer than the metric's scale) is counted as invalid and logged.
    pub fn apply_update(&mut self, batch: &Batch, texts: Texts<'_>, update: &Update) {
        let Some(metric) = self.metrics.get_mut(update.metric as usize) else {
            self.stats.invalid_updates += 1;
            return;
        };
        let time_ms = update.event_time_ms.or_else(|| {
            batch
                .records
                .get(update.record as usize)
                .and_then(|record| record.timestamp_ms)
        });
        let Some(time_ms) = time_ms else {
            self.stats.no_event_time += 1;
            return;
        };
        let resolved = update
            .key
            .resolve(texts)
            .ok_or_else(|| "the group key is not UTF-8 text within the batch".to_owned())
            .and_then(|key| {
                contribution(update.measure, metric.aggregation, texts).map(|c| (key, c))
            });
        let (key, contribution) = match resolved {
            Ok(resolved) => resolved,
            Err(reason) => {
                self.stats.invalid_updates += 1;
                // Powers of two: the first problems, then ever more rarely.
                if self.stats.invalid_updates.is_power_of_two() {
                    tracing::warn!(
                        metric = metric.name.as_str(),
                        invalid_updates = self.stats.invalid_updates,
                        "update not applied: {reason}"
                    );
                }
                return;
            }
        };
        self.stats.updates += 1;
        for windows in &mut metric.windows {
            match windows.add(self.align, &self.watermark, key, contribution, time_ms) {
                Ok(late) => self.stats.late += late,
                Err(Mismatch) => self.stats.invalid_updates += 1,
            }
        }
        self.watermark.observe(time_ms);
    }

    /// Closes every window the watermark has passed.
    pub fn advance(&mut self) {
        for metric in &mut self.metrics {
            for windows in &mut metric.windows {
                windows.advance(self.align, &self.watermark);
            }
        }
    }

    /// The input ended: every window closes.
    pub fn close_all(&mut self) {
        self.watermark.close_all();
        self.advance();
    }

    /// Members new to an exact distinct group that the next checkpoint
    /// will write (see [`MetricWindows::pending_members`]).
    pub fn pending_members(&self) -> usize {
        self.metrics
            .iter()
            .flat_map(|metric| &metric.windows)
            .map(MetricWindows::pending_members)
            .sum()
    }

    /// Takes every change since the last checkpoint.
    pub fn drain_changes(&mut self) -> Vec<MetricChanges> {
        let mut changes = Vec::new();
        // Retired slots first: a new slot may have the same id, and its
        // write must come after the old state's deletion.
        for (metric, window, mut windows) in std::mem::take(&mut self.retired) {
            let mut slots = Vec::new();
            windows.drain_changes(&mut slots);
            if !slots.is_empty() {
                changes.push(MetricChanges {
                    metric,
                    window,
                    slots,
                });
            }
        }
        for (metric_index, metric) in self.metrics.iter_mut().enumerate() {
            for (window_index, windows) in metric.windows.iter_mut().enumerate() {
                let mut slots = Vec::new();
                windows.drain_changes(&mut slots);
                if !slots.is_empty() {
                    changes.push(MetricChanges {
                        metric: metric_index,
                        window: window_index,
                        slots,
                    });
                }
            }
        }
        changes
    }
}

/// What `measure` contributes to a metric aggregating by `kind`, or why
/// it cannot.
fn contribution(
    measure: Measure,
    kind: Aggregation,
    texts: Texts<'_>,
) -> Result<Contribution, String> {
    let text = |text: crate::model::Text| {
        text.resolve(texts)
            .ok_or_else(|| "the measure's text is not UTF-8 text within the batch".to_owned())
    };
    let float = |x: f64| {
        x.is_finite()
            .then_some(Contribution::Number(x))
            .ok_or_else(|| format!("{x} is not a finite number"))
    };
    match (measure, kind) {
        (_, Aggregation::Count) => Ok(Contribution::One),
        (
            Measure::Number(x),
            Aggregation::Sum | Aggregation::Min | Aggregation::Max | Aggregation::Quantiles(_),
        ) => float(x),
        (
            Measure::Decimal(decimal),
            Aggregation::Sum | Aggregation::Min | Aggregation::Max | Aggregation::Quantiles(_),
        ) => {
            let decimal = text(decimal)?;
            match decimal.parse() {
                Ok(x) if is_decimal(decimal) => float(x),
                _ => Err(format!("{decimal:?} is not a decimal number")),
            }
        }
        (Measure::Member(member), Aggregation::Distinct | Aggregation::ApproxDistinct) => {
            Ok(Contribution::member(text(member)?))
        }
        (
            Measure::Decimal(decimal),
            Aggregation::DecimalSum { scale } | Aggregation::Avg { scale },
        ) => parse_units(text(decimal)?, scale)
            .map(Contribution::Units)
            .map_err(|error| error.to_string()),
        (Measure::Number(x), Aggregation::DecimalSum { scale } | Aggregation::Avg { scale }) => {
            number_units(x, scale)
                .map(Contribution::Units)
                .map_err(|error| error.to_string())
        }
        (measure, kind) => Err(format!(
            "a {} measure does not fit a {kind} metric",
            match measure {
                Measure::One => "one",
                Measure::Number(_) => "number",
                Measure::Member(_) => "member",
                Measure::Decimal(_) => "decimal",
            }
        )),
    }
}

#[cfg(test)]
mod tests;
