//! Test guest `misbehave`: counts access log lines like `ip-count` counts
//! requests, and misbehaves on lines containing a marker, in the way its
//! config says. The host's sandbox tests use it to check that a rule that
//! traps costs only the marked records, that its output streams reach the
//! host log, that its randomness is deterministic, and that an error
//! withdraws what the record emitted. An empty marker marks every line.

mod random;

use serde::Deserialize;
use weir_sdk::prelude::*;

/// How to misbehave on a marked line.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Panic (a trap).
    #[default]
    Panic,
    /// Loop forever (the call deadline stops it).
    Loop,
    /// Allocate without bound (the memory cap stops it).
    Grow,
    /// Recurse without bound (stack overflow).
    Recurse,
    /// Emit 200,000 updates (an output cap below that stops it).
    Flood,
    /// Print a line to stdout and one to stderr.
    Print,
    /// Count under group keys drawn from every source of randomness
    /// (`secure-N`, `insecure-N`, `hash-N`).
    Random,
    /// Count under `withdrawn` (and `total`), then return an error.
    EmitThenFail,
    /// Count the line without an event time, so the host falls back to the
    /// source's timestamp (Kafka's), or drops it as `no_event_time`.
    NoEventTime,
}

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What to do on a marked line.
    #[serde(default)]
    pub mode: Mode,
    /// The marker.
    #[serde(default = "default_marker")]
    pub marker: String,
}

fn default_marker() -> String {
    "BOOM".to_owned()
}

/// The rule.
pub struct Misbehave {
    config: Config,
}

/// Recurses until the stack runs out (the guard only stops it after
/// `u64::MAX` levels, which no stack holds).
#[inline(never)]
fn recurse(depth: u64, pad: &mut [u8; 64]) -> u64 {
    pad[(depth % 64) as usize] = depth as u8;
    if depth == u64::MAX {
        return 0;
    }
    let next = recurse(depth + 1, pad);
    next.wrapping_add(u64::from(pad[0]))
}

/// Writes one line to each output stream, naming the record.
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the host must capture a rule's stdout and stderr; this is how a rule writes them"
)]
fn print(offset: u64) {
    println!("misbehave stdout at offset {offset}");
    eprintln!("misbehave stderr at offset {offset}");
}

impl Rule for Misbehave {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("misbehave", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("lines").tumbling(60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok(Misbehave { config })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let text = record.text()?;
        let line = AccessLog::parse(text)?;
        if text.contains(&self.config.marker) {
            match self.config.mode {
                Mode::Panic => panic!("marker found at offset {}", record.offset),
                Mode::Loop => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                Mode::Grow => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                Mode::Recurse => {
                    let mut pad = [0; 64];
                    std::hint::black_box(recurse(0, &mut pad));
                }
                Mode::Flood => {
                    for _ in 0..200_000 {
                        out.count("lines", "flood", line.time_ms);
                    }
                }
                Mode::Print => print(record.offset),
                Mode::Random => {
                    let keys = [
                        format!("secure-{}", random::secure() % 4),
                        format!("insecure-{}", random::insecure() % 4),
                        format!("hash-{}", random::first_hashed_key()),
                    ];
                    for key in &keys {
                        out.count("lines", key, line.time_ms);
                    }
                }
                Mode::EmitThenFail => {
                    out.count("lines", "withdrawn", line.time_ms);
                    out.count("lines", "total", line.time_ms);
                    return Err(Error::msg(format!(
                        "failed after emitting, at offset {}",
                        record.offset
                    )));
                }
                Mode::NoEventTime => {
                    out.count("lines", "total", None);
                    return Ok(());
                }
            }
        }
        out.count("lines", "total", line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(Misbehave);
