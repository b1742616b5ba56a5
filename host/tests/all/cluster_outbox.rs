//! The three steps of a checkpoint on a Redis Cluster, driven one by one
//! against a real cluster: a writer that dies after its lane's write
//! (step 1) leaves an outbox that the next owner of the lane applies once,
//! and a retried step (lost reply, failover) changes nothing.

use weir::config::RedisConfig;
use weir::sink::apply::{self, FenceHold, LaneOutcome};
use weir::sink::outbox::{self, Unit};
use weir::sink::{CheckpointKeys, RedisConn, RedisTarget};

use crate::cluster_support::RedisCluster;

const LANE: &str = "access/0";
const WINDOW: &str = "weir:r:pv:60:0";

async fn total(conn: &mut RedisConn) -> Option<String> {
    redis::cmd("HGET")
        .arg(WINDOW)
        .arg("total")
        .query_async(conn)
        .await
        .unwrap()
}

#[test]
fn cluster_outbox_is_applied_exactly_once() {
    let cluster = RedisCluster::start();
    let seeds: Vec<String> = cluster.seeds().split(',').map(str::to_owned).collect();
    let config = RedisConfig {
        url: seeds[0].clone(),
        cluster: true,
        seeds,
        ..RedisConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let target = RedisTarget::new(&config).unwrap();
        let mut conn = target.connect().await.unwrap();
        let lane = CheckpointKeys::cluster("t").lane(LANE);
        let fence = lane.fence(LANE);
        let () = redis::cmd("SET")
            .arg(&fence)
            .arg(1)
            .query_async(&mut conn)
            .await
            .unwrap();
        let unit = Unit {
            anchor: WINDOW.to_owned(),
            apply: outbox::Apply::Once,
            ops: vec![vec![
                b"weir.numbers".to_vec(),
                WINDOW.as_bytes().to_vec(),
                b"count".to_vec(),
                b"total".to_vec(),
                b"5".to_vec(),
            ]],
        };
        let state = vec![vec![
            b"HSET".to_vec(),
            lane.source().into_bytes(),
            LANE.as_bytes().to_vec(),
            b"{\"offset\":7}".to_vec(),
        ]];
        let entries = [outbox::encode(&unit)];
        let hold = || FenceHold {
            key: &fence,
            token: 1,
        };

        // Step 1 only: the writer dies before its window writes.
        let outcome = apply::write_lane(&mut conn, &lane, Some(hold()), 0, &entries, &state)
            .await
            .unwrap();
        assert_eq!(outcome, LaneOutcome::Written);
        assert_eq!(total(&mut conn).await, None, "nothing applied yet");
        // Step 1 sent again (its reply was lost): already written.
        let again = apply::write_lane(&mut conn, &lane, Some(hold()), 0, &entries, &state)
            .await
            .unwrap();
        assert_eq!(again, LaneOutcome::AlreadyWritten);

        // The lane's next owner replays the outbox: applied once.
        assert_eq!(
            apply::replay_outbox(&mut conn, &lane, LANE).await.unwrap(),
            1
        );
        assert_eq!(total(&mut conn).await.as_deref(), Some("5"));
        assert_eq!(
            apply::replay_outbox(&mut conn, &lane, LANE).await.unwrap(),
            0,
            "the outbox was cleared"
        );
        // The dead writer's step 2, arriving late, is skipped by the guard.
        apply::apply_unit(&mut conn, &lane, &unit, LANE, 1)
            .await
            .unwrap();
        assert_eq!(total(&mut conn).await.as_deref(), Some("5"));
        // The next checkpoint's change is applied.
        apply::apply_unit(&mut conn, &lane, &unit, LANE, 2)
            .await
            .unwrap();
        assert_eq!(total(&mut conn).await.as_deref(), Some("10"));

        // Another instance takes the lane: the old token writes nothing.
        let _: u64 = redis::cmd("INCR")
            .arg(&fence)
            .query_async(&mut conn)
            .await
            .unwrap();
        let fenced = apply::write_lane(&mut conn, &lane, Some(hold()), 1, &entries, &state)
            .await
            .unwrap();
        assert_eq!(fenced, LaneOutcome::Fenced);
        let seq: u64 = redis::cmd("GET")
            .arg(lane.commit_seq())
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(seq, 1, "a fenced write leaves the lane as it was");
    });
}
