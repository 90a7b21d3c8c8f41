"""Bring your own model server: a command on the process backend, an image on docker, both behind
the same Toxiproxy and feature-store stub as the reference endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

# A model server of the user's own: its own route and body, one feature lookup per request.
SERVER = """\
import os, sys
import aiohttp
from aiohttp import web

STORE = os.environ["FEATURE_STORE_URL"]

async def predict(request):
    body = await request.json()
    async with request.app["http"].get(f"{STORE}/features/{body['user']}") as upstream:
        if upstream.status != 200:
            return web.json_response({"error": upstream.status}, status=502)
        features = (await upstream.json())["features"]
    return web.json_response({"score": sum(features)})

async def health(request):
    return web.json_response({"ok": True})

async def session(app):
    app["http"] = aiohttp.ClientSession()
    yield
    await app["http"].close()

app = web.Application()
app.cleanup_ctx.append(session)
app.router.add_post("/v1/predict", predict)
app.router.add_get("/healthz", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _scenario(server: Path, extra: str = "") -> str:
    return (
        "name: own-server\n"
        f"target: {{command: ['{sys.executable}', '{server}', '{{port}}'],\n"
        "         invocations_path: /v1/predict, health_path: /healthz}\n"
        "load: {rate: 20, duration_s: 4, body: {user: alice}}\n" + extra
    )


def test_a_users_server_meets_a_503_burst_from_the_feature_store(tmp_path: Path) -> None:
    server = tmp_path / "server.py"
    server.write_text(SERVER)
    scenario = parse_scenario(
        _scenario(
            server,
            "faults:\n"
            "  - {name: burst, type: http_error, target: feature-store, start_s: 1,\n"
            "     duration_s: 1.5, attributes: {status: 503, rate: 1.0}}\n"
            "budgets:\n  - {expect: error_rate == 0, phase: baseline}\n",
        )
    )
    result = run_scenario(scenario, backend="auto")

    assert result.backend == "process"
    burst = result.phases["during:burst"]
    assert burst.errors >= burst.requests - 2
    assert set(burst.errors_by_class()) == {"502"}
    assert result.buckets[-1].errors == 0
    assert result.buckets[-1].requests > 0


def test_a_users_image_runs_on_docker_behind_toxiproxy() -> None:
    from harness.system.backends.docker import (
        ImageRecipe,
        connect,
        ensure_serving_image,
        unavailable_reason,
    )

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"docker backend unavailable: {reason}")
    client = connect()
    image = ensure_serving_image(client, ImageRecipe())
    client.close()
    scenario = parse_scenario(
        "name: own-image\n"
        f"target: {{image: '{image}', args: [endpoint, --host, 127.0.0.1, --port, '{{port}}',\n"
        "         --feature-store-url, '{feature_store_url}'], metrics_path: /metrics}\n"
        "load: {rate: 20, duration_s: 3}\nfaults:\n"
        "  - {name: slow, type: latency, target: feature-store, start_s: 1, duration_s: 1,\n"
        "     attributes: {latency: 80}}\n"
    )
    result = run_scenario(scenario, backend="docker")

    assert result.backend == "docker"
    assert result.phases["overall"].errors == 0
    assert (result.phases["during:slow"].value("p50_ms") or 0) >= 80
    assert result.phases["overall"].tally.queue_depth is not None
