//! The `weir` command line.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;

use clap::{Parser, Subcommand};

pub mod build;
pub mod build_python;
pub mod check;
pub mod deploy;
pub mod golden;
pub mod new;
pub mod produce;
pub mod progress;
pub mod replay;
pub mod reset;
pub mod rule_file;
pub mod run;
pub mod serve;
pub mod status;
pub mod test_cmd;

/// weir: real-time log analytics with sandboxed WebAssembly rules.
///
/// weir reads log lines (a file, stdin, or Kafka topics through a consumer
/// group), runs every rule component in the plugins folder over them, keeps
/// event-time windows of what the rules count, and writes the results to
/// Redis as `weir:{rule}:{metric}:{size}:{start}` hashes. State and source
/// positions (file offsets, Kafka partition offsets) are checkpointed to
/// Redis, so a restart continues exactly; several instances in one Kafka
/// consumer group split the partitions and publish exact merged values.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline described by a config file.
    ///
    /// A finite input (a file without `follow`, stdin, or Kafka with
    /// `stop_at_end = true`, which reads every owned partition to its end)
    /// runs to its end, closes every window and exits; otherwise (a followed
    /// file, Kafka) weir runs until SIGINT or SIGTERM, then finishes the
    /// current batch, checkpoints and exits.
    Run {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
        /// Where the HTTP server listens (`IP:port`, `""` = off), over the
        /// config's `[http] listen`.
        #[arg(long, env = "WEIR_HTTP_LISTEN", value_name = "ADDR")]
        http_listen: Option<String>,
    },
    /// Serve the dashboard, query API, events and `/metrics` of a pipeline
    /// from Redis, without running it (read-only).
    ///
    /// Everything served is read from Redis, so any number of `weir serve`
    /// and `weir run` instances of a pipeline serve the same numbers.
    /// Runs until SIGINT or SIGTERM.
    Serve {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
        /// Where to listen (`IP:port`), over the config's `[http] listen`.
        #[arg(long, env = "WEIR_HTTP_LISTEN", value_name = "ADDR")]
        http_listen: Option<String>,
    },
    /// Show each rule's version, counters (records, rejected, late, traps,
    /// dead letters, quarantined) and state, as of the last checkpoint.
    Status {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
        /// Print JSON (a list with one object per rule) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send log lines to a Kafka topic (a file, or generated lines).
    Produce {
        /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`.
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
        /// The topic to send to.
        #[arg(long)]
        topic: String,
        /// Send every line of this file.
        #[arg(long, conflicts_with = "generate")]
        file: Option<PathBuf>,
        /// Send generated lines instead: `access` or `audit`.
        #[arg(long, value_parser = ["access", "audit"])]
        generate: Option<String>,
        /// How many lines to generate.
        #[arg(long, default_value_t = 10_000)]
        lines: u64,
        /// At most this many lines per second (0 = as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// A librdkafka producer property, `KEY=VALUE` (repeatable), e.g.
        /// `-X security.protocol=ssl -X ssl.ca.location=ca.pem`.
        #[arg(short = 'X', long = "librdkafka", value_name = "KEY=VALUE", value_parser = property)]
        librdkafka: Vec<(String, String)>,
    },
    /// Forget a pipeline's checkpoint, so the next `weir run` starts from
    /// the beginning of its input.
    ///
    /// Deletes every key under `weir:ckpt:{namespace}:` (the config's
    /// `[checkpoint] namespace`), and prints how many of each kind. A
    /// finished file run is final until then: running it again reads
    /// nothing. Stop every `weir run` of the namespace first.
    Reset {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
        /// Also delete the published values (`weir:{rule}:*`) of every rule
        /// that checkpointed in the namespace. The rules are found through
        /// the checkpoint, so this only works before it is reset; a rule's
        /// values are shared by every pipeline that runs it.
        #[arg(long)]
        outputs: bool,
    },
    /// Replay a log through one rule under event time, with the host's
    /// windows, watermark, lateness and aggregation and no Redis; print
    /// every window's final values, the counters and the first rejects
    /// with their line numbers.
    Test(test_cmd::TestArgs),
    /// Make a rule project from a template: the rule with native tests, a
    /// sample input and its golden replay.
    New(new::NewArgs),
    /// Build a rule project into a WebAssembly component (stripped of
    /// debug info), check that this weir loads it, and print its manifest,
    /// size and path.
    Build(build::BuildArgs),
    /// Check a rule component, then write it beside and rename it into a
    /// plugins folder (a running `weir run` swaps it in); prints the
    /// version it replaced. `weir reset` starts its results from scratch.
    Deploy(deploy::DeployArgs),
    /// Check a config file and every plugin without running anything.
    ///
    /// Lists every problem at once; exits non-zero if there is any.
    Check {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
    },
}

/// Parses a `KEY=VALUE` librdkafka property.
fn property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, found {text:?}")),
    }
}

/// Every key matching `pattern` ([`crate::sink::scan::keys`]), with the
/// pattern named in the error.
pub(crate) async fn scan_keys(
    conn: &mut crate::sink::conn::RedisConn,
    pattern: &str,
) -> anyhow::Result<BTreeSet<String>> {
    crate::sink::scan::keys(conn, pattern)
        .await
        .with_context(|| format!("scanning Redis for {pattern}"))
}

/// Prints where the dashboard is, on stdout (the command's output).
pub(crate) fn url_line(addr: std::net::SocketAddr) {
    #[expect(
        clippy::print_stdout,
        reason = "the dashboard's address is the command's output"
    )]
    {
        println!("dashboard: http://{addr}/");
    }
}
