"""Streamed stub answers without a server: a route's ``stream`` as a spec writes it (every error
naming its field, the JSON round trip, through a scenario's dependencies too), the events it
makes, and what each stream fault does to a stream of whole events, on an injected clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.http import StreamFault
from harness.errors import ScenarioError
from harness.loadgen.streams import StreamReader
from harness.scenario import parse_scenario
from harness.servers.httpfaults.event_faults import EventBreaker, Step
from harness.servers.httpfaults.events import DONE_EVENT, data_event, is_done
from harness.servers.stub import RoutesSpec, StubSpecError, stub_spec_from_json, stub_spec_to_json
from harness.servers.stub.route_stream import ChatText, RouteStream, paced
from harness.servers.stub.routes import Route
from harness.servers.stub.template import CallValues


def _route(stream: Any, **response: Any) -> dict[str, Any]:
    return {"path": {"regex": "/v1/(?P<name>[a-z]+)"}, "response": {"stream": stream, **response}}


def _read(*routes: Any) -> tuple[Route, ...]:
    spec = stub_spec_from_json({"kind": "routes", "routes": list(routes)})
    assert isinstance(spec, RoutesSpec)
    return spec.routes


VALUES = CallValues("POST", "/v1/chat", {"name": "chat"}, {"q": "7"}, {"model": "m", "n": 3})


# --- reading ---------------------------------------------------------------------------------


def test_a_stream_reads_its_events_rate_and_end() -> None:
    (route,) = _read(
        _route({"events": [{"n": 1}, "text"], "events_per_s": 25, "done": False}, status=201)
    )
    stream = route.response.stream
    assert stream == RouteStream(events_json='[{"n": 1}, "text"]', events_per_s=25.0, done=False)
    assert route.response.status == 201
    (chat,) = _read(_route({"chat": {"text": "a b", "tokens": 2, "model": "x"}}))
    assert chat.response.stream == RouteStream(chat=ChatText("a b", 2, "x"))


@pytest.mark.parametrize(
    "stream",
    [
        {"events": [{"n": "{{body.n}}"}, "plain {{path.name}}", 3, None], "events_per_s": 12.5},
        {"events": [], "done": False},
        {"chat": {"text": "one two"}},
        {"chat": {"text": "{{body.model}} says", "tokens": 4, "model": "{{body.model}}"}},
    ],
)
def test_a_stream_route_round_trips_through_its_json(stream: dict[str, Any]) -> None:
    spec = stub_spec_from_json({"kind": "routes", "routes": [_route(stream)]})

    assert stub_spec_from_json(json.loads(json.dumps(stub_spec_to_json(spec)))) == spec


@pytest.mark.parametrize(
    ("stream", "field", "message"),
    [
        ([1], "response.stream", "expected a stream object"),
        ({}, "response.stream", "exactly one of ['events', 'chat'] in a stream but got []"),
        ({"events": [], "chat": {"text": "a"}}, "response.stream", "but got ['events', 'chat']"),
        ({"events": {"a": 1}}, "response.stream.events", "expected a list of events"),
        ({"events": [float("nan")]}, "response.stream.events", "expected JSON values"),
        ({"events": [], "rate": 3}, "response.stream.rate", "unknown field 'rate'"),
        ({"events": [], "events_per_s": 0}, "response.stream.events_per_s", "in (0, 100000]"),
        ({"events": [], "events_per_s": True}, "response.stream.events_per_s", "a number"),
        ({"events": [], "events_per_s": 1e9}, "response.stream.events_per_s", "but got"),
        ({"events": [], "done": "yes"}, "response.stream.done", "expected true or false"),
        ({"chat": "hi"}, "response.stream.chat", "expected a chat object"),
        ({"chat": {"text": ""}}, "response.stream.chat.text", "a non-empty string"),
        ({"chat": {"text": "a", "tokens": 0}}, "response.stream.chat.tokens", "1..1000000"),
        ({"chat": {"text": "a", "words": 2}}, "response.stream.chat.words", "unknown field"),
        ({"chat": {"text": "a", "model": 3}}, "response.stream.chat.model", "a non-empty"),
        ({"events": ["{{nope}}"]}, "response.stream", "but got {{nope}}"),
        ({"chat": {"text": "{{path.id}}"}}, "response.stream", "named group of the path regex"),
    ],
)
def test_stream_errors_name_the_field(stream: Any, field: str, message: str) -> None:
    with pytest.raises(StubSpecError) as caught:
        _read({"path": "/ok", "response": {}}, _route(stream))

    assert caught.value.field == f"routes[1].{field}"
    assert message in caught.value.message


def test_a_response_has_one_body_only() -> None:
    with pytest.raises(StubSpecError) as caught:
        _read(_route({"events": []}, json={"a": 1}))

    assert caught.value.field == "routes[0].response.stream"
    assert "either json or stream in a response but got both" in caught.value.message


def test_a_streaming_dependency_passes_through_a_scenario_and_its_errors_name_the_field() -> None:
    text = (
        "name: x\ntarget: {command: [my-server]}\nload: {rate: 1, duration_s: 1}\n"
        "dependencies:\n  llm-api:\n    kind: routes\n    routes:\n"
        "      - {path: /v1/chat, response: {stream: %s}}\n"
    )
    stream = {"chat": {"text": "hello there", "tokens": 2}, "events_per_s": 40}
    (dependency,) = parse_scenario(text % json.dumps(stream)).dependencies

    spec = stub_spec_from_json(json.loads(dependency.spec))
    assert isinstance(spec, RoutesSpec)
    assert spec.routes[0].response.stream == RouteStream(
        chat=ChatText("hello there", 2), events_per_s=40.0
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text % "{events: [1], events_per_s: -2}")
    assert caught.value.field == "dependencies.llm-api.routes[0].response.stream.events_per_s"


# --- the events ------------------------------------------------------------------------------


def test_events_are_templated_json_or_text_a_data_line_each() -> None:
    stream = RouteStream(events_json=json.dumps([{"n": "{{body.n}}"}, "on {{path.name}}\nnext"]))

    assert stream.events(VALUES) == [b'data: {"n":3}\n\n', b"data: on chat\ndata: next\n\n"]


@pytest.mark.parametrize(
    ("chat", "pieces"),
    [
        (ChatText("The answer is 42."), ["The", " answer", " is", " 42."]),
        (ChatText("abcdefg", tokens=3), ["abc", "de", "fg"]),
        (ChatText("{{body.model}} ok", model="{{body.model}}"), ["m", " ok"]),
    ],
)
def test_a_chat_is_chunks_as_openai_streams_them(chat: ChatText, pieces: list[str]) -> None:
    events = chat.events(VALUES)
    chunks = [json.loads(event.removeprefix(b"data: ")) for event in events]

    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == pieces
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == len(pieces)
    # What the load engine reads from them: a token per piece, a stream that ended properly.
    reader = StreamReader(0.0)
    for at, event in enumerate(events):
        reader.feed(event, float(at))
    times = reader.times()
    assert (times.tokens, times.complete, times.malformed) == (len(pieces), True, 0)


def test_the_chunks_parse_as_the_openai_sdk_reads_them() -> None:
    chunk_type = pytest.importorskip("openai.types.chat").ChatCompletionChunk

    for event in ChatText("one two", model="gpt-stub").events(VALUES):
        chunk = chunk_type.model_validate_json(event.removeprefix(b"data: "))
        assert chunk.model == "gpt-stub"


def test_paced_events_end_with_done_when_asked() -> None:
    async def collect(done: bool) -> list[bytes]:
        return [event async for event in paced([b"data: 1\n\n", b"data: 2\n\n"], 1e5, done)]

    assert asyncio.run(collect(True)) == [b"data: 1\n\n", b"data: 2\n\n", DONE_EVENT]
    assert asyncio.run(collect(False)) == [b"data: 1\n\n", b"data: 2\n\n"]


# --- stream faults on whole events -----------------------------------------------------------

EVENTS = [data_event(json.dumps({"n": n})) for n in range(5)] + [DONE_EVENT]


def _steps(fault: StreamFault, every_s: float = 0.05) -> list[Step]:
    """The steps for EVENTS, each ready ``every_s`` after the one before was let out."""
    breaker = EventBreaker(fault)
    steps, now = [], 0.0
    for event in EVENTS:
        step = breaker.step(event, now)
        steps.append(step)
        if step.what != "send":
            break
        now = max(now, step.not_before) + every_s
    return steps


@given(after=st.integers(0, 8), action=st.sampled_from(["stall", "cut", "slow", "malformed"]))
def test_the_first_after_events_go_out_as_they_are(after: int, action: str) -> None:
    steps = _steps(StreamFault(action, after_events=after))

    untouched = steps[: min(after, len(EVENTS))]
    assert [s.event for s in untouched] == EVENTS[: len(untouched)]
    assert all(s.what == "send" and s.not_before == i * 0.05 for i, s in enumerate(untouched))


def test_a_stall_holds_the_next_event_once() -> None:
    steps = _steps(StreamFault("stall", after_events=2, stall_ms=400))

    assert [s.what for s in steps] == ["send"] * len(EVENTS)
    assert [round(s.not_before, 3) for s in steps] == [0.0, 0.05, 0.5, 0.55, 0.6, 0.65]


def test_a_cut_ends_the_stream_after_the_nth_event() -> None:
    steps = _steps(StreamFault("cut", after_events=3))

    assert [s.what for s in steps] == ["send", "send", "send", "cut"]


def test_a_slow_stream_lets_each_event_out_an_interval_after_the_last() -> None:
    steps = _steps(StreamFault("slow", after_events=2, events_per_s=10), every_s=0.01)

    assert [round(s.not_before, 3) for s in steps] == [0.0, 0.01, 0.11, 0.21, 0.31, 0.41]


def test_a_malformed_fault_spoils_the_next_event_only() -> None:
    steps = _steps(StreamFault("malformed", after_events=1))

    assert [s.event.startswith(b"data: !") for s in steps] == [False, True, *[False] * 4]
    assert [len(s.event) for s in steps] == [len(e) for e in EVENTS]


def test_no_done_sends_every_event_but_the_end_and_then_holds() -> None:
    steps = _steps(StreamFault("no_done", after_events=2))

    assert [s.what for s in steps] == ["send"] * 5 + ["hold"]
    assert not any(is_done(s.event) for s in steps)
    # A stream without [DONE] is not held: nothing trips.
    breaker = EventBreaker(StreamFault("no_done"))
    assert all(breaker.step(e, 0.0).what == "send" for e in EVENTS[:-1])
    assert not breaker.tripped
