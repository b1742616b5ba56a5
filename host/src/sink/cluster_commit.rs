//! A checkpoint on a Redis Cluster: each lane's part built as on one Redis
//! ([`super::commit`]), split by slot ([`super::outbox`]) and written in
//! the three steps of [`super::apply`]. Lanes are written one after the
//! other, each on its own (a lane's state and position are one script);
//! a lane another instance took is skipped and reported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::apply::{self, FenceHold, LaneOutcome};
use super::commit;
use super::conn::RedisConn;
use super::keys::CheckpointKeys;
use super::outbox::{self, Apply, Op, Unit};
use super::output::OutputSettings;
use crate::checkpoint::{CommitSize, Fence, LaneCommit, StoreError};

/// One lane's part of a cluster checkpoint.
pub struct LaneWrite {
    lane: String,
    keys: CheckpointKeys,
    fence: Option<Fence>,
    /// The units, as written to the outbox.
    outbox: Vec<Vec<u8>>,
    units: Vec<Arc<Unit>>,
    state: Vec<Op>,
}

/// A checkpoint of every lane, ready for a Redis Cluster.
pub struct ClusterCheckpoint {
    lanes: Vec<LaneWrite>,
}

/// Builds the checkpoint of `lanes`; `lane_keys` names each lane's keys.
pub fn prepare(
    settings: &OutputSettings,
    lanes: &[LaneCommit],
    fences: &[Fence],
    lane_keys: impl Fn(&str) -> CheckpointKeys,
) -> (ClusterCheckpoint, CommitSize) {
    let mut size = CommitSize::default();
    let mut writes = Vec::new();
    for lane in lanes {
        let keys = lane_keys(&lane.lane);
        let (pipe, lane_size) =
            commit::build(settings, std::slice::from_ref(lane), |_| keys.clone());
        size.output_fields += lane_size.output_fields;
        size.state_groups += lane_size.state_groups;
        size.member_bytes += lane_size.member_bytes;
        size.closed_slots += lane_size.closed_slots;
        let split = outbox::split(&pipe, keys.lane_tag());
        writes.push(LaneWrite {
            lane: lane.lane.clone(),
            fence: fences.iter().find(|f| f.lane == lane.lane).cloned(),
            outbox: split.units.iter().map(outbox::encode).collect(),
            units: split.units.into_iter().map(Arc::new).collect(),
            state: split.state,
            keys,
        });
    }
    (ClusterCheckpoint { lanes: writes }, size)
}

/// The last sequence number of each lane without a fence (an
/// unpartitioned source's), shared by every handle on the store: read from
/// Redis the first time, moved on only when a whole checkpoint is written,
/// so a retried checkpoint finds its lanes already written.
pub type UnfencedSeqs = Arc<Mutex<HashMap<String, u64>>>;

/// Writes `checkpoint`.
pub async fn send(
    conn: &mut RedisConn,
    checkpoint: &ClusterCheckpoint,
    seqs: &UnfencedSeqs,
) -> Result<(), StoreError> {
    let mut lost = Vec::new();
    let mut advanced = Vec::new();
    for lane in &checkpoint.lanes {
        let before = match &lane.fence {
            Some(fence) => fence.seq,
            None => {
                let known = seqs
                    .lock()
                    .ok()
                    .and_then(|seqs| seqs.get(&lane.lane).copied());
                match known {
                    Some(seq) => seq,
                    None => {
                        let seq = super::restore::commit_seq(conn, &lane.keys).await?;
                        if let Ok(mut seqs) = seqs.lock() {
                            seqs.insert(lane.lane.clone(), seq);
                        }
                        seq
                    }
                }
            }
        };
        let fence_key = lane.keys.fence(&lane.lane);
        let hold = lane.fence.as_ref().map(|fence| FenceHold {
            key: &fence_key,
            token: fence.token,
        });
        let outcome =
            apply::write_lane(conn, &lane.keys, hold, before, &lane.outbox, &lane.state).await?;
        match outcome {
            LaneOutcome::Written => {}
            LaneOutcome::AlreadyWritten => {
                tracing::info!(lane = %lane.lane, "lane checkpoint had been written by an earlier attempt");
            }
            LaneOutcome::Fenced => {
                lost.push(lane.lane.clone());
                continue;
            }
            LaneOutcome::Moved => {
                tracing::error!(lane = %lane.lane, expected = before, "checkpoint sequence moved under a held token");
                lost.push(lane.lane.clone());
                continue;
            }
        }
        let seq = before + 1;
        apply_units(conn, lane, seq).await?;
        if !lane.units.is_empty() {
            apply::clear_outbox(conn, &lane.keys, seq).await?;
        }
        if lane.fence.is_none() {
            advanced.push((lane.lane.clone(), seq));
        }
    }
    if let Ok(mut seqs) = seqs.lock() {
        seqs.extend(advanced);
    }
    if lost.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Fenced(lost))
    }
}

/// Step 2 for every unit of `lane`: the slots' writes at once (they are
/// in different slots and independent, so they go out together over the
/// multiplexed connection instead of one round trip after the other),
/// then the alert checks, which read what they wrote.
async fn apply_units(conn: &RedisConn, lane: &LaneWrite, seq: u64) -> Result<(), StoreError> {
    let (checks, writes): (Vec<_>, Vec<_>) = lane
        .units
        .iter()
        .partition(|unit| unit.apply == Apply::AfterUnits);
    let mut tasks = tokio::task::JoinSet::new();
    for unit in writes {
        let mut conn = conn.clone();
        let keys = lane.keys.clone();
        let unit = unit.clone();
        let name = lane.lane.clone();
        tasks.spawn(async move { apply::apply_unit(&mut conn, &keys, &unit, &name, seq).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|error| {
            StoreError::Unavailable(format!("a checkpoint write failed: {error}"))
        })??;
    }
    let mut conn = conn.clone();
    for unit in checks {
        apply::apply_unit(&mut conn, &lane.keys, unit, &lane.lane, seq).await?;
    }
    Ok(())
}
