#!/usr/bin/env bash
# End-to-end lines/s of each example rule: `weir run` on a file to its end
# (windows, checkpoints and output to a local Redis), one rule at a time, on
# BENCH_LINES lines of that rule's input. pvuv on an access log of the same
# length runs in every round as the baseline, so the summary gives each
# rule's median lines/s and its ratio to pvuv's median (the machine is
# shared: ratios of one script run are what to compare).
#   scripts/bench-jobs.sh
# Environment: BENCH_RUNS (rounds, default 3), BENCH_LINES (default 1000000),
# BENCH_DIR (default <repo>/target/bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
. scripts/lib/local-services.sh

RUNS="${BENCH_RUNS:-3}"
LINES="${BENCH_LINES:-1000000}"
DIR="${BENCH_DIR:-$ROOT/target/bench}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
RULES=(pvuv spend orders cpu errors risk)

echo "cpus: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p weir
WEIR="$ROOT/target/release/weir"
for rule in "${RULES[@]}"; do
    mkdir -p "$DIR/plugins-$rule"
    scripts/build-plugins.sh "$DIR/plugins-$rule" "$rule" >/dev/null
done

# ---- input: one log per rule (pvuv and risk read the same access log) -------
ACCESS="$DIR/access-$LINES.log"
[ -f "$ACCESS" ] || python3 tests/tools/gen_access.py --seed 7 --lines "$LINES" --out "$ACCESS"
for job in spend orders cpu errors; do
    log="$DIR/$job-$LINES.log"
    [ -f "$log" ] || python3 tests/tools/gen_jobs.py --job "$job" --seed 7 --lines "$LINES" --out "$log"
done
log_of() { case "$1" in pvuv|risk) echo "$ACCESS" ;; *) echo "$DIR/$1-$LINES.log" ;; esac; }

# ---- redis --------------------------------------------------------------------
PORT="$(free_port)"
mkdir -p "$DIR/redis-jobs"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR/redis-jobs" --logfile "$DIR/redis-jobs/redis.log" &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do port_open "$PORT" && break; sleep 0.1; done

for rule in "${RULES[@]}"; do
    cat >"$DIR/$rule.toml" <<TOML
[source]
kind = "file"
path = "$(log_of "$rule")"
[plugins]
dir = "$DIR/plugins-$rule"
[redis]
url = "redis://127.0.0.1:$PORT/0"
[checkpoint]
namespace = "bench-$rule"
TOML
done

# ---- rounds -------------------------------------------------------------------
RESULTS="$DIR/jobs-results.txt"
: >"$RESULTS"
for round in $(seq 1 "$RUNS"); do
    for rule in "${RULES[@]}"; do
        redis-cli -h 127.0.0.1 -p "$PORT" FLUSHALL >/dev/null
        start=$(date +%s.%N)
        "$WEIR" run --config "$DIR/$rule.toml" 2>"$DIR/$rule.log"
        end=$(date +%s.%N)
        secs=$(python3 -c "print($end - $start)")
        echo "$rule $secs" >>"$RESULTS"
        printf 'round %s %-7s %6.2f s  %9.0f lines/s\n' "$round" "$rule" "$secs" \
            "$(python3 -c "print($LINES / $secs)")"
    done
done

python3 - "$RESULTS" "$LINES" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    rule, secs = line.split()
    runs.setdefault(rule, []).append(float(secs))
lines = int(sys.argv[2])
base = lines / statistics.median(runs["pvuv"])
print(f"\n{'rule':8} {'median lines/s':>15} {'vs pvuv':>8}  runs")
for rule, secs in runs.items():
    rate = lines / statistics.median(secs)
    print(f"{rule:8} {rate:15,.0f} {rate / base:7.2f}x  {len(secs)}")
PY
