"""``load.llm``: prompt and answer lengths drawn from distributions or samples, read from a
scenario and written back, made into OpenAI chat or completion bodies whose prompts the
reference endpoint counts at the drawn length, the same for the same request index, and sent
in turn by every engine."""

from __future__ import annotations

import json
import random
import re
import statistics
from dataclasses import replace

import pytest

from harness.errors import ScenarioError
from harness.loadgen.lengths import (
    FixedLength,
    LogNormalLength,
    SampledLength,
    UniformLength,
    length_from_json,
    length_to_json,
)
from harness.loadgen.llm_requests import LlmRequests
from harness.loadgen.native_support import unsupported
from harness.loadgen.payloads import AcceptAny, SampleBodies
from harness.run.load import target_for
from harness.scenario import parse_scenario
from harness.scenario.write import scenario_to_yaml
from harness.servers.endpoint.llm_openai import parse_request

SCENARIO = """\
name: llm
endpoint: {llm: true}
load:
  rate: 5
  duration_s: 2
  stream: true
  llm:
%s
"""
LENGTHS = "    prompt_tokens: 300\n    max_tokens: 16\n"


def _load(llm: str, *, stream: bool = True) -> LlmRequests:
    text = SCENARIO % llm
    if not stream:
        text = text.replace("stream: true", "stream: false")
    found = parse_scenario(text).load.llm
    assert found is not None
    return found


# --- lengths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "length"),
    [
        (64, FixedLength(64)),
        ({"type": "fixed", "tokens": 8}, FixedLength(8)),
        ({"type": "uniform", "lower": 10, "upper": 20}, UniformLength(10, 20)),
        ({"type": "lognormal", "median": 400, "sigma": 0.5}, LogNormalLength(400, 0.5)),
        (
            {"type": "lognormal", "median": 400, "sigma": 0.5, "cap": 900},
            LogNormalLength(400, 0.5, 900),
        ),
        ([16, 32, 32], SampledLength((16, 32, 32))),
    ],
)
def test_each_spelling_reads_and_writes_back(written: object, length: object) -> None:
    read = length_from_json(written)
    assert read == length
    assert length_from_json(length_to_json(read)) == read


def test_draws_stay_in_their_bounds_and_follow_their_distribution() -> None:
    dice = random.Random(1)
    uniform = [UniformLength(10, 20).draw(dice) for _ in range(2000)]
    assert min(uniform) == 10
    assert max(uniform) == 20
    lognormal = [LogNormalLength(400, 0.5).draw(dice) for _ in range(4000)]
    assert 370 < statistics.median(lognormal) < 430
    capped = [LogNormalLength(400, 1.0, 600).draw(dice) for _ in range(2000)]
    assert max(capped) == 600
    assert {SampledLength((16, 64)).draw(dice) for _ in range(200)} == {16, 64}


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (0, "expected max_tokens >= 1 token but got max_tokens=0"),
        (2.5, "whole number of tokens for max_tokens"),
        (True, "a list of samples, or {type: fixed|uniform|lognormal"),
        ("long", "a list of samples, or {type: fixed|uniform|lognormal"),
        ([], "at least one sample length"),
        ({"type": "normal", "mean": 3}, "expected max_tokens.type among"),
        ({"type": "uniform", "lower": 9}, "expected max_tokens.upper for a uniform length"),
        ({"type": "uniform", "lower": 9, "upper": 3}, "expected lower <= upper"),
        ({"type": "uniform", "lower": 1, "upper": 3, "cap": 2}, "but got max_tokens.cap"),
        ({"type": "lognormal", "median": 9, "sigma": -1}, "expected sigma >= 0"),
        ({"type": "lognormal", "median": 90, "sigma": 1, "cap": 9}, "expected cap >= median"),
    ],
)
def test_a_wrong_length_is_refused_naming_the_field(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        length_from_json(written, "max_tokens")


# --- bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_the_reference_endpoint_counts_each_prompt_at_its_drawn_length(api: str) -> None:
    llm = LlmRequests(
        api=api,
        prompt_tokens=UniformLength(7, 2000),
        max_tokens=SampledLength((8, 128)),
        seed=3,
        distinct=64,
    )
    for index, body in enumerate(llm.bodies(stream=True)):
        document = json.loads(body)
        dice = random.Random(f"llm:3:{index}")
        prompt, answer = llm.prompt_tokens.draw(dice), llm.max_tokens.draw(dice)
        request = parse_request(document, None, default_model="m", default_max_tokens=1)
        assert (request.prompt_tokens, request.max_tokens) == (prompt, answer)
        assert request.kind == ("chat" if api == "chat" else "completion")
        assert request.stream is True
        assert document["stream_options"] == {"include_usage": True}


def test_a_chat_prompt_shorter_than_its_framing_gets_one_word() -> None:
    llm = LlmRequests(prompt_tokens=FixedLength(2), distinct=1)
    (body,) = llm.bodies(stream=False)
    request = parse_request(json.loads(body), None, default_model="m", default_max_tokens=1)
    # Three tokens for the message, three for the reply, one word: the least a chat prompt is.
    assert request.prompt_tokens == 7
    assert "stream_options" not in json.loads(body)


def test_the_same_index_gives_the_same_request_and_the_seed_another() -> None:
    llm = LlmRequests(prompt_tokens=LogNormalLength(300, 0.6), max_tokens=UniformLength(1, 99))
    assert llm.bodies(stream=True) == llm.bodies(stream=True)
    assert llm.request(5, stream=True) == llm.request(5, stream=True)
    assert llm.request(5, stream=True) != llm.request(6, stream=True)
    assert replace(llm, seed=1).request(5, stream=True) != llm.request(5, stream=True)
    # Prompts share no prefix a prefix cache could reuse.
    prompts = {json.loads(body)["messages"][0]["content"][:40] for body in llm.bodies(stream=True)}
    assert len(prompts) == llm.distinct


def test_model_is_sent_only_when_given() -> None:
    assert "model" not in LlmRequests().request(0, stream=True)
    assert LlmRequests(model="llama").request(0, stream=True)["model"] == "llama"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api": "embeddings"}, "expected api among ['chat', 'completions']"),
        ({"seed": -1}, "expected an integer seed >= 0"),
        ({"distinct": 0}, "expected an integer distinct >= 1"),
        ({"model": ""}, "expected model as a non-empty string"),
    ],
)
def test_a_wrong_setting_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LlmRequests(**change)  # type: ignore[arg-type]


# --- scenarios --------------------------------------------------------------------------


def test_load_llm_reads_every_field_and_writes_back_the_same() -> None:
    text = SCENARIO % (
        "    api: completions\n"
        "    prompt_tokens: {type: lognormal, median: 500, sigma: 0.4, cap: 2000}\n"
        "    max_tokens: [16, 32]\n"
        "    model: reference\n"
        "    seed: 9\n"
        "    distinct: 32\n"
    )
    scenario = parse_scenario(text)
    assert scenario.load.llm == LlmRequests(
        api="completions",
        prompt_tokens=LogNormalLength(500, 0.4, 2000),
        max_tokens=SampledLength((16, 32)),
        model="reference",
        seed=9,
        distinct=32,
    )
    assert parse_scenario(scenario_to_yaml(scenario)).load == scenario.load
    # Defaults are left out of the file.
    assert "seed" not in scenario_to_yaml(parse_scenario(SCENARIO % LENGTHS))


def test_the_bodies_carry_the_loads_stream_setting() -> None:
    streamed = parse_scenario(SCENARIO % LENGTHS).load
    whole = replace(streamed, stream=False)
    assert all(json.loads(body)["stream"] is True for body in streamed.sample_bodies())
    assert all(json.loads(body)["stream"] is False for body in whole.sample_bodies())
    assert len(streamed.sample_bodies()) == 256


def test_every_engine_sends_them_as_samples_the_native_one_included() -> None:
    load = parse_scenario(SCENARIO % LENGTHS).load
    target = target_for("http://127.0.0.1:9/invocations", load)
    assert isinstance(target.body, SampleBodies)
    assert target.body.samples == load.sample_bodies()
    assert target.body(3) == load.sample_bodies()[3]
    assert isinstance(target.validator, AcceptAny)
    assert unsupported(target) is None


@pytest.mark.parametrize(
    ("llm", "field", "message"),
    [
        ("    max_tokens: 16\n", "load.llm.prompt_tokens", "required field is missing"),
        (
            "    prompt_tokens: 30\n    max_tokens: {type: uniform, lower: 4}\n",
            "load.llm.max_tokens",
            "expected load.llm.max_tokens.upper for a uniform length but it is missing",
        ),
        (LENGTHS + "    api: embeddings\n", "load.llm.api", "expected one of"),
        (LENGTHS + "    seeds: 3\n", "load.llm.seeds", "unknown field"),
        (LENGTHS + "    distinct: 0\n", "load.llm.distinct", "expected distinct >= 1"),
    ],
)
def test_a_wrong_load_llm_names_its_field_and_line(llm: str, field: str, message: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(SCENARIO % llm, source="llm.yaml")
    assert raised.value.field == field
    assert message in str(raised.value)
    assert "llm.yaml:" in str(raised.value)


def test_load_llm_and_a_body_are_refused_together() -> None:
    text = (SCENARIO % LENGTHS).replace("  stream: true\n", '  stream: true\n  body: {"a": 1}\n')
    with pytest.raises(ScenarioError, match=re.escape("give load.llm or load.body, not both")):
        parse_scenario(text)
