//! The `[http]` section: where the read-only HTTP server (dashboard, query
//! API, Server-Sent Events, `/metrics`) listens.

use std::net::SocketAddr;

use super::reader::TableReader;

/// The `[http]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where to listen (`listen`, an `IP:port`); `None` (`listen = ""`)
    /// turns the server off. Loopback by default: the server has no
    /// authentication, so exposing it is an explicit choice.
    pub listen: Option<SocketAddr>,
}

impl HttpConfig {
    /// Default of `listen`: 9464, the port registered for Prometheus
    /// exporters of this kind, on loopback only.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

    /// Reads a `listen` value: `""` is off, anything else an `IP:port`.
    pub fn parse_listen(text: &str) -> Result<Option<SocketAddr>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<SocketAddr>().map(Some).map_err(|_| {
            format!(
                "expected IP:port (such as {:?}) or \"\" (off), found {text:?}",
                Self::DEFAULT_LISTEN
            )
        })
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: Self::parse_listen(Self::DEFAULT_LISTEN).ok().flatten(),
        }
    }
}

/// Reads `[http]`.
pub(super) fn read_http(mut t: TableReader<'_>) -> HttpConfig {
    let Some(listen) = t.optional::<String>("listen") else {
        return HttpConfig::default();
    };
    match HttpConfig::parse_listen(&listen) {
        Ok(listen) => HttpConfig { listen },
        Err(message) => {
            t.problem("listen", message);
            HttpConfig::default()
        }
    }
}
