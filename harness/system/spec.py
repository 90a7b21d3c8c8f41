"""The system under test as the wiring sees it: one model server, the external APIs it calls
(each a stub behind its own Toxiproxy proxy), and the names faults aim at."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.servers.endpoint.config import EndpointConfig
from harness.servers.stub.config import DEFAULT_NAME as _DEFAULT_STUB

__all__ = ["ENDPOINT", "REFERENCE_DEPENDENCIES", "Dependency", "ExternalTarget", "SystemSpec"]

# The model server's service and proxy name: the client's path to it goes through this proxy.
ENDPOINT = "endpoint"


@dataclass(frozen=True, slots=True)
class Dependency:
    """An external API the model server calls, served by a stub behind a proxy of its name.

    A custom server finds it through ``{NAME_url}`` in its command or args, and ``NAME_URL`` in
    its environment (``-`` read as ``_``; ``feature-store`` gives ``{feature_store_url}`` and
    ``FEATURE_STORE_URL``).
    """

    name: str

    @property
    def placeholder(self) -> str:
        return "{" + self.name.replace("-", "_") + "_url}"

    @property
    def env_var(self) -> str:
        return self.name.replace("-", "_").upper() + "_URL"


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

    def expand(self, words: tuple[str, ...], port: int, upstreams: dict[str, str]) -> list[str]:
        values = {"{port}": str(port)}
        values.update({Dependency(name).placeholder: url for name, url in upstreams.items()})
        expanded = []
        for word in words:
            for placeholder, value in values.items():
                word = word.replace(placeholder, value)
            expanded.append(word)
        return expanded

    def environment(self, port: int, upstreams: dict[str, str]) -> dict[str, str]:
        env = {"PORT": str(port)}
        env.update({Dependency(name).env_var: url for name, url in upstreams.items()})
        return env


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """What to bring up: the reference endpoint configured by ``endpoint``, or ``target``; and
    one stub per dependency. Two runs with equal specs can share one running system."""

    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    target: ExternalTarget | None = None
    dependencies: tuple[Dependency, ...] = REFERENCE_DEPENDENCIES

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
    def services(self) -> tuple[str, ...]:
        """Services faults may pause, crash or stop: none when the server runs elsewhere."""
        return () if self.kind == "url" else (ENDPOINT, *self.dependency_names)
