"""Time from starting a topology to the first answered invocation, per backend.

    .venv/bin/python benchmarks/startup.py [--repeat 3]

Images are warmed first (built or found by content hash), so the docker numbers are container
start-up, not image builds. Everything binds 127.0.0.1 on free ports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

from harness.system import HostSettings, SystemSpec, bring_up, open_backend
from harness.system.backends.docker import unavailable_reason

BODY = json.dumps({"dataframe_records": [{"entity_id": "user-1", "amount": 1.0}]}).encode()


def first_answer_s(backend: str) -> float:
    started = time.perf_counter()
    with bring_up(SystemSpec(), open_backend(backend, HostSettings.from_environment())) as topology:
        request = urllib.request.Request(
            topology.invocations_url, data=BODY, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
            response.read()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backends = ["process"]
    reason = unavailable_reason()
    if reason is None:
        backends.append("docker")
        first_answer_s("docker")  # warm the image cache
    else:
        print(f"docker skipped: {reason}")
    targets = {"process": 3.0, "docker": 10.0}
    for backend in backends:
        runs = [first_answer_s(backend) for _ in range(args.repeat)]
        median = statistics.median(runs)
        shown = " / ".join(f"{r:.2f}" for r in runs)
        verdict = "meets" if median < targets[backend] else "misses"
        print(
            f"{backend:8s} start to first answer: {shown} s, median {median:.2f} s "
            f"({verdict} the {targets[backend]:g} s target)"
        )


if __name__ == "__main__":
    main()
