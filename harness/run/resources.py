"""CPU and memory of the system under test's endpoint service during a run, read from /proc
once a second: the service's process (for a container, its main process as the host sees it)
and every descendant, found through the parent pid in /proc/*/stat.

CPU is utime + stime of every process in the tree, plus cutime + cstime (the time of children
already reaped, so a worker that exits mid-run does not take its time with it); a sample's
``cpu_pct`` is the CPU seconds used over the wall seconds it covers, as a percent of the CPUs
the service may use: the container's CPU limit when the docker backend started it with one,
else every core of the machine (``os.cpu_count()``; 100 % = all of them busy). Memory is the
sum of the tree's resident set sizes (a page shared by two processes counts twice), as a
percent of the container's memory limit when there is one, else of the machine's MemTotal.
Both bases are read once, when sampling starts: a ``limit`` fault does not move them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import ChaosError
from harness.system.backends.base import RunningService

__all__ = [
    "Capacity",
    "ResourceSample",
    "ResourceSampler",
    "TreeReading",
    "capacity_of",
    "machine_capacity",
    "read_tree",
    "usage_by_phase",
]

_PROC = Path("/proc")
# Fields of /proc/PID/stat counted from the one after the command name's closing ')'.
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME, _RSS = 1, 11, 12, 13, 14, 21


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the percentages are of: CPUs and bytes the service may use, and where that came
    from."""

    cpu_cores: float
    cpu_basis: str
    memory_bytes: int
    memory_basis: str


def _mem_total_bytes() -> int:
    for line in (_PROC / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ChaosError("/proc/meminfo has no MemTotal line")


def machine_capacity() -> Capacity:
    cores = os.cpu_count() or 1
    memory = _mem_total_bytes()
    return Capacity(
        float(cores),
        f"{cores} cores of the machine (os.cpu_count)",
        memory,
        f"the machine's MemTotal ({memory / (1 << 30):.1f} GiB)",
    )


def capacity_of(service: RunningService) -> Capacity:
    """The container's limits where the docker backend set them, the machine's otherwise."""
    machine = machine_capacity()
    try:
        host: Mapping[str, Any] = service.attrs.get("HostConfig") or {}
    except ChaosError:
        # A process or a remote service: no container, so no limits but the machine's.
        return machine
    nano, quota, period = (int(host.get(key) or 0) for key in ("NanoCpus", "CpuQuota", "CpuPeriod"))
    cpus = nano / 1e9 if nano > 0 else quota / period if quota > 0 and period > 0 else 0.0
    memory = int(host.get("Memory") or 0)
    capacity = machine
    if cpus:
        plural = "" if cpus == 1 else "s"
        limit = f"the container's CPU limit ({cpus:g} CPU{plural})"
        capacity = replace(capacity, cpu_cores=cpus, cpu_basis=limit)
    if memory:
        limit = f"the container's memory limit ({memory / (1 << 20):.0f} MiB)"
        capacity = replace(capacity, memory_bytes=memory, memory_basis=limit)
    return capacity


@dataclass(frozen=True, slots=True)
class TreeReading:
    """One look at a process tree: CPU seconds used so far and resident bytes now."""

    pid: int
    cpu_s: float
    rss_bytes: int
    processes: int


def _stat_fields(pid: str) -> list[str] | None:
    try:
        stat = (_PROC / pid / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields resume after the last ')'.
    return stat.rsplit(")", 1)[1].split()


def read_tree(root: int) -> TreeReading | None:
    """CPU time and RSS of ``root`` and its descendants; None when ``root`` is gone."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        pid = int(entry.name)
        stats[pid] = fields
        children.setdefault(int(fields[_PPID]), []).append(pid)
    if root not in stats:
        return None
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    todo, cpu_ticks, rss_pages, count = [root], 0, 0, 0
    while todo:
        pid = todo.pop()
        fields = stats[pid]
        cpu_ticks += sum(int(fields[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
        rss_pages += int(fields[_RSS])
        count += 1
        todo.extend(children.get(pid, ()))
    return TreeReading(root, cpu_ticks / ticks, rss_pages * page, count)


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """The tree over one interval: CPU over (since_s, at_s], memory at at_s (run seconds)."""

    since_s: float
    at_s: float
    cpu_pct: float | None
    memory_pct: float
    rss_bytes: int

    @property
    def middle_s(self) -> float:
        return (self.since_s + self.at_s) / 2

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.at_s, 3),
            "cpu_pct": self.cpu_pct,
            "memory_pct": self.memory_pct,
            "rss_mb": round(self.rss_bytes / (1 << 20), 1),
        }


def _max_mean(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(max(values), 2), round(sum(values) / len(values), 2)


def usage_by_phase(
    samples: list[ResourceSample], spans: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, Any]]:
    """Per phase, the worst and mean CPU and memory percent of the samples whose middle falls
    inside it."""
    usage: dict[str, dict[str, Any]] = {}
    for phase, (start, end) in spans.items():
        inside = [s for s in samples if start <= s.middle_s < end]
        cpu_max, cpu_mean = _max_mean([s.cpu_pct for s in inside if s.cpu_pct is not None])
        memory_max, memory_mean = _max_mean([s.memory_pct for s in inside])
        usage[phase] = {
            "cpu_pct": cpu_max,
            "cpu_pct_mean": cpu_mean,
            "memory_pct": memory_max,
            "memory_pct_mean": memory_mean,
            "samples": len(inside),
        }
    return usage


class ResourceSampler:
    """Reads one service's process tree once a second while a run goes on, and keeps what it
    read: it changes as it samples (``samples``, and ``reason`` once it knows it cannot)."""

    def __init__(
        self,
        service: RunningService | None,
        name: str,
        *,
        interval_s: float = 1.0,
        capacity: Capacity | None = None,
    ) -> None:
        self.name = name
        self.samples: list[ResourceSample] = []
        # Found when sampling starts, unless given.
        self.capacity = capacity
        self.reason = ""
        self._service = service
        self._interval_s = interval_s
        self._pid: int | None = None
        self._last: tuple[float, TreeReading] | None = None

    @property
    def measured(self) -> bool:
        return self.capacity is not None and not self.reason

    async def run(self, *, t0: float, stop: asyncio.Event) -> None:
        """Sample at t0, t0 + 1 s, ... until ``stop`` is set. /proc is read in a thread: a
        scan of every process must not hold up the event loop that times requests."""
        if self._service is None:
            self.reason = f"no {self.name} service to read"
            return
        found = await asyncio.to_thread(self._prepare)
        self.capacity = self.capacity or found
        if found is None:
            return
        tick = 0
        while not stop.is_set():
            delay = t0 + tick * self._interval_s - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    return
            reading = await asyncio.to_thread(self._read)
            if reading is not None:
                self.record(time.monotonic() - t0, reading)
            tick = max(tick + 1, int((time.monotonic() - t0) / self._interval_s) + 1)

    def _prepare(self) -> Capacity | None:
        service = self._service
        if service is None:
            return None
        pid = service.pid
        if pid is None:
            self.reason = (
                f"the {self.name} has no process the harness can see (a target.url runs elsewhere)"
            )
            return None
        if read_tree(pid) is None:
            self.reason = f"/proc/{pid}/stat of the {self.name} cannot be read"
            return None
        self._pid = pid
        return capacity_of(service)

    def _read(self) -> TreeReading | None:
        """The tree now; after a restart (a crash fault) the service's new pid is looked up."""
        reading = None if self._pid is None else read_tree(self._pid)
        if reading is None and self._service is not None:
            self._pid = self._service.pid
            reading = None if self._pid is None else read_tree(self._pid)
        return reading

    def record(self, at_s: float, reading: TreeReading) -> None:
        """One reading taken ``at_s`` seconds into the run: memory now, CPU since the last
        reading of the same process (none after a restart, whose tree starts again at 0)."""
        capacity = self.capacity
        if capacity is None:
            return
        since_s, cpu_pct = at_s, None
        if self._last is not None and self._last[1].pid == reading.pid:
            since_s, before = self._last[0], self._last[1]
            used = reading.cpu_s - before.cpu_s
            # A descendant that exited unreaped takes its time along: that interval is unknown.
            if used >= 0 and at_s > since_s:
                cpu_pct = round(100 * used / (at_s - since_s) / capacity.cpu_cores, 2)
        memory_pct = round(100 * reading.rss_bytes / capacity.memory_bytes, 2)
        self.samples.append(ResourceSample(since_s, at_s, cpu_pct, memory_pct, reading.rss_bytes))
        self._last = (at_s, reading)

    def report(self, spans: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
        """What results.json says, and resource budgets are judged against."""
        capacity = self.capacity
        if not self.measured or capacity is None:
            why = self.reason or "sampling never started"
            return {"service": self.name, "measured": False, "reason": why}
        return {
            "service": self.name,
            "measured": True,
            "reason": "",
            "cpu_basis": capacity.cpu_basis,
            "cpu_cores": capacity.cpu_cores,
            "memory_basis": capacity.memory_basis,
            "memory_bytes": capacity.memory_bytes,
            "phases": usage_by_phase(self.samples, spans),
            "timeline": [sample.to_json() for sample in self.samples],
        }
