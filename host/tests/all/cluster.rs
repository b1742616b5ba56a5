//! weir on a real three-master Redis Cluster (started by the tests): exact
//! results against the oracle, `weir status` and `weir reset` over every
//! master, `kill -9` and restart, and a master restarted mid-run.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cluster_support::*;
use crate::support::*;

/// A generated access log with out-of-order, very late and malformed lines.
fn access_log(path: &Path, seed: &str, lines: &str) {
    generate(
        path,
        &[
            "--seed",
            seed,
            "--lines",
            lines,
            "--jitter-frac",
            "0.1",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.01",
        ],
    );
}

/// pvuv, ip-count and hive-audit from files on a cluster equal the oracle
/// exactly; the output spreads over the masters; `weir status` counts
/// every line; `weir reset --outputs` deletes every key on every master.
#[test]
fn cluster_file_runs_match_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    access_log(&access, "31", "30000");
    let audit = dir.path().join("audit.log");
    generate(
        &audit,
        &[
            "--format",
            "audit",
            "--seed",
            "5",
            "--lines",
            "10000",
            "--jitter-frac",
            "0.1",
        ],
    );
    let cluster = RedisCluster::start();
    for (log, rules, wasm) in [
        (
            &access,
            &["pvuv", "ip-count"][..],
            &["pvuv", "ip_count"][..],
        ),
        (&audit, &["hive-audit"][..], &["hive_audit"][..]),
    ] {
        let run_dir = tempfile::tempdir().unwrap();
        let plugins = plugins_dir(run_dir.path(), wasm);
        let config = cluster_config(
            run_dir.path(),
            &file_source(log, false),
            &plugins,
            &cluster,
            "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 50\n",
        );
        run_to_end(&config);
        for rule in rules {
            assert_same(
                &cluster.outputs(rule),
                &oracle(rule, log, 10, 0),
                &format!("{rule} on a cluster"),
            );
            assert_eq!(
                cluster.masters_holding(rule),
                3,
                "{rule}'s windows spread over every master"
            );
        }
        let status = status_json(&config);
        let records: u64 = status
            .iter()
            .filter(|rule| rule["name"] == rules[0])
            .map(|rule| rule["stats"]["records_in"].as_u64().unwrap())
            .sum();
        assert_eq!(records, line_count(log), "weir status on a cluster");
        // Nothing is left half-written: no outbox remains.
        assert!(cluster.keys("weir:ckpt:*outbox*").is_empty());

        let output = weir()
            .arg("reset")
            .arg("--outputs")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "weir reset failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for rule in rules {
            assert!(
                cluster.keys(&format!("weir:{rule}:*")).is_empty(),
                "{rule}'s outputs left after reset"
            );
        }
        assert!(
            cluster.keys("weir:ckpt:*").is_empty(),
            "checkpoint keys left after reset: {:?}",
            cluster.keys("weir:ckpt:*")
        );
    }
}

/// `kill -9` at many points of a file run on a cluster (between a lane's
/// write and its windows' writes too), then a run to the end: the same
/// values as an uninterrupted run.
#[test]
fn cluster_kill_9_and_restart_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    // Big enough that a restart, which no longer compiles (the compile
    // cache), is still killed mid-run (250,000 lines stopped being enough
    // when checkpoints got cheaper).
    access_log(&log, "9", "500000");
    let cluster = RedisCluster::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let config = cluster_config(
        dir.path(),
        &format!("{}batch_records = 64\n", file_source(&log, false)),
        &plugins,
        &cluster,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    );
    let mut kills = 0;
    let mut delay = Duration::from_millis(250);
    for _ in 0..8 {
        let mut child = weir()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "weir run failed");
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        delay += Duration::from_millis(100);
    }
    assert!(
        kills >= 2,
        "the run finished before it could be killed twice; the test proves nothing"
    );
    run_to_end(&config);
    for rule in ["pvuv", "ip-count"] {
        assert_same(
            &cluster.outputs(rule),
            &oracle(rule, &log, 10, 0),
            &format!("{rule} after kills on a cluster"),
        );
    }
}

/// A followed access log of 40,000 lines on a cluster, of which weir has
/// checkpointed the first half: the run the master restart and failover
/// tests disturb before [`HalfRead::append_rest`] sends the rest.
struct HalfRead {
    /// The whole input, for the oracle.
    full: std::path::PathBuf,
    /// The followed file.
    log: std::path::PathBuf,
    lines: Vec<Vec<u8>>,
    weir_log: std::path::PathBuf,
    run: Running,
}

impl HalfRead {
    /// Writes the first half of a log generated from `seed`, starts weir
    /// on it with `redis_extra` (keys of `[redis]`) and waits until its
    /// checkpoints count that half.
    fn start(dir: &Path, seed: &str, cluster: &RedisCluster, redis_extra: &str) -> Self {
        let full = dir.join("full.log");
        access_log(&full, seed, "40000");
        let lines = log_lines(&full);
        let log = dir.join("access.log");
        let half = lines.len() / 2;
        std::fs::write(&log, lines[..half].concat()).unwrap();
        let plugins = plugins_dir(dir, &["pvuv", "ip_count"]);
        let config = cluster_config(
            dir,
            &file_source(&log, true),
            &plugins,
            cluster,
            &format!(
                "{redis_extra}[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 50\n"
            ),
        );
        let weir_log = dir.join("weir.log");
        let run = Running::spawn(&config, std::fs::File::create(&weir_log).unwrap());
        cluster.wait_for_records("pvuv", half as u64, Duration::from_secs(60), &weir_log);
        Self {
            full,
            log,
            lines,
            weir_log,
            run,
        }
    }

    /// Appends the second half to the followed file.
    fn append_rest(&self) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .unwrap();
        let half = self.lines.len() / 2;
        std::io::Write::write_all(&mut file, &self.lines[half..].concat()).unwrap();
    }

    /// Waits until every line is checkpointed, stops weir (which must exit
    /// cleanly, else fails naming `what`), checks every minute of pvuv and
    /// ip-count against the oracle (a followed file leaves day windows
    /// open), and returns weir's log.
    fn finish(self, cluster: &RedisCluster, what: &str) -> String {
        cluster.wait_for_records(
            "pvuv",
            self.lines.len() as u64,
            Duration::from_secs(90),
            &self.weir_log,
        );
        assert!(self.run.terminate().success(), "weir failed after {what}");
        for rule in ["pvuv", "ip-count"] {
            assert_same(
                &minutes(cluster.outputs(rule)),
                &minutes(oracle(rule, &self.full, 10, 0)),
                &format!("{rule} across {what}"),
            );
        }
        std::fs::read_to_string(&self.weir_log).unwrap()
    }
}

/// A master killed (SIGKILL) and restarted while a followed file is read:
/// weir pauses its checkpoints, resumes when the slots are served again,
/// and the values are exact (nothing lost or doubled).
#[test]
fn cluster_master_restarted_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = RedisCluster::start();
    let run = HalfRead::start(dir.path(), "17", &cluster, "");
    // The rest arrives while a master is down.
    run.append_rest();
    cluster.restart_master(1, Duration::from_secs(3));
    let text = run.finish(&cluster, "a master restart");
    assert!(
        text.contains("checkpoint failed"),
        "the restart went unnoticed; the test proves nothing:\n{text}"
    );
}

/// A master killed for good mid-run on a cluster with a replica per
/// master: its replica takes over its slots and weir, following the new
/// slot map, finishes with the same minutes as the oracle. The master is
/// killed while weir waits for input (its last checkpoint replicated), as
/// replication is asynchronous: see the README's "Failures".
#[test]
fn cluster_failover_to_a_replica_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = RedisCluster::start_with_replicas(1);
    // Each checkpoint waits for the replicas.
    let run = HalfRead::start(
        dir.path(),
        "23",
        &cluster,
        "wait_replicas = 1\nwait_timeout_ms = 5000\n",
    );
    // Let the last checkpoint reach the replicas, then lose a master.
    std::thread::sleep(Duration::from_millis(500));
    let killed = cluster.fail_over_a_master();
    run.append_rest();
    run.finish(
        &cluster,
        &format!("the failover of the master on port {killed}"),
    );
    for rule in ["pvuv", "ip-count"] {
        assert_eq!(
            cluster.masters_holding(rule),
            3,
            "{rule}'s windows on the three masters, one of them promoted"
        );
    }
}

/// `[redis] wait_replicas` on a Redis that has no replica: every
/// checkpoint is written and the run is exact, and the missing
/// confirmation is logged where a user sees it.
#[test]
fn wait_replicas_warns_when_no_replica_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    access_log(&log, "3", "3000");
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "wait_replicas = 1\nwait_timeout_ms = 20\n[windows]\nallowed_lateness_secs = 10\n",
    );
    let output = run_output(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("fewer replicas than [redis] wait_replicas"),
        "{stderr}"
    );
    assert_same(&redis.outputs("pvuv"), &oracle("pvuv", &log, 10, 0), "pvuv");
}

/// Dead letters on a cluster, across `kill -9`s: every record the rule
/// panicked on is in `weir:misbehave:dead` exactly once.
#[test]
fn cluster_dead_letters_are_written_once_across_kills() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "12",
            "--lines",
            "300000",
            "--malformed-frac",
            "0",
            "--invalid-utf8-frac",
            "0",
        ],
    );
    let mut marked = 0;
    let text: String = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut line = line.to_owned();
            if i % 300 == 299 && line.contains("\"GET /") {
                line = line.replacen("\"GET /", "\"GET /BOOM", 1);
                marked += 1;
            }
            line + "\n"
        })
        .collect();
    std::fs::write(&log, text).unwrap();
    let cluster = RedisCluster::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "weir_test_misbehave"]);
    let config = cluster_config(
        dir.path(),
        &format!("{}batch_records = 64\n", file_source(&log, false)),
        &plugins,
        &cluster,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n\
         [limits]\ntrap_threshold = 1000000\n[rules.misbehave]\nconfig = { mode = \"panic\" }\n",
    );
    let mut kills = 0;
    // Early kills: a quiet machine reads the whole log in a few seconds.
    for delay_ms in [300, 450, 600] {
        let mut child = weir()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the run ended before two kills: proves nothing");
    run_to_end(&config);
    let mut conn = cluster.client().get_connection().unwrap();
    let entries: Vec<(String, std::collections::BTreeMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("weir:misbehave:dead")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let mut offsets: Vec<String> = entries
        .iter()
        .map(|(_, fields)| String::from_utf8_lossy(&fields["offset"]).into_owned())
        .collect();
    offsets.sort();
    offsets.dedup();
    assert_eq!(
        (entries.len(), offsets.len()),
        (marked, marked),
        "every marked record dead-lettered once ({kills} kills)"
    );
    assert_same(
        &cluster.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv beside a panicking rule on a cluster",
    );
}
