"""The real Toxiproxy server: finding the binary, running it, and driving its HTTP API."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from harness.errors import ProvisioningError, TopologyError

TOXIPROXY_VERSION = "2.12.0"
_PROJECT_TOOLS = Path(__file__).resolve().parent.parent / ".tools" / "bin"


def find_toxiproxy_server(env: dict[str, str] | None = None) -> Path:
    """$SERVING_CHAOS_TOXIPROXY, then PATH, then the project's tool folder."""
    environ = os.environ if env is None else env
    explicit = environ.get("SERVING_CHAOS_TOXIPROXY")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ProvisioningError(
                f"SERVING_CHAOS_TOXIPROXY={explicit} is not an executable file; point it at a "
                f"toxiproxy-server {TOXIPROXY_VERSION} binary or unset it"
            )
        return path
    on_path = shutil.which("toxiproxy-server", path=environ.get("PATH", os.defpath))
    if on_path:
        return Path(on_path)
    bundled = _PROJECT_TOOLS / "toxiproxy-server"
    if bundled.is_file():
        return bundled
    raise ProvisioningError(
        f"toxiproxy-server {TOXIPROXY_VERSION} not found on PATH, in SERVING_CHAOS_TOXIPROXY or in "
        f"{_PROJECT_TOOLS}; run `make provision` (builds it with Go) or install the release binary"
    )


def server_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "-version"], capture_output=True, text=True, timeout=10, check=False
    )
    return (result.stdout or result.stderr).strip().rsplit(" ", 1)[-1]


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class ToxiproxyClient:
    """Typed face over toxiproxy-python for one Toxiproxy server.

    toxiproxy-python keeps the API address on a class, so this object is the one place that sets
    it; every call goes through here so a client never talks to another run's server.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server = Toxiproxy()

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> Toxiproxy:
        self._server.update_api_consumer(self.host, self.port)
        return self._server

    def version(self) -> str | None:
        """The server's version, or None while it does not answer."""
        try:
            raw = self._bind().version()
        except OSError:
            return None
        return raw.decode().strip() if raw else None

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> ProxyInfo:
        try:
            proxy = self._bind().create(upstream=upstream, name=name, listen=listen, enabled=True)
        except ProxyExists as exc:
            raise TopologyError(f"toxiproxy already has a proxy named {name!r}") from exc
        return ProxyInfo(proxy.name, proxy.listen, proxy.upstream, bool(proxy.enabled))

    def _proxy(self, name: str) -> Proxy:
        proxy = self._bind().get_proxy(name)
        if proxy is None:
            raise TopologyError(f"toxiproxy has no proxy named {name!r}")
        return proxy

    def proxy(self, name: str) -> ProxyInfo:
        proxy = self._proxy(name)
        return ProxyInfo(proxy.name, proxy.listen, proxy.upstream, bool(proxy.enabled))

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        try:
            self._proxy(proxy).add_toxic(
                name=name, type=type, stream=stream, toxicity=toxicity, attributes=attributes
            )
        except (InvalidToxic, ProxyExists) as exc:
            raise TopologyError(f"toxiproxy refused toxic {name!r} on {proxy!r}: {exc}") from exc

    def remove_toxic(self, proxy: str, name: str) -> None:
        try:
            self._proxy(proxy).destroy_toxic(name)
        except NotFound:
            return

    def toxics(self, proxy: str) -> list[str]:
        return sorted(self._proxy(proxy).toxics())

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        target = self._proxy(proxy)
        if enabled:
            target.enable()
        else:
            target.disable()

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self._bind().reset()
