#!/usr/bin/env bash
# The quick-start demo: builds weir and the example rules, runs an example
# pipeline into the local Redis (db 0) and prints what it wrote.
#   scripts/run-example.sh          Kafka → weir → Redis (examples/weir-kafka.toml)
#   scripts/run-example.sh --file   the access log file → weir → Redis (examples/weir.toml)
#
# Kafka mode installs the Kafka-compatible broker tansu if it is missing
# (scripts/install-tansu.sh: built once, about 10 minutes, cached in
# ~/.cache/weir), starts a private broker (in-memory storage) on
# 127.0.0.1:19092 (or a free port if that one is taken), creates the topic
# `access` with 3 partitions, sends examples/data/access.log to it with
# `weir produce`, runs `weir run`, which reads every partition to its end
# (`stop_at_end` in examples/weir-kafka.toml), closes every window and exits,
# checks that `weir status` counts every line, and stops the broker.
# WEIR_EXAMPLE_TIMEOUT_SECS (default 120) bounds the wait. The per-minute
# values are the file mode's plus the 20 lines its 10 s lateness drops (the
# Kafka example allows an hour: the partitions arrive interleaved).
#
# At the end it prints the dashboard's URL and, on a terminal, serves it
# (`weir serve`, http://127.0.0.1:9464/) until Ctrl-C; with --no-wait, or
# without a terminal, it ends there.
#
# Needs a Redis on 127.0.0.1:6379; starts one (no persistence) if none answers
# and leaves it running. Deletes every `weir:*` key in db 0 first so each run
# starts from scratch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE="kafka"
WAIT=1
for arg in "$@"; do
    case "$arg" in
        --kafka) ;;
        --file) MODE="file" ;;
        --no-wait) WAIT=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run-example: unknown argument $arg (use --file for the file pipeline, --no-wait, or nothing)" >&2
            exit 2
            ;;
    esac
done

scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

echo "== building weir and the example rules"
cargo build --release -p weir
scripts/build-plugins.sh plugins-dir
WEIR="$ROOT/target/release/weir"

if [ "$MODE" = kafka ]; then
    echo "== tansu (Kafka-compatible broker)"
    TANSU="$(scripts/install-tansu.sh | tail -n1)"
fi

CLI=(redis-cli -h 127.0.0.1 -p 6379 -n 0)

echo "== redis on 127.0.0.1:6379"
if "${CLI[@]}" ping >/dev/null 2>&1; then
    echo "redis is already running"
else
    dir="$ROOT/target/redis-example"
    mkdir -p "$dir"
    redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save '' \
        --appendonly no --dir "$dir" --logfile "$dir/redis.log"
    for _ in $(seq 1 50); do
        "${CLI[@]}" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! "${CLI[@]}" ping >/dev/null 2>&1; then
        echo "run-example: redis-server did not start; see $dir/redis.log" >&2
        exit 1
    fi
    echo "started redis-server (data dir $dir; stop it with: redis-cli -p 6379 shutdown nosave)"
fi

old="$("${CLI[@]}" --scan --pattern 'weir:*' | wc -l)"
if [ "$old" -gt 0 ]; then
    "${CLI[@]}" --scan --pattern 'weir:*' | xargs -r -n 500 "${CLI[@]}" UNLINK >/dev/null
fi
echo "deleted $old old weir:* keys from db 0"

# ---- the file pipeline -----------------------------------------------------------

if [ "$MODE" = file ]; then
    echo "== target/release/weir run --config examples/weir.toml"
    "$WEIR" run --config examples/weir.toml
fi

# ---- the Kafka pipeline ----------------------------------------------------------

. scripts/lib/local-services.sh

if [ "$MODE" = kafka ]; then
    WORK="$ROOT/target/run-example"
    mkdir -p "$WORK"
    CONFIG=examples/weir-kafka.toml
    PORT=19092
    if port_open "$PORT"; then
        PORT="$(free_port)"
        CONFIG="$WORK/weir-kafka.toml"
        sed "s/127\.0\.0\.1:19092/127.0.0.1:$PORT/" examples/weir-kafka.toml >"$CONFIG"
        echo "port 19092 is taken: using $PORT and $CONFIG"
    fi
    BROKER="127.0.0.1:$PORT"

    BROKER_PID=""
    WEIR_PID=""
    cleanup() {
        if [ -n "$WEIR_PID" ]; then
            kill -TERM "$WEIR_PID" 2>/dev/null || true
            wait "$WEIR_PID" 2>/dev/null || true
        fi
        if [ -n "$BROKER_PID" ]; then
            kill -TERM "$BROKER_PID" 2>/dev/null || true
            wait "$BROKER_PID" 2>/dev/null || true
        fi
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    echo "== tansu broker on $BROKER (in-memory storage; log $WORK/tansu.log)"
    started=0
    start_tansu "$TANSU" "$PORT" "$WORK/tansu.log" && started=1
    BROKER_PID="$TANSU_PID"
    if [ "$started" = 0 ]; then
        echo "run-example: tansu did not start on $BROKER; see $WORK/tansu.log" >&2
        exit 1
    fi
    "$TANSU" topic create access --partitions 3 --broker "tcp://$BROKER" >/dev/null
    echo "created topic access (3 partitions)"

    LINES="$(awk 'END { print NR }' examples/data/access.log)"
    echo "== target/release/weir produce --brokers $BROKER --topic access --file examples/data/access.log"
    "$WEIR" produce --brokers "$BROKER" --topic access --file examples/data/access.log
    echo "sent $LINES lines"

    echo "== target/release/weir run --config $CONFIG (reads the topic to its end, then exits; log $WORK/weir.log)"
    "$WEIR" run --config "$CONFIG" 2>"$WORK/weir.log" &
    WEIR_PID=$!
    TIMEOUT="${WEIR_EXAMPLE_TIMEOUT_SECS:-120}"
    started="$SECONDS"
    while kill -0 "$WEIR_PID" 2>/dev/null; do
        if [ $((SECONDS - started)) -ge "$TIMEOUT" ]; then
            echo "run-example: weir has not finished after $TIMEOUT s; it processed $(records_done "$CONFIG") of $LINES lines" >&2
            echo "(weir status --config $CONFIG; last lines of $WORK/weir.log):" >&2
            "$WEIR" status --config "$CONFIG" >&2 || true
            tail -n 20 "$WORK/weir.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    if ! wait "$WEIR_PID"; then
        WEIR_PID=""
        echo "run-example: weir run failed; last lines of $WORK/weir.log:" >&2
        tail -n 20 "$WORK/weir.log" >&2
        exit 1
    fi
    WEIR_PID=""
    done_records="$(records_done "$CONFIG")"
    if [ "$done_records" -ne "$LINES" ]; then
        echo "run-example: weir finished having processed $done_records of $LINES lines; last lines of $WORK/weir.log:" >&2
        tail -n 20 "$WORK/weir.log" >&2
        exit 1
    fi
    echo "weir read all $LINES lines, closed every window and exited, in about $((SECONDS - started)) s"
    grep -h -E 'input done|rule totals' "$WORK/weir.log" | sed 's/\x1b\[[0-9;]*m//g' || true
    cleanup
    BROKER_PID=""
    echo "stopped the broker"
    echo
    echo "== target/release/weir status --config $CONFIG"
    "$WEIR" status --config "$CONFIG"
fi

# ---- summary ------------------------------------------------------------------

utc() { date -u -d "@$1" '+%Y-%m-%d %H:%M'; }
local8() { TZ=UTC-8 date -d "@$1" '+%H:%M'; }

# Prints the window keys of PREFIX (e.g. weir:pvuv:pv:60), oldest first: the
# members of the index zset PREFIX:windows, or else the keys found by SCAN.
window_keys() {
    local prefix="$1" members m
    members="$("${CLI[@]}" ZRANGE "$prefix:windows" 0 -1)"
    if [ -z "$members" ]; then
        members="$("${CLI[@]}" --scan --pattern "$prefix:*" | grep -E ':[0-9]+$' || true)"
    fi
    [ -n "$members" ] || return 0
    while IFS= read -r m; do
        case "$m" in
            weir:*) printf '%s\n' "$m" ;;
            *) printf '%s:%s\n' "$prefix" "$m" ;;
        esac
    done <<<"$members" | awk -F: '{ print $NF "\t" $0 }' | sort -n | cut -f2-
}

# HGETALL KEY as "field=value field=value ...".
fields() {
    "${CLI[@]}" HGETALL "$1" | paste -d= - - | tr '\n' ' ' | sed 's/ $//'
}

echo
echo "== pvuv per minute (index weir:pvuv:pv:60:windows)"
printf '%-18s %-7s %-16s %s\n' "minute (UTC)" "(+8)" "pv" "uv"
minutes=0
pv_sum=0
while IFS= read -r key; do
    [ -n "$key" ] || continue
    t="${key##*:}"
    printf '%-18s %-7s %-16s %s\n' "$(utc "$t")" "$(local8 "$t")" \
        "$(fields "$key")" "$(fields "${key/:pv:/:uv:}")"
    minutes=$((minutes + 1))
    pv_sum=$((pv_sum + $("${CLI[@]}" HGET "$key" total)))
done < <(window_keys weir:pvuv:pv:60)
echo "($minutes minutes; pv of all minutes added up: $pv_sum)"

echo
echo "== pvuv per day (day windows start at local midnight, UTC+8)"
days=0
for metric in pv uv; do
    while IFS= read -r key; do
        [ -n "$key" ] || continue
        t="${key##*:}"
        printf '%-32s day from %s UTC: %s\n' "$key" "$(utc "$t")" "$(fields "$key")"
        days=$((days + 1))
    done < <("${CLI[@]}" --scan --pattern "weir:pvuv:$metric:86400:*" | grep -E ':[0-9]+$' | sort || true)
done
if [ "$days" -eq 0 ]; then
    echo "  (none published yet: a day window publishes \"today so far\" each time the watermark"
    echo "   passes a minute, i.e. once records an allowed lateness newer arrive, and its final"
    echo "   value when the input ends.)"
fi

echo
last="$(window_keys weir:ip-count:requests:60 | tail -n1)"
if [ -n "$last" ]; then
    echo "== top 10 client IPs in the last ip-count minute ($last, $(utc "${last##*:}") UTC)"
    # awk, not head, keeps reading so sort never dies of SIGPIPE (pipefail).
    "${CLI[@]}" HGETALL "$last" | paste - - | sort -t$'\t' -k2,2nr -k1,1 |
        awk -F'\t' 'NR <= 10 { printf "  %-40s %s\n", $1, $2 }'
else
    echo "== top 10 client IPs: no ip-count windows"
fi

echo
echo "== hive-audit by_table, all minutes added up"
tables="$(window_keys weir:hive-audit:by_table:60 | while IFS= read -r key; do
    if [ -n "$key" ]; then "${CLI[@]}" HGETALL "$key" | paste - -; fi
done | awk -F'\t' '{ n[$1] += $2 } END { for (t in n) printf "  %-30s %d\n", t, n[t] }' | sort)"
if [ -n "$tables" ]; then
    printf '%s\n' "$tables"
else
    echo "  (none: the example pipeline reads only the access log; tests feed examples/data/hive-audit.log)"
fi

# ---- the dashboard -------------------------------------------------------------
echo
SERVE_CONFIG=examples/weir.toml
if [ "$MODE" = kafka ]; then SERVE_CONFIG="$CONFIG"; fi
echo "== dashboard: http://127.0.0.1:9464/ (target/release/weir serve --config $SERVE_CONFIG)"
if [ "$WAIT" = 1 ] && [ -t 0 ] && [ -t 1 ]; then
    echo "serving until Ctrl-C (--no-wait ends the demo here)"
    "$WEIR" serve --config "$SERVE_CONFIG" || true
fi
