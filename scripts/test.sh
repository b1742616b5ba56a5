#!/usr/bin/env bash
# Checks and tests the whole workspace, as CI does:
#   scripts/test.sh [ARGS...]    ARGS go to `cargo test` (e.g. a test name
#                                filter, or `-- --nocapture`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

echo "== cargo fmt --all -- --check"
cargo fmt --all -- --check
echo "== cargo clippy --workspace --all-targets --release -- -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== cargo test --workspace --release $*"
cargo test --workspace --release "$@"
