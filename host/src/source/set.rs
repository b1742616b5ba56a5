//! The sources of one pipeline, read side by side: `[source]`, or every
//! `[sources.<name>]` table.
//!
//! The set takes its members in turn, one step each, so a busy source
//! cannot starve a quiet one: every source's step is bounded (a followed
//! file waits one poll interval, stdin and Kafka a short wait), and a batch
//! is always from one source, which the pipeline is told (its index, the
//! "origin"). A finite source that ends leaves the others running; the set
//! ends when the last one does, so a followed file or a Kafka source keeps
//! the pipeline running.
//!
//! Sources name their lanes on their own (`0`, `topic/partition`); the set
//! names them as the pipeline does ([`SourceLanes`]: `<source>`,
//! `<source>/topic/partition` for named sources) on the way out, and back
//! on the way in (rewinds, parked partitions, offsets to commit).

use std::sync::Arc;

use super::{Rebalance, Source, SourceError, Step};
use crate::model::{Assignment, LaneClaims, Position, SourceLanes, SourceStats};

/// What the set hands out next.
pub enum SourceEvent {
    /// A step of source `origin` (its index in the set).
    Step {
        /// Which source it is from.
        origin: usize,
        /// Its records and rebalances, lanes named as the pipeline names
        /// them.
        step: Step,
    },
    /// Source `origin` reached the end of its input; others go on.
    Ended {
        /// Which source ended.
        origin: usize,
    },
}

/// One source of the set.
struct Member {
    lanes: SourceLanes,
    source: Source,
    live: bool,
}

/// Every source of a pipeline.
pub struct SourceSet {
    members: Vec<Member>,
    /// The member whose turn is next.
    next: usize,
}

impl SourceSet {
    /// The sources, each with how its lanes are named, in origin order.
    pub fn new(members: Vec<(SourceLanes, Source)>) -> Self {
        Self {
            members: members
                .into_iter()
                .map(|(lanes, source)| Member {
                    lanes,
                    source,
                    live: true,
                })
                .collect(),
            next: 0,
        }
    }

    /// The next step of the next source still running; `None` once every
    /// source has ended. The end of a source other than the last is an
    /// event of its own ([`SourceEvent::Ended`]).
    pub async fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        let count = self.members.len();
        let Some(origin) = (0..count)
            .map(|i| (self.next + i) % count)
            .find(|&i| self.members[i].live)
        else {
            return Ok(None);
        };
        self.next = (origin + 1) % count;
        let member = &mut self.members[origin];
        match member.source.next_step().await? {
            Some(mut step) => {
                for rebalance in &mut step.rebalances {
                    name_lanes(&member.lanes, rebalance);
                }
                Ok(Some(SourceEvent::Step { origin, step }))
            }
            None => {
                member.live = false;
                let name = member.lanes.name().to_owned();
                if self.members.iter().any(|m| m.live) {
                    tracing::info!(source = name, "source ended; the others go on");
                    Ok(Some(SourceEvent::Ended { origin }))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Whether the pipeline reads one file and nothing else (its byte
    /// offset then measures the progress of a bounded run).
    pub fn is_single_file(&self) -> bool {
        matches!(self.members.as_slice(), [member] if matches!(member.source, Source::File(_)))
    }

    /// Where source `origin` resumes, by lane (as the pipeline names it).
    pub fn positions(&self, origin: usize) -> Vec<(String, Position)> {
        let Some(member) = self.members.get(origin) else {
            return Vec::new();
        };
        member
            .source
            .positions()
            .into_iter()
            .map(|(lane, position)| (member.lanes.global(&lane), position))
            .collect()
    }

    /// The member that owns `lane`, with the lane as it names it.
    fn owner<'a>(&mut self, lane: &'a str) -> Option<(&mut Member, &'a str)> {
        self.members
            .iter_mut()
            .find_map(|member| Some((member.lanes.local(lane)?, member)))
            .map(|(local, member)| (member, local))
    }

    /// See [`Source::park`].
    pub fn park(&mut self, lane: &str, token: u64) {
        if let Some((member, local)) = self.owner(lane) {
            member.source.park(local, token);
        }
    }

    /// See [`Source::rewind`].
    pub fn rewind(&mut self, lane: &str, offset: Option<u64>) {
        if let Some((member, local)) = self.owner(lane) {
            member.source.rewind(local, offset);
        }
    }

    /// See [`Source::commit_offsets`]: each source gets its own lanes'.
    pub fn commit_offsets(&self, offsets: &[(String, u64)]) {
        for member in &self.members {
            let own: Vec<(String, u64)> = offsets
                .iter()
                .filter_map(|(lane, offset)| Some((member.lanes.local(lane)?.to_owned(), *offset)))
                .collect();
            if !own.is_empty() {
                member.source.commit_offsets(&own);
            }
        }
    }

    /// Counters of every source, added up.
    pub fn stats(&self) -> SourceStats {
        let mut total = SourceStats::default();
        for member in &self.members {
            total.add(&member.source.stats());
        }
        total
    }

    /// Counters of each source, by name.
    pub fn stats_by_source(&self) -> Vec<(String, SourceStats)> {
        self.members
            .iter()
            .map(|member| (member.lanes.name().to_owned(), member.source.stats()))
            .collect()
    }
}

/// Renames a rebalance's lanes from the source's names to the pipeline's.
fn name_lanes(lanes: &SourceLanes, rebalance: &mut Rebalance) {
    match rebalance {
        Rebalance::Assigned(taken) => {
            for assignment in taken {
                assignment.lane = lanes.global(&assignment.lane);
            }
        }
        Rebalance::Revoked(names) | Rebalance::Lost(names) => {
            for name in names {
                *name = lanes.global(name);
            }
        }
    }
}

/// Claims for a source that names its lanes without its prefix: each lane
/// is claimed (fenced, parked) under the pipeline's name for it, and handed
/// back under the source's.
pub fn source_claims(inner: Arc<dyn LaneClaims>, lanes: SourceLanes) -> Arc<dyn LaneClaims> {
    if !lanes.is_prefixed() {
        return inner;
    }
    Arc::new(PrefixedClaims { inner, lanes })
}

/// See [`source_claims`].
struct PrefixedClaims {
    inner: Arc<dyn LaneClaims>,
    lanes: SourceLanes,
}

impl LaneClaims for PrefixedClaims {
    fn claim(&self, lane: &str) -> Assignment {
        let mut assignment = self.inner.claim(&self.lanes.global(lane));
        assignment.lane = lane.to_owned();
        assignment
    }

    fn park(&self, lane: &str, token: u64) {
        self.inner.park(&self.lanes.global(lane), token);
    }

    fn clear_parked(&self) {
        self.inner.clear_parked();
    }
}
