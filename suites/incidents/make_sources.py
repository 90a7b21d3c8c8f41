"""Write the shipped incidents' synthetic source logs and import them.

    .venv/bin/python suites/incidents/make_sources.py

For each incident this writes a source in one of the formats ``serving-chaos incident import``
reads (an nginx access log, a Databricks-style inference table, Prometheus range-query answers)
and then imports it into ``<incident>/imported/`` (trace.csv, signature.json, scenario.yaml and,
for the inference table, payloads.jsonl), as a user would with the CLI. The output is the same
on every run (fixed seeds), and ``suites/test_incidents.py`` checks that the committed files are
exactly what this script writes.

The sources are made by a small fluid model of the serving system, stepped every source second:
requests arrive at the offered rate (a baseline that follows the daily curve, here its morning
rise, with Poisson noise per second; the incident's surge or retries on top), the endpoint
serves ``capacity`` requests per second, up to ``queue`` more wait, and what does not fit is
throttled with a 429. An accepted request takes the service time plus its wait in the queue.
Time is modelled in replayed seconds (the source second divided by the import's ``--speed``),
so that the capacities are those of the reference endpoint the replay runs against.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.incident.scale import Window
from harness.incident.write import ImportOptions, import_incident

HERE = Path(__file__).parent
# The incidents' day: a Tuesday morning, when the daily curve is rising.
DAY_START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC).timestamp()
SPEED = 10.0
# Source seconds per modelled step: one, i.e. SPEED steps per replayed second.
STEP_S = 1.0 / SPEED


@dataclass(frozen=True, slots=True)
class Step:
    """One source second of the model: what arrived and how the endpoint answered it."""

    time_s: float  # epoch seconds of the source
    offered: int
    throttled_share: float
    latency_ms: float  # of an accepted request, before jitter


def daily_curve(epoch_s: float) -> float:
    """The share of the daily peak at a time: a 24-hour sine with its trough at 04:00 UTC."""
    hours = (epoch_s - DAY_START) / 3600.0
    return 0.55 - 0.45 * math.cos(2 * math.pi * (hours - 4.0) / 24.0)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's method for small means, a rounded normal above 30."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(slots=True)
class Queue:
    """The endpoint as a fluid queue, in replayed seconds and replayed requests per second."""

    queue: float
    waiting: float = 0.0

    def step(self, arrivals: float, capacity: float, service_ms: float) -> tuple[float, float]:
        """One step of ``STEP_S`` replayed seconds: the throttled share and an accepted
        request's latency in ms."""
        waiting = self.waiting + arrivals - capacity * STEP_S
        throttled = max(0.0, waiting - self.queue)
        self.waiting = min(max(waiting, 0.0), self.queue)
        share = throttled / arrivals if arrivals > 0 else 0.0
        return share, service_ms + 1000.0 * self.waiting / max(capacity, 1e-9)


def replay_time(start: float, epoch_s: float) -> float:
    """Seconds of the replay at a source time, for an import starting at ``start``."""
    return (epoch_s - start) / SPEED


def requests(
    rng: random.Random, steps: list[Step], healthy_status: int = 200
) -> Iterator[tuple[float, int, float]]:
    """Each request of the model as (epoch seconds, status, latency ms), in time order."""
    for step in steps:
        for at in sorted(rng.random() for _ in range(step.offered)):
            if rng.random() < step.throttled_share:
                yield step.time_s + at, 429, rng.uniform(0.5, 3.0)
            else:
                jitter = math.exp(rng.gauss(0.0, 0.2))
                yield step.time_s + at, healthy_status, step.latency_ms * jitter


# -- 429 retry storm after a surge: nginx combined access log ---------------------------------

STORM_START = DAY_START + 10 * 3600  # 10:00, the import's --from
STORM_SECONDS = 180  # 18 s replayed
STORM_LEAD = 60  # source seconds before --from, cut away by the import


def storm_steps(rng: random.Random) -> list[Step]:
    """A 2.4x surge of callers for 40 s whose naive clients retry every 429 at once: 60 % of the
    throttled requests come straight back the next second, so the storm outlives the surge."""
    endpoint = Queue(queue=40)  # 4 units x 100 ms: 40 replayed req/s, then 40 may wait
    retries = 0.0
    steps = []
    for second in range(-STORM_LEAD, STORM_SECONDS):
        epoch = STORM_START + second
        replayed = replay_time(STORM_START, epoch)
        callers = 30.0 * daily_curve(epoch) / daily_curve(STORM_START)
        if 6.0 <= replayed < 10.0:
            callers *= 2.4
        offered = poisson(rng, (callers * STEP_S + retries))
        share, latency = endpoint.step(offered, 40.0, 100.0)
        retries = 0.6 * share * offered
        steps.append(Step(epoch, offered, share, latency))
    return steps


def _combined_line(rng: random.Random, epoch: float, status: int, latency_ms: float) -> str:
    client = f"10.{rng.randrange(8)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    stamp = datetime.fromtimestamp(epoch, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    size = 47 if status == 200 else 61
    return (
        f'{client} - - [{stamp}] "POST /serving-endpoints/ranker/invocations HTTP/1.1" '
        f'{status} {size} "-" "scoring-client/2.3" {latency_ms / 1000.0:.3f}'
    )


def write_storm(folder: Path) -> Path:
    rng = random.Random(429)
    path = folder / "access.log"
    lines = [_combined_line(rng, *r) for r in requests(rng, storm_steps(rng))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- feature-store slowdown at a cache expiry: inference table (JSON lines) -----------------

SLOW_START = DAY_START + 9 * 3600 + 30 * 60  # 09:30
SLOW_SECONDS = 180  # 18 s replayed
SAMPLING = 0.5


def slowdown_steps(rng: random.Random) -> list[Step]:
    """The feature store answers 300 ms slower for 60 s, just when the cached features expire:
    every request waits on the slow store, 4 units serve 12 instead of 160 requests a second."""
    endpoint = Queue(queue=40)
    steps = []
    for second in range(SLOW_SECONDS):
        epoch = SLOW_START + second
        replayed = replay_time(SLOW_START, epoch)
        callers = 40.0 * daily_curve(epoch) / daily_curve(SLOW_START)
        store_ms = 300.0 if 6.0 <= replayed < 12.0 else 0.0
        service_ms = 25.0 + store_ms
        offered = poisson(rng, callers * STEP_S)
        share, latency = endpoint.step(offered, 4 * 1000.0 / service_ms, service_ms)
        steps.append(Step(epoch, offered, share, latency))
    return steps


def _inference_row(rng: random.Random, epoch: float, status: int, latency_ms: float) -> str:
    entity = rng.randrange(50)
    request = {
        "dataframe_records": [{"entity_id": entity, "amount": round(rng.uniform(1, 500), 2)}]
    }
    response = (
        {"predictions": [round(rng.random(), 4)]}
        if status == 200
        else {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "queue full"}
    )
    return json.dumps(
        {
            "databricks_request_id": f"{rng.getrandbits(64):016x}",
            "timestamp_ms": round(epoch * 1000),
            "status_code": status,
            "execution_time_ms": round(latency_ms),
            "sampling_fraction": SAMPLING,
            "request": json.dumps(request),
            "response": json.dumps(response),
        }
    )


def write_slowdown(folder: Path) -> Path:
    rng = random.Random(300)
    path = folder / "inference_table.jsonl"
    rows = [
        _inference_row(rng, *r)
        for r in requests(rng, slowdown_steps(rng))
        if rng.random() < SAMPLING  # the table keeps a sample of the requests
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# -- scale-up lagging a 10x launch surge: Prometheus range-query answers ---------------------

LAUNCH_START = DAY_START + 8 * 3600  # 08:00
LAUNCH_SECONDS = 180  # 18 s replayed
PROM_STEP_S = 5


def launch_steps(rng: random.Random) -> list[Step]:
    """Launch traffic climbs 10x within 10 s; the autoscaler adds units only 60 s later (its
    reaction and provisioning delays), so 2 units of 25 req/s face 200 req/s until then."""
    endpoint = Queue(queue=20)
    steps = []
    for second in range(LAUNCH_SECONDS):
        epoch = LAUNCH_START + second
        replayed = replay_time(LAUNCH_START, epoch)
        callers = 20.0 * daily_curve(epoch) / daily_curve(LAUNCH_START)
        callers *= 1.0 + 9.0 * min(1.0, max(0.0, replayed - 6.0))
        units = 2 if replayed < 12.0 else 12
        offered = poisson(rng, callers * STEP_S)
        share, latency = endpoint.step(offered, units * 25.0, 40.0)
        steps.append(Step(epoch, offered, share, latency))
    return steps


def _range_answer(name: str, values: list[tuple[float, float]]) -> str:
    return json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {
                        "metric": {"__name__": name, "endpoint": "launch-recs"},
                        "values": [[t, f"{v:.6g}"] for t, v in values],
                    }
                ],
            },
        },
        indent=1,
    )


def write_launch(folder: Path) -> tuple[Path, Path, Path]:
    """What Prometheus answers for the request rate, the 429+5xx ratio and the p99 latency
    (seconds) at a 5 s step: each sample is over the 5 s before it, as rate(...[5s])."""
    rng = random.Random(10)
    steps = launch_steps(rng)
    events = list(requests(rng, steps))
    rates, errors, p99s = [], [], []
    for end in range(PROM_STEP_S, LAUNCH_SECONDS + 1, PROM_STEP_S):
        low, high = LAUNCH_START + end - PROM_STEP_S, LAUNCH_START + end
        window = [e for e in events if low <= e[0] < high]
        failed = sum(1 for e in window if e[1] >= 429)
        latencies = sorted(e[2] for e in window)
        # The sample at the start of its window, as the import spreads it over the step after it.
        rates.append((low, len(window) / PROM_STEP_S))
        errors.append((low, failed / len(window) if window else math.nan))
        index = min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)
        p99s.append((low, latencies[index] / 1000.0 if latencies else math.nan))
    paths = (
        folder / "request_rate.json",
        folder / "error_ratio.json",
        folder / "latency_p99.json",
    )
    for path, name, values in zip(
        paths,
        ("serving:requests:rate5s", "serving:errors:ratio5s", "serving:latency_seconds:p99"),
        (rates, errors, p99s),
        strict=True,
    ):
        path.write_text(_range_answer(name, values) + "\n", encoding="utf-8")
    return paths


# -- import -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incident:
    folder: str
    write: Callable[[Path], ImportOptions]


def _storm(folder: Path) -> ImportOptions:
    return ImportOptions(
        write_storm(folder),
        folder / "imported",
        format="combined",
        window=Window(STORM_START, STORM_START + STORM_SECONDS),
        speed=SPEED,
    )


def _slowdown(folder: Path) -> ImportOptions:
    return ImportOptions(
        write_slowdown(folder),
        folder / "imported",
        format="inference-table",
        window=Window(SLOW_START, SLOW_START + SLOW_SECONDS),
        speed=SPEED,
    )


def _launch(folder: Path) -> ImportOptions:
    rate, errors, latency = write_launch(folder)
    return ImportOptions(
        rate,
        folder / "imported",
        format="prometheus",
        window=Window(LAUNCH_START, LAUNCH_START + LAUNCH_SECONDS),
        speed=SPEED,
        prom_errors=errors,
        prom_latency=latency,
    )


INCIDENTS = (
    Incident("retry_storm", _storm),
    Incident("feature_store_slowdown", _slowdown),
    Incident("launch_surge", _launch),
)


def make(root: Path) -> None:
    """Write every incident's source and imported files under ``root``, naming the sources by
    paths relative to it (signature.json and scenario.yaml quote them)."""
    with contextlib.chdir(root):
        for incident in INCIDENTS:
            folder = Path(incident.folder)
            folder.mkdir(parents=True, exist_ok=True)
            import_incident(incident.write(folder))


def make_copy() -> Path:
    """The same files in a fresh temporary folder, with paths relative to it (for the test)."""
    root = Path(tempfile.mkdtemp(prefix="serving-chaos-incidents-"))
    try:
        make(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


if __name__ == "__main__":
    make(HERE)
    for incident in INCIDENTS:
        print(f"wrote {HERE / incident.folder}")
