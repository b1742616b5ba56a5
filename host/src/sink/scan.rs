//! Listing and deleting many keys without blocking Redis: `SCAN`, never
//! `KEYS` (which blocks every client while it walks the keyspace), and
//! `UNLINK` in batches (which frees memory in the background).
//!
//! On a Redis Cluster each master holds its own keys: `SCAN` walks every
//! master, and `UNLINK` is sent per slot (a multi-key command may not
//! cross slots).

use std::collections::{BTreeMap, BTreeSet};

use redis::RedisResult;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::conn::RedisConn;
use super::slot::key_slot;

/// Keys asked for per `SCAN` step and deleted per `UNLINK`.
const BATCH: usize = 500;

/// Every key matching `pattern` (a set: `SCAN` may return a key twice).
pub async fn keys(conn: &mut RedisConn, pattern: &str) -> RedisResult<BTreeSet<String>> {
    match conn {
        RedisConn::Single(_) => scan_node(conn, None, pattern).await,
        RedisConn::Cluster(cluster) => {
            let mut found = BTreeSet::new();
            for (host, port) in masters(cluster).await? {
                found.extend(scan_node(conn, Some((host, port)), pattern).await?);
            }
            Ok(found)
        }
    }
}

/// `SCAN` of one server: the one `conn` talks to, or a cluster's node.
async fn scan_node(
    conn: &mut RedisConn,
    node: Option<(String, u16)>,
    pattern: &str,
) -> RedisResult<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(BATCH);
        let (next, keys): (u64, Vec<String>) = match (&mut *conn, &node) {
            (RedisConn::Cluster(cluster), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = cluster.route_command(cmd, routing).await?;
                redis::from_redis_value(value)?
            }
            _ => cmd.query_async(conn).await?,
        };
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

/// The cluster's masters that serve slots, as host and port, from
/// `CLUSTER NODES`.
pub async fn masters(cluster: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let value = cluster
        .route_command(
            redis::cmd("CLUSTER").arg("NODES").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let text: String = redis::from_redis_value(value)?;
    Ok(parse_masters(&text))
}

/// Masters with slots in a `CLUSTER NODES` reply: `<id> <ip:port@cport>
/// <flags> <master> <ping> <pong> <epoch> <state> <slot>...`.
fn parse_masters(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let is_master = flags.split(',').any(|f| f == "master");
            let failed = flags.split(',').any(|f| f == "fail" || f == "noaddr");
            if !is_master || failed || fields.len() < 9 {
                return None;
            }
            let addr = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// Deletes `keys` in batches (per slot on a cluster); returns how many
/// existed.
pub async fn unlink(conn: &mut RedisConn, keys: &[String]) -> RedisResult<u64> {
    let mut batches: BTreeMap<u16, Vec<&String>> = BTreeMap::new();
    for key in keys {
        let slot = if conn.is_cluster() {
            key_slot(key.as_bytes())
        } else {
            0
        };
        batches.entry(slot).or_default().push(key);
    }
    let mut deleted = 0;
    for keys in batches.values() {
        for batch in keys.chunks(BATCH) {
            let count: u64 = redis::cmd("UNLINK").arg(batch).query_async(conn).await?;
            deleted += count;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_with_slots_are_listed() {
        let text = "a 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                    b 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922\n\
                    c 127.0.0.1:7003@17003 master,fail - 0 0 3 connected 10923-16383\n\
                    d 127.0.0.1:7004@17004 slave a 0 0 1 connected\n";
        assert_eq!(
            parse_masters(text),
            vec![
                ("127.0.0.1".to_owned(), 7001),
                ("127.0.0.1".to_owned(), 7002)
            ]
        );
    }
}
