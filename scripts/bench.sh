#!/usr/bin/env bash
# End-to-end benchmark: `weir run` (pvuv rule, Redis output and checkpoints)
# against DuckDB computing the same per-minute pv/uv, and against the
# speed-of-light line (bench/sol, `weir-sol`: the same exact numbers in plain
# single-threaded Rust), on the same 2M-line file.
#   scripts/bench.sh          weir (on the cores and on 1 thread) vs DuckDB (2 threads,
#                             1 thread) vs weir-sol
#   scripts/bench.sh --all    the same, then every other comparison of issue 14
#                             in one go, and one table of them all (see below)
# Environment: BENCH_RUNS (rounds; each system runs once per round, in turn;
# the summary gives each system's median and best run; default 3, 5 with
# --all),
# BENCH_LINES (default 2000000), BENCH_DIR (default <repo>/target/bench),
# BENCH_WEIR_BASELINE (another weir binary, e.g. one built from an earlier
# commit: it runs in every round too, and the summary gives this build's
# ratio to it — how a change moved the end-to-end speed).
#
# Generates $BENCH_DIR/access-<N>.log with tests/tools/gen_access.py (seed 7)
# unless it exists; installs the duckdb Python module if it is missing; starts
# a private redis-server on a free loopback port (no persistence) and stops it
# on exit; builds target/release/weir, weir-sol and the pvuv component. Every weir run
# starts from an empty Redis (FLUSHALL), so each run does the whole file.
# Checks that weir's and weir-sol's per-minute pv and uv equal DuckDB's for
# every minute, and weir-sol's per-day pv and uv equal weir's for every day.
#
# --all then adds (scripts/lib/bench-all.sh; raw outputs in $BENCH_DIR/all):
# peak RSS of `weir run` on the same file and of a day window of 1M distinct
# members; `cargo bench -p weir --bench pvuv` on the same file (wasm vs
# native, BENCH_RUNS rounds); `cargo bench -p weir --bench reload`
# (BENCH_SWAPS swaps, default 15); scripts/bench-kafka.sh (BENCH_RUNS rounds,
# BENCH_KAFKA_LINES lines, default 1000000; skipped with a message if it
# fails, e.g. without a way to install tansu); and prints one table
# (scripts/bench_table.py): medians, ratios to each baseline, every weir
# figure as a fraction of the speed-of-light line, and issue 14's targets.
set -euo pipefail

ALL=0
case "${1:-}" in
    --all) ALL=1 ;;
    "") ;;
    *) echo "usage: scripts/bench.sh [--all]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if [ "$ALL" = 1 ]; then RUNS="${BENCH_RUNS:-5}"; else RUNS="${BENCH_RUNS:-3}"; fi
LINES="${BENCH_LINES:-2000000}"
DIR="${BENCH_DIR:-$ROOT/target/bench}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [ "$LINES" = 2000000 ]; then LOG="$DIR/access-2m.log"; else LOG="$DIR/access-$LINES.log"; fi

say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "cpus: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- input ---------------------------------------------------------------------
say "input $LOG"
if [ ! -s "$LOG" ]; then
    echo "generating $LINES lines (takes about 10 s per 1M lines)"
    python3 tests/tools/gen_access.py --lines "$LINES" --seed 7 --malformed-frac 0.001 \
        --invalid-utf8-frac 0 --out "$LOG.tmp"
    mv "$LOG.tmp" "$LOG"
fi
echo "$(wc -l <"$LOG") lines, $(($(wc -c <"$LOG") / 1000000)) MB"

# ---- DuckDB ----------------------------------------------------------------------
if ! python3 -c 'import duckdb' 2>/dev/null; then
    say "installing the duckdb Python module"
    python3 -m pip install --quiet duckdb
fi

# ---- weir ----------------------------------------------------------------------
say "building weir, weir-sol and the pvuv component"
cargo build --release -p weir
cargo build --release -p weir-sol
SOL="${CARGO_TARGET_DIR:-$ROOT/target}/release/weir-sol"
scripts/build-plugins.sh "$DIR/plugins" >/dev/null
find "$DIR/plugins" -name '*.wasm' ! -name pvuv.wasm -delete
ls -l "$DIR/plugins"

say "redis"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$DIR/redis"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR/redis" --logfile "$DIR/redis/redis.log" &
REDIS_PID=$!
stop_redis() { kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; }
trap stop_redis EXIT
CLI=(redis-cli -h 127.0.0.1 -p "$PORT")
for _ in $(seq 1 100); do
    "${CLI[@]}" ping >/dev/null 2>&1 && break
    sleep 0.1
done
"${CLI[@]}" ping >/dev/null
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$PORT (pid $REDIS_PID)"

CONFIG="$DIR/weir-bench.toml"
cat >"$CONFIG" <<EOF
# Written by scripts/bench.sh.
[source]
kind = "file"
path = "$LOG"
follow = false
[plugins]
dir = "$DIR/plugins"
[redis]
url = "redis://127.0.0.1:$PORT/0"
[windows]
allowed_lateness_secs = 10
day_offset_secs = -28800
[checkpoint]
interval_ms = 1000
namespace = "bench"
EOF
# The same with every rule call and window update on one thread, for the
# scaling from 1 thread to the machine's cores ([engine] threads).
CONFIG_1T="$DIR/weir-bench-1thread.toml"
{ cat "$CONFIG"; printf '[engine]\nthreads = 1\n'; } >"$CONFIG_1T"

# The systems take turns, run after run, so that a busy moment on this shared
# machine slows them alike; the best run of each is kept.
say "timed runs: duckdb (all threads), duckdb (1 thread), weir, weir-sol; $RUNS rounds"
best() { # best CURRENT NEW: the smaller, as text
    if [ -z "$1" ] || python3 -c "import sys; sys.exit(not $2 < $1)"; then echo "$2"; else echo "$1"; fi
}
result() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$1"; }
DUCK_SECS=""
DUCK1_SECS=""
WEIR_SECS=""
WEIR_CPU=""
BASE="${BENCH_WEIR_BASELINE:-}"
ALL_DUCK=()
ALL_DUCK1=()
ALL_WEIR=()
ALL_WEIR1=()
ALL_BASE=()
ALL_SOL=()
ALL_LOAD=()
# time_weir BINARY [CONFIG]: one run from an empty Redis; prints "wall-seconds cpu-seconds".
time_weir() {
    "${CLI[@]}" FLUSHALL >/dev/null
    local start end
    start="$EPOCHREALTIME"
    TIMEFORMAT='%U %S'
    { time "$1" run --config "${2:-$CONFIG}" 2>"$DIR/weir-run.log"; } 2>"$DIR/weir-time.txt"
    end="$EPOCHREALTIME"
    python3 -c "print(f'{$end - $start:.4f}')" | tr '\n' ' '
    awk '{ printf "%.2f\n", $1 + $2 }' "$DIR/weir-time.txt"
}
for run in $(seq 1 "$RUNS"); do
    ALL_LOAD+=("$(cut -d' ' -f1 /proc/loadavg)")
    echo "-- round $run (load average ${ALL_LOAD[-1]})"
    if [ "$run" -eq 1 ]; then
        python3 scripts/bench_duckdb.py "$LOG" --repeat 1 --out "$DIR/duckdb-minutes.tsv" >"$DIR/duckdb.txt"
        sed -n '/^duckdb [0-9]/,/^RESULT/p' "$DIR/duckdb.txt" | grep -v '^RESULT'
    else
        python3 scripts/bench_duckdb.py "$LOG" --repeat 1 --show 0 >"$DIR/duckdb.txt"
    fi
    grep '^duckdb run' "$DIR/duckdb.txt"
    DUCK_SECS="$(best "$DUCK_SECS" "$(result "$DIR/duckdb.txt" best_secs)")"
    ALL_DUCK+=("$(result "$DIR/duckdb.txt" best_secs)")
    DUCK_THREADS="$(result "$DIR/duckdb.txt" threads)"
    LINE_COUNT="$(result "$DIR/duckdb.txt" lines)"
    python3 scripts/bench_duckdb.py "$LOG" --repeat 1 --threads 1 --show 0 >"$DIR/duckdb-1thread.txt"
    grep '^duckdb run' "$DIR/duckdb-1thread.txt"
    DUCK1_SECS="$(best "$DUCK1_SECS" "$(result "$DIR/duckdb-1thread.txt" best_secs)")"
    ALL_DUCK1+=("$(result "$DIR/duckdb-1thread.txt" best_secs)")

    if [ -n "$BASE" ]; then
        read -r secs CPU <<<"$(time_weir "$BASE")"
        ALL_BASE+=("$secs")
        echo "baseline weir run: $secs s  $(python3 -c "print(f'{$LINE_COUNT / $secs:,.0f}')") lines/s  (cpu $CPU s)"
    fi
    # One thread first: the cores' run is the last, whose results are checked below.
    read -r secs cpu <<<"$(time_weir target/release/weir "$CONFIG_1T")"
    ALL_WEIR1+=("$secs")
    echo "weir run, [engine] threads = 1: $secs s  $(python3 -c "print(f'{$LINE_COUNT / $secs:,.0f}')") lines/s  (cpu $cpu s)"
    read -r secs cpu <<<"$(time_weir target/release/weir)"
    ALL_WEIR+=("$secs")
    echo "weir run: $secs s  $(python3 -c "print(f'{$LINE_COUNT / $secs:,.0f}')") lines/s  (cpu $cpu s)"
    if [ "$(best "$WEIR_SECS" "$secs")" = "$secs" ]; then
        WEIR_SECS="$secs"
        WEIR_CPU="$cpu"
    fi

    start="$EPOCHREALTIME"
    "$SOL" "$LOG" --lateness-secs 10 --day-offset-secs -28800 \
        --minutes "$DIR/sol-minutes.tsv" --days "$DIR/sol-days.tsv" >"$DIR/sol.txt"
    secs="$(python3 -c "print(f'{$EPOCHREALTIME - $start:.4f}')")"
    ALL_SOL+=("$secs")
    echo "weir-sol run: $secs s  $(python3 -c "print(f'{$LINE_COUNT / $secs:,.0f}')") lines/s"
done
grep -h -E 'input done|rule totals' "$DIR/weir-run.log" | sed 's/\x1b\[[0-9;]*m//g' || true

# ---- same results? ---------------------------------------------------------------
say "weir vs duckdb, per minute (last weir run)"
# One HGET pair per DuckDB minute, pipelined through one redis-cli.
awk '{ print "HGET weir:pvuv:pv:60:" $1 " total"; print "HGET weir:pvuv:uv:60:" $1 " total" }' \
    "$DIR/duckdb-minutes.tsv" | "${CLI[@]}" >"$DIR/weir-minutes.raw"
paste - - <"$DIR/weir-minutes.raw" | paste "$DIR/duckdb-minutes.tsv" - >"$DIR/compare.tsv"
WEIR_MINUTES="$("${CLI[@]}" --scan --pattern 'weir:pvuv:pv:60:*' | grep -c -E ':[0-9]+$' || true)"
DUCK_MINUTES="$(wc -l <"$DIR/duckdb-minutes.tsv")"
MISMATCHES="$(awk -F'\t' '$2 != $4 || $3 != $5' "$DIR/compare.tsv" | wc -l)"
printf '%-18s %-12s %8s %8s %8s %8s\n' "minute (UTC)" "start" "duck pv" "weir pv" "duck uv" "weir uv"
{ head -n 3 "$DIR/compare.tsv"; awk 'NR % 5000 == 0' "$DIR/compare.tsv"; tail -n 2 "$DIR/compare.tsv"; } |
    while IFS=$'\t' read -r minute dpv duv wpv wuv; do
        printf '%-18s %-12s %8s %8s %8s %8s\n' "$(date -u -d "@$minute" '+%Y-%m-%d %H:%M')" \
            "$minute" "$dpv" "$wpv" "$duv" "$wuv"
    done
echo "minutes: duckdb $DUCK_MINUTES, weir $WEIR_MINUTES; minutes whose pv or uv differ: $MISMATCHES"
if [ "$MISMATCHES" -gt 0 ]; then
    echo "first differences (minute, duck pv, duck uv, weir pv, weir uv):"
    awk -F'\t' '$2 != $4 || $3 != $5' "$DIR/compare.tsv" | head -n 5
fi

say "weir-sol vs duckdb per minute, weir-sol vs weir per day"
SOL_OK=1
if cmp -s "$DIR/duckdb-minutes.tsv" "$DIR/sol-minutes.tsv"; then
    echo "minutes: weir-sol equals duckdb on all $(wc -l <"$DIR/sol-minutes.tsv") minutes"
else
    SOL_OK=0
    echo "minutes: weir-sol and duckdb differ; first differences (<: duckdb, >: weir-sol):"
    diff "$DIR/duckdb-minutes.tsv" "$DIR/sol-minutes.tsv" | head -n 6 || true
fi
# weir's day values (the cumulative window's last step) from Redis.
awk '{ print "HGET weir:pvuv:pv:86400:" $1 " total"; print "HGET weir:pvuv:uv:86400:" $1 " total" }' \
    "$DIR/sol-days.tsv" | "${CLI[@]}" | paste - - | paste <(cut -f1 "$DIR/sol-days.tsv") - >"$DIR/weir-days.tsv"
WEIR_DAYS="$("${CLI[@]}" --scan --pattern 'weir:pvuv:pv:86400:*' | grep -c -E ':[0-9]+$' || true)"
if cmp -s "$DIR/weir-days.tsv" "$DIR/sol-days.tsv" && [ "$WEIR_DAYS" = "$(wc -l <"$DIR/sol-days.tsv")" ]; then
    echo "days: weir-sol equals weir on all $WEIR_DAYS days (pv, uv)"
else
    SOL_OK=0
    echo "days: weir has $WEIR_DAYS, weir-sol $(wc -l <"$DIR/sol-days.tsv"); first differences (<: weir, >: weir-sol):"
    diff "$DIR/weir-days.tsv" "$DIR/sol-days.tsv" | head -n 6 || true
fi

# ---- summary ---------------------------------------------------------------------
say "summary ($LINE_COUNT lines, $RUNS rounds: medians, best in brackets)"
mkdir -p "$DIR/all"
# The rounds' times, one system a line, for scripts/bench_table.py (--all).
{
    echo "lines $LINE_COUNT"
    echo "duckdb_threads $DUCK_THREADS"
    echo "duckdb ${ALL_DUCK[*]}"
    echo "duckdb1 ${ALL_DUCK1[*]}"
    echo "weir ${ALL_WEIR[*]}"
    echo "weir1 ${ALL_WEIR1[*]}"
    echo "cores $(nproc)"
    echo "sol ${ALL_SOL[*]}"
    echo "load ${ALL_LOAD[*]}"
} >"$DIR/all/e2e.txt"
python3 - "$LINE_COUNT" "$DUCK_THREADS" "$WEIR_CPU" "${ALL_DUCK[*]}" "${ALL_DUCK1[*]}" "${ALL_WEIR[*]}" "${ALL_SOL[*]}" "${ALL_WEIR1[*]}" "${ALL_BASE[*]:-}" <<'EOF'
import statistics
import sys
lines = int(sys.argv[1])
threads, weir_cpu = float(sys.argv[2]), float(sys.argv[3])
runs = [[float(x) for x in arg.split()] for arg in sys.argv[4:10]]
duck, duck1, weir, sol, weir1, base = runs
med = statistics.median
rows = [
    (f"duckdb, {threads:.0f} threads (baseline)", duck),
    ("duckdb, 1 thread", duck1),
    ("weir run (pvuv wasm + Redis)", weir),
    ("weir-sol (speed of light, 1 thread)", sol),
    ("weir run, [engine] threads = 1", weir1),
]
if base:
    rows.append(("weir run, BENCH_WEIR_BASELINE build", base))
print(f"| {'system':<36} | {'median s':>8} | {'best s':>7} | {'lines/s (median)':>16} | {'vs duckdb':>9} | {'vs duckdb 1t':>12} | {'of sol':>7} |")
print(f"|{'-' * 38}|{'-' * 10}|{'-' * 9}|{'-' * 18}|{'-' * 11}|{'-' * 14}|{'-' * 9}|")
for name, secs in rows:
    m = med(secs)
    print(f"| {name:<36} | {m:>8.3f} | {min(secs):>7.3f} | {lines / m:>16,.0f} | {med(duck) / m:>8.2f}x | {med(duck1) / m:>11.2f}x | {med(sol) / m:>6.2f}x |")
if base:
    ratios = [b / w for b, w in zip(base, weir)]
    print(f"this build vs the baseline build, per round (baseline s / this s): {', '.join(f'{r:.3f}' for r in ratios)}; median {med(ratios):.3f}x")
print(f"scaling, [engine] threads = the cores over threads = 1 (median s / median s): {med(weir1) / med(weir):.2f}x")
print(f"weir cpu time (user + sys) in its best run: {weir_cpu:.2f} s for {min(weir):.2f} s of wall time")
print("'of sol': the speed-of-light line's median time over this system's (1.00x: as fast as weir-sol)")
EOF
if [ "$MISMATCHES" -gt 0 ] || [ "$WEIR_MINUTES" != "$DUCK_MINUTES" ]; then
    echo "bench: weir and duckdb disagree (see $DIR/compare.tsv)" >&2
    exit 1
fi
echo "weir and duckdb agree on pv and uv for all $DUCK_MINUTES minutes"
if [ "$SOL_OK" != 1 ]; then
    echo "bench: weir-sol disagrees with duckdb or weir (see $DIR/sol-minutes.tsv, $DIR/sol-days.tsv, $DIR/weir-days.tsv)" >&2
    exit 1
fi
echo "weir-sol agrees with duckdb on every minute and with weir on every day"

# ---- --all: every other comparison, then one table ---------------------------------
if [ "$ALL" = 1 ]; then
    . scripts/lib/bench-all.sh
    all_memory
    stop_redis
    all_pvuv
    all_reload
    all_kafka
    say "all comparisons (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
    python3 scripts/bench_table.py "$DIR/all"
fi
