#!/usr/bin/env bash
# Kafka benchmark: `weir run` (pvuv + ip-count rules, windows, checkpoints into
# Redis) against a bare rdkafka consumer that only counts the messages
# (host/examples/kafka_count.rs), on the same topic of the same broker, in
# one script run.
#   scripts/bench-kafka.sh
# Environment: BENCH_LINES (generated access lines, default 1000000),
# BENCH_RUNS (rounds; each consumer runs once per round, in turn, and its best
# run is kept; default 3), BENCH_CHECKPOINT_MS (weir's checkpoint interval,
# default 1000), BENCH_LIBRDKAFKA (librdkafka properties for both consumers,
# space-separated KEY=VALUE, default none: e.g. "fetch.wait.max.ms=10"),
# BENCH_REDIS_ARGS (extra redis-server arguments, default none: e.g.
# "--hash-max-listpack-entries 128", see README "Redis tuning"),
# BENCH_TIMEOUT_SECS (longest wait for one weir run, default 300),
# BENCH_INSTANCES (weir processes in the consumer group, default 1: they
# share the partitions, and their CPU is added up, their peak RSS the
# largest),
# BENCH_WEIR (a weir binary to measure instead of building
# target/release/weir, e.g. a copy built at another commit),
# BENCH_DIR (default <repo>/target/bench-kafka).
#
# Starts a private tansu broker (tansu 0.6.0, in-memory storage; installed by
# scripts/install-tansu.sh if missing) and a private redis-server, each on a
# free loopback port, and stops both on exit. Creates a topic of
# BENCH_PARTITIONS partitions (default 3) and
# fills it once with `weir produce --generate access --lines N`. Every run
# reads the whole topic from its beginning in a new consumer group; weir
# also gets an empty Redis (FLUSHALL) and its own checkpoint namespace.
#
# Timing: both consumers are timed by this script from starting the process
# until all N messages are counted. kafka_count exits by itself at N. weir
# runs without `stop_at_end` (its 2 s end-of-partition check would be timed
# too): the script polls `weir status --json` every 100 ms until every rule's
# `records_in` is N, then stops it with SIGTERM. weir's time thus includes compiling the rules and up to one
# checkpoint interval before its counters reach Redis. The "after start-up"
# columns start at the first message (kafka_count) and at the partition
# assignment (weir, from its log). At the end the script checks that the
# per-minute pv in Redis add up to N (nothing lost, nothing counted twice).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

LINES="${BENCH_LINES:-1000000}"
PARTITIONS="${BENCH_PARTITIONS:-3}"
RUNS="${BENCH_RUNS:-3}"
INSTANCES="${BENCH_INSTANCES:-1}"
CHECKPOINT_MS="${BENCH_CHECKPOINT_MS:-1000}"
TIMEOUT_SECS="${BENCH_TIMEOUT_SECS:-300}"
read -r -a PROPERTIES <<<"${BENCH_LIBRDKAFKA:-}"
read -r -a REDIS_ARGS <<<"${BENCH_REDIS_ARGS:-}"
COUNT_SET=()
LIBRDKAFKA_TOML=""
for property in ${PROPERTIES[@]+"${PROPERTIES[@]}"}; do
    case "$property" in
        *=*) ;;
        *) echo "bench-kafka: BENCH_LIBRDKAFKA: $property is not KEY=VALUE" >&2; exit 2 ;;
    esac
    COUNT_SET+=(--set "$property")
    LIBRDKAFKA_TOML+="\"${property%%=*}\" = \"${property#*=}\""$'\n'
done
DIR="${BENCH_DIR:-$ROOT/target/bench-kafka}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

say() { printf '\n== %s\n' "$*"; }
. scripts/lib/local-services.sh
# CPU seconds (user + system) a live process has used so far.
cpu_secs() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
fmt_rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }

say "machine"
echo "cpus: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "repository: $(git describe --always --dirty 2>/dev/null || echo '?')"
echo "librdkafka properties of both consumers: ${BENCH_LIBRDKAFKA:-(defaults)}"
echo "redis-server arguments: ${BENCH_REDIS_ARGS:-(defaults)}"

# ---- builds ------------------------------------------------------------------------
say "building weir, kafka_count and the pvuv + ip-count components"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${BENCH_WEIR:-}" ]; then
    WEIR="$(cd "$(dirname "$BENCH_WEIR")" && pwd)/$(basename "$BENCH_WEIR")"
    echo "measuring $WEIR (BENCH_WEIR)"
else
    cargo build --release -p weir
    WEIR="$TARGET_DIR/release/weir"
fi
cargo build --release -p weir --example kafka_count
COUNT="$TARGET_DIR/release/examples/kafka_count"
scripts/build-plugins.sh "$DIR/plugins" >/dev/null
find "$DIR/plugins" -name '*.wasm' ! -name pvuv.wasm ! -name ip_count.wasm -delete
ls -l "$DIR/plugins"
TANSU="$(scripts/install-tansu.sh | tail -n1)"

# ---- broker and redis ----------------------------------------------------------------
TANSU_PID=""
REDIS_PID=""
WEIR_PIDS=()
cleanup() {
    for pid in ${WEIR_PIDS[@]+"${WEIR_PIDS[@]}"} "$TANSU_PID" "$REDIS_PID"; do
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "broker"
KPORT="$(free_port)"
BROKER="127.0.0.1:$KPORT"
start_tansu "$TANSU" "$KPORT" "$DIR/tansu.log" ||
    { echo "bench-kafka: tansu did not start; see $DIR/tansu.log" >&2; exit 1; }
echo "$("$TANSU" --version) on $BROKER (pid $TANSU_PID, storage memory://tansu/)"

say "redis"
RPORT="$(free_port)"
mkdir -p "$DIR/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR/redis" --logfile "$DIR/redis/redis.log" ${REDIS_ARGS[@]+"${REDIS_ARGS[@]}"} &
REDIS_PID=$!
CLI=(redis-cli -h 127.0.0.1 -p "$RPORT")
for _ in $(seq 1 100); do
    "${CLI[@]}" ping >/dev/null 2>&1 && break
    sleep 0.1
done
"${CLI[@]}" ping >/dev/null
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$RPORT (pid $REDIS_PID)"
echo "hash-max-listpack-entries: $("${CLI[@]}" config get hash-max-listpack-entries | tail -n1)"

# ---- input ---------------------------------------------------------------------------
TOPIC=access
say "topic $TOPIC ($PARTITIONS partitions): $LINES generated access lines"
"$TANSU" topic create "$TOPIC" --partitions "$PARTITIONS" --broker "tcp://$BROKER" >/dev/null
start="$EPOCHREALTIME"
"$WEIR" produce --brokers "$BROKER" --topic "$TOPIC" --generate access --lines "$LINES" \
    2>"$DIR/produce.log"
secs="$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")"
echo "produced in $secs s ($(fmt_rate "$LINES" "$secs") lines/s); broker rss $(($(awk '/VmRSS/ { print $2 }' "/proc/$TANSU_PID/status") / 1024)) MB"

# ---- runs ----------------------------------------------------------------------------
# Generated lines are in event-time order within each partition, but the
# consumer reads the partitions in turns, so event time jumps across
# the whole topic (N/10 seconds of it). With one watermark per rule, the
# lateness must cover that or lines are dropped as late; 10 days covers up to
# 8.6M lines. Nothing ever closes, so every window stays in memory.
write_config() { # write_config ROUND
    cat >"$DIR/weir-kafka-bench.toml" <<EOF
# Written by scripts/bench-kafka.sh.
[source]
kind = "kafka"
brokers = "$BROKER"
topics = ["$TOPIC"]
group = "weir-bench-$1-$$"
[plugins]
dir = "$DIR/plugins"
[redis]
url = "redis://127.0.0.1:$RPORT/0"
[windows]
allowed_lateness_secs = 864000
[checkpoint]
interval_ms = $CHECKPOINT_MS
namespace = "bench-$1"
[source.librdkafka]
$LIBRDKAFKA_TOML
EOF
}

# Epoch seconds of the first log line of weir matching PATTERN.
log_time() {
    local stamp
    stamp="$(sed 's/\x1b\[[0-9;]*m//g' "$DIR/weir-run.log" | grep -m1 -E "$1" | cut -d' ' -f1)"
    [ -n "$stamp" ] && date -d "$stamp" '+%s.%N'
}

best_of() { # best_of CURRENT NEW: the smaller
    if [ -z "$1" ] || python3 -c "import sys; sys.exit(not $2 < $1)"; then echo "$2"; else echo "$1"; fi
}

COUNT_SECS=""
COUNT_STEADY=""
WEIR_SECS=""
WEIR_STEADY=""
ROWS=()
say "timed runs: kafka_count, weir run (pvuv + ip-count); $RUNS rounds"
for round in $(seq 1 "$RUNS"); do
    echo "-- round $round (load average $(cut -d' ' -f1 /proc/loadavg))"

    tansu_cpu="$(cpu_secs "$TANSU_PID")"
    TIMEFORMAT='%U %S'
    start="$EPOCHREALTIME"
    { time "$COUNT" --brokers "$BROKER" --topic "$TOPIC" --expect "$LINES" \
        ${COUNT_SET[@]+"${COUNT_SET[@]}"} >"$DIR/count.txt"; } 2>"$DIR/count-time.txt"
    end="$EPOCHREALTIME"
    count_cpu="$(tail -n1 "$DIR/count-time.txt" | awk '{ printf "%.2f", $1 + $2 }')"
    tansu_used="$(python3 -c "print(f'{$(cpu_secs "$TANSU_PID") - $tansu_cpu:.2f}')")"
    secs="$(python3 -c "print(f'{$end - $start:.3f}')")"
    first="$(sed -n 's/^RESULT .*first_secs=\([0-9.]*\).*/\1/p' "$DIR/count.txt")"
    steady="$(python3 -c "print(f'{$secs - $first:.3f}')")"
    grep -v '^RESULT' "$DIR/count.txt"
    echo "kafka_count: $secs s, $(fmt_rate "$LINES" "$secs") lines/s; after the first message $steady s, $(fmt_rate "$LINES" "$steady") lines/s (cpu $count_cpu s; tansu cpu $tansu_used s)"
    COUNT_SECS="$(best_of "$COUNT_SECS" "$secs")"
    COUNT_STEADY="$(best_of "$COUNT_STEADY" "$steady")"
    count_secs="$secs"

    "${CLI[@]}" FLUSHALL >/dev/null
    write_config "$round"
    tansu_cpu="$(cpu_secs "$TANSU_PID")"
    redis_cpu="$(cpu_secs "$REDIS_PID")"
    rm -f "$DIR"/weir-run-*.log "$DIR"/weir-kafka-bench-*.toml
    start="$EPOCHREALTIME"
    WEIR_PIDS=()
    for instance in $(seq 1 "$INSTANCES"); do
        log="$DIR/weir-run.log"
        config="$DIR/weir-kafka-bench.toml"
        if [ "$instance" != 1 ]; then
            # The first instance serves the dashboard; the others none.
            log="$DIR/weir-run-$instance.log"
            config="$DIR/weir-kafka-bench-$instance.toml"
            { cat "$DIR/weir-kafka-bench.toml"; printf '[http]\nlisten = ""\n'; } >"$config"
        fi
        RUST_LOG="${RUST_LOG:-info,weir::pipeline=debug}" \
            "$WEIR" run --config "$config" 2>"$log" &
        WEIR_PIDS+=($!)
    done
    done_records=0
    while [ "$done_records" -lt "$LINES" ]; do
        for pid in "${WEIR_PIDS[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "bench-kafka: weir run exited early; see $DIR/weir-run*.log" >&2
                tail -n 20 "$DIR/weir-run.log" >&2
                exit 1
            fi
        done
        if [ "${EPOCHREALTIME%.*}" -gt "$((${start%.*} + TIMEOUT_SECS))" ]; then
            echo "bench-kafka: weir processed $done_records of $LINES lines in $TIMEOUT_SECS s; last lines of $DIR/weir-run.log:" >&2
            tail -n 10 "$DIR/weir-run.log" >&2
            exit 1
        fi
        sleep 0.1
        done_records="$(records_done "$DIR/weir-kafka-bench.toml")"
    done
    end="$EPOCHREALTIME"
    weir_cpu=0
    weir_rss=0
    for pid in "${WEIR_PIDS[@]}"; do
        weir_cpu="$(python3 -c "print(f'{$weir_cpu + $(cpu_secs "$pid"):.2f}')")"
        rss="$(($(awk '/VmHWM/ { print $2 }' "/proc/$pid/status") / 1024))"
        [ "$rss" -le "$weir_rss" ] || weir_rss="$rss"
    done
    tansu_used="$(python3 -c "print(f'{$(cpu_secs "$TANSU_PID") - $tansu_cpu:.2f}')")"
    redis_used="$(python3 -c "print(f'{$(cpu_secs "$REDIS_PID") - $redis_cpu:.2f}')")"
    for pid in "${WEIR_PIDS[@]}"; do
        kill -TERM "$pid"
        wait "$pid"
    done
    WEIR_PIDS=()
    secs="$(python3 -c "print(f'{$end - $start:.3f}')")"
    assigned="$(log_time 'partition assigned' || true)"
    [ -n "$assigned" ] || assigned="$start"
    steady="$(python3 -c "print(f'{$end - $assigned:.3f}')")"
    echo "weir run: $secs s, $(fmt_rate "$LINES" "$secs") lines/s; after the partition assignment $steady s, $(fmt_rate "$LINES" "$steady") lines/s (weir cpu $weir_cpu s, peak rss $weir_rss MB, $INSTANCES instance(s); redis cpu $redis_used s; tansu cpu $tansu_used s)"
    checkpoints="$(cat "$DIR"/weir-run*.log | grep -c 'checkpoint written' || true)"
    retried="$(cat "$DIR"/weir-run*.log | grep -c 'checkpoint failed' || true)"
    echo "weir checkpoints (incl. the one on stop): $checkpoints written, $retried failed attempts retried"
    WEIR_SECS="$(best_of "$WEIR_SECS" "$secs")"
    WEIR_STEADY="$(best_of "$WEIR_STEADY" "$steady")"
    ROWS+=("$round $count_secs $secs")
done
grep -h -E 'input done|rule totals' "$DIR/weir-run.log" | sed 's/\x1b\[[0-9;]*m//g' || true

# ---- where Redis spent its CPU -------------------------------------------------------------
say "Redis command statistics (every weir run of this script; top 8 by time)"
"${CLI[@]}" INFO commandstats | tr -d '\r' | python3 -c '
import sys
rows = []
for line in sys.stdin:
    if not line.startswith("cmdstat_"):
        continue
    name, fields = line[8:].strip().split(":", 1)
    stats = dict(kv.split("=") for kv in fields.split(","))
    rows.append((int(stats["usec"]), name, int(stats["calls"]), float(stats["usec_per_call"])))
for usec, name, calls, per in sorted(rows, reverse=True)[:8]:
    print(f"{name:<14} {calls:>10,} calls {usec / 1e6:>8.2f} s {per:>10.1f} us/call")
' | tee "$DIR/commandstats.txt"

# ---- exactness of the last weir run ---------------------------------------------------
say "weir's per-minute pv in Redis (last run)"
PV_SUM="$("${CLI[@]}" --scan --pattern 'weir:pvuv:pv:60:*' | grep -E ':[0-9]+$' |
    awk '{ print "HGET " $0 " total" }' | "${CLI[@]}" | awk '{ n += $1 } END { print n + 0 }')"
MINUTES="$("${CLI[@]}" --scan --pattern 'weir:pvuv:pv:60:*' | grep -c -E ':[0-9]+$' || true)"
echo "$MINUTES minutes, pv added up: $PV_SUM (lines produced: $LINES)"

# ---- summary ---------------------------------------------------------------------------
say "summary ($LINES lines, $PARTITIONS partitions, $INSTANCES weir instance(s), $("$TANSU" --version) memory storage, librdkafka ${BENCH_LIBRDKAFKA:-defaults}, best of $RUNS)"
python3 - "$LINES" "$COUNT_SECS" "$COUNT_STEADY" "$WEIR_SECS" "$WEIR_STEADY" "${ROWS[@]}" <<'EOF'
import sys
lines = int(sys.argv[1])
count, count_steady, weir, weir_steady = (float(x) for x in sys.argv[2:6])
print(f"| {'consumer':<38} | {'best s':>7} | {'lines/s':>11} | {'after start-up':>14} | {'lines/s':>11} |")
print(f"|{'-' * 40}|{'-' * 9}|{'-' * 13}|{'-' * 16}|{'-' * 13}|")
for name, secs, steady in [
    ("kafka_count (bare rdkafka, baseline)", count, count_steady),
    ("weir run (pvuv + ip-count → Redis)", weir, weir_steady),
]:
    print(f"| {name:<38} | {secs:>7.3f} | {lines / secs:>11,.0f} | {steady:>13.3f}s | {lines / steady:>11,.0f} |")
print(f"weir / kafka_count: {count / weir:.2f}x end to end, {count_steady / weir_steady:.2f}x after start-up")
rounds = [row.split() for row in sys.argv[6:]]
print("per round (end to end): " + ", ".join(f"{float(c) / float(w):.2f}x" for _, c, w in rounds))
EOF
if [ "$PV_SUM" != "$LINES" ]; then
    echo "bench-kafka: the per-minute pv add up to $PV_SUM, not $LINES" >&2
    exit 1
fi
