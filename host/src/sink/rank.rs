//! Top-N: a sorted set `weir:R:M:S:T:top` of the n largest groups of an
//! output window (score = value), kept next to its hash.
//!
//! Every lane, and the single lane of a file, puts the changed groups'
//! published values (merged ones, for Kafka lanes) into a private ranking
//! of every group of the window, and rebuilds the public set from its n
//! best, in the checkpoint's MULTI/EXEC: exact across lanes, O(changed
//! groups + n) per checkpoint. Ties are ordered by group, descending (Redis'
//! `ZRANGE ... REV`).

use redis::Pipeline;

/// KEYS[1] output hash, KEYS[2] ranking, KEYS[3] top-N set; ARGV[1] n,
/// ARGV[2] TTL of the ranking, ARGV[3] TTL of the set (0: none), then the
/// changed groups.
pub(crate) const RANK: &str = r"
local n, ttl, top_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then redis.call('ZADD', KEYS[2], tonumber(v), ARGV[i]) end
end
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('DEL', KEYS[3])
redis.call('ZRANGESTORE', KEYS[3], KEYS[2], 0, n - 1, 'REV')
if top_ttl > 0 then redis.call('EXPIRE', KEYS[3], top_ttl) end
return 0
";

/// Where one window's top-N lives.
pub struct TopN<'a> {
    /// The output hash.
    pub output_key: &'a str,
    /// The private ranking of every group.
    pub ranking_key: String,
    /// The public sorted set.
    pub top_key: String,
    /// How many groups the set keeps.
    pub n: u32,
}

impl TopN<'_> {
    /// Ranks `groups` (whose published values were just written) and
    /// rebuilds the set.
    pub fn update<'g>(
        &self,
        pipe: &mut Pipeline,
        ranking_ttl_secs: u64,
        top_ttl_secs: u64,
        groups: impl IntoIterator<Item = &'g str>,
    ) {
        let cmd = pipe
            .cmd("EVAL")
            .arg(RANK)
            .arg(3)
            .arg(self.output_key)
            .arg(&self.ranking_key)
            .arg(&self.top_key)
            .arg(self.n)
            .arg(ranking_ttl_secs)
            .arg(top_ttl_secs);
        for group in groups {
            cmd.arg(group);
        }
        cmd.ignore();
    }
}
