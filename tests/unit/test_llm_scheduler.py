"""The LLM mode's sequence scheduler: sequences and KV cache as capacity, a FIFO queue in
front, turned away when the queue is full or too slow."""

from __future__ import annotations

import asyncio

import pytest

from harness.servers.endpoint.llm_scheduler import (
    SequenceScheduler,
    SequencesFull,
    SequenceWaitTimeout,
)
from tests.waiting import run_async


async def _settle() -> None:
    # Let queued tasks reach their await on the scheduler.
    for _ in range(5):
        await asyncio.sleep(0)


def test_sequences_beyond_the_limit_wait_in_order() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(2, max_waiting=4)
        order: list[int] = []
        assert scheduler.try_admit(10)
        assert scheduler.try_admit(10)

        async def waiter(i: int) -> None:
            await scheduler.admit(10)
            order.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
        await _settle()
        assert (scheduler.running, scheduler.waiting, scheduler.kv_used) == (2, 3, 20)
        scheduler.release(10)
        await _settle()
        scheduler.release(10)
        await _settle()
        assert order == [0, 1]
        assert (scheduler.running, scheduler.waiting) == (2, 1)
        tasks[2].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert scheduler.waiting == 0

    run_async(scenario)


def test_kv_cache_budget_holds_back_the_queue_head_and_those_behind_it() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(8, kv_cache_tokens=100, max_waiting=4)
        assert scheduler.try_admit(60)
        big = asyncio.create_task(scheduler.admit(50))
        await _settle()
        # 40 tokens are free, but the head (50) waits and nobody overtakes it.
        assert not scheduler.try_admit(10)
        small = asyncio.create_task(scheduler.admit(10))
        await _settle()
        assert (scheduler.running, scheduler.waiting) == (1, 2)
        scheduler.release(60)
        await asyncio.gather(big, small)
        assert (scheduler.running, scheduler.kv_used) == (2, 60)

    run_async(scenario)


def test_a_head_that_gives_up_lets_the_rest_through() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(8, kv_cache_tokens=100, max_waiting=4)
        assert scheduler.try_admit(60)
        big = asyncio.create_task(scheduler.admit(50))
        await _settle()
        small = asyncio.create_task(scheduler.admit(10))
        await _settle()
        big.cancel()
        await asyncio.gather(big, return_exceptions=True)
        await small
        assert (scheduler.running, scheduler.waiting, scheduler.kv_used) == (2, 0, 70)

    run_async(scenario)


def test_a_full_queue_turns_away_at_once() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(1, max_waiting=1)
        assert scheduler.try_admit(1)
        queued = asyncio.create_task(scheduler.admit(1))
        await _settle()
        with pytest.raises(SequencesFull):
            await scheduler.admit(1)
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)

    run_async(scenario)


def test_a_slow_queue_times_out_and_gives_its_place_back() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(1, max_waiting=2, queue_timeout_s=0.01)
        assert scheduler.try_admit(1)
        with pytest.raises(SequenceWaitTimeout):
            await scheduler.admit(1)
        assert scheduler.waiting == 0
        scheduler.release(1)
        assert (scheduler.running, scheduler.kv_used) == (0, 0)

    run_async(scenario)


def test_a_sequence_larger_than_the_cache_can_never_run() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(1, kv_cache_tokens=100)
        assert scheduler.fits(100)
        assert not scheduler.fits(101)
        with pytest.raises(ValueError, match="kv_cache_tokens=100"):
            await scheduler.admit(101)
        assert SequenceScheduler(1).fits(10**9)

    run_async(scenario)


def test_the_context_manager_releases_on_error() -> None:
    async def scenario() -> None:
        scheduler = SequenceScheduler(1)
        held: list[int] = []

        async def fail_while_holding() -> None:
            async with scheduler.sequence(5):
                held.append(scheduler.kv_used)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await fail_while_holding()
        assert held == [5]
        assert (scheduler.running, scheduler.kv_used) == (0, 0)

    run_async(scenario)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_sequences": 0}, "max_sequences"),
        ({"max_sequences": 1, "kv_cache_tokens": -1}, "kv_cache_tokens"),
        ({"max_sequences": 1, "max_waiting": -1}, "max_waiting"),
    ],
)
def test_bad_sizes_name_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"but got {field}="):
        SequenceScheduler(**kwargs)
