//! Merging the output values of a partitioned source's lanes in Redis.
//!
//! Each lane (Kafka partition) keeps its own window state, and its
//! checkpoint folds what changed since its previous checkpoint into the
//! shared output hash, inside the same MULTI/EXEC that records the lane's
//! state and offset. So the output holds exactly the contributions of the
//! checkpointed records of every lane, and two instances owning different
//! partitions never double count.
//!
//! - count and sum: the lane adds its change since its last checkpoint
//!   (one HINCRBY, or HGET and HSET for a sum), so a checkpoint costs one
//!   Redis operation per changed group whatever the number of partitions.
//! - min and max: the lane's value is folded in with min/max.
//! - distinct: the lanes add their new member hashes to one Redis set per
//!   window and group (SADD is idempotent), and the value is its size, so
//!   a visitor seen on two partitions counts once.
//! - approx-distinct: the lanes send the HyperLogLog registers they raised;
//!   a Lua script keeps the register-wise max (the sketch of the union)
//!   and a count of registers per value, and computes the estimate the way
//!   [`crate::state::hll::estimate_from_ranks`] does, so N partitions give
//!   the estimate one sketch over all records would.
//!
//! Adding changes is not idempotent on its own: a checkpoint must be
//! applied once. The checkpoint carries each lane's commit sequence number
//! and is written only over the one before it ([`super::RedisStore::send`]),
//! so a retried checkpoint that had in fact gone through is not applied
//! again.
//!
//! The scripts touch keys named in their arguments. On one Redis that is
//! allowed as is; on a Redis Cluster those keys carry the output window's
//! name as their hash tag, so they share its slot, and the scripts run
//! inside the guarded per-slot script of [`super::outbox`].

use redis::Pipeline;

use super::keys::CheckpointKeys;
use crate::model::Aggregation;
use crate::state::windows::GroupChange;

/// How long merge state (the distinct unions) lives when the metric has no
/// TTL of its own: a partition may lag the others by up to this much and
/// still merge.
pub const DEFAULT_TTL_SECS: u64 = 7 * 86_400;

/// KEYS[1] output hash; ARGV[1] count|sum|min|max, then group/value pairs
/// (a count or sum's change, a min or max's value). Values are written as
/// a single lane writes them (Rust's `{}` of an `f64`): the shortest digits
/// that read back as the same double, without an exponent (`0.0000001`,
/// `602000000000000000000000`).
pub(crate) const MERGE_NUMBERS: &str = r"
local function fmt(x)
  if x == math.floor(x) and math.abs(x) < 9007199254740992 then
    return string.format('%d', x)
  end
  local s = string.format('%.17g', x)
  -- 15 digits always read back from a normal double; a subnormal one may need fewer
  local first = 15
  if math.abs(x) < 2.2250738585072014e-308 then first = 1 end
  for p = first, 16 do
    local t = string.format('%.' .. p .. 'g', x)
    if tonumber(t) == x then s = t break end
  end
  local sign, int, frac, exp = string.match(s, '^(-?)(%d)%.?(%d*)e([-+]%d+)$')
  if sign == nil then return s end
  local digits, e = int .. frac, tonumber(exp)
  if e < 0 then return sign .. '0.' .. string.rep('0', -e - 1) .. digits end
  if #digits <= e + 1 then return sign .. digits .. string.rep('0', e + 1 - #digits) end
  return sign .. string.sub(digits, 1, e + 1) .. '.' .. string.sub(digits, e + 2)
end
local op = ARGV[1]
for i = 2, #ARGV, 2 do
  local group, x = ARGV[i], tonumber(ARGV[i + 1])
  if op == 'count' then
    redis.call('HINCRBY', KEYS[1], group, x)
  else
    local old = tonumber(redis.call('HGET', KEYS[1], group))
    local v = x
    if old ~= nil then
      if op == 'sum' then v = old + x
      elseif op == 'min' then v = math.min(old, x)
      else v = math.max(old, x) end
    end
    if old == nil or v ~= old then redis.call('HSET', KEYS[1], group, fmt(v)) end
  end
end
return 0
";

/// KEYS[1] output hash; ARGV[1] TTL, then group / union set / new member
/// hashes (8 bytes each) triples.
pub(crate) const MERGE_DISTINCT: &str = r"
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local group, union, blob = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local chunk = {}
  for j = 1, #blob, 8 do
    chunk[#chunk + 1] = string.sub(blob, j, j + 7)
    if #chunk == 1000 then
      redis.call('SADD', union, unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then redis.call('SADD', union, unpack(chunk)) end
  redis.call('EXPIRE', union, ttl)
  redis.call('HSET', KEYS[1], group, redis.call('SCARD', union))
end
return 0
";

/// KEYS[1] output hash; ARGV[1] TTL, then group / registers key / raised
/// registers (3 bytes each: index big-endian, value) triples. Next to each
/// sketch's registers (a 16384-byte string) a hash counts the registers
/// holding each value, so the estimate costs one read, not a scan.
pub(crate) const MERGE_SKETCH: &str = r"
local m = 16384
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local group, regs, blob = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ranks = regs .. ':ranks'
  if redis.call('EXISTS', ranks) == 0 then redis.call('HSET', ranks, '0', m) end
  for j = 1, #blob, 3 do
    local hi, lo, r = string.byte(blob, j, j + 2)
    local index = hi * 256 + lo
    local old = redis.call('GETRANGE', regs, index, index)
    local o = 0
    if #old == 1 then o = string.byte(old) end
    if r > o then
      redis.call('SETRANGE', regs, index, string.char(r))
      redis.call('HINCRBY', ranks, tostring(o), -1)
      redis.call('HINCRBY', ranks, tostring(r), 1)
    end
  end
  local flat = redis.call('HGETALL', ranks)
  local counts, top = {}, 0
  for k = 1, #flat, 2 do
    local r = tonumber(flat[k])
    counts[r] = tonumber(flat[k + 1])
    if r > top then top = r end
  end
  local sum = 0.0
  for r = 0, top do
    local c = counts[r]
    if c ~= nil and c > 0 then sum = sum + c * 2 ^ (-r) end
  end
  local zeros = counts[0] or 0
  local alpha = 0.7213 / (1.0 + 1.079 / m)
  local est = alpha * m * m / sum
  if est <= 2.5 * m and zeros > 0 then est = m * math.log(m / zeros) end
  redis.call('HSET', KEYS[1], group, string.format('%d', math.floor(est + 0.5)))
  redis.call('EXPIRE', regs, ttl)
  redis.call('EXPIRE', ranks, ttl)
end
return 0
";

/// One output window's merge, as written by one lane.
pub struct Merge<'a> {
    /// The lane's checkpoint keys (merge keys share their prefix).
    pub keys: &'a CheckpointKeys,
    /// The output hash.
    pub output_key: &'a str,
    /// TTL of the merge state.
    pub ttl_secs: u64,
}

impl Merge<'_> {
    /// Folds this lane's changes of a count, sum, min or max window into
    /// the output values.
    pub fn numbers(&self, pipe: &mut Pipeline, aggregation: Aggregation, groups: &[GroupChange]) {
        if aggregation == Aggregation::Count && !self.keys.is_cluster() {
            self.counts(pipe, groups);
            return;
        }
        let op = match aggregation {
            Aggregation::Count => "count",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            _ => "sum",
        };
        let mut args = groups
            .iter()
            .filter_map(|group| Some((group.key.as_str(), group.merge_value?.to_string())))
            .peekable();
        if args.peek().is_none() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(MERGE_NUMBERS)
            .arg(1)
            .arg(self.output_key)
            .arg(op);
        for (group, value) in args {
            cmd.arg(group).arg(value);
        }
        cmd.ignore();
    }

    /// Adds this lane's count changes to the output values: one `HINCRBY`
    /// per changed group, sent as a command of the checkpoint's MULTI/EXEC
    /// rather than from a script (Redis spent a third of the script's time
    /// in the script itself, around the increments). A cluster keeps the
    /// script: there the outbox would repeat the key in every command.
    fn counts(&self, pipe: &mut Pipeline, groups: &[GroupChange]) {
        for group in groups {
            let Some(change) = group.merge_value else {
                continue;
            };
            // A count's change is a whole number of records.
            pipe.hincr(self.output_key, &group.key, change as i64)
                .ignore();
        }
    }

    /// Folds the registers this lane raised in an approx-distinct window
    /// into the merged sketches and writes their estimates.
    pub fn sketch(&self, pipe: &mut Pipeline, groups: &[GroupChange]) {
        let mut changed = groups
            .iter()
            .filter(|group| !group.new_registers.is_empty())
            .peekable();
        if changed.peek().is_none() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(MERGE_SKETCH)
            .arg(1)
            .arg(self.output_key)
            .arg(self.ttl_secs);
        for group in changed {
            cmd.arg(&group.key)
                .arg(self.keys.sketch(self.output_key, &group.key))
                .arg(&group.new_registers[..]);
        }
        cmd.ignore();
    }

    /// Adds this lane's new member hashes of a distinct window to the
    /// cross-lane sets and writes their sizes as the output values.
    pub fn distinct(&self, pipe: &mut Pipeline, groups: &[GroupChange]) {
        if groups.is_empty() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(MERGE_DISTINCT)
            .arg(1)
            .arg(self.output_key)
            .arg(self.ttl_secs);
        for group in groups {
            cmd.arg(&group.key)
                .arg(self.keys.union(self.output_key, &group.key))
                .arg(&group.new_members[..]);
        }
        cmd.ignore();
    }
}
