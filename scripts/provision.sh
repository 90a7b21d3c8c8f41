#!/usr/bin/env bash
# Installs what serving-chaos needs on this machine, and nothing that is already there.
# Safe to rerun: every step checks first and stays quiet when there is nothing to do.
# Usage: provision.sh [core|all]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TOXIPROXY_VERSION="2.12.0"
TOOLS="$root/.tools/bin"
VENV="$root/.venv"

say() { printf 'provision: %s\n' "$*"; }
fail() { printf 'provision: error: %s\n' "$*" >&2; exit 1; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

provision_venv() {
    local python stamp want
    if [ ! -x "$VENV/bin/python" ]; then
        python="$(find_python)" || fail "Python >= 3.11 not found; install it, or point PYTHON at one."
        say "creating $VENV with $python"
        "$python" -m venv "$VENV"
    fi
    # Reinstall only when the declared dependencies changed.
    stamp="$VENV/.serving-chaos-installed"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing serving-chaos (editable) with dev extras into .venv"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        # The build backend warns about editable installs on every install; nothing to act on.
        PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
        echo "$want" > "$stamp"
    fi
}

toxiproxy_ok() {
    [ -x "$1" ] && "$1" -version 2>/dev/null | grep -q "$TOXIPROXY_VERSION"
}

provision_toxiproxy() {
    local found
    if [ -n "${SERVING_CHAOS_TOXIPROXY:-}" ]; then
        toxiproxy_ok "$SERVING_CHAOS_TOXIPROXY" && return 0
        fail "SERVING_CHAOS_TOXIPROXY=$SERVING_CHAOS_TOXIPROXY is not a toxiproxy-server $TOXIPROXY_VERSION binary."
    fi
    toxiproxy_ok "$TOOLS/toxiproxy-server" && return 0
    found="$(command -v toxiproxy-server || true)"
    if [ -n "$found" ] && toxiproxy_ok "$found"; then
        return 0
    fi
    if ! command -v go >/dev/null 2>&1; then
        fail "toxiproxy-server $TOXIPROXY_VERSION not found and Go is not installed to build it.
  Either install Go (https://go.dev/doc/install) and rerun this, or put the release binary
  toxiproxy-server $TOXIPROXY_VERSION on PATH, or set SERVING_CHAOS_TOXIPROXY to its path."
    fi
    say "building toxiproxy-server $TOXIPROXY_VERSION with go install into .tools/bin"
    mkdir -p "$TOOLS"
    GOBIN="$TOOLS" GOFLAGS=-mod=mod go install \
        -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION" \
        "github.com/Shopify/toxiproxy/v2/cmd/server@v$TOXIPROXY_VERSION"
    mv -f "$TOOLS/server" "$TOOLS/toxiproxy-server"
    toxiproxy_ok "$TOOLS/toxiproxy-server" || fail "built toxiproxy-server does not report version $TOXIPROXY_VERSION"
}

# Off-the-shelf servers for the integration tests, each in a venv of its own so their
# dependencies never meet the harness's: `provision_tool_venv NAME REQUIREMENTS WHAT`. The venv
# lives in the user's cache, named by a hash of its requirements, so every clone on this machine
# shares one install; .tools/venvs/NAME links to it. Without it those tests skip and say why;
# the harness itself does not need them.
provision_tool_venv() {
    local name="$1" requirements="$2" what="$3" link cache want venv python
    link="$root/.tools/venvs/$name"
    want="$(sha256sum "$requirements" | cut -c1-16)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/serving-chaos/venvs"
    venv="$cache/$name-$want"
    if [ ! -f "$venv/.installed" ]; then
        python="$(find_python)" || { say "no Python >= 3.11 for the $what venv; skipping it"; return 0; }
        say "installing $what for the tests into $venv"
        rm -rf "$venv"
        mkdir -p "$cache"
        if "$python" -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
            touch "$venv/.installed"
        else
            say "could not install $what (no package index?); their tests will skip"
            return 0
        fi
    fi
    if [ "$(readlink "$link" 2>/dev/null)" != "$venv" ]; then
        mkdir -p "$(dirname "$link")"
        rm -rf "$link"
        ln -s "$venv" "$link"
    fi
}

# `provision.sh core`: only what the process backend needs (the venv and toxiproxy-server), for
# `make demo`; without an argument, everything the tests need as well.
provision_venv
# The native load engine, where cargo exists (the harness works without it).
bash "$root/scripts/provision_native.sh"
provision_toxiproxy
[ "${1:-all}" = core ] && exit 0
# MLServer with scikit-learn, and LiteLLM's proxy (an LLM gateway).
provision_tool_venv mlserver scripts/model-servers.txt "off-the-shelf model servers"
provision_tool_venv litellm scripts/llm-gateways.txt "an off-the-shelf LLM gateway"
# Debian's chromium for the test that opens a report in a real browser; skips, saying why.
bash "$root/scripts/provision_browser.sh"
# The docker backend's engine and images; says why and carries on where Docker cannot be had.
bash "$root/scripts/provision_docker.sh"
