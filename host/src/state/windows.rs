//! The open windows of one metric for one window shape.

use super::aggregate::{Aggregate, Contribution, Delta, Mismatch};
use super::codec;
use super::open_slots::OpenSlots;
use super::recent::RecentStart;
use super::slot::{Slot, SlotKind};
use crate::model::{Aggregation, Alignment, WindowSpec};
use crate::window::Watermark;

/// A change to one slot that the next checkpoint must write.
#[derive(Debug, Clone)]
pub struct SlotChange {
    /// What the slot is.
    pub kind: SlotKind,
    /// Slot start, Unix milliseconds.
    pub start_ms: i64,
    /// Changed groups.
    pub groups: Vec<GroupChange>,
    /// Whether the slot closed (its checkpoint state is to be deleted).
    pub closed: bool,
    /// Whether the checkpoint already holds the slot.
    pub persisted: bool,
    /// For a closed persisted slot: the groups whose member hashes are kept
    /// under their own key, to delete.
    pub distinct_groups: Vec<String>,
}

/// One group's new value.
#[derive(Debug, Clone)]
pub struct GroupChange {
    /// Group key.
    pub key: String,
    /// The value for the output hash (`None` for step panes).
    pub output: Option<String>,
    /// What a lane of a partitioned source merges into the output value
    /// (see [`Group::merge_value`](super::slot::Group::merge_value); `None`
    /// for step panes and distinct).
    pub merge_value: Option<f64>,
    /// The checkpoint encoding of the aggregate (`None` once closed).
    pub state: Option<Vec<u8>>,
    /// Member hashes added since the last checkpoint, to append.
    pub new_members: Vec<u8>,
    /// Approx-distinct: registers raised since the last checkpoint, as
    /// (index, value) byte triples, merged across lanes in Redis.
    pub new_registers: Vec<u8>,
    /// Decimal sums, means and quantiles: what a lane merges (`None` for
    /// step panes and the other aggregations).
    pub delta: Option<Delta>,
    /// Quantiles: each quantile's value, in the metric's order (each is
    /// published as its own metric).
    pub quantiles: Vec<String>,
}

/// The windows (or, for cumulative windows, the step panes and whole
/// windows) of one metric and one window shape.
#[derive(Debug, Clone)]
pub struct MetricWindows {
    spec: WindowSpec,
    kind: Aggregation,
    slots: OpenSlots,
    totals: OpenSlots,
    closed: Vec<(SlotKind, i64, Slot)>,
    /// Members per exact distinct group of the last window (or pane) to
    /// close: how big a new one's groups start (see
    /// [`Slot::with_distinct_hint`]).
    distinct_hint: usize,
    /// The window (or step pane) the last record fell in.
    recent_slot: RecentStart,
    /// The cumulative window the last step pane was in.
    recent_total: RecentStart,
    /// Members new to an exact distinct group since the last
    /// [`drain_changes`](Self::drain_changes): what the next checkpoint
    /// writes of them (see [`pending_members`](Self::pending_members)).
    pending_members: usize,
}

impl MetricWindows {
    /// No open windows.
    pub fn new(spec: WindowSpec, kind: Aggregation) -> Self {
        Self {
            spec,
            kind,
            slots: OpenSlots::default(),
            totals: OpenSlots::default(),
            closed: Vec::new(),
            distinct_hint: 0,
            recent_slot: RecentStart::default(),
            recent_total: RecentStart::default(),
            pending_members: 0,
        }
    }

    /// The window shape.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    fn slot_kind(&self) -> SlotKind {
        match self.spec {
            WindowSpec::Cumulative { .. } => SlotKind::Pane,
            _ => SlotKind::Window,
        }
    }

    /// Adds a contribution at `time_ms` to every window it falls in that the
    /// watermark has not closed; returns how many windows it was late for.
    ///
    /// For a cumulative window, "late" means the whole window has closed
    /// (see `cumulative_pane`).
    pub fn add(
        &mut self,
        align: Alignment,
        watermark: &Watermark,
        key: &str,
        contribution: Contribution,
        time_ms: i64,
    ) -> Result<u64, Mismatch> {
        let hint = self.distinct_hint;
        if let WindowSpec::Tumbling { size_ms } = self.spec {
            let start = self.recent_slot.start(align, time_ms, size_ms);
            if watermark.is_closed(start + size_ms) {
                return Ok(1);
            }
            let new = self
                .slots
                .get_or_insert_with(start, || Slot::with_distinct_hint(hint))
                .add(self.kind, key, contribution)?;
            self.pending_members += usize::from(new);
            return Ok(0);
        }
        if let WindowSpec::Cumulative { size_ms, step_ms } = self.spec {
            let own = self.recent_slot.start(align, time_ms, step_ms);
            let Some(pane) = cumulative_pane(align, watermark, time_ms, own, size_ms, step_ms)
            else {
                return Ok(1);
            };
            // A member the whole window already holds is in the union the
            // pane merges into: the pane need not hold it too, and its
            // merge then copies only members new to the window.
            if let (Aggregation::Distinct, Contribution::Member(hash)) = (self.kind, contribution)
                && self
                    .totals
                    .get(self.recent_total.start(align, pane, size_ms))
                    .is_some_and(|total| total.has_member(key, hash))
            {
                return Ok(0);
            }
            let new = self
                .slots
                .get_or_insert_with(pane, || Slot::with_distinct_hint(hint))
                .add(self.kind, key, contribution)?;
            self.pending_members += usize::from(new);
            return Ok(0);
        }
        let slot_ms = self.spec.slot_ms();
        let kind = self.kind;
        let mut late = 0;
        let mut result = Ok(());
        let slots = &mut self.slots;
        let pending = &mut self.pending_members;
        self.spec.for_each_slot(align, time_ms, |start| {
            if watermark.is_closed(start + slot_ms) {
                late += 1;
                return;
            }
            match slots
                .get_or_insert_with(start, || Slot::with_distinct_hint(hint))
                .add(kind, key, contribution)
            {
                Ok(new) => *pending += usize::from(new),
                Err(mismatch) => result = Err(mismatch),
            }
        });
        result.map(|()| late)
    }

    /// Closes every window the watermark has passed. A closed step pane
    /// merges into its whole cumulative window.
    pub fn advance(&mut self, align: Alignment, watermark: &Watermark) {
        let slot_ms = self.spec.slot_ms();
        let kind = self.slot_kind();
        while let Some((start, mut slot)) = self
            .slots
            .pop_first_if(|start| watermark.is_closed(start + slot_ms))
        {
            if matches!(self.kind, Aggregation::Distinct) {
                self.distinct_hint = slot.distinct_members_per_group();
            }
            if let WindowSpec::Cumulative { size_ms, .. } = self.spec {
                let total_start = align.start(start, size_ms);
                self.totals
                    .get_or_insert_with(total_start, Slot::default)
                    .merge(self.kind, &slot);
                // A closed step pane waits for the next checkpoint only to
                // name its keys; its members are in the whole window now. A
                // replay closes thousands of panes between two checkpoints.
                slot.release_members();
            }
            self.closed.push((kind, start, slot));
        }
        let size_ms = self.spec.size_ms();
        while let Some((start, slot)) = self
            .totals
            .pop_first_if(|start| watermark.is_closed(start + size_ms))
        {
            self.closed.push((SlotKind::Total, start, slot));
        }
    }

    /// Takes every change since the last call, for a checkpoint, and marks
    /// the open slots as persisted.
    pub fn drain_changes(&mut self, out: &mut Vec<SlotChange>) {
        self.pending_members = 0;
        let pane_kind = self.slot_kind();
        for (kind, start, mut slot) in std::mem::take(&mut self.closed) {
            let groups = slot_groups(&mut slot, kind, true);
            let distinct_groups = if slot.persisted && matches!(self.kind, Aggregation::Distinct) {
                slot.groups().map(|(key, _)| key.to_owned()).collect()
            } else {
                Vec::new()
            };
            out.push(SlotChange {
                kind,
                start_ms: start,
                groups,
                closed: true,
                persisted: slot.persisted,
                distinct_groups,
            });
        }
        for (kind, slots) in [
            (pane_kind, &mut self.slots),
            (SlotKind::Total, &mut self.totals),
        ] {
            for (start, slot) in slots.iter_mut().filter(|(_, slot)| slot.is_dirty()) {
                let groups = slot_groups(slot, kind, false);
                out.push(SlotChange {
                    kind,
                    start_ms: start,
                    groups,
                    closed: false,
                    persisted: slot.persisted,
                    distinct_groups: Vec::new(),
                });
                slot.persisted = true;
            }
        }
    }

    /// Discards every open window, as when their alignment changed: they
    /// are never output, and the next checkpoint deletes what it held of
    /// them (left there, a later restart could read them back as windows
    /// of the new alignment). Windows already closed are still written.
    /// Returns whether there was an open window.
    pub fn discard_open(&mut self) -> bool {
        let pane_kind = self.slot_kind();
        let open = std::mem::take(&mut self.slots);
        let totals = std::mem::take(&mut self.totals);
        let any = !open.is_empty() || !totals.is_empty();
        let open = open
            .into_iter()
            .map(|(start, slot)| (pane_kind, start, slot));
        let totals = totals
            .into_iter()
            .map(|(start, slot)| (SlotKind::Total, start, slot));
        for (kind, start, mut slot) in open.chain(totals) {
            if slot.persisted {
                // A closed slot with no changed group deletes its state
                // and outputs nothing.
                slot.drain_dirty(|_, _| {});
                self.closed.push((kind, start, slot));
            }
        }
        any
    }

    /// Restores one group of one slot from a checkpoint.
    pub fn restore(&mut self, kind: SlotKind, start_ms: i64, key: &str, agg: Aggregate) {
        let slots = match kind {
            SlotKind::Total => &mut self.totals,
            SlotKind::Window | SlotKind::Pane => &mut self.slots,
        };
        let slot = slots.get_or_insert_with(start_ms, Slot::default);
        slot.persisted = true;
        slot.restore(key, agg);
    }

    /// How many members new to an exact distinct group (counted once per
    /// window or pane they joined) the next checkpoint will write: 8 bytes
    /// each, held until it does.
    pub fn pending_members(&self) -> usize {
        self.pending_members
    }

    /// The open slots, for inspection and tests: (kind, start, slot).
    pub fn open_slots(&self) -> impl Iterator<Item = (SlotKind, i64, &Slot)> {
        let pane_kind = self.slot_kind();
        self.slots
            .iter()
            .map(move |(start, slot)| (pane_kind, start, slot))
            .chain(
                self.totals
                    .iter()
                    .map(|(start, slot)| (SlotKind::Total, start, slot)),
            )
    }
}

/// The step pane a record at `time_ms` (in the step starting at `own`)
/// joins in its cumulative window, or `None` when the whole window has
/// closed (the record is late).
///
/// As in Flink's CUMULATE, the record belongs to every step window
/// `[window start, step end)` whose end is after `time_ms` and counts in those
/// the watermark has not closed. Its own step's pane takes it while that step
/// is open; once the step is published, the first step still open takes it,
/// so every later step and the window's final value count it while the steps
/// already published never change. One pane either way, whatever the number
/// of steps.
fn cumulative_pane(
    align: Alignment,
    watermark: &Watermark,
    time_ms: i64,
    own: i64,
    size_ms: i64,
    step_ms: i64,
) -> Option<i64> {
    if !watermark.is_closed(own + step_ms) {
        return Some(own);
    }
    if watermark.is_closed(align.start(time_ms, size_ms) + size_ms) {
        return None;
    }
    // The step holding the watermark is the first one still open; it lies in
    // the record's window, which ends after the watermark and is a whole
    // number of steps.
    Some(align.start(watermark.current(), step_ms))
}

fn slot_groups(slot: &mut Slot, kind: SlotKind, closed: bool) -> Vec<GroupChange> {
    // Sized exactly: most slots change one group between checkpoints, and
    // `Vec`'s first growth step (four changes of ~200 bytes) made a replay's
    // checkpoint, which holds thousands of closed slots, most of the heap.
    let mut groups = Vec::with_capacity(slot.dirty_len());
    slot.drain_dirty(|key, group| {
        let (merge_value, delta) = if kind.is_output() {
            (group.merge_value(), group.merge_delta())
        } else {
            if let Aggregate::Quantiles(sketch, _) = &mut group.agg {
                sketch.clear_fresh();
            }
            (None, None)
        };
        let agg = &mut group.agg;
        let new_members = match agg {
            // A closed output slot still hands out its last new members: a
            // partitioned source merges them into the cross-lane union.
            Aggregate::Distinct(set) if !closed || kind.is_output() => set.take_new_encoded(),
            Aggregate::Distinct(set) => {
                set.track_new(false);
                Vec::new()
            }
            _ => Vec::new(),
        };
        let new_registers = match agg {
            Aggregate::ApproxDistinct(hll) => hll.take_changed(),
            _ => Vec::new(),
        };
        groups.push(GroupChange {
            key: key.to_owned(),
            output: kind.is_output().then(|| agg.render()),
            quantiles: if kind.is_output() {
                agg.quantiles()
            } else {
                Vec::new()
            },
            merge_value,
            delta,
            state: (!closed).then(|| codec::encode(agg)),
            new_members,
            new_registers,
        });
    });
    groups
}

#[cfg(test)]
mod tests;
