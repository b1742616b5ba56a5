#!/usr/bin/env bash
# What scraping /metrics costs a running pipeline (issue 11: "scraped every
# second costs under 1% of throughput").
#   scripts/bench-metrics.sh
# Environment: BENCH_RUNS (rounds, default 5), BENCH_LINES (default 2000000),
# BENCH_DIR (default <repo>/target/bench), BENCH_SCRAPES (default 1000).
#
# Two measurements, on pvuv + ip-count over the same file and a private
# redis-server (started on a free loopback port, stopped on exit):
#  1. end to end, interleaved rounds: `weir run` with the HTTP server off
#     (`--http-listen ""`), then with it on and a scraper GETting /metrics
#     every second for the whole run; the wall time of each, and the ratio
#     per round (1.00 = no cost).
#  2. the cost of one scrape, which does not depend on the machine's load:
#     BENCH_SCRAPES scrapes of a `weir serve` over the finished run's Redis,
#     the CPU time weir and redis-server spent on them (from /proc and INFO),
#     per scrape, and that as a share of one core for a scrape every second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
RUNS="${BENCH_RUNS:-5}"
LINES="${BENCH_LINES:-2000000}"
SCRAPES="${BENCH_SCRAPES:-1000}"
DIR="${BENCH_DIR:-$ROOT/target/bench}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [ "$LINES" = 2000000 ]; then LOG="$DIR/access-2m.log"; else LOG="$DIR/access-$LINES.log"; fi
say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "cpus: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -s "$LOG" ]; then
    echo "generating $LINES lines"
    python3 tests/tools/gen_access.py --lines "$LINES" --seed 7 --malformed-frac 0.001 \
        --invalid-utf8-frac 0 --out "$LOG.tmp"
    mv "$LOG.tmp" "$LOG"
fi
echo "input: $LOG ($(wc -l <"$LOG") lines)"

cargo build --release -p weir
PLUGINS="$DIR/plugins-metrics"
scripts/build-plugins.sh "$PLUGINS" >/dev/null
find "$PLUGINS" -name '*.wasm' ! -name pvuv.wasm ! -name ip_count.wasm -delete

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
mkdir -p "$DIR/redis-metrics"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR/redis-metrics" --logfile "$DIR/redis-metrics/redis.log" &
REDIS_PID=$!
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null || true
    kill "$REDIS_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
CLI=(redis-cli -h 127.0.0.1 -p "$PORT")
for _ in $(seq 1 100); do "${CLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done

CONFIG="$DIR/weir-metrics.toml"
cat >"$CONFIG" <<EOF
# Written by scripts/bench-metrics.sh.
[source]
kind = "file"
path = "$LOG"
[plugins]
dir = "$PLUGINS"
[redis]
url = "redis://127.0.0.1:$PORT/0"
[checkpoint]
namespace = "bench-metrics"
EOF

# run_weir LISTEN: one run from an empty Redis; prints its wall seconds.
run_weir() {
    "${CLI[@]}" FLUSHALL >/dev/null
    local start end
    start="$EPOCHREALTIME"
    target/release/weir run --config "$CONFIG" --http-listen "$1" 2>"$DIR/weir-metrics-run.log"
    end="$EPOCHREALTIME"
    python3 -c "print(f'{$end - $start:.3f}')"
}

say "1. end to end: server off vs on + a scrape every second; $RUNS rounds"
OFF=()
ON=()
for run in $(seq 1 "$RUNS"); do
    off="$(run_weir "")"
    HTTP="$(free_port)"
    python3 - "$HTTP" >"$DIR/scraper.txt" <<'EOF' &
import sys, time, urllib.request
port = sys.argv[1]
ok = 0
while True:
    time.sleep(1)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        if b"weir_records_in_total" in body:
            ok += 1
            print(ok, flush=True)
    except OSError:
        pass
EOF
    SCRAPER=$!
    on="$(run_weir "127.0.0.1:$HTTP")"
    kill "$SCRAPER" 2>/dev/null || true
    wait "$SCRAPER" 2>/dev/null || true
    scrapes="$(tail -n1 "$DIR/scraper.txt" 2>/dev/null || echo 0)"
    OFF+=("$off")
    ON+=("$on")
    echo "round $run: off $off s, on $on s ($scrapes scrapes answered), on/off $(python3 -c "print(f'{$on / $off:.3f}')")"
done
python3 - "${OFF[*]}" "${ON[*]}" <<'EOF'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
ratios = sorted(b / a for a, b in zip(off, on))
print(f"median wall: off {statistics.median(off):.3f} s, on {statistics.median(on):.3f} s; "
      f"per-round on/off ratios {', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})")
EOF

say "2. the cost of one scrape ($SCRAPES scrapes of weir serve over the finished run)"
HTTP="$(free_port)"
target/release/weir serve --config "$CONFIG" --http-listen "127.0.0.1:$HTTP" >/dev/null 2>"$DIR/weir-serve.log" &
SERVE_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/metrics" >/dev/null && break; sleep 0.1; done
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
redis_cpu() { "${CLI[@]}" INFO cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'; }
TICKS="$(getconf CLK_TCK)"
keys="$("${CLI[@]}" DBSIZE)"
w0="$(cpu_ticks "$SERVE_PID")"; r0="$(redis_cpu)"; t0="$EPOCHREALTIME"
python3 - "$HTTP" "$SCRAPES" <<'EOF'
import sys, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
EOF
t1="$EPOCHREALTIME"; w1="$(cpu_ticks "$SERVE_PID")"; r1="$(redis_cpu)"
python3 - "$SCRAPES" "$TICKS" "$w0" "$w1" "$r0" "$r1" "$t0" "$t1" "$keys" <<'EOF'
import sys
n, ticks = int(sys.argv[1]), int(sys.argv[2])
w0, w1, r0, r1, t0, t1 = map(float, sys.argv[3:9])
weir_ms = (w1 - w0) / ticks / n * 1000
redis_ms = (r1 - r0) / n * 1000
print(f"Redis keys: {sys.argv[9]}; {n} scrapes in {t1 - t0:.2f} s ({(t1 - t0) / n * 1000:.2f} ms each, wall)")
print(f"CPU per scrape: weir {weir_ms:.3f} ms, redis-server {redis_ms:.3f} ms")
print(f"a scrape every second: {(weir_ms + redis_ms) / 10:.3f}% of one core")
EOF
