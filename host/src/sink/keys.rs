//! Redis key names: the output layout is a public contract (see README),
//! the checkpoint layout is private to weir.

/// Output hash of one window: field = group key, value = the aggregate.
/// `size_secs` is the window length, `start_secs` its start (Unix seconds).
pub fn output(rule: &str, metric: &str, size_secs: i64, start_secs: i64) -> String {
    format!("weir:{rule}:{metric}:{size_secs}:{start_secs}")
}

/// Sorted set of a metric's recent window starts (member and score = the
/// start in Unix seconds), so dashboards list windows without SCAN.
pub fn output_index(rule: &str, metric: &str, size_secs: i64) -> String {
    format!("weir:{rule}:{metric}:{size_secs}:windows")
}

/// Hash of a rule's metric definitions: field = metric, value = JSON.
pub fn catalog(rule: &str) -> String {
    format!("weir:{rule}:metrics")
}

/// Sorted set of the largest groups of one output window (score = value),
/// next to its hash: `W:top`, and `{W}:top` on a Redis Cluster (in the
/// window's slot, so one script ranks and rebuilds it).
pub fn output_top(output_key: &str, cluster: bool) -> String {
    if cluster {
        return format!("{{{output_key}}}:top");
    }
    format!("{output_key}:top")
}

/// Stream of a rule's alerts (rule, metric, group, window_start,
/// window_secs, value, threshold).
pub fn alerts(rule: &str) -> String {
    format!("weir:{rule}:alerts")
}

/// Hash of the alerts already written: field `<metric>|<group>|<bucket>`,
/// so a replay, a restart or a second instance never writes one twice.
/// `weir:R:alerts:seen`, and `{weir:R:alerts}:seen` on a Redis Cluster (in
/// the stream's slot, so one script checks it and adds to the stream).
pub fn alerts_seen(rule: &str, cluster: bool) -> String {
    if cluster {
        return format!("{{{}}}:seen", alerts(rule));
    }
    format!("weir:{rule}:alerts:seen")
}

/// Stream of records rule `rule` failed on (reason, source, partition,
/// offset, version, payload).
pub fn dead_letters(rule: &str) -> String {
    format!("weir:{rule}:dead")
}

/// Checkpoint keys of one pipeline (`[checkpoint] namespace`).
///
/// On a Redis Cluster the names carry hash tags (see the README's "Redis
/// Cluster"): every key of one lane shares the lane's tag, and every merge
/// key of an output window carries the window's public name as its tag.
#[derive(Debug, Clone)]
pub struct CheckpointKeys {
    /// `weir:ckpt:{namespace}`: pipeline-wide keys (fences, merge state).
    base: String,
    /// Where this set's own keys live: the base, or a lane's keys under it
    /// (with the lane's hash tag on a cluster).
    prefix: String,
    /// Whether names carry Redis Cluster hash tags.
    cluster: bool,
}

impl CheckpointKeys {
    /// Keys under `weir:ckpt:{namespace}`, on one Redis.
    pub fn new(namespace: &str) -> Self {
        let base = format!("weir:ckpt:{namespace}");
        Self {
            prefix: base.clone(),
            base,
            cluster: false,
        }
    }

    /// Keys under `weir:ckpt:{namespace}` on a Redis Cluster: the
    /// unpartitioned lane's own keys under `weir:ckpt:{namespace}:{{namespace}}`.
    pub fn cluster(namespace: &str) -> Self {
        let base = format!("weir:ckpt:{namespace}");
        Self {
            prefix: format!("{base}:{{{namespace}}}"),
            base,
            cluster: true,
        }
    }

    /// Keys for one Redis or, with `cluster`, for a Redis Cluster.
    pub fn for_target(namespace: &str, cluster: bool) -> Self {
        if cluster {
            Self::cluster(namespace)
        } else {
            Self::new(namespace)
        }
    }

    /// Whether names carry Redis Cluster hash tags.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The keys of one lane (a Kafka partition) of a partitioned source:
    /// its own source position, rule state and slots, under
    /// `weir:ckpt:{namespace}:lane:{topic}/{partition}` (on a cluster the
    /// lane is a hash tag: `…:lane:{{topic}/{partition}}`).
    pub fn lane(&self, lane: &str) -> Self {
        let prefix = if self.cluster {
            format!("{}:lane:{{{lane}}}", self.base)
        } else {
            format!("{}:lane:{lane}", self.base)
        };
        Self {
            prefix,
            base: self.base.clone(),
            cluster: self.cluster,
        }
    }

    /// The hash tag every key of this set's lane carries on a cluster
    /// (what Redis hashes of them).
    pub fn lane_tag(&self) -> &[u8] {
        super::slot::hash_tag(self.prefix.as_bytes())
    }

    /// Hash: a lane's pending writes to other slots (the outbox of its
    /// last checkpoint on a cluster; field `seq` names the checkpoint).
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    /// Hash: field = lane, value = the last checkpoint sequence number of
    /// that lane applied to the keys of `anchor` (an output window or
    /// another public key) on a cluster; in `anchor`'s slot.
    pub fn applied(&self, anchor: &str) -> String {
        format!("{}:applied:{{{anchor}}}", self.base)
    }

    /// Set: the lanes that ever checkpointed (for `weir status`).
    pub fn lanes(&self) -> String {
        format!("{}:lanes", self.base)
    }

    /// String: a lane's ownership token; taking a partition increments it,
    /// and a checkpoint writes only if the token is still the one it took.
    pub fn fence(&self, lane: &str) -> String {
        if self.cluster {
            // In the lane's slot, so a checkpoint checks it in its script.
            return format!("{}:fence", self.lane(lane).prefix);
        }
        format!("{}:fence:{lane}", self.base)
    }

    /// Set: the member hashes of one group of one output window, from every
    /// lane; the output value is its size.
    pub fn union(&self, output_key: &str, group: &str) -> String {
        if self.cluster {
            return format!("{}:union:{{{output_key}}}:{group}", self.base);
        }
        format!("{}:union:{output_key}:{group}", self.base)
    }

    /// String: a lane's checkpoint sequence number, one more per
    /// checkpoint, so a checkpoint sent twice is applied once.
    pub fn commit_seq(&self) -> String {
        format!("{}:seq", self.prefix)
    }

    /// String: the merged HyperLogLog registers of one group of one
    /// approx-distinct output window, from every lane (next to it,
    /// `…:ranks` counts the registers per value).
    pub fn sketch(&self, output_key: &str, group: &str) -> String {
        if self.cluster {
            return format!("{}:sketch:{{{output_key}}}:{group}", self.base);
        }
        format!("{}:sketch:{output_key}:{group}", self.base)
    }

    /// Merge state of one output window shared by every lane (contract
    /// 0.2.0): `units` and `count` hashes (group → integer) of decimal sums
    /// and means, `rank` (sorted set of every group by value, for top-N).
    /// On a cluster the window's name is its tag.
    pub fn merge_state(&self, kind: &str, output_key: &str) -> String {
        if self.cluster {
            return format!("{}:{kind}:{{{output_key}}}", self.base);
        }
        format!("{}:{kind}:{output_key}", self.base)
    }

    /// Merge state of one group of one output window shared by every lane:
    /// `buckets` (hash: sketch bucket → count) of quantiles. On a cluster
    /// the window's name is its tag.
    pub fn merge_group_state(&self, kind: &str, output_key: &str, group: &str) -> String {
        if self.cluster {
            return format!("{}:{kind}:{{{output_key}}}:{group}", self.base);
        }
        format!("{}:{kind}:{output_key}:{group}", self.base)
    }

    /// Hash: partition → JSON source position.
    pub fn source(&self) -> String {
        format!("{}:source", self.prefix)
    }

    /// Hash: a rule's watermark, counters and metric signatures.
    pub fn rule(&self, rule: &str) -> String {
        format!("{}:rule:{rule}", self.prefix)
    }

    /// Set: the rules that checkpointed in this lane, so `weir status`
    /// finds them without walking the keyspace (a `SCAN` per lane costs
    /// Redis a pass over every key, at each status read).
    pub fn rule_names(&self) -> String {
        format!("{}:rules", self.prefix)
    }

    /// `SCAN` pattern of every rule's keys in this set (meta, slot ids,
    /// slots, members). Namespaces, lanes and rule names hold no glob
    /// characters.
    pub fn rules_pattern(&self) -> String {
        format!("{}:rule:*", self.prefix)
    }

    /// Set: ids of a rule's checkpointed slots.
    pub fn slots(&self, rule: &str) -> String {
        format!("{}:rule:{rule}:slots", self.prefix)
    }

    /// Hash: one slot's groups → encoded aggregates.
    pub fn slot(&self, rule: &str, slot_id: &str) -> String {
        format!("{}:rule:{rule}:slot:{slot_id}", self.prefix)
    }

    /// String: one distinct group's member hashes, appended to.
    pub fn members(&self, rule: &str, slot_id: &str, group: &str) -> String {
        format!("{}:rule:{rule}:members:{slot_id}:{group}", self.prefix)
    }
}
