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

use std::sync::LazyLock;

use redis::Pipeline;

use super::keys::CheckpointKeys;
use crate::model::QuantileSet;
use crate::state::aggregate::Delta;
use crate::state::sketch::Bucket;
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

/// The decimal-sum merge as sent: [`FORMAT_UNITS`] and [`MERGE_UNITS`].
pub(crate) static MERGE_UNITS_SCRIPT: LazyLock<String> =
    LazyLock::new(|| format!("{FORMAT_UNITS}{MERGE_UNITS}"));

/// The avg merge as sent: [`FORMAT_UNITS`] and [`MERGE_MEAN`].
pub(crate) static MERGE_MEAN_SCRIPT: LazyLock<String> =
    LazyLock::new(|| format!("{FORMAT_UNITS}{MERGE_MEAN}"));

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

/// KEYS[1] the first output hash (it names the slot on a cluster); ARGV[1]
/// TTL, ARGV[2] Q (number of quantiles), then Q quantiles in parts per
/// million, Q output hashes, then per group: group, bucket hash, m, and m
/// bucket / count pairs.
pub(crate) const MERGE_QUANTILES: &str = r"
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
            .arg(MERGE_UNITS_SCRIPT.as_str())
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
            .arg(MERGE_MEAN_SCRIPT.as_str())
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
        let changes: Vec<GroupBuckets<'_>> = groups
            .iter()
            .filter_map(|group| match &group.delta {
                Some(Delta::Buckets(buckets)) if !buckets.is_empty() => {
                    Some((group.key.as_str(), buckets.as_slice()))
                }
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        // On one Redis one script writes every quantile from one bucket
        // hash per group. On a cluster each quantile's hash is in a slot of
        // its own, so each keeps its own copy of the buckets next to it.
        let parts: Vec<(&[u32], &[String])> = if self.keys.is_cluster() {
            set.ppm().chunks(1).zip(outputs.chunks(1)).collect()
        } else {
            vec![(set.ppm(), outputs)]
        };
        for (ppm, outputs) in parts {
            let Some(first) = outputs.first() else {
                continue;
            };
            for batch in argument_batches(&changes) {
                let cmd = pipe
                    .cmd("EVAL")
                    .arg(MERGE_QUANTILES)
                    .arg(1)
                    .arg(first)
                    .arg(self.ttl_secs)
                    .arg(ppm.len())
                    .arg(ppm)
                    .arg(outputs);
                for (group, buckets) in batch {
                    cmd.arg(*group)
                        .arg(self.keys.merge_group_state("buckets", first, group))
                        .arg(buckets.len());
                    for (bucket, count) in *buckets {
                        cmd.arg(bucket.field()).arg(count);
                    }
                }
                cmd.ignore();
            }
        }
    }
}

/// A group and the bucket counts it gained.
type GroupBuckets<'g> = (&'g str, &'g [(Bucket, u64)]);

/// Most arguments one quantile merge takes: a cluster runs it with its
/// arguments unpacked onto Lua's stack, which holds about 8000.
const MAX_QUANTILE_ARGS: usize = 4000;

/// Cuts `changes` into runs of groups whose merge arguments fit in
/// [`MAX_QUANTILE_ARGS`] (a group with more buckets than that goes alone).
fn argument_batches<'c, 'g>(changes: &'c [GroupBuckets<'g>]) -> Vec<&'c [GroupBuckets<'g>]> {
    let mut batches = Vec::new();
    let (mut start, mut args) = (0, 0);
    for (index, (_, buckets)) in changes.iter().enumerate() {
        let cost = 3 + 2 * buckets.len();
        if args > 0 && args + cost > MAX_QUANTILE_ARGS {
            batches.push(&changes[start..index]);
            (start, args) = (index, 0);
        }
        args += cost;
    }
    batches.push(&changes[start..]);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_merges_are_cut_to_fit_lua_stack() {
        let small: Vec<(Bucket, u64)> = (0..10).map(|i| (Bucket::Positive(i), 1)).collect();
        let huge: Vec<(Bucket, u64)> = (0..3000).map(|i| (Bucket::Positive(i), 1)).collect();
        let mut changes: Vec<GroupBuckets<'_>> = vec![("a", &small); 150];
        changes.push(("b", &huge));
        changes.push(("c", &small));
        let batches = argument_batches(&changes);
        assert_eq!(
            batches.iter().map(|b| b.len()).sum::<usize>(),
            changes.len()
        );
        for batch in &batches {
            let args: usize = batch.iter().map(|(_, b)| 3 + 2 * b.len()).sum();
            assert!(args <= MAX_QUANTILE_ARGS || batch.len() == 1, "{args}");
        }
        assert_eq!(
            batches.len(),
            3,
            "150 small groups, the huge one alone, then the last"
        );
    }
}
