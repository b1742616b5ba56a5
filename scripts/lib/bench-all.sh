# The parts of `scripts/bench.sh --all` after the end-to-end rounds: each
# function runs one comparison and leaves its raw output in $DIR/all, where
# scripts/bench_table.py reads them all for the final table. A part that
# cannot run says why and leaves no file; the table then marks its rows
# "skipped".
#
# Sourced by scripts/bench.sh (it defines functions only); uses that script's
# ROOT, DIR, LOG, CONFIG, CLI, SOL, RUNS and `say`.

# peak_rss_kib CMD...: runs CMD (stdout discarded, stderr appended to
# $DIR/all/rss-runs.log) and prints its peak resident set size in KiB, as the
# kernel counts it for a finished child (getrusage), so nothing is sampled
# and no extra tool is needed. Fails if CMD fails.
peak_rss_kib() {
    python3 -c '
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
if code != 0:
    sys.exit(f"{sys.argv[1]} exited with {code}")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
' "$@" 2>>"$DIR/all/rss-runs.log"
}

# gen_one_day LINES CLIENTS PATH: LINES access lines spread over one local
# day (+0800, so one day window of day_offset_secs = -28800), the client
# cycling through CLIENTS distinct IPv4 addresses.
gen_one_day() {
    python3 - "$@" <<'EOF'
import sys
lines, clients, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "w") as out:
    for i in range(lines):
        c = i % clients
        s = i * 86400 // lines
        out.write(f'10.{c >> 16}.{(c >> 8) & 255}.{c & 255} - - [21/Nov/2026:{s // 3600:02}:'
                  f'{s // 60 % 60:02}:{s % 60:02} +0800] "GET / HTTP/1.1" 200 1\n')
EOF
}

# Peak RSS of `weir run` (and of weir-sol) on the benchmark file, and of
# `weir run` on 1M lines of one day with 1M distinct clients against the same
# with one client: the difference is what a day window of 1M exact members
# costs the process.
all_memory() {
    say "peak memory (RSS): weir run and weir-sol on $LOG; a day window of 1M distinct members"
    local out="$DIR/all/memory.txt" weir_kib sol_kib many_kib one_kib
    rm -f "$out"
    "${CLI[@]}" FLUSHALL >/dev/null
    weir_kib="$(peak_rss_kib "$ROOT/target/release/weir" run --config "$CONFIG")" || {
        echo "skipped: weir run failed (see $DIR/all/rss-runs.log)"; return 0; }
    sol_kib="$(peak_rss_kib "$SOL" "$LOG" --day-offset-secs -28800)" || sol_kib=""
    echo "weir run: $((weir_kib * 1024 / 1000000)) MB; weir-sol: $((${sol_kib:-0} * 1024 / 1000000)) MB"
    gen_one_day 1000000 1000000 "$DIR/day-1m-distinct.log"
    gen_one_day 1000000 1 "$DIR/day-1m-same.log"
    for kind in distinct same; do
        sed "s|^path = .*|path = \"$DIR/day-1m-$kind.log\"|" "$CONFIG" >"$DIR/weir-day-$kind.toml"
    done
    "${CLI[@]}" FLUSHALL >/dev/null
    many_kib="$(peak_rss_kib "$ROOT/target/release/weir" run --config "$DIR/weir-day-distinct.toml")" || many_kib=""
    "${CLI[@]}" FLUSHALL >/dev/null
    one_kib="$(peak_rss_kib "$ROOT/target/release/weir" run --config "$DIR/weir-day-same.toml")" || one_kib=""
    "${CLI[@]}" FLUSHALL >/dev/null
    rm -f "$DIR/day-1m-distinct.log" "$DIR/day-1m-same.log"
    echo "weir run, 1M lines in one day: $((${many_kib:-0} * 1024 / 1000000)) MB with 1M distinct clients, $((${one_kib:-0} * 1024 / 1000000)) MB with one"
    echo "weir_kib $weir_kib" >"$out"
    if [ -n "$sol_kib" ]; then echo "sol_kib $sol_kib" >>"$out"; fi
    if [ -n "$many_kib" ] && [ -n "$one_kib" ]; then
        printf 'day_1m_distinct_kib %s\nday_1m_same_kib %s\n' "$many_kib" "$one_kib" >>"$out"
    fi
}

# wasm vs native on the host's CPU path, on the same file, BENCH_RUNS rounds.
all_pvuv() {
    say "wasm vs native: cargo bench -p weir --bench pvuv on $LOG ($RUNS rounds)"
    rm -f "$DIR/all/pvuv.txt"
    if ! WEIR_BENCH_ROUNDS="$RUNS" WEIR_BENCH_FILE="$LOG" WEIR_BENCH_WASM="$DIR/plugins/pvuv.wasm" \
        cargo bench -p weir --bench pvuv >"$DIR/all/pvuv.part" 2>"$DIR/all/pvuv.log"; then
        echo "skipped: the pvuv bench failed; last lines of $DIR/all/pvuv.log:"
        tail -n 5 "$DIR/all/pvuv.log"
        return 0
    fi
    mv "$DIR/all/pvuv.part" "$DIR/all/pvuv.txt"
    grep -E '^round ' "$DIR/all/pvuv.txt"
}

# Hot-reload latency (needs target/wasm32-wasip2/release/pvuv.wasm, built
# by scripts/build-plugins.sh above).
all_reload() {
    say "reload latency: cargo bench -p weir --bench reload (${BENCH_SWAPS:-15} swaps)"
    rm -f "$DIR/all/reload.txt"
    if ! WEIR_BENCH_SWAPS="${BENCH_SWAPS:-15}" cargo bench -p weir --bench reload \
        >"$DIR/all/reload.part" 2>"$DIR/all/reload.log"; then
        echo "skipped: the reload bench failed; last lines of $DIR/all/reload.log:"
        tail -n 5 "$DIR/all/reload.log"
        return 0
    fi
    mv "$DIR/all/reload.part" "$DIR/all/reload.txt"
    cat "$DIR/all/reload.txt"
}

# Kafka → Redis against a bare consumer (scripts/bench-kafka.sh, which
# installs tansu once if it is missing), BENCH_RUNS rounds. Its own
# BENCH_DIR, so it does not replace this script's plugins.
all_kafka() {
    say "kafka vs a bare consumer: scripts/bench-kafka.sh (${BENCH_KAFKA_LINES:-1000000} lines, $RUNS rounds)"
    rm -f "$DIR/all/kafka.txt"
    if ! env -u BENCH_DIR BENCH_RUNS="$RUNS" BENCH_LINES="${BENCH_KAFKA_LINES:-1000000}" \
        scripts/bench-kafka.sh >"$DIR/all/kafka.part" 2>"$DIR/all/kafka.log"; then
        echo "skipped: scripts/bench-kafka.sh failed (no tansu and no way to build it?); last lines of $DIR/all/kafka.log:"
        tail -n 5 "$DIR/all/kafka.log"
        return 0
    fi
    mv "$DIR/all/kafka.part" "$DIR/all/kafka.txt"
    grep -E '^(-- round|kafka_count:|weir run:)' "$DIR/all/kafka.txt"
}
