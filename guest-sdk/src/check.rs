//! What the host refuses, checked natively: manifests it would not load and
//! updates it would drop. [`crate::testing::TestRule`] runs these checks, so a
//! plain `cargo test` fails where the host would refuse the rule or quietly
//! count its updates as invalid.
//!
//! The host keeps its own copy of these rules (`host/src/plugin/spec.rs` for
//! manifests, `RuleState::apply_update` for updates); it is the authority,
//! and the messages here are worded like its own.

use std::fmt;

use crate::emit::Measure;
use crate::manifest::{Aggregation, DAY_SECS, Manifest, Metric, Window};

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
    match &metric.aggregation {
        Aggregation::DecimalSum(scale) | Aggregation::Avg(scale) if *scale > 18 => {
            problems.push(format!("{what}: scale {scale} is over 18"));
        }
        Aggregation::Quantiles(qs)
            if qs.is_empty() || qs.len() > 8 || qs.iter().any(|q| !(*q > 0.0 && *q < 1.0)) =>
        {
            problems.push(format!(
                "{what}: quantiles needs 1 to 8 values, each between 0 and 1 (exclusive)"
            ));
        }
        _ => {}
    }
    if let Some(n) = metric.top
        && (!matches!(
            metric.aggregation,
            Aggregation::Count | Aggregation::Sum | Aggregation::DecimalSum(_)
        ) || n == 0
            || n > 10_000)
    {
        problems.push(format!(
            "{what}: top({n}) needs a count, sum or decimal-sum metric and 1..=10000 groups"
        ));
    }
    if let Some(alert) = &metric.alert {
        if alert.threshold.parse::<crate::decimal::Decimal>().is_err() {
            problems.push(format!(
                "{what}: alert threshold {:?} is not a decimal number",
                alert.threshold
            ));
        }
        if alert.throttle_secs == 0 {
            problems.push(format!("{what}: alert throttle-secs must be at least 1"));
        }
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

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::Distinct => "distinct",
            Self::ApproxDistinct => "approx-distinct",
            Self::DecimalSum(scale) => return write!(f, "decimal-sum({scale})"),
            Self::Avg(scale) => return write!(f, "avg({scale})"),
            Self::Quantiles(qs) => return write!(f, "quantiles({qs:?})"),
        })
    }
}

impl Aggregation {
    /// Whether the host applies an update carrying `measure` to a metric of
    /// this aggregation: counts take [`Measure::One`] (`out.count`), sum, min
    /// and max a finite [`Measure::Number`] (`out.number`), distinct counts a
    /// [`Measure::Member`] (`out.distinct`).
    /// decimal-sum, avg and quantiles a finite number or a decimal
    /// (`out.decimal`; its digits past the scale are checked by the host).
    pub fn accepts(&self, measure: &Measure) -> bool {
        match (self, measure) {
            (Self::Count, Measure::One) => true,
            (
                Self::Sum
                | Self::Min
                | Self::Max
                | Self::DecimalSum(_)
                | Self::Avg(_)
                | Self::Quantiles(_),
                Measure::Number(x),
            ) => x.is_finite(),
            (Self::DecimalSum(_) | Self::Avg(_) | Self::Quantiles(_), Measure::Decimal(_)) => true,
            (Self::Distinct | Self::ApproxDistinct, Measure::Member(_)) => true,
            _ => false,
        }
    }

    /// The emitter call that makes updates for this aggregation.
    fn emitter_call(&self) -> &'static str {
        match self {
            Self::Count => "out.count",
            Self::Sum | Self::Min | Self::Max => "out.number",
            Self::DecimalSum(_) | Self::Avg(_) | Self::Quantiles(_) => "out.decimal or out.number",
            Self::Distinct | Self::ApproxDistinct => "out.distinct",
        }
    }
}

/// The emitter call that made `measure`.
fn call_that_made(measure: &Measure) -> &'static str {
    match measure {
        Measure::One => "out.count",
        Measure::Number(_) => "out.number",
        Measure::Member(_) => "out.distinct",
        Measure::Decimal(_) => "out.decimal",
    }
}

/// An update the host would drop, found while the rule emitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misuse {
    /// Index of the record within the batch.
    pub(crate) record: u32,
    /// What was wrong, naming the metric.
    pub(crate) problem: String,
}

/// Checks each update against the manifest as the rule emits it, before the
/// emitter resolves or withdraws anything, so nothing escapes the check.
#[derive(Debug)]
pub(crate) struct UpdateChecks<'m> {
    manifest: &'m Manifest,
    misuses: Vec<Misuse>,
}

impl<'m> UpdateChecks<'m> {
    pub(crate) fn new(manifest: &'m Manifest) -> Self {
        Self {
            manifest,
            misuses: Vec::new(),
        }
    }

    /// Checks one update of `record` to the metric called `metric`.
    pub(crate) fn check(&mut self, record: u32, metric: &str, measure: &Measure) {
        let call = call_that_made(measure);
        let problem = match self.manifest.metrics.iter().find(|m| m.name == metric) {
            None => {
                let declared: Vec<String> = self
                    .manifest
                    .metrics
                    .iter()
                    .map(|m| format!("`{}`", m.name))
                    .collect();
                format!(
                    "{call}(\"{metric}\", ...) names a metric the manifest does not declare \
                     (it declares {}); the host rejects the record",
                    declared.join(", ")
                )
            }
            Some(declared) if declared.aggregation.accepts(measure) => return,
            Some(declared) => match (&declared.aggregation, measure) {
                (_, Measure::Number(x)) if !x.is_finite() => {
                    format!(
                        "{call}(\"{metric}\", ...) with {x}: the host drops numbers that are not finite"
                    )
                }
                _ => format!(
                    "{call}(\"{metric}\", ...) on a {aggregation} metric, which takes \
                     {wanted}(...); the host drops the update",
                    aggregation = declared.aggregation,
                    wanted = declared.aggregation.emitter_call(),
                ),
            },
        };
        self.misuses.push(Misuse { record, problem });
    }

    /// Everything found so far, in emission order.
    pub(crate) fn finish(self) -> Vec<Misuse> {
        self.misuses
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

    #[test]
    fn each_aggregation_accepts_its_own_measure() {
        let one = Measure::One;
        let number = Measure::Number(2.5);
        let member = Measure::Member("a".into());
        for (aggregation, accepted) in [
            (Aggregation::Count, &one),
            (Aggregation::Sum, &number),
            (Aggregation::Min, &number),
            (Aggregation::Max, &number),
            (Aggregation::Distinct, &member),
            (Aggregation::ApproxDistinct, &member),
        ] {
            for measure in [&one, &number, &member] {
                assert_eq!(
                    aggregation.accepts(measure),
                    measure == accepted,
                    "{aggregation} with {measure:?}"
                );
            }
        }
        assert!(!Aggregation::Sum.accepts(&Measure::Number(f64::NAN)));
        assert!(!Aggregation::Max.accepts(&Measure::Number(f64::INFINITY)));
    }

    #[test]
    fn misuses_name_the_metric_and_the_fix() {
        let manifest = Manifest::new("shop", "1")
            .metric(Metric::sum("spend").tumbling(60))
            .metric(Metric::count("orders").tumbling(60));
        let mut checks = UpdateChecks::new(&manifest);
        checks.check(0, "spend", &Measure::Number(3.0));
        checks.check(0, "orders", &Measure::One);
        checks.check(1, "spnd", &Measure::Number(3.0));
        checks.check(2, "orders", &Measure::Number(1.0));
        checks.check(3, "spend", &Measure::Number(f64::NAN));
        let misuses = checks.finish();
        assert_eq!(
            misuses,
            [
                Misuse {
                    record: 1,
                    problem: "out.number(\"spnd\", ...) names a metric the manifest does not \
                              declare (it declares `spend`, `orders`); the host rejects the record"
                        .into(),
                },
                Misuse {
                    record: 2,
                    problem: "out.number(\"orders\", ...) on a count metric, which takes \
                              out.count(...); the host drops the update"
                        .into(),
                },
                Misuse {
                    record: 3,
                    problem: "out.number(\"spend\", ...) with NaN: the host drops numbers that \
                              are not finite"
                        .into(),
                },
            ]
        );
    }
}
