//! The golden test: `weir build` the component, then replay
//! `sample/input.log` through it with `weir test` (the host's real windows,
//! watermark and lateness, no Redis) and compare with
//! `sample/expected.json`. After changing the rule on purpose, rewrite the
//! golden file with
//! `weir test target/wasm32-wasip2/release/{{file}}.wasm --input sample/input.log --expect sample/expected.json --update`.
//!
//! `WEIR` names the weir binary (default: the one that made this project);
//! `WEIR_BUILD_TARGET_DIR` the target folder of the component build
//! (default `target/golden`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn weir() -> Command {
    Command::new(std::env::var("WEIR").unwrap_or_else(|_| "{{weir}}".to_owned()))
}

#[test]
fn sample_replays_to_the_golden_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Its own target dir: the cargo running this test holds the lock of
    // the project's.
    let target = std::env::var_os("WEIR_BUILD_TARGET_DIR")
        .map_or_else(|| root.join("target/golden"), PathBuf::from);
    let status = weir()
        .arg("build")
        .arg(root)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run weir (set WEIR to the weir binary)");
    assert!(status.success(), "weir build failed");
    let output = weir()
        .arg("test")
        .arg(target.join("wasm32-wasip2/release/{{file}}.wasm"))
        .arg("--input")
        .arg(root.join("sample/input.log"))
        .arg("--expect")
        .arg(root.join("sample/expected.json"))
        .output()
        .expect("run weir test");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
