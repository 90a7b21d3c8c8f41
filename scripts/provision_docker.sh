#!/usr/bin/env bash
# Makes a Docker engine and the images the docker backend needs available on this machine.
#
# Safe to rerun and quiet when nothing is missing. Where Docker cannot be had (not root, not
# Debian, the install fails) it says why and exits 0: the docker tests then skip with a reason
# and every other check still runs.
#
# Steps, each skipped when its result already exists:
#   1. a Docker engine: docker.io from Debian's packages, dockerd started directly (no systemd
#      here) with --bridge=none --iptables=false so containers can only use host networking;
#   2. the base image serving-chaos/base:bookworm: Debian with python3, made by debootstrap from
#      this machine's own apt sources (or SERVING_CHAOS_DEBIAN_MIRROR) and loaded with
#      `docker import`, since no image registry may be reachable;
#   3. ghcr.io/shopify/toxiproxy:2.12.0, built locally from the toxiproxy-server binary that
#      scripts/provision.sh made, when that tag is missing.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

BASE_IMAGE="${SERVING_CHAOS_BASE_IMAGE:-serving-chaos/base:bookworm}"
TOXIPROXY_IMAGE="ghcr.io/shopify/toxiproxy:2.12.0"
TOXIPROXY_BIN="${SERVING_CHAOS_TOXIPROXY:-$root/.tools/bin/toxiproxy-server}"
[ -x "$TOXIPROXY_BIN" ] || TOXIPROXY_BIN="$(command -v toxiproxy-server || echo "$TOXIPROXY_BIN")"
STATE="$root/.tools/docker"
DOCKERD_LOG="$STATE/dockerd.log"
SUITE="bookworm"

say() { printf 'provision-docker: %s\n' "$*"; }
give_up() {
    say "docker backend unavailable: $*"
    say "docker tests will be skipped; everything else still runs."
    exit 0
}
# Prints how long a step took, so slow machines show where the time goes.
timed() {
    local label="$1" start end
    shift
    start=$(date +%s)
    "$@"
    local rc=$?
    end=$(date +%s)
    say "$label took $((end - start))s"
    return $rc
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

install_docker() {
    [ "$(id -u)" = 0 ] || give_up "no engine answers and we are not root to install docker.io"
    [ -r /etc/debian_version ] || give_up "no engine answers and this is not Debian"
    command -v apt-get >/dev/null 2>&1 || give_up "no engine answers and apt-get is missing"
    if ! command -v dockerd >/dev/null 2>&1; then
        say "installing docker.io from Debian's packages"
        mkdir -p "$STATE"
        apt-get update -qq >"$STATE/apt.log" 2>&1 || give_up "apt-get update failed ($STATE/apt.log)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >>"$STATE/apt.log" 2>&1 \
            || give_up "apt-get install docker.io failed ($STATE/apt.log)"
    fi
}

start_dockerd() {
    local waited=0
    mkdir -p "$STATE"
    say "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: dockerd must outlive this script and make's process group.
    setsid dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
    echo $! >"$STATE/dockerd.pid"
    until engine_answers; do
        waited=$((waited + 1))
        if [ "$waited" -ge 60 ]; then
            tail -n 20 "$DOCKERD_LOG" >&2
            give_up "dockerd did not answer within 60s (log above)"
        fi
        sleep 1
    done
}

# The Debian mirror for the base image: SERVING_CHAOS_DEBIAN_MIRROR, else the first Debian mirror
# of this machine's own apt sources (deb822 or one-line format). No mirror of the project's own.
debian_mirror() {
    local uri="${SERVING_CHAOS_DEBIAN_MIRROR:-}"
    if [ -n "$uri" ]; then
        echo "$uri"
        return 0
    fi
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
    fi
    echo "$uri"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

build_base_image() {
    local mirror rootfs
    if ! command -v debootstrap >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>"$STATE/apt.log" 2>&1 \
            || give_up "apt-get install debootstrap failed ($STATE/apt.log); cannot make $BASE_IMAGE"
    fi
    mirror="$(debian_mirror)"
    [ -n "$mirror" ] || give_up "no Debian mirror in this machine's apt sources (/etc/apt/sources.list,
  /etc/apt/sources.list.d/) to build $BASE_IMAGE from; add one there, or set
  SERVING_CHAOS_DEBIAN_MIRROR to a Debian mirror URL, and rerun make provision"
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/serving-chaos-rootfs.XXXXXX")"
    say "building $BASE_IMAGE with debootstrap from $mirror"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1; then
        rm -rf "$rootfs"
        tail -n 20 "$STATE/debootstrap.log" >&2
        give_up "debootstrap failed (log above)"
    fi
    # Smaller image, faster import; nothing in the harness reads these.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/usr/bin/python3"]' - "$BASE_IMAGE" >/dev/null
    local rc=$?
    rm -rf "$rootfs"
    [ $rc -eq 0 ] || give_up "docker import of $BASE_IMAGE failed"
}

build_toxiproxy_image() {
    local context
    [ -x "$TOXIPROXY_BIN" ] || give_up "$TOXIPROXY_BIN missing; run scripts/provision.sh first"
    context="$(mktemp -d "${TMPDIR:-/tmp}/serving-chaos-toxiproxy.XXXXXX")"
    cp "$TOXIPROXY_BIN" "$context/toxiproxy"
    cp "$root/dockerfiles/toxiproxy/Dockerfile" "$context/Dockerfile"
    say "building $TOXIPROXY_IMAGE from $TOXIPROXY_BIN"
    docker build --quiet --network none --build-arg "BASE=$BASE_IMAGE" \
        -t "$TOXIPROXY_IMAGE" "$context" >"$STATE/toxiproxy-build.log" 2>&1
    local rc=$?
    rm -rf "$context"
    [ $rc -eq 0 ] || give_up "docker build of $TOXIPROXY_IMAGE failed ($STATE/toxiproxy-build.log)"
}

if ! engine_answers; then
    timed "docker.io install" install_docker
    timed "dockerd start" start_dockerd
fi
mkdir -p "$STATE"
image_exists "$BASE_IMAGE" || timed "base image" build_base_image
# The upstream image where a registry answers; a local build of the same tag where none does.
image_exists "$TOXIPROXY_IMAGE" || timeout 20 docker pull -q "$TOXIPROXY_IMAGE" >/dev/null 2>&1 \
    || timed "toxiproxy image" build_toxiproxy_image
exit 0
