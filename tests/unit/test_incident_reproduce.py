"""The reproduced verdict: a replay's anomalous seconds against its source's, with tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.incident.reproduce import compare, read_signature, replay_seconds
from harness.incident.signature import Second
from harness.report.html import render_html
from harness.report.terminal import incident_lines
from harness.scenario import load_scenario
from harness.verdict.results import RunResult

LENGTH = 20


def _source(bad: range, *, p99_ms: float = 40.0) -> Path:
    """A signature of LENGTH seconds at 50 req/s, 30 % 429s in the ``bad`` seconds."""
    return _signature(
        [
            {
                "second": i,
                "rate": 50,
                "error_rates": {"2xx": 0.7, "429": 0.3} if i in bad else {"2xx": 1.0},
                "p99_ms": p99_ms,
            }
            for i in range(LENGTH)
        ]
    )


_TMP: list[Path] = []


def _signature(seconds: list[dict[str, Any]]) -> Path:
    path = _TMP[0] / f"signature-{len(list(_TMP[0].iterdir()))}.json"
    path.write_text(json.dumps({"source": "access.log", "seconds": seconds}))
    return path


@pytest.fixture(autouse=True)
def _tmp(tmp_path: Path) -> None:
    _TMP[:] = [tmp_path]


def _timeline(bad: range, *, failures: bool = False, p99_ms: float = 5.0) -> list[dict[str, Any]]:
    rows = []
    for t in range(LENGTH + 3):  # the drain after the trace is not compared
        statuses = {"200": 40, "429": 10} if t in bad and not failures else {"200": 50}
        rows.append(
            {
                "t": t,
                "statuses": statuses,
                "failures": {"timeout": 10} if t in bad and failures else {},
                "p99_ms": p99_ms,
            }
        )
    return rows


def test_a_replay_breaking_the_same_seconds_reproduced_it() -> None:
    found = compare(read_signature(_source(range(8, 13))), _timeline(range(8, 13)))
    assert found.reproduced
    assert (found.recall, found.precision) == (1.0, 1.0)
    assert [(w.start_s, w.end_s) for w in found.replay_windows] == [(8, 13)]
    assert "REPRODUCED" in found.summary()
    assert "8-13" in found.summary()


def test_a_shift_within_the_tolerance_still_reproduces_and_beyond_it_does_not() -> None:
    source = read_signature(_source(range(8, 13)))
    assert compare(source, _timeline(range(10, 15)), tolerance_s=2).reproduced
    shifted = compare(source, _timeline(range(14, 19)), tolerance_s=2)
    assert not shifted.reproduced
    assert shifted.recall == pytest.approx(1 / 5)  # only second 12 is within 2 s of 14


def test_a_replay_that_never_breaks_did_not_reproduce_it() -> None:
    found = compare(read_signature(_source(range(8, 13))), _timeline(range(0)))
    assert not found.reproduced
    assert found.recall == 0.0
    assert found.precision is None
    assert "NOT REPRODUCED" in found.summary()
    assert "replay in never" in found.summary()


def test_a_replay_breaking_far_longer_fails_on_precision() -> None:
    found = compare(read_signature(_source(range(8, 10))), _timeline(range(6, 20)))
    assert found.recall == 1.0
    assert found.precision is not None
    assert found.precision < 0.7
    assert not found.reproduced


def test_min_overlap_decides_a_partial_match() -> None:
    source = read_signature(_source(range(4, 14)))
    half = _timeline(range(4, 7))  # recall 5/10 with 2 s tolerance
    assert not compare(source, half, min_overlap=0.7).reproduced
    assert compare(source, half, min_overlap=0.5).reproduced


def test_a_quiet_source_is_reproduced_by_a_quiet_replay_only() -> None:
    source = read_signature(_source(range(0)))
    assert compare(source, _timeline(range(0))).reproduced
    assert not compare(source, _timeline(range(8, 12))).reproduced


def test_transport_failures_count_as_5xx() -> None:
    seconds = replay_seconds(_timeline(range(8, 9), failures=True), LENGTH)
    assert seconds[8].error_rates["5xx"] == pytest.approx(10 / 60)
    assert seconds[8].rate == 60
    assert compare(read_signature(_source(range(8, 9))), _timeline(range(8, 9))).reproduced


def test_a_missing_second_in_the_timeline_is_an_empty_second() -> None:
    rows = [row for row in _timeline(range(0)) if row["t"] != 5]
    seconds = replay_seconds(rows, LENGTH)
    assert seconds[5] == Second(5, 0.0, {}, None, None)


def test_latency_needs_three_times_and_fifty_ms_above_the_baseline() -> None:
    source = read_signature(_source(range(0)))
    jitter = _timeline(range(0), p99_ms=5.0)
    for row in jitter[8:10]:
        row["p99_ms"] = 30.0  # 6x a 5 ms baseline, but only 25 ms above it
    assert compare(source, jitter).replay_windows == ()
    for row in jitter[8:10]:
        row["p99_ms"] = 80.0
    found = compare(source, jitter)
    assert [(w.start_s, w.end_s, w.reasons) for w in found.replay_windows] == [
        (8, 10, ("latency",))
    ]


def test_signature_errors_name_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        read_signature(bad)
    bad.write_text('{"seconds": []}')
    with pytest.raises(ValueError, match="incident import"):
        read_signature(bad)
    bad.write_text('{"seconds": [{"rate": "many"}]}')
    with pytest.raises(ValueError, match=r"seconds\[0\]\.rate"):
        read_signature(bad)


def _scenario(tmp_path: Path, incident: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: replay\nload: {{rate: 10, duration_s: 20}}\nincident: {incident}\n")
    return path


def test_the_scenario_section_reads_the_signature_beside_it(tmp_path: Path) -> None:
    _source(range(8, 13)).rename(tmp_path / "signature.json")
    scenario = load_scenario(
        _scenario(tmp_path, "{signature: signature.json, tolerance_s: 3, min_overlap: 0.8}")
    )
    assert scenario.incident is not None
    assert (scenario.incident.tolerance_s, scenario.incident.min_overlap) == (3, 0.8)
    assert len(scenario.incident.signature.seconds) == LENGTH


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        ("{signature: missing.json}", "incident.signature: cannot read"),
        ("{signature: signature.json, min_overlap: 1.5}", "min_overlap <= 1"),
        ("{signature: signature.json, tolerance_s: -1}", "tolerance_s >= 0"),
        ("{signature: signature.json, window: 3}", "incident.window: unknown field"),
    ],
)
def test_a_bad_incident_section_is_refused_with_the_field(
    tmp_path: Path, incident: str, message: str
) -> None:
    _source(range(8, 13)).rename(tmp_path / "signature.json")
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(_scenario(tmp_path, incident))
    assert ":3:" in str(caught.value)  # the line of the incident section


def test_the_terminal_shows_the_verdict_and_the_broken_seconds_side_by_side() -> None:
    found = compare(read_signature(_source(range(8, 10))), _timeline(range(9, 11)))
    result = RunResult("replay", "process", [], {}, [], [], {}, "", 20.0, incident=found.to_json())
    lines = incident_lines(result)
    assert lines[0] == found.summary()
    shown = [int(line.split()[0]) for line in lines[2:] if line.strip() != "..."]
    assert shown == list(range(6, 13))  # windows 8-9 and 9-10, two seconds either side
    row_9 = next(line for line in lines if line.split()[0] == "9")
    assert row_9.count("*") == 2
    assert "30.0%" in row_9
    assert "20.0%" in row_9
    assert incident_lines(RunResult("replay", "process", [], {}, [], [], {}, "", 20.0)) == []


def test_body_file_samples_are_read_beside_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "payloads.jsonl").write_text('{"inputs": [1]}\n\n{"inputs": [2]}\n')
    path = tmp_path / "scenario.yaml"
    path.write_text("name: s\nload: {rate: 10, duration_s: 5, body_file: payloads.jsonl}\n")
    assert load_scenario(path).load.samples == (b'{"inputs": [1]}', b'{"inputs": [2]}')
    path.write_text("name: s\nload: {rate: 10, duration_s: 5, body_file: none.jsonl}\n")
    with pytest.raises(ScenarioError, match=r"load\.body_file: cannot read body file"):
        load_scenario(path)
    both = "body_file: payloads.jsonl, body: {inputs: [1]}"
    path.write_text(f"name: s\nload: {{rate: 10, duration_s: 5, {both}}}\n")
    with pytest.raises(ScenarioError, match="not both"):
        load_scenario(path)


def test_the_report_draws_source_and_replay_with_the_verdict() -> None:
    found = compare(read_signature(_source(range(8, 10))), _timeline(range(9, 11)))
    page = render_html({"scenario": "replay", "incident": found.to_json()})
    assert 'Incident replay <span class="PASS">reproduced</span>' in page
    assert 'id="chart-incident-error-rate"' in page
    assert 'id="chart-incident-p99-ms"' in page
    assert "source broke its baseline in seconds 8-10" in page
    assert "Incident replay" not in render_html({"scenario": "plain"})
