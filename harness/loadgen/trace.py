"""Trace files exported from production logs, read into replayable shapes.

Two layouts: one request start time per row (epoch seconds or ISO 8601, any order of magnitude;
replayed relative to the first), or a per-second rate series (``rate`` or ``second,rate`` rows).
A header row, blank lines and ``#`` comments are skipped; the value is the first column for
times and the last column for rates, so exports with extra columns need no editing.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from harness.errors import UsageError
from harness.loadgen.shapes import Rates, Replay

__all__ = ["TRACE_KINDS", "read_trace"]

TRACE_KINDS = ("timestamps", "rates")


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read trace file {path}: {exc.strerror or exc}") from exc
    rows = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [cell.strip() for cell in row]
        if cells and cells[0] and not cells[0].startswith("#"):
            rows.append((number, cells))
    return rows


def _time(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return datetime.fromisoformat(cell.replace("Z", "+00:00")).timestamp()


def _parse(path: Path, kind: str) -> list[float]:
    values: list[float] = []
    for position, (number, cells) in enumerate(_rows(path)):
        cell = cells[0] if kind == "timestamps" else cells[-1]
        try:
            values.append(_time(cell) if kind == "timestamps" else float(cell))
        except ValueError as exc:
            if position == 0:
                continue  # a header row
            raise UsageError(
                f"{path}:{number}: expected a {'time' if kind == 'timestamps' else 'rate'} "
                f"but got {cell!r}"
            ) from exc
    return values


def read_trace(path: Path, kind: str) -> Replay | Rates:
    if kind not in TRACE_KINDS:
        raise UsageError(f"expected trace kind in {list(TRACE_KINDS)} but got kind={kind!r}")
    values = _parse(path, kind)
    if kind == "rates":
        return Rates(tuple(values), source=path.name)
    if not values:
        raise UsageError(f"expected at least one request time but {path} has none")
    # Logs from several hosts interleave slightly out of order; replay in time order.
    values.sort()
    first = values[0]
    return Replay(tuple(v - first for v in values), source=path.name)
