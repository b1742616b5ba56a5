//! Checking a rule's manifest (the contract's types) into a
//! [`RuleSpec`]: what the host relies on about a rule.

use crate::contract;
use crate::model::{
    Aggregation, AlertSpec, MetricSpec, QuantileSet, RuleSpec, WindowSpec, is_valid_name,
};
use crate::state::decimal::is_decimal;

/// Largest window: a little over a year, so every window start fits easily.
const MAX_WINDOW_SECS: u64 = 400 * 86_400;

/// Largest decimal scale: 10^18 units still leave an `i128` sum room for
/// 10^20 whole units.
const MAX_SCALE: u8 = 18;

/// Largest top-N: the sorted set is rebuilt at every checkpoint.
const MAX_TOP: u32 = 10_000;

impl RuleSpec {
    /// Checks a manifest; every problem is listed.
    pub fn from_manifest(manifest: &contract::Manifest) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if !is_valid_name(&manifest.name) {
            problems.push(format!(
                "rule name {:?} must be 1-64 characters of a-z, 0-9, _ and -",
                manifest.name
            ));
        }
        if manifest.metrics.is_empty() {
            problems.push("the rule declares no metrics".to_owned());
        }
        let mut metrics = Vec::new();
        for metric in &manifest.metrics {
            let what = format!("metric {:?}", metric.name);
            if !is_valid_name(&metric.name) {
                problems.push(format!(
                    "{what}: name must be 1-64 characters of a-z, 0-9, _ and -"
                ));
            }
            if metrics.iter().any(|m: &MetricSpec| m.name == metric.name) {
                problems.push(format!("{what}: declared twice"));
            }
            if metric.windows.is_empty() {
                problems.push(format!("{what}: has no windows"));
            }
            let mut windows: Vec<WindowSpec> = Vec::new();
            for window in &metric.windows {
                match window_spec(window) {
                    Ok(spec) => {
                        if windows.iter().any(|w| w.size_ms() == spec.size_ms()) {
                            problems.push(format!(
                                "{what}: two windows of {} s would share one output key",
                                spec.size_secs()
                            ));
                        }
                        windows.push(spec);
                    }
                    Err(problem) => problems.push(format!("{what}: {problem}")),
                }
            }
            let aggregation = aggregation(&metric.aggregation).unwrap_or_else(|problem| {
                problems.push(format!("{what}: {problem}"));
                Aggregation::Count
            });
            if let Some(n) = metric.top
                && (!aggregation.can_rank() || n == 0 || n > MAX_TOP)
            {
                problems.push(format!(
                    "{what}: top({n}) needs a count, sum or decimal-sum metric and 1..={MAX_TOP} groups"
                ));
            }
            let alert = metric.alert.as_ref().map(|alert| {
                if !is_decimal(&alert.threshold) {
                    problems.push(format!(
                        "{what}: alert threshold {:?} is not a decimal number",
                        alert.threshold
                    ));
                }
                if alert.throttle_secs == 0 {
                    problems.push(format!("{what}: alert throttle-secs must be at least 1"));
                }
                AlertSpec {
                    above: matches!(alert.direction, contract::Direction::Above),
                    threshold: alert.threshold.clone(),
                    throttle_secs: alert.throttle_secs,
                }
            });
            if alert.is_some() && matches!(aggregation, Aggregation::Quantiles(_)) {
                problems.push(format!("{what}: alerts on quantiles are not supported"));
            }
            metrics.push(MetricSpec {
                name: metric.name.clone(),
                aggregation,
                windows,
                top: metric.top,
                alert,
            });
        }
        if let Some(offset) = manifest.day_offset_secs
            && offset.abs() >= 86_400
        {
            problems.push(format!(
                "day-offset-secs {offset} must be within a day of UTC (-86399..=86399)"
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                metrics,
                day_offset_secs: manifest.day_offset_secs,
            })
        } else {
            Err(problems)
        }
    }
}

fn aggregation(kind: &contract::Aggregation) -> Result<Aggregation, String> {
    let scale = |scale: u8| {
        if scale > MAX_SCALE {
            Err(format!("scale {scale} is over {MAX_SCALE}"))
        } else {
            Ok(scale)
        }
    };
    Ok(match kind {
        contract::Aggregation::Count => Aggregation::Count,
        contract::Aggregation::Sum => Aggregation::Sum,
        contract::Aggregation::Min => Aggregation::Min,
        contract::Aggregation::Max => Aggregation::Max,
        contract::Aggregation::Distinct => Aggregation::Distinct,
        contract::Aggregation::ApproxDistinct => Aggregation::ApproxDistinct,
        contract::Aggregation::DecimalSum(s) => Aggregation::DecimalSum { scale: scale(*s)? },
        contract::Aggregation::Avg(s) => Aggregation::Avg { scale: scale(*s)? },
        contract::Aggregation::Quantiles(qs) => Aggregation::Quantiles(QuantileSet::new(qs)?),
    })
}

fn checked_secs(secs: u64, what: &str) -> Result<i64, String> {
    if secs == 0 || secs > MAX_WINDOW_SECS {
        return Err(format!(
            "{what} must be 1..={MAX_WINDOW_SECS} seconds (found {secs})"
        ));
    }
    Ok(secs as i64 * 1000)
}

fn window_spec(window: &contract::Window) -> Result<WindowSpec, String> {
    Ok(match *window {
        contract::Window::Tumbling(size) => WindowSpec::Tumbling {
            size_ms: checked_secs(size, "tumbling window size")?,
        },
        contract::Window::Hopping(contract::HoppingWindow {
            size_secs,
            hop_secs,
        }) => {
            let size_ms = checked_secs(size_secs, "hopping window size")?;
            let hop_ms = checked_secs(hop_secs, "hopping window hop")?;
            if size_ms % hop_ms != 0 {
                return Err(format!(
                    "hopping window size {size_secs} s is not a multiple of its hop {hop_secs} s"
                ));
            }
            WindowSpec::Hopping { size_ms, hop_ms }
        }
        contract::Window::Cumulative(contract::CumulativeWindow {
            size_secs,
            step_secs,
        }) => {
            let size_ms = checked_secs(size_secs, "cumulative window size")?;
            let step_ms = checked_secs(step_secs, "cumulative window step")?;
            if size_ms % step_ms != 0 {
                return Err(format!(
                    "cumulative window size {size_secs} s is not a multiple of its step {step_secs} s"
                ));
            }
            WindowSpec::Cumulative { size_ms, step_ms }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, metrics: Vec<contract::Metric>) -> contract::Manifest {
        contract::Manifest {
            name: name.into(),
            version: "1".into(),
            metrics,
            day_offset_secs: None,
        }
    }

    fn metric(
        name: &str,
        aggregation: contract::Aggregation,
        windows: Vec<contract::Window>,
    ) -> contract::Metric {
        contract::Metric {
            name: name.into(),
            aggregation,
            windows,
            top: None,
            alert: None,
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = manifest(
            "Bad Name",
            vec![
                metric(
                    "pv",
                    contract::Aggregation::Count,
                    vec![
                        contract::Window::Tumbling(0),
                        contract::Window::Hopping(contract::HoppingWindow {
                            size_secs: 300,
                            hop_secs: 7,
                        }),
                    ],
                ),
                metric(
                    "pv",
                    contract::Aggregation::Count,
                    vec![
                        contract::Window::Tumbling(86_400),
                        contract::Window::Cumulative(contract::CumulativeWindow {
                            size_secs: 86_400,
                            step_secs: 60,
                        }),
                    ],
                ),
            ],
        );
        let problems = RuleSpec::from_manifest(&bad).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }

    #[test]
    fn signature_names_the_definition() {
        let good = manifest(
            "pvuv",
            vec![metric(
                "uv",
                contract::Aggregation::Distinct,
                vec![
                    contract::Window::Tumbling(60),
                    contract::Window::Cumulative(contract::CumulativeWindow {
                        size_secs: 86_400,
                        step_secs: 60,
                    }),
                ],
            )],
        );
        let spec = RuleSpec::from_manifest(&good).unwrap();
        assert_eq!(spec.metrics[0].signature(), "distinct|t60,c86400-60");
    }

    #[test]
    fn new_aggregations_are_checked() {
        let mut top_of_avg = metric(
            "a",
            contract::Aggregation::Avg(2),
            vec![contract::Window::Tumbling(60)],
        );
        top_of_avg.top = Some(5);
        let bad = manifest(
            "r",
            vec![
                metric(
                    "q",
                    contract::Aggregation::Quantiles(vec![0.5, 1.0]),
                    vec![contract::Window::Tumbling(60)],
                ),
                metric(
                    "d",
                    contract::Aggregation::DecimalSum(19),
                    vec![contract::Window::Tumbling(60)],
                ),
                top_of_avg,
            ],
        );
        let problems = RuleSpec::from_manifest(&bad).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        let mut money = metric(
            "gmv",
            contract::Aggregation::DecimalSum(2),
            vec![contract::Window::Tumbling(60)],
        );
        money.top = Some(5);
        money.alert = Some(contract::Alert {
            direction: contract::Direction::Above,
            threshold: "99.5".into(),
            throttle_secs: 600,
        });
        let good = manifest(
            "r",
            vec![
                money,
                metric(
                    "cpu",
                    contract::Aggregation::Quantiles(vec![0.5, 0.75, 0.999]),
                    vec![contract::Window::Tumbling(60)],
                ),
            ],
        );
        let spec = RuleSpec::from_manifest(&good).unwrap();
        assert_eq!(spec.metrics[0].signature(), "decimal-sum(2)|t60");
        let Aggregation::Quantiles(set) = spec.metrics[1].aggregation else {
            panic!("not quantiles")
        };
        assert_eq!(set.suffixes(), ["_p50", "_p75", "_p99_9"]);
    }
}
