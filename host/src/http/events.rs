//! `GET /api/v1/events`: Server-Sent Events of the window values each
//! checkpoint changed, so a page updates without polling.
//!
//! One [`EventFeed`] task per server looks at what Redis holds after each
//! checkpoint of a pipeline in this process (or every `poll` under `weir
//! serve`, which has no checkpoints of its own to wait for), only while
//! someone listens: the newest windows of every metric in every rule's
//! catalog, compared with what it saw last. Each change is one `windows`
//! event, in the query API's shape:
//! `{"rule":R,"metric":M,"window_secs":S,"windows":[{"start","final","values"}]}`.
//! A `rules` event carries `weir status --json` when it changed.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::ServerState;
use super::error::ApiError;
use super::reader::{MetricWindows, WindowValues};
use crate::cli::status::RuleStatus;
use crate::sink::keys;
use crate::telemetry::live;

/// Newest windows of each metric compared after each checkpoint: the open
/// ones and the one that just closed.
const WATCHED_WINDOWS: usize = 3;

/// One event: its name and JSON data.
#[derive(Debug, Clone)]
pub struct Event {
    name: &'static str,
    data: Arc<str>,
}

/// `GET /api/v1/events`.
pub async fn subscribe(
    State(state): State<ServerState>,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let receiver = state.events.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    let sse = sse::Event::default().event(event.name).data(&*event.data);
                    return Some((Ok(sse), receiver));
                }
                // A slow client misses some changes; the next carry the
                // current values.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A metric's entry in a rule's catalog (`weir:R:metrics`).
#[derive(Debug, Deserialize)]
struct CatalogEntry {
    windows: Vec<CatalogWindow>,
}

#[derive(Debug, Deserialize)]
struct CatalogWindow {
    size_secs: i64,
}

/// A `windows` event (serialized directly: the values stay as stored).
#[derive(Debug, Serialize)]
struct Changed<'a> {
    rule: &'a str,
    metric: &'a str,
    window_secs: i64,
    windows: Vec<WindowValues>,
}

/// What a window looked like: final flag and values as stored.
type Seen = (bool, BTreeMap<String, String>);

/// Watches Redis for window changes and broadcasts them.
pub struct EventFeed {
    state: ServerState,
    poll: Duration,
    /// (rule, metric, size, start) → what was last sent.
    seen: HashMap<(String, String, i64, i64), Seen>,
    /// The last `rules` event's data.
    last_rules: String,
}

impl EventFeed {
    /// A feed for `state`, looking every `poll` without a pipeline.
    pub fn new(state: ServerState, poll: Duration) -> Self {
        Self {
            state,
            poll,
            seen: HashMap::new(),
            last_rules: String::new(),
        }
    }

    /// Runs until the server stops.
    pub async fn run(mut self) {
        let mut checkpoints = live().checkpoints.load(Ordering::Relaxed);
        loop {
            if live().running.load(Ordering::Relaxed) {
                // After each checkpoint of this process's pipeline.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let now = live().checkpoints.load(Ordering::Relaxed);
                if now == checkpoints {
                    continue;
                }
                checkpoints = now;
            } else {
                tokio::time::sleep(self.poll).await;
            }
            if self.state.events.receiver_count() == 0 {
                continue;
            }
            if let Err(error) = self.look().await {
                tracing::debug!(%error, "cannot read window changes");
            }
        }
    }

    /// Reads the newest windows and sends what changed.
    async fn look(&mut self) -> Result<(), ApiError> {
        let statuses = self.state.statuses().await?;
        let rules = serde_json::to_string(&statuses).unwrap_or_default();
        if rules != self.last_rules {
            self.send("rules", &rules);
            self.last_rules = rules;
        }
        for status in &statuses {
            self.look_at_rule(status).await?;
        }
        Ok(())
    }

    async fn look_at_rule(&mut self, status: &RuleStatus) -> Result<(), ApiError> {
        let mut conn = self.state.conn.clone();
        let catalog: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::catalog(&status.name))
            .query_async(&mut conn)
            .await?;
        for (metric, json) in catalog {
            let Ok(entry) = serde_json::from_str::<CatalogEntry>(&json) else {
                continue;
            };
            for window in entry.windows {
                let which = MetricWindows {
                    rule: &status.name,
                    metric: &metric,
                    size_secs: window.size_secs,
                };
                let starts = match which.starts(&mut conn, WATCHED_WINDOWS).await {
                    Ok(starts) => starts,
                    Err(ApiError::NotFound(_)) => continue,
                    Err(error) => return Err(error),
                };
                let windows = which.values(&mut conn, &starts, Some(status)).await?;
                let changed: Vec<_> = windows
                    .into_iter()
                    .filter(|window| {
                        let now: Seen = (
                            window.is_final,
                            window
                                .values
                                .iter()
                                .map(|(group, value)| (group.clone(), value.get().to_owned()))
                                .collect(),
                        );
                        let key = (
                            status.name.clone(),
                            metric.clone(),
                            which.size_secs,
                            window.start,
                        );
                        self.seen.insert(key, now.clone()) != Some(now)
                    })
                    .collect();
                if !changed.is_empty() {
                    let data = Changed {
                        rule: &status.name,
                        metric: &metric,
                        window_secs: which.size_secs,
                        windows: changed,
                    };
                    self.send("windows", &serde_json::to_string(&data).unwrap_or_default());
                }
            }
        }
        self.forget_old();
        Ok(())
    }

    /// Keeps the memory of what was sent bounded: windows that left the
    /// watched range are forgotten.
    fn forget_old(&mut self) {
        const MAX_SEEN: usize = 100_000;
        if self.seen.len() > MAX_SEEN {
            self.seen.clear();
        }
    }

    fn send(&self, name: &'static str, data: &str) {
        // No receiver is fine: nobody is listening.
        let _ = self.state.events.send(Event {
            name,
            data: data.into(),
        });
    }
}
