"""The one start-up sequence with more than one dependency: each its own stub behind its own
proxy, the endpoint told where each one is, faults aimed at each by name."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from faults import HttpError
from faults.http import Abort
from harness.system import Dependency, HostSettings, SystemSpec, bring_up, open_backend

pytestmark = pytest.mark.integration

BODY = json.dumps({"dataframe_records": [{"entity_id": "user-1"}]}).encode()


def _invoke(url: str) -> int:
    request = urllib.request.Request(
        url, data=BODY, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _served(stub_url: str, path: str) -> float:
    with urllib.request.urlopen(f"{stub_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name == "stub_calls" and sample.labels.get("route", "").startswith(path)
    )


def test_two_dependencies_are_wired_by_name_and_each_takes_its_own_faults(
    tmp_path: Path,
) -> None:
    system = SystemSpec(dependencies=(Dependency("feature-store"), Dependency("enrichment")))
    backend = open_backend("process", HostSettings.from_environment(), log_dir=tmp_path)
    with bring_up(system, backend) as topology:
        assert set(topology.stub_urls) == {"feature-store", "enrichment"}
        assert {"feature-store", "enrichment", "endpoint"} <= {
            proxy.name for proxy in map(topology.toxiproxy.proxy, system.proxies)
        }
        assert _invoke(topology.invocations_url) == 200
        assert _served(topology.stub_urls["feature-store"], "/features") >= 1
        assert _served(topology.stub_urls["enrichment"], "/enrich") >= 1

        # An outage of the enrichment API alone reaches the endpoint's callers.
        outage = HttpError("enrichment", (Abort(status=503),))
        outage.apply(topology, "enrichment-down")
        try:
            assert _invoke(topology.invocations_url) >= 500
        finally:
            outage.revert(topology, "enrichment-down")
        assert _invoke(topology.invocations_url) == 200
