//! A real local Redis Cluster for the tests: three masters started by the
//! test (`redis-server --cluster-enabled yes`) on free loopback ports and
//! joined with `redis-cli --cluster create`, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weir::sink::CheckpointKeys;

use crate::support::{Hashes, free_port, output_hashes, records_in};

/// What `KEYS` is called on the tests' cluster nodes (weir must `SCAN`).
const TEST_KEYS: &str = "WEIR_TEST_KEYS";

/// One master of the test cluster.
struct Node {
    port: u16,
    bus_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts the node's `redis-server`: every acknowledged write is on
    /// disk (`appendfsync always`), so a node killed with SIGKILL and
    /// started again loses nothing weir was told is written.
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &self.bus_port.to_string()])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "2000"])
            // A replica takes over however long ago it last heard its
            // master (a busy test machine must not veto a failover).
            .args(["--cluster-replica-validity-factor", "0"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--rename-command", "KEYS", TEST_KEYS])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh)");
        self.child = Some(child);
    }

    fn conn(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut conn) = self.conn()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the node is up and a master (after a failover a replica
    /// is one, and the old master, if it comes back, is not).
    fn is_master(&self) -> bool {
        self.child.is_some()
            && self.conn().is_ok_and(|mut conn| {
                redis::cmd("ROLE")
                    .query::<redis::Value>(&mut conn)
                    .is_ok_and(|role| match role {
                        redis::Value::Array(parts) => matches!(
                            parts.first(),
                            Some(redis::Value::BulkString(name)) if name == b"master"
                        ),
                        _ => false,
                    })
            })
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A three-master Redis Cluster, stopped on drop.
pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts three masters and joins them (every slot covered).
    pub fn start() -> Self {
        Self::start_with_replicas(0)
    }

    /// Starts three masters with `replicas` replicas each and joins them
    /// (`redis-cli --cluster create --cluster-replicas`).
    pub fn start_with_replicas(replicas: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes: Vec<Node> = (0..3 * (1 + replicas))
            .map(|i| {
                let node_dir = dir.path().join(format!("node{i}"));
                std::fs::create_dir_all(&node_dir).unwrap();
                Node {
                    port: free_port(),
                    bus_port: free_port(),
                    dir: node_dir,
                    child: None,
                }
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
            assert!(node.wait_ready(), "a cluster node did not start");
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (scripts/setup.sh)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node reports `cluster_state:ok` and agrees on
    /// the masters.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.reports_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The seed URLs for `[redis] url` (two of the three masters: weir
    /// discovers the third).
    pub fn seeds(&self) -> String {
        format!(
            "redis://127.0.0.1:{},redis://127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The `[redis]` section of a config for this cluster.
    pub fn redis_section(&self) -> String {
        format!("[redis]\ncluster = true\nurl = \"{}\"\n", self.seeds())
    }

    /// A cluster client (follows redirections).
    pub fn client(&self) -> redis::cluster::ClusterClient {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| format!("redis://127.0.0.1:{}/", node.port))
            .collect();
        redis::cluster::ClusterClient::new(seeds).unwrap()
    }

    /// Every key matching `pattern`, on every master, with the port of
    /// the master holding it.
    pub fn keys_by_node(&self, pattern: &str) -> Vec<(u16, String)> {
        let mut found = Vec::new();
        for node in self.masters() {
            let keys: Vec<String> = redis::cmd(TEST_KEYS)
                .arg(pattern)
                .query(&mut node.conn().unwrap())
                .unwrap();
            found.extend(keys.into_iter().map(|key| (node.port, key)));
        }
        found
    }

    /// Every key matching `pattern` on every master.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.keys_by_node(pattern)
            .into_iter()
            .map(|(_, key)| key)
            .collect()
    }

    /// Every output hash of `rule`, from every master.
    pub fn outputs(&self, rule: &str) -> Hashes {
        let mut all = Hashes::new();
        for node in self.masters() {
            let mut conn = node.conn().unwrap();
            let keys: Vec<String> = redis::cmd(TEST_KEYS)
                .arg(format!("weir:{rule}:*"))
                .query(&mut conn)
                .unwrap();
            all.extend(output_hashes(&mut conn, keys));
        }
        all
    }

    /// How many masters hold at least one of `rule`'s output hashes.
    pub fn masters_holding(&self, rule: &str) -> usize {
        let mut ports: Vec<u16> = self
            .keys_by_node(&format!("weir:{rule}:*"))
            .into_iter()
            .map(|(port, _)| port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports.len()
    }

    /// Records `rule` has taken in, as of its last checkpoint, over every
    /// lane (0 before one, or while the cluster cannot answer).
    pub fn records_in(&self, rule: &str) -> u64 {
        let Ok(mut conn) = self.client().get_connection() else {
            return 0;
        };
        records_in(&mut conn, &CheckpointKeys::cluster("default"), rule).unwrap_or(0)
    }

    /// Waits up to `limit` until `rule` has checkpointed at least `count`
    /// records; on timeout fails, showing weir's `log`.
    pub fn wait_for_records(&self, rule: &str, count: u64, limit: Duration, log: &Path) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.records_in(rule);
            if seen >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weir checkpointed {seen} of {count} records:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether every node that is up reports `cluster_state:ok` and knows
    /// every node (a failed one included).
    fn reports_ok(&self) -> bool {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .all(|node| {
                node.conn()
                    .and_then(|mut conn| {
                        redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut conn)
                    })
                    .is_ok_and(|info| {
                        info.contains("cluster_state:ok")
                            && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
                    })
            })
    }

    /// The nodes that are up and masters now.
    fn masters(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|node| node.is_master())
    }

    /// Kills a master with SIGKILL for good and waits until one of its
    /// replicas has taken over its slots (cluster-node-timeout is 2 s):
    /// a failover. Returns the killed master's port.
    pub fn fail_over_a_master(&mut self) -> u16 {
        let index = self
            .nodes
            .iter()
            .position(Node::is_master)
            .expect("a master");
        let port = self.nodes[index].port;
        // Every write the master acknowledged has reached its replica.
        let replicated: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(10_000)
            .query(&mut self.nodes[index].conn().unwrap())
            .unwrap();
        assert_eq!(replicated, 1, "the replica did not catch up");
        self.nodes[index].kill();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.reports_ok() && self.masters().count() == 3 {
                return port;
            }
            if Instant::now() >= deadline {
                let views: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|node| node.child.is_some())
                    .map(|node| {
                        let nodes = node.conn().and_then(|mut conn| {
                            redis::cmd("CLUSTER")
                                .arg("NODES")
                                .query::<String>(&mut conn)
                        });
                        format!("{} (master: {}): {nodes:?}", node.port, node.is_master())
                    })
                    .collect();
                panic!("no replica took over:\n{}", views.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills master `index` with SIGKILL, waits `down`, and starts it
    /// again on the same port with its data and cluster config: a master
    /// crash and restart (no replica takes over).
    pub fn restart_master(&mut self, index: usize, down: Duration) {
        let node = &mut self.nodes[index];
        node.kill();
        std::thread::sleep(down);
        node.spawn();
        assert!(node.wait_ready(), "the restarted master did not come back");
        self.wait_ok();
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// Writes a config for `source` on `cluster` and returns its path.
pub fn cluster_config(
    dir: &Path,
    source: &str,
    plugins: &Path,
    cluster: &RedisCluster,
    extra: &str,
) -> PathBuf {
    let path = dir.join("weir.toml");
    let text = format!(
        "{source}\n[plugins]\ndir = \"{plugins}\"\n{redis}{extra}\n",
        plugins = plugins.display(),
        redis = cluster.redis_section(),
    );
    std::fs::write(&path, text).unwrap();
    path
}
