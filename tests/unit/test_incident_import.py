"""`serving-chaos incident import`: files written, the scenario loads and replays the rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.incident.write import ImportOptions, import_incident
from harness.loadgen.shapes import Rates
from harness.scenario import load_scenario

T0 = 1767225600.0


def _inference(tmp_path: Path, rows: list[tuple[float, int, float]], fraction: float) -> Path:
    lines = [
        json.dumps(
            {
                "timestamp_ms": int((T0 + t) * 1000),
                "status_code": status,
                "execution_time_ms": latency,
                "databricks_request_id": f"r{i}",
                "request": {"inputs": [i]},
                "response": "{}",
                "sampling_fraction": fraction,
            }
        )
        for i, (t, status, latency) in enumerate(rows)
    ]
    source = tmp_path / "serving_log.jsonl"
    source.write_text("\n".join(lines) + "\n")
    return source


def _incident_rows() -> list[tuple[float, int, float]]:
    rows = []
    for s in range(20):
        for i in range(5):
            failing = 12 <= s < 16 and i < 2
            rows.append((s + i / 5, 503 if failing else 200, 20.0))
    return rows


def test_import_writes_a_scenario_that_loads_and_replays_the_rates(tmp_path: Path) -> None:
    source = _inference(tmp_path, _incident_rows(), 0.5)
    out = tmp_path / "out"
    result = import_incident(ImportOptions(source=source, out=out, speed=2.0))
    scenario = load_scenario(out / "scenario.yaml")
    arrivals = scenario.load.arrivals
    assert isinstance(arrivals, Rates)
    # 5 sampled rows a second at fraction 0.5 are 10 requests/s; 2x speed makes 20/s for 10 s.
    assert arrivals.rates == (20.0,) * 10
    assert scenario.load.duration_s == 10
    assert len(list(arrivals.offsets())) == 200
    assert result.total_requests == 200
    signature = json.loads((out / "signature.json").read_text())
    assert signature["totals"]["requests"] == 200
    assert signature["speed"] == 2.0
    assert signature["format"] == "inference-table"
    assert signature["time_range"]["from"] == "2026-01-01T00:00:00Z"
    assert signature["seconds"][6]["error_rates"]["5xx"] == 0.4
    assert signature["seconds"][0]["p99_ms"] == 20
    assert signature["candidate_windows"] == [
        {
            "start_s": 6,
            "end_s": 8,
            "source_from": "2026-01-01T00:00:12Z",
            "source_to": "2026-01-01T00:00:16Z",
            "reasons": ["errors"],
            "peak_error_rate": 0.4,
            "peak_p99_ms": 20,
        }
    ]
    text = (out / "scenario.yaml").read_text()
    assert (
        "#   - seconds 6-8 (source 2026-01-01T00:00:12Z to 2026-01-01T00:00:16Z; errors: " in text
    )
    samples = (out / "payloads.jsonl").read_text().splitlines()
    assert len(samples) == 100
    assert json.loads(samples[3]) == {"inputs": [3]}


def test_drop_bodies_writes_no_payload_samples(tmp_path: Path) -> None:
    source = _inference(tmp_path, _incident_rows(), 1.0)
    out = tmp_path / "out"
    code = main(["incident", "import", str(source), "--drop-bodies", "--out", str(out)])
    assert code == 0
    assert not (out / "payloads.jsonl").exists()
    assert "payloads.jsonl" not in (out / "scenario.yaml").read_text()


def _access_log(tmp_path: Path, lines: list[str]) -> Path:
    source = tmp_path / "access.log"
    source.write_text("\n".join(lines) + "\n")
    return source


def _line(second: int, status: int = 200) -> str:
    return (
        f'10.0.0.1 - - [01/Jan/2026:00:00:{second:02d} +0000] "GET / HTTP/1.1" {status} 5 '
        '"-" "ua" 0.010'
    )


def test_cli_cut_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _access_log(tmp_path, [_line(s) for s in range(10) for _ in range(2)])
    out = tmp_path / "out"
    argv = ["incident", "import", str(source), "--from", str(T0 + 2), "--to"]
    argv += ["2026-01-01T00:00:05Z", "--out", str(out)]
    assert main(argv) == 0
    assert "imported 6 requests (combined)" in capsys.readouterr().out
    # Every request is in an access log: the trace holds each start time, in replayed seconds,
    # the two requests stamped with one whole second spread evenly over it.
    trace = (out / "trace.csv").read_text().splitlines()
    assert trace[2:] == ["time_s", *(f"{t:.6f}" for t in (0.25, 0.75, 1.25, 1.75, 2.25, 2.75))]
    doc = yaml.safe_load((out / "scenario.yaml").read_text())
    assert doc["load"]["arrivals"]["kind"] == "timestamps"
    replay = load_scenario(out / "scenario.yaml").load.arrivals
    assert replay is not None
    assert len(list(replay.offsets())) == 6


def test_cli_empty_range_exits_2_with_the_file_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _access_log(tmp_path, [_line(s) for s in range(3)])
    argv = ["incident", "import", str(source), "--from", "2027-01-01T00:00:00Z"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "holds 2026-01-01T00:00:00Z to 2026-01-01T00:00:02Z" in err
    assert "Traceback" not in err


def test_bad_lines_under_the_threshold_are_reported_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [_line(s % 10) for s in range(40)]
    lines[6] = "garbage"
    source = _access_log(tmp_path, lines)
    out = tmp_path / "out"
    assert main(["incident", "import", str(source), "--out", str(out)]) == 0
    assert "1 unreadable lines skipped (lines 7)" in capsys.readouterr().out
    signature = json.loads((out / "signature.json").read_text())
    assert signature["totals"]["bad_lines"] == 1
    assert signature["totals"]["requests"] == 39


def test_bad_lines_over_the_threshold_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [_line(s % 10) for s in range(40)]
    lines[3] = "garbage"
    lines[9] = "{not a log line"
    lines[20] = "more garbage"
    source = _access_log(tmp_path, lines)
    out = tmp_path / "out"
    assert main(["incident", "import", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "3 of 40 lines are unreadable as combined" in err
    for number in (4, 10, 21):
        assert f"line {number}:" in err
    code = main(["incident", "import", str(source), "--max-bad-lines", "5", "--out", str(out)])
    assert code == 0


def test_out_of_order_lines_are_sorted_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _access_log(tmp_path, [_line(2), _line(0), _line(1), _line(1), _line(3)])
    out = tmp_path / "out"
    assert main(["incident", "import", str(source), "--out", str(out)]) == 0
    assert "3 requests were out of time order; sorted" in capsys.readouterr().out
    doc = yaml.safe_load((out / "scenario.yaml").read_text())
    assert doc["load"]["arrivals"] == {"shape": "trace", "file": "trace.csv", "kind": "timestamps"}
    times = (out / "trace.csv").read_text().splitlines()[3:]
    assert times == [f"{t:.6f}" for t in (0.5, 1.25, 1.75, 2.5, 3.5)]
    signature = json.loads((out / "signature.json").read_text())
    assert [s["rate"] for s in signature["seconds"]] == [1, 2, 1, 1]


def test_cli_refuses_bad_usage_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _access_log(tmp_path, [_line(0)])
    out = str(tmp_path / "out")
    assert main(["incident", "import", str(tmp_path / "missing.log"), "--out", out]) == 2
    assert "not a readable file" in capsys.readouterr().err
    assert main(["incident", "import", str(source), "--speed", "0", "--out", out]) == 2
    assert "--speed > 0" in capsys.readouterr().err
    assert main(["incident", "import", str(source), "--field", "x=y", "--out", out]) == 2
    assert "--field NAME=KEY" in capsys.readouterr().err
    empty = _access_log(tmp_path, [])
    assert main(["incident", "import", str(empty), "--out", out]) == 2
    assert "holds no readable requests" in capsys.readouterr().err


def test_out_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _access_log(tmp_path, [_line(0)])
    blocker = tmp_path / "taken"
    blocker.write_text("")
    assert main(["incident", "import", str(source), "--out", str(blocker)]) == 2
    assert "cannot write to --out" in capsys.readouterr().err


def _jsonl_log(tmp_path: Path) -> Path:
    rows = [
        {"at": T0 + i * 0.5, "code": 200, "ms": 10, "uri": uri, "bytes": size}
        for i, (uri, size) in enumerate(
            [("/health", None), ("/invocations", 100), ("/invocations", 300), ("/ping", None)] * 5
        )
    ]
    source = tmp_path / "lb.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return source


def test_path_filter_and_request_sizes_from_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _jsonl_log(tmp_path)
    out = tmp_path / "out"
    argv = ["incident", "import", str(source), "--format", "jsonl", "--out", str(out)]
    argv += ["--field", "timestamp=at,status=code,latency=ms,path=uri,size=bytes"]
    assert main([*argv, "--path", "/invocations"]) == 0
    assert "imported 10 requests (jsonl)" in capsys.readouterr().out
    signature = json.loads((out / "signature.json").read_text())
    assert signature["totals"]["request_bytes"] == {"p50": 100, "p99": 300, "max": 300}
    assert main([*argv, "--path", "/invocations", "--path", "/ping"]) == 0
    assert "imported 15 requests" in capsys.readouterr().out


def test_a_path_filter_that_keeps_nothing_names_the_paths_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _jsonl_log(tmp_path)
    argv = ["incident", "import", str(source), "--format", "jsonl", "--out", str(tmp_path / "o")]
    argv += ["--field", "timestamp=at,path=uri", "--path", "/v1/"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no request path in" in err
    assert "/health" in err
    assert "/invocations" in err
    assert "Traceback" not in err


def test_combined_paths_are_read_from_the_request_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [_line(s) for s in range(4)]
    lines.append(_line(4).replace('"GET / HTTP/1.1"', '"GET /health HTTP/1.1"'))
    source = _access_log(tmp_path, lines)
    argv = ["incident", "import", str(source), "--out", str(tmp_path / "o"), "--path", "/h"]
    assert main(argv) == 0
    assert "imported 1 requests (combined)" in capsys.readouterr().out
