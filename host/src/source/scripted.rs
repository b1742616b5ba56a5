//! A partitioned source whose records and partition moves are given in
//! memory, in order: the loop's tests drive rebalances, fencing and rewinds
//! with it the way a Kafka consumer would, without a broker.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{Rebalance, Step};
use crate::contract::{Batch, RecordMeta, Span};
use crate::model::{LaneClaims, Position, SourceStats, partition_lane};

/// One thing that happens, in order.
pub enum ScriptStep {
    /// These records arrive, each `(partition, payload)`; a record gets the
    /// next offset of its partition.
    Records(Vec<(u32, Vec<u8>)>),
    /// These partitions are assigned (claimed through the store).
    Assign(Vec<u32>),
    /// These partitions are revoked.
    Revoke(Vec<u32>),
    /// Something else happens between two steps (another instance takes a
    /// partition, say).
    Run(Box<dyn FnOnce() + Send>),
    /// Time passes before the next step, which is played in the same call
    /// (a checkpoint being written has time to end first).
    Wait(std::time::Duration),
}

/// Records and partition moves from a script.
pub struct ScriptedSource {
    topic: String,
    steps: VecDeque<ScriptStep>,
    /// Every record delivered, per partition, in offset order (offset =
    /// index), so a rewind can deliver them again.
    log: BTreeMap<u32, Vec<Vec<u8>>>,
    /// Records to deliver again after a rewind or an assignment, before
    /// the next step.
    replay: VecDeque<(u32, u64)>,
    next: BTreeMap<String, u64>,
    claims: Arc<dyn LaneClaims>,
    stats: SourceStats,
}

impl ScriptedSource {
    /// A source of topic `topic` playing `steps`.
    pub fn new(topic: &str, steps: Vec<ScriptStep>, claims: Arc<dyn LaneClaims>) -> Self {
        Self {
            topic: topic.to_owned(),
            steps: steps.into(),
            log: BTreeMap::new(),
            replay: VecDeque::new(),
            next: BTreeMap::new(),
            claims,
            stats: SourceStats::default(),
        }
    }

    /// The next step; `None` once the script is played.
    pub fn next_step(&mut self) -> Option<Step> {
        let mut batch = Batch {
            sources: vec![self.topic.clone()],
            data: Vec::new(),
            records: Vec::new(),
        };
        if !self.replay.is_empty() {
            while let Some((partition, offset)) = self.replay.pop_front() {
                self.push(&mut batch, partition, offset);
            }
            return Some(step(batch, Vec::new()));
        }
        match self.steps.pop_front()? {
            ScriptStep::Records(records) => {
                for (partition, payload) in records {
                    let log = self.log.entry(partition).or_default();
                    log.push(payload);
                    let offset = log.len() as u64 - 1;
                    self.push(&mut batch, partition, offset);
                }
                Some(step(batch, Vec::new()))
            }
            ScriptStep::Assign(partitions) => {
                let mut taken = Vec::new();
                for partition in partitions {
                    let lane = partition_lane(&self.topic, partition);
                    let assignment = self.claims.claim(&lane);
                    self.rewind(&lane, assignment.start);
                    taken.push(assignment);
                }
                Some(step(batch, vec![Rebalance::Assigned(taken)]))
            }
            ScriptStep::Revoke(partitions) => {
                let lanes: Vec<String> = partitions
                    .iter()
                    .map(|p| partition_lane(&self.topic, *p))
                    .collect();
                for lane in &lanes {
                    self.next.remove(lane);
                }
                Some(step(batch, vec![Rebalance::Revoked(lanes)]))
            }
            ScriptStep::Run(action) => {
                action();
                Some(step(batch, Vec::new()))
            }
            ScriptStep::Wait(time) => {
                std::thread::sleep(time);
                self.next_step()
            }
        }
    }

    fn push(&mut self, batch: &mut Batch, partition: u32, offset: u64) {
        let Some(payload) = self
            .log
            .get(&partition)
            .and_then(|l| l.get(offset as usize))
        else {
            return;
        };
        batch.records.push(RecordMeta {
            payload: Span {
                start: batch.data.len() as u32,
                len: payload.len() as u32,
            },
            key: None,
            source: 0,
            partition,
            offset,
            timestamp_ms: None,
        });
        batch.data.extend_from_slice(payload);
        self.stats.records += 1;
        self.stats.bytes += payload.len() as u64;
        self.next
            .insert(partition_lane(&self.topic, partition), offset + 1);
    }

    /// Delivers `lane`'s records again from `offset` (its beginning if
    /// `None`) before the next step.
    pub fn rewind(&mut self, lane: &str, offset: Option<u64>) {
        let Some(partition) = lane
            .rsplit_once('/')
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            return;
        };
        let start = offset.unwrap_or(0);
        self.replay.retain(|(p, _)| *p != partition);
        let end = self.log.get(&partition).map_or(0, |l| l.len() as u64);
        self.replay.extend((start..end).map(|o| (partition, o)));
        self.next.insert(lane.to_owned(), start);
    }

    /// Remembers a parked lane's token with the claims.
    pub fn park(&self, lane: &str, token: u64) {
        self.claims.park(lane, token);
    }

    /// Where each partition read resumes.
    pub fn positions(&self) -> Vec<(String, Position)> {
        self.next
            .iter()
            .map(|(lane, &offset)| {
                (
                    lane.clone(),
                    Position {
                        identity: format!("scripted:{lane}"),
                        head_len: 0,
                        head_hash: 0,
                        offset,
                        line: 0,
                    },
                )
            })
            .collect()
    }

    /// Source counters.
    pub fn stats(&self) -> SourceStats {
        self.stats
    }
}

fn step(batch: Batch, rebalances: Vec<Rebalance>) -> Step {
    Step {
        batch,
        rebalances,
        lines: Vec::new(),
    }
}
