"""Live progress, for `serving-chaos load` and `serving-chaos run`: one updating line on a
terminal, plain lines in CI logs, nothing at all when quiet. Closed-loop loads say so on every
line."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.text import Text

from harness.loadgen.histograms import Bucket

__all__ = ["LiveLine", "LiveProgress", "LoadProgress", "load_line", "progress_line"]


def progress_line(elapsed_s: float, total_s: float, bucket: Bucket | None) -> str:
    line = f"t={elapsed_s:5.1f}/{total_s:g}s"
    if bucket is None or not bucket.requests:
        return f"{line}  waiting for responses"
    p99 = bucket.latency.get_value_at_percentile(99) / 1000.0
    return (
        f"{line}  rate {bucket.requests}/s  p99 {p99:.1f} ms  errors {bucket.errors}"
        f"  queue {'-' if bucket.queue_depth is None else f'{bucket.queue_depth:g}'}"
        f"  in-flight {'-' if bucket.inflight is None else f'{bucket.inflight:g}'}"
    )


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

    def __call__(self, elapsed_s: float, bucket: Bucket | None) -> None:
        self.show(progress_line(elapsed_s, self._total_s, bucket))


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
