"""A documented subset of the compose format, read into value objects.

Supported per service: image or build (context, dockerfile, args), command, environment, ports,
healthcheck (test, interval, timeout, retries, start_period), depends_on (list, or mapping with
a condition), deploy.resources.limits (cpus, memory) and network_mode. Any other key is an error
rather than silently ignored, so a file never means more to a reader than it does to the harness.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError

__all__ = [
    "Build",
    "ComposeFile",
    "ComposeService",
    "HealthCheck",
    "Limits",
    "load_compose",
    "parse_compose",
]

_SERVICE_KEYS = {
    "image", "build", "command", "environment", "ports", "healthcheck", "depends_on", "deploy",
    "network_mode",
}  # fmt: skip
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", re.IGNORECASE)
_MEMORY_FACTOR = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True, slots=True)
class Build:
    context: str
    dockerfile: str | None = None
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """``test`` is an argv (CMD) or a one-element shell line (CMD-SHELL); empty means disabled."""

    test: tuple[str, ...]
    shell: bool = False
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    cpus: float | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ComposeService:
    name: str
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    ports: tuple[str, ...] = ()
    healthcheck: HealthCheck | None = None
    depends_on: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    network_mode: str | None = None


@dataclass(frozen=True, slots=True)
class ComposeFile:
    services: dict[str, ComposeService]
    source: str = "<compose>"

    def start_order(self) -> list[str]:
        """Service names so that each comes after everything it depends on."""
        order: list[str] = []
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                cycle = " -> ".join([*visiting[visiting.index(name) :], name])
                raise ScenarioError(
                    f"expected no dependency cycle but got {cycle}",
                    source=self.source,
                    field=f"services.{name}.depends_on",
                )
            visiting.append(name)
            for needed in self.services[name].depends_on:
                visit(needed)
            visiting.pop()
            order.append(name)

        for name in self.services:
            visit(name)
        return order


class _Reader:
    """Carries the file name so every error names the source and the dotted field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, expected: str, got: Any) -> ScenarioError:
        return ScenarioError(
            f"expected {expected} but got {where.rsplit('.', 1)[-1]}={got!r}",
            source=self.source,
            field=where,
        )

    def mapping(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self.fail(where, "a mapping with string keys", value)
        return value

    def text(self, where: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(where, "a string", value)
        return str(value)

    def strings(self, where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "a list of strings", value)
        return tuple(self.text(f"{where}[{i}]", item) for i, item in enumerate(value))

    def duration(self, where: str, value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        text = str(value).strip() if isinstance(value, str) else ""
        parts = _DURATION.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise self.fail(where, "a duration like 5s, 1m30s or 500ms", value)
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)

    def memory(self, where: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = _MEMORY.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None or float(match.group(1)) <= 0:
            raise self.fail(where, "a memory size like 256m, 1g or a byte count", value)
        return int(float(match.group(1)) * _MEMORY_FACTOR[match.group(2).lower()])

    def cpus(self, where: str, value: Any) -> float:
        try:
            cpus = float(value) if not isinstance(value, bool) else -1.0
        except (TypeError, ValueError):
            cpus = -1.0
        if cpus <= 0:
            raise self.fail(where, "a positive number of CPUs like 0.5", value)
        return cpus

    def command(self, where: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(shlex.split(value))
        return self.strings(where, value)

    def environment(self, where: str, value: Any) -> dict[str, str]:
        if isinstance(value, list):
            pairs = [self.text(f"{where}[{i}]", item) for i, item in enumerate(value)]
            if not all("=" in pair for pair in pairs):
                raise self.fail(where, "a list of NAME=value entries", value)
            return dict(pair.split("=", 1) for pair in pairs)
        env = self.mapping(where, value)
        return {k: "" if v is None else self.text(f"{where}.{k}", v) for k, v in env.items()}

    def build(self, where: str, value: Any) -> Build:
        if isinstance(value, str):
            return Build(context=value)
        spec = self.mapping(where, value)
        self.only(where, spec, {"context", "dockerfile", "args"})
        if "context" not in spec:
            raise self.fail(f"{where}.context", "a build context path", None)
        dockerfile = spec.get("dockerfile")
        return Build(
            context=self.text(f"{where}.context", spec["context"]),
            dockerfile=None if dockerfile is None else self.text(f"{where}.dockerfile", dockerfile),
            args=self.environment(f"{where}.args", spec.get("args", {})),
        )

    def healthcheck(self, where: str, value: Any) -> HealthCheck:
        spec = self.mapping(where, value)
        allowed = {"test", "interval", "timeout", "retries", "start_period", "disable"}
        self.only(where, spec, allowed)
        if spec.get("disable") is True:
            return HealthCheck(test=())
        test = spec.get("test")
        shell = isinstance(test, str)
        argv: tuple[str, ...] = (
            (test,) if isinstance(test, str) else self.strings(f"{where}.test", test)
        )
        if argv and argv[0] in {"CMD", "CMD-SHELL", "NONE"}:
            shell = argv[0] == "CMD-SHELL"
            argv = () if argv[0] == "NONE" else argv[1:]
        if test is None or (not argv and test != ["NONE"]):
            raise self.fail(f"{where}.test", "[CMD, ...], [CMD-SHELL, line] or a shell line", test)
        retries = spec.get("retries", 3)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise self.fail(f"{where}.retries", "a non-negative integer", retries)
        return HealthCheck(
            test=argv,
            shell=shell,
            interval_s=self.duration(f"{where}.interval", spec.get("interval", 30)),
            timeout_s=self.duration(f"{where}.timeout", spec.get("timeout", 30)),
            retries=retries,
            start_period_s=self.duration(f"{where}.start_period", spec.get("start_period", 0)),
        )

    def depends_on(self, where: str, value: Any, known: set[str]) -> dict[str, str]:
        if isinstance(value, list):
            needed = {name: "service_started" for name in self.strings(where, value)}
        else:
            needed = {}
            for name, spec in self.mapping(where, value).items():
                cond = self.mapping(f"{where}.{name}", spec).get("condition", "service_started")
                if cond not in _CONDITIONS:
                    expected = f"one of {sorted(_CONDITIONS)}"
                    raise self.fail(f"{where}.{name}.condition", expected, cond)
                needed[name] = cond
        for name in needed:
            if name not in known:
                raise self.fail(where, f"names of services in this file {sorted(known)}", name)
        return needed

    def limits(self, where: str, value: Any) -> Limits:
        deploy = self.mapping(where, value)
        self.only(where, deploy, {"resources"})
        resources = self.mapping(f"{where}.resources", deploy.get("resources", {}))
        self.only(f"{where}.resources", resources, {"limits"})
        limits = self.mapping(f"{where}.resources.limits", resources.get("limits", {}))
        self.only(f"{where}.resources.limits", limits, {"cpus", "memory"})
        at = f"{where}.resources.limits"
        return Limits(
            cpus=None if "cpus" not in limits else self.cpus(f"{at}.cpus", limits["cpus"]),
            memory_bytes=None
            if "memory" not in limits
            else self.memory(f"{at}.memory", limits["memory"]),
        )

    def only(self, where: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
        for key in spec:
            if key not in allowed:
                raise ScenarioError(
                    f"expected one of {sorted(allowed)} but got {key!r} (not in the supported "
                    "subset of the compose format)",
                    source=self.source,
                    field=f"{where}.{key}",
                )

    def service(self, name: str, value: Any, known: set[str]) -> ComposeService:
        where = f"services.{name}"
        spec = self.mapping(where, value)
        self.only(where, spec, _SERVICE_KEYS)
        if "image" not in spec and "build" not in spec:
            raise self.fail(f"{where}.image", "an image or a build section", None)
        image = spec.get("image")
        network_mode = spec.get("network_mode")
        return ComposeService(
            name=name,
            image=None if image is None else self.text(f"{where}.image", image),
            build=None if "build" not in spec else self.build(f"{where}.build", spec["build"]),
            command=self.command(f"{where}.command", spec.get("command", [])),
            environment=self.environment(f"{where}.environment", spec.get("environment", {})),
            ports=self.strings(f"{where}.ports", spec.get("ports", [])),
            healthcheck=None
            if "healthcheck" not in spec
            else self.healthcheck(f"{where}.healthcheck", spec["healthcheck"]),
            depends_on=self.depends_on(f"{where}.depends_on", spec.get("depends_on", []), known),
            limits=self.limits(f"{where}.deploy", spec.get("deploy", {})),
            network_mode=None
            if network_mode is None
            else self.text(f"{where}.network_mode", network_mode),
        )


def parse_compose(data: Any, source: str = "<compose>") -> ComposeFile:
    """Validate already-loaded YAML; raises ScenarioError naming the offending field."""
    reader = _Reader(source)
    top = reader.mapping("<top>", data)
    services = reader.mapping("services", top.get("services"))
    if not services:
        raise reader.fail("services", "at least one service", dict(services))
    known = set(services)
    parsed = {name: reader.service(name, spec, known) for name, spec in services.items()}
    compose = ComposeFile(parsed, source)
    compose.start_order()
    return compose


def load_compose(path: Path) -> ComposeFile:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"cannot read compose file: {exc}", source=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", source=str(path)) from exc
    return parse_compose(data, str(path))
