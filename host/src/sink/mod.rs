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

/// A lane's ownership token, as taken when its partition was assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lane.
    pub lane: String,
    /// The token taken.
    pub token: u64,
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

    /// Writes one checkpoint atomically: every lane, or nothing if one of
    /// `fences` is no longer held (then [`StoreError::Fenced`] names the
    /// lanes lost). The tokens are checked under WATCH, so a partition
    /// taken over between the check and the write aborts the write too.
    pub async fn commit(
        &mut self,
        lanes: &[LaneCommit<'_>],
        fences: &[Fence],
    ) -> Result<CommitSize, StoreError> {
        let (pipe, size) = commit::build(&self.settings, lanes);
        if fences.is_empty() {
            let () = pipe.query_async(&mut self.conn).await?;
            return Ok(size);
        }
        let fence_keys: Vec<String> = fences.iter().map(|f| self.keys.fence(&f.lane)).collect();
        loop {
            let () = redis::cmd("WATCH")
                .arg(&fence_keys)
                .query_async(&mut self.conn)
                .await?;
            let held: Vec<Option<u64>> = redis::cmd("MGET")
                .arg(&fence_keys)
                .query_async(&mut self.conn)
                .await?;
            let lost: Vec<String> = fences
                .iter()
                .zip(&held)
                .filter(|(fence, held)| **held != Some(fence.token))
                .map(|(fence, _)| fence.lane.clone())
                .collect();
            if !lost.is_empty() {
                let () = redis::cmd("UNWATCH").query_async(&mut self.conn).await?;
                return Err(StoreError::Fenced(lost));
            }
            let reply: redis::Value = pipe.query_async(&mut self.conn).await?;
            if !matches!(reply, redis::Value::Nil) {
                return Ok(size);
            }
            // A token changed between the check and EXEC: check again.
        }
    }
}
