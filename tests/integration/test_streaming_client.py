"""A streaming client under test: the OpenAI SDK from PyPI (``stream=True``) called open loop
by the harness, against the reference endpoint's LLM mode through the HTTP fault layer; the
harness times each chunk the SDK yields, so the client's users' first token and token pace are
budgets like any other. Everything binds 127.0.0.1 (process backend)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

openai = pytest.importorskip("openai")

PREFILL_MS, TOKENS_PER_S, MAX_TOKENS = 2.0, 40.0, 8


def openai_stream(url: str, payload: dict[str, Any]) -> Any:
    """The user's client: the harness's per-call URL ends in the endpoint's invocations route;
    the SDK wants the /v1 base beside it."""
    base = re.sub(r"/(serving-endpoints/[^/]+/)?invocations$", "/v1", url)
    client = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
    return client.chat.completions.create(
        model="reference", messages=payload["messages"], max_tokens=MAX_TOKENS, stream=True
    )


def generator_client(url: str, payload: dict[str, Any]) -> Iterator[str]:
    """A client of one's own that yields its chunks, then fails half way: a cut stream."""
    for n in range(3):
        time.sleep(0.02)
        yield f"chunk{n}"
    raise ConnectionResetError("the stream was cut")


SCENARIO = f"""\
name: streaming-client
endpoint: {{llm: true, prefill_ms_per_token: {PREFILL_MS}, decode_tokens_per_s: {TOKENS_PER_S}}}
client:
  callable: tests.integration.test_streaming_client:%s
  payload: {{messages: [{{role: user, content: "one two three four"}}]}}
load: {{rate: 5, duration_s: 2, timeout_s: 5, slo: {{ttft_ms: 500}}, stream: true}}
"""


def test_the_openai_sdk_streams_through_the_fault_layer_and_each_chunk_is_timed() -> None:
    result = run_scenario(parse_scenario(SCENARIO % "openai_stream"), backend="process")

    overall = result.phases["overall"]
    stream = overall.tally.stream
    assert stream is not None
    assert overall.errors == 0
    assert (stream.streams, stream.complete, stream.good) == (10, 10, 10)
    # Each token a chunk, and the last chunk carries the finish reason and usage.
    assert stream.tokens == 10 * (MAX_TOKENS + 1)
    gap_ms = 1000 / TOKENS_PER_S
    assert stream.percentile_ms("itl", 50) == pytest.approx(gap_ms, rel=0.1)
    # Prefill of a short prompt is milliseconds; the SDK's own set-up per call adds a few more.
    ttft = stream.percentile_ms("ttft", 50)
    assert ttft is not None
    assert ttft < 200


def test_a_client_stream_that_fails_half_way_is_a_cut_stream() -> None:
    result = run_scenario(parse_scenario(SCENARIO % "generator_client"), backend="process")

    overall = result.phases["overall"]
    stream = overall.tally.stream
    assert stream is not None
    assert overall.tally.failures == {"ConnectionResetError": 10}
    assert (stream.streams, stream.complete, stream.good, stream.tokens) == (10, 0, 0, 30)
    assert stream.percentile_ms("itl", 50) == pytest.approx(20, rel=0.25)
