//! Secure connections: Redis with TLS only and an ACL user, certificates
//! made by the test with `openssl`; wrong settings fail at once with a
//! clear message; no secret is ever printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The ACL user's password: must never appear in weir's output.
const PASSWORD: &str = "Tr0ub4dor-weir-s3cret";

/// A throw-away certificate authority and the certificates it signed.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1/localhost and a client
    /// certificate, all signed by it, plus an unrelated CA.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Self { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.signed("server", "subjectAltName=IP:127.0.0.1,DNS:localhost");
        pki.signed("client", "extendedKeyUsage=clientAuth");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=weir test {name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }

    fn signed(&self, name: &str, extension: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        std::fs::write(self.path(&format!("{name}.ext")), format!("{extension}\n")).unwrap();
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl must be installed (scripts/setup.sh)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `redis-server` that speaks only TLS (client certificates required)
/// and knows only the ACL user `weir`.
struct TlsRedis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(pki: &Pki) -> Self {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--tls-cert-file")
                .arg(pki.path("server.crt"))
                .arg("--tls-key-file")
                .arg(pki.path("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(pki.path("ca.crt"))
                .args(["--tls-auth-clients", "yes"])
                .args(["--user", "default", "off"])
                .args([
                    "--user",
                    "weir",
                    "on",
                    &format!(">{PASSWORD}"),
                    "~*",
                    "&*",
                    "+@all",
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (scripts/setup.sh)");
            let mut server = TlsRedis {
                port,
                child,
                _dir: dir,
            };
            if server.wait_ready(pki) {
                return server;
            }
        }
        panic!("could not start a TLS redis-server");
    }

    fn client(&self, pki: &Pki) -> redis::Client {
        let read = |name: &str| std::fs::read(pki.path(name)).unwrap();
        redis::Client::build_with_tls(
            format!("rediss://weir:{PASSWORD}@127.0.0.1:{}/0", self.port),
            redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: read("client.crt"),
                    client_key: read("client.key"),
                }),
                root_cert: Some(read("ca.crt")),
            },
        )
        .unwrap()
    }

    fn wait_ready(&mut self, pki: &Pki) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut conn) = self.client(pki).get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Every output hash of `rule`.
    fn outputs(&self, pki: &Pki, rule: &str) -> Hashes {
        let mut conn = self.client(pki).get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("weir:{rule}:*"))
            .query(&mut conn)
            .unwrap();
        output_hashes(&mut conn, keys)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[redis]` section for the TLS server, with `extra` keys.
fn redis_section(url: &str, pki: &Pki, extra: &str) -> String {
    format!(
        "[redis]\nurl = \"{url}\"\ntls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{extra}\n",
        pki.path("ca.crt").display(),
        pki.path("client.crt").display(),
        pki.path("client.key").display(),
    )
}

/// Writes a config whose `[redis]` is `redis` and returns its path.
fn config_with(dir: &Path, log: &Path, plugins: &Path, redis: &str) -> PathBuf {
    let path = dir.join("weir.toml");
    let text = format!(
        "{}[plugins]\ndir = \"{}\"\n{redis}[windows]\nallowed_lateness_secs = 10\n",
        file_source(log, false),
        plugins.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `weir` with `args` and the password in its environment; fails the
/// test if it runs longer than 60 s (a retry loop that never ends).
fn weir_with_password(args: &[&str], config: &Path) -> Output {
    output_within(
        weir()
            .args(args)
            .arg("--config")
            .arg(config)
            .env("WEIR_TEST_REDIS_PASSWORD", PASSWORD),
        Duration::from_secs(60),
    )
}

fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A failed run: non-zero exit, `expected` in its message, no password.
fn assert_refused(output: &Output, expected: &str) {
    let text = text_of(output);
    assert!(!output.status.success(), "expected a failure:\n{text}");
    assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    assert!(!text.contains(PASSWORD), "password printed:\n{text}");
    assert!(
        !text.contains("cannot reach Redis; retrying"),
        "a setting that cannot work was retried:\n{text}"
    );
}

#[test]
fn tls_redis_with_an_acl_user_is_exact_and_wrong_settings_fail_clearly() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "61", "--lines", "3000"]);
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let url = format!("rediss://127.0.0.1:{}/0", redis.port);
    let auth = "username = \"weir\"\npassword_env = \"WEIR_TEST_REDIS_PASSWORD\"\n";

    // The pipeline, `weir status` and `weir check` all work over TLS.
    let config = config_with(dir.path(), &log, &plugins, &redis_section(&url, &pki, auth));
    let run = weir_with_password(&["run"], &config);
    assert!(run.status.success(), "{}", text_of(&run));
    assert_same(
        &redis.outputs(&pki, "pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv over TLS",
    );
    let status = weir_with_password(&["status", "--json"], &config);
    assert!(status.status.success(), "{}", text_of(&status));
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).unwrap();
    let pvuv = rules.iter().find(|rule| rule["name"] == "pvuv").unwrap();
    assert_eq!(pvuv["stats"]["records_in"].as_u64(), Some(line_count(&log)));
    let check = weir_with_password(&["check"], &config);
    for output in [&run, &status, &check] {
        assert!(!text_of(output).contains(PASSWORD), "{}", text_of(output));
    }

    // A wrong password: refused at once, the password not shown.
    let wrong = "username = \"weir\"\npassword_env = \"WEIR_TEST_WRONG_PASSWORD\"\n";
    let config = config_with(
        dir.path(),
        &log,
        &plugins,
        &redis_section(&url, &pki, wrong),
    );
    let output = weir()
        .args(["run", "--config"])
        .arg(&config)
        .env("WEIR_TEST_WRONG_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert_refused(&output, "authentication failed");
    assert!(!text_of(&output).contains("not-the-password"));

    // No password at all, where the server requires one.
    let config = config_with(dir.path(), &log, &plugins, &redis_section(&url, &pki, ""));
    assert_refused(
        &weir_with_password(&["run"], &config),
        "refused the connection",
    );

    // A CA that did not sign the server's certificate.
    let section = redis_section(&url, &pki, auth).replace("ca.crt", "other-ca.crt");
    let config = config_with(dir.path(), &log, &plugins, &section);
    assert_refused(&weir_with_password(&["run"], &config), "not trusted");

    // Plain text to the TLS-only port.
    let plain = format!(
        "[redis]\nurl = \"redis://127.0.0.1:{}/0\"\n{auth}",
        redis.port
    );
    let config = config_with(dir.path(), &log, &plugins, &plain);
    assert_refused(&weir_with_password(&["run"], &config), "TLS");

    // A password in the URL of a file other users can read: a warning, and
    // neither the warning nor anything else shows the password.
    let inline = redis_section(
        &format!("rediss://weir:{PASSWORD}@127.0.0.1:{}/0", redis.port),
        &pki,
        "",
    );
    let config = config_with(dir.path(), &log, &plugins, &inline);
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let status = weir_with_password(&["status"], &config);
    let text = text_of(&status);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("other users can read it"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}
