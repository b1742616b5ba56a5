//! `weir deploy`: put a rule into a plugins folder safely.
//!
//! The file is loaded first exactly as `weir run` would load it (with the
//! config it will get there), so a broken rule never lands. It is then
//! written beside its destination under a name the watcher ignores
//! (`.NAME.wasm.deploying`) and renamed into place: a running pipeline sees
//! one complete new file, never a half-written one, and swaps the rule in at
//! a batch boundary. The version it replaces is printed. To start the
//! rule's results from scratch afterwards, see `weir reset`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::rule_file;
use crate::config::Config;
use crate::plugin::reload::config_json;

/// `weir deploy` arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The rule component (`.wasm`).
    pub rule: PathBuf,
    /// The plugins folder to deploy into.
    #[arg(long, conflicts_with = "config")]
    pub to: Option<PathBuf>,
    /// A pipeline config: deploy into its `[plugins] dir`, checking the
    /// rule with its `[rules.<name>] config`.
    #[arg(long, short, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Deploys; returns the report.
pub fn deploy(args: &DeployArgs) -> anyhow::Result<String> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let dir = match (&args.to, &config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => config.plugins.dir.clone(),
        (None, None) => anyhow::bail!("say where to deploy: --to PLUGINS_DIR or --config FILE"),
    };
    if !dir.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    let file_name = args
        .rule
        .file_name()
        .filter(|_| args.rule.extension().is_some_and(|e| e == "wasm"))
        .with_context(|| format!("{} is not a .wasm file", args.rule.display()))?;
    let dest = dir.join(file_name);
    // The config it will get there: a sidecar `<stem>.toml` beside it,
    // else `[rules.<name>] config`, else `{}` (as `weir run` decides).
    let configs = config.as_ref().map(|c| c.rules.clone()).unwrap_or_default();
    let mut sidecar_error = None;
    let limits = config
        .as_ref()
        .map_or_else(rule_file::authoring_limits, |c| c.limits.clone());
    let new = rule_file::load_limited(&args.rule, &limits, |name| {
        config_json(&dest, name, &configs).unwrap_or_else(|error| {
            sidecar_error = Some(error);
            "{}".to_owned()
        })
    })
    .context("not deployed: the rule does not load")?;
    if let Some(error) = sidecar_error {
        anyhow::bail!("not deployed: invalid sidecar config: {error}");
    }
    let old = if dest.exists() {
        Some(
            // With the config it runs with, so a rule that needs one loads.
            rule_file::load_with(&dest, |name| {
                config_json(&dest, name, &configs).unwrap_or_else(|_| "{}".to_owned())
            })
            .map(|old| {
                format!(
                    "{} {} (hash {})",
                    old.spec.name, old.spec.version, old.version_hash
                )
            })
            .unwrap_or_else(|error| format!("a file that does not load ({error:#})")),
        )
    } else {
        None
    };
    let temp = dir.join(format!(".{}.deploying", file_name.to_string_lossy()));
    std::fs::copy(&args.rule, &temp).with_context(|| format!("cannot write {}", temp.display()))?;
    if let Err(error) = std::fs::rename(&temp, &dest) {
        let _ = std::fs::remove_file(&temp);
        return Err(error).with_context(|| format!("cannot move the rule to {}", dest.display()));
    }
    let mut report = format!(
        "deployed {} {} (hash {}) to {}\n",
        new.spec.name,
        new.spec.version,
        new.version_hash,
        dest.display()
    );
    match old {
        Some(old) => report.push_str(&format!("replaced {old}\n")),
        None => report.push_str("new rule: nothing replaced\n"),
    }
    Ok(report)
}
