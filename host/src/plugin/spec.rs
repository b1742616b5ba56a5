//! Checking a rule's manifest (the contract's types) into a
//! [`RuleSpec`]: what the host relies on about a rule.

use crate::contract;
use crate::model::{Aggregation, MetricSpec, RuleSpec, WindowSpec, is_valid_name};

/// Largest window: a little over a year, so every window start fits easily.
const MAX_WINDOW_SECS: u64 = 400 * 86_400;

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
            metrics.push(MetricSpec {
                name: metric.name.clone(),
                aggregation: aggregation(metric.aggregation),
                windows,
            });
        }
        if problems.is_empty() {
            Ok(Self {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                metrics,
            })
        } else {
            Err(problems)
        }
    }
}

fn aggregation(kind: contract::Aggregation) -> Aggregation {
    match kind {
        contract::Aggregation::Count => Aggregation::Count,
        contract::Aggregation::Sum => Aggregation::Sum,
        contract::Aggregation::Min => Aggregation::Min,
        contract::Aggregation::Max => Aggregation::Max,
        contract::Aggregation::Distinct => Aggregation::Distinct,
        contract::Aggregation::ApproxDistinct => Aggregation::ApproxDistinct,
    }
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
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = manifest(
            "Bad Name",
            vec![
                contract::Metric {
                    name: "pv".into(),
                    aggregation: contract::Aggregation::Count,
                    windows: vec![
                        contract::Window::Tumbling(0),
                        contract::Window::Hopping(contract::HoppingWindow {
                            size_secs: 300,
                            hop_secs: 7,
                        }),
                    ],
                },
                contract::Metric {
                    name: "pv".into(),
                    aggregation: contract::Aggregation::Count,
                    windows: vec![
                        contract::Window::Tumbling(86_400),
                        contract::Window::Cumulative(contract::CumulativeWindow {
                            size_secs: 86_400,
                            step_secs: 60,
                        }),
                    ],
                },
            ],
        );
        let problems = RuleSpec::from_manifest(&bad).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }

    #[test]
    fn signature_names_the_definition() {
        let good = manifest(
            "pvuv",
            vec![contract::Metric {
                name: "uv".into(),
                aggregation: contract::Aggregation::Distinct,
                windows: vec![
                    contract::Window::Tumbling(60),
                    contract::Window::Cumulative(contract::CumulativeWindow {
                        size_secs: 86_400,
                        step_secs: 60,
                    }),
                ],
            }],
        );
        let spec = RuleSpec::from_manifest(&good).unwrap();
        assert_eq!(spec.metrics[0].signature(), "distinct|t60,c86400-60");
    }
}
