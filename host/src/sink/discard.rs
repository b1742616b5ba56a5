//! Deleting one lane's checkpoint from Redis, for a run that cannot resume
//! from it (see [`crate::checkpoint::CheckpointStore::discard_lane`]).

use redis::aio::MultiplexedConnection;

use super::keys::CheckpointKeys;
use crate::checkpoint::StoreError;

/// Keys asked for per `SCAN` step and deleted per `UNLINK`.
const BATCH: usize = 500;

/// Deletes the lane's source position, sequence number and every rule's
/// keys (meta, slot ids, slots, members); returns how many keys existed.
/// Keys are found with `SCAN` (never `KEYS`, which blocks Redis) and
/// deleted with `UNLINK`. Cut short, it fails and the run does not start;
/// the next run deletes the rest.
pub async fn lane_checkpoint(
    conn: &mut MultiplexedConnection,
    keys: &CheckpointKeys,
) -> Result<u64, StoreError> {
    let mut doomed = vec![keys.source(), keys.commit_seq()];
    let pattern = keys.rules_pattern();
    let mut cursor: u64 = 0;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        doomed.extend(found);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // SCAN may return a key twice; UNLINK counts it once.
    doomed.sort_unstable();
    doomed.dedup();
    let mut deleted = 0;
    for batch in doomed.chunks(BATCH) {
        let count: u64 = redis::cmd("UNLINK").arg(batch).query_async(conn).await?;
        deleted += count;
    }
    Ok(deleted)
}
