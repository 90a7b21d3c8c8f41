"""The native engine's edges: what it refuses before sending anything, the fallback where it is
not built, and that it writes the same bodies and judges answers as the Python payloads do.
Its behaviour on real sockets is in the integration tier (test_loadgen_http1, _engines,
_fidelity, test_runner_engines), where every engine case runs on it too."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.loadgen import Constant, Plan, PredictionsPerRecord, RecordsBody, Target
from harness.loadgen import native as native_module
from harness.loadgen.native import INSTALL_HINT, native_available
from harness.loadgen.options import engine_for
from tests.cli import Cli

built = pytest.mark.skipif(not native_available(), reason="the native engine is not built")


def test_auto_takes_http1_and_native_refuses_with_the_fix_where_it_is_not_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native_module, "_native", None)

    assert engine_for("auto", "http://127.0.0.1:8080/invocations") == "http1"
    with pytest.raises(UsageError, match="native engine is not installed: `make provision`"):
        Plan(Target("http://127.0.0.1:9/"), Constant(1, 0.1), engine="native")


def test_the_cli_says_how_to_build_it_and_exits_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native_module, "_native", None)
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
