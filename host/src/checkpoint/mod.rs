//! Checkpoints: what one holds and the store that keeps them.
//!
//! A checkpoint records, for every lane, the output values that changed,
//! the window state and counters of every rule, and the source position,
//! all or nothing. [`CheckpointStore`] is that boundary: Redis in
//! production (`RedisStore`, in the sink module), [`MemoryStore`] for tests and
//! runs without Redis. Both keep the same layout of raw checkpoint data
//! and restore it through the same code ([`restore`]).

pub mod fence;
pub mod layout;
pub mod memory;
pub mod restore;

use std::sync::Arc;

use async_trait::async_trait;

pub use fence::Fence;
pub use memory::MemoryStore;

use crate::model::{
    Alignment, DeadLetter, LaneClaims, MetricSpec, Position, RuleSpec, RuleStats, WindowSpec,
};
use crate::state::windows::SlotChange;
use crate::state::{MetricChanges, RuleState};
use crate::window::Watermark;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store refused or could not be reached; the checkpoint did not
    /// happen (it is retried).
    #[error("{0}")]
    Unavailable(String),
    /// A checkpoint value could not be read back.
    #[error("checkpoint data is damaged: {0}")]
    Corrupt(String),
    /// Another instance took these lanes (partitions) since this one did:
    /// nothing was written, and this instance must drop them.
    #[error("partitions taken over by another instance: {}", .0.join(", "))]
    Fenced(Vec<String>),
}

/// Counts of what a checkpoint wrote, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitSize {
    /// Output fields written.
    pub output_fields: usize,
    /// Checkpoint groups written.
    pub state_groups: usize,
    /// Member hash bytes appended.
    pub member_bytes: usize,
    /// Slots closed.
    pub closed_slots: usize,
}

/// One rule's part of a checkpoint.
///
/// It owns what it holds (the manifest and state it needs are copied), so
/// a periodic checkpoint is turned into the store's commands on another
/// thread while the pipeline goes on changing the state.
pub struct RuleCommit {
    /// The rule's manifest.
    pub spec: Arc<RuleSpec>,
    /// Names the loaded version.
    pub version_hash: String,
    /// When this version was loaded, Unix milliseconds.
    pub loaded_at_ms: u64,
    /// Remaining quarantine, in milliseconds (0 = not quarantined).
    pub quarantined_for_ms: u64,
    /// Its state after the changes were drained (watermark, counters).
    pub state: StateView,
    /// The last error loading a new version, while the old one runs.
    pub last_load_error: Option<String>,
    /// The last reload and what it reset, for `weir status`.
    pub last_reload: Option<String>,
    /// New versions of the rule swapped in by this process (`/metrics`).
    pub reloads: u64,
    /// Files of the rule this process failed to load (`/metrics`).
    pub load_errors: u64,
    /// What changed since the previous checkpoint.
    pub changes: Vec<MetricChanges>,
    /// Records the rule failed on since the previous checkpoint.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether to (re)write the rule's metric catalog.
    pub write_catalog: bool,
}

/// What a checkpoint records of a rule's state besides its changes.
#[derive(Debug, Clone)]
pub struct StateView {
    /// The rule's watermark.
    pub watermark: Watermark,
    /// Counters.
    pub stats: RuleStats,
    /// Where its windows start.
    pub alignment: Alignment,
    /// The shape of each metric's windows, in manifest order.
    pub windows: Vec<Vec<WindowSpec>>,
}

impl StateView {
    /// What a checkpoint records of `state`.
    pub fn of(state: &RuleState) -> Self {
        Self {
            watermark: state.watermark,
            stats: state.stats,
            alignment: state.alignment(),
            windows: state
                .metrics
                .iter()
                .map(|metric| metric.windows.iter().map(|w| w.spec()).collect())
                .collect(),
        }
    }
}

impl RuleCommit {
    /// What changed, per metric window: the metric, the window's shape and
    /// its changed slots (changes naming no metric or window are skipped).
    pub fn changed_windows(
        &self,
    ) -> impl Iterator<Item = (&MetricSpec, WindowSpec, &[SlotChange])> {
        self.changes.iter().filter_map(|changes| {
            let metric = self.spec.metrics.get(changes.metric)?;
            let spec = self
                .state
                .windows
                .get(changes.metric)?
                .get(changes.window)?;
            Some((metric, *spec, changes.slots.as_slice()))
        })
    }
}

/// One lane's part of a checkpoint: its rules' state and its position.
pub struct LaneCommit {
    /// The lane.
    pub lane: String,
    /// Whether its output values are partials, merged with the other
    /// lanes' (a partition of a partitioned source).
    pub merged: bool,
    /// Source positions to record (field, position).
    pub positions: Vec<(String, Position)>,
    /// Each rule's state in this lane.
    pub rules: Vec<RuleCommit>,
}

/// One checkpoint, built once and sent (again, if need be) with
/// [`CheckpointStore::send`].
pub struct Prepared<B> {
    /// The store's own form of it.
    pub body: B,
    /// The lanes it writes under a fence, with the sequence numbers they
    /// had before it.
    pub fences: Vec<Fence>,
    /// What it writes.
    pub size: CommitSize,
}

/// Where checkpoints are kept.
///
/// A store addresses lanes by name; how a lane maps onto keys is its own
/// business. Writes are all or nothing, fenced: lanes named in a
/// [`Prepared`]'s fences are written only while their tokens are held, and
/// only once (a checkpoint sent again after a lost reply is not applied
/// twice).
#[async_trait]
pub trait CheckpointStore: Send + Sized + 'static {
    /// A prepared checkpoint, in the store's own form.
    type Body: Send + Sync + 'static;

    /// What the store is, for operators' logs ("Redis").
    const NAME: &'static str;

    /// Builds one checkpoint of `lanes`.
    fn prepare(&self, lanes: &[LaneCommit], fences: Vec<Fence>) -> Prepared<Self::Body>;

    /// Writes a prepared checkpoint, all or nothing; [`StoreError::Fenced`]
    /// names the lanes another instance took.
    async fn send(&mut self, prepared: &Prepared<Self::Body>) -> Result<CommitSize, StoreError>;

    /// A second handle on the same store, for a checkpoint written in the
    /// background while the first one restores and reads.
    async fn open_another(&self) -> Result<Self, StoreError>;

    /// Reconnects after a failure.
    async fn reconnect(&mut self) -> Result<(), StoreError>;

    /// Restores a rule's watermark, counters and open windows in `lane`
    /// into `state`; returns how many groups were restored.
    async fn restore_rule(
        &mut self,
        lane: &str,
        spec: &RuleSpec,
        lateness_ms: i64,
        state: &mut RuleState,
    ) -> Result<usize, StoreError>;

    /// The source position checkpointed for `lane`.
    async fn position(&mut self, lane: &str) -> Result<Option<Position>, StoreError>;

    /// A lane's checkpoint sequence number (0 before its first).
    async fn commit_seq(&mut self, lane: &str) -> Result<u64, StoreError>;

    /// Drops a removed rule's checkpoint bookkeeping in `lane` (its windows
    /// were flushed and their state deleted by the last checkpoint).
    async fn forget_rule(&mut self, lane: &str, rule: &str) -> Result<(), StoreError>;

    /// Deletes `lane`'s whole checkpoint (source position, every rule's
    /// watermark, counters and open windows), so the lane starts empty;
    /// returns how many entries (keys) it held, 0 if none. Published output
    /// is left alone. Only for a lane no other instance can hold: an
    /// unpartitioned source's.
    async fn discard_lane(&mut self, lane: &str) -> Result<u64, StoreError>;

    /// Claims lanes against this store's fences (for a partitioned source).
    fn claims(&self) -> Arc<dyn LaneClaims>;
}
