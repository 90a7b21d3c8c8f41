"""Talking to the reference endpoint and the feature-store stub from a test: requests, and
readings of their /metrics. The servers themselves come from the integration tier's fixtures
``serve_endpoint`` and ``serve_stub``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from harness.servers.endpoint import EndpointConfig
from harness.servers.stub import StubConfig
from tests.waiting import eventually_async

Client = TestClient[web.Request, web.Application]
INVOKE = "/invocations"


class ServeEndpoint(Protocol):
    """``async with serve_endpoint(config) as client``: the endpoint on a loopback port."""

    def __call__(
        self, config: EndpointConfig | None = None
    ) -> AbstractAsyncContextManager[Client]: ...


class ServeStub(Protocol):
    """``async with serve_stub(config, faults=[...]) as stub``: a stub on a loopback port, with
    ``faults`` (as ``PUT /_chaos/faults/NAME`` takes them) switched on before it is handed over."""

    def __call__(
        self, config: StubConfig | None = None, *, faults: list[dict[str, Any]] | None = None
    ) -> AbstractAsyncContextManager[Client]: ...


def rows(n: int) -> list[dict[str, Any]]:
    """``n`` records for a scoring request, each with its own entity id."""
    return [{"entity_id": f"e{i}", "x": i} for i in range(n)]


def base_url(client: Client) -> str:
    """Where ``client``'s server listens, as an upstream URL for the endpoint."""
    return str(client.make_url("/"))


async def post(client: Client, payload: Any, path: str = INVOKE) -> tuple[int, Any]:
    """POST ``payload`` as JSON; the status and the decoded answer."""
    async with client.post(path, json=payload) as resp:
        return resp.status, await resp.json()


async def metrics(client: Client) -> str:
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with ``labels`` in Prometheus text; 0 when absent, as
    a counter that was never incremented reads."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


async def wait_for_metric(client: Client, name: str, value: float, timeout_s: float = 3.0) -> None:
    """Poll /metrics until ``name`` reads ``value``; fail with the last reading otherwise."""
    last: list[float] = []

    async def reads_value() -> bool:
        last.append(sample(await metrics(client), name))
        return last[-1] == value

    await eventually_async(
        reads_value, timeout_s, what=lambda: f"{name}={value:g} (last read {last[-1]:g})"
    )
