"""Each kind of stub over HTTP, its spec put at run time as the harness puts it: scripted
routes, a replayed recording and a (recording) proxy in front of a real aiohttp upstream."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from harness.servers.stub import StubConfig, make_app
from harness.servers.stub.spec import stub_spec_from_json
from harness.system.ports import free_port
from tests.cli import StartCli
from tests.serving import Client, ServeStub, base_url, metrics, sample
from tests.waiting import eventually, run_async

pytestmark = pytest.mark.integration

# The stub is local: an HTTP_PROXY meant for the outside world must not see it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

ITEM = "GET regex /v1/items/(?P<id>[0-9]+)"
ROUTES: dict[str, Any] = {
    "kind": "routes",
    "routes": [
        {
            "method": "GET",
            "path": {"regex": "/v1/items/(?P<id>[0-9]+)"},
            "response": {
                "headers": {"X-Item": "{{path.id}}"},
                "json": {"id": "{{path.id}}", "page": "{{query.page}}", "via": "{{method}}"},
            },
        },
        {
            "method": "POST",
            "path": "/v1/score",
            "headers": {"X-Tenant": "blue"},
            "body": {"user.tier": "gold"},
            "response": {"status": 201, "json": {"score": "{{body.user.score}}"}},
        },
        {
            "path": {"prefix": "/v1/"},
            "response": {"status": 418, "body": "{{method}} {{path}}"},
            "latency": 20,
        },
    ],
}


async def _json(client: Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with client.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


async def _put_spec(client: Client, spec: dict[str, Any]) -> None:
    status, answer = await _json(client, "PUT", "/_chaos/spec", json=spec)
    assert status == 200, answer
    assert answer == {"kind": spec["kind"]}


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as client:
        yield client


def test_routes_answer_templated_and_first_match_wins(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _put_spec(client, ROUTES)
            async with client.get("/v1/items/42?page=3") as resp:
                item = resp.status, resp.headers["X-Item"], await resp.json()
            scored = await _json(
                client,
                "POST",
                "/v1/score",
                json={"user": {"tier": "gold", "score": 0.75}},
                headers={"x-tenant": "blue"},
            )
            # Neither predicate holds: the prefix route after it answers.
            async with client.post("/v1/score", json={"user": {"tier": "tin"}}) as resp:
                fallback = resp.status, await resp.text()
            text = await metrics(client)
        assert item == (200, "42", {"id": "42", "page": "3", "via": "GET"})
        assert scored == (201, {"score": 0.75})
        assert fallback == (418, "POST /v1/score")
        assert sample(text, "stub_calls_total", route=ITEM, status="200") == 1
        assert sample(text, "stub_calls_total", route="POST /v1/score", status="201") == 1
        assert sample(text, "stub_calls_total", route="ANY prefix /v1/", status="418") == 1

    run_async(scenario)


def test_unmatched_call_lists_the_routes_and_is_counted(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _put_spec(client, ROUTES)
            status, body = await _json(client, "DELETE", "/elsewhere?x=1")
            text = await metrics(client)
        assert status == 404
        assert body == {
            "error": "nothing matches DELETE /elsewhere?x=1",
            "routes": [ITEM, "POST /v1/score", "ANY prefix /v1/"],
        }
        assert sample(text, "stub_unmatched_total") == 1
        assert sample(text, "stub_calls_total", route="unmatched", status="404") == 1

    run_async(scenario)


def test_bad_spec_is_refused_naming_the_field_and_the_old_spec_stays(
    serve_stub: ServeStub,
) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            bad = {"kind": "routes", "routes": [{"path": {"regex": "("}, "response": {}}]}
            status, answer = await _json(client, "PUT", "/_chaos/spec", json=bad)
            async with client.put("/_chaos/spec", data=b"{nope") as resp:
                unparsed = resp.status, await resp.json()
            still, body = await _json(client, "GET", "/features/k")
        assert status == 400
        assert answer["field"] == "routes[0].path.regex"
        assert answer["error"].startswith("routes[0].path.regex: expected a valid regular")
        assert unparsed[0] == 400
        assert "does not parse" in unparsed[1]["error"]
        assert (still, body["key"]) == (200, "k")

    run_async(scenario)


def test_control_paths_are_never_api_calls(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            await _put_spec(
                client, {"kind": "routes", "routes": [{"path": {"regex": ".*"}, "response": {}}]}
            )
            unknown, _ = await _json(client, "GET", "/_chaos/nothing")
            recording, answer = await _json(client, "GET", "/_chaos/recording")
            text = await metrics(client)
        assert unknown == 404
        assert recording == 404
        assert "only a proxy stub records" in answer["error"]
        assert sample(text, "stub_unmatched_total") == 0
        assert "stub_calls_total{" not in text

    run_async(scenario)


def _exchange(method: str, path: str, body: str, status: int, answer: Any) -> dict[str, Any]:
    return {
        "request": {"method": method, "path": path, "headers": {}, "body": body},
        "response": {
            "status": status,
            "headers": {"Content-Type": "application/json", "X-Recorded": "yes"},
            "body": json.dumps(answer),
        },
        "latency_ms": 5.0,
    }


def test_replay_answers_recorded_calls_cycling_and_404_otherwise() -> None:
    spec = stub_spec_from_json(
        {
            "kind": "replay",
            "exchanges": [
                _exchange("GET", "/v1/flaky?a=1", "", 200, {"n": 1}),
                _exchange("GET", "/v1/flaky?a=1", "", 503, {"n": 2}),
                _exchange("POST", "/v1/score", '{"id": 1}', 200, {"score": 1}),
                _exchange("POST", "/v1/score", '{"id": 2}', 200, {"score": 2}),
            ],
        }
    )

    async def scenario() -> None:
        async with _serve(make_app(StubConfig(), spec)) as client:
            flaky = []
            for _ in range(3):
                async with client.get("/v1/flaky?a=1") as resp:
                    flaky.append((resp.status, await resp.json(), resp.headers["X-Recorded"]))
            two = await _json(client, "POST", "/v1/score", json={"id": 2})
            other = await _json(client, "POST", "/v1/score", json={"id": 9})
            missing = await _json(client, "GET", "/v1/flaky?a=2")
            text = await metrics(client)
        assert flaky == [
            (200, {"n": 1}, "yes"),
            (503, {"n": 2}, "yes"),
            (200, {"n": 1}, "yes"),
        ]
        assert two == (200, {"score": 2})
        assert other == (200, {"score": 1})
        assert missing[0] == 404
        assert missing[1]["recorded"] == ["GET /v1/flaky?a=1", "POST /v1/score"]
        assert sample(text, "stub_calls_total", route="replay", status="200") == 4
        assert sample(text, "stub_calls_total", route="replay", status="503") == 1
        assert sample(text, "stub_unmatched_total") == 1

    run_async(scenario)


async def _upstream_echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path_qs": request.path_qs,
            "tenant": request.headers.get("X-Tenant"),
            "body": body.decode(),
        },
        status=200 if request.method != "DELETE" else 410,
        headers={"X-Upstream": "real"},
    )


def _upstream() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _upstream_echo)
    return app


def test_proxy_forwards_calls_and_records_them() -> None:
    async def scenario() -> None:
        async with _serve(_upstream()) as upstream:
            url = base_url(upstream).rstrip("/")
            spec = stub_spec_from_json({"kind": "proxy", "upstream": url, "record": True})
            async with _serve(make_app(StubConfig(), spec)) as client:
                async with client.post(
                    "/v1/score?x=1", data=b'{"id": 1}', headers={"X-Tenant": "blue"}
                ) as resp:
                    posted = resp.status, resp.headers["X-Upstream"], await resp.json()
                gone = await _json(client, "DELETE", "/v1/items/3")
                status, recording = await _json(client, "GET", "/_chaos/recording")
                cleared, _ = await _json(client, "DELETE", "/_chaos/recording")
                _, empty = await _json(client, "GET", "/_chaos/recording")
                text = await metrics(client)
        assert posted == (
            200,
            "real",
            {"method": "POST", "path_qs": "/v1/score?x=1", "tenant": "blue", "body": '{"id": 1}'},
        )
        assert gone[0] == 410
        assert status == 200
        assert recording["version"] == 1
        assert recording["upstream"] == url
        first, second = recording["exchanges"]
        assert first["request"]["method"] == "POST"
        assert first["request"]["path"] == "/v1/score?x=1"
        assert first["request"]["headers"]["X-Tenant"] == "blue"
        assert first["request"]["body"] == '{"id": 1}'
        assert first["response"]["status"] == 200
        assert json.loads(first["response"]["body"])["path_qs"] == "/v1/score?x=1"
        assert first["latency_ms"] > 0
        assert second["response"]["status"] == 410
        assert cleared == 200
        assert empty["exchanges"] == []
        assert sample(text, "stub_calls_total", route="proxy", status="200") == 1
        assert sample(text, "stub_calls_total", route="proxy", status="410") == 1

    run_async(scenario)


def test_proxy_without_record_keeps_nothing_and_unreachable_upstream_is_502() -> None:
    async def scenario() -> None:
        async with _serve(_upstream()) as upstream:
            # A port that was just free: nothing listens there once the server closes.
            dead_port = upstream.port
        spec = stub_spec_from_json({"kind": "proxy", "upstream": f"http://127.0.0.1:{dead_port}"})
        async with _serve(make_app(StubConfig(), spec)) as client:
            status, answer = await _json(client, "GET", "/v1/x")
            recording, refused = await _json(client, "GET", "/_chaos/recording")
        assert status == 502
        assert answer["error"].startswith(f"upstream http://127.0.0.1:{dead_port} unreachable")
        assert "caused by" in answer["error"]
        assert recording == 404
        assert "record: false" in refused["error"]

    run_async(scenario)


def test_connections_are_counted_once_each(serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub() as client:
            for key in ("a", "b", "c"):
                async with client.get(f"/features/{key}") as resp:
                    assert resp.status == 200
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(base_url(client), connector=connector) as session:
                for key in ("d", "e"):
                    async with session.get(f"/features/{key}") as resp:
                        assert resp.status == 200
            text = await metrics(client)
        # One keep-alive connection for three calls, then one connection per call.
        assert sample(text, "stub_connections_total") == 3

    run_async(scenario)


def _answer(url: str) -> Any:
    """The JSON at ``url``, or None while nothing answers there."""
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return {"status": exc.code}
    except OSError:
        return None


def test_stub_command_serves_its_spec_file(start_cli: StartCli, tmp_path: Path) -> None:
    spec = tmp_path / "routes.yaml"
    spec.write_text(
        "kind: routes\nroutes:\n  - path: /hello\n    response: {json: {hi: '{{method}}'}}\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    start_cli("stub", "--port", url.rsplit(":", 1)[1], "--spec", str(spec))
    health = eventually(lambda: _answer(f"{url}/health"), 15, what="the stub's /health")
    assert health["kind"] == "routes"
    assert _answer(f"{url}/hello") == {"hi": "GET"}
