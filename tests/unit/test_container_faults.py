"""Container faults against a recording stand-in for a docker container."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from faults.container import Crash, Pause, ResourceLimit, Stop


@dataclass
class FakeContainer:
    status: str = "running"
    host: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def attrs(self) -> dict[str, Any]:
        return {"HostConfig": dict(self.host)}

    def reload(self) -> None:
        pass

    def __getattr__(self, verb: str) -> Any:
        def record(**kwargs: Any) -> None:
            self.calls.append((verb, kwargs))
            self.status = {"kill": "exited", "stop": "exited", "start": "running"}.get(
                verb, self.status
            )

        return record


@dataclass
class Control:
    containers: dict[str, FakeContainer]

    def container(self, service: str) -> Any:
        return self.containers[service]


@pytest.fixture
def endpoint() -> FakeContainer:
    return FakeContainer(host={"CpuQuota": 0, "CpuPeriod": 0, "Memory": 0, "MemorySwap": 0})


def test_pause_freezes_and_revert_thaws(endpoint: FakeContainer) -> None:
    control = Control({"endpoint": endpoint})
    Pause("endpoint").apply(control, "f")
    Pause("endpoint").revert(control, "f")
    assert [verb for verb, _ in endpoint.calls] == ["pause", "unpause"]


def test_crash_kills_and_restarts_only_when_not_running(endpoint: FakeContainer) -> None:
    control = Control({"endpoint": endpoint})
    crash = Crash("endpoint")
    crash.apply(control, "f")
    crash.revert(control, "f")
    assert endpoint.calls == [("kill", {"signal": "SIGKILL"}), ("start", {})]
    crash.revert(control, "f")
    assert len(endpoint.calls) == 2


def test_stop_is_graceful_and_revert_starts(endpoint: FakeContainer) -> None:
    control = Control({"feature-store": endpoint})
    Stop("feature-store", grace_s=2).apply(control, "f")
    Stop("feature-store", grace_s=2).revert(control, "f")
    assert endpoint.calls == [("stop", {"timeout": 2}), ("start", {})]


def test_resource_limit_sets_quota_and_memory_then_restores_the_previous_limits() -> None:
    limited = FakeContainer(
        host={"CpuQuota": 150_000, "CpuPeriod": 100_000, "Memory": 512 << 20, "MemorySwap": 1 << 30}
    )
    control = Control({"endpoint": limited})
    fault = ResourceLimit("endpoint", cpus=0.25, memory_bytes=64 << 20)
    fault.apply(control, "squeeze")
    fault.revert(control, "squeeze")
    assert limited.calls == [
        (
            "update",
            {
                "cpu_period": 100_000,
                "cpu_quota": 25_000,
                "mem_limit": 64 << 20,
                "memswap_limit": 64 << 20,
            },
        ),
        (
            "update",
            {
                "cpu_period": 100_000,
                "cpu_quota": 150_000,
                "mem_limit": 512 << 20,
                "memswap_limit": 1 << 30,
            },
        ),
    ]


def test_resource_limit_on_an_unlimited_container_lifts_the_limit_again(
    endpoint: FakeContainer,
) -> None:
    control = Control({"endpoint": endpoint})
    fault = ResourceLimit("endpoint", cpus=0.5)
    fault.apply(control, "f")
    fault.revert(control, "f")
    assert endpoint.calls[-1] == ("update", {"cpu_period": 100_000, "cpu_quota": -1})
    fault.revert(control, "f")
    assert len(endpoint.calls) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "cpus or memory_bytes"),
        ({"cpus": 0}, "cpus=0"),
        ({"memory_bytes": 1024}, "memory_bytes >= 6 MiB"),
    ],
)
def test_resource_limit_rejects_values_the_engine_would_refuse(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ResourceLimit("endpoint", **kwargs)


def test_descriptions_name_the_service() -> None:
    assert Pause("endpoint").describe() == "endpoint paused"
    limit = ResourceLimit("endpoint", cpus=0.5, memory_bytes=128 << 20)
    assert limit.describe() == "endpoint limited to cpus=0.5, memory=128MiB"
