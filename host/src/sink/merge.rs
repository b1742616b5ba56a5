//! Merging the output values of a partitioned source's lanes in Redis.
//!
//! Each lane (Kafka partition) writes its own value of a group as a
//! *partial*, and a Lua script run inside the checkpoint's MULTI/EXEC
//! recomputes the output value from every lane's partial. Writes stay
//! absolute and idempotent: replaying a lane's checkpoint writes the same
//! partial and the same merged value, and two instances owning different
//! partitions never double count.
//!
//! - count and sum: the sum of the partials; min and max: their min/max.
//! - distinct: the lanes add their new member hashes to one Redis set per
//!   window and group (SADD is idempotent), and the value is its size, so
//!   a visitor seen on two partitions counts once.
//!
//! The scripts touch keys named in their arguments, which standalone Redis
//! allows (Redis Cluster does not: weir needs a single Redis primary).

use redis::Pipeline;

use super::keys::CheckpointKeys;
use crate::plugin::spec::Aggregation;
use crate::state::windows::GroupChange;

/// How long merge state lives when the metric has no TTL of its own: a
/// partition may lag the others by up to this much and still merge.
pub const DEFAULT_TTL_SECS: u64 = 7 * 86_400;

/// KEYS[1] output hash, KEYS[2] set of the window's partial hashes;
/// ARGV[1] sum|min|max, ARGV[2] this lane's partial hash, ARGV[3] TTL,
/// then group/value pairs.
const MERGE_NUMBERS: &str = r"
local function fmt(x)
  if x == math.floor(x) and math.abs(x) < 9007199254740992 then
    return string.format('%d', x)
  end
  for p = 15, 17 do
    local s = string.format('%.' .. p .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end
local op, mine, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('SADD', KEYS[2], mine)
local lanes = redis.call('SMEMBERS', KEYS[2])
table.sort(lanes)
for i = 4, #ARGV, 2 do
  local group = ARGV[i]
  redis.call('HSET', mine, group, ARGV[i + 1])
  local acc = nil
  for _, lane in ipairs(lanes) do
    local x = tonumber(redis.call('HGET', lane, group))
    if x ~= nil then
      if acc == nil then acc = x
      elseif op == 'sum' then acc = acc + x
      elseif op == 'min' then if x < acc then acc = x end
      elseif x > acc then acc = x end
    end
  end
  if acc ~= nil then redis.call('HSET', KEYS[1], group, fmt(acc)) end
end
redis.call('EXPIRE', mine, ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return 0
";

/// KEYS[1] output hash; ARGV[1] TTL, then group / union set / new member
/// hashes (8 bytes each) triples.
const MERGE_DISTINCT: &str = r"
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

/// One output window's merge, as written by one lane.
pub struct Merge<'a> {
    /// The lane's checkpoint keys (merge keys share their prefix).
    pub keys: &'a CheckpointKeys,
    /// The lane's name.
    pub lane: &'a str,
    /// The output hash.
    pub output_key: &'a str,
    /// TTL of the merge state.
    pub ttl_secs: u64,
}

impl Merge<'_> {
    /// Writes this lane's values of a count, sum, min or max window (and,
    /// for want of mergeable sketches, approx-distinct: see the README) and
    /// recomputes the output values of those groups.
    pub fn numbers(&self, pipe: &mut Pipeline, aggregation: Aggregation, fields: &[(&str, &str)]) {
        if fields.is_empty() {
            return;
        }
        let op = match aggregation {
            Aggregation::Min => "min",
            Aggregation::Max | Aggregation::ApproxDistinct => "max",
            Aggregation::Count | Aggregation::Sum | Aggregation::Distinct => "sum",
        };
        let cmd = pipe
            .cmd("EVAL")
            .arg(MERGE_NUMBERS)
            .arg(2)
            .arg(self.output_key)
            .arg(self.keys.partial_lanes(self.output_key))
            .arg(op)
            .arg(self.keys.partials(self.output_key, self.lane))
            .arg(self.ttl_secs);
        for (group, value) in fields {
            cmd.arg(*group).arg(*value);
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
