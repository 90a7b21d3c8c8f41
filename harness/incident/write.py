"""``serving-chaos incident import``: a source turned into DIR/scenario.yaml, DIR/trace.csv,
DIR/signature.json and, when the source has request bodies, DIR/payloads.jsonl.

The load is the existing ``trace`` arrival shape: each request's start time (``kind:
timestamps``) where the source has every request (each of weight 1; times stamped to the whole
second are spread evenly over it), else weighted requests per second (``kind: rates``) for
sampled tables and aggregated metrics. The signature is per replayed second either way. Budgets
are left to the user; the candidate fault windows are written as comments to map to faults.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError
from harness.incident.reproduce import DEFAULT_MIN_OVERLAP, DEFAULT_TOLERANCE_S
from harness.incident.scale import Window, compress, cut, describe_time, sort_observations
from harness.incident.signature import (
    BASELINE_SHARE,
    ERROR_MARGIN,
    LATENCY_FACTOR,
    LATENCY_FLOOR_MS,
    Baseline,
    CandidateWindow,
    Second,
    baseline,
    candidate_windows,
    per_second,
    weighted_quantile,
)
from harness.incident.sources import JSONL_FIELDS, Observation, SourceRead, read_source

__all__ = [
    "BAD_SHARE",
    "ImportOptions",
    "Imported",
    "import_incident",
    "only_paths",
    "spread_whole_seconds",
    "summary_lines",
    "trace_kind",
]

# More than this share of unreadable lines (or more than --max-bad-lines) stops the import.
BAD_SHARE = 0.05
# How many bad lines a message shows.
_SHOWN_BAD = 5


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Everything ``incident import`` was asked for."""

    source: Path
    out: Path
    format: str = "auto"
    window: Window = field(default_factory=Window)
    speed: float = 1.0
    drop_bodies: bool = False
    fields: Mapping[str, str] = field(default_factory=lambda: JSONL_FIELDS)
    max_bad_lines: int | None = None
    prom_errors: Path | None = None
    prom_latency: Path | None = None
    # Keep only requests whose path starts with one of these (health checks out, say).
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import produced: the files written and what the summary says."""

    format: str
    seconds: tuple[Second, ...]
    baseline: Baseline
    windows: tuple[CandidateWindow, ...]
    total_requests: float
    bad_lines: tuple[tuple[int, str], ...]
    out_of_order: int
    payloads: int
    start_s: float
    end_s: float
    speed: float
    scenario: Path
    trace_kind: str = "rates"
    request_bytes: dict[str, int] | None = None


def _check_bad(read: SourceRead, options: ImportOptions) -> None:
    bad = len(read.bad_lines)
    if not bad:
        return
    limit = options.max_bad_lines
    too_many = bad > limit if limit is not None else bad > BAD_SHARE * read.lines
    if not too_many:
        return
    shown = "; ".join(f"line {n}: {why}" for n, why in read.bad_lines[:_SHOWN_BAD])
    allowed = f"--max-bad-lines {limit}" if limit is not None else f"{BAD_SHARE:.0%} of lines"
    raise UsageError(
        f"{options.source}: {bad} of {read.lines} lines are unreadable as {read.format} "
        f"(more than {allowed}): {shown}"
    )


def _number(value: float) -> float | int:
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


def only_paths(
    observations: Sequence[Observation], prefixes: Sequence[str], source: Path
) -> tuple[Observation, ...]:
    """The requests whose path starts with one of ``prefixes`` (all of them without any); a
    filter that keeps nothing says which paths the source has."""
    if not prefixes:
        return tuple(observations)
    named = Counter(o.path for o in observations if o.path is not None)
    if not named:
        raise UsageError(f"--path: {source} names no request paths to filter on")
    wanted = tuple(prefixes)
    kept = tuple(o for o in observations if o.path is not None and o.path.startswith(wanted))
    if not kept:
        common = ", ".join(path for path, _ in named.most_common(5))
        raise UsageError(
            f"no request path in {source} starts with {' or '.join(prefixes)}; "
            f"its most common paths: {common}"
        )
    return kept


def _sizes(observations: Sequence[Observation]) -> dict[str, int] | None:
    pairs = [
        (float(o.request_bytes), o.weight) for o in observations if o.request_bytes is not None
    ]
    if not pairs:
        return None
    return {
        "p50": round(weighted_quantile(pairs, 0.5)),
        "p99": round(weighted_quantile(pairs, 0.99)),
        "max": round(max(size for size, _ in pairs)),
    }


def trace_kind(observations: Sequence[Observation]) -> str:
    """``timestamps`` when the source has every request (each of weight 1), else ``rates``:
    a sampled table or an aggregated metric only knows how many requests each second held."""
    return "timestamps" if all(o.weight == 1.0 for o in observations) else "rates"


def spread_whole_seconds(observations: Sequence[Observation]) -> tuple[Observation, ...]:
    """Times stamped to the whole second (an access log's ``[10/Mar/2026:10:00:00 +0000]``)
    spread evenly over their second: the ``n`` requests of a second start at ``(k + 0.5) / n``
    into it, instead of all at once. Times with sub-second parts are kept as they are."""
    if any(not float(o.time_s).is_integer() for o in observations):
        return tuple(observations)
    counts: dict[float, int] = {}
    for o in observations:
        counts[o.time_s] = counts.get(o.time_s, 0) + 1
    seen: dict[float, int] = {}
    spread = []
    for o in observations:
        k = seen.get(o.time_s, 0)
        seen[o.time_s] = k + 1
        spread.append(replace(o, time_s=o.time_s + (k + 0.5) / counts[o.time_s]))
    return tuple(spread)


def _write_trace(
    path: Path, kind: str, replayed: Sequence[Observation], seconds: Sequence[Second], speed: float
) -> None:
    if kind == "timestamps":
        lines = [
            f"# Request start times imported from the incident source (speed {speed:g}x), in",
            "# seconds of the replay; replayed relative to the first.",
            "time_s",
            *(f"{o.time_s:.6f}" for o in replayed),
        ]
    else:
        lines = [
            f"# Requests per second imported from the incident source (speed {speed:g}x).",
            "second,rate",
            *(f"{s.second},{_number(s.rate)}" for s in seconds),
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _source_span(window: CandidateWindow, result: Imported) -> tuple[str, str]:
    """A replay window's seconds as the source's own times."""
    return (
        describe_time(result.start_s + window.start_s * result.speed),
        describe_time(result.start_s + window.end_s * result.speed),
    )


def _window_comment(window: CandidateWindow, result: Imported) -> str:
    p99 = f", p99 up to {window.peak_p99_ms:.0f} ms" if window.peak_p99_ms is not None else ""
    begin, end = _source_span(window, result)
    return (
        f"#   - seconds {window.start_s}-{window.end_s} (source {begin} to {end}; "
        f"{' and '.join(window.reasons)}: error rate up to {window.peak_error_rate:.1%}{p99})"
    )


def _scenario_text(options: ImportOptions, result: Imported, name: str) -> str:
    rates = [s.rate for s in result.seconds]
    doc: dict[str, Any] = {
        "name": name,
        "description": (
            f"Replay of {options.source.name} ({result.format}) from "
            f"{describe_time(result.start_s)} to {describe_time(result.end_s)}"
            f" at {options.speed:g}x speed."
        ),
        "load": {
            "rate": _number(max(rates)),
            "duration_s": len(rates),
            "arrivals": {"shape": "trace", "file": "trace.csv", "kind": result.trace_kind},
            **({"body_file": "payloads.jsonl"} if result.payloads else {}),
        },
        "incident": {
            "signature": "signature.json",
            "tolerance_s": DEFAULT_TOLERANCE_S,
            "min_overlap": DEFAULT_MIN_OVERLAP,
        },
    }
    header = [
        f"# Imported by `serving-chaos incident import` from {options.source}.",
        f"# Source time range: {describe_time(result.start_s)} to {describe_time(result.end_s)}"
        f" ({result.format}, speed {options.speed:g}x: one replayed second holds "
        f"{options.speed:g} source seconds of requests).",
        f"# Signature per second in signature.json; "
        f"total requests {_number(result.total_requests)}.",
    ]
    if result.payloads:
        header.append(
            f"# {result.payloads} request bodies in payloads.jsonl, sent in turn "
            "(load.body_file; any 2xx answer is a success)."
        )
    header.append("#")
    header.append("# Candidate fault windows (seconds of this replay where the source broke its")
    header.append(
        f"# own baseline: error rate {ERROR_MARGIN:.0%} points above, or p99 "
        f"{LATENCY_FACTOR:g}x and {LATENCY_FLOOR_MS:g} ms above):"
    )
    header.extend(_window_comment(w, result) for w in result.windows)
    if not result.windows:
        header.append("#   (none)")
    header.append("# Map them to faults: faults: [{name, type, target, start_s, duration_s}].")
    header.append(
        "# `serving-chaos run` compares the replay with signature.json (section incident:) and"
    )
    header.append("# says whether it reproduced the incident.")
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    budgets = "\n".join(
        [
            "# Budgets are left to you, e.g.:",
            "#   - expect: error_rate < 0.01",
            "#   - expect: p99_ms < 500",
            "budgets: []",
        ]
    )
    return "\n".join(header) + "\n" + body + budgets + "\n"


def _second_document(second: Second) -> dict[str, Any]:
    doc: dict[str, Any] = {"second": second.second, "rate": _number(second.rate)}
    doc["error_rates"] = {k: _number(v) for k, v in second.error_rates.items()}
    if second.p50_ms is not None:
        doc["p50_ms"] = _number(second.p50_ms)
    if second.p99_ms is not None:
        doc["p99_ms"] = _number(second.p99_ms)
    return doc


def _signature_document(options: ImportOptions, result: Imported) -> dict[str, Any]:
    return {
        "source": str(options.source),
        "format": result.format,
        "time_range": {
            "from": describe_time(result.start_s),
            "to": describe_time(result.end_s),
            "from_epoch_s": result.start_s,
            "to_epoch_s": result.end_s,
        },
        "speed": options.speed,
        "totals": {
            "requests": _number(result.total_requests),
            "seconds": len(result.seconds),
            "bad_lines": len(result.bad_lines),
            "out_of_order": result.out_of_order,
            "payload_samples": result.payloads,
            "request_bytes": result.request_bytes,
        },
        "baseline": {
            "definition": (
                f"median over the first {BASELINE_SHARE:.0%} of busy seconds; a second is "
                f"anomalous when 429+5xx share > baseline + {ERROR_MARGIN:g} or "
                f"p99 > max({LATENCY_FACTOR:g} x baseline p99, baseline p99 + "
                f"{LATENCY_FLOOR_MS:g} ms)"
            ),
            "error_rate": _number(result.baseline.error_rate),
            "p99_ms": _number(result.baseline.p99_ms)
            if result.baseline.p99_ms is not None
            else None,
            "seconds": result.baseline.seconds,
        },
        "candidate_windows": [
            {
                "start_s": w.start_s,
                "end_s": w.end_s,
                "source_from": _source_span(w, result)[0],
                "source_to": _source_span(w, result)[1],
                "reasons": list(w.reasons),
                "peak_error_rate": _number(w.peak_error_rate),
                "peak_p99_ms": _number(w.peak_p99_ms) if w.peak_p99_ms is not None else None,
            }
            for w in result.windows
        ],
        "seconds": [_second_document(s) for s in result.seconds],
    }


def _write_payloads(path: Path, bodies: Sequence[str]) -> int:
    lines = []
    for body in bodies:
        try:
            lines.append(json.dumps(json.loads(body)))
        except ValueError:
            continue  # not JSON: the load generator only sends JSON samples
    if lines:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.unlink(missing_ok=True)  # left by an earlier import into the same folder
    return len(lines)


def import_incident(options: ImportOptions) -> Imported:
    """Read, cut, compress and write an incident; raises UsageError on bad input."""
    if options.speed <= 0:
        raise UsageError(f"expected --speed > 0 but got {options.speed:g}")
    read = read_source(
        options.source,
        options.format,
        fields=options.fields,
        drop_bodies=options.drop_bodies,
        prom_errors=options.prom_errors,
        prom_latency=options.prom_latency,
    )
    _check_bad(read, options)
    ordered, late = sort_observations(only_paths(read.observations, options.paths, options.source))
    kept = cut(ordered, options.window, str(options.source))
    start = options.window.start_s if options.window.start_s is not None else kept[0].time_s
    replayed = compress(spread_whole_seconds(kept), options.speed, start)
    try:
        return _write(options, read, kept, late, start, replayed)
    except OSError as exc:
        raise UsageError(f"cannot write to --out {options.out}: {exc.strerror or exc}") from exc


def _write(
    options: ImportOptions,
    read: SourceRead,
    kept: Sequence[Observation],
    late: int,
    start: float,
    replayed: tuple[Observation, ...],
) -> Imported:
    seconds = per_second(replayed)
    base = baseline(seconds)
    options.out.mkdir(parents=True, exist_ok=True)
    payloads = _write_payloads(
        options.out / "payloads.jsonl", [o.body for o in kept if o.body is not None]
    )
    result = Imported(
        read.format,
        seconds,
        base,
        candidate_windows(seconds, base),
        sum(o.weight for o in kept),
        read.bad_lines,
        late,
        payloads,
        start,
        kept[-1].time_s,
        options.speed,
        options.out / "scenario.yaml",
        trace_kind(kept),
        _sizes(kept),
    )
    _write_trace(options.out / "trace.csv", result.trace_kind, replayed, seconds, options.speed)
    stem = re.sub(r"[^a-z0-9]+", "-", options.source.stem.lower()).strip("-")
    result.scenario.write_text(
        _scenario_text(options, result, f"incident-{stem or 'source'}"), encoding="utf-8"
    )
    signature = _signature_document(options, result)
    (options.out / "signature.json").write_text(json.dumps(signature, indent=2) + "\n")
    return result


def summary_lines(result: Imported) -> list[str]:
    """The short summary the CLI prints."""
    lines = [
        f"imported {_number(result.total_requests)} requests ({result.format}) from "
        f"{describe_time(result.start_s)} to {describe_time(result.end_s)} "
        f"as {len(result.seconds)} s of trace at {result.speed:g}x",
    ]
    if result.bad_lines:
        shown = ", ".join(str(n) for n, _ in result.bad_lines[:_SHOWN_BAD])
        more = ", ..." if len(result.bad_lines) > _SHOWN_BAD else ""
        lines.append(
            f"warning: {len(result.bad_lines)} unreadable lines skipped (lines {shown}{more})"
        )
    if result.out_of_order:
        lines.append(f"warning: {result.out_of_order} requests were out of time order; sorted")
    for window in result.windows:
        lines.append(
            f"candidate fault window: seconds {window.start_s}-{window.end_s} "
            f"({' and '.join(window.reasons)})"
        )
    if result.payloads:
        lines.append(f"{result.payloads} payload samples written")
    lines.append(f"wrote {result.scenario}, trace.csv and signature.json")
    return lines
