"""Autoscaling of provisioned concurrency, after Knative's autoscaler.

The scaler samples in-flight plus queued requests. It sizes for the average over a stable
window, and enters panic when the average over the short panic window asks for at least
`scale_panic_threshold` x the ready units; in panic it sizes for the panic average and never
scales down, until a stable window passes without panic. A change of size is made only after
the wish for it has held for the reaction delay, and added units serve only after the
provisioning delay. With a minimum of zero, units go away after an idle window and the first
request after that waits, queued, through a cold start.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable

from harness.servers.endpoint.config import EndpointConfig

__all__ = ["Autoscaler"]


class Autoscaler:
    """Sizes the endpoint; call `tick` regularly with the current time.

    `load` reads in-flight plus queued requests and `resize` sets the number of request slots.
    `slots_per_unit` is how many requests one unit takes at once (more than one only while
    dynamic batching gathers them). `on_event` is told "up" or "down" for each decision.
    """

    def __init__(
        self,
        config: EndpointConfig,
        *,
        now: float,
        load: Callable[[], int],
        resize: Callable[[int], None],
        slots_per_unit: int = 1,
        on_event: Callable[[str], None] = lambda direction: None,
    ) -> None:
        self._config = config
        self._load = load
        self._resize = resize
        self._slots = slots_per_unit
        self._on_event = on_event
        self._started = now
        self._samples: deque[tuple[float, int]] = deque()
        self._arrivals: deque[tuple[float, int]] = deque()
        self._last_busy = now
        self._panic_until = -math.inf
        self._wish_since: float | None = None
        self._wish_sign = 0
        self.target = config.concurrency
        self.ready = config.concurrency
        if config.cold_start_s > 0:
            # The endpoint itself starts cold: nothing serves until the model has loaded.
            self.ready = 0
            self._arrivals.append((now + config.cold_start_s, config.concurrency))
        resize(self.ready * slots_per_unit)

    @property
    def panicking(self) -> bool:
        return bool(self._samples) and self._samples[-1][0] < self._panic_until

    @property
    def tick_s(self) -> float:
        """How often to tick: fine enough to see the panic window, coarse enough to be cheap."""
        return min(1.0, max(0.005, self._config.scale_panic_window_s / 10))

    def next_tick_s(self, now: float) -> float:
        """Seconds until the next tick: at the latest after `tick_s`, sooner if a unit is due."""
        due = min((at for at, _ in self._arrivals), default=math.inf)
        return max(0.0, min(self.tick_s, due - now))

    def tick(self, now: float) -> None:
        self._provision(now)
        load = self._load()
        if load > 0:
            self._last_busy = now
        desired = self._desired(now, load)
        sign = (desired > self.target) - (desired < self.target)
        if sign == 0:
            self._wish_since, self._wish_sign = None, 0
            return
        if sign != self._wish_sign or self._wish_since is None:
            self._wish_since, self._wish_sign = now, sign
        # Waking from zero cannot wait: a request is already queued behind the cold start.
        waking = self.target == 0
        if waking or now - self._wish_since >= self._config.scale_reaction_delay_s:
            self._scale(now, desired)
            self._wish_since, self._wish_sign = None, 0
        self._provision(now)

    def _desired(self, now: float, load: int) -> int:
        config = self._config
        self._samples.append((now, load))
        while self._samples[0][0] <= now - config.scale_stable_window_s:
            self._samples.popleft()
        per_unit = config.scale_target * self._slots
        stable = _mean(load for _, load in self._samples)
        recent = _mean(load for t, load in self._samples if t > now - config.scale_panic_window_s)
        want_stable = math.ceil(stable / per_unit)
        want_panic = math.ceil(recent / per_unit)
        if self.ready > 0 and want_panic >= config.scale_panic_threshold * self.ready:
            self._panic_until = now + config.scale_stable_window_s
        if now < self._panic_until:
            desired = max(want_panic, self.target)
        elif now - self._started < config.scale_stable_window_s:
            # Less than one stable window of samples says too little to scale down on.
            desired = max(want_stable, self.target)
        else:
            desired = want_stable
        floor = config.lowest_concurrency
        if floor == 0 and (load > 0 or now - self._last_busy < config.scale_to_zero_idle_s):
            floor = 1
        return min(config.highest_concurrency, max(floor, desired))

    def _scale(self, now: float, desired: int) -> None:
        if desired > self.target:
            delay = self._config.scale_provisioning_delay_s
            if self.ready == 0:
                delay = max(delay, self._config.cold_start_s)
            self._arrivals.append((now + delay, desired - self.target))
            self._on_event("up")
        else:
            surplus = self.target - desired
            # Units still being provisioned are the cheapest to give up.
            while surplus and self._arrivals:
                at, count = self._arrivals.pop()
                if count > surplus:
                    self._arrivals.append((at, count - surplus))
                    surplus = 0
                else:
                    surplus -= count
            self.ready -= surplus
            self._resize(self.ready * self._slots)
            self._on_event("down")
        self.target = desired

    def _provision(self, now: float) -> None:
        arrived = 0
        while self._arrivals and self._arrivals[0][0] <= now:
            arrived += self._arrivals.popleft()[1]
        if arrived:
            self.ready += arrived
            self._resize(self.ready * self._slots)


def _mean(values: Iterable[int]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0
