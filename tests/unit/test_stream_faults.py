"""Stream faults: where a streamed answer is broken (after N events, at its end) in the raw
bytes however they are split, answers that are not streams untouched, and the fault as a
scenario and the control API write it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.http import StreamFault, fault_from_json, fault_to_json
from harness.errors import ScenarioError
from harness.scenario import parse_scenario
from harness.servers.front.streams import StreamBreaker
from harness.servers.httpfaults.events import EventEnds, EventSplitter, is_done, spoil

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


# The spec makes the space after a field's colon optional; some servers leave it out.
TERSE = HEAD + b"".join(_chunk(e.replace(b"data: ", b"data:")) for e in EVENTS)
TERSE += _chunk(b"data:[DONE]\n\n") + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "done"), [(ANSWER, b"data: [DONE]"), (TERSE, b"data:[DONE]")], ids=["space", "none"]
)
@given(cuts=st.lists(st.integers(0, len(ANSWER)), max_size=10))
def test_no_done_holds_back_the_end_and_everything_after(
    answer: bytes, done: bytes, cuts: list[int]
) -> None:
    out, rest, tripped = _run(StreamFault("no_done"), answer, cuts)

    assert tripped
    assert rest.startswith(done)
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
    splitter = EventSplitter(EventEnds(chunked=True))
    body = ANSWER[len(HEAD) :]

    found = splitter.events(body[:30]) + splitter.events(body[30:])

    assert b"".join(found) + splitter.framing() == body
    assert all(event.endswith(b"\n\n") for event in found)
    assert len(found) == 6


def test_a_data_field_without_its_space_is_spoilt_and_ends_the_stream_the_same() -> None:
    assert spoil(b'data:{"n": 1}\n\n') == b'data:!"n": 1}\n\n'
    assert spoil(b": comment\ndata: {}\n\n") == b": comment\ndata: !}\n\n"
    # Nothing to spoil: the line end stays a line end.
    assert spoil(b"data:\n\n") == b"data:\n\n"
    assert is_done(b"data:[DONE]\r\n\r\n")
    assert is_done(b"data: [DONE]\n\n")
    assert not is_done(b'data: {"text": "[DONE]"}\n\n')


def test_a_spoilt_event_keeps_its_length_and_no_longer_parses() -> None:
    event = EVENTS[3]

    spoilt = spoil(event)

    assert len(spoilt) == len(event)
    assert spoilt.startswith(b"data: !")
    assert spoil(b"\r\n") == b"\r\n"


# Events as servers write them: a few lines each (data, comments, ids), every line ended with
# the stream's one line end; sse-starlette writes \r\n, most servers \n.
_LINE = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), min_size=1, max_size=12)
_EVENT = st.lists(_LINE, min_size=1, max_size=3)


def _encode(events: list[list[str]], newline: str) -> tuple[bytes, list[int]]:
    """The stream's bytes and where each event ends in them."""
    body, ends = b"", []
    for lines in events:
        body += "".join(line + newline for line in lines).encode() + newline.encode()
        ends.append(len(body))
    return body, ends


def _chunked(body: bytes, sizes: list[int]) -> tuple[bytes, list[int]]:
    """``body`` in chunks of ``sizes`` (the rest in one), with the last chunk, and where each
    body byte lands in the raw bytes."""
    raw, at = b"", 0
    where: list[int] = []
    for size in [*sizes, len(body)]:
        piece = body[at : at + size]
        if not piece:
            continue
        raw += f"{len(piece):x}\r\n".encode()
        where.extend(range(len(raw), len(raw) + len(piece)))
        raw += piece + b"\r\n"
        at += len(piece)
    return raw + b"0\r\n\r\n", where


def _pieces(raw: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    """``raw`` read in pieces split at ``cuts``, each with its offset."""
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(raw)}), len(raw)]
    return [(a, raw[a:b]) for a, b in itertools.pairwise(bounds)]


def _feed(ends: EventEnds, raw: bytes, cuts: list[int]) -> list[int]:
    return [at + offset for at, piece in _pieces(raw, cuts) for offset in ends.feed(piece)]


@given(
    events=st.lists(_EVENT, min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_events_end_at_their_blank_line_whatever_line_end_and_reads(
    events: list[list[str]], newline: str, cuts: list[int]
) -> None:
    body, ends = _encode(events, newline)
    # A blank line of a lone \r ends its event once the next byte says it is not a \r\n: the
    # stream's last event waits.
    expected = ends if newline != "\r" else ends[:-1]

    found = _feed(EventEnds(), body, cuts)

    assert found == expected


@given(
    events=st.lists(_EVENT, min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    sizes=st.lists(st.integers(1, 40), max_size=8),
    cuts=st.lists(st.integers(0, 600), max_size=8),
)
def test_in_raw_chunks_events_end_past_their_blank_line_and_framing_is_skipped(
    events: list[list[str]], newline: str, sizes: list[int], cuts: list[int]
) -> None:
    body, ends = _encode(events, newline)
    raw, where = _chunked(body, sizes)

    found = _feed(EventEnds(chunked=True), raw, cuts)

    assert found == [where[end - 1] + 1 for end in ends]


@given(
    events=st.lists(_EVENT, min_size=2, max_size=6),
    sizes=st.lists(st.integers(1, 40), max_size=8),
    cuts=st.lists(st.integers(0, 600), max_size=8),
)
def test_a_reader_stopped_at_its_limit_carries_on_from_there(
    events: list[list[str]], sizes: list[int], cuts: list[int]
) -> None:
    body, ends = _encode(events, "\r\n")
    raw, where = _chunked(body, sizes)
    reader = EventEnds(chunked=True)

    first = reader.feed(raw, limit=1)
    rest = raw[first[0] :]
    splitter = EventSplitter(reader)
    found = [event for _, piece in _pieces(rest, cuts) for event in splitter.events(piece)]

    assert first == [where[ends[0] - 1] + 1]
    assert len(found) == len(events) - 1
    assert b"".join(found) + splitter.framing() == rest


def test_sse_starlette_style_answers_trip_after_their_nth_event() -> None:
    events = [b'data: {"n": %d}\r\n\r\n' % n for n in range(4)]
    answer = HEAD + b"".join(_chunk(event) for event in events) + b"0\r\n\r\n"

    out, rest, tripped = _run(StreamFault(action="cut", after_events=2), answer, [])

    assert tripped
    assert out == HEAD + _chunk(events[0]) + _chunk(events[1])[:-2]
    assert rest.startswith(b"\r\n")
    assert out + rest == answer


def test_blank_lines_that_end_no_event_are_not_counted() -> None:
    assert EventEnds().feed(b"\n\r\n\ndata: x\n\n\n\n: ping\n\n") == [13, 23]
