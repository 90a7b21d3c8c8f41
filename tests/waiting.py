"""Waiting in tests: poll a condition until it holds or a deadline passes, never a fixed sleep
that is too short on a busy machine and too long everywhere else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

# Short enough that a test resumes within a few milliseconds of the condition holding, long
# enough that polling a server does not become its load.
POLL_S = 0.01


# What a failure says was awaited: fixed text, or text made at the deadline (to tell the last
# reading of something a boolean condition compared).
What = str | Callable[[], str]


def eventually(
    condition: Callable[[], T], timeout_s: float, *, what: What = "", poll_s: float = POLL_S
) -> T:
    """Call ``condition`` until it returns something truthy, and return that; fail the test,
    saying what was awaited and the last value seen, when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = condition()
        if seen:
            return seen
        if time.monotonic() >= deadline:
            pytest.fail(_timed_out(condition, timeout_s, what, seen))
        time.sleep(poll_s)


async def eventually_async(
    condition: Callable[[], Awaitable[T]],
    timeout_s: float,
    *,
    what: What = "",
    poll_s: float = POLL_S,
) -> T:
    """``eventually`` for a condition that has to be awaited (a request to a server in the
    same event loop): awaits it until it gives something truthy, and returns that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        seen = await condition()
        if seen:
            return seen
        if loop.time() >= deadline:
            pytest.fail(_timed_out(condition, timeout_s, what, seen))
        await asyncio.sleep(poll_s)


def run_async(test: Callable[[], Awaitable[None]], timeout_s: float = 30.0) -> None:
    """Run a test's coroutine on a fresh event loop; a hang fails it after ``timeout_s``
    instead of holding the whole session until pytest-timeout."""

    async def bounded() -> None:
        await asyncio.wait_for(test(), timeout_s)

    asyncio.run(bounded())


def _timed_out(condition: Callable[..., object], timeout_s: float, what: What, seen: object) -> str:
    text = what() if callable(what) else what
    name = text or getattr(condition, "__qualname__", repr(condition))
    message = f"expected {name} within {timeout_s:g}s"
    # A boolean condition's False says nothing the description does not.
    return message if isinstance(seen, bool) else f"{message} but last saw {seen!r}"
