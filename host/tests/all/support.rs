//! Test harness: real Redis servers, the example rules built as components,
//! the `weir` binary, and the independent oracle.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use weir::sink::CheckpointKeys;

/// Hashes by key: `weir:{rule}:{metric}:{S}:{T}` → field → value.
pub type Hashes = BTreeMap<String, BTreeMap<String, String>>;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The example rules and the test guests, built once per test run into their own target dir (so
/// this nested cargo never waits on the outer one's lock).
pub fn rule_wasm(crate_file_name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = repo_root().join("target/guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(repo_root())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args([
                "-p",
                "pvuv",
                "-p",
                "ip-count",
                "-p",
                "hive-audit",
                "-p",
                "clicks",
                "-p",
                "spend",
                "-p",
                "orders",
                "-p",
                "cpu",
                "-p",
                "errors",
                "-p",
                "risk",
                "-p",
                "weir-test-misbehave",
                "-p",
                "weir-test-pvuv-rewindowed",
                "-p",
                "weir-test-aggregates",
            ])
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("run cargo to build the example rules");
        assert!(status.success(), "building the example rules failed");
        target.join("wasm32-wasip2/release")
    });
    let path = dir.join(format!("{crate_file_name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A plugins folder holding the given example rules (`pvuv`, `ip_count`, `hive_audit`).
pub fn plugins_dir(parent: &Path, rules: &[&str]) -> PathBuf {
    let dir = parent.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for rule in rules {
        std::fs::copy(rule_wasm(rule), dir.join(format!("{rule}.wasm"))).unwrap();
    }
    dir
}

/// A private `redis-server` on a free loopback port, stopped on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    /// Its data folder (a dump survives an [`RedisServer::outage`]).
    dir: tempfile::TempDir,
}

/// What `KEYS` is called on the tests' Redis servers.
const TEST_KEYS: &str = "WEIR_TEST_KEYS";

/// Starts `redis-server` on `port` with its data in `dir`, without
/// persistence except an explicit `SHUTDOWN SAVE`.
fn spawn_redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        // `KEYS` blocks Redis while it scans the whole keyspace, so weir must
        // never send it (it uses `SCAN`): under another name only the tests'
        // own `RedisServer::keys` can run it, and any `KEYS` from weir fails.
        .args(["--rename-command", "KEYS", TEST_KEYS])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/setup.sh)")
}

impl RedisServer {
    pub fn start() -> Self {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let child = spawn_redis(port, dir.path());
            let mut server = RedisServer { port, child, dir };
            if server.wait_ready() {
                return server;
            }
            drop(server);
        }
        panic!("could not start redis-server");
    }

    /// Stops the server (saving its data), waits `down`, and starts it
    /// again on the same port with the same data: a Redis outage.
    pub fn outage(&mut self, down: Duration) {
        let _ = redis::cmd("SHUTDOWN")
            .arg("SAVE")
            .query::<()>(&mut self.conn());
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = spawn_redis(self.port, self.dir.path());
        assert!(self.wait_ready(), "redis-server did not come back");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut conn) = self.client().get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/0", self.port)).unwrap()
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }

    /// Every key matching `pattern` (the tests may block this Redis; weir
    /// may not, see `spawn_redis`).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        redis::cmd(TEST_KEYS)
            .arg(pattern)
            .query(&mut self.conn())
            .unwrap()
    }

    /// Records `rule` has taken in, as of its last checkpoint (0 before one).
    pub fn records_in(&self, rule: &str) -> u64 {
        records_in(&mut self.conn(), &CheckpointKeys::new("default"), rule).unwrap()
    }

    /// Waits up to `limit` until `rule` has checkpointed at least `count`
    /// records; on timeout fails, showing weir's `log` file if given.
    pub fn wait_for_records(&self, rule: &str, count: u64, limit: Duration, log: Option<&Path>) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.records_in(rule);
            if seen >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weir checkpointed {seen} of {count} records:\n{}",
                log.and_then(|log| std::fs::read_to_string(log).ok())
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every output hash of `rule` (index and catalog keys left out).
    pub fn outputs(&self, rule: &str) -> Hashes {
        output_hashes(&mut self.conn(), self.keys(&format!("weir:{rule}:*")))
    }
}

/// Records `rule` has taken in as of its last checkpoint, added up over the
/// pipeline's own keys under `base` and every lane's (a Kafka pipeline
/// checkpoints each partition's lane on its own); 0 before a checkpoint.
pub fn records_in(
    conn: &mut impl redis::ConnectionLike,
    base: &CheckpointKeys,
    rule: &str,
) -> redis::RedisResult<u64> {
    let lanes: Vec<String> = redis::cmd("SMEMBERS").arg(base.lanes()).query(conn)?;
    let mut all_keys = vec![base.clone()];
    all_keys.extend(lanes.iter().map(|lane| base.lane(lane)));
    let mut total = 0;
    for keys in &all_keys {
        let stats: Option<String> = redis::cmd("HGET")
            .arg(keys.rule(rule))
            .arg("stats")
            .query(conn)?;
        total += stats
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["records_in"].as_u64())
            .unwrap_or(0);
    }
    Ok(total)
}

/// The output hashes among a rule's `keys` (`weir:R:*`; its index,
/// catalog, dead-letter, top-N and alert keys left out), read over `conn`.
pub fn output_hashes(conn: &mut redis::Connection, keys: Vec<String>) -> Hashes {
    keys.into_iter()
        .filter(|key| {
            ![
                ":windows",
                ":metrics",
                ":dead",
                ":top",
                ":alerts",
                ":alerts:seen",
            ]
            .iter()
            .any(|suffix| key.ends_with(suffix))
        })
        .map(|key| {
            let fields: BTreeMap<String, String> =
                redis::cmd("HGETALL").arg(&key).query(conn).unwrap();
            (key, fields)
        })
        .collect()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config for a file source and returns its path.
pub fn write_config(
    dir: &Path,
    source: &str,
    plugins: &Path,
    redis: &RedisServer,
    extra: &str,
) -> PathBuf {
    write_config_for(dir, source, plugins, &redis.url(), extra)
}

/// A config for `weir check`, which reads neither the source nor Redis.
pub fn check_config(dir: &Path, plugins: &Path, extra: &str) -> PathBuf {
    let source = file_source(&dir.join("unused.log"), false);
    write_config_for(dir, &source, plugins, "redis://127.0.0.1:1/0", extra)
}

fn write_config_for(dir: &Path, source: &str, plugins: &Path, url: &str, extra: &str) -> PathBuf {
    let path = dir.join("weir.toml");
    let text = format!(
        "{source}\n[plugins]\ndir = \"{plugins}\"\n[redis]\nurl = \"{url}\"\n{extra}\n",
        plugins = plugins.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The lines of a log file (with their `\n`).
pub fn log_lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// `[source]` for a file.
pub fn file_source(path: &Path, follow: bool) -> String {
    format!(
        "[source]\nkind = \"file\"\npath = \"{}\"\nfollow = {follow}\n",
        path.display()
    )
}

pub fn weir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    // WEIR_TEST_LOG (say `info,weir=debug`) shows more when diagnosing.
    let filter = std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "info".to_owned());
    command.env("RUST_LOG", filter);
    // Each weir's HTTP server on a port of its own (the default, 9464,
    // would clash between tests run at once); tests of the server set it.
    command.env("WEIR_HTTP_LISTEN", "127.0.0.1:0");
    command
}

/// Runs `weir run` to completion and returns its output; panics on failure.
pub fn run_to_end(config: &Path) -> Output {
    let output = run_output(config);
    assert!(
        output.status.success(),
        "weir run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `weir run` to completion and returns its output, whether it
/// succeeded or not (for runs that must fail).
pub fn run_output(config: &Path) -> Output {
    weir()
        .arg("run")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// `weir status --json`: one object per rule, as of its last checkpoint.
pub fn status_json(config: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&status_output(config, &["--json"])).unwrap()
}

/// What `weir status ARGS --config CONFIG` prints; fails if it fails.
fn status_output(config: &Path, args: &[&str]) -> String {
    let output = weir()
        .arg("status")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "weir status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The oracle's expected hashes for `rule` on `log`.
pub fn oracle(rule: &str, log: &Path, lateness_secs: u64, day_offset_secs: i64) -> Hashes {
    let output = Command::new("python3")
        .arg(repo_root().join("tests/tools/expected.py"))
        .args(["--rule", rule])
        .args(["--lateness-secs", &lateness_secs.to_string()])
        .args(["--day-offset-secs", &day_offset_secs.to_string()])
        .arg(log)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Generates an access (or `--format audit`) log with the generator.
pub fn generate(out: &Path, args: &[&str]) {
    let status = Command::new("python3")
        .arg(repo_root().join("tests/tools/gen_access.py"))
        .args(args)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "generator failed");
}

/// Only the 60 s windows: a run that does not end (a followed file, Kafka)
/// leaves cumulative day windows open, published only up to their last
/// closed step, where the oracle gives their final values.
pub fn minutes(hashes: Hashes) -> Hashes {
    hashes
        .into_iter()
        .filter(|(key, _)| key.contains(":60:"))
        .collect()
}

/// Compares hashes, showing the first difference.
pub fn assert_same(got: &Hashes, expected: &Hashes, what: &str) {
    assert!(
        !expected.is_empty(),
        "{what}: the oracle expects nothing; the test proves nothing"
    );
    if got != expected {
        let first = expected
            .keys()
            .chain(got.keys())
            .find(|key| got.get(*key) != expected.get(*key))
            .cloned()
            .unwrap_or_default();
        panic!(
            "{what}: {} keys expected, {} found; first difference at {first}:\n expected {:?}\n      got {:?}",
            expected.len(),
            got.len(),
            expected.get(&first),
            got.get(&first)
        );
    }
}

/// Runs `weir check` on a config that must be refused; returns its stderr.
pub fn check_fails(config: &Path) -> String {
    let output = weir()
        .arg("check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "weir check accepted {}",
        config.display()
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Adds up every value of the hashes whose key contains `part`.
pub fn total(hashes: &Hashes, part: &str) -> u64 {
    hashes
        .iter()
        .filter(|(key, _)| key.contains(part))
        .flat_map(|(_, fields)| fields.values())
        .map(|value| value.parse::<u64>().unwrap())
        .sum()
}

/// A running `weir` that is killed if the test fails before stopping it, so
/// a failed test never leaves a follower running (and holding CI's pipes).
pub struct Running(pub Option<Child>);

impl Running {
    /// Starts `weir run --config <config>` in the background, its log going
    /// to `stderr`.
    pub fn spawn(config: &Path, stderr: impl Into<Stdio>) -> Self {
        let child = weir()
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Running(Some(child))
    }

    /// Waits up to `limit` for weir to exit by itself; `None` if it is
    /// still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.0.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.0 = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops weir with SIGTERM (a clean shutdown) and waits for it.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let child = self.0.as_mut().unwrap();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = child.wait().unwrap();
        self.0 = None;
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Lines of a file.
pub fn line_count(path: &Path) -> u64 {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .count() as u64
}

/// The dead letters of `rule` (its `weir:R:dead` stream) in stream order,
/// each as field → text.
pub fn dead_letters(redis: &RedisServer, rule: &str) -> Vec<BTreeMap<String, String>> {
    let entries: Vec<(String, BTreeMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(format!("weir:{rule}:dead"))
        .arg("-")
        .arg("+")
        .query(&mut redis.conn())
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| {
            fields
                .into_iter()
                .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
                .collect()
        })
        .collect()
}

/// The `rule totals` log line of `rule` in a run's log.
pub fn totals_line<'a>(log: &'a str, rule: &str) -> &'a str {
    log.lines()
        .find(|line| line.contains("rule totals") && line.contains(&format!("rule=\"{rule}\"")))
        .unwrap_or_else(|| panic!("no totals for {rule}:\n{log}"))
}

/// The number after ` {name}=` in a log line.
pub fn log_number(line: &str, name: &str) -> u64 {
    let pattern = format!(" {name}=");
    let at = line
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + pattern.len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {line}"))
}

/// `rule`'s row of the `weir status` table, by column name (`records`,
/// `rejected`, `updates`, `late`, `traps`, `dead`, `quarantined`, and
/// `version`, `state`, which hold spaces); `None` if the rule has no row.
pub fn status_row(config: &Path, rule: &str) -> Option<BTreeMap<String, String>> {
    let report = status_output(config, &[]);
    let mut lines = report.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    assert_eq!(
        header,
        [
            "rule",
            "version",
            "records",
            "rejected",
            "updates",
            "late",
            "traps",
            "dead",
            "quarantined",
            "state"
        ],
        "the status table's columns changed:\n{report}"
    );
    let row: Vec<&str> = lines
        .find(|line| line.split_whitespace().next() == Some(rule))?
        .split_whitespace()
        .collect();
    // `version` is "<semver> <hash prefix>"; `state` may have words after it.
    let mut columns = BTreeMap::new();
    columns.insert("rule".to_owned(), row[0].to_owned());
    columns.insert("version".to_owned(), row[1..3].join(" "));
    for (name, value) in header[2..9].iter().zip(&row[3..10]) {
        columns.insert((*name).to_owned(), (*value).to_owned());
    }
    columns.insert("state".to_owned(), row[10..].join(" "));
    Some(columns)
}

/// A loopback port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `command` to its end and returns its output; fails the test if it
/// runs longer than `limit` (a hang, or a retry loop that never ends).
/// Both pipes are drained while it runs, so a chatty command cannot block.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let overran = done.recv_timeout(limit).is_err();
        if overran {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        overran
    });
    let output = child.wait_with_output().unwrap();
    let _ = finished.send(());
    let overran = watchdog.join().unwrap();
    // The program and arguments only: the environment may hold test secrets.
    let args: Vec<_> = command.get_args().collect();
    assert!(
        !overran,
        "{:?} {args:?} still running after {limit:?}:\n{}",
        command.get_program(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
