"""Labels that make every container of a run findable, and the reaper of runs that died.

A container carries the run id plus the pid and start time of the harness process that owns it.
A later run removes containers whose owner is gone: the pid no longer exists, or it now names
another process (a different start time), so a reused pid does not protect a leftover.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "OWNER_PID",
    "OWNER_START",
    "RUN",
    "SERVICE",
    "new_run_id",
    "owner_alive",
    "reap_dead_runs",
    "run_containers",
    "run_labels",
]

RUN = "serving-chaos.run"
SERVICE = "serving-chaos.service"
OWNER_PID = "serving-chaos.pid"
OWNER_START = "serving-chaos.pid-start"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name may hold spaces, so count from the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def run_labels(run_id: str, service: str) -> dict[str, str]:
    pid = os.getpid()
    return {
        RUN: run_id,
        SERVICE: service,
        OWNER_PID: str(pid),
        OWNER_START: _start_time(pid) or "",
    }


def owner_alive(labels: dict[str, str]) -> bool:
    try:
        pid = int(labels.get(OWNER_PID, ""))
    except ValueError:
        return False
    started = _start_time(pid)
    return started is not None and started == labels.get(OWNER_START, started)


def run_containers(client: Any, run_id: str | None = None) -> list[Any]:
    """Containers (running or not) of one run, or of every run when ``run_id`` is None."""
    selector = RUN if run_id is None else f"{RUN}={run_id}"
    containers: list[Any] = client.containers.list(all=True, filters={"label": selector})
    return containers


def reap_dead_runs(client: Any) -> list[str]:
    """Force-remove containers whose owning process is gone; returns their names."""
    from docker.errors import NotFound

    reaped: list[str] = []
    for container in run_containers(client):
        if owner_alive(container.labels):
            continue
        try:
            container.remove(force=True)
        except NotFound:
            continue
        reaped.append(str(container.name))
    return reaped
