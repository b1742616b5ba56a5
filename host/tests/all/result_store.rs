//! What a test reads back after a run, from one Redis or from a Redis
//! Cluster, so a job's checks are written once and run on both.

use std::path::{Path, PathBuf};

use crate::cluster_support::{RedisCluster, cluster_config};
use crate::support::{Hashes, RedisServer, write_config};

/// A Redis or a Redis Cluster holding a run's results.
pub trait ResultStore {
    /// Every output hash of `rule`.
    fn outputs(&self, rule: &str) -> Hashes;
    /// Records `rule` has taken in, as of its last checkpoint.
    fn records_in(&self, rule: &str) -> u64;
    /// Runs `cmd` (on the node holding its key) and returns its answer.
    fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T;
    /// Whether key names follow the cluster layout (hash tags).
    fn is_cluster(&self) -> bool;
    /// Writes a config for `source` with results here; returns its path.
    fn config(&self, dir: &Path, source: &str, plugins: &Path, extra: &str) -> PathBuf;

    /// The top-N set of output window `key` (README "Redis layout").
    fn top_key(&self, key: &str) -> String {
        if self.is_cluster() {
            format!("{{{key}}}:top")
        } else {
            format!("{key}:top")
        }
    }
}

impl ResultStore for RedisServer {
    fn outputs(&self, rule: &str) -> Hashes {
        RedisServer::outputs(self, rule)
    }

    fn records_in(&self, rule: &str) -> u64 {
        RedisServer::records_in(self, rule)
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query(&mut self.conn()).unwrap()
    }

    fn is_cluster(&self) -> bool {
        false
    }

    fn config(&self, dir: &Path, source: &str, plugins: &Path, extra: &str) -> PathBuf {
        write_config(dir, source, plugins, self, extra)
    }
}

impl ResultStore for RedisCluster {
    fn outputs(&self, rule: &str) -> Hashes {
        RedisCluster::outputs(self, rule)
    }

    fn records_in(&self, rule: &str) -> u64 {
        RedisCluster::records_in(self, rule)
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query(&mut self.client().get_connection().unwrap())
            .unwrap()
    }

    fn is_cluster(&self) -> bool {
        true
    }

    fn config(&self, dir: &Path, source: &str, plugins: &Path, extra: &str) -> PathBuf {
        cluster_config(dir, source, plugins, self, extra)
    }
}
