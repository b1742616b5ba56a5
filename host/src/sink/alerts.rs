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
//! The throttle is in event time, so the alerts are the same on every
//! replay: a bucket alerts iff one of its windows crosses the threshold at
//! a checkpoint. The values compared are the published ones (merged across
//! lanes for Kafka), as numbers (doubles): a decimal threshold with more
//! than 15 significant digits compares approximately.

use redis::Pipeline;

use super::keys;
use crate::model::AlertSpec;

/// Stream entries kept per rule (approximately: Redis trims whole nodes).
const ALERTS_KEPT: usize = 100_000;

/// KEYS[1] output hash, KEYS[2] seen hash, KEYS[3] stream; ARGV: rule,
/// metric, window start, window seconds, threshold, 1 = above / 0 = below,
/// throttle bucket, stream length, then the changed groups.
const ALERT: &str = r"
local rule, metric, start, secs = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local threshold, above, bucket, kept = ARGV[5], ARGV[6] == '1', ARGV[7], ARGV[8]
local limit = tonumber(threshold)
local fired = 0
for i = 9, #ARGV do
  local group = ARGV[i]
  local v = redis.call('HGET', KEYS[1], group)
  local x = tonumber(v)
  if x and ((above and x > limit) or (not above and x < limit)) then
    if redis.call('HSETNX', KEYS[2], metric .. '|' .. group .. '|' .. bucket, start) == 1 then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', kept, '*', 'rule', rule, 'metric', metric,
        'group', group, 'window_start', start, 'window_secs', secs, 'value', v,
        'threshold', threshold)
      fired = fired + 1
    end
  end
end
return fired
";

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
}

impl AlertCheck<'_> {
    /// Checks `groups` (whose values were just written).
    pub fn check<'g>(&self, pipe: &mut Pipeline, groups: impl IntoIterator<Item = &'g str>) {
        let bucket = self.start_secs.div_euclid(self.alert.throttle_secs as i64);
        let cmd = pipe
            .cmd("EVAL")
            .arg(ALERT)
            .arg(3)
            .arg(self.output_key)
            .arg(keys::alerts_seen(self.rule))
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
