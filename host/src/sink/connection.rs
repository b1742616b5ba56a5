//! How weir reaches Redis: one place turns `[redis]` into a client (URL, ACL
//! user and password, TLS files), names the server without its password,
//! and tells a setting that can never work (a wrong password, an unknown
//! CA, plain text to a TLS port) from an outage worth waiting out.
//!
//! Every part that talks to Redis (the checkpoint store, partition claims,
//! `weir status`, `weir reset`) connects through [`RedisTarget`], so TLS and
//! authentication work the same for all of them.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisError};

use super::conn::{BlockingConn, RedisConn};
use crate::config::RedisConfig;

/// How long establishing a connection (TCP, TLS and `AUTH`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one Redis command (a whole checkpoint transaction) may take.
/// A large checkpoint can take Redis a second or more; redis-rs's default
/// (500 ms) would give up on it while Redis still executes it, and retry
/// forever. A Redis that is down fails fast with a connection error anyway.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one command to a cluster node may take. A cluster checkpoint
/// is many small per-slot scripts (see `apply`), each far below a second,
/// and every one is safe to send again; while the client repairs its view
/// of a restarted master a command can hang, and a short timeout lets the
/// checkpoint retry on a fresh connection instead of waiting a minute.
const CLUSTER_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why weir cannot use Redis.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The settings can never work (bad URL, unreadable or invalid
    /// certificate files): nothing to retry.
    #[error("Redis at {target}: {reason}")]
    Settings {
        /// The server, as [`RedisTarget::shown`] names it.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The server answered and refused: wrong password, unknown CA, a TLS
    /// port spoken to in plain text. Retrying would fail the same way.
    #[error("Redis at {target} refused the connection: {reason}")]
    Refused {
        /// The server, as [`RedisTarget::shown`] names it.
        target: String,
        /// What the server or the TLS layer said, with a hint.
        reason: String,
    },
    /// The server could not be reached (down, restarting, network): worth
    /// retrying.
    #[error("cannot reach Redis at {target}: {error}")]
    Unreachable {
        /// The server, as [`RedisTarget::shown`] names it.
        target: String,
        /// The client's error.
        error: RedisError,
    },
}

impl ConnectError {
    /// Whether retrying cannot help (the settings or the server's answer).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Unreachable { .. })
    }
}

/// A configured Redis server or cluster: the client, with credentials and
/// TLS applied, and its URL without the password for messages.
#[derive(Clone)]
pub struct RedisTarget {
    client: Client,
    shown: String,
    /// Whether the URL asks for TLS (`rediss://`).
    tls: bool,
    /// Replicas to wait for after a checkpoint, and for how long.
    wait: ReplicaWait,
}

/// `[redis] wait_replicas` and `wait_timeout_ms`: after a checkpoint, how
/// many replicas of each written master must have it (Redis `WAIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaWait {
    /// Replicas per master; 0 = do not wait.
    pub replicas: u32,
    /// Longest wait, milliseconds.
    pub timeout_ms: u64,
}

impl ReplicaWait {
    /// The wait `config` asks for.
    pub fn of(config: &RedisConfig) -> Self {
        Self {
            replicas: config.wait_replicas,
            timeout_ms: config.wait_timeout_ms,
        }
    }
}

/// The client of one server or of a cluster (`[redis] cluster = true`).
#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per configured target, built once: its size does not matter"
)]
enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RedisTarget").field(&self.shown).finish()
    }
}

impl RedisTarget {
    /// The server of `[redis]`; fails on settings that can never work.
    pub fn new(config: &RedisConfig) -> Result<Self, ConnectError> {
        // rustls needs a process-wide crypto provider; weir builds it with
        // ring only. Installing twice is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shown = config.shown_url();
        let settings = |reason: String| ConnectError::Settings {
            target: shown.clone(),
            reason,
        };
        if config.cluster {
            let client = cluster_client(config).map_err(settings)?;
            let tls = config.seeds.iter().any(|url| url.starts_with("rediss://"));
            return Ok(Self {
                client: Client::Cluster(client),
                shown,
                tls,
                wait: ReplicaWait::of(config),
            });
        }
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|error| settings(format!("invalid URL: {error}")))?;
        let mut redis_settings = info.redis_settings().clone();
        if let Some(user) = &config.username {
            redis_settings = redis_settings.set_username(user);
        }
        if let Some(password) = &config.password {
            redis_settings = redis_settings.set_password(password.expose());
        }
        let mut info = info.set_redis_settings(redis_settings);
        let tls = &config.tls;
        if tls.insecure
            && let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone()
        {
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: true,
                tls_params: None,
            });
        }
        let client = if tls.ca_file.is_some() || tls.cert_file.is_some() {
            let read = |path: &std::path::Path| {
                std::fs::read(path)
                    .map_err(|error| settings(format!("cannot read {}: {error}", path.display())))
            };
            let root_cert = tls.ca_file.as_deref().map(read).transpose()?;
            let client_tls = match (&tls.cert_file, &tls.key_file) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert)?,
                    client_key: read(key)?,
                }),
                _ => None,
            };
            redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls,
                    root_cert,
                },
            )
        } else {
            redis::Client::open(info)
        }
        .map_err(|error| settings(error.to_string()))?;
        let tls = matches!(
            client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        );
        let client = Client::Single(client);
        Ok(Self {
            client,
            shown,
            tls,
            wait: ReplicaWait::of(config),
        })
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// An async connection with weir's timeouts, checked with a `PING`: a
    /// server that lets any client connect but refuses commands without
    /// a password (`NOAUTH`) is refused here, not at the first checkpoint.
    pub async fn connect(&self) -> Result<RedisConn, ConnectError> {
        let mut conn = match &self.client {
            Client::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                RedisConn::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map_err(|error| self.classify(error))?,
                )
            }
            Client::Cluster(client) => RedisConn::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(|error| self.classify(error))?,
            ),
        };
        let () = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|error| self.classify(error))?;
        Ok(conn)
    }

    /// A blocking connection (for the Kafka client's rebalance callback),
    /// checked like [`RedisTarget::connect`]'s.
    pub fn connect_blocking(&self) -> Result<BlockingConn, ConnectError> {
        let mut conn = match &self.client {
            Client::Single(client) => BlockingConn::Single(
                client
                    .get_connection_with_timeout(CONNECT_TIMEOUT)
                    .map_err(|error| self.classify(error))?,
            ),
            Client::Cluster(client) => BlockingConn::Cluster(Box::new(
                client
                    .get_connection()
                    .map_err(|error| self.classify(error))?,
            )),
        };
        let () = redis::cmd("PING")
            .query(&mut conn)
            .map_err(|error| self.classify(error))?;
        Ok(conn)
    }

    /// Whether this is a Redis Cluster (`[redis] cluster = true`).
    pub fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster(_))
    }

    /// The replicas a checkpoint waits for.
    pub fn replica_wait(&self) -> ReplicaWait {
        self.wait
    }

    /// Sorts a connection error into refused (permanent) or unreachable.
    fn classify(&self, error: RedisError) -> ConnectError {
        match refusal(&error, self.tls) {
            Some(reason) => ConnectError::Refused {
                target: self.shown.clone(),
                reason,
            },
            None => ConnectError::Unreachable {
                target: self.shown.clone(),
                error,
            },
        }
    }
}

/// The cluster client of `[redis]`: its seeds with the user and password,
/// TLS and weir's timeouts. A command retried by the client after a
/// failover is harmless: every checkpoint script is guarded (see the
/// README's "Redis Cluster").
fn cluster_client(config: &RedisConfig) -> Result<ClusterClient, String> {
    let mut seeds = Vec::new();
    for url in &config.seeds {
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|error| format!("invalid URL: {error}"))?;
        seeds.push(info);
    }
    let mut builder = ClusterClientBuilder::new(seeds)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(CLUSTER_RESPONSE_TIMEOUT)
        .retries(3);
    if let Some(user) = &config.username {
        builder = builder.username(user);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password.expose());
    }
    let tls = &config.tls;
    if tls.insecure {
        builder = builder.tls(redis::TlsMode::Insecure);
    }
    if tls.ca_file.is_some() || tls.cert_file.is_some() {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
        };
        let root_cert = tls.ca_file.as_deref().map(read).transpose()?;
        let client_tls = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read(cert)?,
                client_key: read(key)?,
            }),
            _ => None,
        };
        builder = builder.certs(redis::TlsCertificates {
            client_tls,
            root_cert,
        });
    }
    builder.build().map_err(|error| error.to_string())
}

/// Why `error` means the server refused weir for good, with a hint; `None`
/// for errors an outage also produces (refused TCP connections, timeouts),
/// which are retried. Over plain TCP, a connection the server closes during
/// the handshake is taken for a TLS-only port (Redis drops a client whose
/// first bytes are not a TLS hello).
fn refusal(error: &RedisError, tls: bool) -> Option<String> {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || has("wrongpass")
        || has("invalid username-password")
    {
        return Some(format!(
            "authentication failed ({text}): check [redis] username and password_env / password_file, or the URL's user:password"
        ));
    }
    if has("noauth") || has("authentication required") {
        return Some(format!(
            "the server requires a password ({text}): set [redis] password_env or password_file"
        ));
    }
    if has("noperm") {
        return Some(format!(
            "the ACL user lacks a permission weir needs ({text})"
        ));
    }
    if has("certificate") || has("unknownissuer") || has("unknown issuer") {
        return Some(format!(
            "the server's TLS certificate is not trusted ({text}): set [redis] tls_ca_file to the CA that signed it"
        ));
    }
    if has("invalidcontenttype")
        || has("corrupt message")
        || has("received corrupt")
        || has("invalid message")
        || has("peer is incompatible")
        || has("handshake")
    {
        return Some(format!(
            "the TLS handshake failed ({text}): is the server speaking TLS on this port?"
        ));
    }
    if !tls
        && (has("connection reset")
            || has("broken pipe")
            || has("connection closed")
            || has("unexpected end of file")
            || has("unexpectedeof"))
    {
        return Some(format!(
            "the server closed the connection during the handshake ({text}): if it speaks only TLS, use a rediss:// URL"
        ));
    }
    None
}
