//! Hot-reload benchmark: how long from a new `.wasm` landing in the plugins
//! folder to the new version processing records, and how long the pipeline
//! stands still for a swap, over many swaps while lines stream in.
//!
//! Runs the real `weir` binary (follow mode) against a private
//! `redis-server`. Needs `scripts/build-plugins.sh` to have built
//! `target/wasm32-wasip2/release/pvuv.wasm`.
//!
//! `WEIR_BENCH_SWAPS` (default 30) sets the number of swaps. Each swap
//! installs a version never seen before (a custom section numbers it), so
//! every swap compiles; `WEIR_BENCH_KNOWN_VERSIONS=1` alternates between two
//! versions instead, which after the first two swaps weir has compiled
//! already (a rollback). weir's compile cache is a fresh folder per run.
//! `WEIR_BENCH_WEIR` runs another `weir` binary (say, a build of an older
//! commit) for before/after comparisons.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark's set-up failing should stop it"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn line(i: u64) -> String {
    let secs = i / 100;
    format!(
        "10.0.{}.{} - - [21/Nov/2026:10:{:02}:{:02} +0000] \"GET /p/{} HTTP/1.1\" 200 512 \"-\" \"bench\"\n",
        (i / 250) % 250,
        i % 250,
        (secs / 60) % 60,
        secs % 60,
        i % 97
    )
}

/// One field of a hash, over the bench's one connection: polling by
/// spawning `redis-cli` cost 3-5 ms a call, which the latencies measured
/// (the bench polls every 2 ms, twice per swap).
fn hget(redis: &mut redis::Connection, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query::<Option<String>>(redis)
        .ok()
        .flatten()
}

fn records_in(redis: &mut redis::Connection) -> u64 {
    hget(redis, "weir:ckpt:default:rule:pvuv", "stats")
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["records_in"].as_u64())
        .unwrap_or(0)
}

fn install(target: &Path, bytes: &[u8]) {
    let tmp = target.with_extension("part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let wasm = root.join("target/wasm32-wasip2/release/pvuv.wasm");
    let Ok(version_a) = std::fs::read(&wasm) else {
        panic!(
            "{} is missing: run scripts/build-plugins.sh first",
            wasm.display()
        );
    };
    // A custom section named "version" holding `label`: same code and
    // metrics, other bytes and hash.
    let version = |label: &str| {
        let mut bytes = version_a.clone();
        let name = b"version";
        bytes.extend_from_slice(&[0, (1 + name.len() + label.len()) as u8, name.len() as u8]);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(label.as_bytes());
        bytes
    };
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let hash = |bytes: &[u8]| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
    let swaps: usize = std::env::var("WEIR_BENCH_SWAPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let known = std::env::var("WEIR_BENCH_KNOWN_VERSIONS").is_ok_and(|v| v == "1");
    let versions: Vec<Vec<u8>> = (0..swaps)
        .map(|swap| {
            if !known {
                version(&format!("{run}-{swap}"))
            } else if swap % 2 == 0 {
                version("b")
            } else {
                version_a.clone()
            }
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/setup.sh)");
    std::thread::sleep(Duration::from_millis(300));

    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let target = plugins.join("pvuv.wasm");
    std::fs::write(&target, &version_a).unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, b"").unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"file\"\npath = \"{}\"\nfollow = true\npoll_interval_ms = 5\n[plugins]\ndir = \"{}\"\n[redis]\nurl = \"redis://127.0.0.1:{port}/0\"\n[checkpoint]\ninterval_ms = 10\n",
            log.display(),
            plugins.display()
        ),
    )
    .unwrap();
    let mut weir = Command::new(
        std::env::var_os("WEIR_BENCH_WEIR").unwrap_or_else(|| env!("CARGO_BIN_EXE_weir").into()),
    )
    .args(["run", "--config"])
    .arg(&config)
    .env("RUST_LOG", "info")
    .env("WEIR_COMPILE_CACHE", dir.path().join("compiled"))
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pauses = Arc::new(Mutex::new(Vec::<f64>::new()));
    let loads = Arc::new(Mutex::new(Vec::<f64>::new()));
    // When weir logged swapping in each version hash.
    let swapped = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    let stderr = weir.stderr.take().unwrap();
    let collector = {
        let pauses = pauses.clone();
        let loads = loads.clone();
        let swapped = swapped.clone();
        std::thread::spawn(move || {
            let field = |line: &str, name: &str| -> Option<String> {
                let rest = line.split(name).nth(1)?;
                Some(rest.split_whitespace().next()?.to_owned())
            };
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("rule reloaded")
                    && let Some(hash) = field(&line, " hash=")
                {
                    swapped.lock().unwrap().insert(hash, Instant::now());
                }
                if let Some(ms) = field(&line, " load_ms=").and_then(|ms| ms.parse().ok()) {
                    loads.lock().unwrap().push(ms);
                }
                if let Some(rest) = line.split("pause_us=").nth(1) {
                    let us: f64 = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or("0")
                        .parse()
                        .unwrap_or(0.0);
                    pauses.lock().unwrap().push(us / 1000.0);
                }
            }
        })
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let log = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let chunk: String = (i..i + 500).map(line).collect();
                file.write_all(chunk.as_bytes()).unwrap();
                i += 500;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    while records_in(&mut conn) == 0 {
        assert!(Instant::now() < deadline, "weir did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut latencies = Vec::new();
    let mut to_swap = Vec::new();
    for (swap, bytes) in versions.iter().enumerate() {
        let expected = hash(bytes);
        let landed = Instant::now();
        install(&target, bytes);
        let deadline = landed + Duration::from_secs(20);
        // Swapped in: the checkpoint names the new version...
        while hget(&mut conn, "weir:ckpt:default:rule:pvuv", "version_hash").as_deref()
            != Some(&expected)
        {
            assert!(Instant::now() < deadline, "swap {swap} never happened");
            std::thread::sleep(Duration::from_millis(2));
        }
        // ...and it has processed records since.
        let seen = records_in(&mut conn);
        while records_in(&mut conn) <= seen {
            assert!(
                Instant::now() < deadline,
                "swap {swap}: no records after the swap"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(landed.elapsed().as_secs_f64() * 1000.0);
        if let Some(at) = swapped.lock().unwrap().get(&expected) {
            to_swap.push(at.duration_since(landed).as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(weir.id().to_string())
        .status();
    let _ = weir.wait();
    collector.join().unwrap();
    let _ = redis.kill();
    let _ = redis.wait();

    latencies.sort_by(f64::total_cmp);
    to_swap.sort_by(f64::total_cmp);
    let mut pauses = pauses.lock().unwrap().clone();
    pauses.sort_by(f64::total_cmp);
    let mut loads = loads.lock().unwrap().clone();
    loads.sort_by(f64::total_cmp);
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "hot reload of pvuv ({} bytes), {swaps} swaps of {} versions while ~100k lines/s stream in (follow mode, poll 5 ms, checkpoint 10 ms); load average {}",
        version_a.len(),
        if known { "two alternating" } else { "new" },
        load_average
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| measure | min ms | median ms | p90 ms | max ms |");
    println!("|---|--:|--:|--:|--:|");
    for (name, values) in [
        ("file lands -> new version processing records", &latencies),
        ("file lands -> swap logged", &to_swap),
        ("load: compile (or cache) + init, logged", &loads),
        ("pipeline pause per swap", &pauses),
    ] {
        if values.is_empty() {
            println!("| {name} | - | - | - | - |");
            continue;
        }
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            values[0],
            percentile(values, 0.5),
            percentile(values, 0.9),
            values[values.len() - 1]
        );
    }
}
