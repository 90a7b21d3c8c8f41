"""Hypothesis strategies for fault schedules drawn from a palette.

Every choice is drawn so that Hypothesis's shrinking reads as an explanation: a schedule is a
list (it shrinks toward fewer faults), a fault's kind and target come in the palette's order,
its start is a whole number of grid steps from the palette's first start (it shrinks earlier), its
duration a whole number of steps from the shortest window (shorter), and its magnitude a level
from the mild end of its range (milder). Times land on the palette's grid (half seconds by
default) and magnitudes on whole steps, so a shrunk schedule is made of round numbers.

    from hypothesis import given
    from faults.strategies import schedules

    @given(schedules(palette))
    def test_it_holds(schedule): ...
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from faults.palette import FaultChoice, Palette
from faults.schedule import ScheduledFault

__all__ = ["CI_PROFILE", "DEEP_PROFILE", "fault_name", "register_profiles", "schedules"]

CI_PROFILE = "serving-chaos-ci"
DEEP_PROFILE = "serving-chaos-deep"


def fault_name(choice: FaultChoice, target: str) -> str:
    """A generated fault's name: its kind and target, so a schedule reads on its own."""
    return f"{choice.kind}-{target}"


@st.composite
def _scheduled(draw: st.DrawFn, palette: Palette) -> ScheduledFault:
    choice, target = draw(st.sampled_from(palette.options))
    shortest, longest = palette.window_steps
    start = draw(st.integers(0, palette.run_steps - shortest))
    duration = draw(st.integers(shortest, min(longest, palette.run_steps - start)))
    level = draw(st.integers(0, choice.levels)) if choice.levels else 0
    return ScheduledFault(
        name=fault_name(choice, target),
        fault=choice.build(target, level),
        start_s=palette.first_start_s + start * palette.step_s,
        duration_s=duration * palette.step_s,
    )


def _in_order(faults: list[ScheduledFault]) -> tuple[ScheduledFault, ...]:
    return tuple(sorted(faults, key=lambda fault: (fault.start_s, fault.name)))


def schedules(palette: Palette) -> st.SearchStrategy[tuple[ScheduledFault, ...]]:
    """Fault schedules within ``palette``: up to ``max_faults`` faults, at most one per kind
    and target, ordered by start time; the empty schedule is the simplest of all."""
    one = _scheduled(palette)
    return st.lists(one, max_size=palette.max_faults, unique_by=lambda fault: fault.name).map(
        _in_order
    )


def register_profiles() -> None:
    """Register the Hypothesis settings profiles for resilience tests: ``serving-chaos-ci``
    (a couple of examples, as a CI run can afford) and ``serving-chaos-deep`` (a long search).
    Each example is a real run of seconds: no deadline, and the health checks about slow or
    fixture-sharing tests are off."""
    quiet = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
    phases = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
    settings.register_profile(
        CI_PROFILE,
        max_examples=2,
        deadline=None,
        suppress_health_check=quiet,
        phases=phases,
        print_blob=True,
    )
    settings.register_profile(
        DEEP_PROFILE,
        max_examples=200,
        deadline=None,
        suppress_health_check=quiet,
        phases=phases,
        print_blob=True,
    )


register_profiles()
