//! Progress of bounded work (a file without `follow`, Kafka with
//! `stop_at_end`): on a terminal a progress bar with records/s, bytes and
//! ETA (`indicatif`), otherwise a log line every few seconds. Read from
//! [`crate::telemetry`], which the loop updates once per batch.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{SourceConfig, SourceKind};
use crate::telemetry::{Live, live};

/// How often the bar is redrawn.
const DRAW_EVERY: Duration = Duration::from_millis(250);
/// How often a progress line is logged without a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Reports progress until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts reporting for a bounded `source`; `None` for an endless one
    /// (a followed file, stdin, Kafka without `stop_at_end`).
    pub fn start(source: &SourceConfig) -> Option<Self> {
        let total_bytes = match &source.kind {
            SourceKind::File {
                path,
                follow: false,
                ..
            } => std::fs::metadata(path).ok().map(|meta| meta.len()),
            SourceKind::Kafka(kafka) if kafka.stop_at_end => None,
            _ => return None,
        };
        let bar = std::io::stderr().is_terminal().then(|| bar(total_bytes));
        let drawn = bar.clone();
        let task = tokio::spawn(async move {
            match drawn {
                Some(bar) => draw(bar).await,
                None => log_lines(total_bytes).await,
            }
        });
        Some(Self { task, bar })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bar(total_bytes: Option<u64>) -> ProgressBar {
    let (bar, template) = match total_bytes {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{bar:32} {bytes}/{total_bytes} {msg} eta {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{spinner} {bytes} {msg} {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Records read and their rate since the previous sample.
struct Rate {
    records: u64,
    at: Instant,
}

impl Rate {
    fn new() -> Self {
        Self {
            records: Live::get(&live().source_records),
            at: Instant::now(),
        }
    }

    /// (records so far, records per second since the last call).
    fn sample(&mut self) -> (u64, f64) {
        let records = Live::get(&live().source_records);
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        #[expect(clippy::cast_precision_loss, reason = "a rate to show")]
        let rate = records.saturating_sub(self.records) as f64 / secs;
        self.records = records;
        self.at = Instant::now();
        (records, rate)
    }
}

/// Where the source is, in bytes: a file's offset, else the bytes read.
fn position() -> u64 {
    let offset = Live::get(&live().file_offset);
    if offset > 0 {
        offset
    } else {
        Live::get(&live().source_bytes)
    }
}

async fn draw(bar: ProgressBar) {
    let mut rate = Rate::new();
    loop {
        tokio::time::sleep(DRAW_EVERY).await;
        let (records, per_sec) = rate.sample();
        bar.set_position(position());
        bar.set_message(format!("{records} records, {per_sec:.0} records/s"));
    }
}

async fn log_lines(total_bytes: Option<u64>) {
    let mut rate = Rate::new();
    loop {
        tokio::time::sleep(LOG_EVERY).await;
        let (records, per_sec) = rate.sample();
        let bytes = position();
        #[expect(clippy::cast_precision_loss, reason = "a percentage to show")]
        let percent = total_bytes
            .filter(|total| *total > 0)
            .map(|total| format!("{:.1}", bytes as f64 * 100.0 / total as f64));
        tracing::info!(
            records,
            records_per_sec = per_sec.round(),
            bytes,
            percent = percent.as_deref().unwrap_or("-"),
            "progress"
        );
    }
}
