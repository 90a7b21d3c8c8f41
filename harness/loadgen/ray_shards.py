"""Load from Ray: one open-loop schedule split into shards, each run by a Ray actor.

A shard is the same :class:`~harness.loadgen.engine.Plan` a worker process runs (every N-th
request of the schedule, any engine), placed one per CPU by a placement group that spreads
them over the cluster's nodes. The driver measures each actor's wall clock against its own (the
exchange with the smallest round trip of a few: offset = remote - midpoint, uncertainty = half
the round trip), announces one start time, and each shard converts it to its own clocks, so all
start together to within their offsets.

Shards record nothing themselves: their engines' outcomes (intended start, sent, done, status or
failure, body sizes; the same arrays :class:`~harness.loadgen.batch.Batch` hands a recorder)
are taken by the driver every quarter of a second and recorded there, into one recorder with the
driver's phase clock. Per-second buckets, phases and percentiles are then exactly what one
process would have recorded (HDR histograms filled with the same microseconds), and a fault
applied by the driver splits requests from every shard at the same instant.

The run is invalid, with the shard and its node named, when a node's clock is further off than
``max_clock_offset_ms``, when a shard falls behind its schedule (lag p99 over the bound) or
drops requests, when a shard starts after the announced start, or when an actor is lost (its
node or process died): the other shards still finish, nothing waits on the lost one.

Ray is imported only here, and only when asked for (``--workers ray``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from harness.errors import ChaosError, UsageError
from harness.loadgen.batch import Batch
from harness.loadgen.engine import SELF_PACED, Plan
from harness.loadgen.histograms import Bucket, Floats, Ints
from harness.loadgen.pacing import run_paced
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.worker import run_plan

__all__ = [
    "DEFAULT_MAX_CLOCK_OFFSET_MS",
    "RAY_INSTALL",
    "START_MARGIN_S",
    "RayRun",
    "RayShards",
    "ShardReport",
    "Tick",
    "Workers",
    "import_ray",
    "parse_workers",
    "ray_workers",
    "start_local_ray",
]

RAY_INSTALL = "pip install 'serving-chaos[ray]'"
DEFAULT_MAX_CLOCK_OFFSET_MS = 10.0
# From the announced start to the first request: time for the announcement to reach every shard.
START_MARGIN_S = 1.0
_TAKE_EVERY_S = 0.25
_PLACEMENT_TIMEOUT_S = 60.0
_CLOCK_SAMPLES = 5

# Called about once a second with the seconds elapsed, the last full second and the in-flight.
Tick = Callable[[float, Bucket | None, int], None]


@dataclass(frozen=True, slots=True)
class Workers:
    """What ``--workers`` asked for: ``processes`` local worker processes, or Ray shards on a
    local Ray started for the run (``ray == "local"``) or on the cluster at ``ray://HOST:PORT``."""

    processes: int = 1
    ray: str | None = None
    shards: int | None = None

    @property
    def label(self) -> str:
        if self.ray is None:
            return f"{self.processes} processes"
        where = "a local Ray" if self.ray == "local" else self.ray
        count = f"{self.shards} shards" if self.shards is not None else "a shard per CPU"
        return f"{count} on {where}"


def parse_workers(text: str, shards: int | None = None) -> Workers:
    """``N``, ``ray`` or ``ray://HOST:PORT`` as :class:`Workers`; anything else is a UsageError."""
    value = text.strip()
    if shards is not None and shards < 1:
        raise UsageError(f"expected --shards >= 1 but got --shards {shards}")
    if value == "ray" or value.startswith("ray://"):
        return Workers(ray="local" if value == "ray" else value, shards=shards)
    try:
        count = int(value)
    except ValueError:
        raise UsageError(
            f"expected --workers N (processes), ray or ray://HOST:PORT but got {text!r}"
        ) from None
    if count < 1:
        raise UsageError(f"expected --workers >= 1 but got --workers {count}")
    if shards is not None:
        raise UsageError("--shards goes with --workers ray or ray://HOST:PORT")
    return Workers(processes=count)


def ray_workers(text: str | None, shards: int | None = None) -> Workers | None:
    """``--workers`` of ``run``, ``certify`` and the plugin: None (the load runs in the
    harness's process) or Ray; Ray is imported here, so a missing install is said at once."""
    if text is None:
        if shards is not None:
            raise UsageError("--shards goes with --workers ray or ray://HOST:PORT")
        return None
    workers = parse_workers(text, shards)
    if workers.ray is None:
        raise UsageError(
            f"expected --workers ray or ray://HOST:PORT but got {text!r}: a scenario's load "
            "runs in the harness's process unless it runs on Ray"
        )
    import_ray()
    return workers


def import_ray() -> ModuleType:
    """Ray, or a UsageError that says how to install it. Before Ray's first import, its
    environment is set so that what this project starts stays on this machine: no usage
    report, and a local node that takes 127.0.0.1 instead of the address it would show a
    cluster (Ray's own switch, read once when Ray is imported)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise UsageError(
            f"--workers ray needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


def start_local_ray(cpus: int) -> ModuleType:
    """A Ray for this process on 127.0.0.1 with ``cpus`` CPUs, no dashboard."""
    ray = import_ray()
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    return ray


class Shipment:
    """A shard's outcomes as arrays until the driver takes them: what a :class:`Batch` sink
    hands its recorder (``offered_many``, ``completed_many``), kept instead of recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[tuple[Any, ...]] = []
        self.completed = 0
        self.offered = 0

    def offered_many(self, intended: Floats) -> None:
        with self._lock:
            self._chunks.append(("offered", intended))
            self.offered += len(intended)

    def completed_many(
        self,
        intended: Floats,
        sent: Floats,
        done: Floats,
        codes: Ints,
        failures: Sequence[str],
        request_bytes: Ints | None = None,
        response_bytes: Ints | None = None,
    ) -> None:
        chunk = ("completed", intended, sent, done, codes, list(failures))
        with self._lock:
            self._chunks.append((*chunk, request_bytes, response_bytes))
            self.completed += len(codes)

    def take(self) -> tuple[list[tuple[Any, ...]], int]:
        """Everything recorded since the last take, and the requests now in flight."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
            return chunks, self.offered - self.completed


def record_chunks(recorder: Recorder, chunks: Sequence[tuple[Any, ...]]) -> int:
    """Record what shards shipped into ``recorder``; returns how many requests completed."""
    done = 0
    for chunk in chunks:
        if chunk[0] == "offered":
            recorder.offered_many(chunk[1])
            continue
        _, intended, sent, finished, codes, failures, request_bytes, response_bytes = chunk
        recorder.completed_many(
            intended, sent, finished, codes, failures, request_bytes, response_bytes
        )
        done += len(codes)
    return done


class ShardActor:
    """One shard of the schedule in a Ray actor (threaded: ``take`` and ``stop`` answer while
    ``run`` sends)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._shipment = Shipment()
        self._stop = threading.Event()

    def where(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {"node_id": context.get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}

    def clock(self) -> float:
        return time.time()

    def take(self) -> tuple[list[tuple[Any, ...]], int]:
        return self._shipment.take()

    def stop(self) -> None:
        self._stop.set()

    def run(self, start_wall: float) -> dict[str, Any]:
        """Run the shard from ``start_wall`` on this node's wall clock; its generator stats
        and how late it got the start (negative: early, as it should be)."""
        late_s = time.time() - start_wall
        t0 = time.monotonic() - late_s
        batch = Batch(self._shipment)
        if self._plan.engine in SELF_PACED:

            def flushed(second: int, inflight: int) -> None:
                batch.flush()

            try:
                stats = run_paced(self._plan, batch, t0, flushed, self._stop)
            finally:
                batch.flush()
        else:
            stats = asyncio.run(_run_async(self._plan, batch, t0, self._stop))
        return {"stats": stats.encode(), "late_s": late_s}


async def _run_async(plan: Plan, batch: Batch, t0: float, stop: threading.Event) -> GeneratorStats:
    """The asyncio engine in a shard, flushed to the shipment as it goes. (Not a method: Ray
    runs every method of an actor with one ``async def`` on one event loop, and ``take`` would
    then wait for ``run``.)"""
    pending: set[asyncio.Task[None]] = set()
    run = asyncio.create_task(run_plan(plan, batch, t0, pending))
    try:
        while not run.done():
            await asyncio.wait({run}, timeout=_TAKE_EVERY_S / 2)
            batch.flush()
            if stop.is_set():
                run.cancel()
                for task in list(pending):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
                return GeneratorStats()
        return run.result()
    finally:
        batch.flush()


@dataclass(slots=True)
class ShardReport:
    """One shard: where it ran, its clock, and how well it kept its part of the schedule."""

    index: int
    node_id: str
    node_ip: str
    host: str
    clock_offset_ms: float
    clock_uncertainty_ms: float
    late_ms: float | None = None
    stats: GeneratorStats | None = None
    lost: str | None = None

    def to_json(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "shard": self.index,
            "node_id": self.node_id,
            "node_ip": self.node_ip,
            "host": self.host,
            "clock_offset_ms": round(self.clock_offset_ms, 3),
            "clock_uncertainty_ms": round(self.clock_uncertainty_ms, 3),
            "start_late_ms": None if self.late_ms is None else round(self.late_ms, 3),
            "scheduled": None if stats is None else stats.scheduled,
            "sent": None if stats is None else stats.sent,
            "dropped": None if stats is None else stats.dropped,
            "lag_p99_ms": None if stats is None else round(stats.lag_p99_ms, 3),
            "lost": self.lost,
        }

    @property
    def name(self) -> str:
        return f"shard {self.index} on node {self.node_ip} ({self.host}, {self.node_id[:12]})"


@dataclass(slots=True)
class RayRun:
    """What the shards did: one report each, and the run's problems."""

    address: str
    shards: list[ShardReport] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return len({shard.node_id for shard in self.shards})

    def problems(self, max_lag_ms: float, max_clock_offset_ms: float) -> list[str]:
        """Why the merged numbers cannot be trusted, each naming its shard and node."""
        notes = []
        for shard in self.shards:
            if shard.lost is not None:
                notes.append(f"{shard.name} was lost: {shard.lost}")
                continue
            if abs(shard.clock_offset_ms) > max_clock_offset_ms:
                notes.append(
                    f"{shard.name}: its clock is {shard.clock_offset_ms:+.1f} ms off the "
                    f"driver's (more than {max_clock_offset_ms:g} ms)"
                )
            if shard.late_ms is not None and shard.late_ms > max_lag_ms:
                notes.append(f"{shard.name} got the start {shard.late_ms:.1f} ms late")
            stats = shard.stats
            if stats is None:
                continue
            if stats.dropped:
                notes.append(f"{shard.name} dropped {stats.dropped} of {stats.scheduled} requests")
            if stats.lag_p99_ms > max_lag_ms:
                notes.append(
                    f"{shard.name} fell behind its schedule: lag p99 {stats.lag_p99_ms:.2f} ms "
                    f"> {max_lag_ms:g} ms"
                )
        return notes

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "shards": len(self.shards),
            "nodes": self.nodes,
            "each": [shard.to_json() for shard in self.shards],
        }


class RayShards:
    """Ray shards for one run: ``with RayShards(workers) as ray_run: ray_run.prepare(plan);
    ray_run.run(recorder, t0)``. A local Ray is started for the run and stopped after it;
    on a cluster only the actors and their placement group are removed."""

    def __init__(self, workers: Workers) -> None:
        if workers.ray is None:
            raise UsageError("RayShards needs --workers ray or ray://HOST:PORT")
        self.workers = workers
        self.report = RayRun(workers.ray)
        self.actors: list[Any] = []
        self._ray: ModuleType | None = None
        self._started_ray = False
        self._group: Any = None

    def __enter__(self) -> RayShards:
        ray = import_ray()
        self._ray = ray
        if not ray.is_initialized():
            try:
                if self.workers.ray == "local":
                    start_local_ray(self.workers.shards or os.cpu_count() or 1)
                else:
                    ray.init(address=self.workers.ray, log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ...
                raise ChaosError(f"cannot start or reach Ray at {self.workers.ray}: {exc}") from exc
            self._started_ray = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        if self._group is not None:
            from ray.util.placement_group import remove_placement_group

            with contextlib.suppress(Exception):
                remove_placement_group(self._group)
        if self._started_ray:
            ray.shutdown()

    def _count(self) -> int:
        assert self._ray is not None
        if self.workers.shards is not None:
            return self.workers.shards
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def prepare(self, plan: Plan) -> None:
        """Place one actor per shard, wait until each answers, and measure its clock."""
        if plan.target.stream:
            raise UsageError(
                "streamed answers (load.stream) are recorded in-process or by worker "
                "processes, not on Ray shards: run without --workers ray"
            )
        ray = self._ray
        assert ray is not None, "use RayShards as a context manager"
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        count = self._count()
        self._group = placement_group([{"CPU": 1}] * count, strategy="SPREAD")
        try:
            ray.get(self._group.ready(), timeout=_PLACEMENT_TIMEOUT_S)
        except Exception as exc:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise UsageError(
                f"cannot place {count} shards of one CPU each on Ray at {self.workers.ray} "
                f"(it has {cpus:g} CPUs): ask for fewer with --shards"
            ) from exc
        remote = ray.remote(ShardActor)
        for index in range(count):
            strategy = PlacementGroupSchedulingStrategy(
                placement_group=self._group, placement_group_bundle_index=index
            )
            self.actors.append(
                remote.options(num_cpus=1, max_concurrency=3, scheduling_strategy=strategy).remote(
                    replace(plan, worker=index, workers=count)
                )
            )
        # The address each node registered with Ray (127.0.0.1 for the local Ray).
        addresses = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}
        places = ray.get(
            [actor.where.remote() for actor in self.actors], timeout=_PLACEMENT_TIMEOUT_S
        )
        for index, (actor, place) in enumerate(zip(self.actors, places, strict=True)):
            offset, uncertainty = self._clock(actor)
            self.report.shards.append(
                ShardReport(
                    index,
                    str(place["node_id"]),
                    str(addresses.get(place["node_id"], "unknown")),
                    str(place["host"]),
                    offset * 1000.0,
                    uncertainty * 1000.0,
                )
            )

    def _clock(self, actor: Any) -> tuple[float, float]:
        """The actor's wall clock minus the driver's, from the exchange with the smallest round
        trip, and half that round trip as its uncertainty."""
        assert self._ray is not None
        best: tuple[float, float] | None = None
        for _ in range(_CLOCK_SAMPLES):
            before = time.time()
            remote = self._ray.get(actor.clock.remote())
            after = time.time()
            sample = (remote - (before + after) / 2, (after - before) / 2)
            if best is None or sample[1] < best[1]:
                best = sample
        assert best is not None
        return best

    def run(
        self,
        recorder: Recorder,
        t0: float,
        *,
        tick: Tick | None = None,
        stop: threading.Event | None = None,
    ) -> GeneratorStats:
        """Start every shard at monotonic ``t0`` (``START_MARGIN_S`` from now is enough),
        record what they ship into ``recorder`` as it comes, and return the merged stats."""
        ray = self._ray
        if ray is None or not self.actors:
            raise RuntimeError("RayShards.run before prepare()")
        start_wall = time.time() + (t0 - time.monotonic())
        runs = {
            actor.run.remote(start_wall + shard.clock_offset_ms / 1000.0): shard
            for actor, shard in zip(self.actors, self.report.shards, strict=True)
        }
        live = dict(zip((s.index for s in self.report.shards), self.actors, strict=True))
        stats = GeneratorStats()
        second = 1
        stopping = False
        while runs or live:
            if stop is not None and stop.is_set() and not stopping:
                stopping = True
                for actor in live.values():
                    actor.stop.remote()
            inflight = self._take(recorder, live)
            done, _ = ray.wait(list(runs), num_returns=len(runs), timeout=_TAKE_EVERY_S)
            for ref in done:
                shard = runs.pop(ref)
                try:
                    answer = ray.get(ref)
                except Exception as exc:  # RayActorError and kin: the actor is gone
                    shard.lost = _lost(exc)
                else:
                    shard.late_ms = answer["late_s"] * 1000.0
                    shard.stats = GeneratorStats.decode(answer["stats"])
                    stats.merge(shard.stats)
                actor = live.pop(shard.index, None)
                if actor is not None and shard.lost is None:
                    self._take(recorder, {shard.index: actor})
            if tick is not None and time.monotonic() - t0 >= second:
                tick(time.monotonic() - t0, recorder.snapshot(second - 1), inflight)
                second += 1
        return stats

    def _take(self, recorder: Recorder, live: dict[int, Any]) -> int:
        """Record what each live shard shipped; a shard that cannot answer is lost."""
        assert self._ray is not None
        inflight = 0
        refs = {index: actor.take.remote() for index, actor in live.items()}
        for index, ref in refs.items():
            try:
                chunks, pending = self._ray.get(ref, timeout=30)
            except Exception as exc:
                self.report.shards[index].lost = _lost(exc)
                live.pop(index, None)
                continue
            record_chunks(recorder, chunks)
            inflight += pending
        return inflight


def _lost(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"
