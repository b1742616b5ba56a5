//! `GET /metrics`: Prometheus metrics (OpenMetrics text, through
//! `prometheus-client`).
//!
//! Per rule (label `rule`) the counters are read from the checkpoint at
//! each scrape, by the same code as `weir status`, so each value equals
//! what `weir status` reports and every instance (and `weir serve`) serves
//! the same. Per lane (labels `rule`, `lane`) the watermark and its lag
//! behind wall time. A `weir run` adds its own process measurements
//! ([`crate::telemetry`]): checkpoint duration (histogram), size, retries,
//! Redis errors, and what the source read (label `source`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::ServerState;
use super::error::ApiError;
use crate::cli::status::RuleStatus;
use crate::model::RuleStats;
use crate::telemetry::{Live, live};

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>;

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A per-rule counter: name, help, and how to read it.
type RuleCounter = (&'static str, &'static str, fn(&RuleStats) -> u64);

/// Per-rule counters: the metric name (before `_total`), its help, and the
/// counter of [`RuleStats`] it reports.
const RULE_COUNTERS: [RuleCounter; 9] = [
    ("weir_records_in", "Records handed to the rule.", |s| {
        s.records_in
    }),
    ("weir_updates", "Updates applied to windows.", |s| s.updates),
    ("weir_rejected", "Records the rule refused.", |s| s.rejected),
    ("weir_late", "Update x window pairs dropped as late.", |s| {
        s.late
    }),
    (
        "weir_dead_letters",
        "Records sent to weir:<rule>:dead.",
        |s| s.dead_lettered,
    ),
    ("weir_traps", "Failed calls into the rule.", |s| s.traps),
    (
        "weir_quarantined",
        "Records skipped while quarantined.",
        |s| s.quarantined,
    ),
    (
        "weir_no_event_time",
        "Updates dropped without an event time.",
        |s| s.no_event_time,
    ),
    (
        "weir_invalid_updates",
        "Updates naming an unknown metric or the wrong kind.",
        |s| s.invalid_updates,
    ),
];

/// `GET /metrics`.
pub async fn scrape(State(state): State<ServerState>) -> Result<impl IntoResponse, ApiError> {
    let statuses = state.statuses().await?;
    let mut registry = Registry::default();
    rules(&mut registry, &statuses);
    lanes(&mut registry, &statuses, now_ms());
    if live().running.load(std::sync::atomic::Ordering::Relaxed) {
        process(
            &mut registry,
            live(),
            state.source.as_deref().unwrap_or("unknown"),
        );
    }
    let mut body = String::new();
    encode(&mut body, &registry)
        .map_err(|_| ApiError::Status(anyhow::anyhow!("cannot encode the metrics")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// The per-rule counters, version and reload counts.
fn rules(registry: &mut Registry, statuses: &[RuleStatus]) {
    for (name, help, read) in RULE_COUNTERS {
        let family = Counters::default();
        for status in statuses {
            family
                .get_or_create(&labels(&[("rule", &status.name)]))
                .inc_by(read(&status.stats));
        }
        registry.register(name, help, family);
    }
    let reloads = Counters::default();
    let load_errors = Counters::default();
    let info = Gauges::default();
    for status in statuses {
        let rule = labels(&[("rule", &status.name)]);
        reloads.get_or_create(&rule).inc_by(status.reloads);
        load_errors.get_or_create(&rule).inc_by(status.load_errors);
        info.get_or_create(&labels(&[
            ("rule", &status.name),
            ("version", &status.version),
            ("version_hash", &status.version_hash),
        ]))
        .set(1.0);
    }
    registry.register(
        "weir_reloads",
        "New versions of the rule swapped in while running (as of the last checkpoint).",
        reloads,
    );
    registry.register(
        "weir_load_errors",
        "Files of the rule that failed to load while running (the previous version kept running).",
        load_errors,
    );
    registry.register("weir_rule_info", "The loaded version of each rule.", info);
}

/// Per lane: the watermark and its lag behind wall time.
fn lanes(registry: &mut Registry, statuses: &[RuleStatus], now_ms: i64) {
    let watermark = Gauges::default();
    let lag = Gauges::default();
    for status in statuses {
        for (lane, lane_watermark) in &status.watermarks {
            let Some(watermark_ms) = lane_watermark.watermark_ms else {
                continue;
            };
            let labels = labels(&[("rule", &status.name), ("lane", lane)]);
            #[expect(
                clippy::cast_precision_loss,
                reason = "milliseconds since 1970 fit a double's 53 bits"
            )]
            {
                watermark
                    .get_or_create(&labels)
                    .set(watermark_ms as f64 / 1000.0);
                lag.get_or_create(&labels)
                    .set(now_ms.saturating_sub(watermark_ms) as f64 / 1000.0);
            }
        }
    }
    registry.register(
        "weir_watermark_seconds",
        "The lane's watermark (Unix seconds) as of its last checkpoint: windows ending before it are final.",
        watermark,
    );
    registry.register(
        "weir_watermark_lag_seconds",
        "How far the lane's watermark is behind wall time.",
        lag,
    );
}

/// This process's pipeline: checkpoints, Redis errors, the source.
fn process(registry: &mut Registry, live: &'static Live, source: &str) {
    registry.register(
        "weir_checkpoint_duration_seconds",
        "How long each checkpoint write took.",
        live.checkpoint_seconds.clone(),
    );
    let counter =
        |registry: &mut Registry, name: &str, help: &str, value: u64, source: Option<&str>| {
            let family = Counters::default();
            let labels = source.map_or_else(Vec::new, |source| labels(&[("source", source)]));
            family.get_or_create(&labels).inc_by(value);
            registry.register(name, help, family);
        };
    counter(
        registry,
        "weir_checkpoints",
        "Checkpoints written.",
        Live::get(&live.checkpoints),
        None,
    );
    counter(
        registry,
        "weir_checkpoint_retries",
        "Checkpoint writes that failed and were retried.",
        Live::get(&live.checkpoint_retries),
        None,
    );
    counter(
        registry,
        "weir_redis_errors",
        "Errors talking to Redis (failed checkpoint writes and reconnects).",
        Live::get(&live.redis_errors),
        None,
    );
    counter(
        registry,
        "weir_source_records",
        "Records read in this run.",
        Live::get(&live.source_records),
        Some(source),
    );
    counter(
        registry,
        "weir_source_bytes",
        "Bytes read in this run.",
        Live::get(&live.source_bytes),
        Some(source),
    );
    counter(
        registry,
        "weir_source_oversized",
        "Records skipped for being longer than source.max_record_bytes.",
        Live::get(&live.source_oversized),
        Some(source),
    );
    counter(
        registry,
        "weir_source_duplicates",
        "Kafka records delivered again at an offset already read (skipped).",
        Live::get(&live.source_duplicates),
        Some(source),
    );
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let family = Gauges::default();
        #[expect(clippy::cast_precision_loss, reason = "a size, far below 2^53")]
        family.get_or_create(&Vec::new()).set(value as f64);
        registry.register(name, help, family);
    };
    gauge(
        registry,
        "weir_checkpoint_output_fields",
        "Output fields the last checkpoint wrote.",
        Live::get(&live.checkpoint_output_fields),
    );
    gauge(
        registry,
        "weir_checkpoint_state_groups",
        "Window state groups the last checkpoint wrote.",
        Live::get(&live.checkpoint_state_groups),
    );
    gauge(
        registry,
        "weir_checkpoint_member_bytes",
        "Distinct member bytes the last checkpoint appended.",
        Live::get(&live.checkpoint_member_bytes),
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
