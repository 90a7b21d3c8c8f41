"""Feature-store stub: deterministic features, metrics per route, switchable HTTP faults."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from harness.servers.stub import (
    HttpFault,
    StubConfig,
    add_arguments,
    config_from_args,
    features_for,
    make_app,
)

Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def _client(config: StubConfig | None = None) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(config or StubConfig()))) as client:
        yield client


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=30))


async def _json(client: Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_same_key_gives_same_features_across_apps() -> None:
    async def scenario() -> None:
        async with _client() as first, _client() as second:
            status, body = await _json(first, "GET", "/features/user-1")
            _, again = await _json(second, "GET", "/features/user-1")
            _, other = await _json(first, "GET", "/features/user-2")
        assert status == 200
        assert body["key"] == "user-1"
        assert len(body["features"]) == 8
        assert all(isinstance(v, float) and -1.0 <= v < 1.0 for v in body["features"])
        assert again == body
        assert other["features"] != body["features"]

    _run(scenario)


def test_features_depend_on_seed_and_width() -> None:
    base = features_for("k", n_features=8, seed=0)
    assert features_for("k", n_features=8, seed=0) == base
    assert features_for("k", n_features=8, seed=1) != base
    wide = features_for("k", n_features=40, seed=0)
    assert len(wide) == 40
    assert len(set(wide)) == 40


def test_n_features_config_sets_vector_length() -> None:
    async def scenario() -> None:
        async with _client(StubConfig(n_features=3)) as client:
            _, body = await _json(client, "GET", "/features/abc")
        assert len(body["features"]) == 3

    _run(scenario)


@pytest.mark.parametrize("path", ["/health", "/ping"])
def test_health_routes_answer_ok(path: str) -> None:
    async def scenario() -> None:
        async with _client(StubConfig(name="enrichment")) as client:
            status, body = await _json(client, "GET", path)
        assert status == 200
        assert body["service"] == "enrichment"

    _run(scenario)


def test_metrics_count_by_route_and_status_in_own_registry() -> None:
    async def scenario() -> None:
        async with _client() as client, _client() as other:
            for key in ("a", "b", "c"):
                await _json(client, "GET", f"/features/{key}")
            async with client.get("/nope") as resp:
                assert resp.status == 404
            async with client.get("/metrics") as resp:
                text = await resp.text()
            async with other.get("/metrics") as resp:
                other_text = await resp.text()
        route = {"path": "/features/{key}", "status": "200"}
        assert _sample(text, "stub_requests_total", **route) == 3
        assert _sample(text, "stub_requests_total", path="unmatched", status="404") == 1
        assert _sample(other_text, "stub_requests_total", **route) == 0

    _run(scenario)


def test_fault_with_rate_one_answers_status_until_deleted() -> None:
    async def scenario() -> None:
        async with _client() as client:
            fault = {"status": 503, "rate": 1.0, "retry_after_s": 2}
            status, shown = await _json(client, "PUT", "/_chaos/faults", json=fault)
            assert status == 200
            assert shown["fault"]["status"] == 503
            async with client.get("/features/x") as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "2"
            _, current = await _json(client, "GET", "/_chaos/faults")
            assert current["fault"] == shown["fault"]
            status, _ = await _json(client, "DELETE", "/_chaos/faults")
            assert status == 200
            async with client.get("/features/x") as resp:
                assert resp.status == 200
            _, cleared = await _json(client, "GET", "/_chaos/faults")
            assert cleared["fault"] is None
            async with client.get("/metrics") as resp:
                text = await resp.text()
        assert _sample(text, "stub_injected_faults_total", status="503") == 1

    _run(scenario)


def test_fault_rate_picks_calls_reproducibly() -> None:
    async def statuses() -> list[int]:
        async with _client(StubConfig(seed=7)) as client:
            await _json(client, "PUT", "/_chaos/faults", json={"status": 429, "rate": 0.5})
            seen = []
            for i in range(60):
                async with client.get(f"/features/k{i}") as resp:
                    seen.append(resp.status)
            return seen

    async def scenario() -> None:
        first = await statuses()
        second = await statuses()
        assert first == second
        assert set(first) == {200, 429}
        assert 10 < first.count(429) < 50

    _run(scenario)


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200},
        {"status": 503, "rate": 1.5},
        {"status": 503, "latency_ms": -1},
        {"status": "503"},
        {"status": 503, "rate": True},
        {"status": 503, "colour": "red"},
        [503],
    ],
)
def test_invalid_fault_is_rejected_and_not_applied(body: object) -> None:
    async def scenario() -> None:
        async with _client() as client:
            status, answer = await _json(client, "PUT", "/_chaos/faults", json=body)
            assert status == 400
            assert "expected" in answer["error"]
            _, current = await _json(client, "GET", "/_chaos/faults")
            assert current["fault"] is None

    _run(scenario)


def test_malformed_fault_json_is_rejected() -> None:
    async def scenario() -> None:
        async with _client() as client, client.put("/_chaos/faults", data=b"{not") as resp:
            assert resp.status == 400

    _run(scenario)


def test_fault_defaults_and_validation_message() -> None:
    assert HttpFault.from_json({}) == HttpFault(status=503, rate=1.0)
    assert HttpFault.from_json({"rate": 0, "latency_ms": 5}).latency_ms == 5.0
    with pytest.raises(ValueError, match=r"rate=2\.0"):
        HttpFault(rate=2.0)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="n_features=0"):
        StubConfig(n_features=0)
    with pytest.raises(ValueError, match="port=70000"):
        StubConfig(port=70000)


def test_cli_flags_build_config_with_defaults_for_the_rest() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(
        parser.parse_args(["--port", "0", "--n-features", "4", "--name", "enrich", "--seed", "3"])
    )
    assert config == StubConfig(port=0, n_features=4, name="enrich", seed=3)
    assert config_from_args(parser.parse_args([])) == StubConfig()
