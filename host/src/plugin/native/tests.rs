//! Unit tests of the native rule adapter.

use std::collections::BTreeMap;

use weir_sdk::prelude::*;

use super::*;
use crate::config::LimitsConfig;
use crate::contract::Batch;
use crate::engine::Engine;
use crate::model::{Alignment, RuleId};
use crate::plugin::RuleRegistry;
use crate::state::slot::SlotKind;

/// 2026-11-21T10:00:00+08:00 in Unix milliseconds.
const TEN_AM_MS: i64 = 1_795_226_400_000;

/// One batch of `lines` from a file source, as `FileSource` makes it.
fn batch(lines: &[&str]) -> Batch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for line in lines {
        records.push(contract::RecordMeta {
            payload: contract::Span {
                start: data.len() as u32,
                len: line.len() as u32,
            },
            key: None,
            source: 0,
            partition: 0,
            offset: data.len() as u64,
            timestamp_ms: None,
        });
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
    }
    Batch {
        sources: vec!["access.log".to_owned()],
        data,
        records,
    }
}

fn processor(rules: Vec<ActiveRule>) -> Engine {
    Engine::new(
        RuleRegistry::from_rules(rules),
        Alignment::new(0),
        10_000,
        &LimitsConfig::default(),
        false,
    )
}

/// Closes every window and returns the output values of rule 0:
/// (metric, window, slot start) -> value of group `total`.
fn closed_totals(processor: &mut Engine) -> BTreeMap<(String, usize, i64), String> {
    processor.close_all();
    let mut values = BTreeMap::new();
    for (_, states) in processor.lanes.iter_mut() {
        let Some(state) = states.get_mut(RuleId(0)) else {
            continue;
        };
        let names: Vec<String> = state.metrics.iter().map(|m| m.name.clone()).collect();
        for change in state.drain_changes() {
            for slot in change.slots.iter().filter(|s| s.kind != SlotKind::Pane) {
                for group in slot.groups.iter().filter(|g| g.key == "total") {
                    values.insert(
                        (names[change.metric].clone(), change.window, slot.start_ms),
                        group.output.clone().unwrap_or_default(),
                    );
                }
            }
        }
    }
    values
}

#[test]
fn pvuv_runs_natively_through_the_engine() {
    let mut processor = processor(vec![ActiveRule::native::<pvuv::PvUv>("{}").unwrap()]);
    processor.process(&batch(&[
        r#"1.2.3.4 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5 "-" "ua""#,
        r#"1.2.3.4 - - [21/Nov/2026:10:00:30 +0800] "GET /a HTTP/1.1" 200 5 "-" "ua""#,
        "not a log line",
        r#"5.6.7.8 - - [21/Nov/2026:10:01:10 +0800] "GET /b HTTP/1.1" 404 -"#,
    ]));
    let stats = processor.totals(RuleId(0));
    assert_eq!(
        (stats.records_in, stats.rejected, stats.updates, stats.traps),
        (4, 1, 6, 0)
    );
    let minute = |m: i64| TEN_AM_MS + m * 60_000;
    // Day windows start at midnight UTC (alignment 0).
    let day = TEN_AM_MS - TEN_AM_MS.rem_euclid(86_400_000);
    let expected: BTreeMap<(String, usize, i64), String> = [
        (("pv", 0, minute(0)), "2"),
        (("pv", 0, minute(1)), "1"),
        (("pv", 1, day), "3"),
        (("uv", 0, minute(0)), "1"),
        (("uv", 0, minute(1)), "1"),
        (("uv", 1, day), "2"),
    ]
    .into_iter()
    .map(|((metric, window, start), value)| ((metric.to_owned(), window, start), value.to_owned()))
    .collect();
    assert_eq!(closed_totals(&mut processor), expected);
}

/// Counts lines per first word and panics on `BOOM`.
struct Fragile;

impl Rule for Fragile {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("fragile", "1").metric(Metric::count("lines").tumbling(60))
    }

    fn new(_config: NoConfig) -> weir_sdk::Result<Self> {
        Ok(Fragile)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> weir_sdk::Result<()> {
        let text = record.text()?;
        assert_ne!(text, "BOOM", "the rule cannot take it");
        out.count("lines", "total", TEN_AM_MS);
        Ok(())
    }
}

#[test]
fn a_panic_is_a_failed_call_and_only_its_record_is_lost() {
    let mut processor = processor(vec![ActiveRule::native::<Fragile>("").unwrap()]);
    processor.process(&batch(&["a", "b", "BOOM", "c"]));
    let stats = processor.totals(RuleId(0));
    assert_eq!((stats.updates, stats.dead_lettered), (3, 1));
    assert!(stats.traps >= 1);
    let dead: Vec<_> = processor
        .take_dead_letters()
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(dead[0][0].payload, b"BOOM");
    assert!(
        dead[0][0].reason.contains("native rule panicked"),
        "{}",
        dead[0][0].reason
    );
    assert_eq!(dead[0][0].version, "native");
}

#[test]
fn a_refused_config_or_manifest_is_an_error() {
    let error = ActiveRule::native::<Fragile>("42").err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("native rule `fragile` refused its config: invalid config:"),
        "{error}"
    );
    let error = ActiveRule::native::<Mismatched>("{}").err().unwrap();
    assert!(matches!(error, NativeRuleError::Manifest { .. }), "{error}");
}

/// A manifest both the SDK and the host refuse.
struct Mismatched;

impl Rule for Mismatched {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("Bad Name", "1")
            .metric(Metric::count("pv").tumbling(0).hopping(300, 7))
            .metric(
                Metric::count("pv")
                    .tumbling(DAY_SECS)
                    .cumulative(DAY_SECS, 60),
            )
            .metric(Metric::sum("spend!"))
            .metric(
                Metric::max("late")
                    .hopping(401 * DAY_SECS, 60)
                    .cumulative(60, 0),
            )
    }

    fn new(_config: NoConfig) -> weir_sdk::Result<Self> {
        Ok(Mismatched)
    }

    fn process(&mut self, _: &Record<'_>, _: &mut Emitter<'_>) -> weir_sdk::Result<()> {
        Ok(())
    }
}

/// The SDK checks manifests natively (`TestRule::new`) with its own copy
/// of the host's rules; this keeps the two copies saying the same thing.
#[test]
fn the_sdk_refuses_manifests_as_the_host_does() {
    let manifest = Mismatched::manifest();
    let host = RuleSpec::from_manifest(&contract_manifest(&manifest)).unwrap_err();
    let sdk = manifest.validate().unwrap_err().problems;
    assert_eq!(sdk, host);
    assert_eq!(host.len(), 9, "{host:#?}");
}
