//! `weir run`: run a pipeline until its input ends or it is told to stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::pipeline::{self, RunSummary};

/// Runs the pipeline; SIGINT and SIGTERM stop it after a final checkpoint.
pub async fn run(config_path: &Path) -> anyhow::Result<RunSummary> {
    let config = Config::load(config_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(stop.clone());
    let summary = pipeline::run(&config, stop).await?;
    tracing::info!(
        records = summary.source.records,
        oversized = summary.source.oversized,
        checkpoints = summary.checkpoints,
        "input done"
    );
    for (rule, stats) in &summary.rules {
        tracing::info!(
            rule,
            records = stats.records_in,
            rejected = stats.rejected,
            updates = stats.updates,
            late = stats.late,
            no_event_time = stats.no_event_time,
            invalid_updates = stats.invalid_updates,
            "rule totals"
        );
    }
    Ok(summary)
}

fn spawn_signal_handler(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping: finishing the current batch and checkpointing");
        stop.store(true, Ordering::Relaxed);
    });
}
