"""Two small jobs that make `docker compose up` work on the default topology: tagging the
serving image built from this checkout, and creating the Toxiproxy proxies the endpoint uses."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from harness.errors import TopologyError, UsageError
from harness.system.toxiproxy import ToxiproxyClient

__all__ = [
    "LOCAL_TAG",
    "ProxySpec",
    "add_image_arguments",
    "add_proxies_arguments",
    "build_image",
    "create_proxies",
]

LOCAL_TAG = "serving-chaos/serving:local"


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """``name=listen=upstream``, e.g. ``feature-store=127.0.0.1:18081=127.0.0.1:8081``."""

    name: str
    listen: str
    upstream: str

    @classmethod
    def parse(cls, text: str) -> ProxySpec:
        parts = text.split("=")
        if len(parts) != 3 or not all(parts):
            raise UsageError(f"expected NAME=LISTEN=UPSTREAM but got {text!r}")
        return cls(*parts)


def create_proxies(api: str, specs: list[ProxySpec], *, wait_s: float = 30.0) -> None:
    """Create each proxy once Toxiproxy answers (it may still be starting)."""
    host, _, port = api.removeprefix("http://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"expected --api http://HOST:PORT but got {api!r}")
    client = ToxiproxyClient(host, int(port))
    deadline = time.monotonic() + wait_s
    while client.version() is None:
        if time.monotonic() > deadline:
            raise TopologyError(f"Toxiproxy at {api} did not answer within {wait_s:g}s")
        time.sleep(0.2)
    for spec in specs:
        client.create_proxy(spec.name, spec.upstream, listen=spec.listen)


def add_proxies_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default="http://127.0.0.1:8474", help="Toxiproxy's API")
    parser.add_argument("proxy", nargs="+", help="NAME=LISTEN=UPSTREAM")


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag", default=LOCAL_TAG, help=f"extra tag (default {LOCAL_TAG})")
    parser.add_argument("--base", default=None, help="base image (default: provisioning's)")


def build_image(tag: str, base: str | None) -> str:
    """Build (or find, by content hash) the serving image and give it ``tag`` as well."""
    from harness.system.backends.docker import ImageRecipe, connect, ensure_serving_image
    from harness.system.backends.docker.images import LOCAL_BASE

    client = connect()
    try:
        built = ensure_serving_image(client, ImageRecipe(base=base or LOCAL_BASE))
        repository, _, version = tag.rpartition(":")
        client.images.get(built).tag(repository or tag, version if repository else "latest")
    finally:
        client.close()
    return built
