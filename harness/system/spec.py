"""The system under test as the wiring sees it: one model server, the external APIs it calls
(each a stub behind its own Toxiproxy proxy), and the names faults aim at."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from harness.servers.endpoint.config import EndpointConfig
from harness.servers.stub.config import DEFAULT_NAME as _DEFAULT_STUB

__all__ = ["ENDPOINT", "REFERENCE_DEPENDENCIES", "Dependency", "ExternalTarget", "SystemSpec"]

# The model server's service and proxy name: the client's path to it goes through this proxy.
ENDPOINT = "endpoint"


@dataclass(frozen=True, slots=True)
class Dependency:
    """An external API the model server calls, served by a stub behind a proxy of its name.

    ``kind`` is how the stub answers (features, routes, replay, proxy) and ``spec`` the stub's
    full description as canonical JSON ("" for the kind's defaults). A custom server finds it
    through ``{deps.NAME.url}`` (or the older ``{NAME_url}``, ``-`` read as ``_``) in its
    command or args, and in its environment under ``env`` (default
    ``SERVING_CHAOS_DEP_<NAME>_URL``) and ``NAME_URL``. ``record`` is a file the recording of
    a ``proxy`` dependency is written to when the system stops.
    """

    name: str
    kind: str = "features"
    spec: str = ""
    env: str = ""
    record: str = ""

    @property
    def placeholders(self) -> tuple[str, str]:
        return "{deps." + self.name + ".url}", "{" + self.name.replace("-", "_") + "_url}"

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Every environment variable that carries the dependency's URL."""
        word = self.name.replace("-", "_").upper()
        given = self.env or f"SERVING_CHAOS_DEP_{word}_URL"
        legacy = f"{word}_URL"
        return (given,) if given == legacy else (given, legacy)


# What the reference endpoint calls when a scenario declares nothing.
REFERENCE_DEPENDENCIES = (Dependency(_DEFAULT_STUB),)


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    """A model server other than the reference endpoint, behind the same Toxiproxy.

    Exactly one of: ``url`` (already running; the harness starts only Toxiproxy), ``command``
    (started as a process) or ``image`` (started as a container, ``args`` after its
    entrypoint). In a command or args, ``{port}`` is the port to listen on and ``{NAME_url}``
    the address of dependency NAME behind its proxy; the environment carries the same values as
    PORT and NAME_URL.
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

    def expand(
        self, words: tuple[str, ...], port: int, upstreams: dict[Dependency, str]
    ) -> list[str]:
        values = {"{port}": str(port), "{python}": sys.executable}
        for dependency, url in upstreams.items():
            values.update(dict.fromkeys(dependency.placeholders, url))
        expanded = []
        for word in words:
            for placeholder, value in values.items():
                word = word.replace(placeholder, value)
            expanded.append(word)
        return expanded

    def environment(self, port: int, upstreams: dict[Dependency, str]) -> dict[str, str]:
        env = {"PORT": str(port)}
        for dependency, url in upstreams.items():
            env.update(dict.fromkeys(dependency.env_vars, url))
        return env


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """What to bring up: the reference endpoint configured by ``endpoint``, or ``target``; and
    one stub per dependency. Two runs with equal specs can share one running system."""

    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    target: ExternalTarget | None = None
    dependencies: tuple[Dependency, ...] = REFERENCE_DEPENDENCIES
    # An HTTP fault layer in front of the endpoint, for HTTP faults on the client's hop.
    http_front: bool = False

    @property
    def kind(self) -> str:
        """``reference``, or the target's kind: ``url``, ``command`` or ``image``."""
        return "reference" if self.target is None else self.target.kind

    @property
    def dependency_names(self) -> tuple[str, ...]:
        return tuple(dependency.name for dependency in self.dependencies)

    @property
    def proxies(self) -> tuple[str, ...]:
        return (ENDPOINT, *self.dependency_names)

    @property
    def http_hops(self) -> tuple[str, ...]:
        """Hops HTTP faults may aim at: the client's (through the fault layer), each stub's."""
        return (ENDPOINT, *self.dependency_names)

    @property
    def services(self) -> tuple[str, ...]:
        """Services faults may pause, crash or stop: none when the server runs elsewhere."""
        return () if self.kind == "url" else (ENDPOINT, *self.dependency_names)
