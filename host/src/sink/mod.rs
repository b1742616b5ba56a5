//! Redis: where results and checkpoints live.

pub mod commit;
pub mod keys;
pub mod merge;
pub mod restore;

use redis::aio::MultiplexedConnection;

pub use commit::{CommitSize, LaneCommit, OutputSettings, RuleCommit};
pub use keys::CheckpointKeys;

/// A Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused or the connection failed; the checkpoint did not happen.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A checkpoint value could not be read back.
    #[error("checkpoint data is damaged: {0}")]
    Corrupt(String),
    /// Another instance took these lanes (partitions) since this one did:
    /// nothing was written, and this instance must drop them.
    #[error("partitions taken over by another instance: {}", .0.join(", "))]
    Fenced(Vec<String>),
}

/// How long one Redis command (a whole checkpoint transaction) may take.
/// A large checkpoint can take Redis a second or more; redis-rs's default
/// (500 ms) would give up on it while Redis still executes it, and retry
/// forever. A Redis that is down fails fast with a connection error anyway.
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

async fn open(client: &redis::Client) -> Result<MultiplexedConnection, redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A lane's ownership token, as taken when its partition was assigned, and
/// the sequence number of its last checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lane.
    pub lane: String,
    /// The token taken.
    pub token: u64,
    /// The lane's last commit sequence number in Redis; a checkpoint writes
    /// the next one.
    pub seq: u64,
}

/// One checkpoint, built once and sent (again, if need be) with
/// [`RedisStore::send`].
pub struct PreparedCommit {
    pipe: redis::Pipeline,
    size: CommitSize,
    fences: Vec<Fence>,
}

impl PreparedCommit {
    /// The lanes it writes under a fence, with the sequence numbers they
    /// had before it.
    pub fn fences(&self) -> &[Fence] {
        &self.fences
    }
}

/// The Redis connection a pipeline checkpoints through.
pub struct RedisStore {
    client: redis::Client,
    conn: MultiplexedConnection,
    keys: CheckpointKeys,
    /// Output settings.
    pub settings: OutputSettings,
}

impl RedisStore {
    /// Connects to `url`.
    pub async fn connect(
        url: &str,
        namespace: &str,
        settings: OutputSettings,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = open(&client).await?;
        Ok(Self {
            client,
            conn,
            keys: CheckpointKeys::new(namespace),
            settings,
        })
    }

    /// Opens a new connection after a failure (a restarted Redis does not
    /// answer on the old one).
    pub async fn reconnect(&mut self) -> Result<(), StoreError> {
        self.conn = open(&self.client).await?;
        Ok(())
    }

    /// The checkpoint key names.
    pub fn keys(&self) -> &CheckpointKeys {
        &self.keys
    }

    /// The connection, for restore and inspection.
    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }

    /// Drops a removed rule's checkpoint bookkeeping (its windows were
    /// flushed and their state deleted by the last commit).
    pub async fn forget_rule(
        &mut self,
        keys: &CheckpointKeys,
        rule: &str,
    ) -> Result<(), StoreError> {
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

    /// Builds one checkpoint of `lanes`; lanes named in `fences` are
    /// written only while their tokens are held, and only once.
    pub fn prepare(&self, lanes: &[LaneCommit<'_>], fences: Vec<Fence>) -> PreparedCommit {
        let (mut pipe, size) = commit::build(&self.settings, lanes);
        for fence in &fences {
            pipe.set(self.keys.lane(&fence.lane).commit_seq(), fence.seq + 1)
                .ignore();
        }
        PreparedCommit { pipe, size, fences }
    }

    /// Writes one checkpoint atomically: every lane, or nothing if one of
    /// its fences is no longer held (then [`StoreError::Fenced`] names the
    /// lanes lost). The tokens are checked under WATCH, so a partition
    /// taken over between the check and the write aborts the write too.
    ///
    /// Sending the same checkpoint again is safe: if the lanes' sequence
    /// numbers show it was written (an earlier attempt went through but its
    /// reply was lost), it is not applied twice.
    pub async fn send(&mut self, prepared: &PreparedCommit) -> Result<CommitSize, StoreError> {
        let fences = &prepared.fences;
        if fences.is_empty() {
            let () = prepared.pipe.query_async(&mut self.conn).await?;
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
            let mut lost = Vec::new();
            let mut written = 0;
            for ((fence, token), seq) in fences.iter().zip(tokens).zip(seqs) {
                let seq = seq.unwrap_or(0);
                if *token != Some(fence.token) {
                    lost.push(fence.lane.clone());
                } else if seq == fence.seq + 1 {
                    written += 1;
                } else if seq != fence.seq {
                    tracing::error!(lane = %fence.lane, seq, expected = fence.seq, "checkpoint sequence moved under a held token");
                    lost.push(fence.lane.clone());
                }
            }
            if !lost.is_empty() || written == fences.len() {
                let () = redis::cmd("UNWATCH").query_async(&mut self.conn).await?;
                if lost.is_empty() {
                    tracing::info!("checkpoint had been written by an earlier attempt");
                    return Ok(prepared.size);
                }
                return Err(StoreError::Fenced(lost));
            }
            let reply: redis::Value = prepared.pipe.query_async(&mut self.conn).await?;
            if !matches!(reply, redis::Value::Nil) {
                return Ok(prepared.size);
            }
            // A token changed between the check and EXEC: check again.
        }
    }
}
