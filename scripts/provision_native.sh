#!/usr/bin/env bash
# Builds the native load engine (native/, Rust) into .venv where Rust's cargo is installed.
# Without cargo it says so and the harness takes the http1 engine instead; with cargo, a build
# that fails is an error. Rebuilds only when native/ changed; cargo's build cache lives in the
# user's cache so a fresh clone on this machine rebuilds incrementally.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
VENV="$root/.venv"

say() { printf 'provision: %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: the native engine is not built; --engine auto takes http1 (install Rust from https://rustup.rs and rerun to build it)"
    exit 0
fi
stamp="$VENV/.serving-chaos-native"
want="$(find native -path native/target -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$VENV/bin/python" -c 'import serving_chaos_native' 2>/dev/null; then
    exit 0
fi
say "building the native load engine (Rust) into .venv"
export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/serving-chaos/native-target"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./native
"$VENV/bin/python" -c 'import serving_chaos_native' \
    || { printf 'provision: error: the native engine was built but does not import\n' >&2; exit 1; }
echo "$want" > "$stamp"
