//! Unit tests of the parent module.

use super::*;
use crate::sink::CheckpointKeys;

/// Classifies a key built by [`CheckpointKeys`], so a change of the
/// layout there shows up here.
fn part_of(key: &str, namespace: &str) -> (CheckpointPart, Option<String>) {
    let prefix = namespace_prefix(namespace);
    let own = key
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{key} is not under {prefix}"));
    let (part, rule) = classify_checkpoint_key(own);
    (part, rule.map(str::to_owned))
}

#[test]
fn every_checkpoint_key_is_classified_with_its_rule() {
    // One Redis, and a Redis Cluster (hash-tagged names).
    for base in [CheckpointKeys::new("prod"), CheckpointKeys::cluster("prod")] {
        classified_with_rule(&base);
    }
}

fn classified_with_rule(base: &CheckpointKeys) {
    let lane = base.lane("access/3");
    let rule = |name: &str| Some(name.to_owned());
    for keys in [base, &lane] {
        assert_eq!(
            part_of(&keys.rule("pvuv"), "prod"),
            (CheckpointPart::RuleState, rule("pvuv"))
        );
        for key in [
            keys.slots("ip-count"),
            keys.slot("ip-count", "hits:60:t:1000"),
            keys.members("ip-count", "uv:60:t:1000", "total"),
        ] {
            assert_eq!(
                part_of(&key, "prod"),
                (CheckpointPart::WindowState, rule("ip-count")),
                "{key}"
            );
        }
        assert_eq!(
            part_of(&keys.source(), "prod"),
            (CheckpointPart::Positions, None)
        );
        assert_eq!(
            part_of(&keys.commit_seq(), "prod"),
            (CheckpointPart::Positions, None)
        );
    }
    let output = keys::output("pvuv", "uv", 60, 0);
    for key in [
        base.union(&output, "total"),
        base.sketch(&output, "total"),
        base.applied(&output),
        lane.outbox(),
    ] {
        assert_eq!(part_of(&key, "prod"), (CheckpointPart::MergeState, None));
    }
    for key in [base.lanes(), base.fence("access/3")] {
        assert_eq!(part_of(&key, "prod"), (CheckpointPart::Lanes, None));
    }
}

#[test]
fn a_namespace_prefix_matches_no_other_namespace() {
    let prefix = namespace_prefix("a");
    assert_eq!(prefix, "weir:ckpt:a:");
    assert!(!CheckpointKeys::new("a-b").source().starts_with(&prefix));
    assert!(!CheckpointKeys::new("ab").source().starts_with(&prefix));
    assert!(CheckpointKeys::new("a").source().starts_with(&prefix));
}

#[test]
fn report_lists_counts_per_kind() {
    let report = ResetReport {
        namespace: "default".to_owned(),
        checkpoint: BTreeMap::from([
            (CheckpointPart::RuleState, 2),
            (CheckpointPart::Positions, 1),
        ]),
        rules: BTreeSet::from(["pvuv".to_owned(), "ip-count".to_owned()]),
        outputs: Some(BTreeMap::from([(
            "pvuv".to_owned(),
            BTreeMap::from([(OutputPart::Windows, 10), (OutputPart::Catalog, 1)]),
        )])),
    };
    let shown = report.to_string();
    assert!(
        shown.starts_with("namespace \"default\": deleted 3 checkpoint keys\n"),
        "{shown}"
    );
    assert!(
        shown.contains("rules checkpointed: ip-count, pvuv"),
        "{shown}"
    );
    assert!(
        shown.contains("rule pvuv: deleted 11 output keys"),
        "{shown}"
    );
    assert!(shown.contains("window hashes"), "{shown}");
    let empty = ResetReport {
        namespace: "x".to_owned(),
        ..ResetReport::default()
    };
    assert!(empty.to_string().contains("nothing to reset"), "{empty}");
}
