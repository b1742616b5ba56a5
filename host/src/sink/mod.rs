//! Redis: where results and checkpoints live.

pub mod commit;
pub mod keys;
pub mod restore;

use redis::aio::MultiplexedConnection;

pub use commit::{CommitSize, OutputSettings, RuleCommit};
pub use keys::CheckpointKeys;

use crate::source::Position;

/// A Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused or the connection failed; the checkpoint did not happen.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A checkpoint value could not be read back.
    #[error("checkpoint data is damaged: {0}")]
    Corrupt(String),
}

/// The Redis connection a pipeline checkpoints through.
pub struct RedisStore {
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
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(Self {
            conn,
            keys: CheckpointKeys::new(namespace),
            settings,
        })
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
    pub async fn forget_rule(&mut self, rule: &str) -> Result<(), StoreError> {
        let () = redis::pipe()
            .atomic()
            .del(self.keys.rule(rule))
            .ignore()
            .del(self.keys.slots(rule))
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Writes one checkpoint atomically.
    pub async fn commit(
        &mut self,
        positions: &[(String, Position)],
        rules: &[RuleCommit<'_>],
    ) -> Result<CommitSize, StoreError> {
        let (pipe, size) = commit::build(&self.keys, &self.settings, positions, rules);
        let () = pipe.query_async(&mut self.conn).await?;
        Ok(size)
    }
}
