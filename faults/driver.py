"""Applies scheduled faults at their times and always reverts them, recording what happened."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from faults.schedule import FaultControl, FaultWindow, ScheduledFault

__all__ = ["WindowObserver", "drive_faults"]


class WindowObserver(Protocol):
    """Told the moment a fault really starts and ends (seconds since load started)."""

    def started(self, name: str, t: float) -> None: ...

    def ended(self, name: str, t: float) -> None: ...


class _Nobody:
    def started(self, name: str, t: float) -> None:
        return None

    def ended(self, name: str, t: float) -> None:
        return None


async def _one(
    scheduled: ScheduledFault,
    control: FaultControl,
    t0: float,
    windows: list[FaultWindow],
    observer: WindowObserver,
) -> None:
    delay = t0 + scheduled.start_s - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    fault = scheduled.fault
    started: float | None = None
    # Toxiproxy's API is blocking HTTP: keep it off the event loop that times requests. The call
    # is shielded and awaited again before the revert, so a cancel that lands mid-apply cannot
    # let the revert overtake the apply and leave the fault behind.
    applying = asyncio.ensure_future(asyncio.to_thread(fault.apply, control, scheduled.name))
    try:
        await asyncio.shield(applying)
        started = time.monotonic() - t0
        observer.started(scheduled.name, started)
        remaining = t0 + scheduled.end_s - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
    finally:
        await asyncio.wait([applying])
        await asyncio.to_thread(fault.revert, control, scheduled.name)
        ended = time.monotonic() - t0
        if started is not None:
            observer.ended(scheduled.name, ended)
            windows.append(
                FaultWindow(
                    name=scheduled.name,
                    target=fault.target,
                    description=fault.describe(),
                    planned_start_s=scheduled.start_s,
                    planned_end_s=scheduled.end_s,
                    actual_start_s=started,
                    actual_end_s=ended,
                )
            )


async def drive_faults(
    schedule: tuple[ScheduledFault, ...],
    control: FaultControl,
    *,
    t0: float,
    observer: WindowObserver | None = None,
) -> list[FaultWindow]:
    """Run the whole schedule; on cancellation every applied fault is still reverted."""
    windows: list[FaultWindow] = []
    watcher = observer or _Nobody()
    await asyncio.gather(*(_one(s, control, t0, windows, watcher) for s in schedule))
    return sorted(windows, key=lambda w: w.actual_start_s)
