//! `weir build`: a rule project → a checked, stripped WebAssembly component.
//! (Python projects: see [`super::build_python`].)
//!
//! Rust: `cargo build --release --target wasm32-wasip2` with the release
//! profile's `debug = false` and `strip = "debuginfo"` forced through
//! cargo's environment (it overrides the crate's own profile), so the
//! component carries no DWARF: pvuv goes from ~3 MB to ~200 KB and loads
//! faster. The component is then loaded exactly as `weir run` would load
//! it (compile, contract check, manifest check, init), and its manifest,
//! size and path are printed. A crate that made no `.wasm` gets told what
//! to change.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use clap::Args;

use super::{build_python, rule_file};
use crate::plugin::LoadError;

/// `weir build` arguments.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The rule project: a folder with `Cargo.toml` (Rust) or `app.py`
    /// (Python, built with componentize-py).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Cargo's target folder (default: the project's `target/`).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// The config to check the rule's init with, as JSON.
    #[arg(long, default_value = "{}")]
    pub rule_config: String,
}

/// Why a project did not build into a component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No project in the folder.
    #[error(
        "{0}: no Cargo.toml (Rust) or app.py (Python) here; `weir new NAME` makes a rule project"
    )]
    NoProject(PathBuf),
    /// Cargo failed (its errors are above).
    #[error("cargo build failed (see its errors above)")]
    Cargo,
    /// The build made no component; says what to change.
    #[error("{0}")]
    NoComponent(String),
}

/// What cargo said about one built crate, from `--message-format json`.
#[derive(Debug, serde::Deserialize)]
struct Artifact {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(Debug, serde::Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
    #[serde(default)]
    crate_types: Vec<String>,
}

/// Builds, checks and describes the component; returns the report.
pub fn build(args: &BuildArgs) -> anyhow::Result<String> {
    if build_python::is_python_project(&args.dir) {
        let (wasm, reused) = build_python::build(&args.dir, args.target_dir.as_deref())?;
        let mut report = check(&wasm, &args.rule_config)?;
        if reused {
            report.push_str("(up to date: no .py file changed since the last build)\n");
        }
        return Ok(report);
    }
    let manifest = args.dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NoProject(args.dir.clone()).into());
    }
    let manifest = std::fs::canonicalize(&manifest)?;
    let wasm = cargo_build(&manifest, args.target_dir.as_deref())?;
    check(&wasm, &args.rule_config)
}

/// Runs cargo and finds the component among its artifacts.
fn cargo_build(manifest: &Path, target_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(manifest)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .current_dir(manifest.parent().unwrap_or(Path::new(".")))
        .stdout(Stdio::piped());
    if let Some(dir) = target_dir {
        command.arg("--target-dir").arg(dir);
    }
    let mut child = command.spawn().context("cannot run cargo")?;
    let mut artifacts = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            if let Ok(artifact) = serde_json::from_str::<Artifact>(&line)
                && artifact.reason == "compiler-artifact"
                && artifact.manifest_path.as_deref() == Some(manifest)
            {
                artifacts.push(artifact);
            }
        }
    }
    if !child.wait().context("waiting for cargo")?.success() {
        return Err(BuildError::Cargo.into());
    }
    // A bin target also makes a .wasm (a WASI command, not a rule): only
    // the library's counts.
    if let Some(wasm) = artifacts
        .iter()
        .filter(|a| {
            a.target
                .as_ref()
                .is_some_and(|t| t.crate_types.iter().any(|c| c == "cdylib"))
        })
        .flat_map(|a| &a.filenames)
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
    {
        return Ok(wasm.clone());
    }
    Err(BuildError::NoComponent(no_component_hint(manifest, &artifacts)).into())
}

/// What to change in a crate that built no `.wasm`.
fn no_component_hint(manifest: &Path, artifacts: &[Artifact]) -> String {
    let shown = manifest.display();
    let targets: Vec<&Target> = artifacts.iter().filter_map(|a| a.target.as_ref()).collect();
    if let Some(lib) = targets.iter().find(|t| {
        t.kind
            .iter()
            .any(|k| k == "lib" || k == "rlib" || k == "cdylib")
    }) {
        return format!(
            "{shown}: the library `{}` built as {:?}, which makes no .wasm component; a rule needs\n\n  [lib]\n  crate-type = [\"cdylib\", \"rlib\"]\n\nin Cargo.toml (`cdylib` is the component, `rlib` lets `cargo test` run the rule natively)",
            lib.name, lib.crate_types
        );
    }
    if let Some(bin) = targets.iter().find(|t| t.kind.iter().any(|k| k == "bin")) {
        return format!(
            "{shown}: `{}` is a binary (src/main.rs); a rule is a library: move the rule to src/lib.rs, end it with `weir_sdk::export_rule!(YourRule);` and add\n\n  [lib]\n  crate-type = [\"cdylib\", \"rlib\"]\n\nto Cargo.toml",
            bin.name
        );
    }
    format!(
        "{shown}: cargo built no .wasm for this package; a rule is a library (src/lib.rs) with `[lib] crate-type = [\"cdylib\", \"rlib\"]` in Cargo.toml"
    )
}

/// Loads the component as `weir run` would and describes it. A rule that
/// refuses `config_json` still built: that is said, not failed.
fn check(wasm: &Path, config_json: &str) -> anyhow::Result<String> {
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let mut report = String::new();
    match rule_file::load(wasm, config_json) {
        Ok(rule) => report.push_str(&rule_file::describe(&rule.spec)),
        Err(error) => match error.downcast_ref::<LoadError>() {
            Some(LoadError::Init { rule, message, .. }) => report.push_str(&format!(
                "rule {rule}: loads, but refuses the config {config_json}: {message}\n  (pass the config it needs with --rule-config)\n"
            )),
            _ => return Err(error.context("the component does not load in this weir")),
        },
    }
    report.push_str(&format!(
        "size {}\npath {}\n",
        rule_file::size(bytes.len() as u64),
        wasm.display()
    ));
    if memchr::memmem::find(&bytes, b".debug_info").is_some() {
        report.push_str("note: the component still carries debug info (.debug_info)\n");
    }
    Ok(report)
}
