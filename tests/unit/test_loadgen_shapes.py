"""Arrival shapes: counts, bounds, order and where the requests fall."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.loadgen.shapes import (
    Constant,
    Poisson,
    Ramp,
    Rates,
    Shape,
    Sine,
    Spike,
    Step,
    peak_rate,
    take_share,
)
from harness.loadgen.trace import read_trace


def _per_second(shape: Shape) -> Counter[int]:
    return Counter(int(t) for t in shape.offsets())


def _check_bounded(shape: Shape) -> list[float]:
    offsets = list(shape.offsets())
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0
    assert offsets[-1] < shape.duration_s
    return offsets


def test_constant_is_evenly_spaced_and_exact_in_count() -> None:
    offsets = _check_bounded(Constant(100, 3))

    assert len(offsets) == 300
    assert offsets[1] - offsets[0] == pytest.approx(0.01)


def test_ramp_keeps_its_area_and_rises() -> None:
    shape = Ramp(0, 200, 4)
    offsets = _check_bounded(shape)
    seconds = _per_second(shape)

    assert len(offsets) == pytest.approx(400, abs=1)
    assert [seconds[s] for s in range(4)] == pytest.approx([25, 75, 125, 175], abs=1)


def test_step_adds_rate_every_period() -> None:
    seconds = _per_second(Step(100, 50, 2, 6))

    assert [seconds[s] for s in range(6)] == pytest.approx([100, 100, 150, 150, 200, 200], abs=1)


def test_spike_rises_within_rise_holds_and_comes_back() -> None:
    shape = Spike(baseline=100, factor=5, at_s=2, rise_s=1, hold_s=2, duration_s=7)
    seconds = _per_second(shape)

    assert seconds[0] == pytest.approx(100, abs=1)
    assert seconds[2] == pytest.approx(300, abs=1)  # halfway up, on average
    assert seconds[3] == seconds[4] == pytest.approx(500, abs=1)
    assert seconds[5] == seconds[6] == pytest.approx(100, abs=1)
    assert peak_rate(shape) == pytest.approx(500)


def test_sine_swings_around_its_mean_and_never_goes_negative() -> None:
    shape = Sine(rate=100, amplitude=150, period_s=4, duration_s=8)
    seconds = _per_second(shape)

    assert seconds[0] > seconds[2]
    assert min(shape.rate_at(t / 10) for t in range(80)) == 0.0
    assert len(list(shape.offsets())) > 0


def test_poisson_is_seeded_and_near_its_mean() -> None:
    one, same, other = Poisson(1000, 5, seed=1), Poisson(1000, 5, seed=1), Poisson(1000, 5, 2)
    offsets = _check_bounded(one)

    assert offsets == list(same.offsets())
    assert offsets != list(other.offsets())
    assert len(offsets) == pytest.approx(5000, rel=0.05)


def test_trace_of_timestamps_replays_relative_to_first(tmp_path: Path) -> None:
    trace = tmp_path / "requests.csv"
    trace.write_text("timestamp,path\n1700000010.5,/a\n1700000010.0,/b\n\n1700000012.25,/c\n")

    shape = read_trace(trace, "timestamps")

    assert list(shape.offsets()) == [0.0, 0.5, 2.25]
    assert shape.duration_s > 2.25


def test_trace_of_iso_timestamps(tmp_path: Path) -> None:
    trace = tmp_path / "iso.csv"
    trace.write_text("2024-05-01T10:00:00Z\n2024-05-01T10:00:01.5Z\n")

    assert list(read_trace(trace, "timestamps").offsets()) == [0.0, 1.5]


def test_trace_of_rates_takes_the_last_column(tmp_path: Path) -> None:
    trace = tmp_path / "rates.csv"
    trace.write_text("second,rate\n0,10\n1,0\n2,30\n")

    shape = read_trace(trace, "rates")
    seconds = _per_second(shape)

    assert isinstance(shape, Rates)
    assert (seconds[0], seconds[1]) == (10, 0)
    assert seconds[2] == pytest.approx(30, abs=1)


def test_bad_trace_row_names_file_and_line(tmp_path: Path) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text("rate\n10\nlots\n")

    with pytest.raises(UsageError, match=r"bad.csv:3: expected a rate but got 'lots'"):
        read_trace(trace, "rates")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Constant(0, 1), "rate > 0"),
        (lambda: Constant(10, -1), "duration > 0"),
        (lambda: Ramp(0, 0, 5), "some rate"),
        (lambda: Spike(10, 0, 1, 1, 1, 5), "spike factor > 0"),
        (lambda: Sine(10, 5, 0, 5), "sine period > 0"),
        (lambda: Rates((0.0, 0.0)), "some positive rates"),
    ],
)
def test_invalid_shapes_say_what_was_expected(make: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()  # type: ignore[operator]


def test_shares_interleave_and_cover_the_schedule_once() -> None:
    shape = Ramp(10, 300, 3)
    shares = [list(take_share(shape.offsets(), w, 3)) for w in range(3)]

    indices = sorted(i for share in shares for i, _ in share)
    assert indices == list(range(len(list(shape.offsets()))))
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
