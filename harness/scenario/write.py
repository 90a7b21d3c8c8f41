"""Scenarios back to YAML: the document ``parse_scenario`` reads, from a Scenario value.

Written from the value objects: the endpoint settings that differ from the defaults, the load,
the faults, the budgets, a target and a client under test. Taken from the original file when
there is one: the dependencies and ``load.arrivals``, whose files (routes, recordings, traces)
are rewritten as absolute paths so the document can live in another folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from faults import (
    Crash,
    HttpError,
    Pause,
    ProxyDown,
    ResourceLimit,
    ScheduledFault,
    Stop,
    Surge,
    Toxic,
)
from faults.http import Abort, Delay, Fixed, HttpFaultSpec, fault_to_json
from harness.loadgen.lengths import length_to_json
from harness.loadgen.llm_requests import LlmRequests
from harness.scenario.budgets import DEFAULT_TOLERANCE, RECOVERY_TIME, Budget
from harness.scenario.spec import LoadSpec, Scenario
from harness.servers.endpoint.config import EndpointConfig
from harness.system.spec import REFERENCE_DEPENDENCIES

__all__ = [
    "budget_document",
    "fault_document",
    "scenario_document",
    "scenario_to_yaml",
]

_WIRING_OWNED = frozenset({"host", "port", "name", "upstreams"})
# Keys of a dependency that name a file next to the scenario.
_DEPENDENCY_FILES = ("file", "record")


def _number(value: float) -> float | int:
    """Whole numbers as integers, so the file reads ``start_s: 2`` rather than ``2.0``."""
    return int(value) if float(value).is_integer() else value


def fault_document(scheduled: ScheduledFault) -> dict[str, Any]:
    """One ``faults[]`` entry. Raises ValueError for a fault no scenario file can state."""
    fault = scheduled.fault
    doc: dict[str, Any] = {"name": scheduled.name}
    doc.update(_fault_body(fault))
    doc["start_s"] = _number(scheduled.start_s)
    doc["duration_s"] = _number(scheduled.duration_s)
    attributes = doc.pop("attributes", None)
    if attributes:
        doc["attributes"] = attributes
    return doc


def _fault_body(fault: object) -> dict[str, Any]:
    if isinstance(fault, Toxic):
        body: dict[str, Any] = {"type": fault.type, "target": fault.target}
        if fault.stream != "downstream":
            body["stream"] = fault.stream
        if fault.toxicity != 1.0:
            body["toxicity"] = fault.toxicity
        body["attributes"] = dict(fault.attributes)
        return body
    if isinstance(fault, ProxyDown):
        return {"type": "down", "target": fault.target}
    if isinstance(fault, HttpError):
        body = _http_body(fault.faults)
        return {"type": body.pop("type"), "target": fault.target, **body}
    if isinstance(fault, Surge):
        attributes = {"factor": _number(fault.factor), "rise_s": _number(fault.rise_s)}
        return {"type": "surge", "target": fault.target, "attributes": attributes}
    if isinstance(fault, Crash):
        return {"type": "crash", "target": fault.target, "attributes": {"signal": fault.signal}}
    if isinstance(fault, Stop):
        return {"type": "stop", "target": fault.target, "attributes": {"grace_s": fault.grace_s}}
    if isinstance(fault, Pause):
        return {"type": "pause", "target": fault.target}
    if isinstance(fault, ResourceLimit):
        limits: dict[str, Any] = {}
        if fault.cpus is not None:
            limits["cpus"] = _number(fault.cpus)
        if fault.memory_bytes is not None:
            limits["memory_mb"] = _number(fault.memory_bytes / (1 << 20))
        return {"type": "limit", "target": fault.target, "attributes": limits}
    raise ValueError(f"expected a fault a scenario file can state but got {fault!r}")


def _http_body(specs: tuple[HttpFaultSpec, ...]) -> dict[str, Any]:
    if len(specs) == 1:
        spec = specs[0]
        fields_ = fault_to_json(spec)
        kind = fields_.pop("kind")
        attributes = {
            key: _number(value) if isinstance(value, float) else value
            for key, value in sorted(fields_.items())
            if value is not None
        }
        return {"type": kind, "attributes": attributes}
    delay, abort = specs if len(specs) == 2 else (None, None)
    if (
        isinstance(delay, Delay)
        and isinstance(delay.latency, Fixed)
        and delay.percentage == 100.0
        and isinstance(abort, Abort)
        and abort.body is None
    ):
        # The older http_error form: a fixed delay of every call, then aborts.
        alias: dict[str, Any] = {
            "status": abort.status,
            "rate": abort.percentage / 100.0,
            "latency_ms": _number(delay.latency.ms),
        }
        if abort.retry_after_s is not None:
            alias["retry_after_s"] = _number(abort.retry_after_s)
        return {"type": "http_error", "attributes": alias}
    raise ValueError(
        f"expected one HTTP fault per scheduled fault but got {len(specs)}: "
        f"{[spec.kind for spec in specs]}"
    )


def budget_document(budget: Budget) -> dict[str, Any]:
    """One ``budgets[]`` entry, with only the keys that differ from their defaults."""
    doc: dict[str, Any] = {"expect": budget.expression}
    if budget.phase != "overall":
        doc["phase"] = budget.phase
    if budget.name:
        doc["name"] = budget.name
    if budget.metric == RECOVERY_TIME and budget.tolerance != DEFAULT_TOLERANCE:
        doc["tolerance"] = budget.tolerance
    if budget.abort_on_fail:
        doc["abort_on_fail"] = True
        if budget.delay_abort_s:
            doc["delay_abort_s"] = _number(budget.delay_abort_s)
    return doc


def _endpoint_document(config: EndpointConfig) -> dict[str, Any]:
    default = EndpointConfig()
    doc: dict[str, Any] = {}
    for item in fields(EndpointConfig):
        if item.name in _WIRING_OWNED:
            continue
        value = getattr(config, item.name)
        if value != getattr(default, item.name):
            doc[item.name] = _number(value) if isinstance(value, float) else value
    return doc


def _load_document(load: LoadSpec, original: Mapping[str, Any], base: Path) -> dict[str, Any]:
    default = LoadSpec(rate=load.rate, duration_s=load.duration_s)
    doc: dict[str, Any] = {"rate": _number(load.rate), "duration_s": _number(load.duration_s)}
    for key in ("records_per_request", "timeout_s", "max_connections", "keyspace", "max_lag_ms"):
        value = getattr(load, key)
        if value != getattr(default, key):
            doc[key] = _number(value)
    if load.body is not None:
        doc["body"] = json.loads(load.body)
    if load.arrivals is not None:
        raw = original.get("arrivals")
        if not isinstance(raw, Mapping):
            raise ValueError("load.arrivals can only be written from the scenario's own file")
        arrivals = dict(raw)
        if "file" in arrivals:
            arrivals["file"] = _absolute(base, str(arrivals["file"]))
        doc["arrivals"] = arrivals
    if load.engine != default.engine:
        doc["engine"] = load.engine
    if load.stream:
        doc["stream"] = True
    objectives = {
        key: _number(value)
        for key, value in (
            ("ttft_ms", load.slo.ttft_ms),
            ("tpot_ms", load.slo.tpot_ms),
            ("e2e_ms", load.slo.e2e_ms),
        )
        if value is not None
    }
    if objectives:
        doc["slo"] = objectives
    if load.llm is not None:
        doc["llm"] = _llm_document(load.llm)
    return doc


def _llm_document(llm: LlmRequests) -> dict[str, Any]:
    """``load.llm`` with the keys that differ from their defaults (the lengths always)."""
    default = LlmRequests()
    doc: dict[str, Any] = {}
    if llm.api != default.api:
        doc["api"] = llm.api
    doc["prompt_tokens"] = length_to_json(llm.prompt_tokens)
    doc["max_tokens"] = length_to_json(llm.max_tokens)
    for key in ("model", "seed", "distinct"):
        value = getattr(llm, key)
        if value != getattr(default, key):
            doc[key] = value
    return doc


def _target_document(scenario: Scenario) -> dict[str, Any]:
    target = scenario.target
    if target is None:
        return {}
    doc: dict[str, Any] = {}
    if target.url:
        doc["url"] = target.url
    if target.command:
        doc["command"] = list(target.command)
    if target.image:
        doc["image"] = target.image
        if target.args:
            doc["args"] = list(target.args)
    if target.invocations_path != "/invocations":
        doc["invocations_path"] = target.invocations_path
    if target.health_path != "/health":
        doc["health_path"] = target.health_path
    if target.metrics_path:
        doc["metrics_path"] = target.metrics_path
    return doc


def _dependencies_document(
    scenario: Scenario, original: Mapping[str, Any], base: Path
) -> dict[str, Any] | None:
    if scenario.dependencies == REFERENCE_DEPENDENCIES or not scenario.dependencies:
        return None
    raw = original.get("dependencies")
    if not isinstance(raw, Mapping):
        raise ValueError("dependencies can only be written from the scenario's own file")
    written: dict[str, Any] = {}
    for name, item in raw.items():
        entry = dict(item) if isinstance(item, Mapping) else item
        if isinstance(entry, dict):
            for key in _DEPENDENCY_FILES:
                if isinstance(entry.get(key), str):
                    entry[key] = _absolute(base, entry[key])
            if isinstance(entry.get("routes"), str):
                entry["routes"] = _absolute(base, entry["routes"])
        written[str(name)] = entry
    return written


def _client_document(scenario: Scenario) -> dict[str, Any] | None:
    client = scenario.client
    if client is None:
        return None
    if client.function is not None or not client.callable:
        raise ValueError("a client given as a function object cannot be written to a file")
    doc: dict[str, Any] = {"callable": client.callable}
    if client.max_in_flight != 256:
        doc["max_in_flight"] = client.max_in_flight
    if client.payload is not None:
        doc["payload"] = json.loads(client.payload)
    return doc


def _absolute(base: Path, name: str) -> str:
    path = Path(name)
    return str(path if path.is_absolute() else (base / path).resolve())


def _original(scenario: Scenario, text: str | None) -> Mapping[str, Any]:
    if text is None:
        try:
            text = Path(scenario.source).read_text()
        except OSError:
            return {}
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, Mapping) else {}


def scenario_document(scenario: Scenario, *, original_text: str | None = None) -> dict[str, Any]:
    """The scenario as the mapping a scenario file holds. ``original_text`` is the file it was
    read from (read from ``scenario.source`` when not given), for the parts written as found.
    Raises ValueError for what no scenario file can state (a client function object)."""
    original = _original(scenario, original_text)
    base = Path(scenario.source).parent.resolve()
    doc: dict[str, Any] = {"name": scenario.name}
    if scenario.description:
        doc["description"] = scenario.description
    target = _target_document(scenario)
    if target:
        doc["target"] = target
    else:
        endpoint = _endpoint_document(scenario.endpoint)
        if endpoint:
            doc["endpoint"] = endpoint
    dependencies = _dependencies_document(scenario, original, base)
    if dependencies is not None:
        doc["dependencies"] = dependencies
    client = _client_document(scenario)
    if client is not None:
        doc["client"] = client
    raw_load = original.get("load")
    doc["load"] = _load_document(
        scenario.load, raw_load if isinstance(raw_load, Mapping) else {}, base
    )
    doc["faults"] = [fault_document(fault) for fault in scenario.faults]
    # A budget with nothing but its expression reads best as the expression alone.
    doc["budgets"] = [
        written["expect"] if len(written) == 1 else written
        for written in map(budget_document, scenario.budgets)
    ]
    return doc


def scenario_to_yaml(
    scenario: Scenario, *, original_text: str | None = None, header: str = ""
) -> str:
    """The scenario file text; ``header`` lines go first as YAML comments."""
    body = yaml.safe_dump(
        scenario_document(scenario, original_text=original_text),
        sort_keys=False,
        default_flow_style=None,
        width=100,
    )
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body
