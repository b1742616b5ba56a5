//! Alerts, written exactly once (contract 0.2.0).
//!
//! After a checkpoint writes an output window's changed values, a script
//! compares each with the metric's threshold; a value across it fires an
//! alert for (metric, group, throttle bucket), bucket = ⌊window start /
//! throttle⌋, unless that bucket already fired: `HSETNX` on
//! `weir:R:alerts:seen` and `XADD weir:R:alerts` only when the field was
//! new. The script runs in the checkpoint's MULTI/EXEC, with the lane's
//! offsets, so a crash and replay, a restart or a second instance finds the
//! field set and writes nothing twice.
//!
//! On a Redis Cluster the window and the stream are in different slots,
//! so the check runs after the lane's window writes, in two steps by the
//! host ([`super::apply`]): [`CROSSING_SCRIPT`] reads the window's slot,
//! then [`FIRE_SCRIPT`] writes the stream's slot, where the seen hash is
//! `{weir:R:alerts}:seen`. The check stays in the lane's outbox until both
//! ran, and both can run again, so a crash between them reruns the check
//! and the seen hash still keeps each alert once. A rerun reads the value
//! the window has then, which may have grown since the checkpoint.
//!
//! The throttle is in event time, so the alerts are the same on every
//! replay: a bucket alerts iff one of its windows crosses the threshold at
//! a checkpoint. The values compared are the published ones (merged across
//! lanes for Kafka), as numbers (doubles): a decimal threshold with more
//! than 15 significant digits compares approximately.

use std::sync::LazyLock;

use redis::Pipeline;

use super::keys;
use crate::model::AlertSpec;

/// Stream entries kept per rule (approximately: Redis trims whole nodes).
const ALERTS_KEPT: usize = 100_000;

/// Lua: the changed groups (`argv[from..]`) whose value in `output` is
/// across the threshold, as a flat list of group, value.
const CROSSING: &str = r"
local function crossing(output, threshold, above, argv, from)
  local limit = tonumber(threshold)
  local found = {}
  for i = from, #argv do
    local v = redis.call('HGET', output, argv[i])
    local x = tonumber(v)
    if x and ((above and x > limit) or (not above and x < limit)) then
      found[#found + 1] = argv[i]
      found[#found + 1] = v
    end
  end
  return found
end
";

/// Lua: writes the alerts of `found` (group, value pairs) whose
/// (metric, group, bucket) has not fired yet; returns how many.
const FIRE: &str = r"
local function fire(seen, stream, rule, metric, start, secs, threshold, bucket, kept, found)
  local fired = 0
  for j = 1, #found, 2 do
    local group, v = found[j], found[j + 1]
    if redis.call('HSETNX', seen, metric .. '|' .. group .. '|' .. bucket, start) == 1 then
      redis.call('XADD', stream, 'MAXLEN', '~', kept, '*', 'rule', rule, 'metric', metric,
        'group', group, 'window_start', start, 'window_secs', secs, 'value', v,
        'threshold', threshold)
      fired = fired + 1
    end
  end
  return fired
end
";

/// Arguments of [`ALERT`] before the changed groups.
pub(crate) const ALERT_FIXED_ARGS: usize = 8;

/// KEYS[1] output hash, KEYS[2] seen hash, KEYS[3] stream; ARGV: rule,
/// metric, window start, window seconds, threshold, 1 = above / 0 = below,
/// throttle bucket, stream length, then the changed groups. On one Redis
/// it runs in the checkpoint; a cluster runs its two halves
/// ([`CROSSING_SCRIPT`], [`FIRE_SCRIPT`]) in the two slots.
pub(crate) static ALERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CROSSING}{FIRE}\
         return fire(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7], \
         ARGV[8], crossing(KEYS[1], ARGV[5], ARGV[6] == '1', ARGV, 9))"
    )
});

/// KEYS[1] output hash; ARGV[1] threshold, ARGV[2] 1 = above / 0 =
/// below, then the changed groups: group, value pairs across it.
pub(crate) static CROSSING_SCRIPT: LazyLock<String> = LazyLock::new(|| {
    format!("{CROSSING}return crossing(KEYS[1], ARGV[1], ARGV[2] == '1', ARGV, 3)")
});

/// KEYS[1] seen hash, KEYS[2] stream; ARGV: rule, metric, window start,
/// window seconds, threshold, throttle bucket, stream length, then group,
/// value pairs: the number of alerts written.
pub(crate) static FIRE_SCRIPT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{FIRE}local found = {{}}\n\
         for i = 8, #ARGV do found[#found + 1] = ARGV[i] end\n\
         return fire(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], \
         ARGV[7], found)"
    )
});

/// One output window's alert check.
pub struct AlertCheck<'a> {
    /// The rule.
    pub rule: &'a str,
    /// The metric (as published).
    pub metric: &'a str,
    /// The alert.
    pub alert: &'a AlertSpec,
    /// The output hash holding the values.
    pub output_key: &'a str,
    /// Window start, Unix seconds.
    pub start_secs: i64,
    /// Window length in seconds.
    pub size_secs: i64,
    /// Whether the keys are a Redis Cluster's (the seen hash then shares
    /// the stream's slot).
    pub cluster: bool,
}

impl AlertCheck<'_> {
    /// Checks `groups` (whose values were just written).
    pub fn check<'g>(&self, pipe: &mut Pipeline, groups: impl IntoIterator<Item = &'g str>) {
        let bucket = self.start_secs.div_euclid(self.alert.throttle_secs as i64);
        let cmd = pipe
            .cmd("EVAL")
            .arg(ALERT.as_str())
            .arg(3)
            .arg(self.output_key)
            .arg(keys::alerts_seen(self.rule, self.cluster))
            .arg(keys::alerts(self.rule))
            .arg(self.rule)
            .arg(self.metric)
            .arg(self.start_secs)
            .arg(self.size_secs)
            .arg(&self.alert.threshold)
            .arg(if self.alert.above { "1" } else { "0" })
            .arg(bucket)
            .arg(ALERTS_KEPT);
        for group in groups {
            cmd.arg(group);
        }
        cmd.ignore();
    }
}
