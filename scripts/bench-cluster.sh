#!/usr/bin/env bash
# Redis Cluster benchmark: the same `weir run` (a file of generated access
# lines, pvuv + ip-count rules, checkpoints every BENCH_CHECKPOINT_MS) on one
# Redis and on a 3-master Redis Cluster, in turns, in one script run.
#   scripts/bench-cluster.sh
# Environment: BENCH_LINES (default 500000), BENCH_IPS (client IP pool of
# the generator, default 200000), BENCH_RUNS (rounds, default 2; each
# round runs both targets once), BENCH_CHECKPOINT_MS (default 250),
# BENCH_DIR (default <repo>/target/bench-cluster).
#
# Starts a private redis-server and three cluster masters (redis-server
# --cluster-enabled yes, joined with redis-cli --cluster create), each on
# free loopback ports, and stops them on exit. Before each run every server
# is emptied (FLUSHALL) and its statistics reset. Per run it reports: wall
# time and lines/s (process start to exit: the file run ends by itself),
# checkpoints and their duration (weir's `checkpoint written ... took=`
# debug lines), Redis CPU (INFO cpu, summed over the servers), commands
# Redis processed, and what is left in Redis: keys, memory over an empty
# server, and output groups (fields of the output hashes), from which the
# sizing note in BENCHMARKS.md is computed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
LINES="${BENCH_LINES:-500000}"
IPS="${BENCH_IPS:-200000}"
RUNS="${BENCH_RUNS:-2}"
CHECKPOINT_MS="${BENCH_CHECKPOINT_MS:-250}"
DIR="${BENCH_DIR:-$ROOT/target/bench-cluster}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
. scripts/lib/local-services.sh
say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "cpus: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "repository: $(git describe --always --dirty 2>/dev/null || echo '?')"

say "building weir and the pvuv + ip-count components"
cargo build --release -p weir
WEIR="${CARGO_TARGET_DIR:-$ROOT/target}/release/weir"
scripts/build-plugins.sh "$DIR/plugins" >/dev/null
find "$DIR/plugins" -name '*.wasm' ! -name pvuv.wasm ! -name ip_count.wasm -delete

say "input: $LINES generated access lines, $IPS client IPs"
python3 tests/tools/gen_access.py --seed 7 --lines "$LINES" --ips "$IPS" \
    --out "$DIR/access.log"
echo "$(wc -c <"$DIR/access.log") bytes"

PIDS=()
cleanup() {
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis() { # start_redis PORT DIR ARGS...: starts redis-server, waits for PING
    local port="$1" dir="$2"
    shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" "$@" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench-cluster: redis-server on $port did not start" >&2
    exit 1
}

say "one redis"
SINGLE="$(free_port)"
start_redis "$SINGLE" "$DIR/single"
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$SINGLE"

say "redis cluster: 3 masters"
CLUSTER=()
for i in 0 1 2; do
    port="$(free_port)"
    bus="$(free_port)"
    rm -rf "$DIR/node$i"
    start_redis "$port" "$DIR/node$i" --cluster-enabled yes --cluster-port "$bus" \
        --cluster-config-file nodes.conf
    CLUSTER+=("$port")
done
redis-cli --cluster create "127.0.0.1:${CLUSTER[0]}" "127.0.0.1:${CLUSTER[1]}" \
    "127.0.0.1:${CLUSTER[2]}" --cluster-replicas 0 --cluster-yes >"$DIR/cluster-create.log"
for _ in $(seq 1 100); do
    ok=0
    for port in "${CLUSTER[@]}"; do
        redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" = 3 ] && break
    sleep 0.2
done
echo "masters on ${CLUSTER[*]}"

# Sums an INFO field over the given ports.
info_sum() { # info_sum FIELD PORT...
    local field="$1"
    shift
    for port in "$@"; do redis-cli -p "$port" info all; done |
        tr -d '\r' | awk -F: -v f="$field" '$1 == f { s += $2 } END { printf "%.2f", s }'
}

run_one() { # run_one single|cluster ROUND
    local mode="$1" round="$2" ports redis_toml
    if [ "$mode" = single ]; then
        ports=("$SINGLE")
        redis_toml="url = \"redis://127.0.0.1:$SINGLE/0\""
    else
        ports=("${CLUSTER[@]}")
        redis_toml="cluster = true
url = \"redis://127.0.0.1:${CLUSTER[0]},redis://127.0.0.1:${CLUSTER[1]}\""
    fi
    for port in "${ports[@]}"; do
        redis-cli -p "$port" flushall >/dev/null
        redis-cli -p "$port" config resetstat >/dev/null
    done
    local empty_mem cpu_before
    empty_mem="$(info_sum used_memory "${ports[@]}")"
    cpu_before="$(python3 -c "print($(info_sum used_cpu_sys "${ports[@]}") + $(info_sum used_cpu_user "${ports[@]}"))")"
    cat >"$DIR/weir-$mode.toml" <<EOF
# Written by scripts/bench-cluster.sh.
[source]
kind = "file"
path = "$DIR/access.log"
[plugins]
dir = "$DIR/plugins"
[redis]
$redis_toml
[windows]
allowed_lateness_secs = 10
[checkpoint]
interval_ms = $CHECKPOINT_MS
namespace = "bench-$mode-$round"
EOF
    local log="$DIR/weir-$mode-$round.log" start secs
    start="$EPOCHREALTIME"
    RUST_LOG="info,weir::pipeline=debug" "$WEIR" run --config "$DIR/weir-$mode.toml" 2>"$log"
    secs="$(python3 -c "print(f'{$EPOCHREALTIME - $start:.3f}')")"
    local cpu cmds keys mem groups
    cpu="$(python3 -c "print(f'{$(info_sum used_cpu_sys "${ports[@]}") + $(info_sum used_cpu_user "${ports[@]}") - $cpu_before:.2f}')")"
    cmds="$(info_sum total_commands_processed "${ports[@]}")"
    mem="$(python3 -c "print(int($(info_sum used_memory "${ports[@]}") - $empty_mem))")"
    keys=0
    groups=0
    for port in "${ports[@]}"; do
        keys=$((keys + $(redis-cli -p "$port" dbsize)))
        # One redis-cli reading HLEN commands from stdin (key names hold no spaces).
        groups=$((groups + $(redis-cli -p "$port" --scan --pattern 'weir:*:*:*:*' |
            grep -v -e ':windows$' -e '^weir:ckpt:' | sed 's/^/HLEN /' |
            redis-cli -p "$port" | awk '{ s += $1 } END { print s + 0 }')))
    done
    python3 - "$mode" "$round" "$LINES" "$secs" "$cpu" "$cmds" "$keys" "$mem" "$groups" "$log" <<'PY'
import re, sys
mode, rnd, lines, secs, cpu, cmds, keys, mem, groups, log = sys.argv[1:]
lines, secs, cpu, cmds = int(lines), float(secs), float(cpu), float(cmds)
def ms(text):
    m = re.match(r"([0-9.]+)(ns|µs|us|ms|s)$", text)
    v, u = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[u]
text = open(log, encoding="utf-8", errors="replace").read()
took = [ms(m.group(1)) for m in re.finditer(r"checkpoint written.*?took=(\S+)", text)]
fields = sum(int(n) for n in re.findall(r"output_fields: (\d+)", text))
took.sort()
mean = sum(took) / len(took) if took else 0.0
p50 = took[len(took) // 2] if took else 0.0
print(f"{mode:8} round {rnd}: {secs:7.2f} s  {lines / secs:9,.0f} lines/s  "
      f"checkpoints {len(took)} (mean {mean:.1f} ms, median {p50:.1f} ms, max {max(took or [0]):.1f} ms)  "
      f"redis cpu {cpu:.2f} s  commands {cmds:,.0f}  keys {int(keys):,}  "
      f"memory {int(mem) / 1e6:.1f} MB  output groups {int(groups):,}  output field writes {fields:,}")
PY
}

say "runs ($RUNS rounds, one run per target each; checkpoints every $CHECKPOINT_MS ms)"
for round in $(seq 1 "$RUNS"); do
    run_one single "$round"
    run_one cluster "$round"
done
