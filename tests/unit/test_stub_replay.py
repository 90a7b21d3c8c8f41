"""Replaying a recording without a server: which exchange answers a call, the cycling among
equal calls, and the recording file's round trip and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.servers.stub import StubSpecError, read_recording, write_recording
from harness.servers.stub.recording import (
    Exchange,
    RecordedRequest,
    RecordedResponse,
    exchanges_from_json,
    joined_headers,
    recording_to_json,
)
from harness.servers.stub.replay import Replayer, call_key


def _exchange(method: str, path: str, body: bytes, answer: bytes, ms: float = 1.0) -> Exchange:
    return Exchange(
        RecordedRequest(method, path, (("Content-Type", "application/json"),), body),
        RecordedResponse(200, (("Content-Type", "application/json"),), answer),
        ms,
    )


def _answers(replayer: Replayer, method: str, path: str, body: bytes, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        found = replayer.answer(method, path, body)
        assert found is not None
        out.append(found.response.body)
    return out


def test_method_path_and_body_choose_the_exchange() -> None:
    replayer = Replayer(
        [
            _exchange("POST", "/score", b'{"id": 1}', b"one"),
            _exchange("POST", "/score", b'{"id": 2}', b"two"),
            _exchange("GET", "/score", b"", b"get"),
        ]
    )
    assert _answers(replayer, "POST", "/score", b'{"id": 2}', 1) == [b"two"]
    # JSON bodies compare by value: spacing and key order do not matter.
    assert _answers(replayer, "post", "/score", b'{ "id":1 }', 1) == [b"one"]
    assert _answers(replayer, "GET", "/score", b"", 1) == [b"get"]
    assert replayer.answer("DELETE", "/score", b"") is None
    assert replayer.answer("GET", "/other", b"") is None


def test_equal_calls_cycle_in_recorded_order() -> None:
    replayer = Replayer(
        [
            _exchange("GET", "/flaky", b"", b"a"),
            _exchange("GET", "/other", b"", b"x"),
            _exchange("GET", "/flaky", b"", b"b"),
            _exchange("GET", "/flaky", b"", b"c"),
        ]
    )
    assert _answers(replayer, "GET", "/flaky", b"", 7) == [b"a", b"b", b"c", b"a", b"b", b"c", b"a"]


def test_unknown_body_falls_back_to_method_and_path() -> None:
    replayer = Replayer(
        [
            _exchange("POST", "/score", b'{"id": 1}', b"one"),
            _exchange("POST", "/score", b'{"id": 2}', b"two"),
        ]
    )
    assert _answers(replayer, "POST", "/score", b'{"id": 3}', 3) == [b"one", b"two", b"one"]
    # The exact match keeps its own turn, apart from the fallback's.
    assert _answers(replayer, "POST", "/score", b'{"id": 2}', 2) == [b"two", b"two"]


def test_query_parameters_match_in_any_order() -> None:
    replayer = Replayer([_exchange("GET", "/s?b=2&a=1", b"", b"found")])
    assert _answers(replayer, "GET", "/s?a=1&b=2", b"", 1) == [b"found"]
    assert replayer.answer("GET", "/s?a=1", b"") is None
    assert replayer.answer("GET", "/s", b"") is None
    assert call_key("get", "/s?b=2&a=1") == ("GET", "/s?a=1&b=2")


def test_recorded_lists_each_call_once_in_order() -> None:
    replayer = Replayer(
        [
            _exchange("GET", "/b", b"", b""),
            _exchange("POST", "/a", b"1", b""),
            _exchange("GET", "/b", b"", b""),
        ]
    )
    assert replayer.recorded() == ["GET /b", "POST /a"]


# --- the recording file ----------------------------------------------------------------------

_headers = st.lists(
    st.tuples(st.sampled_from(["Content-Type", "X-A", "x-b"]), st.text("abc ;=", max_size=6)),
    max_size=3,
).map(joined_headers)
_exchanges = st.builds(
    Exchange,
    st.builds(
        RecordedRequest,
        st.sampled_from(["GET", "POST", "PUT"]),
        st.text("abc/?=&%", max_size=10).map(lambda p: "/" + p),
        _headers,
        st.binary(max_size=20),
    ),
    st.builds(RecordedResponse, st.integers(100, 599), _headers, st.binary(max_size=20)),
    st.floats(0, 1e5, allow_nan=False),
)


@given(st.lists(_exchanges, max_size=5))
def test_recording_json_round_trips_any_bytes(exchanges: list[Exchange]) -> None:
    doc = json.loads(json.dumps(recording_to_json("http://api", exchanges)))
    assert doc["version"] == 1
    assert doc["upstream"] == "http://api"
    assert exchanges_from_json(doc["exchanges"]) == tuple(exchanges)


_STREAM = b'data: {"n": 1}\n\ndata: {"n": 2}\r\n\r\ndata: [DONE]\n\n'


def _streamed(times: list[Any]) -> dict[str, Any]:
    return {
        "exchanges": [
            {
                "request": {"method": "POST", "path": "/v1/chat/completions"},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "text/event-stream"},
                    "body": _STREAM.decode(),
                    "events_ms": times,
                },
            }
        ]
    }


def test_a_streams_event_times_round_trip_and_count_one_per_event(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(_streamed([0, 20.5, 20.5])))

    (exchange,) = read_recording(path)

    assert exchange.response.events_ms == (0.0, 20.5, 20.5)
    assert recording_to_json("http://api", [exchange])["exchanges"][0]["response"]["events_ms"] == [
        0,
        20.5,
        20.5,
    ]
    # An answer without times writes none.
    plain = _exchange("GET", "/", b"", b"{}")
    assert "events_ms" not in recording_to_json("http://api", [plain])["exchanges"][0]["response"]


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ([0, 20], "expected 3 times, one per event of the body, but got 2"),
        ([0, -1, 5], "expected a time in ms >= 0 but got -1"),
        ([0, 30, 20], "expected times in order but got 20 after 30"),
        ([0, "a", 5], "expected a time in ms >= 0 but got 'a'"),
        ({"a": 1}, "expected a list of times in ms, one per event"),
    ],
)
def test_bad_event_times_say_what_a_stream_needs(times: Any, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(_streamed(times)))
    with pytest.raises(StubSpecError) as caught:
        read_recording(path)
    assert caught.value.field.startswith("exchanges[0].response.events_ms")
    assert message in caught.value.message


def test_recording_file_round_trip_keeps_text_as_text(tmp_path: Path) -> None:
    exchanges = [
        _exchange("POST", "/v1?x=1", '{"q": "é"}'.encode(), b'{"a": 1}', 41.5),
        _exchange("GET", "/bin", b"", b"\xff\x00\xfe", 3.0),
    ]
    path = tmp_path / "deep" / "rec.json"
    write_recording(path, "https://api.example.com", exchanges)
    assert read_recording(path) == tuple(exchanges)
    doc = json.loads(path.read_text())
    assert doc["exchanges"][0]["request"]["body"] == '{"q": "é"}'
    assert doc["exchanges"][1]["response"] == {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body_base64": "/wD+",
    }


def test_repeated_headers_are_joined_under_the_first_spelling() -> None:
    assert joined_headers([("Accept", "a"), ("X", "1"), ("accept", "b")]) == (
        ("Accept", "a, b"),
        ("X", "1"),
    )


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ([], "", "expected a recording"),
        ({"version": 2, "exchanges": []}, "version", "version=2"),
        ({"exchanges": {}}, "exchanges", "expected a list of exchanges"),
        ({"exchanges": [{}]}, "exchanges[0].request", "expected a request"),
        (
            {"exchanges": [{"request": {"path": "/"}, "response": {"status": 200}}]},
            "exchanges[0].request.method",
            "expected a non-empty string but got method=None",
        ),
        (
            {"exchanges": [{"request": {"method": "GET", "path": "x"}, "response": {}}]},
            "exchanges[0].request.path",
            "starting with /",
        ),
        (
            {"exchanges": [{"request": {"method": "GET", "path": "/"}, "response": {}}]},
            "exchanges[0].response.status",
            "expected an integer in 100..599",
        ),
        (
            {
                "exchanges": [
                    {
                        "request": {"method": "GET", "path": "/", "body_base64": "@@"},
                        "response": {"status": 200},
                    }
                ]
            },
            "exchanges[0].request.body_base64",
            "expected base64",
        ),
        (
            {
                "exchanges": [
                    {
                        "request": {"method": "GET", "path": "/", "headers": {"A": 1}},
                        "response": {"status": 200},
                    }
                ]
            },
            "exchanges[0].request.headers.A",
            "expected a string but got A=1",
        ),
        (
            {
                "exchanges": [
                    {
                        "request": {"method": "GET", "path": "/"},
                        "response": {"status": 200, "body": "", "body_base64": ""},
                    }
                ]
            },
            "exchanges[0].response.body_base64",
            "either body or body_base64",
        ),
        (
            {
                "exchanges": [
                    {
                        "request": {"method": "GET", "path": "/"},
                        "response": {"status": 200},
                        "latency_ms": -1,
                    }
                ]
            },
            "exchanges[0].latency_ms",
            "expected a number >= 0 but got latency_ms=-1",
        ),
    ],
)
def test_bad_recording_names_file_and_field(
    doc: Any, field: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(StubSpecError) as caught:
        read_recording(path)
    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.message.startswith(f"{path}: ")


def test_unreadable_recording_is_a_spec_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"exchanges": [')
    with pytest.raises(StubSpecError, match="does not parse"):
        read_recording(broken)
    with pytest.raises(StubSpecError, match="cannot read recording"):
        read_recording(tmp_path / "absent.json")
