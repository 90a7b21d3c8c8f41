"""Scenario files: YAML in, a validated frozen Scenario out, or a ScenarioError naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from faults import (
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
from faults.http import (
    HTTP_FAULT_KINDS,
    Abort,
    Delay,
    Fixed,
    HttpFaultSpec,
    StreamFault,
    fault_from_json,
)
from faults.network import STREAMS
from harness.errors import ScenarioError, UsageError
from harness.incident.reproduce import DEFAULT_MIN_OVERLAP, DEFAULT_TOLERANCE_S, read_signature
from harness.loadgen.engine import ENGINES, STREAM_ENGINES
from harness.loadgen.lengths import Length, length_from_json
from harness.loadgen.llm_requests import API_CHAT, APIS, LlmRequests
from harness.loadgen.payloads import body_file
from harness.loadgen.shapes import Constant, Poisson, Ramp, Shape, Sine, Step
from harness.loadgen.streams import StreamSlo
from harness.loadgen.trace import read_trace
from harness.scenario.budgets import (
    DEFAULT_TOLERANCE,
    DROPPED,
    RECOVERY_TIME,
    TOKEN_METRICS,
    Budget,
    check_phase,
    dependency_of,
    judged_mid_run,
)
from harness.scenario.clients import ClientSpec, resolve_client
from harness.scenario.dependencies import read_dependencies
from harness.scenario.reader import Reader
from harness.scenario.spec import IncidentSpec, LoadSpec, Scenario
from harness.scenario.targets import ATTRIBUTES, FAULT_KINDS, NETWORK_KINDS, targets_of
from harness.servers.endpoint.config import UPSTREAM_NAMES, EndpointConfig
from harness.system.spec import (
    ENDPOINT,
    REFERENCE_DEPENDENCIES,
    Dependency,
    ExternalTarget,
    SystemSpec,
)

__all__ = ["load_scenario", "parse_scenario"]

# Fields of the endpoint's configuration that the wiring owns, not the scenario.
_WIRING_OWNED = frozenset({"host", "port", "name", "upstreams"})
_GOT_FIELD = re.compile(r"but got (\w+)=")
_DEPS_PLACEHOLDER = re.compile(r"\{deps\.([^.{}]+)\.url\}")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc.strerror}", source=str(file)) from exc
    return parse_scenario(text, source=str(file))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    reader = Reader(source, text)
    raw = yaml.safe_load(text)
    doc = reader.mapping(raw, "")
    known = {
        "name",
        "description",
        "endpoint",
        "target",
        "dependencies",
        "client",
        "incident",
        "load",
        "faults",
        "budgets",
    }
    reader.known_keys(doc, "", known)
    name = reader.text(doc, "name", "")
    base = Path(source).parent
    target = None if doc.get("target") is None else _target(reader, doc, base)
    external = target is not None and target.kind == "url"
    dependencies = _dependencies(reader, doc, target, base)
    # A url target's faults are read against the reference names, so that a fault aimed at a
    # stub is refused with the reason rather than with an empty list of targets.
    against = SystemSpec() if external else SystemSpec(target=target, dependencies=dependencies)
    faults = _faults(reader, doc.get("faults", []), against)
    if external:
        _check_external_faults(reader, faults, target)
    scenario = Scenario(
        name=name,
        description=str(doc.get("description", "")),
        endpoint=_endpoint(reader, doc.get("endpoint", {})),
        load=_load(reader, doc.get("load"), base),
        faults=faults,
        budgets=_budgets(reader, doc.get("budgets", []), faults, dependencies),
        source=source,
        target=target,
        dependencies=dependencies,
        client=None if doc.get("client") is None else _client(reader, doc["client"], base),
        incident=None if doc.get("incident") is None else _incident(reader, doc["incident"], base),
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


def _dependencies(
    reader: Reader, doc: Mapping[str, Any], target: ExternalTarget | None, base: Path
) -> tuple[Dependency, ...]:
    """Declared dependencies, or the reference endpoint's feature store when none are."""
    if target is not None and target.kind == "url":
        if doc.get("dependencies"):
            raise reader.error(
                "dependencies",
                "a target url runs elsewhere and cannot be pointed at stubs; declare "
                "dependencies with target.command or target.image",
            )
        # A server the harness did not start calls nothing the harness can stand in for.
        return ()
    if doc.get("dependencies") is None:
        return REFERENCE_DEPENDENCIES
    dependencies = read_dependencies(reader, doc["dependencies"], base)
    if target is None:
        for dependency in dependencies:
            if dependency.name not in UPSTREAM_NAMES:
                raise reader.error(
                    f"dependencies.{dependency.name}",
                    f"the reference endpoint calls {list(UPSTREAM_NAMES)}; declare those, or "
                    "run your own server with target.command or target.image",
                )
    else:
        _check_placeholders(reader, target, dependencies)
    return dependencies


def _check_placeholders(
    reader: Reader, target: ExternalTarget, dependencies: tuple[Dependency, ...]
) -> None:
    names = {dependency.name for dependency in dependencies}
    for key, words in (("command", target.command), ("args", target.args)):
        for word in words:
            for name in _DEPS_PLACEHOLDER.findall(word):
                if name not in names:
                    raise reader.error(
                        f"target.{key}",
                        f"{{deps.{name}.url}} names no declared dependency; "
                        f"dependencies: {sorted(names)}",
                    )


def _client(reader: Reader, raw: Any, base: Path) -> ClientSpec:
    doc = reader.mapping(raw, "client")
    reader.known_keys(doc, "client", {"callable", "max_in_flight", "payload"})
    payload = None
    if doc.get("payload") is not None:
        found = doc["payload"]
        if not isinstance(found, Mapping):
            raise reader.error("client.payload", f"expected a JSON object but got {found!r}")
        payload = json.dumps(found).encode()
    spec = ClientSpec(
        callable=reader.text(doc, "callable", "client"),
        max_in_flight=reader.number(
            doc, "max_in_flight", "client", default=256, minimum=1, integer=True
        ),
        payload=payload,
        search_path=str(base.resolve()),
    )
    try:
        resolve_client(spec)
    except UsageError as exc:
        raise reader.error("client.callable", str(exc)) from exc
    return spec


def _incident(reader: Reader, raw: Any, base: Path) -> IncidentSpec:
    doc = reader.mapping(raw, "incident")
    reader.known_keys(doc, "incident", {"signature", "tolerance_s", "min_overlap"})
    path = base / reader.text(doc, "signature", "incident")
    try:
        signature = read_signature(path)
    except ValueError as exc:
        raise reader.error("incident.signature", str(exc)) from exc
    overlap = reader.number(
        doc, "min_overlap", "incident", default=DEFAULT_MIN_OVERLAP, minimum=0, exclusive=True
    )
    if overlap > 1:
        raise reader.error(
            "incident.min_overlap", f"expected min_overlap <= 1 but got min_overlap={overlap}"
        )
    return IncidentSpec(
        signature,
        str(path),
        reader.number(
            doc, "tolerance_s", "incident", default=DEFAULT_TOLERANCE_S, minimum=0, integer=True
        ),
        overlap,
    )


def _endpoint(reader: Reader, raw: Any) -> EndpointConfig:
    doc = reader.mapping(raw, "endpoint")
    kinds = {f.name: str(f.type) for f in fields(EndpointConfig) if f.name not in _WIRING_OWNED}
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


def _target(reader: Reader, doc: Mapping[str, Any], base: Path) -> ExternalTarget:
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
    # Paths in a command may be written relative to the scenario file.
    here = str(base.resolve())
    command = tuple(w.replace("{scenario_dir}", here) for w in _words(reader, raw, "command"))
    args = tuple(w.replace("{scenario_dir}", here) for w in _words(reader, raw, "args"))
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


def _words(reader: Reader, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    found = raw.get(key, [])
    if not isinstance(found, list) or not all(isinstance(w, str) for w in found):
        raise reader.error(f"target.{key}", f"expected a list of strings but got {found!r}")
    if key == "command" and key in raw and not found:
        raise reader.error("target.command", "expected a non-empty list such as [my-server]")
    return tuple(found)


def _check_external_faults(
    reader: Reader, faults: tuple[ScheduledFault, ...], target: ExternalTarget | None
) -> None:
    for index, scheduled in enumerate(faults):
        fault = scheduled.fault
        if fault.target != ENDPOINT or isinstance(fault, (Pause, Crash, Stop, ResourceLimit)):
            raise reader.error(
                f"faults[{index}].type",
                "with a target url only network faults, HTTP faults and surges on `endpoint` "
                "apply: the harness runs no stub or service it could break",
            )
        if isinstance(fault, HttpError) and target is not None and target.url.startswith("https"):
            raise reader.error(
                f"faults[{index}].type",
                "HTTP faults on `endpoint` need an http:// target: the HTTP fault layer does "
                "not speak TLS",
            )


def _load(reader: Reader, raw: Any, base: Path) -> LoadSpec:
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
        "body_file",
        "arrivals",
        "engine",
        "stream",
        "slo",
        "llm",
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
        samples=_samples(reader, doc, base),
        arrivals=_arrivals(reader, doc, base),
        engine=_engine(reader, doc),
        stream=_stream(reader, doc),
        slo=_slo(reader, doc),
        llm=_llm(reader, doc),
    )


def _stream(reader: Reader, doc: Mapping[str, Any]) -> bool:
    found = _flag(reader, doc, "stream", "load")
    engine = doc.get("engine", "aiohttp")
    if found and engine not in ("auto", *STREAM_ENGINES):
        raise reader.error(
            "load.engine",
            f"expected one of {['auto', *STREAM_ENGINES]} with stream: true but got "
            f"engine={engine!r}: it reads each answer whole",
        )
    return found


def _slo(reader: Reader, doc: Mapping[str, Any]) -> StreamSlo:
    raw = doc.get("slo")
    if raw is None:
        return StreamSlo()
    slo = reader.mapping(raw, "load.slo")
    reader.known_keys(slo, "load.slo", {"ttft_ms", "tpot_ms", "e2e_ms"})
    if not doc.get("stream", False):
        raise reader.error("load.slo", "objectives of streamed answers need stream: true")

    def limit(key: str) -> float | None:
        if key not in slo:
            return None
        return float(reader.number(slo, key, "load.slo", minimum=0, exclusive=True))

    return StreamSlo(ttft_ms=limit("ttft_ms"), tpot_ms=limit("tpot_ms"), e2e_ms=limit("e2e_ms"))


def _engine(reader: Reader, doc: Mapping[str, Any]) -> str:
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


def _arrivals(reader: Reader, doc: Mapping[str, Any], base: Path) -> Shape | None:
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


def _body(reader: Reader, doc: Mapping[str, Any]) -> bytes | None:
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


_LLM_KEYS = frozenset({"api", "prompt_tokens", "max_tokens", "model", "seed", "distinct"})


def _llm(reader: Reader, doc: Mapping[str, Any]) -> LlmRequests | None:
    """``load.llm``: {api: chat, prompt_tokens: {type: lognormal, median: 500, sigma: 0.4},
    max_tokens: [16, 32, 64]}, each length a number, a list of samples or a distribution."""
    if doc.get("llm") is None:
        return None
    for other in ("body", "body_file"):
        if doc.get(other) is not None:
            raise reader.error(
                f"load.{other}",
                f"give load.llm or load.{other}, not both: load.llm makes the bodies",
            )
    raw = reader.mapping(doc["llm"], "load.llm")
    reader.known_keys(raw, "load.llm", set(_LLM_KEYS))
    lengths: dict[str, Length] = {}
    for key in ("prompt_tokens", "max_tokens"):
        if key not in raw:
            raise reader.error(
                f"load.llm.{key}",
                "required field is missing; expected a number of tokens, a list of samples "
                "or {type: uniform, lower: 100, upper: 400}",
            )
        try:
            lengths[key] = length_from_json(raw[key], f"load.llm.{key}")
        except ValueError as exc:
            raise reader.error(f"load.llm.{key}", str(exc)) from exc
    api = raw.get("api", API_CHAT)
    if api not in APIS:
        raise reader.error("load.llm.api", f"expected one of {list(APIS)} but got api={api!r}")
    model = None if raw.get("model") is None else reader.text(raw, "model", "load.llm")
    return LlmRequests(
        api=api,
        prompt_tokens=lengths["prompt_tokens"],
        max_tokens=lengths["max_tokens"],
        model=model,
        seed=reader.number(raw, "seed", "load.llm", default=0, minimum=0, integer=True),
        distinct=reader.number(raw, "distinct", "load.llm", default=256, minimum=1, integer=True),
    )


def _samples(reader: Reader, doc: Mapping[str, Any], base: Path) -> tuple[bytes, ...]:
    if doc.get("body_file") is None:
        return ()
    if doc.get("body") is not None:
        raise reader.error("load.body_file", "give load.body or load.body_file, not both")
    path = base / reader.text(doc, "body_file", "load")
    try:
        return body_file(path).samples
    except UsageError as exc:
        raise reader.error("load.body_file", str(exc)) from exc


def _faults(reader: Reader, raw: Any, system: SystemSpec) -> tuple[ScheduledFault, ...]:
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
        fault = _fault(reader, doc, path, system)
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


def _fault(reader: Reader, doc: Mapping[str, Any], path: str, system: SystemSpec) -> Fault:
    kind = reader.text(doc, "type", path)
    if kind not in FAULT_KINDS:
        raise reader.error(
            f"{path}.type", f"expected one of {sorted(FAULT_KINDS)} but got type={kind!r}"
        )
    targets = targets_of(kind, system)
    target = reader.text(doc, "target", path)
    if target not in targets:
        raise reader.error(
            f"{path}.target",
            f"expected one of {list(targets)} for a {kind} fault but got target={target!r}",
        )
    never_streams = [d.name for d in system.dependencies if d.kind == "features"]
    if kind == StreamFault.kind and target in never_streams:
        # A stream fault breaks event streams only; a feature store never sends one.
        raise reader.error(
            f"{path}.target",
            "expected endpoint or a dependency that can stream (kind routes, proxy or replay) "
            f"for a stream fault but got target={target!r}, a features stub, whose answers "
            "are never event streams",
        )
    if kind in NETWORK_KINDS:
        return _network_fault(reader, doc, path, kind, target)
    extra = sorted({"stream", "toxicity"} & set(doc))
    if extra:
        raise reader.error(f"{path}.{extra[0]}", "only network faults take stream and toxicity")
    attributes = dict(reader.mapping(doc.get("attributes", {}), f"{path}.attributes"))
    allowed = ATTRIBUTES[kind]
    unknown = sorted(set(attributes) - allowed)
    if unknown:
        raise reader.error(
            f"{path}.attributes",
            f"expected attributes among {sorted(allowed)} for a {kind} fault but got {unknown}",
        )
    try:
        return _build(kind, target, attributes)
    except (TypeError, ValueError) as exc:
        named = _GOT_FIELD.search(str(exc))
        where = f"{path}.attributes"
        if named and named.group(1) in attributes:
            where = f"{where}.{named.group(1)}"
        raise reader.error(where, str(exc)) from exc


def _build(kind: str, target: str, attributes: dict[str, Any]) -> Fault:
    if kind == "http_error":
        return HttpError(target, _http_error_alias(attributes))
    if kind in HTTP_FAULT_KINDS:
        return HttpError(target, (fault_from_json(kind, attributes),))
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


def _http_error_alias(attributes: dict[str, Any]) -> tuple[HttpFaultSpec, ...]:
    """``http_error`` {status, rate, latency_ms, retry_after_s}: an abort of ``rate`` x 100 %
    of calls, after a fixed delay of every call when ``latency_ms`` is given."""
    for key in ("rate", "latency_ms"):
        value = attributes.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number for {key} but got {key}={value!r}")
    rate = float(attributes.get("rate", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"expected rate in 0..1 but got rate={rate!r}")
    retry_after = attributes.get("retry_after_s")
    abort = Abort(
        status=attributes.get("status", 503),
        percentage=rate * 100.0,
        retry_after_s=None if retry_after is None else float(retry_after),
    )
    latency_ms = float(attributes.get("latency_ms", 0.0))
    return (Delay(Fixed(latency_ms)), abort) if latency_ms > 0 else (abort,)


def _network_fault(
    reader: Reader, doc: Mapping[str, Any], path: str, kind: str, target: str
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


def _budgets(
    reader: Reader,
    raw: Any,
    faults: tuple[ScheduledFault, ...],
    dependencies: tuple[Dependency, ...],
) -> tuple[Budget, ...]:
    if not isinstance(raw, list):
        raise reader.error("budgets", f"expected a list but got {type(raw).__name__}")
    fault_names = {f.name for f in faults}
    budgets: list[Budget] = []
    for index, item in enumerate(raw):
        path = f"budgets[{index}]"
        if isinstance(item, str):
            item = {"expect": item}
        doc = reader.mapping(item, path)
        reader.known_keys(doc, path, set(_BUDGET_KEYS))
        phase = str(doc.get("phase", "overall"))
        try:
            check_phase(phase)
        except ValueError as exc:
            raise reader.error(f"{path}.phase", str(exc)) from exc
        try:
            budget = Budget.parse(
                reader.text(doc, "expect", path),
                phase=phase,
                name=str(doc.get("name", "")),
                tolerance=float(
                    reader.number(doc, "tolerance", path, default=DEFAULT_TOLERANCE, minimum=0)
                ),
                abort_on_fail=_flag(reader, doc, "abort_on_fail", path),
                delay_abort_s=float(
                    reader.number(doc, "delay_abort_s", path, default=0.0, minimum=0)
                ),
            )
        except ValueError as exc:
            raise reader.error(f"{path}.expect", str(exc)) from exc
        if budget.phase.startswith("during:") and budget.phase[7:] not in fault_names:
            raise reader.error(
                f"{path}.phase",
                f"expected during:<one of {sorted(fault_names)}> but got phase={budget.phase!r}",
            )
        about = dependency_of(budget.metric)
        if about is not None:
            names = sorted(dependency.name for dependency in dependencies)
            if about not in names:
                raise reader.error(
                    f"{path}.expect",
                    f"{budget.metric} names no dependency of this scenario; dependencies: {names}",
                )
            if budget.phase != "overall":
                raise reader.error(
                    f"{path}.phase", "dependency budgets are judged over the whole run (overall)"
                )
        if budget.phase in {"baseline", "recovery"} and not faults:
            raise reader.error(f"{path}.phase", f"phase {budget.phase} needs at least one fault")
        _check_budget_kind(reader, doc, path, budget, faults)
        budgets.append(budget)
    return tuple(budgets)


_BUDGET_KEYS = ("expect", "phase", "name", "tolerance", "abort_on_fail", "delay_abort_s")


def _flag(reader: Reader, doc: Mapping[str, Any], key: str, path: str) -> bool:
    found = doc.get(key, False)
    if not isinstance(found, bool):
        raise reader.error(f"{path}.{key}", f"expected true or false but got {key}={found!r}")
    return found


def _check_budget_kind(
    reader: Reader,
    doc: Mapping[str, Any],
    path: str,
    budget: Budget,
    faults: tuple[ScheduledFault, ...],
) -> None:
    """What the newer keys and metrics ask of a scenario: a recovery needs a fault that ends,
    a run-wide count is judged overall, and only what is measured as the run goes can end it."""
    metric = budget.metric
    if metric == RECOVERY_TIME:
        if not faults:
            raise reader.error(
                f"{path}.expect",
                "recovery_time_s is measured from a fault window's end; this scenario has no "
                "faults",
            )
        if budget.phase == "baseline":
            raise reader.error(
                f"{path}.phase",
                "expected phase during:<fault>, recovery or overall for recovery_time_s "
                "but got phase='baseline'",
            )
    elif "tolerance" in doc:
        raise reader.error(
            f"{path}.tolerance", f"tolerance applies to recovery_time_s only, not to {metric}"
        )
    if metric == DROPPED and budget.phase != "overall":
        raise reader.error(
            f"{path}.phase", "dropped is counted over the whole run: expected phase overall"
        )
    if metric.removeprefix("client.") in TOKEN_METRICS and budget.phase != "overall":
        raise reader.error(
            f"{path}.phase",
            f"{metric} compares the endpoint's tokens with the received ones over the whole "
            f"run: expected phase overall but got phase={budget.phase!r}",
        )
    if "delay_abort_s" in doc and not budget.abort_on_fail:
        raise reader.error(f"{path}.delay_abort_s", "delay_abort_s needs abort_on_fail: true")
    if budget.abort_on_fail and not judged_mid_run(metric):
        raise reader.error(
            f"{path}.abort_on_fail",
            f"{metric} is only known once the run is over, so it cannot abort one; "
            "abort_on_fail takes per-request metrics, error_rate, availability, dropped, "
            "cpu_pct* and memory_pct*",
        )


def _check_windows_fit(reader: Reader, scenario: Scenario) -> None:
    for index, fault in enumerate(scenario.faults):
        if fault.end_s > scenario.load.duration_s:
            raise reader.error(
                f"faults[{index}].duration_s",
                f"fault ends at {fault.end_s:g}s, after load ends at {scenario.load.duration_s:g}s",
            )
