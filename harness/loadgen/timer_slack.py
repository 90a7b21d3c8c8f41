"""Finer sleeps for a self-paced engine (http1, curl) while it runs.

Linux lets a sleeping thread wake up to its timer slack late (50 us by default) so wake-ups can
be merged. The generator's sleeps end at send times, so that slack is lag it would add to every
request sent after an idle gap; it is cut to 1 ns for the run and restored after.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["fine_timers"]

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


@contextmanager
def fine_timers() -> Iterator[None]:
    if not sys.platform.startswith("linux"):
        yield
        return
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        yield
        return
    before = prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
    prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
    try:
        yield
    finally:
        if before > 0:
            prctl(_PR_SET_TIMERSLACK, before, 0, 0, 0)
