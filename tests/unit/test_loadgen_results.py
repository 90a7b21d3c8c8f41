"""Payloads, validation, exact HDR merging across workers, generator honesty and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.loadgen.engine import Target
from harness.loadgen.native_support import native_available
from harness.loadgen.options import engine_for
from harness.loadgen.payloads import PredictionsPerRecord, RecordsBody, body_file
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.summary import LoadResult
from tests.cli import Cli

HDR = 1e-3


def test_records_body_is_the_same_for_the_same_index() -> None:
    body = RecordsBody(records=3, keyspace=5)

    document = json.loads(body(7))

    assert body(7) == body(7)
    assert [r["entity_id"] for r in document["dataframe_records"]] == [
        "user-1",
        "user-2",
        "user-3",
    ]


def test_body_file_takes_json_lines_in_turn(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"a": 1}\n\n{"a": 2}\n')

    bodies = body_file(samples)

    assert [bodies(i) for i in range(3)] == [b'{"a": 1}', b'{"a": 2}', b'{"a": 1}']


def test_a_200_with_the_wrong_body_is_an_error() -> None:
    target = Target("http://127.0.0.1:1/invocations", validator=PredictionsPerRecord(2))

    assert target.outcome(200, b'{"predictions": [1, 2]}') == (200, None)
    assert target.outcome(200, b'{"predictions": [1]}') == (None, "invalid_body")
    assert target.outcome(200, b"<html>") == (None, "invalid_body")
    assert target.outcome(503, b"busy") == (503, None)


def test_workers_merge_exactly_through_hdr_encoding() -> None:
    parts = [Recorder(), Recorder()]
    whole = Recorder()
    for i in range(1000):
        latency = (i % 97 + 1) / 1000
        for recorder in (parts[i % 2], whole):
            recorder.offered(i / 500)
            recorder.completed(i / 500, i / 500, i / 500 + latency, status=200, failure=None)
    merged = Recorder()

    for part in parts:
        merged.merge_encoded(part.encode())

    for percentile in (50, 90, 99, 100):
        ms = whole.phases["overall"].percentile_ms(percentile)
        assert merged.phases["overall"].percentile_ms(percentile) == ms
    assert [b.offered for b in merged.seconds()] == [b.offered for b in whole.seconds()]
    assert merged.buckets[1].latency.get_total_count() == 500


def _result(stats: GeneratorStats, mode: str = "open-loop") -> LoadResult:
    recorder = Recorder()
    recorder.completed(0.0, 0.0, 0.01, status=200, failure=None)
    recorder.completed(0.5, 0.5, 0.6, status=None, failure="timeout")
    return LoadResult(
        "http://127.0.0.1:1/", mode, "constant 2/s", 1, "aiohttp", 1.0, recorder, stats
    )


def test_a_generator_that_fell_behind_makes_the_run_invalid() -> None:
    late = GeneratorStats(scheduled=2, sent=2)
    for _ in range(2):
        late.record_lag(0.050)
    dropped = GeneratorStats(scheduled=3, sent=2, dropped=1)
    dropped.record_lag(0.0)

    assert not _result(late).valid
    assert "lag p99 50" in _result(late).notes[0]
    assert late.late == 2
    assert not _result(dropped).valid
    assert "dropped 1 of 3" in _result(dropped).notes[0]


def test_results_json_holds_rates_percentiles_and_labels_closed_loop() -> None:
    stats = GeneratorStats(scheduled=2, sent=2)
    stats.record_lag(0.0001)

    data = _result(stats, "closed-loop").to_json()

    assert data["mode"] == "closed-loop"
    assert data["achieved_rate"] == 2.0
    assert data["timeouts"] == 1
    assert data["statuses"] == {"200": 1}
    assert data["latency"]["max_ms"] == pytest.approx(100, rel=HDR)
    assert data["service_time"]["p50_ms"] == pytest.approx(10, rel=HDR)
    assert all(row["mode"] == "closed-loop" for row in data["timeline"])
    assert any("closed-loop" in note for note in data["notes"])
    assert data["valid"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "10"], "expected --duration"),
        (["--rate", "-1", "--duration", "1"], "expected rate > 0"),
        (["--rate", "1", "--duration", "1", "--workers", "0"], "expected --workers >= 1"),
        (["--rate", "1", "--duration", "1", "--body", "{nope"], "expected --body to be JSON"),
        (["--rate", "1", "--duration", "1", "--method", "BREW"], "expected method in"),
        (["--shape", "trace", "--trace", "/nonexistent.csv"], "cannot read trace file"),
    ],
)
def test_bad_load_flags_exit_2_with_a_message(argv: list[str], message: str, cli: Cli) -> None:
    ran = cli("load", "--url", "http://127.0.0.1:9/", "--quiet", *argv)

    assert ran.code == 2
    assert message in ran.err


@pytest.mark.parametrize(
    ("engine", "url", "chosen"),
    [
        ("auto", "http://127.0.0.1:8080/invocations", "native" if native_available() else "http1"),
        ("auto", "https://127.0.0.1:8443/invocations", "aiohttp"),
        ("curl", "http://127.0.0.1:8080/", "curl"),
        ("aiohttp", "http://127.0.0.1:8080/", "aiohttp"),
    ],
)
def test_engine_auto_takes_the_fastest_engine_that_speaks_the_scheme(
    engine: str, url: str, chosen: str
) -> None:
    assert engine_for(engine, url) == chosen


def test_an_https_url_for_the_http1_engine_exits_2_without_a_traceback(
    cli: Cli,
) -> None:
    url = "https://127.0.0.1:9/"
    argv = ["load", "--url", url, "--engine", "http1", "--rate", "1", "--duration", "1"]

    ran = cli(*argv, "--workers", "1", "--quiet")

    assert ran.code == 2
    assert "expected an http:// URL for the http1 engine" in ran.err
    assert "Traceback" not in ran.err
