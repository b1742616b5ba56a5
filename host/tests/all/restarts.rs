//! Stopping and starting again: stdin told to stop while its pipe is open,
//! stdin piped again after a stopped run, a file replaced between runs, and
//! Redis going away under a file run.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// How long a test waits for weir to checkpoint the records it expects.
const RECORDS_DEADLINE: Duration = Duration::from_secs(60);

/// How long a run told to stop may take to exit: far more than it needs,
/// so only a hang fails.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

/// An access log without very late or malformed lines.
fn clean_log(path: &Path, seed: &str, lines: &str) {
    generate(
        path,
        &[
            "--seed",
            seed,
            "--lines",
            lines,
            "--malformed-frac",
            "0",
            "--invalid-utf8-frac",
            "0",
            "--very-late-frac",
            "0",
        ],
    );
}

/// `weir run` with its stdin a pipe the test holds, its log in `log`.
fn spawn_with_stdin(config: &Path, log: &Path) -> (Running, ChildStdin) {
    let mut child: Child = weir()
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (Running(Some(child)), stdin)
}

/// Sends SIGTERM and waits (up to [`EXIT_DEADLINE`]) for a clean exit.
fn terminate_within_deadline(run: &mut Running, log: &Path) {
    let pid = run.0.as_ref().unwrap().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = run.wait_exit(EXIT_DEADLINE);
    let log = std::fs::read_to_string(log).unwrap();
    let status =
        status.unwrap_or_else(|| panic!("weir still runs {EXIT_DEADLINE:?} after SIGTERM:\n{log}"));
    assert!(status.success(), "weir failed after SIGTERM:\n{log}");
}

/// SIGTERM stops a stdin run whose pipe stays open: it checkpoints what it
/// read and exits 0, instead of waiting for stdin to close.
#[test]
fn sigterm_stops_stdin_while_its_pipe_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("access.log");
    clean_log(&input, "21", "1000");
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = write_config(
        dir.path(),
        "[source]\nkind = \"stdin\"\n",
        &plugins,
        &redis,
        "[checkpoint]\ninterval_ms = 20\n",
    );
    let log = dir.path().join("weir.log");
    let (mut run, mut stdin) = spawn_with_stdin(&config, &log);
    stdin.write_all(&std::fs::read(&input).unwrap()).unwrap();
    stdin.flush().unwrap();
    let lines = line_count(&input);
    redis.wait_for_records("pvuv", lines, RECORDS_DEADLINE, None);
    terminate_within_deadline(&mut run, &log);
    drop(stdin);
    let rules = status_json(&config);
    assert_eq!(rules[0]["name"], "pvuv", "{rules:?}");
    assert_eq!(
        rules[0]["stats"]["records_in"].as_u64(),
        Some(lines),
        "every line read was checkpointed: {rules:?}"
    );
}

/// A stdin run stopped half-way, then the whole input piped again into
/// the same namespace, twice: stdin has no position to resume from, so
/// each later run starts from an empty checkpoint (saying so) and the
/// values are those of one clean run, not the first part counted twice.
#[test]
fn stdin_piped_again_after_a_stop_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("access.log");
    generate(&input, &["--seed", "22", "--lines", "40000"]);
    let lines = log_lines(&input);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let config = write_config(
        dir.path(),
        "[source]\nkind = \"stdin\"\n",
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    );

    // First run: 40% of the input, then SIGTERM with the pipe still open.
    let first_log = dir.path().join("first.log");
    let (mut first, mut stdin) = spawn_with_stdin(&config, &first_log);
    let half = lines.len() * 2 / 5;
    stdin.write_all(&lines[..half].concat()).unwrap();
    stdin.flush().unwrap();
    redis.wait_for_records("pvuv", half as u64, RECORDS_DEADLINE, None);
    terminate_within_deadline(&mut first, &first_log);
    drop(stdin);
    assert_eq!(redis.records_in("pvuv"), half as u64);

    // Then the whole input, to its end, twice: after the stop and after a
    // finished run, the values are those of one run.
    let expected = [
        ("pvuv", oracle("pvuv", &input, 10, 0)),
        ("ip-count", oracle("ip-count", &input, 10, 0)),
    ];
    for run in ["second", "third"] {
        let run_log = dir.path().join(format!("{run}.log"));
        let (mut again, mut stdin) = spawn_with_stdin(&config, &run_log);
        stdin.write_all(&lines.concat()).unwrap();
        drop(stdin);
        let status = again.wait_exit(Duration::from_secs(120));
        let log = std::fs::read_to_string(&run_log).unwrap();
        assert!(status.is_some_and(|s| s.success()), "{run} run:\n{log}");
        for (rule, expected) in &expected {
            assert_same(
                &redis.outputs(rule),
                expected,
                &format!("{rule} after the {run} run"),
            );
        }
        assert_eq!(redis.records_in("pvuv"), lines.len() as u64, "{run} run");
        assert!(
            log.contains("WARN") && log.contains("previous checkpoint discarded"),
            "the {run} run reports the discarded checkpoint:\n{log}"
        );
    }
}

/// A followed file stopped, then replaced at the same path by a different
/// file, twice: once by a new file renamed over it (a new inode), once
/// rewritten in place (the same inode, a different head). Each restart
/// warns and reads the new file from its start. Each file is longer than
/// the last, so resuming at the old offset would fit in it and skip lines.
#[test]
fn a_different_file_at_the_same_path_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    clean_log(&all, "23", "4500");
    let lines = log_lines(&all);
    let parts = [&lines[..1000], &lines[1000..2500], &lines[2500..]];
    let path = dir.path().join("app.log");
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let config = write_config(
        dir.path(),
        &format!("{}poll_interval_ms = 20\n", file_source(&path, true)),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    );
    let mut read = 0;
    for (n, part) in parts.iter().enumerate() {
        match n {
            0 => std::fs::write(&path, part.concat()).unwrap(),
            1 => {
                let new = dir.path().join("app.log.new");
                std::fs::write(&new, part.concat()).unwrap();
                std::fs::rename(&new, &path).unwrap();
            }
            _ => {
                let inode = || std::os::unix::fs::MetadataExt::ino(&path.metadata().unwrap());
                let before = inode();
                std::fs::write(&path, part.concat()).unwrap();
                assert_eq!(inode(), before, "rewritten in place");
            }
        }
        read += part.len() as u64;
        let log = dir.path().join(format!("run{n}.log"));
        let mut run = Running::spawn(&config, File::create(&log).unwrap());
        redis.wait_for_records("ip-count", read, RECORDS_DEADLINE, None);
        terminate_within_deadline(&mut run, &log);
        let text = std::fs::read_to_string(&log).unwrap();
        let warned = text.contains("the checkpoint names another file");
        assert_eq!(warned, n > 0, "run {n} warns of another file:\n{text}");
    }
    assert_eq!(redis.records_in("ip-count"), read);
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &all, 10, 0),
        "ip-count over three files at one path",
    );
}

/// Redis goes away for a few seconds while a followed file grows, and
/// comes back with its data: weir pauses its input, says so, and resumes
/// with nothing lost and nothing counted twice.
#[test]
fn file_run_survives_a_redis_outage() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    clean_log(&all, "24", "60000");
    let lines = log_lines(&all);
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines[..10_000].concat()).unwrap();
    let mut redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let config = write_config(
        dir.path(),
        &format!("{}poll_interval_ms = 20\n", file_source(&path, true)),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 50\n",
    );
    let log = dir.path().join("weir.log");
    let mut run = Running::spawn(&config, File::create(&log).unwrap());
    redis.wait_for_records("ip-count", 10_000, RECORDS_DEADLINE, None);
    // The rest is appended in steps while Redis is down and after.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            // About 10,000 lines a second: every checkpoint has windows to
            // write, the one Redis fails on too.
            for step in lines[10_000..].chunks(100) {
                file.write_all(&step.concat()).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        redis.outage(Duration::from_secs(4));
    });
    redis.wait_for_records("ip-count", lines.len() as u64, RECORDS_DEADLINE, None);
    terminate_within_deadline(&mut run, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("input paused until the checkpoint store is back")
            && text.contains("store=\"Redis\"")
            && text.contains("checkpoint store is back; checkpoint written"),
        "the outage was reported:\n{text}"
    );
    assert_eq!(redis.records_in("ip-count"), lines.len() as u64);
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &all, 10, 0),
        "ip-count after a Redis outage",
    );
}
