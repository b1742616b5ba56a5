//! `weir run`: run a pipeline until its input ends or it is told to stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::progress::Progress;
use crate::config::Config;
use crate::notify::webhook;
use crate::pipeline::{self, RunSummary};
use crate::telemetry;

/// Runs the pipeline; SIGINT and SIGTERM stop it after a final checkpoint.
pub async fn run(config_path: &Path) -> anyhow::Result<RunSummary> {
    run_with_http(config_path, None).await
}

/// Runs the pipeline with its HTTP server (`[http] listen`, or `listen`
/// when given; a port in use fails here, before anything is read), the
/// alert webhook if configured, and, for a bounded input, progress reports.
pub async fn run_with_http(config_path: &Path, listen: Option<&str>) -> anyhow::Result<RunSummary> {
    let config = Arc::new(Config::load(config_path)?);
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(stop.clone());
    // The process metrics are labelled with the (first) source's kind.
    let first_source = config.sources.iter().next().map(|(_, source)| &source.kind);
    let server = match super::serve::listen_addr(&config, listen)? {
        Some(addr) => Some(super::serve::start(&config, addr, first_source).await?),
        None => None,
    };
    // Alerts are POSTed while the pipeline runs, and the rest after it ends.
    let finished = Arc::new(AtomicBool::new(false));
    let outbox = config
        .alerts
        .webhook_url
        .is_some()
        .then(|| tokio::spawn(webhook::run(config.clone(), finished.clone())));
    telemetry::live().running.store(true, Ordering::Relaxed);
    // Progress is shown for a single bounded source.
    let progress = config.sources.single().and_then(Progress::start);
    let result = pipeline::run(&config, stop).await;
    telemetry::live().running.store(false, Ordering::Relaxed);
    drop(progress);
    finished.store(true, Ordering::Relaxed);
    if let Some(outbox) = outbox
        && let Ok(delivery) = outbox.await
    {
        tracing::info!(
            delivered = delivery.delivered,
            refused = delivery.refused,
            retries = delivery.retries,
            pending = delivery.pending,
            "alert webhook"
        );
    }
    drop(server);
    let summary = result?;
    tracing::info!(
        records = summary.source.records,
        oversized = summary.source.oversized,
        checkpoints = summary.checkpoints,
        "input done"
    );
    if config.sources.is_named() {
        for (name, stats) in &summary.sources {
            tracing::info!(
                source = name.as_str(),
                records = stats.records,
                oversized = stats.oversized,
                duplicates = stats.duplicates,
                "source totals"
            );
        }
    }
    for rule in &summary.rules {
        let stats = &rule.stats;
        let top_reject = rule
            .top_reject
            .as_ref()
            .map(|(reason, count)| format!("{reason} ({count} records)"));
        tracing::info!(
            rule = rule.name.as_str(),
            records = stats.records_in,
            rejected = stats.rejected,
            updates = stats.updates,
            late = stats.late,
            no_event_time = stats.no_event_time,
            invalid_updates = stats.invalid_updates,
            dead_lettered = stats.dead_lettered,
            traps = stats.traps,
            quarantined = stats.quarantined,
            top_reject = top_reject.as_deref().unwrap_or("-"),
            "rule totals"
        );
    }
    skipped_by_quarantine(&summary)?;
    Ok(summary)
}

/// A quarantine follows wall-clock time, so on a fast finite input it can
/// skip most of the records: never silently. The run's results are written
/// (every other record counts), and the command fails naming each rule and
/// how many records it skipped, so a script or CI notices.
fn skipped_by_quarantine(summary: &RunSummary) -> anyhow::Result<()> {
    let skipped: Vec<String> = summary
        .rules
        .iter()
        .filter(|rule| rule.stats.quarantined > 0)
        .map(|rule| {
            format!(
                "rule `{}` skipped {} of {} records while quarantined ({} dead-lettered, {} failed calls)",
                rule.name,
                rule.stats.quarantined,
                rule.stats.records_in + rule.stats.quarantined,
                rule.stats.dead_lettered,
                rule.stats.traps
            )
        })
        .collect();
    if skipped.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}; see `weir status` and the `weir:<rule>:dead` stream",
        skipped.join("; ")
    )
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
