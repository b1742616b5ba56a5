#!/usr/bin/env bash
# Idempotent set-up of a Debian machine for building and testing weir:
#   * redis-server and redis-cli (apt, only when missing);
#   * perl and make (to build OpenSSL for librdkafka), openssl and socat (for
#     the secure-connection tests) (apt, only when missing);
#   * chromium (apt, only when missing) for the dashboard's browser test;
#   * the wasm32-wasip2 target, rustfmt and clippy for the toolchain pinned in
#     rust-toolchain.toml;
#   * for Python rules: a venv in ~/.cache/weir/py-venv (override with
#     WEIR_PY_VENV) with componentize-py and pytest, pinned (pip, only when
#     missing or at another version).
# Takes a few seconds when everything is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf 'setup: %s\n' "$*"; }

# Root runs apt directly; anyone else goes through sudo. `env` carries
# DEBIAN_FRONTEND through sudo, which resets the environment.
if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=(env DEBIAN_FRONTEND=noninteractive)
else
    AS_ROOT=(sudo env DEBIAN_FRONTEND=noninteractive)
fi

apt_install() {
    say "apt-get install $*"
    if "${AS_ROOT[@]}" apt-get install -y --no-install-recommends "$@"; then
        return 0
    fi
    say "apt-get install failed; running apt-get update and trying again"
    "${AS_ROOT[@]}" apt-get update
    "${AS_ROOT[@]}" apt-get install -y --no-install-recommends "$@"
}

# --- Redis -------------------------------------------------------------------
missing=()
if ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server redis-tools)
elif ! command -v redis-cli >/dev/null 2>&1; then
    missing+=(redis-tools)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
    say "installed ${missing[*]}"
else
    say "redis-server and redis-cli already installed: $(redis-server --version | cut -d' ' -f1-3)"
fi

# --- build and test tools -------------------------------------------------------
# perl and make build the OpenSSL that librdkafka is linked with (rdkafka's
# ssl-vendored); openssl makes the tests' throw-away certificates; socat is
# the TLS front of the test Kafka broker (tansu 0.6 cannot take a
# certificate and a key together).
missing=()
for tool in perl make openssl socat; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
    say "installed ${missing[*]}"
else
    say "perl, make, openssl and socat already installed"
fi

# --- Chromium (the dashboard's browser test) -----------------------------------
# Debian's chromium: the test loads the dashboard in headless Chromium and
# saves docs/dashboard.png (it fails, not skips, without it).
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    say "chromium already installed"
else
    apt_install chromium fonts-dejavu-core
    say "installed chromium"
fi

# --- Rust ----------------------------------------------------------------------
if ! command -v rustup >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/rustup" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    say "added $HOME/.cargo/bin to PATH"
fi
if ! command -v rustup >/dev/null 2>&1; then
    say "error: rustup not found; install it (https://rustup.rs) and run this again" >&2
    exit 1
fi

# Run from the repository root so rust-toolchain.toml selects the pinned
# toolchain; install that toolchain first if this machine lacks it.
channel="$(sed -n 's/^channel *= *"\(.*\)".*/\1/p' rust-toolchain.toml)"
installed="$(rustup toolchain list)"
if [ -n "$channel" ] && ! grep -q "^$channel" <<<"$installed"; then
    say "installing toolchain $channel"
    rustup toolchain install "$channel" --profile minimal
fi
say "toolchain: $(rustup show active-toolchain 2>/dev/null | head -n1 || true)"
rustup target add wasm32-wasip2
rustup component add rustfmt clippy
say "rust target wasm32-wasip2 and components rustfmt, clippy are present"

# --- Python rules ------------------------------------------------------------------
# componentize-py builds Python rules into components (`weir build`,
# `scripts/build-plugins.sh --python`); pytest runs their native tests. Kept
# in a venv of their own, so the system's Python is left alone.
COMPONENTIZE_PY_VERSION=0.25.1
PYTEST_VERSION=9.2.0
venv="${WEIR_PY_VENV:-$HOME/.cache/weir/py-venv}"
if [ ! -x "$venv/bin/python" ]; then
    say "creating the Python venv $venv"
    python3 -m venv "$venv"
fi
have() { "$venv/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
if [ "$(have componentize-py)" != "$COMPONENTIZE_PY_VERSION" ] || [ "$(have pytest)" != "$PYTEST_VERSION" ]; then
    say "pip install componentize-py==$COMPONENTIZE_PY_VERSION pytest==$PYTEST_VERSION into $venv"
    "$venv/bin/python" -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" "pytest==$PYTEST_VERSION"
fi
say "componentize-py $COMPONENTIZE_PY_VERSION and pytest $PYTEST_VERSION are in $venv"
say "done"
