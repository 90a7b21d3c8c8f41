"""The LLM mode's OpenAI wire format: requests read, chunks and answers written, errors shaped;
and its settings as flags and as a scenario's endpoint section."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.scenario.parse import parse_scenario
from harness.servers.endpoint import (
    ApiError,
    EndpointConfig,
    add_arguments,
    config_from_args,
    config_to_argv,
)
from harness.servers.endpoint.llm_openai import (
    CHAT,
    COMPLETION,
    SSE_DONE,
    Answer,
    LlmRequest,
    openai_error,
    parse_request,
)


def _parse(payload: Any, kind: str | None = None) -> LlmRequest:
    return parse_request(payload, kind, default_model="m", default_max_tokens=8)


def _data(event: bytes) -> Any:
    assert event.startswith(b"data: ")
    assert event.endswith(b"\n\n")
    return json.loads(event[len(b"data: ") : -2])


def test_chat_prompt_counts_content_plus_message_framing() -> None:
    request = _parse({"messages": [{"role": "system", "content": "be brief"}, {"role": "user"}]})
    # 3 per message, 3 to prime the reply, "be brief" is 1 + 2.
    assert request == LlmRequest(CHAT, "m", 3 + 3 + 3 + 3, 8, False, "stop")


def test_text_parts_count_like_a_string() -> None:
    parts = [{"type": "text", "text": "abcd efgh"}, {"type": "image_url", "image_url": {}}]
    as_parts = _parse({"messages": [{"role": "user", "content": parts}]})
    as_text = _parse({"messages": [{"role": "user", "content": "abcd efgh"}]})
    assert as_parts.prompt_tokens == as_text.prompt_tokens == 3 + 3 + 2


def test_completion_prompt_forms_and_requested_length() -> None:
    request = _parse({"prompt": "hello", "max_tokens": 3, "stream": True, "model": "x"})
    assert request == LlmRequest(COMPLETION, "x", 2, 3, True, "length")
    assert _parse({"prompt": [1, 2, 3, 4]}).prompt_tokens == 4
    assert _parse({"prompt": ["ab", "cd ef"]}).prompt_tokens == 3
    assert _parse({"prompt": "x", "max_completion_tokens": 5}).max_tokens == 5
    assert request.kv_tokens == 5


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ([], "JSON object"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"prompt": {"text": "x"}}, "prompt"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens=0"),
        ({"prompt": "x", "max_tokens": True}, "max_tokens=True"),
        ({"prompt": "x", "stream": "yes"}, "stream='yes'"),
        ({"prompt": "x", "model": ""}, "model"),
    ],
)
def test_bad_requests_are_400_naming_the_field(payload: Any, mentions: str) -> None:
    with pytest.raises(ApiError) as caught:
        _parse(payload)
    assert caught.value.status == 400
    assert mentions in caught.value.message


def test_chat_chunks_follow_openai_and_end_with_usage() -> None:
    answer = Answer(_parse({"messages": [{"role": "user", "content": "hi"}]}), id="c-1", created=7)
    first, second, last = (
        _data(answer.chunk("tok0 ", 0)),
        _data(answer.chunk("tok1 ", 1)),
        _data(answer.last_chunk()),
    )
    assert first["object"] == "chat.completion.chunk"
    assert (first["id"], first["created"], first["model"]) == ("c-1", 7, "m")
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "tok0 "}
    assert second["choices"][0]["delta"] == {"content": "tok1 "}
    assert second["choices"][0]["finish_reason"] is None
    assert last["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert last["usage"] == {"prompt_tokens": 7, "completion_tokens": 8, "total_tokens": 15}
    assert SSE_DONE == b"data: [DONE]\n\n"


def test_completion_chunks_and_whole_answers_carry_the_text() -> None:
    answer = Answer(_parse({"prompt": "hi", "max_tokens": 2}), id="cmpl-1", created=7)
    chunk = _data(answer.chunk("tok0 ", 0))
    assert (chunk["object"], chunk["choices"][0]["text"]) == ("text_completion", "tok0 ")
    whole = answer.whole("tok0 tok1 ")
    assert whole["choices"][0]["text"] == "tok0 tok1 "
    assert whole["choices"][0]["finish_reason"] == "length"
    assert whole["usage"]["total_tokens"] == 3
    chat = Answer(_parse({"messages": [{"role": "user", "content": "hi"}]}), id="c", created=7)
    assert chat.whole("tok0 ")["object"] == "chat.completion"
    assert chat.whole("tok0 ")["choices"][0]["message"] == {"role": "assistant", "content": "tok0 "}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (429, "rate_limit_error"), (503, "server_error")],
)
def test_errors_take_openai_shape(status: int, kind: str) -> None:
    body = openai_error(ApiError(status, "why"))
    assert body["error"]["type"] == kind
    assert body["error"]["message"] == "why"


# --- settings --------------------------------------------------------------------------------


def test_llm_settings_are_flags_that_round_trip() -> None:
    config = EndpointConfig(llm=True, max_sequences=2, decode_tokens_per_s=12.5)
    argv = config_to_argv(config)
    assert argv == ["--llm", "--decode-tokens-per-s=12.5", "--max-sequences=2"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(argv)) == config
    assert config_from_args(parser.parse_args([])).llm is False


def test_scenario_endpoint_section_sets_llm_fields() -> None:
    scenario = parse_scenario(
        "name: x\n"
        "endpoint: {llm: true, max_sequences: 2, kv_cache_tokens: 512, llm_max_waiting: 3,\n"
        "  llm_queue_timeout_s: 1, prefill_ms_per_token: 0.5, decode_tokens_per_s: 40}\n"
        "load: {rate: 1, duration_s: 1}\n"
    )
    endpoint = scenario.endpoint
    assert endpoint.llm is True
    assert (endpoint.max_sequences, endpoint.kv_cache_tokens, endpoint.llm_max_waiting) == (
        2,
        512,
        3,
    )
    assert (endpoint.llm_queue_timeout_s, endpoint.prefill_ms_per_token) == (1.0, 0.5)
    assert endpoint.decode_tokens_per_s == 40.0


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("decode_tokens_per_s: 0", "endpoint.decode_tokens_per_s"),
        ("max_sequences: 0", "endpoint.max_sequences"),
        ("kv_cache_tokens: -1", "endpoint.kv_cache_tokens"),
        ("default_max_tokens: 0", "endpoint.default_max_tokens"),
    ],
)
def test_bad_llm_setting_names_its_field(setting: str, field: str) -> None:
    with pytest.raises(ScenarioError, match=field):
        parse_scenario(f"name: x\nendpoint: {{{setting}}}\nload: {{rate: 1, duration_s: 1}}\n")
