//! The read-only HTTP server of `weir run` and `weir serve`: the dashboard
//! (`/`), the query API (`/api/v1/...`), Server-Sent Events of window
//! changes (`/api/v1/events`) and Prometheus metrics (`/metrics`).
//!
//! Everything it serves about rules and windows is read from Redis (the
//! published outputs and the checkpoint's status fields), never from the
//! pipeline's memory: `weir serve` without a pipeline and every instance of
//! a scaled-out pipeline serve the same numbers, and those are exactly what
//! `weir status` reports. Only `/metrics`' process measurements (checkpoint
//! timings, source progress: [`crate::telemetry`]) are the process's own.

mod api;
mod dashboard;
mod error;
mod events;
mod metrics;
mod reader;
mod values;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::cli::status::StatusScope;
use crate::sink::conn::RedisConn;
use tokio::sync::broadcast;

pub use error::ApiError;
pub use events::EventFeed;
pub use reader::WindowValues;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address is taken (another weir, another exporter) or not ours.
    #[error(
        "cannot listen on {addr} ([http] listen): {source}; stop what uses it, set [http] listen to another address, or listen = \"\" to turn the server off"
    )]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// How long the rule names found in the checkpoint are reused: a rule's
/// first checkpoint shows in the API and `/metrics` within this time.
pub const RULE_NAMES_FOR: Duration = Duration::from_secs(10);

/// Rule names and when they were found.
type FoundNames = (std::time::Instant, BTreeSet<String>);

/// What the handlers share: a Redis connection and where to read.
#[derive(Clone)]
pub struct ServerState {
    conn: RedisConn,
    scope: Arc<StatusScope>,
    events: broadcast::Sender<events::Event>,
    /// The rule names last found in the checkpoint, and when: finding them
    /// walks the keyspace, so a scrape every second reuses them for
    /// [`RULE_NAMES_FOR`].
    names: Arc<tokio::sync::Mutex<Option<FoundNames>>>,
    /// The source kind of a pipeline in this process (`file`, `stdin`,
    /// `kafka`): the `source` label of its metrics.
    source: Option<Arc<str>>,
}

impl ServerState {
    /// Reads the pipeline `scope` describes (its checkpoint namespace,
    /// lateness and sources) on `conn`.
    pub fn new(conn: RedisConn, scope: StatusScope) -> Self {
        Self {
            conn,
            scope: Arc::new(scope),
            events: broadcast::channel(256).0,
            source: None,
            names: Arc::default(),
        }
    }

    /// Serves the measurements of this process's pipeline too, reading
    /// from a source of kind `source`.
    pub fn with_pipeline(mut self, source: &str) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// A bound server, serving in the background until dropped.
pub struct HttpServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// Aborts a task when dropped (the event feed goes with the server).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpServer {
    /// Binds `addr` (a port in use is an error now, at start-up, not
    /// later) and serves what `connect` gives: a Redis connection, waited
    /// for in the background so that a Redis still starting delays the
    /// answers, not the pipeline. Window changes are looked for every
    /// `poll` (or at each checkpoint of a pipeline in this process).
    pub async fn start<F>(addr: SocketAddr, connect: F, poll: Duration) -> Result<Self, HttpError>
    where
        F: Future<Output = Option<ServerState>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| HttpError::Bind { addr, source })?;
        let task = tokio::spawn(async move {
            let Some(state) = connect.await else {
                return;
            };
            let _feed = AbortOnDrop(tokio::spawn(EventFeed::new(state.clone(), poll).run()));
            if let Err(error) = axum::serve(listener, router(state)).await {
                tracing::error!(%error, "the HTTP server stopped");
            }
        });
        tracing::info!(url = %format!("http://{bound}/"), "dashboard, API and /metrics");
        Ok(Self { addr: bound, task })
    }

    /// Where it listens (the port the OS chose, for `:0`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every route.
fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/metrics", get(metrics::scrape))
        .route("/api/v1/rules", get(api::rules))
        .route("/api/v1/rules/{rule}/metrics", get(api::catalog))
        .route(
            "/api/v1/rules/{rule}/metrics/{metric}/{window_secs}",
            get(api::windows),
        )
        .route(
            "/api/v1/rules/{rule}/metrics/{metric}/{window_secs}/top",
            get(api::top),
        )
        .route("/api/v1/alerts", get(api::alerts))
        .route("/api/v1/events", get(events::subscribe))
        .with_state(state)
}
