//! Kafka over TLS (with a client certificate whose key is encrypted, its
//! password from the environment), and SASL refused by a real broker.
//!
//! tansu 0.6 cannot serve TLS itself: its `--cert` and `--key` options are
//! declared in one exclusive clap group, so giving both is refused, and it
//! needs both. The test puts `socat` (OpenSSL, client certificates
//! required) in front of it, with tansu advertising socat's port, so every
//! connection weir makes (bootstrap, group coordinator, fetches) is TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::kafka_support::Broker;
use crate::secure::Pki;
use crate::support::*;

/// The client key's password: must never appear in weir's output.
const KEY_PASSWORD: &str = "kafka-key-pass-9f3c";

/// A TLS front (socat) for a broker that advertises the front's port.
struct TlsFront {
    port: u16,
    child: Child,
}

impl TlsFront {
    fn start(pki: &Pki, port: u16, broker: &Broker) -> Self {
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            pki.path("server.crt").display(),
            pki.path("server.key").display(),
            pki.path("ca.crt").display(),
        );
        let child = Command::new("socat")
            .arg(listen)
            .arg(format!("TCP:{}", broker.brokers()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat must be installed (scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client key, encrypted with [`KEY_PASSWORD`].
fn encrypted_client_key(pki: &Pki) -> PathBuf {
    let path = pki.path("client-encrypted.key");
    let status = Command::new("openssl")
        .args(["pkey", "-aes256", "-passout"])
        .arg(format!("pass:{KEY_PASSWORD}"))
        .arg("-in")
        .arg(pki.path("client.key"))
        .arg("-out")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "openssl pkey");
    path
}

/// Runs `weir run --config` with the key password in the environment;
/// fails the test if it runs longer than `limit` (a retry loop).
fn run_limited(config: &Path, limit: Duration) -> Output {
    output_within(
        weir()
            .args(["run", "--config"])
            .arg(config)
            .env("WEIR_TEST_KEY_PASSWORD", KEY_PASSWORD)
            .env("WEIR_TEST_SASL_PASSWORD", KEY_PASSWORD),
        limit,
    )
}

/// A Kafka config reading `access` from `brokers` to the end, with
/// `librdkafka` as its `[source.librdkafka]` table.
fn kafka_config(dir: &Path, brokers: &str, redis: &RedisServer, librdkafka: &str) -> PathBuf {
    let plugins = plugins_dir(dir, &["pvuv"]);
    let source = format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ntopics = [\"access\"]\ngroup = \"weir\"\nstop_at_end = true\n[source.librdkafka]\n{librdkafka}\n"
    );
    write_config(
        dir,
        &source,
        &plugins,
        redis,
        "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 50\n",
    )
}

#[test]
fn kafka_over_tls_with_an_encrypted_client_key_is_exact() {
    let pki = Pki::new();
    let key = encrypted_client_key(&pki);
    let front_port = free_port();
    let broker = Broker::advertising(front_port);
    let front = TlsFront::start(&pki, front_port, &broker);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &["--seed", "71", "--lines", "4000", "--very-late-frac", "0"],
    );

    let tls = |ca: &str| {
        format!(
            "\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"{}\"\n\"ssl.certificate.location\" = \"{}\"\n\"ssl.key.location\" = \"{}\"\n\"ssl.key.password\" = {{ env = \"WEIR_TEST_KEY_PASSWORD\" }}\n",
            pki.path(ca).display(),
            pki.path("client.crt").display(),
            key.display(),
        )
    };
    let produced = weir()
        .args([
            "produce",
            "--brokers",
            &front.brokers(),
            "--topic",
            "access",
            "--file",
        ])
        .arg(&log)
        .args(["-X", "security.protocol=ssl", "-X"])
        .arg(format!("ssl.ca.location={}", pki.path("ca.crt").display()))
        .arg("-X")
        .arg(format!(
            "ssl.certificate.location={}",
            pki.path("client.crt").display()
        ))
        .arg("-X")
        .arg(format!(
            "ssl.key.location={}",
            pki.path("client.key").display()
        ))
        .output()
        .unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );

    // An unknown CA fails the run with a clear message, not a retry loop.
    let redis = RedisServer::start();
    let other = tempfile::tempdir().unwrap();
    let config = kafka_config(other.path(), &front.brokers(), &redis, &tls("other-ca.crt"));
    let output = run_limited(&config, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("Kafka refused the connection"), "{stderr}");
    assert!(!stderr.contains(KEY_PASSWORD), "{stderr}");

    // The right CA: every record over TLS, exact.
    let redis = RedisServer::start();
    let config = kafka_config(dir.path(), &front.brokers(), &redis, &tls("ca.crt"));
    let output = run_limited(&config, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains(KEY_PASSWORD), "{stderr}");
    assert_eq!(redis.records_in("pvuv"), line_count(&log));
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 864_000, 0),
        "pvuv over Kafka with TLS",
    );
}

/// tansu 0.6 with `--authentication` and in-memory storage knows no SASL
/// user (its in-memory store keeps no SCRAM credentials), so a real SASL
/// login cannot succeed against it; what can be tested is that weir sends
/// the configured mechanism and password, and fails clearly when the
/// broker refuses them, never printing the password.
#[test]
fn kafka_sasl_refused_by_the_broker_fails_clearly() {
    let broker = Broker::with_authentication();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let sasl = "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"weir\"\n\"sasl.password\" = { env = \"WEIR_TEST_SASL_PASSWORD\" }\n";
    let config = kafka_config(dir.path(), &broker.brokers(), &redis, sasl);
    let output = run_limited(&config, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("Kafka refused the connection"), "{stderr}");
    assert!(stderr.contains("uthentication"), "{stderr}");
    assert!(!stderr.contains(KEY_PASSWORD), "{stderr}");
}
