//! Kafka → weir → Redis against a real Kafka-compatible broker (tansu).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A private tansu broker (in-memory storage) on a free loopback port.
struct Broker {
    port: u16,
    child: Child,
}

impl Broker {
    fn start() -> Self {
        let tansu = std::env::var("WEIR_TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/weir/bin/tansu")
        });
        assert!(
            std::path::Path::new(&tansu).exists(),
            "no tansu at {tansu}: run scripts/install-tansu.sh (scripts/test.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let broker = Broker { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new(&tansu)
            .args([
                "topic",
                "create",
                "access",
                "--partitions",
                "3",
                "--broker",
                &url,
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "cannot create the topic");
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Only the 60 s windows: cumulative day windows stay open on an endless
/// source, so they publish only the steps that closed.
fn minutes(hashes: Hashes) -> Hashes {
    hashes
        .into_iter()
        .filter(|(key, _)| key.contains(":60:"))
        .collect()
}

/// A generated log produced to a 3-partition topic with `weir produce`;
/// weir consumes it, is stopped, and restarted on the same group: the
/// per-minute pv, uv and per-IP counts equal the oracle's, and every record
/// is counted once.
#[test]
fn kafka_to_redis_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "41",
            "--lines",
            "150000",
            "--very-late-frac",
            "0",
            "--malformed-frac",
            "0.01",
        ],
    );
    let lines = std::fs::read(&log)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .count() as u64;
    let broker = Broker::start();
    let produced = weir()
        .args([
            "produce",
            "--brokers",
            &broker.brokers(),
            "--topic",
            "access",
            "--file",
        ])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );

    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    // Partitions interleave in time, so lateness covers the whole log: the
    // result must then be every line, whatever the interleaving.
    let config = write_config(
        dir.path(),
        &format!(
            "[source]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"access\"]\ngroup = \"weir-test\"\nbatch_records = 512\n\
             [source.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
            broker.brokers()
        ),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 20\n",
    );
    let weir = Running::spawn(&config, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(90);
    while redis.records_in("pvuv") < lines {
        assert!(
            Instant::now() < deadline,
            "weir saw {} of {lines} records",
            redis.records_in("pvuv")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(weir.terminate().success());
    // A restart resumes at the checkpointed offsets: nothing is read twice.
    let again = Running::spawn(&config, Stdio::null());
    std::thread::sleep(Duration::from_secs(3));
    assert!(again.terminate().success());

    assert_eq!(redis.records_in("pvuv"), lines, "every record counted once");
    assert_same(
        &minutes(redis.outputs("pvuv")),
        &minutes(oracle("pvuv", &log, 864_000, 0)),
        "pvuv from Kafka",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &log, 864_000, 0),
        "ip-count from Kafka",
    );
}
