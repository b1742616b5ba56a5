//! The trait a rule implements, and the batch loop shared by wasm and native runs.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::batch::{BatchView, Record};
use crate::emit::{Emitter, Output};
use crate::error::Result;
use crate::manifest::Manifest;

/// A weir rule: how to parse a record and what it counts.
///
/// Rules are pure functions of their records: event time comes from the
/// record, never from a clock, so replaying input reproduces results.
pub trait Rule: Sized + 'static {
    /// Typed configuration, deserialized from the rule's table in the host
    /// config (an empty object when there is none).
    type Config: DeserializeOwned;

    /// The rule's name, version and metrics.
    fn manifest() -> Manifest;

    /// Builds the rule from its configuration; an error keeps it from loading.
    fn new(config: Self::Config) -> Result<Self>;

    /// The manifest of this configured rule: [`Rule::manifest`] unless the
    /// rule overrides it to take sizes, thresholds or a day offset from its
    /// config. Every instance with the same config must describe itself
    /// the same way.
    fn describe(&self) -> Manifest {
        Self::manifest()
    }

    /// Processes one record. Returning an error rejects the record (counted
    /// and reported by the host) and withdraws anything it emitted; returning
    /// `Ok` without emitting skips it.
    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()>;
}

/// Configuration for rules that take none; accepts any object.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct NoConfig {}

/// Runs `rule` over every record of `batch`. This is the whole per-batch path
/// of a rule: the wasm export and native tests both call it.
pub fn run_batch<R: Rule>(rule: &mut R, metric_names: &[String], batch: &BatchView<'_>) -> Output {
    let mut out = Emitter::new(metric_names, batch.data, batch.records.len() * 2);
    run_records(rule, batch, &mut out);
    out.finish()
}

/// Runs `rule` over every record of `batch` into `out`.
pub(crate) fn run_records<R: Rule>(rule: &mut R, batch: &BatchView<'_>, out: &mut Emitter<'_>) {
    for index in 0..batch.records.len() {
        let Some(record) = batch.record(index) else {
            continue;
        };
        out.begin_record(index as u32);
        let result = rule.process(&record, out);
        out.end_record(result);
    }
}

/// Parses the JSON config text the host passes to init.
pub(crate) fn parse_config<R: Rule>(config_json: &str) -> Result<R::Config> {
    let text = if config_json.trim().is_empty() {
        "{}"
    } else {
        config_json
    };
    serde_json::from_str(text)
        .map_err(|error| crate::Error::msg(format!("invalid config: {error}")))
}
