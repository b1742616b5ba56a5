#!/usr/bin/env bash
# Builds the example rules as WebAssembly components and copies them into a
# plugins directory.
#   scripts/build-plugins.sh [DIR [RULE...]]
#       DIR defaults to <repo>/plugins-dir; a relative DIR is taken from the
#       current directory. RULEs are crate names under plugins/ (default:
#       pvuv ip-count hive-audit, the rules of the access-log example).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/plugins-dir}"
shift || true
RULES=("$@")
if [ ${#RULES[@]} -eq 0 ]; then
    RULES=(pvuv ip-count hive-audit)
fi
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"

cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

PACKAGES=()
for rule in "${RULES[@]}"; do
    PACKAGES+=(-p "$rule")
done
cargo build --release --target wasm32-wasip2 "${PACKAGES[@]}"

# Cargo names artifacts after the crate with '-' turned into '_'.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
for rule in "${RULES[@]}"; do
    name="${rule//-/_}"
    src="$TARGET_DIR/wasm32-wasip2/release/$name.wasm"
    if [ ! -f "$src" ]; then
        echo "build-plugins: $src was not built" >&2
        exit 1
    fi
    cp -f "$src" "$DEST/$name.wasm"
    echo "build-plugins: $DEST/$name.wasm ($(wc -c <"$src") bytes)"
done
