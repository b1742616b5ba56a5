#!/usr/bin/env bash
# Python rule vs Rust rule: component size, compile/load time and cost per
# line, measured with `weir test` (the host's real pipeline, in-memory
# store). Also the size of pvuv with and without debug info.
#   scripts/bench-python.sh [LINES]     LINES defaults to 200000
# Needs scripts/setup.sh (componentize-py) and a release build of weir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LINES="${1:-200000}"
WEIR="$ROOT/target/release/weir"
OUT="$ROOT/target/kit-bench"
mkdir -p "$OUT"

[ -x "$WEIR" ] || cargo build --release -p weir
"$WEIR" build plugins/pvuv --target-dir "$OUT/rust" >/dev/null
"$WEIR" build plugins/pvuv-py --target-dir "$OUT/python" >/dev/null
RUST="$OUT/rust/wasm32-wasip2/release/pvuv.wasm"
PY="$OUT/python/wasm32-wasip2/release/pvuv_py.wasm"

LOG="$OUT/access-$LINES.log"
[ -f "$LOG" ] || python3 tests/tools/gen_access.py --seed 5 --lines "$LINES" --out "$LOG"
head -n 1 "$LOG" >"$OUT/one.log"

now() { date +%s.%N; }
# Median of three wall-clock runs of `weir test RULE --input LOG`.
timed() {
    local runs=()
    for _ in 1 2 3; do
        local t0 t1
        t0="$(now)"
        "$WEIR" test "$1" --input "$2" --json >/dev/null 2>&1
        t1="$(now)"
        runs+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p
}

echo "lines: $LINES ($(wc -c <"$LOG") bytes), cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -f target/wasm32-wasip2/release/pvuv.wasm ]; then
    echo "pvuv with debug info (scripts/build-plugins.sh): $(wc -c <target/wasm32-wasip2/release/pvuv.wasm) bytes"
fi
for rule in "$RUST" "$PY"; do
    load="$(timed "$rule" "$OUT/one.log")"
    full="$(timed "$rule" "$LOG")"
    per_line_us="$(echo "($full - $load) * 1000000 / $LINES" | bc -l)"
    printf '%s: %s bytes; load (compile + init + 1 line) %.2f s; %d lines %.2f s; %.2f us/line\n' \
        "$(basename "$rule")" "$(wc -c <"$rule")" "$load" "$LINES" "$full" "$per_line_us"
done
