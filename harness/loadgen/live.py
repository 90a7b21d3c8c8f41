"""Live progress for `serving-chaos load`: one updating line on a terminal, plain lines in CI
logs, nothing at all with --quiet. Closed-loop runs say so on every line."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from harness.recorder import Bucket


def load_line(
    mode: str, elapsed_s: float, total_s: float, bucket: Bucket | None, inflight: int
) -> str:
    line = f"[{mode}] t={elapsed_s:5.1f}/{total_s:g}s  in-flight {inflight}"
    if bucket is None or not bucket.requests:
        return f"{line}  waiting for responses"
    p99 = bucket.latency.get_value_at_percentile(99) / 1000.0
    return f"{line}  rate {bucket.requests}/s  p99 {p99:.1f} ms  errors {bucket.errors}"


class LoadProgress:
    """Context manager that is also the per-second tick callback of the worker processes."""

    def __init__(self, console: Console, total_s: float, mode: str, *, quiet: bool) -> None:
        self._console = console
        self._total_s = total_s
        self._mode = mode
        self._quiet = quiet
        self._live: Live | None = None

    def __enter__(self) -> LoadProgress:
        if not self._quiet and self._console.is_terminal:
            self._live = Live(
                Text(f"[{self._mode}] starting"), console=self._console, transient=True
            )
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

    def __call__(self, elapsed_s: float, bucket: Bucket | None, inflight: int) -> None:
        if self._quiet:
            return
        line = load_line(self._mode, elapsed_s, self._total_s, bucket, inflight)
        if self._live is not None:
            self._live.update(Text(line))
        else:
            self._console.print(line, markup=False, highlight=False)
