"""What `serving-chaos load` reports: one JSON document and a few terminal lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.loadgen.histograms import Tally
from harness.loadgen.recorder import Recorder, timeline_row
from harness.loadgen.stats import GeneratorStats

__all__ = ["LoadResult"]


def _percentiles(tally: Tally, which: str) -> dict[str, float | None]:
    if which == "latency":
        at, top = tally.percentile_ms, tally.max_ms
    else:
        at, top = tally.service_ms, tally.service_max_ms
    return {"p50_ms": at(50), "p90_ms": at(90), "p99_ms": at(99), "max_ms": top()}


@dataclass(frozen=True, slots=True)
class LoadResult:
    url: str
    mode: str  # "open-loop" or "closed-loop"; closed loop cannot see coordinated omission
    shape: str
    workers: int
    engine: str
    duration_s: float
    recorder: Recorder
    generator: GeneratorStats
    # Ray shards (``--workers ray``): where each ran and how it kept its schedule; and why the
    # merged run cannot be trusted, naming shard and node.
    ray: dict[str, Any] | None = None
    shard_problems: list[str] = field(default_factory=list)

    @property
    def open_loop(self) -> bool:
        return self.mode == "open-loop"

    @property
    def notes(self) -> list[str]:
        notes = self.generator.problems(open_loop=self.open_loop) + self.shard_problems
        if not self.open_loop:
            notes.append(
                "closed-loop: each user waits for its answer, so latency is service time and "
                "a stalled server slows the load instead of showing up in the percentiles"
            )
        return notes

    @property
    def valid(self) -> bool:
        return not self.generator.problems(open_loop=self.open_loop) and not self.shard_problems

    def to_json(self) -> dict[str, Any]:
        overall = self.recorder.phases["overall"]
        requests = overall.requests
        seconds = self.duration_s
        return {
            "url": self.url,
            "mode": self.mode,
            "shape": self.shape,
            "workers": self.workers,
            "ray": self.ray,
            "engine": self.engine,
            "valid": self.valid,
            "notes": self.notes,
            "duration_s": round(seconds, 3),
            "requests": requests,
            "offered_rate": round(self.generator.scheduled / seconds, 2) if seconds else None,
            "achieved_rate": round(requests / seconds, 2) if seconds else None,
            "errors": overall.errors,
            "error_rate": round(overall.errors / requests, 6) if requests else 0.0,
            "latency": _percentiles(overall, "latency"),
            "service_time": _percentiles(overall, "service"),
            "statuses": {str(code): n for code, n in sorted(overall.statuses.items())},
            "timeouts": overall.failures.get("timeout", 0),
            "connection_errors": overall.failures.get("connection", 0),
            "failures": dict(overall.failures),
            "dropped": self.generator.dropped,
            "generator": self.generator.to_json(),
            "timeline": [
                {"mode": self.mode, **timeline_row(bucket)}
                for bucket in self.recorder.each_second()
            ],
        }

    def summary_lines(self) -> list[str]:
        data = self.to_json()
        latency, service = data["latency"], data["service_time"]
        label = "from intended start" if self.open_loop else "closed-loop: service time only"
        lines = [
            f"{self.mode} {self.shape} -> {self.url} ({self.workers} workers, {self.engine})",
            f"requests {data['requests']}  achieved {data['achieved_rate']}/s of offered "
            f"{data['offered_rate']}/s  errors {data['errors']}  dropped {data['dropped']}",
            f"latency ({label}) p50 {latency['p50_ms']} p90 {latency['p90_ms']} "
            f"p99 {latency['p99_ms']} max {latency['max_ms']} ms",
            f"service time p50 {service['p50_ms']} p99 {service['p99_ms']} ms  "
            f"scheduling lag p99 {data['generator']['lag_p99_ms']} ms",
            f"statuses {data['statuses']}  failures {data['failures']}",
        ]
        if self.ray is not None:
            lags = " ".join(f"{shard['shard']}:{shard['lag_p99_ms']}" for shard in self.ray["each"])
            lines.append(
                f"ray {self.ray['address']}: {self.ray['shards']} shards on "
                f"{self.ray['nodes']} nodes, lag p99 ms per shard {lags}"
            )
        verdict = "VALID" if self.valid else "INVALID (the generator, not the endpoint)"
        lines.append(f"run {verdict}" + "".join(f"\n  - {note}" for note in self.notes))
        return lines
