//! Merging a partitioned source's lanes in a real Redis: the scripts of
//! `weir::sink::merge` give the values one lane over all records would.

use weir::model::QuantileSet;
use weir::sink::CheckpointKeys;
use weir::sink::merge::Merge;
use weir::sink::merge_exact::ExactMerge;
use weir::state::aggregate::{Aggregate, Contribution, Delta};
use weir::state::hll::HyperLogLog;
use weir::state::sketch::Sketch;
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
        delta: None,
        quantiles: Vec::new(),
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

/// Decimal sums, means and quantile sketches of three lanes merge in Redis
/// into exactly what one lane over every value publishes: the Lua scripts
/// and the host share formats, rounding and the quantile formula.
#[test]
fn exact_lanes_merge_to_what_one_lane_publishes() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let keys = CheckpointKeys::new("merge-test");
    let set = QuantileSet::new(&[0.5, 0.75, 0.99, 0.999]).unwrap();
    let outputs: Vec<String> = set
        .suffixes()
        .iter()
        .map(|suffix| format!("weir:r:cpu{suffix}:60:0"))
        .collect();
    let (mut sum, mut mean) = (
        Aggregate::Decimal { units: 0, scale: 2 },
        Aggregate::Avg {
            units: 0,
            count: 0,
            scale: 2,
        },
    );
    let mut whole = Sketch::default();
    for lane in 0..3i128 {
        let mut sketch = Sketch::default();
        let (mut units, mut count) = (0, 0);
        for i in 0..997i128 {
            // Negative, zero and positive values, cents that round half to even.
            let cents = (i * 37 + lane * 11) % 20_001 - 5_000;
            units += cents;
            count += 1;
            sum.add(Contribution::Units(cents)).unwrap();
            mean.add(Contribution::Units(cents)).unwrap();
            let x = cents as f64 / 100.0;
            sketch.insert(x);
            whole.insert(x);
        }
        let mut pipe = redis::pipe();
        let mut decimal = group("g");
        decimal.delta = Some(Delta::Units(units));
        let mut avg = group("g");
        avg.delta = Some(Delta::Mean { units, count });
        let mut quantiles = group("g");
        quantiles.delta = Some(Delta::Buckets(sketch.take_fresh()));
        let merge = |output_key| ExactMerge {
            keys: &keys,
            output_key,
            ttl_secs: 600,
        };
        merge("weir:r:gmv:60:0").units(&mut pipe, 2, &[decimal]);
        merge("weir:r:avg:60:0").mean(&mut pipe, 2, &[avg]);
        merge(&outputs[0]).quantiles(&mut pipe, set, &outputs, &[quantiles]);
        let () = pipe.query(&mut conn).unwrap();
    }
    let get = |key: &str| -> String {
        redis::cmd("HGET")
            .arg(key)
            .arg("g")
            .query(&mut redis.conn())
            .unwrap()
    };
    assert_eq!(get("weir:r:gmv:60:0"), sum.render());
    assert_eq!(get("weir:r:avg:60:0"), mean.render());
    let want = whole.render(set);
    let got: Vec<String> = outputs.iter().map(|key| get(key)).collect();
    assert_eq!(got, want);
}
