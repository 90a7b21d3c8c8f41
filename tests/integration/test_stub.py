"""The default stub (the feature store) over HTTP: the same features from every app, metrics per
route, and every HTTP fault kind as a real aiohttp client sees it, switched on and off by name."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.servers.stub import StubConfig
from tests.serving import Client, ServeStub, base_url, metrics, sample
from tests.waiting import run_async

pytestmark = pytest.mark.integration

FEATURES = "/features/{key}"


async def _json(client: Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


async def _fault_on(client: Client, name: str, *faults: dict[str, Any]) -> None:
    status, shown = await _json(client, "PUT", f"/_chaos/faults/{name}", json={"faults": faults})
    assert status == 200, shown
    assert name in shown["faults"]


async def _fault_off(client: Client, name: str) -> None:
    status, shown = await _json(client, "DELETE", f"/_chaos/faults/{name}")
    assert status == 200
    assert shown["faults"] == {}


@asynccontextmanager
async def _fresh_connections(client: Client) -> AsyncIterator[aiohttp.ClientSession]:
    """A client opening a new connection per call: a broken connection is then never retried
    on another, so each call is one call at the stub."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(base_url(client), connector=connector) as session:
        yield session


async def _features_ok(client: Client, key: str = "k") -> None:
    status, body = await _json(client, "GET", f"/features/{key}")
    assert status == 200
    assert body["key"] == key
    assert len(body["features"]) == 8


def test_same_key_gives_same_features_across_apps(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as first, serve_stub() as second:
            status, body = await _json(first, "GET", "/features/user-1")
            _, again = await _json(second, "GET", "/features/user-1")
            _, other = await _json(first, "GET", "/features/user-2")
            _, enriched = await _json(first, "GET", "/enrich/user-1")
        assert status == 200
        assert body["key"] == "user-1"
        assert len(body["features"]) == 8
        assert all(isinstance(v, float) and -1.0 <= v < 1.0 for v in body["features"])
        assert again == body
        assert enriched == body
        assert other["features"] != body["features"]

    run_async(scenario)


def test_features_spec_sets_vector_length_and_seed_at_run_time(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(StubConfig(seed=5)) as client:
            _, seeded = await _json(client, "GET", "/features/abc")
            status, _ = await _json(
                client, "PUT", "/_chaos/spec", json={"kind": "features", "n_features": 3}
            )
            assert status == 200
            _, body = await _json(client, "GET", "/features/abc")
            _, spec = await _json(client, "GET", "/_chaos/spec")
        assert len(body["features"]) == 3
        # The default spec takes the stub's seed; the spec put later its own (0).
        assert body["features"] != seeded["features"][:3]
        assert spec == {"spec": {"kind": "features", "n_features": 3, "seed": 0}}

    run_async(scenario)


@pytest.mark.parametrize("path", ["/health", "/ping"])
def test_health_routes_answer_ok(path: str, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(StubConfig(name="enrichment")) as client:
            status, body = await _json(client, "GET", path)
            refused, _ = await _json(client, "POST", path)
        assert status == 200
        assert body == {"status": "ok", "service": "enrichment", "kind": "features"}
        assert refused == 405

    run_async(scenario)


def test_metrics_count_api_calls_by_route_and_status_in_own_registry(
    serve_stub: ServeStub,
) -> None:
    async def scenario() -> None:
        async with serve_stub() as client, serve_stub() as other:
            for key in ("a", "b", "c"):
                await _json(client, "GET", f"/features/{key}")
            status, body = await _json(client, "GET", "/nope")
            await _json(client, "GET", "/health")
            await _json(client, "GET", "/_chaos/faults")
            text = await metrics(client)
            other_text = await metrics(other)
        assert status == 404
        assert body["routes"] == ["GET /features/{key}", "GET /enrich/{key}"]
        assert sample(text, "stub_calls_total", route=FEATURES, status="200") == 3
        assert sample(text, "stub_calls_total", route="unmatched", status="404") == 1
        assert sample(text, "stub_unmatched_total") == 1
        # Health, metrics and control calls are not API calls.
        assert sum(
            sample(text, "stub_calls_total", route=route, status=status)
            for route, status in ((FEATURES, "200"), ("unmatched", "404"))
        ) == sum(_all(text, "stub_calls_total"))
        # All on the test client's one keep-alive connection.
        assert sample(text, "stub_connections_total") == 1
        assert sample(other_text, "stub_calls_total", route=FEATURES, status="200") == 0

    run_async(scenario)


def _all(text: str, name: str) -> list[float]:
    return [
        found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name
    ]


# --- HTTP faults ---------------------------------------------------------------------------


def test_abort_answers_its_status_until_deleted(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _fault_on(client, "burst", {"kind": "abort", "status": 503, "retry_after_s": 2})
            async with client.get("/features/x") as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "2"
                assert (await resp.json())["status"] == 503
            _, listed = await _json(client, "GET", "/_chaos/faults")
            assert listed["faults"]["burst"][0]["kind"] == "abort"
            await _fault_off(client, "burst")
            await _features_ok(client, "x")
            text = await metrics(client)
        assert sample(text, "stub_faults_injected_total", kind="abort") == 1
        assert sample(text, "stub_calls_total", route=FEATURES, status="503") == 1
        assert sample(text, "stub_calls_total", route=FEATURES, status="200") == 1

    run_async(scenario)


def test_abort_percentage_picks_calls_reproducibly(serve_stub: ServeStub) -> None:
    async def statuses() -> list[int]:
        async with serve_stub(StubConfig(seed=7)) as client:
            await _fault_on(client, "half", {"kind": "abort", "status": 429, "percentage": 50})
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


def test_delay_holds_calls_until_deleted(serve_stub: ServeStub) -> None:
    async def timed(client: Client) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _features_ok(client)
        return loop.time() - started

    async def scenario() -> None:
        async with serve_stub() as client:
            await _fault_on(client, "slow", {"kind": "delay", "latency": 250})
            held = await timed(client)
            await _fault_off(client, "slow")
            after = await timed(client)
            text = await metrics(client)
        assert held >= 0.25
        assert after < held
        assert sample(text, "stub_faults_injected_total", kind="delay") == 1

    run_async(scenario)


def test_rate_limit_answers_429_beyond_the_burst(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _fault_on(client, "quota", {"kind": "rate_limit", "rps": 0.5, "burst": 2})
            seen = []
            for _ in range(3):
                async with client.get("/features/x") as resp:
                    seen.append((resp.status, resp.headers.get("Retry-After")))
            await _fault_off(client, "quota")
            for _ in range(3):
                await _features_ok(client, "x")
        assert seen == [(200, None), (200, None), (429, "2")]

    run_async(scenario)


@pytest.mark.parametrize(
    ("what", "error"),
    [
        ("empty", aiohttp.ServerDisconnectedError),
        ("truncated", aiohttp.ClientPayloadError),
        ("random_bytes", aiohttp.ClientResponseError),
        ("reset", aiohttp.ClientOSError),
    ],
)
def test_connection_level_malformed_breaks_the_call(
    what: str, error: type[Exception], serve_stub: ServeStub, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with serve_stub() as client, _fresh_connections(client) as session:
            await _fault_on(client, "broken", {"kind": "malformed", "what": what})
            with pytest.raises(error) as caught:
                async with session.get("/features/x") as resp:
                    await resp.read()
            if isinstance(caught.value, aiohttp.ClientOSError):
                assert caught.value.errno == errno.ECONNRESET
            await _fault_off(client, "broken")
            async with session.get("/features/x") as resp:
                assert resp.status == 200
                assert (await resp.json())["key"] == "x"
            text = await metrics(client)
        # aiohttp retries an idempotent call once when its connection drops, so the stub may
        # see the call twice; every attempt while the fault was on was broken.
        broken = sample(text, "stub_calls_total", route=FEATURES, status="malformed")
        assert broken >= 1
        assert sample(text, "stub_faults_injected_total", kind="malformed") == broken
        assert sample(text, "stub_calls_total", route=FEATURES, status="200") == 1

    with caplog.at_level(logging.DEBUG):
        run_async(scenario)
    # A connection broken on purpose is not a server error: no traceback in the logs.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ("what", "content_type"),
    [("invalid_json", "application/json"), ("wrong_content_type", "text/html")],
)
def test_answer_level_malformed_sends_a_broken_200(
    what: str, content_type: str, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _fault_on(client, "broken", {"kind": "malformed", "what": what})
            async with client.get("/features/x") as resp:
                assert resp.status == 200
                assert resp.content_type == content_type
                with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError or aiohttp's
                    await resp.json(content_type=None)
            await _fault_off(client, "broken")
            await _features_ok(client, "x")

    run_async(scenario)


def test_slow_body_dribbles_the_real_answer(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            async with client.get("/features/x") as resp:
                expected = await resp.read()
            await _fault_on(
                client, "dribble", {"kind": "slow_body", "chunks": 4, "duration_ms": 400}
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with client.get("/features/x") as resp:
                assert resp.status == 200
                head_after = loop.time() - started
                pieces = [piece async for piece in resp.content.iter_any()]
            total = loop.time() - started
            await _fault_off(client, "dribble")
            async with client.get("/features/x") as resp:
                assert await resp.read() == expected
        assert b"".join(pieces) == expected
        assert len(pieces) >= 2
        # The head comes at once, the body's last piece at the end of the duration.
        assert head_after < total
        assert total >= 0.4

    run_async(scenario)


def test_throughput_paces_the_answer(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _json(client, "PUT", "/_chaos/spec", json={"kind": "features", "n_features": 64})
            async with client.get("/features/x") as resp:
                expected = await resp.read()
            rate = 5000.0
            await _fault_on(client, "thin", {"kind": "throughput", "bytes_per_s": rate})
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with client.get("/features/x") as resp:
                body = await resp.read()
            paced = loop.time() - started
            await _fault_off(client, "thin")
            async with client.get("/features/x") as resp:
                assert await resp.read() == expected
        assert body == expected
        assert len(expected) > 1000
        assert paced >= len(expected) / rate * 0.9

    run_async(scenario)


@pytest.mark.parametrize(
    "body",
    [
        {"faults": [{"kind": "abort", "status": 200}]},
        {"faults": [{"kind": "abort", "percentage": 150}]},
        {"faults": [{"kind": "delay", "latency": -1}]},
        {"faults": [{"kind": "abort", "status": "503"}]},
        {"faults": [{"kind": "abort", "colour": "red"}]},
        {"faults": [{"kind": "teleport"}]},
        {"status": 503},
        [503],
    ],
)
def test_invalid_fault_is_rejected_and_not_applied(body: object, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            status, answer = await _json(client, "PUT", "/_chaos/faults/bad", json=body)
            assert status == 400
            assert "expected" in answer["error"]
            _, current = await _json(client, "GET", "/_chaos/faults")
            assert current["faults"] == {}
            await _features_ok(client)

    run_async(scenario)


def test_malformed_fault_json_is_rejected(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client, client.put("/_chaos/faults/x", data=b"{not") as resp:
            assert resp.status == 400

    run_async(scenario)
