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
# The Kafka tests run a real Kafka-compatible broker (tansu), built once and
# cached (the first build takes ~10 minutes).
echo "== scripts/install-tansu.sh"
WEIR_TANSU="$(scripts/install-tansu.sh | tail -n 1)"
export WEIR_TANSU
echo "tansu: $WEIR_TANSU"
# The oracle the integration tests compare against checks itself first on
# hand-made cases, so a broken oracle cannot pass wrong results.
echo "== python3 tests/tools/expected.py --self-test"
python3 tests/tools/expected.py --self-test
echo "== pytest: the Python guest SDK and plugins/pvuv-py"
PY_VENV="${WEIR_PY_VENV:-$HOME/.cache/weir/py-venv}"
PYTHONPATH="$ROOT/guest-sdk/python:$ROOT/plugins/pvuv-py" "$PY_VENV/bin/python" -m pytest -q -p no:cacheprovider guest-sdk/python/tests plugins/pvuv-py
echo "== cargo test --workspace --release $*"
cargo test --workspace --release "$@"
