//! The `[redis]` section: where windows are written and how long they live.

use std::path::PathBuf;

use super::at_least;
use super::reader::TableReader;
use super::secret::{self, Secret, redact_url, url_has_password};

/// The `[redis]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Connection URL (`url`): `redis://`, `rediss://` (TLS) or `unix://`;
    /// may carry `user:password@` (see [`redact_url`] for how it is shown).
    pub url: String,
    /// Whether Redis is a Redis Cluster (`cluster`): weir then discovers
    /// the masters from [`RedisConfig::seeds`] and tags its keys so that
    /// what changes together shares a slot (see the README's "Redis
    /// Cluster").
    pub cluster: bool,
    /// The cluster's seed nodes (`urls`, or `url` split at commas); empty
    /// unless `cluster`. The first is also [`RedisConfig::url`].
    pub seeds: Vec<String>,
    /// TTL of output hashes in seconds, 0 for no expiry (`default_ttl_secs`).
    pub default_ttl_secs: u64,
    /// How many recent windows each metric's index keeps (`index_windows`);
    /// at least 1.
    pub index_windows: usize,
    /// ACL user (`username`), instead of the URL's.
    pub username: Option<String>,
    /// Password from `password_env` or `password_file`, instead of the
    /// URL's.
    pub password: Option<Secret>,
    /// TLS settings of a `rediss://` URL.
    pub tls: RedisTls,
    /// Replicas each written master must confirm after a checkpoint
    /// (`wait_replicas`, Redis `WAIT`); 0 = do not wait. Replication is
    /// asynchronous: without it, a master lost before its replica has a
    /// checkpoint takes that checkpoint with it.
    pub wait_replicas: u32,
    /// How long a checkpoint waits for them (`wait_timeout_ms`), at least 1.
    pub wait_timeout_ms: u64,
}

/// TLS to Redis (`tls_*` keys, only with a `rediss://` URL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA certificates (PEM) that sign the server's certificate
    /// (`tls_ca_file`); the system's trust store when unset.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (`tls_cert_file`), with
    /// `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, `tls_key_file`).
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate and host name (`tls_insecure`):
    /// encryption without authentication of the server, for tests only.
    pub insecure: bool,
}

impl RedisConfig {
    /// Default of `index_windows`: one day of minute windows.
    pub const DEFAULT_INDEX_WINDOWS: usize = 1440;

    /// Default of `wait_timeout_ms`.
    pub const DEFAULT_WAIT_TIMEOUT_MS: u64 = 1000;

    /// The URL as logs and errors show it: without its password.
    pub fn shown_url(&self) -> String {
        if self.cluster {
            let seeds: Vec<String> = self.seeds.iter().map(|url| redact_url(url)).collect();
            return format!("cluster {}", seeds.join(","));
        }
        redact_url(&self.url)
    }

    /// Whether a password is written in the config file itself (in the
    /// URL), rather than read from the environment or a file.
    pub fn has_inline_secret(&self) -> bool {
        url_has_password(&self.url) || self.seeds.iter().any(|url| url_has_password(url))
    }
}

impl Default for RedisConfig {
    /// A local Redis, database 0, no expiry.
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            cluster: false,
            seeds: Vec::new(),
            default_ttl_secs: 0,
            index_windows: Self::DEFAULT_INDEX_WINDOWS,
            username: None,
            password: None,
            tls: RedisTls::default(),
            wait_replicas: 0,
            wait_timeout_ms: Self::DEFAULT_WAIT_TIMEOUT_MS,
        }
    }
}

/// Reads `[redis]`.
pub(super) fn read_redis(mut t: TableReader<'_>) -> Option<RedisConfig> {
    // `url` first: unknown-key messages list the known keys in this order.
    let _ = t.raw("url");
    let cluster = t.optional::<bool>("cluster").unwrap_or(false);
    let seeds = read_seeds(&mut t, cluster);
    let url = seeds.as_ref().and_then(|seeds| seeds.first().cloned());
    let default_ttl_secs = t.optional::<u64>("default_ttl_secs").unwrap_or(0);
    let index_windows = t.optional::<usize>("index_windows");
    let index_windows = at_least(&t, "index_windows", index_windows, 1)
        .unwrap_or(RedisConfig::DEFAULT_INDEX_WINDOWS);
    let username = t.optional::<String>("username");
    let password = read_password(&mut t, url.as_deref());
    let tls = read_tls(&mut t, url.as_deref());
    let wait_replicas = t.optional::<u32>("wait_replicas").unwrap_or(0);
    let wait_timeout_ms = t.optional::<u64>("wait_timeout_ms");
    let wait_timeout_ms = at_least(&t, "wait_timeout_ms", wait_timeout_ms, 1)
        .unwrap_or(RedisConfig::DEFAULT_WAIT_TIMEOUT_MS);
    Some(RedisConfig {
        url: url?,
        cluster,
        seeds: if cluster { seeds? } else { Vec::new() },
        default_ttl_secs,
        index_windows,
        username,
        password: password?,
        tls: tls?,
        wait_replicas,
        wait_timeout_ms,
    })
}

/// `url` (or, with `cluster = true`, `urls`, or `url` naming several
/// seeds separated by commas): the server URLs, at least one, each with a
/// scheme weir speaks (a cluster is reached over TCP only). `None` on a
/// problem.
fn read_seeds(t: &mut TableReader<'_>, cluster: bool) -> Option<Vec<String>> {
    let urls = t.optional::<Vec<String>>("urls");
    let seeds: Vec<String> = match (urls, cluster) {
        (Some(_), false) => {
            t.problem("urls", "several seed URLs need cluster = true");
            return None;
        }
        (Some(urls), true) => {
            if t.raw("url").is_some() {
                t.problem("urls", "give url or urls, not both");
                return None;
            }
            if urls.is_empty() {
                t.problem("urls", "must name at least one seed node");
                return None;
            }
            urls
        }
        (None, false) => vec![t.required::<String>("url")?],
        (None, true) => t
            .required::<String>("url")?
            .split(',')
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .collect(),
    };
    let key = if t.raw("urls").is_some() {
        "urls"
    } else {
        "url"
    };
    let (schemes, shown): (&[&str], &str) = if cluster {
        (&["redis://", "rediss://"], "redis:// or rediss://")
    } else {
        (
            &["redis://", "rediss://", "unix://"],
            "redis://, rediss:// or unix://",
        )
    };
    let mut ok = !seeds.is_empty();
    if !ok {
        t.problem(key, "must name at least one seed node");
    }
    for url in &seeds {
        if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
            t.problem(
                key,
                format!("must start with {shown} (found {:?})", redact_url(url)),
            );
            ok = false;
        }
    }
    if cluster
        && seeds.iter().any(|url| url.starts_with("rediss://"))
            != seeds.iter().all(|url| url.starts_with("rediss://"))
    {
        t.problem(key, "seed nodes must all use TLS (rediss://) or none");
        ok = false;
    }
    ok.then_some(seeds)
}

/// `password_env` or `password_file` (at most one, and not with a password
/// in the URL). `Some(None)` when there is none; `None` on a problem.
fn read_password<'a>(t: &mut TableReader<'a>, url: Option<&str>) -> Option<Option<Secret>> {
    let env = t.optional::<String>("password_env");
    let file = t.optional::<PathBuf>("password_file");
    if env.is_some() && file.is_some() {
        t.problem(
            "password_file",
            "give password_env or password_file, not both",
        );
        return None;
    }
    let password = match (env, file) {
        (Some(var), _) => Some(secret::from_env(t, "password_env", &var)?),
        (_, Some(path)) => Some(secret::from_file(t, "password_file", &path)?),
        _ => None,
    };
    if password.is_some() && url.is_some_and(url_has_password) {
        t.problem(
            "url",
            "has a password, and password_env/password_file gives another: keep one",
        );
        return None;
    }
    Some(password)
}

/// The `tls_*` keys: only with `rediss://`; a client certificate needs its
/// key; every file must exist (it is read at each connection).
fn read_tls<'a>(t: &mut TableReader<'a>, url: Option<&str>) -> Option<RedisTls> {
    let mut ok = true;
    let mut file = |t: &mut TableReader<'a>, key: &'a str| -> Option<PathBuf> {
        let path = t.optional::<PathBuf>(key)?;
        if !path.is_file() {
            t.problem(key, format!("{} is not a readable file", path.display()));
            ok = false;
        }
        Some(path)
    };
    let tls = RedisTls {
        ca_file: file(t, "tls_ca_file"),
        cert_file: file(t, "tls_cert_file"),
        key_file: file(t, "tls_key_file"),
        insecure: t.optional::<bool>("tls_insecure").unwrap_or(false),
    };
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        let missing = if tls.cert_file.is_some() {
            "tls_key_file"
        } else {
            "tls_cert_file"
        };
        t.problem(
            missing,
            "a client certificate needs both tls_cert_file and tls_key_file",
        );
        ok = false;
    }
    let wants_tls = tls != RedisTls::default();
    if wants_tls && url.is_some_and(|url| !url.starts_with("rediss://")) {
        t.problem(
            "url",
            "tls_* keys are set, so the URL must start with rediss:// (TLS)",
        );
        ok = false;
    }
    ok.then_some(tls)
}
