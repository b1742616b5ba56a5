#!/usr/bin/env bash
# The quick-start demo: builds weir and the example rules, runs the example
# pipeline (examples/weir.toml: the sample access log into the local Redis,
# db 0) and prints what it wrote.
#   scripts/run-example.sh
# Needs a Redis on 127.0.0.1:6379; starts one (no persistence) if none answers.
# Deletes every `weir:*` key in db 0 first so each run starts from scratch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

echo "== building weir and the example rules"
cargo build --release -p weir
scripts/build-plugins.sh plugins-dir

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

echo "== target/release/weir run --config examples/weir.toml"
target/release/weir run --config examples/weir.toml

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
while IFS= read -r key; do
    [ -n "$key" ] || continue
    t="${key##*:}"
    printf '%-18s %-7s %-16s %s\n' "$(utc "$t")" "$(local8 "$t")" \
        "$(fields "$key")" "$(fields "${key/:pv:/:uv:}")"
    minutes=$((minutes + 1))
done < <(window_keys weir:pvuv:pv:60)
echo "($minutes minutes)"

echo
echo "== pvuv per day (day windows start at local midnight, UTC+8)"
for metric in pv uv; do
    while IFS= read -r key; do
        [ -n "$key" ] || continue
        t="${key##*:}"
        printf '%-32s day from %s UTC: %s\n' "$key" "$(utc "$t")" "$(fields "$key")"
    done < <("${CLI[@]}" --scan --pattern "weir:pvuv:$metric:86400:*" | grep -E ':[0-9]+$' | sort || true)
done

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
