"""The native engine's edges: what it refuses before sending anything, the fallback where it is
not built, and that it writes the same bodies and judges answers as the Python payloads do.
Its behaviour on real sockets is in the integration tier (test_loadgen_http1, _engines,
_fidelity, test_runner_engines), where every engine case runs on it too."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.loadgen import (
    Constant,
    Plan,
    PredictionsPerRecord,
    RecordsBody,
    Target,
    native_support,
)
from harness.loadgen.native_support import INSTALL_HINT, native_available
from harness.loadgen.options import engine_for
from harness.loadgen.streams import StreamReader
from tests.cli import Cli

built = pytest.mark.skipif(not native_available(), reason="the native engine is not built")


def test_auto_takes_http1_and_native_refuses_with_the_fix_where_it_is_not_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native_support, "NATIVE", None)

    assert engine_for("auto", "http://127.0.0.1:8080/invocations") == "http1"
    assert engine_for("auto", "http://127.0.0.1:8080/v1/completions", stream=True) == "http1"
    with pytest.raises(UsageError, match="native engine is not installed: `make provision`"):
        Plan(Target("http://127.0.0.1:9/"), Constant(1, 0.1), engine="native")


def test_the_cli_says_how_to_build_it_and_exits_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native_support, "NATIVE", None)
    argv = ["load", "--url", "http://127.0.0.1:9/", "--engine", "native", "--rate", "1"]

    ran = cli(*argv, "--duration", "1")

    assert ran.code == 2
    assert INSTALL_HINT in ran.err
    assert "Traceback" not in ran.err


@built
def test_https_and_bodies_or_checks_it_cannot_make_are_refused_by_name() -> None:
    with pytest.raises(UsageError, match="expected an http:// URL for the native engine"):
        Plan(Target("https://127.0.0.1:9/"), Constant(1, 0.1), engine="native")

    def numbered(index: int) -> bytes:
        return str(index).encode()

    def anything(status: int, body: bytes) -> str | None:
        return None

    with pytest.raises(UsageError, match="cannot make bodies of function"):
        Plan(Target("http://127.0.0.1:9/", body=numbered), Constant(1, 0.1), engine="native")
    with pytest.raises(UsageError, match="cannot check answers with function"):
        Plan(Target("http://127.0.0.1:9/", validator=anything), Constant(1, 0.1), engine="native")


@built
@given(
    index=st.integers(0, 2**40),
    records=st.integers(1, 5),
    keyspace=st.integers(1, 10_000),
)
def test_records_bodies_are_byte_for_byte_the_python_ones(
    index: int, records: int, keyspace: int
) -> None:
    import serving_chaos_native

    written = serving_chaos_native.records_body(index, records, keyspace)

    assert written == RecordsBody(records, keyspace)(index)


@built
@pytest.mark.parametrize(
    "body",
    [
        b'{"predictions": [0.5, 1]}',
        b'{"predictions": [0.5]}',
        b'{"predictions": "x"}',
        b"[0.5, 1]",
        b"not json",
        b'{"other": [1, 2]}',
        b"",
    ],
)
@pytest.mark.parametrize("status", [200, 204, 503])
def test_answers_are_judged_as_the_python_check_judges_them(body: bytes, status: int) -> None:
    import serving_chaos_native

    python = PredictionsPerRecord(2)(status, body) is not None

    assert serving_chaos_native.predictions_invalid(2, status, body) == python


@built
def test_auto_takes_native_for_streams_over_http_and_aiohttp_over_https() -> None:
    assert engine_for("auto", "http://127.0.0.1:9/v1/chat/completions", stream=True) == "native"
    assert engine_for("auto", "https://127.0.0.1:9/v1/chat/completions", stream=True) == "aiohttp"
    plan = Plan(Target("http://127.0.0.1:9/", stream=True), Constant(1, 0.1), engine="native")
    assert plan.target.stream


def _event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


# Events as servers send them, and as they go wrong: chat and completion chunks, final events
# with and without usage, [DONE], comments, other fields, and data that is not a JSON object.
_EVENTS = st.sampled_from(
    [
        _event(b'{"choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": null}]}'),
        _event(b'{"choices": [{"delta": {"role": "assistant"}}]}'),
        _event(b'{"choices": [{"text": "word", "finish_reason": null}]}'),
        _event(b'{"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": null}'),
        _event(b'{"choices": [], "usage": {"completion_tokens": 7}}'),
        _event(b'{"choices": [{"text": "", "finish_reason": "length"}]}'),
        _event(b"[DONE]"),
        b"data: [DONE]\r\n\r\n",
        b": keep-alive\n\n",
        b"event: ping\nid: 4\n\n",
        b'data: {"choices":\ndata: [{"text": "x"}]}\n\n',
        _event(b"{not json"),
        _event(b"[1, 2]"),
        b"data:\n\n",
        b'data: {"choi',
    ]
)


@built
@given(
    events=st.lists(_EVENTS, max_size=12),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
)
def test_streams_are_scanned_as_the_python_reader_reads_them(
    events: list[bytes], cuts: list[int]
) -> None:
    import serving_chaos_native

    body = b"".join(events)
    edges = [0, *sorted({c for c in cuts if c < len(body)}), len(body)]
    pieces = [body[a:b] for a, b in itertools.pairwise(edges)]
    arrived = [1.0 + 0.01 * n for n in range(len(pieces))]
    reader = StreamReader(intended=0.5)
    for piece, at in zip(pieces, arrived, strict=True):
        reader.feed(piece, at)
    want = reader.times()

    found = serving_chaos_native.sse_summary(pieces, arrived, 0.5)

    first_byte, first_token, gaps, tokens, complete, total, malformed = found
    assert (None if math.isnan(first_byte) else first_byte) == want.first_byte_s
    assert (None if math.isnan(first_token) else first_token) == want.first_token_s
    assert tuple(gaps) == want.gaps_s
    assert (tokens, complete, total, malformed) == (
        want.tokens,
        want.complete,
        want.total_s,
        want.malformed,
    )
