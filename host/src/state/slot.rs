//! A slot: the groups of one window (or one step pane) and what changed in them.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use xxhash_rust::xxh3::Xxh3Default;

use super::aggregate::{Aggregate, Contribution, Delta, Mismatch};
use crate::model::Aggregation;

/// What a slot is to its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// A tumbling or hopping window: its values are output.
    Window,
    /// A step pane of a cumulative window: what its step adds to the whole
    /// window (its own records and those late for a published step);
    /// checkpointed, not output.
    Pane,
    /// A whole cumulative window: output, grows as panes close.
    Total,
}

impl SlotKind {
    /// One-letter tag used in checkpoint key names.
    pub fn tag(self) -> char {
        match self {
            Self::Window => 'w',
            Self::Pane => 'p',
            Self::Total => 'c',
        }
    }

    /// Parses a tag written by [`SlotKind::tag`].
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "w" => Some(Self::Window),
            "p" => Some(Self::Pane),
            "c" => Some(Self::Total),
            _ => None,
        }
    }

    /// Whether the slot's values are written to the output hashes.
    pub fn is_output(self) -> bool {
        !matches!(self, Self::Pane)
    }
}

/// Group keys are hashed with xxh3: keys come from rules, and a keyed
/// SipHash buys nothing here but cost on every update.
type GroupHasher = BuildHasherDefault<Xxh3Default>;

/// One group's aggregate and whether it changed since the last checkpoint.
#[derive(Debug, Clone)]
pub struct Group {
    /// The running value.
    pub agg: Aggregate,
    dirty: bool,
    /// The count or sum as of the last checkpoint, which the merged output
    /// of a partitioned source already holds (see [`Group::merge_value`]).
    published: f64,
    /// A decimal sum's or mean's sum units as of the last checkpoint.
    published_units: i128,
    /// A mean's count as of the last checkpoint.
    published_count: u64,
}

impl Group {
    fn new(agg: Aggregate) -> Self {
        let published = agg.number().unwrap_or(0.0);
        let (published_units, published_count) = match agg {
            Aggregate::Decimal { units, .. } => (units, 0),
            Aggregate::Avg { units, count, .. } => (units, count),
            _ => (0, 0),
        };
        Self {
            agg,
            dirty: false,
            published,
            published_units,
            published_count,
        }
    }

    /// What this group adds to the value merged across lanes for the
    /// aggregations of contract 0.2.0, and marks it handed out: the change
    /// since the last call.
    pub fn merge_delta(&mut self) -> Option<Delta> {
        match &mut self.agg {
            Aggregate::Decimal { units, .. } => {
                let delta = *units - self.published_units;
                self.published_units = *units;
                Some(Delta::Units(delta))
            }
            Aggregate::Avg { units, count, .. } => {
                let delta = Delta::Mean {
                    units: *units - self.published_units,
                    count: *count - self.published_count,
                };
                self.published_units = *units;
                self.published_count = *count;
                Some(delta)
            }
            Aggregate::Quantiles(sketch, _) => Some(Delta::Buckets(sketch.take_fresh())),
            _ => None,
        }
    }

    /// What this group adds to the value merged across lanes, and marks it
    /// handed out: for a count or sum the change since the last call (the
    /// merged value is the sum of every lane's changes), for a min or max
    /// the value itself; `None` for distinct counts, which merge members.
    pub fn merge_value(&mut self) -> Option<f64> {
        match self.agg {
            Aggregate::Count(_) | Aggregate::Sum(_) => {
                let now = self.agg.number()?;
                let delta = now - self.published;
                self.published = now;
                Some(delta)
            }
            Aggregate::Min(_) | Aggregate::Max(_) => self.agg.number(),
            _ => None,
        }
    }
}

/// The groups of one window or pane.
///
/// Changed groups are remembered in `dirty`, so a checkpoint costs what
/// changed since the previous one, not the size of the window.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    groups: HashMap<Box<str>, Group, GroupHasher>,
    dirty: Vec<Box<str>>,
    /// Whether the checkpoint in Redis holds this slot.
    pub persisted: bool,
}

impl Slot {
    /// Adds a contribution to group `key`.
    pub fn add(
        &mut self,
        kind: Aggregation,
        key: &str,
        contribution: Contribution,
    ) -> Result<(), Mismatch> {
        let group = match self.groups.get_mut(key) {
            Some(group) => group,
            None => self
                .groups
                .entry(key.into())
                .or_insert(Group::new(Aggregate::empty(kind))),
        };
        if group.agg.add(contribution)? && !group.dirty {
            group.dirty = true;
            self.dirty.push(key.into());
        }
        Ok(())
    }

    /// Folds every group of `other` into this slot, marking them changed.
    pub fn merge(&mut self, kind: Aggregation, other: &Slot) {
        for (key, theirs) in &other.groups {
            let group = self
                .groups
                .entry(key.clone())
                .or_insert(Group::new(Aggregate::empty(kind)));
            group.agg.merge(&theirs.agg);
            if !group.dirty {
                group.dirty = true;
                self.dirty.push(key.clone());
            }
        }
    }

    /// Restores a group from a checkpoint (not marked changed).
    pub fn restore(&mut self, key: &str, agg: Aggregate) {
        self.groups.insert(key.into(), Group::new(agg));
    }

    /// Hands each changed group to `each` and marks it clean.
    pub fn drain_dirty(&mut self, mut each: impl FnMut(&str, &mut Group)) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(group) = self.groups.get_mut(&key) {
                group.dirty = false;
                each(&key, group);
            }
        }
    }

    /// Every group, for a slot being closed or inspected.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &Aggregate)> {
        self.groups.iter().map(|(key, group)| (&**key, &group.agg))
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether the slot has no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether any group changed since the last checkpoint.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }
}
