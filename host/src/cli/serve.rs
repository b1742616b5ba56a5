//! `weir serve`: the HTTP server of `weir run` (dashboard, query API, SSE,
//! `/metrics`) without a pipeline, for operators with several instances:
//! everything it serves is read from Redis, so all instances agree.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, HttpConfig, SourceKind};
use crate::http::{HttpServer, ServerState};
use crate::pipeline::MAX_BACKOFF;
use crate::sink::RedisTarget;

/// How often `weir serve` looks for window changes to send as events.
const POLL: Duration = Duration::from_secs(1);

/// Serves until SIGINT or SIGTERM.
pub async fn serve(config_path: &Path, listen: Option<&str>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let addr = listen_addr(&config, listen)?
        .context("the HTTP server is off (`[http] listen = \"\"`); set an address to serve")?;
    let server = start(&config, addr, None).await?;
    super::url_line(server.addr());
    wait_for_signal().await;
    tracing::info!("stopping the HTTP server");
    Ok(())
}

/// Where to listen: `--http-listen` (or `WEIR_HTTP_LISTEN`) over
/// `[http] listen`; `None` = off.
pub fn listen_addr(config: &Config, listen: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    match listen {
        Some(text) => HttpConfig::parse_listen(text)
            .map_err(|message| anyhow::anyhow!("--http-listen: {message}")),
        None => Ok(config.http.listen),
    }
}

/// Starts the server for `config` at `addr` (a port in use fails here);
/// `pipeline`: the source of a pipeline in this process, whose own
/// measurements `/metrics` adds. Redis is connected to in the background,
/// with retries while it is unreachable (as the pipeline waits for it).
pub async fn start(
    config: &Config,
    addr: SocketAddr,
    pipeline: Option<&SourceKind>,
) -> anyhow::Result<HttpServer> {
    let target = RedisTarget::new(&config.redis)?;
    let scope = super::status::StatusScope::of(config);
    let source = pipeline.map(source_label);
    let connect = async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match target.connect().await {
                Ok(conn) => {
                    let state = ServerState::new(conn, scope.clone());
                    return Some(match source {
                        Some(source) => state.with_pipeline(source),
                        None => state,
                    });
                }
                Err(error) if error.is_permanent() => {
                    tracing::error!(%error, "the HTTP server cannot use Redis; not serving");
                    return None;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "the HTTP server cannot reach Redis; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    };
    Ok(HttpServer::start(addr, connect, POLL).await?)
}

/// The `source` label of a pipeline's metrics.
fn source_label(kind: &SourceKind) -> &'static str {
    match kind {
        SourceKind::File { .. } => "file",
        SourceKind::Stdin => "stdin",
        SourceKind::Kafka(_) => "kafka",
    }
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
