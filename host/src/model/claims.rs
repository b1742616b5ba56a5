//! Claiming partitions: the interface a partitioned source uses to take a
//! lane when the broker assigns its partition, without knowing where
//! checkpoints live.

/// One partition taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The lane (`topic/partition`).
    pub lane: String,
    /// The ownership token taken: checkpoints of the lane are written only
    /// while the store still holds it.
    pub token: u64,
    /// Whether the state this instance still holds for it (parked after a
    /// flushed revoke) is current: nobody took the partition in between.
    pub kept: bool,
    /// The checkpointed offset it starts at (`None`: its beginning).
    pub start: Option<u64>,
}

/// Takes lanes for an instance. Called from the broker client's rebalance
/// callback, so it is synchronous; an implementation that cannot reach its
/// store retries until it can (owning a partition without its fence and
/// position would be unsafe, and nothing else can happen meanwhile).
pub trait LaneClaims: Send + Sync {
    /// Takes `lane`: a new token (or the parked one, if nobody took the lane
    /// since it was parked) and the offset its last checkpoint recorded.
    fn claim(&self, lane: &str) -> Assignment;

    /// Remembers that a revoked lane was flushed under `token` and its state
    /// is kept in memory, in case the partition comes straight back.
    fn park(&self, lane: &str, token: u64);

    /// Forgets every parked lane: those not given back in an assignment
    /// are someone else's now.
    fn clear_parked(&self);
}
