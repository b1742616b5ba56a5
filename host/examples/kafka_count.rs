//! A bare Kafka consumer that only counts messages: the baseline that
//! `scripts/bench-kafka.sh` measures `weir run` against.
//!
//! ```text
//! cargo build --release -p weir --example kafka_count
//! target/release/examples/kafka_count --brokers 127.0.0.1:9092 --topic access --expect 1000000
//! ```
//!
//! It consumes the way weir's Kafka source does (a `BaseConsumer` in a
//! consumer group, polled one message at a time, no auto commit, from the
//! earliest offset) but does nothing with a message beyond counting it and
//! its payload bytes. Each run joins a new group, so it reads the topic from
//! its beginning. It stops at `--expect` messages and prints the elapsed
//! time from creating the consumer, the time to the first message (joining
//! the group, fetching metadata), and the rates; the last line is
//! `RESULT key=value ...` for scripts.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool reports on stdout and warns on stderr"
)]

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

/// Longest single wait for a message; the deadline is checked in between.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Counts the messages of a topic from its beginning, as a new member of a
/// new consumer group.
#[derive(Debug, Parser)]
struct Args {
    /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`.
    #[arg(long)]
    brokers: String,
    /// The topic to read (all its partitions).
    #[arg(long)]
    topic: String,
    /// Stop once this many messages have arrived.
    #[arg(long)]
    expect: u64,
    /// Consumer group (default: a new one per run).
    #[arg(long)]
    group: Option<String>,
    /// Give up (and fail) after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Extra librdkafka property, `KEY=VALUE`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

/// What one run measured.
struct Count {
    messages: u64,
    bytes: u64,
    /// Messages per partition, indexed by partition number.
    per_partition: Vec<u64>,
    /// From creating the consumer to the first message.
    first: Duration,
    /// From creating the consumer to the last expected message.
    total: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match count(&args) {
        Ok(count) => {
            report(&args, &count);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kafka_count: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn count(args: &Args) -> anyhow::Result<Count> {
    let group = match &args.group {
        Some(group) => group.clone(),
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            format!("kafka-count-{}-{nanos}", std::process::id())
        }
    };
    let started = Instant::now();
    let mut client = ClientConfig::new();
    for property in &args.properties {
        let Some((key, value)) = property.split_once('=') else {
            bail!("--set {property}: expected KEY=VALUE");
        };
        client.set(key, value);
    }
    let consumer: BaseConsumer = client
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("cannot create the Kafka consumer")?;
    consumer
        .subscribe(&[args.topic.as_str()])
        .with_context(|| format!("cannot subscribe to {}", args.topic))?;

    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut count = Count {
        messages: 0,
        bytes: 0,
        per_partition: Vec::new(),
        first: Duration::ZERO,
        total: Duration::ZERO,
    };
    let mut errors = 0u64;
    while count.messages < args.expect {
        if Instant::now() >= deadline {
            bail!(
                "only {} of {} messages after {} s",
                count.messages,
                args.expect,
                args.timeout_secs
            );
        }
        let message = match consumer.poll(POLL_WAIT) {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                errors += 1;
                if errors <= 10 {
                    eprintln!("kafka_count: consumer error (retrying): {error}");
                }
                continue;
            }
        };
        if count.messages == 0 {
            count.first = started.elapsed();
        }
        count.messages += 1;
        count.bytes += message.payload().map_or(0, <[u8]>::len) as u64;
        let partition = usize::try_from(message.partition()).unwrap_or(0);
        if count.per_partition.len() <= partition {
            count.per_partition.resize(partition + 1, 0);
        }
        count.per_partition[partition] += 1;
    }
    count.total = started.elapsed();
    Ok(count)
}

fn report(args: &Args, count: &Count) {
    let total = count.total.as_secs_f64();
    let after_first = (count.total - count.first).as_secs_f64();
    let rate = count.messages as f64 / total;
    // The first message is excluded: the rate while messages flow.
    let steady = count.messages.saturating_sub(1) as f64 / after_first.max(1e-9);
    let partitions: Vec<String> = count
        .per_partition
        .iter()
        .enumerate()
        .map(|(partition, n)| format!("{partition}:{n}"))
        .collect();
    println!(
        "kafka_count: {} messages ({} bytes) from {} in {total:.3} s (first message after {:.3} s): \
         {rate:.0} lines/s; {steady:.0} lines/s after the first message; per partition {}",
        count.messages,
        count.bytes,
        args.topic,
        count.first.as_secs_f64(),
        partitions.join(" ")
    );
    println!(
        "RESULT messages={} bytes={} secs={total:.4} first_secs={:.4} lines_per_sec={rate:.0} steady_lines_per_sec={steady:.0}",
        count.messages,
        count.bytes,
        count.first.as_secs_f64()
    );
}
