//! Reading published windows, top-N rankings and alerts from Redis, in the
//! public layout (README "Redis layout"; `crate::sink::keys`).

use std::collections::{BTreeMap, HashMap};

use crate::sink::conn::RedisConn;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::values::number;
use crate::cli::status::RuleStatus;
use crate::model::is_valid_name;
use crate::sink::keys;

/// One window of a metric as served: its start, whether its value is
/// final, and each group's value.
#[derive(Debug, Serialize)]
pub struct WindowValues {
    /// Start, Unix seconds.
    pub start: i64,
    /// Whether every lane's watermark has passed the window's end.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Group → value, as stored (see [`super::values`]).
    pub values: BTreeMap<String, Box<RawValue>>,
}

/// One window's top groups, largest first.
#[derive(Debug, Serialize)]
pub struct WindowTop {
    /// Start, Unix seconds.
    pub start: i64,
    /// Whether the window's value is final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Groups and values, largest value first.
    pub top: Vec<Ranked>,
}

/// A group and its value in a ranking.
#[derive(Debug, Serialize)]
pub struct Ranked {
    /// The group key.
    pub group: String,
    /// Its value, as stored.
    pub value: Box<RawValue>,
}

/// A metric window to read: `weir:{rule}:{metric}:{size_secs}:*`.
#[derive(Debug, Clone)]
pub struct MetricWindows<'a> {
    /// The rule.
    pub rule: &'a str,
    /// The metric (or a published variant of it, such as `latency_p99`).
    pub metric: &'a str,
    /// The window length in seconds.
    pub size_secs: i64,
}

impl MetricWindows<'_> {
    /// Refuses names that cannot be a rule or metric (they end up in key
    /// names; a `*` would be a glob).
    pub fn check(&self) -> Result<(), ApiError> {
        for name in [self.rule, self.metric] {
            if !is_valid_name(name) {
                return Err(ApiError::BadRequest(format!(
                    "{name:?} is not a rule or metric name (1 to 64 of a-z, 0-9, _ and -)"
                )));
            }
        }
        if self.size_secs <= 0 {
            return Err(ApiError::BadRequest(format!(
                "window_secs must be positive, found {}",
                self.size_secs
            )));
        }
        Ok(())
    }

    /// The newest `last` window starts, oldest first (from the metric's
    /// index); an unknown metric is [`ApiError::NotFound`].
    pub async fn starts(&self, conn: &mut RedisConn, last: usize) -> Result<Vec<i64>, ApiError> {
        let index = keys::output_index(self.rule, self.metric, self.size_secs);
        let (starts, exists): (Vec<i64>, bool) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&index)
            .arg(-i64::try_from(last.max(1)).unwrap_or(i64::MAX))
            .arg(-1)
            .exists(&index)
            .query_async(conn)
            .await?;
        if !exists {
            let catalog: Option<String> = redis::cmd("HGET")
                .arg(keys::catalog(self.rule))
                .arg(self.metric)
                .query_async(conn)
                .await?;
            let declared = catalog.is_some_and(|json| declares(&json, self.size_secs));
            if !declared {
                return Err(ApiError::NotFound(format!(
                    "no windows of {}:{} for {} s in Redis (unknown rule, metric or window length)",
                    self.rule, self.metric, self.size_secs
                )));
            }
        }
        Ok(starts)
    }

    /// Each window's values (`HGETALL` of every start in one round trip).
    pub async fn values(
        &self,
        conn: &mut RedisConn,
        starts: &[i64],
        status: Option<&RuleStatus>,
    ) -> Result<Vec<WindowValues>, ApiError> {
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for &start in starts {
            pipe.hgetall(keys::output(self.rule, self.metric, self.size_secs, start));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
        Ok(starts
            .iter()
            .zip(hashes)
            .map(|(&start, hash)| WindowValues {
                start,
                is_final: self.is_final(status, start),
                values: hash
                    .into_iter()
                    .map(|(group, value)| (group, number(&value)))
                    .collect(),
            })
            .collect())
    }

    /// Each window's `limit` largest groups: from its `…:top` sorted set
    /// when the rule publishes one (score = value), else by sorting its
    /// hash.
    pub async fn top(
        &self,
        conn: &mut RedisConn,
        starts: &[i64],
        limit: usize,
        status: Option<&RuleStatus>,
    ) -> Result<Vec<WindowTop>, ApiError> {
        let mut tops = Vec::with_capacity(starts.len());
        for &start in starts {
            let hash = keys::output(self.rule, self.metric, self.size_secs, start);
            let zset = keys::output_top(&hash, conn.is_cluster());
            let stop = i64::try_from(limit.max(1)).unwrap_or(i64::MAX) - 1;
            let (ranked, exists): (Vec<(String, String)>, bool) = redis::pipe()
                .cmd("ZRANGE")
                .arg(&zset)
                .arg(0)
                .arg(stop)
                .arg("REV")
                .arg("WITHSCORES")
                .exists(&zset)
                .query_async(conn)
                .await?;
            let ranked = if exists {
                ranked
            } else {
                let values: HashMap<String, String> =
                    redis::cmd("HGETALL").arg(&hash).query_async(conn).await?;
                largest(values, limit)
            };
            tops.push(WindowTop {
                start,
                is_final: self.is_final(status, start),
                top: ranked
                    .into_iter()
                    .map(|(group, value)| Ranked {
                        value: number(&value),
                        group,
                    })
                    .collect(),
            });
        }
        Ok(tops)
    }

    fn is_final(&self, status: Option<&RuleStatus>, start: i64) -> bool {
        let end_ms = start.saturating_add(self.size_secs).saturating_mul(1000);
        status.is_some_and(|status| status.is_final(end_ms))
    }
}

/// Whether a catalog entry (`{"aggregation":…,"windows":[{"size_secs":S}…]}`)
/// declares windows of `size_secs`.
fn declares(catalog_json: &str, size_secs: i64) -> bool {
    serde_json::from_str::<serde_json::Value>(catalog_json)
        .ok()
        .and_then(|entry| {
            let windows = entry.get("windows")?.as_array()?.clone();
            Some(windows.iter().any(|window| {
                window.get("size_secs").and_then(serde_json::Value::as_i64) == Some(size_secs)
            }))
        })
        .unwrap_or(false)
}

/// The `limit` largest values, largest first (ties by group); values
/// compare as numbers, but are kept as stored.
fn largest(values: HashMap<String, String>, limit: usize) -> Vec<(String, String)> {
    let mut ranked: Vec<(f64, String, String)> = values
        .into_iter()
        .map(|(group, value)| (value.parse::<f64>().unwrap_or(f64::NAN), group, value))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .filter(|(number, _, _)| !number.is_nan())
        .take(limit)
        .map(|(_, group, value)| (group, value))
        .collect()
}

/// The stream of alerts of a rule (issue 10's contract: `weir:R:alerts`,
/// fields `rule`, `metric`, `group`, `window_start`, `window_secs`,
/// `value`, `threshold`).
fn alerts_key(rule: &str) -> String {
    format!("weir:{rule}:alerts")
}

/// A stream entry as `XREVRANGE` gives it: id and field-value pairs.
type StreamEntry = (String, Vec<(String, String)>);

/// An alert as served: its stream id and its fields, numbers as stored.
pub type Alert = BTreeMap<String, Box<RawValue>>;

/// The newest `last` alerts of `rules`, newest first.
pub async fn alerts(
    conn: &mut RedisConn,
    rules: &[String],
    last: usize,
) -> Result<Vec<Alert>, ApiError> {
    let mut pipe = redis::pipe();
    for rule in rules {
        pipe.cmd("XREVRANGE")
            .arg(alerts_key(rule))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(last.max(1));
    }
    let streams: Vec<Vec<StreamEntry>> = pipe.query_async(conn).await?;
    let mut all: Vec<((u64, u64), Alert)> = streams
        .into_iter()
        .flatten()
        .map(|(id, fields)| {
            let mut alert: Alert = fields
                .into_iter()
                .map(|(field, value)| {
                    let served = match field.as_str() {
                        "window_start" | "window_secs" | "value" | "threshold" => number(&value),
                        _ => text(&value),
                    };
                    (field, served)
                })
                .collect();
            alert.insert("id".to_owned(), text(&id));
            (stream_order(&id), alert)
        })
        .collect();
    all.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
    all.truncate(last);
    Ok(all.into_iter().map(|(_, alert)| alert).collect())
}

/// A stream id `ms-seq` as a sortable pair.
fn stream_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// A JSON string.
fn text(value: &str) -> Box<RawValue> {
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned());
    RawValue::from_string(quoted).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_ranks_by_number_and_keeps_the_stored_text() {
        let values = HashMap::from([
            ("a".to_owned(), "9".to_owned()),
            ("b".to_owned(), "10.50".to_owned()),
            ("c".to_owned(), "10.5".to_owned()),
            ("d".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(
            largest(values, 2),
            vec![
                ("b".to_owned(), "10.50".to_owned()),
                ("c".to_owned(), "10.5".to_owned())
            ]
        );
    }

    #[test]
    fn stream_ids_sort_by_time_then_sequence() {
        assert!(stream_order("1700000000000-2") > stream_order("1700000000000-1"));
        assert!(stream_order("1700000000001-0") > stream_order("1700000000000-9"));
    }
}
