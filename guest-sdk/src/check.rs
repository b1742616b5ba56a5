//! What the host refuses, checked natively: manifests it would not load.
//! [`crate::testing::TestRule`] runs these checks, so a plain `cargo test`
//! fails where the host would refuse the rule.
//!
//! The host keeps its own copy of these rules (`host/src/plugin/spec.rs`);
//! it is the authority, and the messages here are worded like its own.

use std::fmt;

use crate::manifest::{DAY_SECS, Manifest, Metric, Window};

/// Largest window the host accepts: a little over a year.
const MAX_WINDOW_SECS: u64 = 400 * DAY_SECS;

/// A manifest the host would refuse to load, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidManifest {
    /// The rule's name as declared (possibly itself the problem).
    pub rule: String,
    /// One line per problem, worded as `weir check` words them.
    pub problems: Vec<String>,
}

impl fmt::Display for InvalidManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule `{}`: invalid manifest:\n  - {}",
            self.rule,
            self.problems.join("\n  - ")
        )
    }
}

impl std::error::Error for InvalidManifest {}

impl Manifest {
    /// Checks the manifest as the host does when it loads the rule: names of
    /// `[a-z0-9_-]` (they appear in Redis keys), at least one metric, metric
    /// names unique, every metric with windows, window sizes in range, hops
    /// and steps dividing their window, no two windows of one metric of the
    /// same size. Lists every problem, not just the first.
    pub fn validate(&self) -> Result<(), InvalidManifest> {
        let mut problems = Vec::new();
        if !is_valid_name(&self.name) {
            problems.push(format!(
                "rule name {:?} must be 1-64 characters of a-z, 0-9, _ and -",
                self.name
            ));
        }
        if self.metrics.is_empty() {
            problems.push("the rule declares no metrics".to_owned());
        }
        for (index, metric) in self.metrics.iter().enumerate() {
            let earlier = &self.metrics[..index];
            metric_problems(metric, earlier, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidManifest {
                rule: self.name.clone(),
                problems,
            })
        }
    }
}

fn metric_problems(metric: &Metric, earlier: &[Metric], problems: &mut Vec<String>) {
    let what = format!("metric {:?}", metric.name);
    if !is_valid_name(&metric.name) {
        problems.push(format!(
            "{what}: name must be 1-64 characters of a-z, 0-9, _ and -"
        ));
    }
    if earlier.iter().any(|m| m.name == metric.name) {
        problems.push(format!("{what}: declared twice"));
    }
    if metric.windows.is_empty() {
        problems.push(format!("{what}: has no windows"));
    }
    let mut sizes: Vec<u64> = Vec::new();
    for window in &metric.windows {
        match window_size_secs(window) {
            Ok(size_secs) => {
                if sizes.contains(&size_secs) {
                    problems.push(format!(
                        "{what}: two windows of {size_secs} s would share one output key"
                    ));
                }
                sizes.push(size_secs);
            }
            Err(problem) => problems.push(format!("{what}: {problem}")),
        }
    }
}

/// Whether `name` is a valid rule or metric name.
fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn checked_secs(secs: u64, what: &str) -> Result<u64, String> {
    if secs == 0 || secs > MAX_WINDOW_SECS {
        return Err(format!(
            "{what} must be 1..={MAX_WINDOW_SECS} seconds (found {secs})"
        ));
    }
    Ok(secs)
}

/// The window's whole length, or why the host would refuse it.
fn window_size_secs(window: &Window) -> Result<u64, String> {
    match *window {
        Window::Tumbling(size) => checked_secs(size, "tumbling window size"),
        Window::Hopping {
            size_secs,
            hop_secs,
        } => {
            checked_secs(size_secs, "hopping window size")?;
            checked_secs(hop_secs, "hopping window hop")?;
            if size_secs % hop_secs != 0 {
                return Err(format!(
                    "hopping window size {size_secs} s is not a multiple of its hop {hop_secs} s"
                ));
            }
            Ok(size_secs)
        }
        Window::Cumulative {
            size_secs,
            step_secs,
        } => {
            checked_secs(size_secs, "cumulative window size")?;
            checked_secs(step_secs, "cumulative window step")?;
            if size_secs % step_secs != 0 {
                return Err(format!(
                    "cumulative window size {size_secs} s is not a multiple of its step {step_secs} s"
                ));
            }
            Ok(size_secs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(manifest: &Manifest) -> Vec<String> {
        manifest
            .validate()
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn a_good_manifest_passes() {
        let manifest = Manifest::new("pvuv", "1")
            .metric(Metric::count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("uv").hopping(300, 60).tumbling(60));
        assert_eq!(manifest.validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_listed_in_the_hosts_words() {
        let manifest = Manifest::new("Bad Name", "1")
            .metric(Metric::count("pv").tumbling(0).hopping(300, 7))
            .metric(
                Metric::count("pv")
                    .tumbling(DAY_SECS)
                    .cumulative(DAY_SECS, 60),
            )
            .metric(Metric::sum("spend!"))
            .metric(
                Metric::max("late")
                    .tumbling(401 * DAY_SECS)
                    .cumulative(60, 0),
            );
        assert_eq!(
            problems(&manifest),
            [
                r#"rule name "Bad Name" must be 1-64 characters of a-z, 0-9, _ and -"#,
                r#"metric "pv": tumbling window size must be 1..=34560000 seconds (found 0)"#,
                r#"metric "pv": hopping window size 300 s is not a multiple of its hop 7 s"#,
                r#"metric "pv": declared twice"#,
                r#"metric "pv": two windows of 86400 s would share one output key"#,
                r#"metric "spend!": name must be 1-64 characters of a-z, 0-9, _ and -"#,
                r#"metric "spend!": has no windows"#,
                r#"metric "late": tumbling window size must be 1..=34560000 seconds (found 34646400)"#,
                r#"metric "late": cumulative window step must be 1..=34560000 seconds (found 0)"#,
            ]
        );
    }

    #[test]
    fn a_rule_needs_a_metric() {
        let manifest = Manifest::new("empty", "1");
        assert_eq!(problems(&manifest), ["the rule declares no metrics"]);
        let error = manifest.validate().unwrap_err().to_string();
        assert_eq!(
            error,
            "rule `empty`: invalid manifest:\n  - the rule declares no metrics"
        );
    }

    #[test]
    fn names_are_limited_to_what_redis_keys_carry() {
        assert!(is_valid_name("ip-count_2"));
        assert!(is_valid_name(&"a".repeat(64)));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("PV"));
        assert!(!is_valid_name("p:v"));
    }
}
