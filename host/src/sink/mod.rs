//! Redis: where results and checkpoints live ([`RedisStore`], the
//! production [`CheckpointStore`]).

pub mod alerts;
pub mod claims;
pub mod commit;
pub mod connection;
mod discard;
pub mod keys;
pub mod merge;
pub mod merge_exact;
pub mod output;
pub mod rank;
pub mod restore;
pub mod scan;

use std::sync::Arc;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;

pub use claims::RedisClaims;
pub use connection::{ConnectError, RedisTarget};
pub use keys::CheckpointKeys;
pub use output::OutputSettings;

use crate::checkpoint::fence::{FenceCheck, check_fences};
use crate::checkpoint::{CheckpointStore, CommitSize, Fence, LaneCommit, Prepared, StoreError};
use crate::model::{LaneClaims, Position, RuleSpec};
use crate::state::RuleState;

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        Self::Unavailable(format!("redis: {error}"))
    }
}

impl From<connection::ConnectError> for StoreError {
    fn from(error: connection::ConnectError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A pipeline's checkpoints and output in one Redis primary.
pub struct RedisStore {
    target: RedisTarget,
    conn: MultiplexedConnection,
    keys: CheckpointKeys,
    /// Whether lanes are partitions checkpointed under their own keys and
    /// merged (Kafka); otherwise the one lane uses the pipeline's keys.
    partitioned: bool,
    settings: OutputSettings,
}

impl RedisStore {
    /// Connects to `target`; checkpoints go under `weir:ckpt:<namespace>`.
    /// The error says whether retrying can help
    /// ([`ConnectError::is_permanent`]).
    pub async fn connect(
        target: &RedisTarget,
        namespace: &str,
        settings: OutputSettings,
        partitioned: bool,
    ) -> Result<Self, ConnectError> {
        let conn = target.connect().await?;
        Ok(Self {
            target: target.clone(),
            conn,
            keys: CheckpointKeys::new(namespace),
            partitioned,
            settings,
        })
    }

    /// The checkpoint key names.
    pub fn keys(&self) -> &CheckpointKeys {
        &self.keys
    }

    /// The checkpoint keys of a lane.
    pub fn lane_keys(&self, lane: &str) -> CheckpointKeys {
        if self.partitioned {
            self.keys.lane(lane)
        } else {
            self.keys.clone()
        }
    }
}

#[async_trait]
impl CheckpointStore for RedisStore {
    const NAME: &'static str = "Redis";
    type Body = redis::Pipeline;

    fn prepare(&self, lanes: &[LaneCommit<'_>], fences: Vec<Fence>) -> Prepared<redis::Pipeline> {
        let (mut pipe, size) = commit::build(&self.settings, lanes, |lane| self.lane_keys(lane));
        for fence in &fences {
            pipe.set(self.keys.lane(&fence.lane).commit_seq(), fence.seq + 1)
                .ignore();
        }
        Prepared {
            body: pipe,
            fences,
            size,
        }
    }

    /// Every lane, or nothing if one of its fences is no longer held. The
    /// tokens are checked under WATCH, so a partition taken over between
    /// the check and the write aborts the write too. If the lanes' sequence
    /// numbers show the checkpoint was written (an earlier attempt went
    /// through but its reply was lost), it is not applied twice.
    async fn send(
        &mut self,
        prepared: &Prepared<redis::Pipeline>,
    ) -> Result<CommitSize, StoreError> {
        let fences = &prepared.fences;
        if fences.is_empty() {
            let () = prepared.body.query_async(&mut self.conn).await?;
            return Ok(prepared.size);
        }
        let mut watched: Vec<String> = fences.iter().map(|f| self.keys.fence(&f.lane)).collect();
        watched.extend(fences.iter().map(|f| self.keys.lane(&f.lane).commit_seq()));
        loop {
            let () = redis::cmd("WATCH")
                .arg(&watched)
                .query_async(&mut self.conn)
                .await?;
            let held: Vec<Option<u64>> = redis::cmd("MGET")
                .arg(&watched)
                .query_async(&mut self.conn)
                .await?;
            let (tokens, seqs) = held.split_at(fences.len());
            match check_fences(fences, tokens, seqs) {
                FenceCheck::Write => {}
                outcome => {
                    let () = redis::cmd("UNWATCH").query_async(&mut self.conn).await?;
                    return match outcome {
                        FenceCheck::Fenced(lost) => Err(StoreError::Fenced(lost)),
                        _ => {
                            tracing::info!("checkpoint had been written by an earlier attempt");
                            Ok(prepared.size)
                        }
                    };
                }
            }
            let reply: redis::Value = prepared.body.query_async(&mut self.conn).await?;
            if !matches!(reply, redis::Value::Nil) {
                return Ok(prepared.size);
            }
            // A token changed between the check and EXEC: check again.
        }
    }

    async fn open_another(&self) -> Result<Self, StoreError> {
        let conn = self.target.connect().await?;
        Ok(Self {
            target: self.target.clone(),
            conn,
            keys: self.keys.clone(),
            partitioned: self.partitioned,
            settings: self.settings.clone(),
        })
    }

    /// A restarted Redis does not answer on the old connection.
    async fn reconnect(&mut self) -> Result<(), StoreError> {
        self.conn = self.target.connect().await?;
        Ok(())
    }

    async fn restore_rule(
        &mut self,
        lane: &str,
        spec: &RuleSpec,
        lateness_ms: i64,
        state: &mut RuleState,
    ) -> Result<usize, StoreError> {
        let keys = self.lane_keys(lane);
        restore::rule_state(&mut self.conn, &keys, lane, spec, lateness_ms, state).await
    }

    async fn position(&mut self, lane: &str) -> Result<Option<Position>, StoreError> {
        let keys = self.lane_keys(lane);
        restore::position(&mut self.conn, &keys, lane).await
    }

    async fn commit_seq(&mut self, lane: &str) -> Result<u64, StoreError> {
        if !self.partitioned {
            return Ok(0);
        }
        let keys = self.lane_keys(lane);
        restore::commit_seq(&mut self.conn, &keys).await
    }

    async fn forget_rule(&mut self, lane: &str, rule: &str) -> Result<(), StoreError> {
        let keys = self.lane_keys(lane);
        let () = redis::pipe()
            .atomic()
            .del(keys.rule(rule))
            .ignore()
            .del(keys.slots(rule))
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn discard_lane(&mut self, lane: &str) -> Result<u64, StoreError> {
        let keys = self.lane_keys(lane);
        discard::lane_checkpoint(&mut self.conn, &keys).await
    }

    fn claims(&self) -> Arc<dyn LaneClaims> {
        Arc::new(RedisClaims::new(self.target.clone(), self.keys.clone()))
    }
}
