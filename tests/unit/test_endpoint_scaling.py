"""Reference endpoint: the autoscaler on a fake clock, and the scaling settings' validation. The
autoscaler in real time and dynamic batching, over HTTP, are in the integration tier."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from harness.servers.endpoint import Autoscaler, EndpointConfig

# Time-compressed windows: seconds of fake clock, not minutes.
SCALING = EndpointConfig(
    concurrency=1,
    max_concurrency=4,
    scale_stable_window_s=10,
    scale_panic_window_s=1,
    scale_reaction_delay_s=2,
    scale_provisioning_delay_s=3,
)


@dataclass(slots=True)
class _Rig:
    config: EndpointConfig
    load: int = 0
    slots: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    scaler: Autoscaler | None = None

    def start(self) -> Autoscaler:
        self.scaler = Autoscaler(
            self.config,
            now=0.0,
            load=lambda: self.load,
            resize=self.slots.append,
            on_event=self.events.append,
        )
        return self.scaler

    def run(self, start: float, end: float, step: float = 0.5) -> None:
        assert self.scaler is not None
        t = start
        while t <= end + 1e-9:
            self.scaler.tick(t)
            t += step


def test_fixed_size_never_scales() -> None:
    rig = _Rig(EndpointConfig(concurrency=3), load=50)
    scaler = rig.start()
    rig.run(0, 200)
    assert (scaler.ready, scaler.target, rig.events) == (3, 3, [])


def test_surge_scales_up_after_reaction_and_provisioning_delays() -> None:
    rig = _Rig(SCALING, load=3)
    scaler = rig.start()
    rig.run(0, 1.5)
    assert (scaler.target, scaler.ready) == (1, 1)
    assert scaler.panicking
    rig.run(2.0, 2.0)
    assert (scaler.target, scaler.ready) == (3, 1)
    rig.run(2.5, 4.5)
    assert scaler.ready == 1
    rig.run(5.0, 5.0)
    assert (scaler.target, scaler.ready) == (3, 3)
    assert rig.slots[-1] == 3
    assert rig.events == ["up"]


def test_never_scales_past_max_and_not_down_while_panicking() -> None:
    rig = _Rig(SCALING, load=40)
    scaler = rig.start()
    rig.run(0, 6)
    assert scaler.target == 4
    rig.load = 0
    rig.run(6.5, 12)
    # Panic holds for a stable window after the surge was last seen.
    assert scaler.target == 4
    rig.run(12.5, 30)
    assert scaler.target == 1
    assert rig.events == ["up", "down"]


def test_scales_to_zero_when_idle_and_wakes_through_a_cold_start() -> None:
    config = EndpointConfig(
        concurrency=1,
        min_concurrency=0,
        scale_stable_window_s=4,
        scale_panic_window_s=1,
        scale_reaction_delay_s=0,
        scale_to_zero_idle_s=6,
        cold_start_s=2,
    )
    rig = _Rig(config)
    scaler = rig.start()
    # Starting cold: the first unit serves only after the cold start.
    assert scaler.ready == 0
    rig.run(0, 2)
    assert scaler.ready == 1
    rig.run(2.5, 5.5)
    assert scaler.ready == 1
    rig.run(6, 6)
    assert (scaler.ready, scaler.target) == (0, 0)
    rig.load = 1
    rig.run(10, 10)
    assert (scaler.ready, scaler.target) == (0, 1)
    rig.run(10.5, 12)
    assert scaler.ready == 1
    assert rig.events == ["down", "up"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_concurrency", 5),
        ("max_concurrency", 2),
        ("scale_panic_window_s", 100.0),
        ("scale_panic_threshold", 1.0),
        ("scale_target", 0.0),
        ("cold_start_s", -1.0),
        ("queue_timeout_s", -1.0),
        ("request_timeout_s", -0.5),
        ("max_qps", -1.0),
        ("max_batch_size", 0),
        ("upstream_max_attempts", 0),
        ("retry_budget_ratio", 0.0),
        ("cache_ttl_s", -1.0),
        ("scale_stable_window_s", 0.0),
    ],
)
def test_new_config_fields_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"expected .* but got {field}={value}"):
        EndpointConfig(concurrency=4, **{field: value})  # type: ignore[arg-type]


def test_records_per_call_lower_the_cost_per_prediction() -> None:
    config = EndpointConfig(service_time_ms=20, per_record_ms=1)
    one = config.service_time_s(1)
    hundred = config.service_time_s(100) / 100
    assert hundred < one / 10
