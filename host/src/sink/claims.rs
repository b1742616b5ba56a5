//! Claiming partitions against the fences in Redis, from the Kafka
//! client's rebalance callback (see [`LaneClaims`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::conn::BlockingConn;
use super::connection::RedisTarget;
use super::keys::CheckpointKeys;
use crate::model::{Assignment, LaneClaims, Position};

/// Longest wait between attempts to reach Redis while taking partitions.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Takes lanes by incrementing their fence in Redis (a blocking
/// connection: the rebalance callback runs inside the consumer's poll).
pub struct RedisClaims {
    redis: Mutex<Option<BlockingConn>>,
    target: RedisTarget,
    keys: CheckpointKeys,
    /// Lanes flushed on revoke whose state is still in memory, with their
    /// token.
    parked: Mutex<HashMap<String, u64>>,
}

impl RedisClaims {
    /// Claims against the fences under `keys`, connecting to `target` when
    /// first needed.
    pub fn new(target: RedisTarget, keys: CheckpointKeys) -> Self {
        Self {
            redis: Mutex::new(None),
            target,
            keys,
            parked: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `op` on the Redis connection, reconnecting and retrying with
    /// backoff until it works.
    fn with_redis<T>(
        &self,
        what: &str,
        op: impl Fn(&mut BlockingConn) -> redis::RedisResult<T>,
    ) -> T {
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = match self.redis.lock() {
                Ok(mut guard) => {
                    if guard.is_none() {
                        *guard = self
                            .target
                            .connect_blocking()
                            .map_err(|error| tracing::warn!(%error, "cannot reach Redis"))
                            .ok();
                    }
                    match guard.as_mut().map(&op) {
                        Some(Ok(value)) => return value,
                        Some(Err(error)) => {
                            *guard = None;
                            Some(error.to_string())
                        }
                        None => None,
                    }
                }
                Err(_) => None,
            };
            tracing::warn!(what, error = ?result, retry_in = ?backoff, "cannot take an assigned partition while Redis is unavailable; retrying");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

impl LaneClaims for RedisClaims {
    fn claim(&self, lane: &str) -> Assignment {
        let fence = self.keys.fence(lane);
        let parked = self.parked.lock().ok().and_then(|mut p| p.remove(lane));
        let held: Option<u64> = match parked {
            Some(_) => self.with_redis("read a partition's token", |conn| {
                redis::cmd("GET").arg(&fence).query(conn)
            }),
            None => None,
        };
        let (token, kept) = match (parked, held) {
            (Some(token), Some(held)) if token == held => (token, true),
            _ => (
                self.with_redis("take a partition's token", |conn| {
                    redis::cmd("INCR").arg(&fence).query(conn)
                }),
                false,
            ),
        };
        let json: Option<String> = self.with_redis("read a partition's position", |conn| {
            redis::cmd("HGET")
                .arg(self.keys.lane(lane).source())
                .arg(lane)
                .query(conn)
        });
        let start = json
            .and_then(|json| serde_json::from_str::<Position>(&json).ok())
            .map(|position| position.offset);
        Assignment {
            lane: lane.to_owned(),
            token,
            kept,
            start,
        }
    }

    fn park(&self, lane: &str, token: u64) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.insert(lane.to_owned(), token);
        }
    }

    fn clear_parked(&self) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.clear();
        }
    }
}
