"""Readers for incident sources: each gives weighted observations with their times.

An observation is one request (or, for an aggregated source, one second's worth of requests)
with its start time in epoch seconds, how many requests it stands for, and what is known of
it: status, latency and request body. Unreadable lines are counted with their line numbers
rather than stopping the import; the caller decides whether there are too many.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.errors import UsageError

__all__ = [
    "FORMATS",
    "JSONL_FIELDS",
    "Observation",
    "SourceRead",
    "detect_format",
    "parse_fields",
    "parse_time",
    "read_source",
]

FORMATS = ("combined", "jsonl", "inference-table", "prometheus")
# Field names a JSON lines access log uses by default; --field NAME=KEY overrides one.
JSONL_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "timestamp": "timestamp",
        "status": "status",
        "latency": "latency_ms",
        "path": "path",
        "size": "size",
    }
)
_INFERENCE_COLUMNS = ("timestamp_ms", "status_code")
_COMBINED = re.compile(
    r'^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\S+)'
    r'(?: "[^"]*" "[^"]*")?(?: (?P<latency>\d+(?:\.\d+)?))?'
)
_COMBINED_TIME = "%d/%b/%Y:%H:%M:%S %z"
# Epoch values above this are milliseconds, not seconds (year 5138 in seconds).
_EPOCH_MS_FROM = 1e11


@dataclass(frozen=True, slots=True)
class Observation:
    """Requests starting at ``time_s`` (epoch seconds), ``weight`` of them."""

    time_s: float
    weight: float = 1.0
    status: int | None = None
    latency_ms: float | None = None
    body: str | None = None
    # The request's path where the source names it, and its body size where known.
    path: str | None = None
    request_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What a reader got from a file: observations in file order and the bad lines."""

    format: str
    observations: tuple[Observation, ...]
    lines: int
    bad_lines: tuple[tuple[int, str], ...] = field(default=())


def parse_time(text: str | float | int) -> float:
    """Epoch seconds (or milliseconds, told apart by size) or ISO 8601 as epoch seconds.
    A time without a zone is taken as UTC. Raises ValueError when it is neither."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        cell = str(text).strip()
        try:
            value = float(cell)
        except ValueError:
            parsed = datetime.fromisoformat(cell.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    return value / 1000.0 if value > _EPOCH_MS_FROM else value


def parse_fields(pairs: Iterable[str]) -> dict[str, str]:
    """``--field NAME=KEY`` values (each may hold several, comma-separated) over the JSON
    lines defaults."""
    fields = dict(JSONL_FIELDS)
    for pair in (part.strip() for value in pairs for part in value.split(",")):
        name, sep, key = pair.partition("=")
        if not sep or not key or name not in JSONL_FIELDS:
            raise UsageError(
                f"expected --field NAME=KEY with NAME in {sorted(JSONL_FIELDS)} but got {pair!r}"
            )
        fields[name] = key
    return fields


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read incident source {path}: {exc.strerror or exc}") from exc


def detect_format(path: Path) -> str:
    """The format of a source from its name and first line."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "inference-table"
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("{") and '"resultType"' in text[:4096]:
        return "prometheus"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "inference-table" if '"timestamp_ms"' in first else "jsonl"
    if suffix == ".csv" or "timestamp_ms" in first:
        return "inference-table"
    return "combined"


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _collect(
    fmt: str, rows: Iterable[tuple[int, Any]], parse: Callable[[Any], Observation]
) -> SourceRead:
    observations: list[Observation] = []
    bad: list[tuple[int, str]] = []
    count = 0
    for number, row in rows:
        count += 1
        try:
            observations.append(parse(row))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            bad.append((number, str(exc) or type(exc).__name__))
    return SourceRead(fmt, tuple(observations), count, tuple(bad))


def _request_time(text: str | None) -> float | None:
    """The last field of a combined line in ms: with a decimal point it is seconds (nginx
    ``$request_time``), a whole number is microseconds (Apache ``%D``)."""
    if text is None:
        return None
    return float(text) * 1000.0 if "." in text else float(text) / 1000.0


def _combined(line: str) -> Observation:
    match = _COMBINED.match(line)
    if match is None:
        raise ValueError("not a combined log line")
    time_s = datetime.strptime(match["time"], _COMBINED_TIME).timestamp()
    words = match["request"].split()
    return Observation(
        time_s,
        status=int(match["status"]),
        latency_ms=_request_time(match["latency"]),
        path=words[1] if len(words) >= 2 else None,
    )


def _json_object(line: str) -> dict[str, Any]:
    found = json.loads(line)
    if not isinstance(found, dict):
        raise ValueError(f"expected a JSON object but got {type(found).__name__}")
    return found


def _optional_number(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _jsonl(fields: Mapping[str, str]) -> Callable[[str], Observation]:
    def parse(line: str) -> Observation:
        doc = _json_object(line)
        if fields["timestamp"] not in doc:
            raise KeyError(f"no {fields['timestamp']!r} field")
        status = _optional_number(doc.get(fields["status"]))
        size = _optional_number(doc.get(fields["size"]))
        path = doc.get(fields["path"])
        return Observation(
            parse_time(doc[fields["timestamp"]]),
            status=int(status) if status is not None else None,
            latency_ms=_optional_number(doc.get(fields["latency"])),
            path=str(path) if path is not None else None,
            request_bytes=int(size) if size is not None else None,
        )

    return parse


def _body_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _inference_row(row: Mapping[str, Any], drop_bodies: bool) -> Observation:
    for column in _INFERENCE_COLUMNS:
        if row.get(column) in (None, ""):
            raise KeyError(f"no {column!r} value")
    fraction = _optional_number(row.get("sampling_fraction"))
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"sampling_fraction must be in (0, 1] but is {fraction!r}")
    body = _body_text(row.get("request"))
    return Observation(
        float(row["timestamp_ms"]) / 1000.0,
        weight=1.0 / fraction if fraction is not None else 1.0,
        status=int(float(row["status_code"])),
        latency_ms=_optional_number(row.get("execution_time_ms")),
        body=None if drop_bodies else body,
        request_bytes=len(body.encode()) if body is not None else None,
    )


def _inference_rows(text: str) -> Iterable[tuple[int, Any]]:
    first = next((line for _, line in _lines(text)), "")
    if first.lstrip().startswith("{"):
        yield from _lines(text)
        return
    # CSV: line numbers count the header as line 1; quoted bodies may span lines.
    reader = csv.DictReader(text.splitlines(keepends=True))
    for row in reader:
        yield reader.line_num, row


def _parquet_rows(path: Path) -> Iterable[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise UsageError(f"install pyarrow to read Parquet ({path})") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise UsageError(f"cannot read Parquet file {path}: {exc}") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return enumerate(rows, start=1)


def _inference(path: Path, drop_bodies: bool) -> SourceRead:
    def parse(row: Any) -> Observation:
        doc = _json_object(row) if isinstance(row, str) else row
        return _inference_row(doc, drop_bodies)

    if path.suffix.lower() == ".parquet":
        return _collect("inference-table", _parquet_rows(path), parse)
    return _collect("inference-table", _inference_rows(_read_text(path)), parse)


def _prometheus_series(path: Path) -> list[tuple[float, float]]:
    """The first result's ``[time, value]`` pairs in time order, ``NaN`` (0/0) included."""
    try:
        doc = json.loads(_read_text(path))
        values = doc["data"]["result"][0]["values"]
        pairs = [(float(t), float(v)) for t, v in values]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UsageError(
            f"expected a Prometheus range-query answer (data.result[0].values) in {path}: {exc}"
        ) from exc
    return sorted(pairs)


def _finite(series: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(t, v) for t, v in series if math.isfinite(v)]


def _step(series: list[tuple[float, float]]) -> float:
    """The query's step: the smallest gap between samples (1 s for a single sample)."""
    gaps = [b[0] - a[0] for a, b in pairwise(series) if b[0] > a[0]]
    return min(gaps) if gaps else 1.0


class _Lookup:
    """The value a series had at a time: its latest sample at or before it (or its first)."""

    def __init__(self, series: list[tuple[float, float]] | None) -> None:
        self._times = [t for t, _ in series or ()]
        self._values = [v for _, v in series or ()]

    def __call__(self, time_s: float) -> float | None:
        if not self._times:
            return None
        return self._values[max(0, bisect.bisect_right(self._times, time_s) - 1)]


def _spread(sample_time: float, rate: float, step: float) -> list[tuple[float, float]]:
    """One sample of a rate as (second, requests) pairs: a step of N seconds holds ``rate``
    requests in each of its N seconds; a sub-second step holds ``rate * step``."""
    if step < 1:
        return [(sample_time, rate * step)]
    return [(sample_time + second, rate) for second in range(max(1, round(step)))]


def _prometheus(path: Path, errors: Path | None, latency: Path | None) -> SourceRead:
    rates = _prometheus_series(path)
    error_share = _Lookup(_finite(_prometheus_series(errors)) if errors is not None else None)
    quantile = _Lookup(_finite(_prometheus_series(latency)) if latency is not None else None)
    step = _step(rates)
    observations: list[Observation] = []
    for sample_time, rate in _finite(rates):
        for time_s, count in _spread(sample_time, max(rate, 0.0), step):
            seconds = quantile(time_s)
            latency_ms = seconds * 1000.0 if seconds is not None else None
            share = error_share(time_s)
            if share is None:
                observations.append(Observation(time_s, count, latency_ms=latency_ms))
                continue
            share = min(max(share, 0.0), 1.0)
            observations.append(Observation(time_s, count * (1 - share), 200, latency_ms))
            observations.append(Observation(time_s, count * share, 500, latency_ms))
    return SourceRead("prometheus", tuple(observations), len(rates))


def read_source(
    path: Path,
    fmt: str = "auto",
    *,
    fields: Mapping[str, str] = JSONL_FIELDS,
    drop_bodies: bool = False,
    prom_errors: Path | None = None,
    prom_latency: Path | None = None,
) -> SourceRead:
    """Read one incident source in ``fmt`` (``auto`` guesses from its name and first line)."""
    if not path.is_file():
        raise UsageError(f"incident source {path} is not a readable file")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "combined":
        return _collect(fmt, _lines(_read_text(path)), _combined)
    if fmt == "jsonl":
        return _collect(fmt, _lines(_read_text(path)), _jsonl(fields))
    if fmt == "inference-table":
        return _inference(path, drop_bodies)
    if fmt == "prometheus":
        return _prometheus(path, prom_errors, prom_latency)
    raise UsageError(f"expected --format in {['auto', *FORMATS]} but got {fmt!r}")
