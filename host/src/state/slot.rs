//! A slot: the groups of one window (or one step pane) and what changed in them.

use indexmap::IndexMap;

use super::aggregate::{Aggregate, Contribution, Delta, Mismatch};
use super::distinct::DistinctSet;
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

/// Group keys are hashed with foldhash: a key is hashed on every update
/// that does not repeat the previous one's key (a rule counting per client
/// IP), where SipHash, and xxh3's streaming hasher, cost several times more
/// on short keys. Its per-process seed changes nothing visible: groups are
/// kept and visited in the order they were made.
type GroupHasher = foldhash::fast::RandomState;

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
    groups: IndexMap<Box<str>, Group, GroupHasher>,
    /// The group the last update went to. Rules emit runs of updates with
    /// the same key (pvuv's `total` on every line): comparing a few bytes
    /// is cheaper than hashing the key again.
    last: usize,
    /// Indexes of the changed groups (groups are never removed, so an index
    /// stays valid).
    dirty: Vec<usize>,
    /// Members a new exact distinct group is sized for (see
    /// [`Slot::with_distinct_hint`]).
    distinct_hint: usize,
    /// Whether the checkpoint in Redis holds this slot.
    pub persisted: bool,
}

impl Slot {
    /// An empty slot whose exact distinct groups start with room for
    /// `members` each: what the same metric's previous window held per
    /// group, so a window that fills like the one before it does not
    /// rebuild its table a dozen times on the way.
    pub fn with_distinct_hint(members: usize) -> Self {
        Self {
            distinct_hint: members,
            ..Self::default()
        }
    }

    /// The index of group `key`, made empty if it is new.
    fn group_index(&mut self, kind: Aggregation, key: &str) -> usize {
        if self
            .groups
            .get_index(self.last)
            .is_some_and(|(last, _)| **last == *key)
        {
            return self.last;
        }
        let index = match self.groups.get_index_of(key) {
            Some(index) => index,
            None => {
                let agg = Aggregate::with_capacity(kind, self.distinct_hint);
                self.groups.insert_full(key.into(), Group::new(agg)).0
            }
        };
        self.last = index;
        index
    }

    /// Marks group `index` changed.
    fn mark_dirty(&mut self, index: usize) {
        if let Some((_, group)) = self.groups.get_index_mut(index)
            && !group.dirty
        {
            group.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Adds a contribution to group `key`; returns whether it was a member
    /// new to an exact distinct group (one more for the next checkpoint to
    /// write).
    pub fn add(
        &mut self,
        kind: Aggregation,
        key: &str,
        contribution: Contribution,
    ) -> Result<bool, Mismatch> {
        let index = self.group_index(kind, key);
        let Some((_, group)) = self.groups.get_index_mut(index) else {
            return Ok(false);
        };
        let changed = group.agg.add(contribution)?;
        if changed {
            self.mark_dirty(index);
        }
        Ok(changed && matches!(kind, Aggregation::Distinct))
    }

    /// Whether group `key` is an exact distinct set that holds the member
    /// hash `hash` (a cumulative window need not count it in a pane again).
    pub fn has_member(&self, key: &str, hash: u64) -> bool {
        let group = match self.groups.get_index(self.last) {
            Some((last, group)) if **last == *key => Some(group),
            _ => self.groups.get(key),
        };
        matches!(group, Some(Group { agg: Aggregate::Distinct(set), .. }) if set.contains_hash(hash))
    }

    /// Folds every group of `other` into this slot, marking them changed.
    pub fn merge(&mut self, kind: Aggregation, other: &Slot) {
        for (key, theirs) in &other.groups {
            let index = self.group_index(kind, key);
            if let Some((_, group)) = self.groups.get_index_mut(index) {
                group.agg.merge(&theirs.agg);
            }
            self.mark_dirty(index);
        }
    }

    /// Members per exact distinct group, on average (0 for other
    /// aggregations): the hint for the metric's next window.
    pub fn distinct_members_per_group(&self) -> usize {
        let (groups, members) = self
            .groups
            .values()
            .filter_map(|group| match &group.agg {
                Aggregate::Distinct(set) => Some(set.len() as usize),
                _ => None,
            })
            .fold((0, 0), |(groups, members), n| (groups + 1, members + n));
        members.checked_div(groups).unwrap_or(0)
    }

    /// Restores a group from a checkpoint (not marked changed).
    pub fn restore(&mut self, key: &str, agg: Aggregate) {
        self.groups.insert(key.into(), Group::new(agg));
    }

    /// Hands each changed group to `each` and marks it clean.
    pub fn drain_dirty(&mut self, mut each: impl FnMut(&str, &mut Group)) {
        for index in std::mem::take(&mut self.dirty) {
            if let Some((key, group)) = self.groups.get_index_mut(index) {
                group.dirty = false;
                each(key, group);
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

    /// Frees the member tables of its exact distinct groups (a closed step
    /// pane, merged into its whole window): they count nothing from now on
    /// and hand out no new members.
    pub fn release_members(&mut self) {
        for group in self.groups.values_mut() {
            if let Aggregate::Distinct(set) = &mut group.agg {
                *set = DistinctSet::new();
                set.track_new(false);
            }
        }
    }

    /// How many groups changed since the last checkpoint.
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }
}
