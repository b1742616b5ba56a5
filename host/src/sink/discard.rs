//! Deleting one lane's checkpoint from Redis, for a run that cannot resume
//! from it (see [`crate::checkpoint::CheckpointStore::discard_lane`]).

use super::conn::RedisConn;

use super::keys::CheckpointKeys;
use super::scan;
use crate::checkpoint::StoreError;

/// Deletes the lane's source position, sequence number and every rule's
/// keys (meta, slot ids, slots, members); returns how many keys existed.
/// Cut short, it fails and the run does not start; the next run deletes
/// the rest.
pub async fn lane_checkpoint(
    conn: &mut RedisConn,
    keys: &CheckpointKeys,
) -> Result<u64, StoreError> {
    let mut doomed = scan::keys(conn, &keys.rules_pattern()).await?;
    doomed.extend([
        keys.source(),
        keys.commit_seq(),
        keys.outbox(),
        keys.rule_names(),
    ]);
    let doomed: Vec<String> = doomed.into_iter().collect();
    Ok(scan::unlink(conn, &doomed).await?)
}
