//! What the Kafka tests share: a private tansu broker, a producer that picks
//! each record's partition and timestamp, access lines at chosen event
//! times, and the `[source]` of a Kafka config.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;

use crate::support::free_port;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A private tansu broker (in-memory storage) on a free loopback port.
pub struct Broker {
    port: u16,
    child: Child,
}

impl Broker {
    /// A broker with a 3-partition topic `access`.
    pub fn start() -> Self {
        Self::with_topics(&[("access", 3)])
    }

    /// A broker with these topics (name, partitions).
    pub fn with_topics(topics: &[(&str, u32)]) -> Self {
        Self::configured(topics, None, false)
    }

    /// A broker with the topic `access` (3 partitions) that tells clients
    /// to connect to `port` (where a TLS front forwards to it).
    pub fn advertising(port: u16) -> Self {
        Self::configured(&[("access", 3)], Some(port), false)
    }

    /// A broker that requires SASL authentication (`--authentication`).
    pub fn with_authentication() -> Self {
        Self::configured(&[], None, true)
    }

    fn configured(topics: &[(&str, u32)], advertised: Option<u16>, authentication: bool) -> Self {
        let tansu = tansu();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://127.0.0.1:{}", advertised.unwrap_or(port));
        let mut command = Command::new(&tansu);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
        ]);
        if authentication {
            command.arg("--authentication");
        }
        let child = command
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
        for (topic, partitions) in topics {
            let status = Command::new(&tansu)
                .args(["topic", "create", topic, "--partitions"])
                .arg(partitions.to_string())
                .args(["--broker", &url])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "cannot create the topic {topic}");
        }
        broker
    }

    /// `host:port`, for `brokers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Makes the broker stop answering for `outage` (SIGSTOP: connections
    /// hang, requests time out), then lets it go on (SIGCONT).
    pub fn freeze(&self, outage: Duration) {
        let pid = self.child.id().to_string();
        let signal = |name: &str| {
            let status = Command::new("kill").args([name, &pid]).status().unwrap();
            assert!(status.success(), "kill {name} tansu");
        };
        signal("-STOP");
        std::thread::sleep(outage);
        signal("-CONT");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tansu() -> String {
    let tansu = std::env::var("WEIR_TANSU").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/weir/bin/tansu")
    });
    assert!(
        std::path::Path::new(&tansu).exists(),
        "no tansu at {tansu}: run scripts/install-tansu.sh (scripts/test.sh does)"
    );
    tansu
}

/// Sends records to a partition the test picks, with a timestamp it picks,
/// in order within each partition (one request in flight), unlike `weir
/// produce`, which lets librdkafka pick the partition.
pub struct TestProducer(ThreadedProducer<DefaultProducerContext>);

impl TestProducer {
    pub fn new(broker: &Broker) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", broker.brokers())
            .set("linger.ms", "5")
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .unwrap();
        TestProducer(producer)
    }

    /// Queues `line` for `topic`/`partition`; `timestamp_ms`: the Kafka
    /// timestamp (the time of sending if `None`).
    pub fn send(&self, topic: &str, partition: i32, line: &str, timestamp_ms: Option<i64>) {
        let mut record = BaseRecord::<(), str>::to(topic)
            .partition(partition)
            .payload(line);
        if let Some(timestamp_ms) = timestamp_ms {
            record = record.timestamp(timestamp_ms);
        }
        self.0.send(record).map_err(|(error, _)| error).unwrap();
    }

    /// Waits until every queued record is in the broker.
    pub fn flush(&self) {
        self.0.flush(Duration::from_secs(30)).unwrap();
    }
}

/// 2026-11-21T00:00:00Z in Unix seconds.
pub const DAY_START_SECS: i64 = 1_795_219_200;

/// An access line from `client` at `secs` seconds after 2026-11-21 00:00
/// UTC (less than a day).
pub fn access_line(client: &str, secs: i64) -> String {
    assert!((0..86_400).contains(&secs), "{secs} is not within the day");
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!(
        "{client} - - [21/Nov/2026:{h:02}:{m:02}:{s:02} +0000] \"GET /item/{secs} HTTP/1.1\" 200 512 \"-\" \"weir-test\""
    )
}

/// The `[source]` of a Kafka config reading `topics` (TOML list text, say
/// `["access"]`) in group `weir-test`, with `extra` source keys; short
/// session timeouts, so a stopped instance's partitions move on quickly.
pub fn kafka_source(broker: &Broker, topics: &str, extra: &str) -> String {
    format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = {topics}\ngroup = \"weir-test\"\nbatch_records = 512\n{extra}\
         [source.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\"max.poll.interval.ms\" = \"10000\"\n",
        broker.brokers()
    )
}
