"""Live progress for `serving-chaos load`: one updating line on a terminal, plain lines in CI
logs, nothing at all with --quiet. Closed-loop runs say so on every line."""

from __future__ import annotations

from rich.console import Console

from harness.progress import LiveLine
from harness.recorder import Bucket


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
