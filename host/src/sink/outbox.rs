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

use super::merge::{MERGE_DISTINCT, MERGE_NUMBERS, MERGE_SKETCH};
use super::slot::hash_tag;

/// One command: its name, then its arguments. A merge script is named by
/// its pseudo command (`weir.numbers`, `weir.distinct`, `weir.sketch`)
/// followed by its one key and its arguments.
pub type Op = Vec<Vec<u8>>;

/// Most field/value pairs (or merge tuples) in one command, so a script
/// never unpacks more arguments than Lua's stack holds.
const MAX_TUPLES: usize = 1000;

/// The writes of one checkpoint to one slot, other than the lane's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// A key name in the slot (the hash tag itself), to route the script.
    pub anchor: String,
    /// Whether applying it twice would change a value (increments, set and
    /// sketch merges, dead letters): it is then applied under a guard.
    pub guarded: bool,
    /// Its commands, in order.
    pub ops: Vec<Op>,
}

/// A lane's checkpoint, split by slot.
#[derive(Debug, Default)]
pub struct LaneSplit {
    /// Commands on the lane's own keys (its hash tag).
    pub state: Vec<Op>,
    /// Everything else, one unit per slot anchor, in first-use order.
    pub units: Vec<Unit>,
}

/// Splits the commands of `pipe` (one lane's checkpoint) by the hash tag
/// of their key: `lane_tag` is the lane's.
pub fn split(pipe: &Pipeline, lane_tag: &[u8]) -> LaneSplit {
    let mut split = LaneSplit::default();
    let mut by_anchor: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
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
        if tag == lane_tag {
            split.state.extend(chunk(op));
            continue;
        }
        let index = *by_anchor.entry(tag.clone()).or_insert_with(|| {
            split.units.push(Unit {
                anchor: String::from_utf8_lossy(&tag).into_owned(),
                guarded: false,
                ops: Vec::new(),
            });
            split.units.len() - 1
        });
        let unit = &mut split.units[index];
        unit.guarded |= guarded;
        unit.ops.extend(chunk(op));
    }
    split
}

/// A command with its name upper-cased and a merge `EVAL` turned into its
/// pseudo command (`None` for an `EVAL` of another script, which weir
/// never builds).
fn normalize(mut args: Vec<Vec<u8>>) -> Option<Op> {
    let name = args.first()?.to_ascii_uppercase();
    if name != b"EVAL" {
        args[0] = name;
        return Some(args);
    }
    let script = args.get(1)?;
    let pseudo: &[u8] = if script == MERGE_NUMBERS.as_bytes() {
        b"weir.numbers"
    } else if script == MERGE_DISTINCT.as_bytes() {
        b"weir.distinct"
    } else if script == MERGE_SKETCH.as_bytes() {
        b"weir.sketch"
    } else {
        tracing::error!("a checkpoint script weir does not know; not written on a cluster");
        return None;
    };
    // EVAL script 1 key argv… → pseudo key argv…
    let mut op = vec![pseudo.to_vec()];
    op.extend(args.into_iter().skip(3));
    Some(op)
}

/// Whether applying `op` twice changes a value.
fn is_guarded(op: &Op) -> bool {
    matches!(
        op[0].as_slice(),
        b"weir.numbers" | b"weir.distinct" | b"weir.sketch" | b"XADD" | b"HINCRBY" | b"APPEND"
    )
}

/// Splits a long `HSET` or merge command into several of at most
/// [`MAX_TUPLES`] tuples each (same effect, applied in one script).
fn chunk(op: Op) -> Vec<Op> {
    let (head, tuple) = match op[0].as_slice() {
        b"HSET" => (2, 2),
        b"weir.numbers" => (3, 2),
        b"weir.distinct" | b"weir.sketch" => (3, 3),
        _ => return vec![op],
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
    word(if unit.guarded { b"1" } else { b"0" });
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
    let guarded = words.next().ok_or(DecodeError("no guard flag"))? == b"1";
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
        guarded,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let anchors: Vec<(&str, bool, usize)> = split
            .units
            .iter()
            .map(|u| (u.anchor.as_str(), u.guarded, u.ops.len()))
            .collect();
        assert_eq!(
            anchors,
            vec![
                ("weir:r:pv:60:0", false, 2),
                ("weir:r:uv:60:0", true, 1),
                ("weir:r:pv:60:windows", false, 1),
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
