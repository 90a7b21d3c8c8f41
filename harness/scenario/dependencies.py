"""The ``dependencies:`` section: the external APIs a model server calls, each a stub of a kind
(features, routes, replay, proxy), read into the system's Dependency values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness.scenario.reader import Reader
from harness.servers.stub.spec import StubSpecError, stub_spec_from_json
from harness.system.spec import ENDPOINT, Dependency

__all__ = ["KINDS", "read_dependencies"]

# The fields each kind takes besides ``kind`` and ``env``.
KINDS: Mapping[str, frozenset[str]] = {
    "features": frozenset({"n_features", "seed"}),
    "routes": frozenset({"routes"}),
    "replay": frozenset({"file"}),
    "proxy": frozenset({"upstream", "record"}),
}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the harness uses for itself.
_RESERVED = frozenset({ENDPOINT, "toxiproxy", "http-faults"})


def read_dependencies(reader: Reader, raw: Any, base: Path) -> tuple[Dependency, ...]:
    """Each ``NAME: {kind: ..., ...}`` of the section, in the order written."""
    doc = reader.mapping(raw, "dependencies")
    dependencies: list[Dependency] = []
    envs: dict[str, str] = {}
    for name, item in doc.items():
        path = f"dependencies.{name}"
        if not isinstance(name, str) or not _NAME.match(name) or name in _RESERVED:
            raise reader.error(
                path,
                "expected a name of lowercase letters, digits and inner dashes, other than "
                f"{sorted(_RESERVED)}, but got {name!r}",
            )
        dependency = _dependency(reader, name, reader.mapping(item, path), path, base)
        for env in dependency.env_vars[:1]:
            if env in envs:
                raise reader.error(
                    f"{path}.env", f"{env} already carries the URL of dependency {envs[env]!r}"
                )
            envs[env] = name
        dependencies.append(dependency)
    return tuple(dependencies)


def _dependency(
    reader: Reader, name: str, doc: Mapping[str, Any], path: str, base: Path
) -> Dependency:
    kind = doc.get("kind", "features")
    if kind not in KINDS:
        raise reader.error(f"{path}.kind", f"expected one of {sorted(KINDS)} but got kind={kind!r}")
    reader.known_keys(doc, path, {"kind", "env", *KINDS[kind]})
    env = ""
    if "env" in doc:
        env = reader.text(doc, "env", path)
        if not _ENV.match(env):
            raise reader.error(
                f"{path}.env",
                f"expected an environment variable name such as OPENAI_BASE_URL but got {env!r}",
            )
    record = ""
    if kind == "features":
        spec: dict[str, Any] = {"kind": kind}
        for key in ("n_features", "seed"):
            if key in doc:
                spec[key] = reader.number(doc, key, path, integer=True, minimum=0)
    elif kind == "routes":
        spec = {"kind": kind, "routes": _routes(reader, doc, path, base)}
    elif kind == "replay":
        spec = {"kind": kind, "exchanges": _recording(reader, doc, path, base)}
    else:
        upstream = reader.text(doc, "upstream", path).rstrip("/")
        parsed = urlsplit(upstream)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise reader.error(
                f"{path}.upstream", f"expected an http:// URL with a host but got {upstream!r}"
            )
        spec = {"kind": kind, "upstream": upstream, "record": "record" in doc}
        if "record" in doc:
            record = str(_beside(base, reader.text(doc, "record", path)))
    try:
        stub_spec_from_json(spec)
    except StubSpecError as exc:
        field = _spec_field(kind, exc.field)
        raise reader.error(f"{path}.{field}" if field else path, str(exc)) from exc
    return Dependency(name, kind, json.dumps(spec, sort_keys=True), env, record)


def _routes(reader: Reader, doc: Mapping[str, Any], path: str, base: Path) -> list[Any]:
    """Routes written in the scenario, or a file next to it holding them."""
    found = doc.get("routes")
    if isinstance(found, list):
        return found
    if not isinstance(found, str):
        raise reader.error(
            f"{path}.routes", f"expected a list of routes or a file name but got {found!r}"
        )
    file = _beside(base, found)
    try:
        loaded = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise reader.error(f"{path}.routes", f"cannot read {file}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise reader.error(f"{path}.routes", f"{file} is not valid YAML: {exc}") from exc
    if isinstance(loaded, Mapping) and isinstance(loaded.get("routes"), list):
        loaded = loaded["routes"]
    if not isinstance(loaded, list):
        raise reader.error(
            f"{path}.routes", f"expected {file} to hold a list of routes or {{routes: [...]}}"
        )
    return loaded


def _recording(reader: Reader, doc: Mapping[str, Any], path: str, base: Path) -> list[Any]:
    file = _beside(base, reader.text(doc, "file", path))
    try:
        loaded = json.loads(file.read_text())
    except OSError as exc:
        raise reader.error(f"{path}.file", f"cannot read {file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise reader.error(
            f"{path}.file", f"{file} is not a recording (JSON that does not parse: {exc})"
        ) from exc
    exchanges = loaded.get("exchanges") if isinstance(loaded, Mapping) else None
    if not isinstance(exchanges, list):
        raise reader.error(
            f"{path}.file", f'{file} is not a recording: expected {{"exchanges": [...]}}'
        )
    return exchanges


def _spec_field(kind: str, field: str) -> str:
    """Where in the scenario a field of the stub's spec was written."""
    if kind == "replay" and field.startswith("exchanges"):
        return "file"
    return field


def _beside(base: Path, name: str) -> Path:
    file = Path(name)
    return file if file.is_absolute() else base / file
