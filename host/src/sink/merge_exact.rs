//! Merging the lanes of `decimal-sum`, `avg` and `quantiles` (contract
//! 0.2.0) in Redis, inside the checkpoint's MULTI/EXEC like the others
//! ([`super::merge`]).
//!
//! - decimal-sum: each lane adds its change in units (10^-scale) to a
//!   private hash with `HINCRBY`, and the published value is the merged
//!   units written as a decimal (string arithmetic, never a float). Redis
//!   integers stop at ±9.2·10^18 units (92 quadrillion at scale 2): past
//!   that the script fails and the checkpoint with it, loudly.
//! - avg: units and count are merged the same way; the mean is their
//!   quotient rounded half to even, exact while the units stay below 2^53
//!   (Lua numbers are doubles), as the host computes it.
//! - quantiles: each lane adds the bucket counts it gained to a private
//!   hash per (window, group); the script reads the merged buckets and
//!   writes each quantile with the host's formula, rank and rendering
//!   (`state::sketch`), so N lanes publish what one lane would.

use redis::Pipeline;

use super::keys::CheckpointKeys;
use crate::model::QuantileSet;
use crate::state::aggregate::Delta;
use crate::state::windows::GroupChange;

const FORMAT_UNITS: &str = r"
local function fmt(s, scale)
  if scale == 0 then return s end
  local neg = string.sub(s, 1, 1) == '-'
  if neg then s = string.sub(s, 2) end
  if #s <= scale then s = string.rep('0', scale - #s + 1) .. s end
  local r = string.sub(s, 1, #s - scale) .. '.' .. string.sub(s, #s - scale + 1)
  if neg then r = '-' .. r end
  return r
end
";

/// KEYS[1] output hash, KEYS[2] units hash; ARGV[1] scale, ARGV[2] TTL,
/// then group / units change pairs.
const MERGE_UNITS: &str = r"
local scale, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local group = ARGV[i]
  redis.call('HINCRBY', KEYS[2], group, ARGV[i + 1])
  redis.call('HSET', KEYS[1], group, fmt(redis.call('HGET', KEYS[2], group), scale))
end
redis.call('EXPIRE', KEYS[2], ttl)
return 0
";

/// KEYS[1] output hash, KEYS[2] units hash, KEYS[3] count hash; ARGV[1]
/// scale, ARGV[2] TTL, then group / units change / count change triples.
const MERGE_MEAN: &str = r"
local scale, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local group = ARGV[i]
  local u = redis.call('HINCRBY', KEYS[2], group, ARGV[i + 1])
  local n = redis.call('HINCRBY', KEYS[3], group, ARGV[i + 2])
  if n > 0 then
    local a = math.abs(u)
    local q = math.floor(a / n)
    local r = a - q * n
    if 2 * r > n or (2 * r == n and q % 2 == 1) then q = q + 1 end
    local s = string.format('%d', q)
    if u < 0 and q ~= 0 then s = '-' .. s end
    redis.call('HSET', KEYS[1], group, fmt(s, scale))
  end
end
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 0
";

/// ARGV[1] TTL, ARGV[2] Q (number of quantiles), then Q quantiles in parts
/// per million, Q output hashes, then per group: group, bucket hash, m,
/// and m bucket / count pairs.
const MERGE_QUANTILES: &str = r"
local gamma = (1 + 0.01) / (1 - 0.01)
local function value(field)
  local t = string.sub(field, 1, 1)
  if t == 'z' then return 0 end
  local v = 2 * gamma ^ tonumber(string.sub(field, 2)) / (gamma + 1)
  if t == 'n' then return -v end
  return v
end
local function order(field)
  local t = string.sub(field, 1, 1)
  if t == 'z' then return 1, 0 end
  local i = tonumber(string.sub(field, 2))
  if t == 'n' then return 0, -i end
  return 2, i
end
local ttl, nq = tonumber(ARGV[1]), tonumber(ARGV[2])
local i = 3 + 2 * nq
while i <= #ARGV do
  local group, buckets, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  for j = 0, m - 1 do
    redis.call('HINCRBY', buckets, ARGV[i + 3 + 2 * j], ARGV[i + 4 + 2 * j])
  end
  i = i + 3 + 2 * m
  local flat = redis.call('HGETALL', buckets)
  local entries, n = {}, 0
  for k = 1, #flat, 2 do
    local c, key = tonumber(flat[k + 1]), {}
    key.field, key.count = flat[k], c
    key.class, key.index = order(flat[k])
    entries[#entries + 1] = key
    n = n + c
  end
  table.sort(entries, function(a, b)
    if a.class ~= b.class then return a.class < b.class end
    return a.index < b.index
  end)
  for q = 1, nq do
    local rank = math.floor(tonumber(ARGV[2 + q]) * (n - 1) / 1000000)
    local seen = 0
    for _, e in ipairs(entries) do
      seen = seen + e.count
      if seen > rank then
        redis.call('HSET', ARGV[2 + nq + q], group, string.format('%.6g', value(e.field)))
        break
      end
    end
  end
  redis.call('EXPIRE', buckets, ttl)
end
return 0
";

/// One output window's exact merges, as written by one lane.
pub struct ExactMerge<'a> {
    /// The lane's checkpoint keys (merge keys share their base).
    pub keys: &'a CheckpointKeys,
    /// The output hash (for quantiles, the first quantile's).
    pub output_key: &'a str,
    /// TTL of the merge state.
    pub ttl_secs: u64,
}

impl ExactMerge<'_> {
    /// Adds this lane's decimal-sum changes and writes the merged sums.
    pub fn units(&self, pipe: &mut Pipeline, scale: u8, groups: &[GroupChange]) {
        let mut changes = groups
            .iter()
            .filter_map(|group| match group.delta {
                Some(Delta::Units(units)) if units != 0 => Some((group.key.as_str(), units)),
                _ => None,
            })
            .peekable();
        if changes.peek().is_none() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(format!("{FORMAT_UNITS}{MERGE_UNITS}"))
            .arg(2)
            .arg(self.output_key)
            .arg(self.keys.merge_state("units", self.output_key))
            .arg(scale)
            .arg(self.ttl_secs);
        for (group, units) in changes {
            cmd.arg(group).arg(units.to_string());
        }
        cmd.ignore();
    }

    /// Adds this lane's avg changes and writes the merged means.
    pub fn mean(&self, pipe: &mut Pipeline, scale: u8, groups: &[GroupChange]) {
        let mut changes = groups
            .iter()
            .filter_map(|group| match group.delta {
                Some(Delta::Mean { units, count }) if count > 0 => {
                    Some((group.key.as_str(), units, count))
                }
                _ => None,
            })
            .peekable();
        if changes.peek().is_none() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(format!("{FORMAT_UNITS}{MERGE_MEAN}"))
            .arg(3)
            .arg(self.output_key)
            .arg(self.keys.merge_state("units", self.output_key))
            .arg(self.keys.merge_state("count", self.output_key))
            .arg(scale)
            .arg(self.ttl_secs);
        for (group, units, count) in changes {
            cmd.arg(group).arg(units.to_string()).arg(count);
        }
        cmd.ignore();
    }

    /// Adds this lane's new bucket counts and writes every quantile's
    /// merged value into `outputs` (one hash per quantile, in the set's
    /// order).
    pub fn quantiles(
        &self,
        pipe: &mut Pipeline,
        set: QuantileSet,
        outputs: &[String],
        groups: &[GroupChange],
    ) {
        let mut changes = groups
            .iter()
            .filter_map(|group| match &group.delta {
                Some(Delta::Buckets(buckets)) if !buckets.is_empty() => {
                    Some((group.key.as_str(), buckets))
                }
                _ => None,
            })
            .peekable();
        if changes.peek().is_none() {
            return;
        }
        let cmd = pipe
            .cmd("EVAL")
            .arg(MERGE_QUANTILES)
            .arg(0)
            .arg(self.ttl_secs)
            .arg(set.ppm().len());
        for ppm in set.ppm() {
            cmd.arg(ppm);
        }
        for output in outputs {
            cmd.arg(output);
        }
        for (group, buckets) in changes {
            cmd.arg(group)
                .arg(
                    self.keys
                        .merge_group_state("buckets", self.output_key, group),
                )
                .arg(buckets.len());
            for (bucket, count) in buckets {
                cmd.arg(bucket.field()).arg(count);
            }
        }
        cmd.ignore();
    }
}
