"""Faults: validation, what each asks of Toxiproxy, and the driver's apply/revert on time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest

from faults import FaultWindow, ProxyDown, ScheduledFault, Toxic
from faults.driver import drive_faults

Call = tuple[Any, ...]


class FakeControl:
    """Records every call, in order, from whichever thread makes it."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.applied = threading.Event()
        self._lock = threading.Lock()

    def _note(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        attributes: dict[str, int],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        self._note(("add", proxy, name, type, attributes, stream, toxicity))
        self.applied.set()

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._note(("remove", proxy, name))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._note(("enabled", proxy, enabled))

    def container(self, service: str) -> Any:
        raise AssertionError(f"network faults never touch containers ({service})")

    def fault_control_url(self, target: str) -> str:
        raise AssertionError(f"network faults never touch HTTP hops ({target})")

    def kinds_for(self, name: str) -> list[str]:
        return [call[0] for call in self.calls if name in call]


class BlockingControl(FakeControl):
    """add_toxic blocks until released, like a slow Toxiproxy API call."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def add_toxic(self, proxy: str, **toxic: Any) -> None:
        self.entered.set()
        self.release.wait(timeout=5)
        super().add_toxic(proxy, **toxic)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"type": "jitterbug"}, "but got type='jitterbug'", id="unknown-type"),
        pytest.param(
            {"attributes": {"lag": 5}}, "for a latency toxic but got ['lag']", id="unknown-attr"
        ),
        pytest.param(
            {"type": "bandwidth", "attributes": {"latency": 5}},
            "expected attributes among ['rate'] for a bandwidth toxic",
            id="attr-of-other-type",
        ),
        pytest.param(
            {"attributes": {"latency": -1}}, "non-negative integer but got latency=-1", id="neg"
        ),
        pytest.param(
            {"attributes": {"latency": 1.5}}, "non-negative integer but got latency=1.5", id="float"
        ),
        pytest.param(
            {"attributes": {"latency": True}},
            "non-negative integer but got latency=True",
            id="bool",
        ),
        pytest.param({"stream": "sideways"}, "but got stream='sideways'", id="bad-stream"),
        pytest.param({"toxicity": 1.5}, "but got toxicity=1.5", id="toxicity-above-one"),
        pytest.param({"toxicity": -0.1}, "but got toxicity=-0.1", id="toxicity-negative"),
    ],
)
def test_toxic_validation(kwargs: dict[str, Any], fragment: str) -> None:
    spec: dict[str, Any] = {"type": "latency", "target": "feature-store"} | kwargs

    with pytest.raises(ValueError, match="expected") as info:
        Toxic(**spec)

    assert fragment in str(info.value)


@pytest.mark.parametrize("toxicity", [0.0, 0.5, 1.0])
def test_toxicity_bounds_are_inclusive(toxicity: float) -> None:
    assert Toxic("timeout", "endpoint", {"timeout": 0}, toxicity=toxicity).toxicity == toxicity


def test_toxic_attributes_are_a_frozen_copy() -> None:
    attributes = {"latency": 150}
    toxic = Toxic("latency", "feature-store", attributes)

    attributes["latency"] = 1
    assert toxic.attributes == {"latency": 150}
    with pytest.raises(TypeError):
        toxic.attributes["latency"] = 2  # type: ignore[index]


def test_toxic_apply_and_revert_call_control() -> None:
    control = FakeControl()
    toxic = Toxic("latency", "feature-store", {"latency": 150, "jitter": 10}, "upstream", 0.5)

    toxic.apply(control, "slow")
    toxic.revert(control, "slow")

    assert control.calls == [
        (
            "add",
            "feature-store",
            "slow",
            "latency",
            {"latency": 150, "jitter": 10},
            "upstream",
            0.5,
        ),
        ("remove", "feature-store", "slow"),
    ]
    assert type(control.calls[0][4]) is dict


def test_proxy_down_apply_and_revert_toggle_the_proxy() -> None:
    control = FakeControl()
    down = ProxyDown("endpoint")

    down.apply(control, "gone")
    down.revert(control, "gone")

    assert control.calls == [("enabled", "endpoint", False), ("enabled", "endpoint", True)]


def test_describe() -> None:
    toxic = Toxic("latency", "feature-store", {"latency": 150, "jitter": 0})

    assert toxic.describe() == "latency(jitter=0, latency=150) on feature-store downstream"
    assert ProxyDown("endpoint").describe() == "endpoint down"


@pytest.mark.parametrize(
    ("start", "duration", "fragment"),
    [
        pytest.param(-0.1, 1.0, "expected start_s >= 0 but got start_s=-0.1", id="neg-start"),
        pytest.param(0.0, 0.0, "expected duration_s > 0 but got duration_s=0.0", id="zero-dur"),
        pytest.param(1.0, -2.0, "expected duration_s > 0 but got duration_s=-2.0", id="neg-dur"),
    ],
)
def test_scheduled_fault_rejects_bad_times(start: float, duration: float, fragment: str) -> None:
    with pytest.raises(ValueError, match="expected") as info:
        ScheduledFault("f", ProxyDown("endpoint"), start, duration)

    assert fragment in str(info.value)


def test_scheduled_fault_end() -> None:
    assert ScheduledFault("f", ProxyDown("endpoint"), 2.5, 1.5).end_s == 4.0


def test_fault_window_to_json_rounds_times() -> None:
    window = FaultWindow("f", "endpoint", "endpoint down", 1.0, 2.0, 1.000049, None)

    assert window.to_json() == {
        "name": "f",
        "target": "endpoint",
        "description": "endpoint down",
        "planned_start_s": 1.0,
        "planned_end_s": 2.0,
        "actual_start_s": 1.0,
        "actual_end_s": None,
    }


def _overlapping() -> tuple[ScheduledFault, ...]:
    return (
        ScheduledFault("slow", Toxic("latency", "feature-store", {"latency": 100}), 0.0, 0.1),
        ScheduledFault("gone", ProxyDown("endpoint"), 0.05, 0.1),
    )


def test_drive_faults_applies_and_reverts_each_once() -> None:
    control = FakeControl()
    schedule = _overlapping()

    async def run() -> list[FaultWindow]:
        return await drive_faults(schedule, control, t0=time.monotonic())

    windows = asyncio.run(asyncio.wait_for(run(), timeout=5))

    assert control.kinds_for("slow") == ["add", "remove"]
    assert [c for c in control.calls if c[0] == "enabled"] == [
        ("enabled", "endpoint", False),
        ("enabled", "endpoint", True),
    ]
    assert len(control.calls) == 4
    assert [w.name for w in windows] == ["slow", "gone"]
    for window, scheduled in zip(windows, schedule, strict=True):
        assert window.target == scheduled.fault.target
        assert window.description == scheduled.fault.describe()
        assert (window.planned_start_s, window.planned_end_s) == (
            scheduled.start_s,
            scheduled.end_s,
        )
        assert window.actual_end_s is not None
        assert window.actual_start_s >= window.planned_start_s
        assert window.actual_end_s >= window.planned_end_s
        assert window.actual_end_s > window.actual_start_s


class FakeObserver:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.on = asyncio.Event()

    def started(self, name: str, t: float) -> None:
        self.events.append(("started", name, t))
        self.on.set()

    def ended(self, name: str, t: float) -> None:
        self.events.append(("ended", name, t))


def test_drive_faults_tells_observer_the_actual_times() -> None:
    control, observer = FakeControl(), FakeObserver()

    async def run() -> list[FaultWindow]:
        return await drive_faults(_overlapping(), control, t0=time.monotonic(), observer=observer)

    windows = asyncio.run(asyncio.wait_for(run(), timeout=5))

    told = {(kind, name): t for kind, name, t in observer.events}
    assert len(observer.events) == len(told) == 4
    for window in windows:
        assert told["started", window.name] == window.actual_start_s
        assert told["ended", window.name] == window.actual_end_s


def test_cancelled_drive_still_reverts_the_active_fault() -> None:
    control = FakeControl()
    schedule = (ScheduledFault("slow", Toxic("latency", "endpoint", {"latency": 5}), 0.0, 30.0),)

    async def run() -> None:
        observer = FakeObserver()
        task = asyncio.create_task(
            drive_faults(schedule, control, t0=time.monotonic(), observer=observer)
        )
        # Cancel once the driver itself knows the fault is on: mid-window, not mid-apply.
        await asyncio.wait_for(observer.on.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(run(), timeout=5))

    assert control.kinds_for("slow") == ["add", "remove"]


def test_cancelled_drive_does_not_apply_faults_not_yet_due() -> None:
    control = FakeControl()
    schedule = (ScheduledFault("later", ProxyDown("endpoint"), 30.0, 1.0),)

    async def run() -> None:
        task = asyncio.create_task(drive_faults(schedule, control, t0=time.monotonic()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(run(), timeout=5))

    assert control.calls == []


def test_cancelled_during_apply_still_reverts() -> None:
    control = BlockingControl()
    schedule = (ScheduledFault("slow", Toxic("latency", "endpoint", {"latency": 5}), 0.0, 30.0),)

    async def run() -> None:
        task = asyncio.create_task(drive_faults(schedule, control, t0=time.monotonic()))
        await asyncio.to_thread(control.entered.wait, 5)
        task.cancel()
        control.release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(run(), timeout=5))

    assert control.kinds_for("slow") == ["add", "remove"]
