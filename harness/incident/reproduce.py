"""Did a replay reproduce its incident? The replay's seconds judged by the rule the source was.

The source's signature (``signature.json``, written by ``incident import``) says per replayed
second what the source showed and which seconds broke the source's own baseline. A run of the
imported scenario is reduced to the same per-second figures (its timeline: requests by status
class, transport failures counted with 5xx, p99 from each request's intended start) and judged
against *its own* baseline by the same rule (:func:`harness.incident.signature.anomaly`).

Overlap, with a tolerance of ``tolerance_s`` seconds either way:

- ``recall``: the share of the source's anomalous seconds that have an anomalous replay second
  within the tolerance;
- ``precision``: the share of the replay's anomalous seconds that have an anomalous source second
  within the tolerance.

The replay **reproduced** the incident when both reach ``min_overlap``. A source that never broke
its baseline is reproduced by a replay that never breaks its own. Only the seconds the source
covers are compared: a replay's drain after the trace ends is not part of the incident.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.incident.signature import (
    CLASSES,
    Baseline,
    CandidateWindow,
    Second,
    anomaly,
    baseline,
    candidate_windows,
)

__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "DEFAULT_TOLERANCE_S",
    "Reproduction",
    "SourceSignature",
    "compare",
    "read_signature",
    "replay_seconds",
]

DEFAULT_TOLERANCE_S = 2
DEFAULT_MIN_OVERLAP = 0.7


@dataclass(frozen=True, slots=True)
class SourceSignature:
    """What ``signature.json`` says the source showed, second by replayed second."""

    source: str
    seconds: tuple[Second, ...]

    @property
    def baseline(self) -> Baseline:
        return baseline(self.seconds)


def _float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number but got {value!r}")
    return float(value)


def read_signature(path: Path) -> SourceSignature:
    """Read ``signature.json``; a ValueError says what is wrong with it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc
    rows = doc.get("seconds") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(
            f"{path} has no 'seconds' list: expected the signature.json that "
            "`serving-chaos incident import` writes"
        )
    seconds = []
    for index, row in enumerate(rows):
        where = f"{path}: seconds[{index}]"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object but got {row!r}")
        rates = row.get("error_rates") or {}
        if not isinstance(rates, dict):
            raise ValueError(f"{where}.error_rates: expected an object but got {rates!r}")
        seconds.append(
            Second(
                index,
                _float(row.get("rate"), f"{where}.rate") or 0.0,
                {str(k): _float(v, f"{where}.error_rates.{k}") or 0.0 for k, v in rates.items()},
                _float(row.get("p50_ms"), f"{where}.p50_ms"),
                _float(row.get("p99_ms"), f"{where}.p99_ms"),
            )
        )
    return SourceSignature(str(doc.get("source", path.name)), tuple(seconds))


def _class_of(status: int) -> str:
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "2xx"


def replay_seconds(timeline: Iterable[Mapping[str, Any]], length: int) -> tuple[Second, ...]:
    """Seconds ``0 .. length-1`` of a run's timeline rows (``results.json`` ``timeline``) as
    :class:`Second` values; a transport failure (timeout, reset, refused) counts as 5xx."""
    rows = {int(row["t"]): row for row in timeline if 0 <= int(row["t"]) < length}
    seconds = []
    for index in range(length):
        row = rows.get(index)
        counts = dict.fromkeys(CLASSES, 0.0)
        if row is not None:
            for code, n in row.get("statuses", {}).items():
                counts[_class_of(int(code))] += n
            counts["5xx"] += sum(row.get("failures", {}).values())
        total = sum(counts.values())
        seconds.append(
            Second(
                index,
                total,
                {name: n / total for name, n in counts.items()} if total else {},
                None if row is None else row.get("p50_ms"),
                None if row is None else row.get("p99_ms"),
            )
        )
    return tuple(seconds)


def _anomalous(seconds: Sequence[Second], base: Baseline) -> list[int]:
    return [s.second for s in seconds if anomaly(s, base)]


def _matched(these: Sequence[int], others: Sequence[int], tolerance: int) -> float | None:
    if not these:
        return None
    near = sum(1 for s in these if any(abs(s - o) <= tolerance for o in others))
    return near / len(these)


@dataclass(frozen=True, slots=True)
class Reproduction:
    """The comparison of a replay with its source, and its verdict."""

    reproduced: bool
    source: SourceSignature
    replay: tuple[Second, ...]
    source_baseline: Baseline
    replay_baseline: Baseline
    source_windows: tuple[CandidateWindow, ...]
    replay_windows: tuple[CandidateWindow, ...]
    recall: float | None
    precision: float | None
    tolerance_s: int
    min_overlap: float

    def summary(self) -> str:
        """One sentence: the verdict and what it rests on."""
        word = "REPRODUCED" if self.reproduced else "NOT REPRODUCED"
        source = _spans(self.source_windows) or "never"
        replay = _spans(self.replay_windows) or "never"
        text = (
            f"incident {word}: the source broke its baseline in seconds {source}, "
            f"the replay in {replay}"
        )
        if self.recall is None:
            return text
        precision = "-" if self.precision is None else f"{self.precision:.0%}"
        return (
            f"{text}; {self.recall:.0%} of the source's seconds and {precision} of the "
            f"replay's within {self.tolerance_s} s of each other (needs "
            f"{self.min_overlap:.0%} both ways)"
        )

    def to_json(self) -> dict[str, Any]:
        source_bad = set(_anomalous(self.source.seconds, self.source_baseline))
        replay_bad = set(_anomalous(self.replay, self.replay_baseline))
        return {
            "reproduced": self.reproduced,
            "summary": self.summary(),
            "source": self.source.source,
            "rule": {
                "tolerance_s": self.tolerance_s,
                "min_overlap": self.min_overlap,
                "recall": _round(self.recall),
                "precision": _round(self.precision),
            },
            "baseline": {
                "source": _baseline_json(self.source_baseline),
                "replay": _baseline_json(self.replay_baseline),
            },
            "source_windows": [_window_json(w) for w in self.source_windows],
            "replay_windows": [_window_json(w) for w in self.replay_windows],
            "seconds": [
                {
                    "t": i,
                    "source": _second_json(src, i in source_bad),
                    "replay": _second_json(rep, i in replay_bad),
                }
                for i, (src, rep) in enumerate(zip(self.source.seconds, self.replay, strict=True))
            ],
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _baseline_json(base: Baseline) -> dict[str, Any]:
    return {"error_rate": _round(base.error_rate), "p99_ms": _round(base.p99_ms, 3)}


def _window_json(window: CandidateWindow) -> dict[str, Any]:
    return {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "reasons": list(window.reasons),
        "peak_error_rate": _round(window.peak_error_rate),
        "peak_p99_ms": _round(window.peak_p99_ms, 3),
    }


def _second_json(second: Second, anomalous: bool) -> dict[str, Any]:
    return {
        "rate": _round(second.rate, 3),
        "error_rate": _round(second.failing) if second.error_rates else None,
        "p99_ms": _round(second.p99_ms, 3),
        "anomalous": anomalous,
    }


def _spans(windows: Sequence[CandidateWindow]) -> str:
    return ", ".join(f"{w.start_s}-{w.end_s}" for w in windows)


def compare(
    source: SourceSignature,
    timeline: Iterable[Mapping[str, Any]],
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> Reproduction:
    """Judge a run's timeline against the source it replays."""
    replay = replay_seconds(timeline, len(source.seconds))
    source_base, replay_base = source.baseline, baseline(replay)
    source_bad = _anomalous(source.seconds, source_base)
    replay_bad = _anomalous(replay, replay_base)
    recall = _matched(source_bad, replay_bad, tolerance_s)
    precision = _matched(replay_bad, source_bad, tolerance_s)
    if not source_bad:
        reproduced = not replay_bad
    else:
        reproduced = (recall or 0.0) >= min_overlap and (precision or 0.0) >= min_overlap
    return Reproduction(
        reproduced,
        source,
        replay,
        source_base,
        replay_base,
        candidate_windows(source.seconds, source_base),
        candidate_windows(replay, replay_base),
        recall,
        precision,
        tolerance_s,
        min_overlap,
    )
