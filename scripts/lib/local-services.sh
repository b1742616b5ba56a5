# Helpers the scripts share for running local services and reading weir's
# progress. Source it (`. scripts/lib/local-services.sh`); it defines
# functions only. Needs $WEIR (the weir binary) for records_done.

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Whether something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_tansu TANSU PORT LOG: starts a tansu broker with in-memory storage on
# 127.0.0.1:PORT in the background, its output in LOG, and waits up to 10 s
# for it to listen. Sets TANSU_PID; returns non-zero if it did not start.
start_tansu() {
    local tansu="$1" port="$2" log="$3"
    "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$log" 2>&1 &
    TANSU_PID=$!
    for _ in $(seq 1 100); do
        port_open "$port" && break
        kill -0 "$TANSU_PID" 2>/dev/null || break
        sleep 0.1
    done
    port_open "$port"
}

# Prints the smallest `records_in` count of the rules in `weir status --json
# --config CONFIG` (0 before the first checkpoint, or when Redis is too busy
# to answer). `records_in` is a key of each rule's `stats` object only.
records_done() {
    { "$WEIR" status --json --config "$1" 2>/dev/null || true; } |
        { grep -o '"records_in": *[0-9]*' || true; } |
        awk -F: '{ n = $2 + 0; if (min == "" || n < min) min = n } END { print (min == "" ? 0 : min) }'
}
