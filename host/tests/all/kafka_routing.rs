//! `[rules.<name>] topics` over Kafka: a rule is given only the records of
//! its topics; a rule without `topics` sees every topic.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::kafka_support::{Broker, kafka_source};
use crate::support::*;

fn produce(broker: &Broker, topic: &str, log: &std::path::Path) {
    let status = weir()
        .args(["produce", "--brokers", &broker.brokers(), "--topic", topic])
        .arg("--file")
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cannot produce to {topic}");
}

/// Two topics with different logs; `pvuv` is routed to `access`,
/// `ip-count` has no `topics` and sees both. Each rule's values equal the
/// oracle's over exactly the lines of its topics, and each counts exactly
/// those records (the other topic's are neither input nor rejects).
#[test]
fn kafka_rules_see_only_their_topics() {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let web = dir.path().join("web.log");
    for (log, seed, lines) in [(&access, "71", "20000"), (&web, "72", "15000")] {
        let args = ["--seed", seed, "--lines", lines, "--very-late-frac", "0"];
        generate(log, &[&args[..], &["--malformed-frac", "0.01"]].concat());
    }
    let both = dir.path().join("both.log");
    let mut text = std::fs::read(&access).unwrap();
    text.extend(std::fs::read(&web).unwrap());
    std::fs::write(&both, text).unwrap();
    let (access_lines, all_lines) = (line_count(&access), line_count(&both));

    let broker = Broker::with_topics(&[("access", 2), ("web", 2)]);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let config = write_config(
        dir.path(),
        &kafka_source(&broker, r#"["access", "web"]"#, ""),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 20\n\
         [rules.pvuv]\ntopics = [\"access\"]\n",
    );
    produce(&broker, "access", &access);
    produce(&broker, "web", &web);
    let log = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let weir = Running::spawn(&config, log);
    let deadline = Instant::now() + Duration::from_secs(120);
    while redis.records_in("ip-count") < all_lines || redis.records_in("pvuv") < access_lines {
        assert!(
            Instant::now() < deadline,
            "weir saw {} and {} records; log:\n{}",
            redis.records_in("ip-count"),
            redis.records_in("pvuv"),
            std::fs::read_to_string(dir.path().join("weir.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(weir.terminate().success());

    let status = status_json(&config);
    let stats = |rule: &str| -> serde_json::Value {
        status
            .iter()
            .find(|r| r["name"] == rule)
            .map(|r| r["stats"].clone())
            .unwrap()
    };
    assert_eq!(
        stats("pvuv")["records_in"],
        access_lines,
        "pvuv: access only"
    );
    assert_eq!(stats("ip-count")["records_in"], all_lines, "ip-count: both");
    // A routed-out record is not a reject: pvuv rejects only the access
    // log's malformed lines, which ip-count rejects too, with the web log's.
    let (pvuv_rejected, ip_rejected) = (
        stats("pvuv")["rejected"].as_u64().unwrap(),
        stats("ip-count")["rejected"].as_u64().unwrap(),
    );
    assert!(
        pvuv_rejected > 0 && pvuv_rejected < ip_rejected,
        "pvuv rejected {pvuv_rejected}, ip-count {ip_rejected}"
    );
    assert_same(
        &minutes(redis.outputs("pvuv")),
        &minutes(oracle("pvuv", &access, 864_000, 0)),
        "pvuv over the access topic",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &both, 864_000, 0),
        "ip-count over both topics",
    );
}
