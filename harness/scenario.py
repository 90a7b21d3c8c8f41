"""Scenario files: YAML in, a validated frozen Scenario out, or a ScenarioError naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from faults import (
    TOXIC_ATTRIBUTES,
    Crash,
    Fault,
    HttpError,
    Pause,
    ProxyDown,
    ResourceLimit,
    ScheduledFault,
    Stop,
    Surge,
    Toxic,
)
from faults.http import HttpFault
from faults.network import STREAMS
from harness.budgets import Budget, check_phase
from harness.endpoint.config import EndpointConfig
from harness.errors import ScenarioError, UsageError
from harness.loadgen.engine import ENGINES
from harness.loadgen.shapes import Constant, Poisson, Ramp, Shape, Sine, Spike, Step
from harness.loadgen.trace import read_trace

# The proxies every topology wires: the client's path to the endpoint, the endpoint's to a stub.
ENDPOINT_PROXY = "endpoint"
FEATURE_STORE_PROXY = "feature-store"
PROXIES = (ENDPOINT_PROXY, FEATURE_STORE_PROXY)
# Stubs take HTTP faults; services take container faults (Toxiproxy itself is not a target: it
# is the instrument, not the system under test).
STUBS = (FEATURE_STORE_PROXY,)
SERVICES = ("endpoint", FEATURE_STORE_PROXY)
FAULT_TARGETS: Mapping[str, tuple[str, ...]] = {
    **dict.fromkeys([*TOXIC_ATTRIBUTES, "down"], PROXIES),
    "http_error": STUBS,
    "surge": (ENDPOINT_PROXY,),
    **dict.fromkeys(["pause", "crash", "stop", "limit"], SERVICES),
}
_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "http_error": frozenset({"status", "rate", "latency_ms", "retry_after_s"}),
    "surge": frozenset({"factor", "rise_s"}),
    "pause": frozenset(),
    "crash": frozenset({"signal"}),
    "stop": frozenset({"grace_s"}),
    "limit": frozenset({"cpus", "memory_mb"}),
}


# A scenario's `endpoint:` section is the reference endpoint's own configuration; the topology
# fills in where it listens and how it reaches its upstreams.
EndpointSpec = EndpointConfig
_TOPOLOGY_OWNED = frozenset({"host", "port", "name", "feature_store_url", "enrichment_url"})
_GOT_FIELD = re.compile(r"but got (\w+)=")


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    """A model server other than the reference endpoint, behind the same Toxiproxy.

    Exactly one of: ``url`` (already running; the harness starts only Toxiproxy), ``command``
    (started as a process) or ``image`` (started as a container, ``args`` after its
    entrypoint). In a command or args, ``{port}`` and ``{feature_store_url}`` are replaced by the
    port to listen on and the feature-store stub's address behind its proxy; the same values are
    in the environment as PORT and FEATURE_STORE_URL.
    """

    url: str = ""
    invocations_path: str = "/invocations"
    health_path: str = "/health"
    metrics_path: str = ""
    command: tuple[str, ...] = ()
    image: str = ""
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "url" if self.url else "command" if self.command else "image"

    def expand(self, words: tuple[str, ...], port: int, feature_store_url: str) -> list[str]:
        return [
            w.replace("{port}", str(port)).replace("{feature_store_url}", feature_store_url)
            for w in words
        ]

    def environment(self, port: int, feature_store_url: str) -> dict[str, str]:
        return {"PORT": str(port), "FEATURE_STORE_URL": feature_store_url}


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Open-loop constant-rate load: ``rate`` requests/s for ``duration_s`` seconds."""

    rate: float
    duration_s: float
    records_per_request: int = 1
    timeout_s: float = 10.0
    max_connections: int = 256
    keyspace: int = 1000
    # A generator that starts requests later than this (p99) measured itself, not the endpoint.
    max_lag_ms: float = 10.0
    # A JSON body sent as is with every request, for endpoints with their own contract; None
    # sends MLflow dataframe_records and expects one prediction per record back.
    body: bytes | None = None
    # How requests arrive over time; None is the constant ``rate``.
    arrivals: Shape | None = None
    # The HTTP engine: aiohttp, http1, curl, or auto (http1 for http:// URLs).
    engine: str = "aiohttp"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    load: LoadSpec
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    faults: tuple[ScheduledFault, ...] = ()
    budgets: tuple[Budget, ...] = ()
    description: str = ""
    source: str = "<scenario>"
    target: ExternalTarget | None = None

    def load_shape(self) -> Shape:
        """The offered load over time: ``load.arrivals``, or the constant rate with a surge
        fault's climb in it."""
        if self.load.arrivals is not None:
            return self.load.arrivals
        surge = next((f for f in self.faults if isinstance(f.fault, Surge)), None)
        if surge is None:
            return Constant(self.load.rate, self.load.duration_s)
        fault = surge.fault
        if not isinstance(fault, Surge):
            raise TypeError("surge fault expected")
        return Spike(
            baseline=self.load.rate,
            factor=fault.factor,
            at_s=surge.start_s,
            rise_s=min(fault.rise_s, surge.duration_s),
            hold_s=max(surge.duration_s - fault.rise_s, 0.0),
            duration_s=self.load.duration_s,
        )

    def phase_names(self) -> list[str]:
        names = ["overall"]
        if self.faults:
            names += ["baseline", *(f"during:{f.name}" for f in self.faults), "recovery"]
        return names


class _Reader:
    """Walks the parsed YAML with a path, so every error names its field and line."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        try:
            self.root_node = yaml.compose(text)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"not valid YAML: {exc}", source=source) from exc

    def error(self, path: str, message: str) -> ScenarioError:
        line = self._line(path)
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(message, source=where, field=path)

    def _line(self, path: str) -> int | None:
        node = self.root_node
        if node is None:
            return None
        line: int | None = node.start_mark.line + 1
        for part in path.replace("[", ".").replace("]", "").split("."):
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and part.isdigit():
                index = int(part)
                match = node.value[index] if index < len(node.value) else None
            else:
                match = None
            if match is None:
                return line
            node, line = match, match.start_mark.line + 1
        return line

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a mapping but got {type(value).__name__}")
        return value

    def known_keys(self, value: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.error(where, f"unknown field; expected one of {sorted(allowed)}")

    def number(
        self,
        value: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: float | None = None,
        minimum: float | None = None,
        exclusive: bool = False,
        integer: bool = False,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in value:
            if default is None:
                raise self.error(where, "required field is missing")
            return default
        found = value[key]
        kind = int if integer else (int, float)
        if isinstance(found, bool) or not isinstance(found, kind):
            expected = "an integer" if integer else "a number"
            raise self.error(where, f"expected {expected} but got {key}={found!r}")
        if minimum is not None and (found <= minimum if exclusive else found < minimum):
            sign = ">" if exclusive else ">="
            raise self.error(where, f"expected {key} {sign} {minimum:g} but got {key}={found!r}")
        return found

    def text(
        self, value: Mapping[str, Any], key: str, path: str, default: str | None = None
    ) -> str:
        where = f"{path}.{key}" if path else key
        found = value.get(key, default)
        if found is None:
            raise self.error(where, "required field is missing")
        if not isinstance(found, str) or not found.strip():
            raise self.error(where, f"expected a non-empty string but got {key}={found!r}")
        return found


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc.strerror}", source=str(file)) from exc
    return parse_scenario(text, source=str(file))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    reader = _Reader(source, text)
    raw = yaml.safe_load(text)
    doc = reader.mapping(raw, "")
    known = {"name", "description", "endpoint", "target", "load", "faults", "budgets"}
    reader.known_keys(doc, "", known)
    name = reader.text(doc, "name", "")
    target = None if doc.get("target") is None else _target(reader, doc)
    faults = _faults(reader, doc.get("faults", []))
    if target is not None and target.kind == "url":
        _check_external_faults(reader, faults)
    scenario = Scenario(
        name=name,
        description=str(doc.get("description", "")),
        endpoint=_endpoint(reader, doc.get("endpoint", {})),
        load=_load(reader, doc.get("load"), Path(source).parent),
        faults=faults,
        budgets=_budgets(reader, doc.get("budgets", []), faults),
        source=source,
        target=target,
    )
    _check_windows_fit(reader, scenario)
    surges = [i for i, f in enumerate(scenario.faults) if isinstance(f.fault, Surge)]
    if len(surges) > 1:
        raise reader.error(f"faults[{surges[1]}].type", "a scenario takes at most one surge")
    if surges and scenario.load.arrivals is not None:
        raise reader.error(
            f"faults[{surges[0]}].type", "a surge shapes constant load; drop load.arrivals"
        )
    return scenario


def _endpoint(reader: _Reader, raw: Any) -> EndpointConfig:
    doc = reader.mapping(raw, "endpoint")
    kinds = {f.name: str(f.type) for f in fields(EndpointConfig) if f.name not in _TOPOLOGY_OWNED}
    reader.known_keys(doc, "endpoint", set(kinds))
    values: dict[str, Any] = {}
    for key, found in doc.items():
        kind, path = kinds[key], f"endpoint.{key}"
        if kind == "bool":
            if not isinstance(found, bool):
                raise reader.error(path, f"expected true or false but got {key}={found!r}")
            values[key] = found
        elif kind == "str":
            values[key] = reader.text(doc, key, "endpoint")
        elif found is None and "None" in kind:
            values[key] = None
        else:
            integer = kind.startswith("int")
            number = reader.number(doc, key, "endpoint", integer=integer)
            values[key] = number if integer else float(number)
    try:
        return EndpointConfig(**values)
    except ValueError as exc:
        named = _GOT_FIELD.search(str(exc))
        raise reader.error(
            f"endpoint.{named.group(1) if named else ''}".rstrip("."), str(exc)
        ) from exc


def _target(reader: _Reader, doc: Mapping[str, Any]) -> ExternalTarget:
    if "endpoint" in doc:
        raise reader.error("endpoint", "a scenario with a target runs no endpoint of its own")
    raw = reader.mapping(doc["target"], "target")
    keys = {"url", "command", "image", "args", "invocations_path", "health_path", "metrics_path"}
    reader.known_keys(raw, "target", keys)
    given = [key for key in ("url", "command", "image") if key in raw]
    if len(given) != 1:
        raise reader.error(
            "target", f"expected exactly one of url, command, image but got {given or 'none'}"
        )
    if "args" in raw and "image" not in raw:
        raise reader.error("target.args", "args follow an image's entrypoint; use command")
    url = ""
    if "url" in raw:
        url = reader.text(raw, "url", "target").rstrip("/")
        parsed = urlsplit(url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise reader.error("target.url", f"expected an http:// URL with a host but got {url!r}")
    command = _words(reader, raw, "command")
    args = _words(reader, raw, "args")
    image = reader.text(raw, "image", "target") if "image" in raw else ""
    paths = {}
    for key, default in (("invocations_path", "/invocations"), ("health_path", "/health")):
        paths[key] = reader.text(raw, key, "target", default=default)
    metrics = raw.get("metrics_path", "")
    for key, value in (*paths.items(), ("metrics_path", metrics)):
        if value and not (isinstance(value, str) and value.startswith("/")):
            raise reader.error(
                f"target.{key}", f"expected a path starting with / but got {value!r}"
            )
    return ExternalTarget(
        url, metrics_path=str(metrics), command=command, image=image, args=args, **paths
    )


def _words(reader: _Reader, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    found = raw.get(key, [])
    if not isinstance(found, list) or not all(isinstance(w, str) for w in found):
        raise reader.error(f"target.{key}", f"expected a list of strings but got {found!r}")
    if key == "command" and key in raw and not found:
        raise reader.error("target.command", "expected a non-empty list such as [my-server]")
    return tuple(found)


def _check_external_faults(reader: _Reader, faults: tuple[ScheduledFault, ...]) -> None:
    for index, scheduled in enumerate(faults):
        fault = scheduled.fault
        if fault.target != ENDPOINT_PROXY or isinstance(fault, (Pause, Crash, Stop, ResourceLimit)):
            raise reader.error(
                f"faults[{index}].type",
                "with a target url only network faults and surges on `endpoint` apply: "
                "the harness runs no stub or service it could break",
            )


def _load(reader: _Reader, raw: Any, base: Path) -> LoadSpec:
    if raw is None:
        raise reader.error(
            "load", "required field is missing; expected e.g. {rate: 50, duration_s: 10}"
        )
    doc = reader.mapping(raw, "load")
    fields = {
        "rate",
        "duration_s",
        "records_per_request",
        "timeout_s",
        "max_connections",
        "keyspace",
        "max_lag_ms",
        "body",
        "arrivals",
        "engine",
    }
    reader.known_keys(doc, "load", fields)
    return LoadSpec(
        rate=float(reader.number(doc, "rate", "load", minimum=0, exclusive=True)),
        duration_s=float(reader.number(doc, "duration_s", "load", minimum=0, exclusive=True)),
        records_per_request=reader.number(
            doc, "records_per_request", "load", default=1, minimum=1, integer=True
        ),
        timeout_s=float(
            reader.number(doc, "timeout_s", "load", default=10.0, minimum=0, exclusive=True)
        ),
        max_connections=reader.number(
            doc, "max_connections", "load", default=256, minimum=1, integer=True
        ),
        keyspace=reader.number(doc, "keyspace", "load", default=1000, minimum=1, integer=True),
        max_lag_ms=float(
            reader.number(doc, "max_lag_ms", "load", default=10.0, minimum=0, exclusive=True)
        ),
        body=_body(reader, doc),
        arrivals=_arrivals(reader, doc, base),
        engine=_engine(reader, doc),
    )


def _engine(reader: _Reader, doc: Mapping[str, Any]) -> str:
    engine = doc.get("engine", "aiohttp")
    if engine not in ("auto", *ENGINES):
        raise reader.error(
            "load.engine", f"expected one of {['auto', *ENGINES]} but got engine={engine!r}"
        )
    return str(engine)


_ARRIVALS: Mapping[str, frozenset[str]] = {
    "constant": frozenset(),
    "poisson": frozenset({"seed"}),
    "ramp": frozenset({"to"}),
    "step": frozenset({"add", "every_s"}),
    "sine": frozenset({"amplitude", "period_s"}),
    "trace": frozenset({"file", "kind"}),
}


def _arrivals(reader: _Reader, doc: Mapping[str, Any], base: Path) -> Shape | None:
    """``load.arrivals``: {shape: ramp, to: 120}, {shape: trace, file: f.csv, kind: rates}..."""
    if doc.get("arrivals") is None:
        return None
    raw = dict(reader.mapping(doc["arrivals"], "load.arrivals"))
    shape = raw.pop("shape", None)
    if shape not in _ARRIVALS:
        raise reader.error(
            "load.arrivals.shape", f"expected one of {sorted(_ARRIVALS)} but got shape={shape!r}"
        )
    unknown = sorted(set(raw) - _ARRIVALS[shape])
    if unknown:
        raise reader.error(
            f"load.arrivals.{unknown[0]}",
            f"unknown field; a {shape} shape takes {sorted(_ARRIVALS[shape])}",
        )
    rate, duration = float(doc["rate"]), float(doc["duration_s"])
    try:
        built = _shape(shape, raw, rate, duration, base)
    except KeyError as exc:
        raise reader.error(f"load.arrivals.{exc.args[0]}", "required field is missing") from exc
    except (UsageError, TypeError, ValueError) as exc:
        raise reader.error("load.arrivals", str(exc)) from exc
    if built.duration_s > duration + 1e-9:
        raise reader.error(
            "load.arrivals",
            f"the {shape} lasts {built.duration_s:g}s, longer than load.duration_s={duration:g}",
        )
    return built


def _shape(kind: str, raw: dict[str, Any], rate: float, duration: float, base: Path) -> Shape:
    if kind == "constant":
        return Constant(rate, duration)
    if kind == "poisson":
        return Poisson(rate, duration, seed=int(raw.get("seed", 0)))
    if kind == "ramp":
        return Ramp(rate, float(raw["to"]), duration)
    if kind == "step":
        return Step(rate, float(raw["add"]), float(raw["every_s"]), duration)
    if kind == "sine":
        amplitude = float(raw.get("amplitude", rate / 2))
        return Sine(rate, amplitude, float(raw["period_s"]), duration)
    trace = Path(str(raw["file"]))
    return read_trace(trace if trace.is_absolute() else base / trace, str(raw.get("kind", "rates")))


def _body(reader: _Reader, doc: Mapping[str, Any]) -> bytes | None:
    if doc.get("body") is None:
        return None
    found = doc["body"]
    if isinstance(found, str):
        try:
            json.loads(found)
        except ValueError as exc:
            raise reader.error("load.body", f"expected JSON but got {found!r}: {exc}") from exc
        return found.encode()
    if isinstance(found, Mapping | list):
        return json.dumps(found).encode()
    raise reader.error("load.body", f"expected a JSON object or string but got {found!r}")


def _faults(reader: _Reader, raw: Any) -> tuple[ScheduledFault, ...]:
    if not isinstance(raw, list):
        raise reader.error("faults", f"expected a list but got {type(raw).__name__}")
    scheduled: list[ScheduledFault] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"faults[{index}]"
        doc = reader.mapping(item, path)
        fields = {
            "name",
            "type",
            "target",
            "start_s",
            "duration_s",
            "stream",
            "toxicity",
            "attributes",
        }
        reader.known_keys(doc, path, fields)
        name = reader.text(doc, "name", path)
        if name in seen:
            raise reader.error(
                f"{path}.name", f"fault names must be unique; {name!r} appears twice"
            )
        seen.add(name)
        fault = _fault(reader, doc, path)
        try:
            scheduled.append(
                ScheduledFault(
                    name=name,
                    fault=fault,
                    start_s=float(reader.number(doc, "start_s", path, minimum=0)),
                    duration_s=float(
                        reader.number(doc, "duration_s", path, minimum=0, exclusive=True)
                    ),
                )
            )
        except ValueError as exc:
            raise reader.error(path, str(exc)) from exc
    return tuple(scheduled)


def _fault(reader: _Reader, doc: Mapping[str, Any], path: str) -> Fault:
    kind = reader.text(doc, "type", path)
    if kind not in FAULT_TARGETS:
        raise reader.error(
            f"{path}.type", f"expected one of {sorted(FAULT_TARGETS)} but got type={kind!r}"
        )
    targets = FAULT_TARGETS[kind]
    target = reader.text(doc, "target", path)
    if target not in targets:
        raise reader.error(
            f"{path}.target",
            f"expected one of {list(targets)} for a {kind} fault but got target={target!r}",
        )
    if targets is PROXIES:
        return _network_fault(reader, doc, path, kind, target)
    extra = sorted({"stream", "toxicity"} & set(doc))
    if extra:
        raise reader.error(f"{path}.{extra[0]}", "only network faults take stream and toxicity")
    attributes = dict(reader.mapping(doc.get("attributes", {}), f"{path}.attributes"))
    allowed = _ATTRIBUTES[kind]
    unknown = sorted(set(attributes) - allowed)
    if unknown:
        raise reader.error(
            f"{path}.attributes",
            f"expected attributes among {sorted(allowed)} for a {kind} fault but got {unknown}",
        )
    try:
        return _build(kind, target, attributes)
    except (TypeError, ValueError) as exc:
        raise reader.error(f"{path}.attributes", str(exc)) from exc


def _build(kind: str, target: str, attributes: dict[str, Any]) -> Fault:
    if kind == "http_error":
        return HttpError(target, HttpFault.from_json(attributes))
    if kind == "pause":
        return Pause(target)
    if kind == "surge":
        return Surge(target, **attributes)
    if kind == "crash":
        return Crash(target, **attributes)
    if kind == "stop":
        return Stop(target, **attributes)
    memory_mb = attributes.get("memory_mb")
    return ResourceLimit(
        target,
        cpus=attributes.get("cpus"),
        memory_bytes=None if memory_mb is None else int(memory_mb * (1 << 20)),
    )


def _network_fault(
    reader: _Reader, doc: Mapping[str, Any], path: str, kind: str, target: str
) -> Toxic | ProxyDown:
    if kind == "down":
        extra = sorted({"attributes", "stream", "toxicity"} & set(doc))
        if extra:
            raise reader.error(f"{path}.{extra[0]}", "a down fault takes no attributes")
        return ProxyDown(target)
    stream = doc.get("stream", "downstream")
    if stream not in STREAMS:
        raise reader.error(
            f"{path}.stream", f"expected one of {list(STREAMS)} but got stream={stream!r}"
        )
    toxicity = float(reader.number(doc, "toxicity", path, default=1.0, minimum=0))
    if toxicity > 1:
        raise reader.error(f"{path}.toxicity", f"expected toxicity <= 1 but got {toxicity!r}")
    attributes = reader.mapping(doc.get("attributes", {}), f"{path}.attributes")
    try:
        return Toxic(kind, target, attributes, stream=stream, toxicity=toxicity)
    except ValueError as exc:
        raise reader.error(f"{path}.attributes", str(exc)) from exc


def _budgets(reader: _Reader, raw: Any, faults: tuple[ScheduledFault, ...]) -> tuple[Budget, ...]:
    if not isinstance(raw, list):
        raise reader.error("budgets", f"expected a list but got {type(raw).__name__}")
    fault_names = {f.name for f in faults}
    budgets: list[Budget] = []
    for index, item in enumerate(raw):
        path = f"budgets[{index}]"
        if isinstance(item, str):
            item = {"expect": item}
        doc = reader.mapping(item, path)
        reader.known_keys(doc, path, {"expect", "phase", "name"})
        phase = str(doc.get("phase", "overall"))
        try:
            check_phase(phase)
        except ValueError as exc:
            raise reader.error(f"{path}.phase", str(exc)) from exc
        try:
            budget = Budget.parse(
                reader.text(doc, "expect", path), phase=phase, name=str(doc.get("name", ""))
            )
        except ValueError as exc:
            raise reader.error(f"{path}.expect", str(exc)) from exc
        if budget.phase.startswith("during:") and budget.phase[7:] not in fault_names:
            raise reader.error(
                f"{path}.phase",
                f"expected during:<one of {sorted(fault_names)}> but got phase={budget.phase!r}",
            )
        if budget.phase in {"baseline", "recovery"} and not faults:
            raise reader.error(f"{path}.phase", f"phase {budget.phase} needs at least one fault")
        budgets.append(budget)
    return tuple(budgets)


def _check_windows_fit(reader: _Reader, scenario: Scenario) -> None:
    for index, fault in enumerate(scenario.faults):
        if fault.end_s > scenario.load.duration_s:
            raise reader.error(
                f"faults[{index}].duration_s",
                f"fault ends at {fault.end_s:g}s, after load ends at {scenario.load.duration_s:g}s",
            )
