//! The jobs of contract 0.2.0 on a real three-master Redis Cluster:
//! decimal sums, means, quantiles, top-N and alerts, from files (one lane:
//! top-N ranked and alerts checked across slots) and over 3 Kafka
//! partitions with a `kill -9` (every lane merge script run in its slot
//! from the lanes' outboxes), each equal to the oracle, alerts once.

use crate::cluster_support::RedisCluster;
use crate::jobs::{
    ERRORS_CONFIG, check_cpu, check_errors_replayed, check_orders, check_spend, run_job,
};
use crate::kafka_jobs::run_jobs_over_kafka;

/// Every 0.2.0 job from a file on one cluster, as on one Redis; `errors`
/// is then replayed from scratch without a second alert.
#[test]
fn cluster_jobs_from_files_match_the_oracle() {
    let cluster = RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |job: &str, extra: &str| {
        let dir = dir.path().join(job);
        std::fs::create_dir_all(&dir).unwrap();
        // Each job in a namespace of its own: one cluster holds them all.
        let extra = format!("[checkpoint]\nnamespace = \"{job}\"\n{extra}");
        run_job(&cluster, &dir, job, 12_000, &extra)
    };
    let (config, log) = run("spend", "");
    check_spend(&cluster, &config, &log);
    let (_, log) = run("orders", "");
    assert!(check_orders(&cluster, &log, 10) >= 5);
    let (_, log) = run("cpu", "");
    check_cpu(&cluster, &log, 10);
    let (config, log) = run("errors", ERRORS_CONFIG);
    check_errors_replayed(&cluster, &config, &log);
}

/// `spend`, `orders`, `cpu` and `errors` over 3 partitions each, merged on
/// a cluster through a `kill -9`.
#[test]
fn cluster_jobs_over_three_partitions_merge_exactly_through_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    run_jobs_over_kafka(
        dir.path(),
        &["spend", "orders", "cpu", "errors"],
        RedisCluster::start,
    );
}
