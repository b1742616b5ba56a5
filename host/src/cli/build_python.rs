//! `weir build` for a Python rule: `app.py` (its module defines `Rule =
//! weir_sdk.guest.export(MyRule)`) → a component for `weir:rule@0.1.0`,
//! with componentize-py.
//!
//! componentize-py is found through `WEIR_COMPONENTIZE_PY`, else the venv
//! `scripts/setup.sh` makes (`~/.cache/weir/py-venv`, or `WEIR_PY_VENV`),
//! else `PATH`. The Python SDK is the repository's `guest-sdk/python` (or
//! `WEIR_PYTHON_SDK`), the contract the WIT embedded in this weir. A build
//! whose component is newer than every `.py` file of the project and the
//! SDK is reused: componentize-py takes ~30 s, and CI builds the same rule
//! often.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::Context;

/// The contract the component is built against.
const RULE_WIT: &str = include_str!("../../../wit/rule@0.1.0/rule.wit");

/// Whether `dir` holds a Python rule (an `app.py`, no `Cargo.toml`).
pub fn is_python_project(dir: &Path) -> bool {
    dir.join("app.py").is_file() && !dir.join("Cargo.toml").is_file()
}

/// Builds the component of the Python rule in `dir`; returns its path and
/// whether an earlier build was reused.
pub fn build(dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<(PathBuf, bool)> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().replace('-', "_"))
        .context("the project folder has no name")?;
    let target = target_dir.map_or_else(|| dir.join("target"), Path::to_owned);
    let out_dir = target.join("wasm32-wasip2/release");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let wasm = out_dir.join(format!("{name}.wasm"));
    let sdk = python_sdk()?;
    if let Ok(built) = std::fs::metadata(&wasm).and_then(|m| m.modified())
        && newest_py(&dir, &target)
            .max(newest_py(&sdk, &target))
            .is_some_and(|newest| newest < built)
    {
        return Ok((wasm, true));
    }
    let wit_dir = target.join("weir-wit");
    std::fs::create_dir_all(&wit_dir)?;
    std::fs::write(wit_dir.join("rule.wit"), RULE_WIT)?;
    let temp = out_dir.join(format!(".{name}.wasm.building"));
    let status = Command::new(componentize_py())
        .arg("-d")
        .arg(&wit_dir)
        .args(["-w", "rule-world", "componentize", "app", "-p"])
        .arg(&dir)
        .arg("-p")
        .arg(&sdk)
        .arg("-o")
        .arg(&temp)
        .current_dir(&dir)
        // Its progress goes with the other notes: stdout is the report.
        .stdout(std::io::stderr())
        .status()
        .context(
            "cannot run componentize-py; run scripts/setup.sh (or set WEIR_COMPONENTIZE_PY)",
        )?;
    if !status.success() {
        anyhow::bail!("componentize-py failed (see its errors above)");
    }
    std::fs::rename(&temp, &wasm)?;
    Ok((wasm, false))
}

fn python_sdk() -> anyhow::Result<PathBuf> {
    let sdk = std::env::var_os("WEIR_PYTHON_SDK").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python"),
        PathBuf::from,
    );
    std::fs::canonicalize(&sdk).with_context(|| {
        format!(
            "the Python SDK is not at {}; set WEIR_PYTHON_SDK to the repository's guest-sdk/python",
            sdk.display()
        )
    })
}

fn componentize_py() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_COMPONENTIZE_PY") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("WEIR_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/weir/py-venv"))
        });
    venv.map(|venv| venv.join("bin/componentize-py"))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("componentize-py"))
}

/// The newest modification time of a `.py` file under `dir` (not under
/// `skip`, the build's own folder).
fn newest_py(dir: &Path, skip: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == skip || path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "py")
                && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}
