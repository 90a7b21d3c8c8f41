"""A model server nobody here wrote: a scikit-learn model served by MLServer (from PyPI, installed
by provisioning in a venv of its own), started by ``target.command``. HTTP faults on the client's
hop reach it through the HTTP fault layer, and the verdict flips where they were aimed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from harness.system.ports import free_port

pytestmark = pytest.mark.integration

VENV = Path(__file__).resolve().parents[2] / ".tools" / "venvs" / "mlserver"
TRAIN = """\
import json, sys
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(0)
features = rng.normal(size=(200, 4))
labels = (features[:, 0] + features[:, 1] > 0).astype(int)
joblib.dump(LogisticRegression().fit(features, labels), sys.argv[1] + "/model.joblib")
settings = {"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"}}
json.dump(settings, open(sys.argv[1] + "/model-settings.json", "w"))
"""
BODY = {
    "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]
}


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that starts MLServer with a small trained model on ``{port}``."""
    if not (VENV / ".installed").is_file():
        pytest.skip("MLServer is not installed: run `make provision` (needs a package index)")
    models = tmp_path_factory.mktemp("models")
    (models / "iris").mkdir()
    subprocess.run([str(VENV / "bin" / "python"), "-c", TRAIN, str(models / "iris")], check=True)
    settings = (
        "MLSERVER_HOST=127.0.0.1 MLSERVER_HTTP_PORT={port} "
        f"MLSERVER_GRPC_PORT={free_port()} MLSERVER_METRICS_PORT={free_port()} "
        "MLSERVER_PARALLEL_WORKERS=0 MLSERVER_LOGGING_LEVEL=WARNING"
    )
    return ["/bin/sh", "-c", f"{settings} exec {VENV / 'bin' / 'mlserver'} start {models}"]


def test_http_faults_reach_an_off_the_shelf_model_server(mlserver: list[str]) -> None:
    scenario = parse_scenario(
        "name: mlserver\n"
        f"target:\n  command: {json.dumps(mlserver)}\n"
        "  invocations_path: /v2/models/iris/infer\n"
        "  health_path: /v2/health/ready\n"
        f"load: {{rate: 30, duration_s: 9, timeout_s: 5, body: {json.dumps(BODY)}}}\n"
        "faults:\n"
        "  - {name: limited, type: rate_limit, target: endpoint, start_s: 2, duration_s: 2,\n"
        "     attributes: {rps: 10, burst: 2}}\n"
        "  - {name: burst, type: abort, target: endpoint, start_s: 5, duration_s: 1.5,\n"
        "     attributes: {status: 503}}\n"
        "budgets:\n"
        "  - {expect: error_rate == 0, phase: baseline}\n"
        "  - {expect: error_rate < 0.01, phase: during:limited}\n"
        "  - {expect: error_rate == 0, phase: recovery}\n"
    )
    result = run_scenario(scenario, backend="process")

    verdicts = {(r.budget.phase, r.passed) for r in result.budgets}
    assert verdicts == {("baseline", True), ("during:limited", False), ("recovery", True)}
    limited = result.phases["during:limited"]
    # 10 calls/s get through a 30 calls/s load: about two in three answered 429 by the layer.
    assert 0.45 < limited.errors / limited.requests < 0.85
    assert set(limited.errors_by_class()) == {"429"}
    burst = result.phases["during:burst"]
    assert burst.errors >= burst.requests - 1
    assert set(burst.errors_by_class()) == {"503"}
    hop = result.endpoint_hop
    assert hop is not None
    assert hop["statuses"]["429"] == hop["faults_injected"]["rate_limit"]
    assert hop["statuses"]["503"] == hop["faults_injected"]["abort"]
    overall = result.phases["overall"]
    assert hop["statuses"]["200"] == overall.requests - overall.errors
