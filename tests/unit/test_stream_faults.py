"""Stream faults: where a streamed answer is broken (after N events, at its end) in the raw
bytes however they are split, answers that are not streams untouched, and the fault as a
scenario and the control API write it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.http import StreamFault, fault_from_json, fault_to_json
from harness.errors import ScenarioError
from harness.scenario import parse_scenario
from harness.servers.front.streams import StreamBreaker
from harness.servers.httpfaults.events import EventSplitter, spoil

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


EVENTS = [b'data: {"n": %d}\n\n' % n for n in range(5)]
ANSWER = HEAD + b"".join(_chunk(e) for e in EVENTS) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"


def _run(fault: StreamFault, answer: bytes, cuts: list[int]) -> tuple[bytes, bytes, bool]:
    breaker = StreamBreaker(fault)
    out, rest, at = b"", b"", 0
    for cut in [*sorted(set(cuts)), len(answer)]:
        piece = answer[at : max(cut, at)]
        at = max(cut, at)
        now, later = breaker.split(piece)
        out, rest = out + now, rest + later
    return out, rest, breaker.tripped


@given(cuts=st.lists(st.integers(0, len(ANSWER)), max_size=10))
def test_it_trips_right_after_the_nth_event_however_the_bytes_come(cuts: list[int]) -> None:
    out, rest, tripped = _run(StreamFault("cut", after_events=3), ANSWER, cuts)

    assert tripped
    assert out + rest == ANSWER
    assert out.endswith(EVENTS[2])
    assert out.count(b"\n\n") == 3


@given(cuts=st.lists(st.integers(0, len(ANSWER)), max_size=10))
def test_no_done_holds_back_the_end_and_everything_after(cuts: list[int]) -> None:
    out, rest, tripped = _run(StreamFault("no_done"), ANSWER, cuts)

    assert tripped
    assert rest.startswith(b"data: [DONE]")
    assert out.count(b"\n\n") == 5


def test_an_answer_that_is_not_an_event_stream_passes_untouched() -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": "\\n\\n\\n\\n"}'

    out, rest, tripped = _run(StreamFault("cut", after_events=0), answer, [20, 70])

    assert (out, rest, tripped) == (answer, b"", False)


def test_zero_events_trips_at_the_first_byte_of_the_body() -> None:
    out, rest, _ = _run(StreamFault("stall", after_events=0), ANSWER, [])

    assert (out, rest) == (HEAD, ANSWER[len(HEAD) :])


def test_the_fault_travels_as_the_control_api_and_a_scenario_write_it() -> None:
    fault = StreamFault("stall", after_events=2, stall_ms=500, percentage=50)

    assert (
        fault_from_json("stream", {k: v for k, v in fault_to_json(fault).items() if k != "kind"})
        == fault
    )
    with pytest.raises(ValueError, match="expected action among"):
        StreamFault("pause")
    with pytest.raises(ValueError, match="after_events >= 0"):
        StreamFault("cut", after_events=-1)


def test_a_stream_fault_aims_at_the_endpoint_or_a_dependency_that_can_stream() -> None:
    text = (
        "name: x\nload: {rate: 10, duration_s: 6}\nfaults:\n"
        "  - {name: s, type: stream, target: %s, start_s: 1, duration_s: 1,\n"
        "     attributes: {action: cut, after_events: 2}}\n"
    )
    scenario = parse_scenario(text % "endpoint")

    assert scenario.faults[0].fault.faults == (StreamFault("cut", after_events=2),)  # type: ignore[attr-defined]
    # The reference system's feature store answers JSON only: a stream fault there is a mistake.
    with pytest.raises(ScenarioError, match="a features stub, whose answers are never event"):
        parse_scenario(text % "feature-store")
    routes = (
        "target: {command: [my-server]}\ndependencies:\n"
        "  llm-api: {kind: routes, routes: [{path: /v1, response: {stream: {events: [1]}}}]}\n"
    )
    on_stub = parse_scenario(routes + text % "llm-api")
    assert on_stub.faults[0].fault.target == "llm-api"


def test_events_are_cut_whole_and_the_closing_framing_gives_itself_up() -> None:
    splitter = EventSplitter()
    body = ANSWER[len(HEAD) :]

    found = splitter.events(body[:30]) + splitter.events(body[30:])

    assert b"".join(found) + splitter.framing() == body
    assert all(event.endswith(b"\n\n") for event in found)
    assert len(found) == 6


def test_a_spoilt_event_keeps_its_length_and_no_longer_parses() -> None:
    event = EVENTS[3]

    spoilt = spoil(event)

    assert len(spoilt) == len(event)
    assert spoilt.startswith(b"data: !")
    assert spoil(b"\r\n") == b"\r\n"
