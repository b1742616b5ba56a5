#!/usr/bin/env bash
# Installs the Kafka-compatible broker tansu (0.6.0, with the dynostore
# storage engine) into a cache directory, building it from crates.io once:
#   scripts/install-tansu.sh        prints the path of the binary as its last
#                                   line on stdout (everything else: stderr)
# WEIR_CACHE sets the cache directory (default ~/.cache/weir); the binary is
# $WEIR_CACHE/bin/tansu. A build takes 10+ minutes of CPU; later runs reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
BIN="$CACHE/bin/tansu"
VERSION=0.6.0

say() { printf 'install-tansu: %s\n' "$*" >&2; }

works() {
    [ -x "$BIN" ] || return 1
    "$BIN" --version >/dev/null 2>&1 || "$BIN" --help >/dev/null 2>&1
}

if works; then
    say "$BIN is already installed"
else
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    # Native parts of its dependencies (aws-lc-sys, zstd-sys, ...) need a C
    # toolchain; install what is missing with apt.
    need=()
    command -v cc >/dev/null 2>&1 || need+=(build-essential)
    command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
    command -v cmake >/dev/null 2>&1 || need+=(cmake)
    if [ "${#need[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ]; then AS_ROOT=(env DEBIAN_FRONTEND=noninteractive)
        else AS_ROOT=(sudo env DEBIAN_FRONTEND=noninteractive); fi
        say "apt-get install ${need[*]}"
        if ! "${AS_ROOT[@]}" apt-get install -y --no-install-recommends "${need[@]}" >&2; then
            "${AS_ROOT[@]}" apt-get update >&2
            "${AS_ROOT[@]}" apt-get install -y --no-install-recommends "${need[@]}" >&2
        fi
    fi
    mkdir -p "$CACHE"
    say "building tansu $VERSION into $CACHE (this takes a while)"
    # From the repository root, so the pinned toolchain builds it.
    (cd "$ROOT" && cargo install tansu --version "$VERSION" --locked \
        --features dynostore --root "$CACHE") >&2
    if ! works; then
        say "error: $BIN was not installed or does not run"
        exit 1
    fi
fi
echo "$BIN"
