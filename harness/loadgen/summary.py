"""What `serving-chaos load` reports: one JSON document and a few terminal lines."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.loadgen.histograms import StreamTally, Tally
from harness.loadgen.lengths import length_to_json
from harness.loadgen.llm_requests import LlmRequests
from harness.loadgen.recorder import Recorder, timeline_row
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.streams import StreamSlo

__all__ = ["LoadResult"]


def _percentiles(tally: Tally, which: str) -> dict[str, float | None]:
    if which == "latency":
        at, top = tally.percentile_ms, tally.max_ms
    else:
        at, top = tally.service_ms, tally.service_max_ms
    return {"p50_ms": at(50), "p90_ms": at(90), "p99_ms": at(99), "max_ms": top()}


def _llm_json(llm: LlmRequests | None) -> dict[str, Any] | None:
    if llm is None:
        return None
    return {
        "api": llm.api,
        "prompt_tokens": length_to_json(llm.prompt_tokens),
        "max_tokens": length_to_json(llm.max_tokens),
        "model": llm.model,
        "seed": llm.seed,
        "distinct": llm.distinct,
    }


def _points(measure: dict[str, float | None]) -> str:
    return " ".join(f"{p} {measure[p]}" for p in ("p50", "p90", "p99"))


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
    # ``--stream``: answers were read as event streams, judged against ``slo`` for goodput;
    # ``llm`` the ``--llm-*`` requests that made the bodies, if any.
    stream: bool = False
    slo: StreamSlo = field(default_factory=StreamSlo)
    llm: LlmRequests | None = None

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
            "stream": self._stream_json(),
            "llm": _llm_json(self.llm),
            "timeline": [
                {"mode": self.mode, **timeline_row(bucket)}
                for bucket in self.recorder.each_second()
            ],
        }

    def _stream_json(self) -> dict[str, Any] | None:
        """The streamed answers' measures as a scenario's phase reports them (TTFT, ITL and
        TPOT percentiles, streams, complete, cut, tokens, tokens_per_s, goodput), over the
        schedule's seconds; None for a load of whole answers."""
        if not self.stream:
            return None
        from harness.verdict.phases import PhaseStats

        overall = self.recorder.phases["overall"]
        if overall.stream is None:
            # Not one stream began (every request failed first): zero streams, not "none".
            overall = replace(overall, stream=StreamTally())
        measured = PhaseStats("overall", overall, 0.0, self.duration_s).summary()["stream"]
        objectives = {
            "ttft_ms": self.slo.ttft_ms,
            "tpot_ms": self.slo.tpot_ms,
            "e2e_ms": self.slo.e2e_ms,
        }
        return {**measured, "slo": {k: v for k, v in objectives.items() if v is not None}}

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
        stream = data["stream"]
        if stream is not None:
            slo = " ".join(f"{k.removesuffix('_ms')}<={v:g}" for k, v in stream["slo"].items())
            lines += [
                f"stream TTFB {_points(stream['ttfb_ms'])} ms  TTFT {_points(stream['ttft_ms'])} "
                f"ms  ITL {_points(stream['itl_ms'])} "
                f"ms  TPOT {_points(stream['tpot_ms'])} ms",
                f"streams {stream['streams']}  complete {stream['complete']}  cut "
                f"{stream['cut']}  tokens {stream['tokens']} ({stream['tokens_per_s']}/s)  "
                f"goodput {stream['goodput']} ({stream['good']} good"
                + (f", SLO {slo})" if slo else ", no SLO: every complete stream)"),
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
