//! Merging a partitioned source's lanes in a real Redis: the scripts of
//! `weir::sink::merge` give the values one lane over all records would.

use weir::sink::CheckpointKeys;
use weir::sink::merge::Merge;
use weir::state::hll::HyperLogLog;
use weir::state::windows::GroupChange;

use crate::support::RedisServer;

fn group(key: &str) -> GroupChange {
    GroupChange {
        key: key.to_owned(),
        output: None,
        merge_value: None,
        state: None,
        new_members: Vec::new(),
        new_registers: Vec::new(),
    }
}

/// Three lanes' HyperLogLogs, checkpointed several times each (one batch
/// of raised registers sent twice), merge in Redis into exactly the
/// estimate of one sketch over every member, which is near the truth.
#[test]
fn approx_distinct_lanes_merge_to_the_estimate_of_the_union() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let keys = CheckpointKeys::new("merge-test");
    let merge = Merge {
        keys: &keys,
        output_key: "weir:r:uv:60:0",
        ttl_secs: 600,
    };
    let mut lanes = [HyperLogLog::new(), HyperLogLog::new(), HyperLogLog::new()];
    let mut union = HyperLogLog::new();
    // Members overlap across lanes: 0..60k, 40k..100k, 90k..150k.
    let ranges = [0..60_000u64, 40_000..100_000, 90_000..150_000];
    for round in 0..4u64 {
        for (lane, range) in lanes.iter_mut().zip(ranges.iter()) {
            let len = range.end - range.start;
            for i in range.start + round * len / 4..range.start + (round + 1) * len / 4 {
                let member = format!("visitor-{i}");
                lane.insert(member.as_bytes());
                union.insert(member.as_bytes());
            }
            let mut change = group("/home");
            change.new_registers = lane.take_changed();
            assert!(!change.new_registers.is_empty());
            for _ in 0..2 {
                let mut pipe = redis::pipe();
                merge.sketch(&mut pipe, std::slice::from_ref(&change));
                let () = pipe.query(&mut conn).unwrap();
            }
        }
        let merged: u64 = redis::cmd("HGET")
            .arg("weir:r:uv:60:0")
            .arg("/home")
            .query(&mut conn)
            .unwrap();
        assert_eq!(merged, union.estimate(), "round {round}");
    }
    let estimate = union.estimate() as f64;
    assert!(
        (estimate - 150_000.0).abs() / 150_000.0 < 0.03,
        "estimate {estimate} of 150000"
    );
}
