//! The scripts that write a checkpoint to a Redis Cluster, one slot each
//! (see the README's "Redis Cluster"):
//!
//! 1. [`write_lane`]: in the lane's slot, check its fence and sequence
//!    number, then write its state and position, its next sequence number
//!    and its outbox (the [`Unit`]s for other slots);
//! 2. [`apply_unit`]: in a unit's slot, apply it, under a guard when
//!    applying it twice would change a value;
//! 3. [`clear_outbox`]: delete the outbox if it is still that checkpoint's.
//!
//! [`replay_outbox`] finishes steps 2 and 3 for a lane whose writer stopped
//! after step 1. Every script is safe to run again (a retry after a lost
//! reply or a failover), which is what makes the whole exactly once.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind};

use super::keys::CheckpointKeys;
use super::merge;
use super::outbox::{self, Apply, Op, Unit};
use super::{alerts, pseudo};
use crate::checkpoint::StoreError;

/// The script that runs a list of commands in one slot (KEYS[1] names the
/// slot), in one of three modes (ARGV[1]):
///
/// - `plain`: run them;
/// - `once` (ARGV[2] guard hash, ARGV[3] lane, ARGV[4] sequence, ARGV[5]
///   TTL): skip them if the guard's field for the lane already reached the
///   sequence, else run them and record it;
/// - `lane` (ARGV[2] fence key or '', ARGV[3] token, ARGV[4] sequence key,
///   ARGV[5] sequence before, ARGV[6] outbox key, ARGV[7] outbox entries
///   k, then the k entries): `fenced` if the token moved, `written` if the
///   sequence is already one past, `moved` if it is neither, else write
///   the outbox, run the commands and advance the sequence.
///
/// Commands follow as: argument count, then the arguments (name first);
/// the checkpoint scripts of [`pseudo`] are run as local functions.
static APPLY: LazyLock<String> = LazyLock::new(|| format!("{}{RUN}", pseudo::lua_functions()));

/// [`APPLY`] as a script: its SHA1, so each call sends 40 bytes, not the
/// script's 5 KiB.
static APPLY_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(&APPLY));

/// Runs [`APPLY`] with KEYS[1] = `key` and the arguments `args` adds:
/// `EVALSHA`, and `EVAL` (which caches it on that node) when the node
/// does not know it yet (first call, or restarted).
async fn run_apply<T: FromRedisValue>(
    conn: &mut impl ConnectionLike,
    key: &str,
    args: impl Fn(&mut Cmd),
) -> RedisResult<T> {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(APPLY_SCRIPT.get_hash()).arg(1).arg(key);
    args(&mut cmd);
    match cmd.query_async(conn).await {
        Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(APPLY.as_str()).arg(1).arg(key);
            args(&mut cmd);
            cmd.query_async(conn).await
        }
        other => other,
    }
}

const RUN: &str = r"
local function run(i)
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    local name = ARGV[i + 1]
    local script = pseudo[name]
    if script then
      local k = script[2]
      script[1]({unpack(ARGV, i + 2, i + 1 + k)}, {unpack(ARGV, i + 2 + k, i + n)})
    else
      redis.call(unpack(ARGV, i + 1, i + n))
    end
    i = i + n + 1
  end
end
local mode = ARGV[1]
if mode == 'plain' then
  run(2)
  return 'ok'
end
if mode == 'once' then
  local done = tonumber(redis.call('HGET', ARGV[2], ARGV[3]) or '0')
  if done >= tonumber(ARGV[4]) then return 'skipped' end
  run(6)
  redis.call('HSET', ARGV[2], ARGV[3], ARGV[4])
  redis.call('EXPIRE', ARGV[2], ARGV[5])
  return 'ok'
end
if ARGV[2] ~= '' and redis.call('GET', ARGV[2]) ~= ARGV[3] then return 'fenced' end
local seq = tonumber(redis.call('GET', ARGV[4]) or '0')
local before = tonumber(ARGV[5])
if seq == before + 1 then return 'written' end
if seq ~= before then return 'moved' end
local k = tonumber(ARGV[7])
redis.call('DEL', ARGV[6])
if k > 0 then
  redis.call('HSET', ARGV[6], 'seq', before + 1)
  for j = 1, k do redis.call('HSET', ARGV[6], tostring(j), ARGV[7 + j]) end
end
run(8 + k)
redis.call('SET', ARGV[4], before + 1)
return 'ok'
";

/// KEYS[1] outbox; ARGV[1] the sequence it must belong to.
const CLEAR: &str = r"
if redis.call('HGET', KEYS[1], 'seq') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// What the lane's script found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneOutcome {
    /// Written now.
    Written,
    /// An earlier attempt had written it (its reply was lost).
    AlreadyWritten,
    /// The fence token moved: another instance owns the lane.
    Fenced,
    /// The sequence number is neither the expected one nor one past.
    Moved,
}

/// The lane's fence, when it has one: key and the token held.
pub struct FenceHold<'a> {
    /// The fence key (in the lane's slot).
    pub key: &'a str,
    /// The token this instance took.
    pub token: u64,
}

fn push_ops(cmd: &mut Cmd, ops: &[Op]) {
    for op in ops {
        cmd.arg(op.len());
        for arg in op {
            cmd.arg(&arg[..]);
        }
    }
}

/// Step 1: the lane's state, position, sequence `before + 1` and outbox,
/// in one script in the lane's slot.
pub async fn write_lane(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    fence: Option<FenceHold<'_>>,
    before: u64,
    outbox: &[Vec<u8>],
    state: &[Op],
) -> RedisResult<LaneOutcome> {
    let seq_key = keys.commit_seq();
    let outbox_key = keys.outbox();
    let reply: String = run_apply(conn, &seq_key, |cmd| {
        cmd.arg("lane");
        match &fence {
            Some(fence) => cmd.arg(fence.key).arg(fence.token),
            None => cmd.arg("").arg(""),
        };
        cmd.arg(&seq_key)
            .arg(before)
            .arg(&outbox_key)
            .arg(outbox.len());
        for entry in outbox {
            cmd.arg(&entry[..]);
        }
        push_ops(cmd, state);
    })
    .await?;
    Ok(match reply.as_str() {
        "ok" => LaneOutcome::Written,
        "written" => LaneOutcome::AlreadyWritten,
        "fenced" => LaneOutcome::Fenced,
        _ => LaneOutcome::Moved,
    })
}

/// Step 2: one unit in its slot; a guarded unit at most once per lane and
/// sequence number.
pub async fn apply_unit(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    unit: &Unit,
    lane: &str,
    seq: u64,
) -> RedisResult<()> {
    if unit.apply == Apply::AfterUnits {
        return run_checks(conn, &unit.ops).await;
    }
    let guard = keys.applied(&unit.anchor);
    let _: String = run_apply(conn, &unit.anchor, |cmd| {
        if unit.apply == Apply::Once {
            cmd.arg("once")
                .arg(&guard)
                .arg(lane)
                .arg(seq)
                .arg(merge::DEFAULT_TTL_SECS);
        } else {
            cmd.arg("plain");
        }
        push_ops(cmd, &unit.ops);
    })
    .await?;
    Ok(())
}

/// Step 2, after every other unit: each alert check (`weir.alert`, with
/// the keys and arguments of [`alerts::ALERT`]) reads the groups across
/// the threshold in the window's slot, then writes their alerts in the
/// stream's slot, where the seen hash keeps each one once.
async fn run_checks(conn: &mut impl ConnectionLike, ops: &[Op]) -> RedisResult<()> {
    const FIXED: usize = 1 + 3 + alerts::ALERT_FIXED_ARGS;
    for op in ops {
        if op.len() < FIXED || op[0] != b"weir.alert" {
            tracing::error!(
                command = %String::from_utf8_lossy(&op[0]),
                "a check weir does not know in a cluster outbox; skipped"
            );
            continue;
        }
        // op: weir.alert, output, seen, stream, rule, metric, start, secs,
        // threshold, above, bucket, kept, groups…
        let (output, seen, stream, args) = (&op[1], &op[2], &op[3], &op[4..]);
        let found: Vec<Vec<u8>> = redis::cmd("EVAL")
            .arg(alerts::CROSSING_SCRIPT.as_str())
            .arg(1)
            .arg(&output[..])
            .arg(&args[4][..])
            .arg(&args[5][..])
            .arg(&args[8..])
            .query_async(conn)
            .await?;
        if found.is_empty() {
            continue;
        }
        let _: i64 = redis::cmd("EVAL")
            .arg(alerts::FIRE_SCRIPT.as_str())
            .arg(2)
            .arg(&seen[..])
            .arg(&stream[..])
            .arg(&args[..5])
            .arg(&args[6])
            .arg(&args[7])
            .arg(found)
            .query_async(conn)
            .await?;
    }
    Ok(())
}

/// Step 3: deletes the lane's outbox if it still belongs to `seq`.
pub async fn clear_outbox(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    seq: u64,
) -> RedisResult<()> {
    let _: i64 = redis::cmd("EVAL")
        .arg(CLEAR)
        .arg(1)
        .arg(keys.outbox())
        .arg(seq)
        .query_async(conn)
        .await?;
    Ok(())
}

/// Applies what a lane's outbox still holds (its writer stopped between
/// steps 1 and 3) and clears it; returns how many units it held.
pub async fn replay_outbox(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    lane: &str,
) -> Result<usize, StoreError> {
    let entries: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(keys.outbox())
        .query_async(conn)
        .await?;
    let Some(seq) = entries
        .get("seq")
        .and_then(|seq| std::str::from_utf8(seq).ok()?.parse::<u64>().ok())
    else {
        return Ok(0);
    };
    let mut units = Vec::new();
    for (field, entry) in &entries {
        let Ok(index) = field.parse::<usize>() else {
            continue;
        };
        let unit = outbox::decode(entry).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        units.push((index, unit));
    }
    units.sort_by_key(|(index, _)| *index);
    for (_, unit) in &units {
        apply_unit(conn, keys, unit, lane, seq).await?;
    }
    clear_outbox(conn, keys, seq).await?;
    Ok(units.len())
}
