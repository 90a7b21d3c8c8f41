"""Each incident source format read from a small fixture into requests per second."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.incident.scale import compress
from harness.incident.signature import per_second
from harness.incident.sources import detect_format, parse_fields, parse_time, read_source

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def _combined_line(second: int, status: int, latency_s: float) -> str:
    stamp = f"01/Jan/2026:00:00:{second:02d} +0000"
    return (
        f'10.0.0.1 - - [{stamp}] "POST /invocations HTTP/1.1" {status} 512 "-" "curl/8" '
        f"{latency_s:.3f}"
    )


def test_combined_log_gives_rate_errors_and_latency_per_second(tmp_path: Path) -> None:
    lines = [
        _combined_line(0, 200, 0.010),
        _combined_line(0, 200, 0.030),
        _combined_line(1, 200, 0.020),
        _combined_line(1, 503, 0.500),
        _combined_line(1, 429, 0.001),
        _combined_line(1, 404, 0.002),
    ]
    source = tmp_path / "access.log"
    source.write_text("\n".join(lines) + "\n")
    read = read_source(source)
    assert read.format == "combined"
    assert read.observations[0].time_s == T0
    seconds = per_second(compress(read.observations, 1.0, T0))
    assert [s.rate for s in seconds] == [2.0, 4.0]
    assert seconds[1].error_rates == {"2xx": 0.25, "4xx": 0.25, "429": 0.25, "5xx": 0.25}
    assert seconds[0].p50_ms == pytest.approx(10.0)
    assert seconds[0].p99_ms == pytest.approx(30.0)
    assert seconds[1].p99_ms == pytest.approx(500.0)


def test_jsonl_with_configured_field_names(tmp_path: Path) -> None:
    rows = [
        {"ts": "2026-01-01T00:00:00.200Z", "code": 200, "dur_ms": 12},
        {"ts": "2026-01-01T00:00:02.900Z", "code": 500, "dur_ms": 90},
        {"ts": T0 + 2.1, "code": 200, "dur_ms": 10},
    ]
    source = tmp_path / "lb.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    fields = parse_fields(["timestamp=ts,status=code", "latency=dur_ms"])
    read = read_source(source, "jsonl", fields=fields)
    seconds = per_second(compress(read.observations, 1.0, T0))
    assert [s.rate for s in seconds] == [1.0, 0.0, 2.0]
    assert seconds[2].error_rates["5xx"] == 0.5
    assert seconds[2].p99_ms == 90.0


def test_unknown_field_name_is_refused() -> None:
    with pytest.raises(UsageError, match="--field NAME=KEY"):
        parse_fields(["when=ts"])


def test_inference_table_weights_rows_by_inverse_sampling_fraction(tmp_path: Path) -> None:
    rows = [
        {
            "timestamp_ms": int(T0 * 1000) + 100,
            "status_code": 200,
            "execution_time_ms": 40,
            "databricks_request_id": "a",
            "request": {"dataframe_records": [{"x": 1}]},
            "response": "{}",
            "sampling_fraction": 0.25,
        },
        {
            "timestamp_ms": int(T0 * 1000) + 1500,
            "status_code": 500,
            "execution_time_ms": 80,
            "databricks_request_id": "b",
            "request": '{"dataframe_records": [{"x": 2}]}',
            "response": "",
            "sampling_fraction": 0.5,
        },
    ]
    source = tmp_path / "inference.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert detect_format(source) == "inference-table"
    read = read_source(source)
    assert [o.weight for o in read.observations] == [4.0, 2.0]
    assert read.observations[0].body == '{"dataframe_records": [{"x": 1}]}'
    seconds = per_second(compress(read.observations, 1.0, T0))
    assert [s.rate for s in seconds] == [4.0, 2.0]
    assert seconds[1].error_rates["5xx"] == 1.0
    dropped = read_source(source, drop_bodies=True)
    assert all(o.body is None for o in dropped.observations)


def test_inference_table_as_csv(tmp_path: Path) -> None:
    ms = int(T0 * 1000)
    source = tmp_path / "inference.csv"
    source.write_text(
        "timestamp_ms,status_code,execution_time_ms,databricks_request_id,request,response,"
        "sampling_fraction\n"
        f'{ms},200,30,a,"{{""inputs"": [1]}}",ok,0.1\n'
        f"{ms + 200},429,1,b,,,0.1\n"
        "not-a-time,200,1,c,,,1\n"
    )
    read = read_source(source)
    assert read.format == "inference-table"
    assert [o.weight for o in read.observations] == pytest.approx([10.0, 10.0])
    assert read.observations[0].body == '{"inputs": [1]}'
    assert [n for n, _ in read.bad_lines] == [4]


def test_inference_table_as_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    ms = int(T0 * 1000)
    table = pa.table(
        {
            "timestamp_ms": [ms, ms + 500, ms + 1200],
            "status_code": [200, 503, 200],
            "execution_time_ms": [30, 900, 40],
            "databricks_request_id": ["a", "b", "c"],
            "request": ['{"inputs": [1]}', '{"inputs": [2]}', None],
            "response": ["ok", "", "ok"],
            "sampling_fraction": [0.5, 0.5, 1.0],
        }
    )
    source = tmp_path / "table.parquet"
    pq.write_table(table, source)
    read = read_source(source)
    assert read.format == "inference-table"
    assert [o.weight for o in read.observations] == [2.0, 2.0, 1.0]
    assert [o.status for o in read.observations] == [200, 503, 200]
    assert read.observations[1].latency_ms == 900
    assert read.observations[0].body == '{"inputs": [1]}'
    assert read.observations[0].request_bytes == len('{"inputs": [1]}')


def test_parquet_without_pyarrow_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    source = tmp_path / "table.parquet"
    source.write_bytes(b"PAR1")
    with pytest.raises(UsageError, match="install pyarrow to read Parquet"):
        read_source(source)


def test_a_broken_parquet_file_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "table.parquet"
    source.write_bytes(b"PAR1 not really")
    with pytest.raises(UsageError, match="cannot read Parquet file"):
        read_source(source)


def _prometheus(path: Path, values: list[tuple[float, str]]) -> Path:
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[t, v] for t, v in values]}],
        },
    }
    path.write_text(json.dumps(doc))
    return path


def test_prometheus_rate_with_error_ratio_and_latency(tmp_path: Path) -> None:
    rate = _prometheus(tmp_path / "rate.json", [(T0, "10"), (T0 + 2, "20")])
    errors = _prometheus(tmp_path / "errors.json", [(T0, "0"), (T0 + 2, "0.5")])
    latency = _prometheus(tmp_path / "p99.json", [(T0, "0.05"), (T0 + 2, "0.4")])
    assert detect_format(rate) == "prometheus"
    read = read_source(rate, prom_errors=errors, prom_latency=latency)
    seconds = per_second(compress(read.observations, 1.0, T0))
    # A 2 s step: each sample's rate holds for both seconds of its step.
    assert [s.rate for s in seconds] == [10.0, 10.0, 20.0, 20.0]
    assert seconds[0].error_rates["5xx"] == 0.0
    assert seconds[3].error_rates["5xx"] == 0.5
    assert seconds[3].p99_ms == pytest.approx(400.0)


def test_epoch_milliseconds_and_iso_times() -> None:
    assert parse_time(T0 * 1000) == T0
    assert parse_time("2026-01-01T00:00:00") == T0
    assert parse_time("1767225600") == T0


def test_combined_whole_request_time_is_microseconds(tmp_path: Path) -> None:
    source = tmp_path / "apache.log"
    source.write_text(
        '10.0.0.2 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" 250000\n'
        '10.0.0.2 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5\n'
    )
    read = read_source(source, "combined")
    assert [o.latency_ms for o in read.observations] == [250.0, None]


def test_prometheus_skips_nan_samples_and_spreads_sub_second_steps(tmp_path: Path) -> None:
    rate = _prometheus(
        tmp_path / "rate.json", [(T0, "8"), (T0 + 0.5, "NaN"), (T0 + 1.0, "4"), (T0 + 1.5, "4")]
    )
    read = read_source(rate, "prometheus")
    seconds = per_second(compress(read.observations, 1.0, T0))
    # A 0.5 s step: each sample holds rate x 0.5 requests; the NaN sample is left out.
    assert [s.rate for s in seconds] == [4.0, 4.0]


def test_prometheus_answer_without_values_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text(json.dumps({"data": {"resultType": "matrix", "result": []}}))
    with pytest.raises(UsageError, match="Prometheus range-query answer"):
        read_source(source, "prometheus")
