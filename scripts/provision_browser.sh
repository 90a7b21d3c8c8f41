#!/usr/bin/env bash
# Makes a headless browser available for the report's browser test: Debian's chromium.
#
# Safe to rerun and quiet when chromium is already there. Where it cannot be had (not root,
# not Debian, apt-get missing or failing) it says why in one line and exits 0: the browser
# test then skips with a reason and every other check still runs. Packages come from this
# machine's own apt sources; none are named here.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$root/.tools/browser"
LOG="$STATE/apt.log"

say() { printf 'provision-browser: %s\n' "$*"; }
give_up() {
    say "no chromium, the report's browser test will skip: $*"
    exit 0
}

for candidate in "${SERVING_CHAOS_CHROMIUM:-}" chromium chromium-browser; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 && exit 0
done

[ "$(id -u)" = 0 ] || give_up "not root, so apt-get cannot install chromium"
[ -r /etc/debian_version ] || give_up "this is not Debian, so its chromium package is not at hand"
command -v apt-get >/dev/null 2>&1 || give_up "apt-get is missing"
if ! grep -qsE '^(deb |URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources; then
    give_up "this machine has no apt sources configured (/etc/apt/sources.list{,.d})"
fi

mkdir -p "$STATE"
say "installing chromium from Debian's packages (log: $LOG)"
apt-get update -qq >"$LOG" 2>&1 || give_up "apt-get update failed (see $LOG)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    >>"$LOG" 2>&1 || give_up "apt-get install chromium failed (see $LOG)"
command -v chromium >/dev/null 2>&1 || give_up "chromium installed but not on PATH"
say "installed $(chromium --version 2>/dev/null || echo chromium)"
