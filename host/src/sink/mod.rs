//! Redis: where results and checkpoints live ([`RedisStore`], the
//! production [`CheckpointStore`]).

pub mod alerts;
pub mod apply;
pub mod claims;
pub mod cluster_commit;
pub mod commit;
pub mod conn;
pub mod connection;
mod discard;
pub mod keys;
pub mod merge;
pub mod merge_exact;
pub mod outbox;
pub mod output;
pub mod pseudo;
pub mod rank;
pub mod restore;
pub mod scan;
pub mod slot;

use std::sync::Arc;

use async_trait::async_trait;

pub use claims::RedisClaims;
pub use conn::RedisConn;
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

/// A pipeline's checkpoints and output in one Redis primary or a Redis
/// Cluster.
pub struct RedisStore {
    target: RedisTarget,
    conn: RedisConn,
    keys: CheckpointKeys,
    /// On a cluster: the last sequence number of each unfenced lane,
    /// shared with the handles [`CheckpointStore::open_another`] opens.
    seqs: cluster_commit::UnfencedSeqs,
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
            keys: CheckpointKeys::for_target(namespace, target.is_cluster()),
            seqs: Arc::default(),
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

    /// Writes `prepared`: on a cluster lane by lane
    /// ([`cluster_commit::send`]); on one Redis in one MULTI/EXEC under
    /// WATCH of the fences, checked again if a token moved before EXEC.
    async fn write(&mut self, prepared: &Prepared<RedisBody>) -> Result<(), StoreError> {
        let body = match &prepared.body {
            RedisBody::Single(body) => body,
            RedisBody::Cluster(body) => {
                return cluster_commit::send(&mut self.conn, body, &self.seqs).await;
            }
        };
        let fences = &prepared.fences;
        if fences.is_empty() {
            let () = body.query_async(&mut self.conn).await?;
            return Ok(());
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
                            Ok(())
                        }
                    };
                }
            }
            let reply: redis::Value = body.query_async(&mut self.conn).await?;
            if !matches!(reply, redis::Value::Nil) {
                return Ok(());
            }
            // A token changed between the check and EXEC: check again.
        }
    }

    /// After a checkpoint, waits until `[redis] wait_replicas` replicas of
    /// every master written have it (`WAIT`; on a cluster the client asks
    /// every master and keeps the smallest answer). Fewer in time is
    /// logged, not an error: the checkpoint is written, and a later one
    /// carries it to the replicas too.
    async fn wait_for_replicas(&mut self) {
        let wait = self.target.replica_wait();
        if wait.replicas == 0 {
            return;
        }
        let reached: Result<i64, _> = redis::cmd("WAIT")
            .arg(wait.replicas)
            .arg(wait.timeout_ms)
            .query_async(&mut self.conn)
            .await;
        match reached {
            Ok(n) if n >= i64::from(wait.replicas) => {}
            Ok(n) => tracing::warn!(
                replicas = n,
                wanted = wait.replicas,
                timeout_ms = wait.timeout_ms,
                "a checkpoint reached fewer replicas than [redis] wait_replicas in time; \
                 a failover now could lose it"
            ),
            Err(error) => tracing::warn!(%error, "cannot wait for replicas after a checkpoint"),
        }
    }
}

/// A checkpoint as the store sends it.
pub enum RedisBody {
    /// One MULTI/EXEC on one Redis.
    Single(redis::Pipeline),
    /// Per-slot scripts on a Redis Cluster.
    Cluster(cluster_commit::ClusterCheckpoint),
}

#[async_trait]
impl CheckpointStore for RedisStore {
    const NAME: &'static str = "Redis";
    type Body = RedisBody;

    fn prepare(&self, lanes: &[LaneCommit], fences: Vec<Fence>) -> Prepared<RedisBody> {
        if self.keys.is_cluster() {
            let (body, size) = cluster_commit::prepare(&self.settings, lanes, &fences, |lane| {
                self.lane_keys(lane)
            });
            return Prepared {
                body: RedisBody::Cluster(body),
                fences,
                size,
            };
        }
        let (mut pipe, size) = commit::build(&self.settings, lanes, |lane| self.lane_keys(lane));
        for fence in &fences {
            pipe.set(self.keys.lane(&fence.lane).commit_seq(), fence.seq + 1)
                .ignore();
        }
        Prepared {
            body: RedisBody::Single(pipe),
            fences,
            size,
        }
    }

    /// Every lane, or nothing if one of its fences is no longer held. The
    /// tokens are checked under WATCH, so a partition taken over between
    /// the check and the write aborts the write too. If the lanes' sequence
    /// numbers show the checkpoint was written (an earlier attempt went
    /// through but its reply was lost), it is not applied twice. On a
    /// cluster, each lane is written on its own ([`cluster_commit::send`]).
    async fn send(&mut self, prepared: &Prepared<RedisBody>) -> Result<CommitSize, StoreError> {
        self.write(prepared).await?;
        self.wait_for_replicas().await;
        Ok(prepared.size)
    }

    async fn open_another(&self) -> Result<Self, StoreError> {
        let conn = self.target.connect().await?;
        Ok(Self {
            target: self.target.clone(),
            conn,
            keys: self.keys.clone(),
            seqs: self.seqs.clone(),
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

    /// On a cluster, first finishes the lane's last checkpoint if its
    /// writer stopped half-way (see [`apply::replay_outbox`]).
    async fn position(&mut self, lane: &str) -> Result<Option<Position>, StoreError> {
        let keys = self.lane_keys(lane);
        if self.keys.is_cluster() {
            let replayed = apply::replay_outbox(&mut self.conn, &keys, lane).await?;
            if replayed > 0 {
                tracing::info!(
                    lane,
                    units = replayed,
                    "finished the lane's last checkpoint from its outbox"
                );
            }
        }
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
        // One transaction: the keys share the lane's slot on a cluster.
        let _: () = redis::pipe()
            .atomic()
            .del(&[keys.rule(rule), keys.slots(rule)])
            .ignore()
            .srem(keys.rule_names(), rule)
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn discard_lane(&mut self, lane: &str) -> Result<u64, StoreError> {
        let keys = self.lane_keys(lane);
        if let Ok(mut seqs) = self.seqs.lock() {
            seqs.remove(lane);
        }
        discard::lane_checkpoint(&mut self.conn, &keys).await
    }

    fn claims(&self) -> Arc<dyn LaneClaims> {
        Arc::new(RedisClaims::new(self.target.clone(), self.keys.clone()))
    }
}
