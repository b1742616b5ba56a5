//! A lane's checkpoint on a Redis Cluster, cut into per-slot groups.
//!
//! One lane's checkpoint is built as on one Redis ([`super::commit`]), then
//! split by hash tag: the commands on the lane's own keys (its state,
//! position) become the lane's write, and every other command joins the
//! [`Unit`] of its key's slot anchor (an output window with its merge keys,
//! a window index, the catalog, a dead-letter stream). The units are kept
//! in the lane's outbox by the lane's write and applied afterwards (see
//! [`super::apply`] and the README's "Redis Cluster").

use std::collections::BTreeMap;

use redis::{Arg, Pipeline};

use super::pseudo::{self, Placement};
use super::slot::hash_tag;

/// One command: its name, then its arguments. A checkpoint script is named
/// by its pseudo command ([`super::pseudo`]: `weir.numbers`, `weir.units`…)
/// followed by its keys and its arguments.
pub type Op = Vec<Vec<u8>>;

/// Most field/value pairs (or merge tuples) in one command, so a script
/// never unpacks more arguments than Lua's stack holds.
const MAX_TUPLES: usize = 1000;

/// How a unit is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// Run its commands in its slot: applying them twice changes nothing
    /// (absolute writes).
    Plain,
    /// Run them at most once per lane and sequence number, under the
    /// slot's guard: applying them twice would change a value
    /// (increments, set and sketch merges, dead letters).
    Once,
    /// After every other unit of the checkpoint: alert checks, each read
    /// in its window's slot and written in its stream's, safe to rerun.
    AfterUnits,
}

/// The writes of one checkpoint to one slot, other than the lane's own
/// (or, for [`Apply::AfterUnits`], the checks that follow them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// A key name in the slot (the hash tag itself), to route the script.
    pub anchor: String,
    /// How it is applied.
    pub apply: Apply,
    /// Its commands, in order.
    pub ops: Vec<Op>,
}

/// A lane's checkpoint, split by slot.
#[derive(Debug, Default)]
pub struct LaneSplit {
    /// Commands on the lane's own keys (its hash tag).
    pub state: Vec<Op>,
    /// Everything else, one unit per slot anchor, in first-use order, then
    /// the alert checks as one [`Apply::AfterUnits`] unit.
    pub units: Vec<Unit>,
}

/// Splits the commands of `pipe` (one lane's checkpoint) by the hash tag
/// of their key: `lane_tag` is the lane's.
pub fn split(pipe: &Pipeline, lane_tag: &[u8]) -> LaneSplit {
    let mut split = LaneSplit::default();
    let mut by_anchor: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut after = Vec::new();
    for cmd in pipe.cmd_iter() {
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .filter_map(|arg| match arg {
                Arg::Simple(bytes) => Some(bytes.to_vec()),
                _ => None,
            })
            .collect();
        let Some(op) = normalize(args) else {
            continue;
        };
        let Some(key) = op.get(1) else {
            continue;
        };
        let tag = hash_tag(key).to_vec();
        let guarded = is_guarded(&op);
        if runs_after_units(&op) {
            after.push(op);
            continue;
        }
        if tag == lane_tag {
            split.state.extend(chunk(op));
            continue;
        }
        let index = *by_anchor.entry(tag.clone()).or_insert_with(|| {
            split.units.push(Unit {
                anchor: String::from_utf8_lossy(&tag).into_owned(),
                apply: Apply::Plain,
                ops: Vec::new(),
            });
            split.units.len() - 1
        });
        let unit = &mut split.units[index];
        if guarded {
            unit.apply = Apply::Once;
        }
        unit.ops.extend(chunk(op));
    }
    if !after.is_empty() {
        split.units.push(Unit {
            anchor: String::new(),
            apply: Apply::AfterUnits,
            ops: after,
        });
    }
    split
}

/// A command with its name upper-cased and a checkpoint `EVAL` turned
/// into its pseudo command (`None` for an `EVAL` of another script, which
/// weir never builds).
fn normalize(mut args: Vec<Vec<u8>>) -> Option<Op> {
    let name = args.first()?.to_ascii_uppercase();
    if name != b"EVAL" {
        args[0] = name;
        return Some(args);
    }
    let Some(script) = pseudo::by_text(args.get(1)?) else {
        tracing::error!("a checkpoint script weir does not know; not written on a cluster");
        return None;
    };
    // EVAL script numkeys key… argv… → pseudo key… argv…
    let mut op = vec![script.name.as_bytes().to_vec()];
    op.extend(args.into_iter().skip(3));
    Some(op)
}

/// Whether applying `op` twice changes a value.
fn is_guarded(op: &Op) -> bool {
    pseudo::by_name(&op[0]).is_some()
        || matches!(op[0].as_slice(), b"XADD" | b"HINCRBY" | b"APPEND")
}

/// Whether `op` is a check run after the checkpoint's other writes.
fn runs_after_units(op: &Op) -> bool {
    pseudo::by_name(&op[0]).is_some_and(|script| script.placement == Placement::AfterUnits)
}

/// Splits a long `HSET` or merge command into several of at most
/// [`MAX_TUPLES`] tuples each (same effect, applied in one script).
fn chunk(op: Op) -> Vec<Op> {
    let (head, tuple) = match pseudo::by_name(&op[0]) {
        Some(script) if script.tuple > 0 => (1 + script.keys + script.fixed, script.tuple),
        Some(_) => return vec![op],
        None if op[0] == b"HSET" => (2, 2),
        None => return vec![op],
    };
    if op.len() <= head + tuple * MAX_TUPLES {
        return vec![op];
    }
    op[head..]
        .chunks(tuple * MAX_TUPLES)
        .map(|tuples| {
            let mut part = op[..head].to_vec();
            part.extend_from_slice(tuples);
            part
        })
        .collect()
}

/// A unit as stored in the outbox: length-prefixed words (anchor, guard
/// flag, then each command's count and arguments).
pub fn encode(unit: &Unit) -> Vec<u8> {
    let mut out = Vec::new();
    let mut word = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    word(unit.anchor.as_bytes());
    word(match unit.apply {
        Apply::Plain => b"0",
        Apply::Once => b"1",
        Apply::AfterUnits => b"a",
    });
    for op in &unit.ops {
        word(op.len().to_string().as_bytes());
        for arg in op {
            word(arg);
        }
    }
    out
}

/// Why an outbox entry could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("outbox entry damaged: {0}")]
pub struct DecodeError(&'static str);

/// Reads back what [`encode`] wrote.
pub fn decode(mut bytes: &[u8]) -> Result<Unit, DecodeError> {
    let mut words = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(DecodeError("truncated length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(DecodeError("truncated word"));
        }
        words.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    let mut words = words.into_iter();
    let anchor = words.next().ok_or(DecodeError("no anchor"))?;
    let apply = match words.next().ok_or(DecodeError("no guard flag"))?.as_slice() {
        b"0" => Apply::Plain,
        b"1" => Apply::Once,
        b"a" => Apply::AfterUnits,
        _ => return Err(DecodeError("unknown guard flag")),
    };
    let mut ops = Vec::new();
    while let Some(count) = words.next() {
        let count: usize = std::str::from_utf8(&count)
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or(DecodeError("bad argument count"))?;
        let op: Op = words.by_ref().take(count).collect();
        if op.len() != count || count == 0 {
            return Err(DecodeError("short command"));
        }
        ops.push(op);
    }
    Ok(Unit {
        anchor: String::from_utf8(anchor).map_err(|_| DecodeError("anchor not UTF-8"))?,
        apply,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::merge::MERGE_NUMBERS;

    #[test]
    fn a_lane_checkpoint_splits_by_slot_anchor() {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.hset("weir:r:pv:60:0", "total", "3").ignore();
        pipe.cmd("EVAL")
            .arg(MERGE_NUMBERS)
            .arg(1)
            .arg("weir:r:uv:60:0")
            .arg("count")
            .arg("total")
            .arg(2)
            .ignore();
        pipe.expire("weir:r:pv:60:0", 60).ignore();
        pipe.hset("weir:ckpt:n:lane:{t/0}:rule:r", "stats", "{}")
            .ignore();
        pipe.zadd("weir:r:pv:60:windows", 0, 0).ignore();
        let split = split(&pipe, b"t/0");
        assert_eq!(split.state.len(), 1);
        let anchors: Vec<(&str, Apply, usize)> = split
            .units
            .iter()
            .map(|u| (u.anchor.as_str(), u.apply, u.ops.len()))
            .collect();
        assert_eq!(
            anchors,
            vec![
                ("weir:r:pv:60:0", Apply::Plain, 2),
                ("weir:r:uv:60:0", Apply::Once, 1),
                ("weir:r:pv:60:windows", Apply::Plain, 1),
            ]
        );
        assert_eq!(split.units[1].ops[0][0], b"weir.numbers");
        assert_eq!(split.units[1].ops[0][1], b"weir:r:uv:60:0");
        for unit in &split.units {
            assert_eq!(&decode(&encode(unit)).unwrap(), unit);
        }
        assert!(decode(&encode(&split.units[0])[..7]).is_err());
    }

    #[test]
    fn merges_stay_in_their_window_and_alert_checks_come_last() {
        let keys = crate::sink::CheckpointKeys::cluster("n").lane("t/0");
        let window = "weir:r:gmv:60:0";
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(crate::sink::alerts::ALERT.as_str())
            .arg(3)
            .arg(window)
            .arg(crate::sink::keys::alerts_seen("r", true))
            .arg(crate::sink::keys::alerts("r"))
            .arg(&["r", "gmv", "0", "60", "10", "1", "0", "100", "a"])
            .ignore();
        let mut ranks: Op = vec![
            b"EVAL".to_vec(),
            crate::sink::rank::RANK.into(),
            b"3".to_vec(),
        ];
        ranks.push(window.into());
        ranks.push(keys.merge_state("rank", window).into_bytes());
        ranks.push(crate::sink::keys::output_top(window, true).into_bytes());
        ranks.extend(["5", "60", "0"].map(|a| a.as_bytes().to_vec()));
        for i in 0..2500 {
            ranks.push(format!("g{i}").into_bytes());
        }
        let mut cmd = redis::cmd("EVAL");
        for arg in &ranks[1..] {
            cmd.arg(&arg[..]);
        }
        pipe.add_command(cmd).ignore();
        let split = split(&pipe, keys.lane_tag());
        assert!(split.state.is_empty());
        assert_eq!(
            split.units.len(),
            2,
            "{:?}",
            split.units.iter().map(|u| &u.anchor).collect::<Vec<_>>()
        );
        let merges = &split.units[0];
        assert_eq!(
            (merges.anchor.as_str(), merges.apply),
            (window, Apply::Once)
        );
        // 2500 ranked groups in chunks of 1000, each with the keys and
        // fixed arguments.
        assert_eq!(merges.ops.len(), 3);
        assert!(
            merges
                .ops
                .iter()
                .all(|op| op[0] == b"weir.rank" && op[1] == window.as_bytes())
        );
        let checks = &split.units[1];
        assert_eq!(checks.apply, Apply::AfterUnits);
        assert_eq!(checks.ops[0][0], b"weir.alert");
        assert_eq!(decode(&encode(checks)).unwrap(), *checks);
    }

    #[test]
    fn long_commands_are_cut_into_tuples() {
        let mut op: Op = vec![b"HSET".to_vec(), b"k".to_vec()];
        for i in 0..2500 {
            op.push(i.to_string().into_bytes());
            op.push(b"v".to_vec());
        }
        let parts = chunk(op);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p[1] == b"k" && p.len() % 2 == 0));
        assert_eq!(parts.iter().map(|p| (p.len() - 2) / 2).sum::<usize>(), 2500);
    }
}
