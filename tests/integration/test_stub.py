"""Feature-store stub over HTTP: the same features from every app, metrics per route, and
switchable HTTP faults."""

from __future__ import annotations

from typing import Any

import pytest

from harness.servers.stub import StubConfig
from tests.serving import Client, ServeStub, metrics, sample
from tests.waiting import run_async

pytestmark = pytest.mark.integration


async def _json(client: Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


def test_same_key_gives_same_features_across_apps(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as first, serve_stub() as second:
            status, body = await _json(first, "GET", "/features/user-1")
            _, again = await _json(second, "GET", "/features/user-1")
            _, other = await _json(first, "GET", "/features/user-2")
        assert status == 200
        assert body["key"] == "user-1"
        assert len(body["features"]) == 8
        assert all(isinstance(v, float) and -1.0 <= v < 1.0 for v in body["features"])
        assert again == body
        assert other["features"] != body["features"]

    run_async(scenario)


def test_n_features_config_sets_vector_length(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(StubConfig(n_features=3)) as client:
            _, body = await _json(client, "GET", "/features/abc")
        assert len(body["features"]) == 3

    run_async(scenario)


@pytest.mark.parametrize("path", ["/health", "/ping"])
def test_health_routes_answer_ok(path: str, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(StubConfig(name="enrichment")) as client:
            status, body = await _json(client, "GET", path)
        assert status == 200
        assert body["service"] == "enrichment"

    run_async(scenario)


def test_metrics_count_by_route_and_status_in_own_registry(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client, serve_stub() as other:
            for key in ("a", "b", "c"):
                await _json(client, "GET", f"/features/{key}")
            async with client.get("/nope") as resp:
                assert resp.status == 404
            text = await metrics(client)
            other_text = await metrics(other)
        route = {"path": "/features/{key}", "status": "200"}
        assert sample(text, "stub_requests_total", **route) == 3
        assert sample(text, "stub_requests_total", path="unmatched", status="404") == 1
        assert sample(other_text, "stub_requests_total", **route) == 0

    run_async(scenario)


def test_fault_with_rate_one_answers_status_until_deleted(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
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
            text = await metrics(client)
        assert sample(text, "stub_injected_faults_total", status="503") == 1

    run_async(scenario)


def test_fault_rate_picks_calls_reproducibly(serve_stub: ServeStub) -> None:
    async def statuses() -> list[int]:
        async with serve_stub(StubConfig(seed=7)) as client:
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

    run_async(scenario)


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
def test_invalid_fault_is_rejected_and_not_applied(body: object, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            status, answer = await _json(client, "PUT", "/_chaos/faults", json=body)
            assert status == 400
            assert "expected" in answer["error"]
            _, current = await _json(client, "GET", "/_chaos/faults")
            assert current["fault"] is None

    run_async(scenario)


def test_malformed_fault_json_is_rejected(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client, client.put("/_chaos/faults", data=b"{not") as resp:
            assert resp.status == 400

    run_async(scenario)
