#!/usr/bin/env bash
# Builds the example rules as WebAssembly components and copies them into a
# plugins directory.
#   scripts/build-plugins.sh [--python] [DIR [RULE...]]
#       DIR defaults to <repo>/plugins-dir; a relative DIR is taken from the
#       current directory. RULEs are crate names under plugins/ (default:
#       pvuv ip-count hive-audit, the rules of the access-log example).
#       --python also builds plugins/pvuv-py into DIR/pvuv_py.wasm
#       (componentize-py from scripts/setup.sh; reused while no .py file
#       changed). Opt-in: a Python rule is ~18 MB and takes seconds to
#       compile, which the benchmarks and the example run, loading every
#       rule in DIR, must not pay.
set -euo pipefail

PYTHON=0
if [ "${1:-}" = "--python" ]; then
    PYTHON=1
    shift
fi

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

if [ "$PYTHON" = 1 ]; then
    venv="${WEIR_PY_VENV:-$HOME/.cache/weir/py-venv}"
    cpy="$venv/bin/componentize-py"
    if [ ! -x "$cpy" ]; then
        echo "build-plugins: $cpy not found; run scripts/setup.sh" >&2
        exit 1
    fi
    out="$DEST/pvuv_py.wasm"
    newer="$(find plugins/pvuv-py guest-sdk/python wit -name '*.py' -newer "$out" -o -name '*.wit' -newer "$out" 2>/dev/null | head -n1 || true)"
    if [ -f "$out" ] && [ -z "$newer" ]; then
        echo "build-plugins: $out is up to date"
    else
        "$cpy" -d wit/rule@0.1.0 -w rule-world componentize app \
            -p plugins/pvuv-py -p guest-sdk/python -o "$out.tmp" >/dev/null
        mv -f "$out.tmp" "$out"
        echo "build-plugins: $out ($(wc -c <"$out") bytes)"
    fi
fi
