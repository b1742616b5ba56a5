//! The webhook outbox: every alert in the `weir:<rule>:alerts` streams is
//! POSTed as JSON to `[alerts] webhook_url`, in stream order.
//!
//! The streams are the outbox: an alert is there exactly once (see
//! `sink::alerts`), and the id of the last entry delivered per rule is kept
//! in `weir:ckpt:<namespace>:alerts:delivered`, so a restart resumes where
//! delivery stopped. Delivery is at least once (a crash between a POST and
//! the record of it sends that alert again); each POST carries an
//! `Idempotency-Key` (hex XXH3 of `rule|metric|group|window_start`, the same
//! for every retry and every instance), so a receiver that honours it sees
//! each alert once. A failed POST (no answer, a 5xx, 408 or 429) is retried
//! with backoff doubling from 100 ms to `max_backoff_ms`; other 4xx answers
//! mean the receiver refuses the alert: logged as an error and skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sink::conn::RedisConn;

use crate::config::Config;
use crate::sink::{RedisTarget, scan};

/// How often the streams are read while the pipeline runs.
const POLL: Duration = Duration::from_millis(200);
/// How long undelivered alerts are retried once the pipeline has ended.
const FINISH_GRACE: Duration = Duration::from_secs(30);
/// Entries read per stream per pass.
const PAGE: usize = 100;
/// How often the alert streams are looked for with `SCAN` (a rule loaded
/// later gets one): not every pass, since `SCAN` walks the whole keyspace.
const RESCAN: Duration = Duration::from_secs(10);

/// What the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Alerts the receiver accepted.
    pub delivered: u64,
    /// Alerts the receiver refused (a 4xx other than 408 and 429).
    pub refused: u64,
    /// Failed tries (retried).
    pub retries: u64,
    /// Alerts left undelivered when the run ended (the next run sends them).
    pub pending: u64,
}

/// Delivers alerts until `finished` is set, then for at most
/// [`FINISH_GRACE`] more until every stream is delivered.
pub async fn run(config: Arc<Config>, finished: Arc<AtomicBool>) -> Delivery {
    let mut delivery = Delivery::default();
    let Some(url) = config.alerts.webhook_url.clone() else {
        return delivery;
    };
    let target = match RedisTarget::new(&config.redis) {
        Ok(target) => target,
        Err(error) => {
            tracing::error!(%error, "alert webhook: cannot reach Redis; alerts stay in their streams");
            return delivery;
        }
    };
    let delivered_key = format!("weir:ckpt:{}:alerts:delivered", config.checkpoint.namespace);
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(config.alerts.timeout_ms)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let poster = Poster {
        agent,
        url,
        max_backoff: Duration::from_millis(config.alerts.max_backoff_ms),
    };
    let mut deadline = None;
    let mut streams = Streams::default();
    loop {
        let finishing = finished.load(Ordering::Relaxed);
        if finishing && deadline.is_none() {
            deadline = Some(tokio::time::Instant::now() + FINISH_GRACE);
            // The last pass sees every stream the run wrote.
            streams.scanned = None;
        }
        let outbox = Outbox {
            target: &target,
            delivered_key: &delivered_key,
            poster: &poster,
            deadline,
        };
        match outbox.pass(&mut streams, &mut delivery).await {
            Ok(0) if finishing => return delivery,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "alert webhook: cannot read the alert streams; retrying")
            }
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            delivery.pending = pending(&target, &delivered_key).await;
            if delivery.pending > 0 {
                tracing::warn!(
                    pending = delivery.pending,
                    "alert webhook: alerts not delivered when the run ended; the next run delivers them"
                );
            }
            return delivery;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The alert streams known, and when they were last looked for.
#[derive(Default)]
struct Streams {
    names: BTreeSet<String>,
    scanned: Option<tokio::time::Instant>,
}

/// Where alerts are read from and sent to.
struct Outbox<'a> {
    target: &'a RedisTarget,
    delivered_key: &'a str,
    poster: &'a Poster,
    deadline: Option<tokio::time::Instant>,
}

impl Outbox<'_> {
    /// One pass over every alert stream; returns how many alerts it handled.
    async fn pass(&self, streams: &mut Streams, delivery: &mut Delivery) -> anyhow::Result<u64> {
        let (delivered_key, poster, deadline) = (self.delivered_key, self.poster, self.deadline);
        let mut conn = self.target.connect().await?;
        if streams.scanned.is_none_or(|at| at.elapsed() >= RESCAN) {
            streams.names = scan::keys(&mut conn, "weir:*:alerts").await?;
            streams.scanned = Some(tokio::time::Instant::now());
        }
        let mut handled = 0;
        for stream in &streams.names {
            let Some(rule) = stream
                .strip_prefix("weir:")
                .and_then(|s| s.strip_suffix(":alerts"))
            else {
                continue;
            };
            let entries = undelivered(&mut conn, delivered_key, stream, rule, Some(PAGE)).await?;
            for (id, fields) in entries {
                match poster.post(&fields, deadline, delivery).await {
                    Outcome::Delivered => delivery.delivered += 1,
                    Outcome::Refused => delivery.refused += 1,
                    Outcome::GaveUp => return Ok(handled),
                }
                mark(&mut conn, delivered_key, rule, &id).await?;
                handled += 1;
            }
        }
        Ok(handled)
    }
}

async fn mark(
    conn: &mut RedisConn,
    delivered_key: &str,
    rule: &str,
    id: &str,
) -> redis::RedisResult<()> {
    redis::cmd("HSET")
        .arg(delivered_key)
        .arg(rule)
        .arg(id)
        .query_async(conn)
        .await
}

/// The entries of `rule`'s alert `stream` after the last one delivered
/// (at most `count`, if given), oldest first.
async fn undelivered(
    conn: &mut RedisConn,
    delivered_key: &str,
    stream: &str,
    rule: &str,
    count: Option<usize>,
) -> redis::RedisResult<Vec<(String, BTreeMap<String, String>)>> {
    let last: Option<String> = redis::cmd("HGET")
        .arg(delivered_key)
        .arg(rule)
        .query_async(conn)
        .await?;
    let from = last.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
    let mut range = redis::cmd("XRANGE");
    range.arg(stream).arg(&from).arg("+");
    if let Some(count) = count {
        range.arg("COUNT").arg(count);
    }
    range.query_async(conn).await
}

/// Alerts in the streams after the last delivered ones.
async fn pending(target: &RedisTarget, delivered_key: &str) -> u64 {
    let Ok(mut conn) = target.connect().await else {
        return 0;
    };
    let Ok(streams) = scan::keys(&mut conn, "weir:*:alerts").await else {
        return 0;
    };
    let mut count = 0;
    for stream in streams {
        let rule = stream
            .trim_start_matches("weir:")
            .trim_end_matches(":alerts");
        let left = undelivered(&mut conn, delivered_key, &stream, rule, None)
            .await
            .unwrap_or_default();
        count += left.len() as u64;
    }
    count
}

enum Outcome {
    Delivered,
    Refused,
    GaveUp,
}

struct Poster {
    agent: ureq::Agent,
    url: String,
    max_backoff: Duration,
}

impl Poster {
    /// POSTs one alert until it is answered, or the deadline passes.
    async fn post(
        &self,
        fields: &BTreeMap<String, String>,
        deadline: Option<tokio::time::Instant>,
        delivery: &mut Delivery,
    ) -> Outcome {
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let number = |name: &str| field(name).parse::<i64>().unwrap_or_default();
        let body = serde_json::json!({
            "rule": field("rule"),
            "metric": field("metric"),
            "group": field("group"),
            "window_start": number("window_start"),
            "window_secs": number("window_secs"),
            "value": field("value"),
            "threshold": field("threshold"),
        })
        .to_string();
        let key = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(
                format!(
                    "{}|{}|{}|{}",
                    field("rule"),
                    field("metric"),
                    field("group"),
                    field("window_start")
                )
                .as_bytes()
            )
        );
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1u32;
        loop {
            let (agent, url, payload, key) = (
                self.agent.clone(),
                self.url.clone(),
                body.clone(),
                key.clone(),
            );
            let answer = tokio::task::spawn_blocking(move || {
                agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("Idempotency-Key", &key)
                    .send(payload)
                    .map(|response| response.status().as_u16())
            })
            .await;
            let problem = match answer {
                Ok(Ok(status)) if (200..300).contains(&status) => return Outcome::Delivered,
                Ok(Ok(status))
                    if (400..500).contains(&status) && status != 408 && status != 429 =>
                {
                    tracing::error!(status, alert = %body, "alert webhook refused an alert; skipped");
                    return Outcome::Refused;
                }
                Ok(Ok(status)) => format!("HTTP {status}"),
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            delivery.retries += 1;
            tracing::warn!(
                attempt,
                problem,
                retry_in_ms = backoff.as_millis() as u64,
                "alert webhook: POST failed; retrying"
            );
            if deadline.is_some_and(|d| tokio::time::Instant::now() + backoff >= d) {
                return Outcome::GaveUp;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_backoff);
            attempt += 1;
        }
    }
}
