"""Live progress, for `serving-chaos load` and `serving-chaos run`: one updating line on a
terminal, plain lines in CI logs, nothing at all when quiet. Closed-loop loads say so on every
line. A run that streams shows its streams' time to first token and tokens instead of whole-answer
latency, and an endpoint in the LLM mode its running and waiting sequences instead of the
scoring endpoint's queue and in-flight gauges."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.text import Text

from harness.loadgen.histograms import Bucket

__all__ = [
    "LiveLine",
    "LiveProgress",
    "LoadProgress",
    "Sequences",
    "load_line",
    "progress_line",
]


@dataclass(frozen=True, slots=True)
class Sequences:
    """An LLM endpoint's sequences in one second: generating, and waiting for a sequence or
    for room in the KV cache (each the second's highest reading; None when not read)."""

    running: float | None
    waiting: float | None


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _latency(bucket: Bucket) -> str:
    """Whole-answer p99; for a second of streams, its time to first token p99 and its tokens
    (those of the second's streams received so far)."""
    stream = bucket.stream
    if stream is None:
        p99 = bucket.latency.get_value_at_percentile(99) / 1000.0
        return f"p99 {p99:.1f} ms"
    ttft = stream.percentile_ms("ttft", 99)
    shown = "-" if ttft is None else f"{ttft:.1f} ms"
    return f"ttft p99 {shown}  tokens {stream.tokens}"


def progress_line(
    elapsed_s: float, total_s: float, bucket: Bucket | None, sequences: Sequences | None = None
) -> str:
    """The run's line for the second just past: its rate, latency and errors, then the
    endpoint's LLM sequences when it exposes them, else its queue and in-flight gauges. The
    sequences show while no answer has come back too: that is when a queue builds."""
    line = f"t={elapsed_s:5.1f}/{total_s:g}s"
    seqs = (
        ""
        if sequences is None
        else f"  seqs {_count(sequences.running)} run {_count(sequences.waiting)} wait"
    )
    if bucket is None or not bucket.requests:
        return f"{line}  waiting for responses{seqs}"
    line += f"  rate {bucket.requests}/s  {_latency(bucket)}  errors {bucket.errors}"
    if sequences is not None:
        return line + seqs
    return f"{line}  queue {_count(bucket.queue_depth)}  in-flight {_count(bucket.inflight)}"


class LiveLine:
    """One updating line on a terminal, plain lines in logs, nothing when quiet."""

    def __init__(self, console: Console, *, quiet: bool = False, first: str = "starting") -> None:
        self._console = console
        self._quiet = quiet
        self._first = first
        self._live: Live | None = None

    def __enter__(self) -> Self:
        if not self._quiet and self._console.is_terminal:
            self._live = Live(Text(self._first), console=self._console, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, value, traceback)

    def show(self, line: str) -> None:
        if self._quiet:
            return
        if self._live is not None:
            self._live.update(Text(line))
        else:
            self._console.print(line, markup=False, highlight=False)


class LiveProgress(LiveLine):
    """The runner's progress callback: one line per second of the run."""

    def __init__(self, console: Console, total_s: float) -> None:
        super().__init__(console)
        self._total_s = total_s

    def __call__(
        self, elapsed_s: float, bucket: Bucket | None, sequences: Sequences | None = None
    ) -> None:
        self.show(progress_line(elapsed_s, self._total_s, bucket, sequences))


def load_line(
    mode: str, elapsed_s: float, total_s: float, bucket: Bucket | None, inflight: int
) -> str:
    line = f"[{mode}] t={elapsed_s:5.1f}/{total_s:g}s  in-flight {inflight}"
    if bucket is None or not bucket.requests:
        return f"{line}  waiting for responses"
    p99 = bucket.latency.get_value_at_percentile(99) / 1000.0
    return f"{line}  rate {bucket.requests}/s  p99 {p99:.1f} ms  errors {bucket.errors}"


class LoadProgress(LiveLine):
    """Context manager that is also the per-second tick callback of the worker processes."""

    def __init__(self, console: Console, total_s: float, mode: str, *, quiet: bool) -> None:
        super().__init__(console, quiet=quiet, first=f"[{mode}] starting")
        self._total_s = total_s
        self._mode = mode

    def __call__(self, elapsed_s: float, bucket: Bucket | None, inflight: int) -> None:
        self.show(load_line(self._mode, elapsed_s, self._total_s, bucket, inflight))
