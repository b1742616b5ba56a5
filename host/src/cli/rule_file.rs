//! One rule file as the authoring commands see it (`weir test`, `weir
//! build`, `weir deploy`): loaded and checked exactly as `weir run` loads a
//! plugin, and its manifest described for a person.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::LimitsConfig;
use crate::model::{RuleSpec, WindowSpec};
use crate::plugin::{ActiveRule, RuleLoader};

/// Loads `path` with [`authoring_limits`] and `config_json` as its config:
/// the same compile, contract check, manifest check and init as a plugin
/// of `weir run`, so a file that loads here loads there.
pub fn load(path: &Path, config_json: &str) -> anyhow::Result<ActiveRule> {
    load_with(path, |_| config_json.to_owned())
}

/// How long compiling a rule may take in the authoring commands: a
/// Python component (~18 MB) takes seconds of CPU, far more on a busy
/// machine, and refusing it there would say nothing about the rule. (The
/// pipeline applies its own `[limits] compile_timeout_ms`; `weir deploy
/// --config` checks with those limits.)
pub const AUTHORING_COMPILE_TIMEOUT_MS: u64 = 600_000;

/// The limits the authoring commands load rules with: the defaults, with
/// [`AUTHORING_COMPILE_TIMEOUT_MS`].
pub fn authoring_limits() -> LimitsConfig {
    LimitsConfig {
        compile_timeout_ms: AUTHORING_COMPILE_TIMEOUT_MS,
        ..LimitsConfig::default()
    }
}

/// [`load`] with the config chosen by the rule's name.
pub fn load_with(
    path: &Path,
    config_for: impl FnOnce(&str) -> String,
) -> anyhow::Result<ActiveRule> {
    load_limited(path, &authoring_limits(), config_for)
}

/// [`load_with`] under the given limits (a pipeline's).
pub fn load_limited(
    path: &Path,
    limits: &LimitsConfig,
    config_for: impl FnOnce(&str) -> String,
) -> anyhow::Result<ActiveRule> {
    let loader = RuleLoader::new(limits)?;
    let loaded = loader.load(path, config_for)?;
    Ok(ActiveRule::from(loaded))
}

/// The manifest, one line per metric: `rule pvuv 0.1.0`, then
/// `  metric pv: count over tumbling 60s, cumulative 86400s step 60s`.
pub fn describe(spec: &RuleSpec) -> String {
    let mut text = format!("rule {} {}\n", spec.name, spec.version);
    for metric in &spec.metrics {
        let windows: Vec<String> = metric.windows.iter().map(window).collect();
        let _ = writeln!(
            text,
            "  metric {}: {} over {}",
            metric.name,
            metric.aggregation,
            windows.join(", ")
        );
    }
    text
}

/// A window shape in words (`tumbling 60s`, `hopping 300s every 60s`,
/// `cumulative 86400s step 60s`).
fn window(spec: &WindowSpec) -> String {
    match *spec {
        WindowSpec::Tumbling { size_ms } => format!("tumbling {}s", size_ms / 1000),
        WindowSpec::Hopping { size_ms, hop_ms } => {
            format!("hopping {}s every {}s", size_ms / 1000, hop_ms / 1000)
        }
        WindowSpec::Cumulative { size_ms, step_ms } => {
            format!("cumulative {}s step {}s", size_ms / 1000, step_ms / 1000)
        }
    }
}

/// A size for people: `212 KiB (217,310 bytes)`.
pub fn size(bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    if kib >= 1024.0 {
        format!("{:.1} MiB ({bytes} bytes)", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB ({bytes} bytes)")
    }
}
