//! Listing and deleting many keys without blocking Redis: `SCAN`, never
//! `KEYS` (which blocks every client while it walks the keyspace), and
//! `UNLINK` in batches (which frees memory in the background).

use std::collections::BTreeSet;

use redis::RedisResult;
use redis::aio::MultiplexedConnection;

/// Keys asked for per `SCAN` step and deleted per `UNLINK`.
const BATCH: usize = 500;

/// Every key matching `pattern` (a set: `SCAN` may return a key twice).
pub async fn keys(
    conn: &mut MultiplexedConnection,
    pattern: &str,
) -> RedisResult<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

/// Deletes `keys` in batches; returns how many existed.
pub async fn unlink(conn: &mut MultiplexedConnection, keys: &[String]) -> RedisResult<u64> {
    let mut deleted = 0;
    for batch in keys.chunks(BATCH) {
        let count: u64 = redis::cmd("UNLINK").arg(batch).query_async(conn).await?;
        deleted += count;
    }
    Ok(deleted)
}
