//! The query API (JSON), read from Redis on every request.
//!
//! - `GET /api/v1/rules`: what `weir status --json` prints.
//! - `GET /api/v1/rules/{rule}/metrics`: the rule's metric catalog.
//! - `GET /api/v1/rules/{rule}/metrics/{metric}/{window_secs}?last=N`:
//!   `{"windows":[{"start":T,"final":bool,"values":{"<group>":<value>}}]}`,
//!   the newest N windows oldest first, open windows with their live values.
//! - `.../top?last=N&limit=K`: each window's K largest groups.
//! - `GET /api/v1/alerts?last=N`: the newest alerts of every rule.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::reader::{self, Alert, MetricWindows, WindowTop, WindowValues};
use super::{RULE_NAMES_FOR, ServerState};
use crate::cli::status::{RuleStatus, read_statuses_of, rule_names};
use crate::sink::keys;

/// Windows served when `last` is not given.
const DEFAULT_LAST: usize = 60;
/// Most windows (or alerts) one request may ask for.
const MAX_LAST: usize = 10_000;
/// Groups per window of a ranking when `limit` is not given.
const DEFAULT_LIMIT: usize = 10;

/// `{"windows":[...]}`. Serialized directly (never through a
/// `serde_json::Value`, which would turn the stored numbers into doubles).
#[derive(Debug, Serialize)]
pub struct Windows<T> {
    windows: T,
}

/// `{"alerts":[...]}`, newest first.
#[derive(Debug, Serialize)]
pub struct Alerts {
    alerts: Vec<Alert>,
}

/// `?last=N&limit=K`.
#[derive(Debug, Deserialize)]
pub struct Range {
    last: Option<usize>,
    limit: Option<usize>,
}

impl Range {
    fn last(&self) -> Result<usize, ApiError> {
        bounded("last", self.last.unwrap_or(DEFAULT_LAST))
    }

    fn limit(&self) -> Result<usize, ApiError> {
        bounded("limit", self.limit.unwrap_or(DEFAULT_LIMIT))
    }
}

fn bounded(name: &str, value: usize) -> Result<usize, ApiError> {
    if (1..=MAX_LAST).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::BadRequest(format!(
            "{name} must be 1 to {MAX_LAST}, found {value}"
        )))
    }
}

impl ServerState {
    /// Every rule's status, as `weir status` reads it.
    pub(super) async fn statuses(&self) -> Result<Vec<RuleStatus>, ApiError> {
        let mut conn = self.conn.clone();
        let names = {
            let mut cached = self.names.lock().await;
            match &*cached {
                Some((found_at, names)) if found_at.elapsed() < RULE_NAMES_FOR => names.clone(),
                _ => {
                    let names = rule_names(&mut conn, &self.scope).await?;
                    // None yet (no checkpoint): look again next time.
                    if !names.is_empty() {
                        *cached = Some((Instant::now(), names.clone()));
                    }
                    names
                }
            }
        };
        Ok(read_statuses_of(&mut conn, &self.scope, &names).await?)
    }

    /// One rule's status, if it has checkpointed.
    async fn status(&self, rule: &str) -> Result<Option<RuleStatus>, ApiError> {
        Ok(self
            .statuses()
            .await?
            .into_iter()
            .find(|status| status.name == rule))
    }
}

/// `GET /api/v1/rules`.
pub async fn rules(State(state): State<ServerState>) -> Result<Json<Vec<RuleStatus>>, ApiError> {
    Ok(Json(state.statuses().await?))
}

/// `GET /api/v1/rules/{rule}/metrics`: metric → `{aggregation, windows}`
/// (the rule's `weir:R:metrics` hash, its JSON values parsed).
pub async fn catalog(
    State(state): State<ServerState>,
    Path(rule): Path<String>,
) -> Result<Json<BTreeMap<String, Value>>, ApiError> {
    MetricWindows {
        rule: &rule,
        metric: "x",
        size_secs: 1,
    }
    .check()?;
    let mut conn = state.conn.clone();
    let catalog: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys::catalog(&rule))
        .query_async(&mut conn)
        .await?;
    if catalog.is_empty() {
        return Err(ApiError::NotFound(format!("no rule {rule:?} in Redis")));
    }
    Ok(Json(
        catalog
            .into_iter()
            .map(|(metric, json)| {
                let value = serde_json::from_str(&json).unwrap_or(Value::String(json));
                (metric, value)
            })
            .collect(),
    ))
}

/// `GET /api/v1/rules/{rule}/metrics/{metric}/{window_secs}?last=N`.
pub async fn windows(
    State(state): State<ServerState>,
    Path((rule, metric, size_secs)): Path<(String, String, i64)>,
    Query(range): Query<Range>,
) -> Result<Json<Windows<Vec<WindowValues>>>, ApiError> {
    let which = MetricWindows {
        rule: &rule,
        metric: &metric,
        size_secs,
    };
    which.check()?;
    let last = range.last()?;
    let mut conn = state.conn.clone();
    let starts = which.starts(&mut conn, last).await?;
    let status = state.status(&rule).await?;
    let windows = which.values(&mut conn, &starts, status.as_ref()).await?;
    Ok(Json(Windows { windows }))
}

/// `GET /api/v1/rules/{rule}/metrics/{metric}/{window_secs}/top?last=N&limit=K`:
/// `{"windows":[{"start":T,"final":bool,"top":[{"group":G,"value":V}]}]}`.
pub async fn top(
    State(state): State<ServerState>,
    Path((rule, metric, size_secs)): Path<(String, String, i64)>,
    Query(range): Query<Range>,
) -> Result<Json<Windows<Vec<WindowTop>>>, ApiError> {
    let which = MetricWindows {
        rule: &rule,
        metric: &metric,
        size_secs,
    };
    which.check()?;
    let (last, limit) = (range.last()?, range.limit()?);
    let mut conn = state.conn.clone();
    let starts = which.starts(&mut conn, last).await?;
    let status = state.status(&rule).await?;
    let windows = which
        .top(&mut conn, &starts, limit, status.as_ref())
        .await?;
    Ok(Json(Windows { windows }))
}

/// `GET /api/v1/alerts?last=N`: `{"alerts":[...]}`, newest first, each
/// with its stream `id` and fields.
pub async fn alerts(
    State(state): State<ServerState>,
    Query(range): Query<Range>,
) -> Result<Json<Alerts>, ApiError> {
    let last = bounded("last", range.last.unwrap_or(20))?;
    let rules: Vec<String> = state
        .statuses()
        .await?
        .into_iter()
        .map(|status| status.name)
        .collect();
    let mut conn = state.conn.clone();
    let alerts = reader::alerts(&mut conn, &rules, last).await?;
    Ok(Json(Alerts { alerts }))
}
