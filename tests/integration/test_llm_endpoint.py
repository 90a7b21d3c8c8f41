"""The reference endpoint's LLM mode over HTTP: streamed tokens at the pace its settings imply,
whole answers with the same text, sequences turned away with 429 past capacity, the MLflow
routes untouched, and a real OpenAI client. Each test serves the endpoint on loopback."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import openai
import pytest

from harness.servers.endpoint import EndpointConfig, make_app
from tests.serving import Client, ServeEndpoint, metrics, post, sample
from tests.threaded_server import serve_in_thread
from tests.waiting import eventually_async, run_async

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
# Stated slack of the timing checks: within 10 % of what the settings imply.
SLACK = 0.10


@dataclass
class Stream:
    """What an SSE reader saw: each event's JSON, when it came, and whether [DONE] closed it."""

    status: int
    content_type: str
    sent: float
    events: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    done: bool = False

    @property
    def tokens(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["choices"] and e["choices"][0]["finish_reason"] is None]

    @property
    def text(self) -> str:
        pieces = []
        for event in self.tokens:
            choice = event["choices"][0]
            pieces.append(choice["delta"]["content"] if "delta" in choice else choice["text"])
        return "".join(pieces)


async def read_stream(client: Client, path: str, payload: dict[str, Any]) -> Stream:
    """POST ``payload`` with stream on and read its server-sent events as they arrive."""
    sent = time.perf_counter()
    async with client.post(path, json={**payload, "stream": True}) as resp:
        seen = Stream(resp.status, resp.headers.get("Content-Type", ""), sent)
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                seen.done = True
                continue
            seen.arrivals.append(time.perf_counter())
            seen.events.append(json.loads(data))
    return seen


def chat(content: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    """A chat request of one user message, asking for ``max_tokens`` tokens."""
    messages = [{"role": "user", "content": content}]
    return {"model": "m", "messages": messages, "max_tokens": max_tokens, **extra}


def within(observed: float, expected: float) -> bool:
    return abs(observed - expected) <= SLACK * expected


# --- pace ------------------------------------------------------------------------------------


def test_stream_paces_first_token_and_gaps_as_set(serve_endpoint: ServeEndpoint) -> None:
    """At low load, time to first token is prefill x prompt tokens and tokens come
    1 / decode_tokens_per_s apart, within 10 %."""
    config = EndpointConfig(llm=True, prefill_ms_per_token=2.0, decode_tokens_per_s=20.0)
    tokens = 12

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            seen = await read_stream(client, CHAT, chat("word " * 100, tokens))
        assert seen.content_type.startswith("text/event-stream")
        assert seen.done
        assert len(seen.tokens) == tokens
        usage = seen.events[-1]["usage"]
        ttft = seen.arrivals[0] - seen.sent
        expected_ttft = usage["prompt_tokens"] * 2.0 / 1000.0
        gaps = [b - a for a, b in pairwise(seen.arrivals[:tokens])]
        mean_gap = (seen.arrivals[tokens - 1] - seen.arrivals[0]) / (tokens - 1)
        report = f"ttft={ttft:.4f}s (expected {expected_ttft:.4f}s), gaps={gaps}"
        assert within(ttft, expected_ttft), report
        assert within(statistics.median(gaps), 0.05), report
        assert within(mean_gap, 0.05), report

    run_async(scenario)


# --- whole answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [(CHAT, chat("tell me a story", 6)), (COMPLETIONS, {"prompt": "once upon", "max_tokens": 6})],
)
def test_whole_answer_has_the_streamed_text_and_usage(
    path: str, payload: dict[str, Any], serve_endpoint: ServeEndpoint
) -> None:
    config = EndpointConfig(llm=True, prefill_ms_per_token=1.0, decode_tokens_per_s=100.0)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            seen = await read_stream(client, path, payload)
            started = time.perf_counter()
            status, whole = await post(client, payload, path)
            took = time.perf_counter() - started
        assert status == 200, whole
        choice = whole["choices"][0]
        text = choice["message"]["content"] if path == CHAT else choice["text"]
        assert text == seen.text == "tok0 tok1 tok2 tok3 tok4 tok5 "
        assert whole["usage"] == seen.events[-1]["usage"]
        assert whole["usage"]["completion_tokens"] == 6
        assert choice["finish_reason"] == seen.events[-1]["choices"][0]["finish_reason"]
        # The whole answer comes after the whole generation: prefill and 5 gaps of 10 ms.
        prompt = whole["usage"]["prompt_tokens"]
        assert took >= (1 - SLACK) * (prompt * 0.001 + 5 * 0.01)

    run_async(scenario)


def test_default_length_stops_and_databricks_route_takes_chat(
    serve_endpoint: ServeEndpoint,
) -> None:
    config = EndpointConfig(llm=True, name="chat-model", default_max_tokens=3)
    route = "/serving-endpoints/chat-model/invocations"

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            status, whole = await post(
                client, {"messages": [{"role": "user", "content": "hi"}]}, route
            )
            seen = await read_stream(client, route, {"prompt": "hi"})
        assert status == 200, whole
        assert whole["model"] == "chat-model"
        assert whole["choices"][0]["message"]["content"] == "tok0 tok1 tok2 "
        assert whole["choices"][0]["finish_reason"] == "stop"
        assert seen.text == "tok0 tok1 tok2 "
        assert seen.events[-1]["object"] == "text_completion"

    run_async(scenario)


def test_bearer_token_guards_llm_routes_and_models_are_listed(
    serve_endpoint: ServeEndpoint,
) -> None:
    config = EndpointConfig(llm=True, auth_token="s3cret", name="chat-model")

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            refused = await client.post(CHAT, json=chat("hi", 1))
            refusal = await refused.json()
            headers = {"Authorization": "Bearer s3cret"}
            allowed = await client.post(CHAT, json=chat("hi", 1), headers=headers)
            answer = await allowed.json()
            listed = await (await client.get("/v1/models")).json()
        assert refused.status == 401
        assert refusal["error"]["type"] == "authentication_error"
        assert allowed.status == 200, answer
        assert [model["id"] for model in listed["data"]] == ["chat-model"]

    run_async(scenario)


# --- capacity --------------------------------------------------------------------------------


async def _hold(client: Client, n: int) -> list[asyncio.Task[None]]:
    """``n`` streaming requests left open (each reads its first line, then stays)."""

    async def one() -> None:
        async with client.post(CHAT, json=chat("hold", 200, stream=True)) as resp:
            assert resp.status == 200, await resp.text()
            await resp.content.readline()
            await asyncio.sleep(30)

    return [asyncio.create_task(one()) for _ in range(n)]


async def _reads(client: Client, **expected: float) -> dict[str, float]:
    """Poll /metrics until each named sample reads its value; the last reading otherwise."""
    last: dict[str, float] = {}

    async def check() -> bool:
        text = await metrics(client)
        last.update({name: sample(text, name) for name in expected})
        return last == expected

    await eventually_async(check, 3.0, what=lambda: f"{expected} (last read {last})")
    return last


def test_past_sequences_and_queue_requests_get_429(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(
        llm=True, max_sequences=2, llm_max_waiting=1, retry_after_s=3, decode_tokens_per_s=10.0
    )

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            held = await _hold(client, 3)
            try:
                await _reads(
                    client, serving_llm_running_sequences=2, serving_llm_waiting_sequences=1
                )
                async with client.post(CHAT, json=chat("one more", 4)) as resp:
                    status, headers, body = resp.status, resp.headers, await resp.json()
                text = await metrics(client)
            finally:
                for task in held:
                    task.cancel()
                await asyncio.gather(*held, return_exceptions=True)
            # A client that hangs up gives its sequence and its queue place back.
            await _reads(client, serving_llm_running_sequences=0, serving_llm_waiting_sequences=0)
        assert status == 429
        assert headers["Retry-After"] == "3"
        assert body["error"]["type"] == "rate_limit_error"
        assert "2 sequences busy" in body["error"]["message"]
        assert sample(text, "serving_rejected_requests_total", reason="sequences_full") == 1
        assert sample(text, "serving_requests_total", status="429") == 1
        assert sample(text, "serving_llm_generated_tokens_total") >= 2

    run_async(scenario)


def test_a_wait_past_the_queue_timeout_is_429_and_kv_budget_queues(
    serve_endpoint: ServeEndpoint,
) -> None:
    # Room for 8 sequences but KV cache for one "hold" request (prompt 7 + 200 tokens).
    config = EndpointConfig(llm=True, max_sequences=8, kv_cache_tokens=300, llm_queue_timeout_s=0.2)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            held = await _hold(client, 1)
            try:
                await _reads(client, serving_llm_kv_cache_used_tokens=207)
                started = time.perf_counter()
                async with client.post(CHAT, json=chat("queued", 200)) as resp:
                    status, body = resp.status, await resp.json()
                waited = time.perf_counter() - started
                too_long, error = await post(client, chat("x", 400), CHAT)
            finally:
                for task in held:
                    task.cancel()
                await asyncio.gather(*held, return_exceptions=True)
        assert status == 429, body
        assert "llm_queue_timeout_s=0.2" in body["error"]["message"]
        assert waited >= 0.2
        assert too_long == 400
        assert "kv_cache_tokens=300" in error["error"]["message"]

    run_async(scenario)


# --- the MLflow routes -----------------------------------------------------------------------


def test_mlflow_invocations_answer_as_without_llm(serve_endpoint: ServeEndpoint) -> None:
    payload = {"dataframe_records": [{"a": 1}, {"a": 2}]}

    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(seed=3)) as client:
            _, plain = await post(client, payload)
        async with serve_endpoint(EndpointConfig(seed=3, llm=True)) as client:
            ok, scored = await post(client, payload)
            named, by_name = await post(client, payload, "/serving-endpoints/model/invocations")
            other, missing = await post(client, payload, "/serving-endpoints/other/invocations")
            bad, error = await post(client, {"rows": []}, "/serving-endpoints/model/invocations")
        assert (ok, named) == (200, 200)
        assert scored == by_name == plain
        assert other == 404
        assert missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert bad == 400
        assert error["error_code"] == "BAD_REQUEST"

    run_async(scenario)


def test_without_llm_there_are_no_llm_routes(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            status = (await client.post(CHAT, json=chat("hi", 2))).status
            text = await metrics(client)
        assert status == 404
        assert "serving_llm_" not in text

    run_async(scenario)


# --- a real OpenAI client --------------------------------------------------------------------


def test_openai_client_streams_every_token_and_reads_usage() -> None:
    config = EndpointConfig(llm=True, decode_tokens_per_s=200.0)
    messages: Any = [{"role": "user", "content": "Say something."}]
    with serve_in_thread(make_app(config)) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=10.0)
        stream = client.chat.completions.create(
            model="m", messages=messages, stream=True, max_tokens=10
        )
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            usage = chunk.usage or usage
        whole = client.chat.completions.create(model="m", messages=messages, max_tokens=10)
    assert "".join(pieces) == "".join(f"tok{i} " for i in range(10))
    assert finish == "length"
    assert usage is not None
    assert usage.completion_tokens == 10
    assert whole.choices[0].message.content == "".join(pieces)
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (
        usage.prompt_tokens,
        10,
    )
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + 10
