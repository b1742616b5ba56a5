//! The checkpoint scripts a Redis Cluster checkpoint carries as pseudo
//! commands.
//!
//! On one Redis a checkpoint `EVAL`s each script with its full text inside
//! the MULTI/EXEC. On a cluster the commands are cut by slot and stored in
//! a lane's outbox ([`super::outbox`]), then run in their slot by one
//! script ([`super::apply`]): there an `EVAL` becomes a short pseudo command
//! (`weir.units`) followed by its keys and arguments, and the apply script
//! holds each merge script as a local function of that name. This table is
//! the one place that pairs the three (text, pseudo name, Lua function), so
//! a script added to the checkpoint is either known here or refused loudly.

use std::sync::LazyLock;

use super::merge::{MERGE_DISTINCT, MERGE_NUMBERS, MERGE_SKETCH};
use super::{alerts, merge_exact, rank};

/// Where a pseudo command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In its first key's slot, with the other writes of that slot.
    InSlot,
    /// After every slot's writes, by the host in two steps (read one slot,
    /// write another): an alert check, which reads the merged value of a
    /// window and writes the rule's alert stream.
    AfterUnits,
}

/// One checkpoint script and how a cluster runs it.
#[derive(Debug)]
pub struct PseudoScript {
    /// Its pseudo command, e.g. `weir.units`.
    pub name: &'static str,
    /// The Lua function the apply script defines for it.
    pub function: &'static str,
    /// The script's text, as a one-Redis checkpoint `EVAL`s it.
    pub text: &'static str,
    /// How many keys it takes (`KEYS[1..n]`); the first names its slot.
    pub keys: usize,
    /// Fixed arguments after the keys, before the repeated tuples.
    pub fixed: usize,
    /// Arguments per tuple (one group's change), or 0 when tuples vary in
    /// length and the command must not be cut.
    pub tuple: usize,
    /// Where it runs.
    pub placement: Placement,
}

/// Every script a checkpoint may `EVAL`.
pub static SCRIPTS: LazyLock<Vec<PseudoScript>> = LazyLock::new(|| {
    let in_slot = |name, function, text, keys, fixed, tuple| PseudoScript {
        name,
        function,
        text,
        keys,
        fixed,
        tuple,
        placement: Placement::InSlot,
    };
    vec![
        in_slot("weir.numbers", "merge_numbers", MERGE_NUMBERS, 1, 1, 2),
        in_slot("weir.distinct", "merge_distinct", MERGE_DISTINCT, 1, 1, 3),
        in_slot("weir.sketch", "merge_sketch", MERGE_SKETCH, 1, 1, 3),
        in_slot(
            "weir.units",
            "merge_units",
            &merge_exact::MERGE_UNITS_SCRIPT,
            2,
            2,
            2,
        ),
        in_slot(
            "weir.mean",
            "merge_mean",
            &merge_exact::MERGE_MEAN_SCRIPT,
            3,
            2,
            3,
        ),
        in_slot(
            "weir.quantiles",
            "merge_quantiles",
            merge_exact::MERGE_QUANTILES,
            1,
            0,
            0,
        ),
        in_slot("weir.rank", "rank", rank::RANK, 3, 3, 1),
        PseudoScript {
            name: "weir.alert",
            function: "",
            text: &alerts::ALERT,
            keys: 3,
            fixed: alerts::ALERT_FIXED_ARGS,
            tuple: 1,
            placement: Placement::AfterUnits,
        },
    ]
});

/// The script whose text `text` is.
pub fn by_text(text: &[u8]) -> Option<&'static PseudoScript> {
    SCRIPTS.iter().find(|script| script.text.as_bytes() == text)
}

/// The script whose pseudo command `name` is.
pub fn by_name(name: &[u8]) -> Option<&'static PseudoScript> {
    SCRIPTS.iter().find(|script| script.name.as_bytes() == name)
}

/// The Lua that defines every in-slot script as a local function and a
/// table `pseudo` of pseudo command → { function, key count }.
pub fn lua_functions() -> String {
    let mut lua = String::new();
    let mut table = String::from("local pseudo = {\n");
    for script in SCRIPTS.iter() {
        if script.placement != Placement::InSlot {
            continue;
        }
        lua.push_str(&format!(
            "local function {}(KEYS, ARGV)\n{}\nend\n",
            script.function, script.text
        ));
        table.push_str(&format!(
            "  ['{}'] = {{ {}, {} }},\n",
            script.name, script.function, script.keys
        ));
    }
    table.push_str("}\n");
    lua.push_str(&table);
    lua
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_is_found_by_text_and_name() {
        for script in SCRIPTS.iter() {
            assert_eq!(by_text(script.text.as_bytes()).unwrap().name, script.name);
            assert_eq!(by_name(script.name.as_bytes()).unwrap().text, script.text);
        }
        assert!(by_text(b"return 1").is_none());
        let lua = lua_functions();
        assert!(lua.contains("['weir.units'] = { merge_units, 2 }"));
        assert!(!lua.contains("weir.alert"));
    }
}
