//! `weir produce`: send log lines to a Kafka topic, as Flume does in the
//! pipelines weir replaces; for demos, tests and benchmarks.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// What to send.
#[derive(Debug, Clone)]
pub enum Lines {
    /// Every line of a file, in order.
    File(PathBuf),
    /// `count` generated access log lines.
    Access(u64),
    /// `count` generated Hive audit lines.
    Audit(u64),
}

/// Sends lines to `topic` on `brokers`, at most `rate` per second (0 = as
/// fast as possible), with extra librdkafka `properties` (TLS, SASL...);
/// returns how many were sent.
pub fn produce(
    brokers: &str,
    topic: &str,
    lines: &Lines,
    rate: u64,
    properties: &[(String, String)],
) -> anyhow::Result<u64> {
    let mut config = ClientConfig::new();
    // Lines have no key. librdkafka's default for keyless records is a
    // "sticky" partition that changes only when a batch is sent, so a
    // small file sent quickly can land in one partition and leave the
    // others empty; 0 picks a random partition per line, which spreads
    // every file over all partitions as Flume's default sink does.
    config
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("sticky.partitioning.linger.ms", "0");
    for (key, value) in properties {
        config.set(key, value);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config
        .create()
        .context("cannot create the Kafka producer")?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut send = |line: &[u8]| -> anyhow::Result<()> {
        loop {
            match producer.send::<(), [u8]>(BaseRecord::to(topic).payload(line)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(error).context("cannot send to Kafka"),
            }
        }
        sent += 1;
        if rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    };
    match lines {
        Lines::File(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line)? > 0 {
                let end = line.strip_suffix(b"\n").unwrap_or(&line);
                let end = end.strip_suffix(b"\r").unwrap_or(end);
                send(end)?;
                line.clear();
            }
        }
        Lines::Access(count) => {
            for i in 0..*count {
                send(generated_access(i).as_bytes())?;
            }
        }
        Lines::Audit(count) => {
            for i in 0..*count {
                send(generated_audit(i).as_bytes())?;
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .context("cannot deliver every message to Kafka")?;
    Ok(sent)
}

/// Event time of generated line `i`: ten lines a second from 2026-11-21 10:00 UTC.
fn clock(i: u64) -> (u64, u64, u64) {
    let secs = 10 * 3600 + i / 10;
    ((secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

fn generated_access(i: u64) -> String {
    let (h, m, s) = clock(i);
    format!(
        "10.{}.{}.{} - - [21/Nov/2026:{h:02}:{m:02}:{s:02} +0000] \"GET /item/{} HTTP/1.1\" 200 {} \"-\" \"weir-produce\"",
        i % 7,
        (i / 7) % 50,
        (i * 31) % 200,
        i % 500,
        100 + i % 900
    )
}

fn generated_audit(i: u64) -> String {
    let (h, m, s) = clock(i);
    format!(
        "2026-11-21 {h:02}:{m:02}:{s:02},{:03} INFO  [pool-5-thread-7]: HiveMetaStore.audit (HiveMetaStore.java:logAuditEvent(309)) - ugi=etl ip=/10.10.{}.{} cmd=get_table : db=sales tbl=t{}",
        i % 1000,
        i % 4,
        i % 30,
        i % 12
    )
}
