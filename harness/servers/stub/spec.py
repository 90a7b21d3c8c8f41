"""What a stub serves, one frozen value per kind, and its JSON form::

    {"kind": "features", "n_features": 8, "seed": 0}
    {"kind": "routes", "routes": [{"method": "GET", "path": {"regex": "/v1/(?P<id>[^/]+)"},
                                   "query": {...}, "headers": {...}, "body": {"a.b": 1},
                                   "response": {"status": 200, "headers": {...},
                                                "json": {"id": "{{path.id}}"}},
                                   "latency": {"type": "lognormal", "median": 40, "sigma": 0.3}},
                                  {"path": "/v1/chat/completions",
                                   "response": {"stream": {"chat": {"text": "Hi there"},
                                                           "events_per_s": 20}}}]}
    {"kind": "replay", "exchanges": [...]}     # a recording's exchanges (see ``recording``)
    {"kind": "proxy", "upstream": "http://127.0.0.1:9000", "record": false}

``features`` is the reference feature store and the default. A recording document with
``"kind": "replay"`` added is a replay spec (its ``version`` and ``upstream`` are read past).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml

from harness.servers.stub import fields as f
from harness.servers.stub.fields import StubSpecError
from harness.servers.stub.recording import (
    RECORDING_VERSION,
    Exchange,
    exchange_to_json,
    exchanges_from_json,
)
from harness.servers.stub.routes import Route, route_from_json, route_to_json

__all__ = [
    "KINDS",
    "FeaturesSpec",
    "ProxySpec",
    "ReplaySpec",
    "RoutesSpec",
    "StubSpec",
    "StubSpecError",
    "read_stub_spec",
    "stub_spec_from_json",
    "stub_spec_to_json",
]

_MAX_FEATURES = 65_536


@dataclass(frozen=True, slots=True)
class FeaturesSpec:
    """The reference feature store: ``n_features`` floats per key, derived from ``seed``."""

    kind: ClassVar[str] = "features"
    n_features: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.n_features, bool) or not 1 <= self.n_features <= _MAX_FEATURES:
            raise StubSpecError(
                "n_features",
                f"expected an integer in 1..{_MAX_FEATURES} but got n_features={self.n_features!r}",
            )


@dataclass(frozen=True, slots=True)
class RoutesSpec:
    """Scripted routes; the first that matches a call answers it."""

    kind: ClassVar[str] = "routes"
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """A recording, answered back: each call gets the answer recorded for it."""

    kind: ClassVar[str] = "replay"
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """Every call forwarded to the real API at ``upstream``; kept when ``record``."""

    kind: ClassVar[str] = "proxy"
    upstream: str
    record: bool = False

    def __post_init__(self) -> None:
        parsed = urlsplit(self.upstream)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise StubSpecError(
                "upstream",
                f"expected an http:// or https:// URL with a host but got "
                f"upstream={f.found(self.upstream)}",
            )


StubSpec = FeaturesSpec | RoutesSpec | ReplaySpec | ProxySpec
KINDS = ("features", "routes", "replay", "proxy")
_FIELDS = {
    "features": frozenset({"kind", "n_features", "seed"}),
    "routes": frozenset({"kind", "routes"}),
    "replay": frozenset({"kind", "exchanges", "version", "upstream"}),
    "proxy": frozenset({"kind", "upstream", "record"}),
}


def stub_spec_from_json(value: object) -> StubSpec:
    """The spec ``value`` describes; StubSpecError naming the field at fault otherwise."""
    doc = f.mapping(value, "", '{"kind": "features" | "routes" | "replay" | "proxy", ...}')
    kind = doc.get("kind")
    if kind not in _FIELDS:
        raise StubSpecError("kind", f"expected kind among {list(KINDS)} but got kind={kind!r}")
    f.known(doc, _FIELDS[kind], "")
    if kind == "features":
        return FeaturesSpec(
            n_features=f.integer(doc, "n_features", "", low=1, high=_MAX_FEATURES)
            if "n_features" in doc
            else 8,
            seed=f.integer(doc, "seed", "", low=-(2**63), high=2**63 - 1) if "seed" in doc else 0,
        )
    if kind == "routes":
        routes = f.sequence(doc.get("routes"), "routes", "a list of routes")
        return RoutesSpec(
            tuple(
                route_from_json(route, f.at("routes", index)) for index, route in enumerate(routes)
            )
        )
    if kind == "replay":
        version = doc.get("version", RECORDING_VERSION)
        if version != RECORDING_VERSION:
            raise StubSpecError(
                "version",
                f"expected recording version {RECORDING_VERSION} but got version={version!r}",
            )
        return ReplaySpec(exchanges_from_json(doc.get("exchanges")))
    record = f.boolean(doc, "record", "") if "record" in doc else False
    return ProxySpec(f.text(doc, "upstream", "", non_empty=True), record)


def stub_spec_to_json(spec: StubSpec) -> dict[str, Any]:
    """What ``stub_spec_from_json`` reads back as ``spec``."""
    if isinstance(spec, FeaturesSpec):
        return {"kind": spec.kind, "n_features": spec.n_features, "seed": spec.seed}
    if isinstance(spec, RoutesSpec):
        return {"kind": spec.kind, "routes": [route_to_json(route) for route in spec.routes]}
    if isinstance(spec, ReplaySpec):
        return {"kind": spec.kind, "exchanges": [exchange_to_json(x) for x in spec.exchanges]}
    return {"kind": spec.kind, "upstream": spec.upstream, "record": spec.record}


def read_stub_spec(path: str | Path) -> StubSpec:
    """The spec in the JSON or YAML file ``path``; StubSpecError (its message naming the file)
    when the file cannot be read or holds no valid spec."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise StubSpecError("", f"cannot read stub spec {file}: {exc.strerror}") from exc
    try:
        doc = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise StubSpecError(
            "", f"expected a stub spec (JSON or YAML) in {file} but it does not parse: {exc}"
        ) from exc
    try:
        return stub_spec_from_json(doc)
    except StubSpecError as exc:
        raise StubSpecError(exc.field, f"{file}: {exc.message}") from exc
