"""The real Toxiproxy server: finding the binary, running it, and driving its HTTP API."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from harness.errors import ProvisioningError, TopologyError, transport_cause
from harness.system.loopback import DIRECT

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TOXIPROXY_VERSION",
    "ProxyInfo",
    "T",
    "ToxiproxyClient",
    "find_toxiproxy_server",
    "server_version",
]

TOXIPROXY_VERSION = "2.12.0"
DEFAULT_TIMEOUT_S = 5.0
_PROJECT_TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"

T = TypeVar("T")

# A broken exchange: refused, reset, timed out, a malformed HTTP answer, an unusable address.
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, ValueError)


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
    """Typed face over one Toxiproxy server's HTTP API.

    Every call has a timeout and fails as a TopologyError that names the server, what was being
    done and why, so a dead or confused Toxiproxy never surfaces as a raw socket error.
    """

    def __init__(self, host: str, port: int, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def version(self) -> str | None:
        """The server's version, or None while it does not answer (refused, silent, cut off).

        Something that answers but is not a working Toxiproxy is a TopologyError at once, so a
        caller polling for start-up does not wait out its deadline on the wrong server.
        """
        try:
            answer = self._exchange("GET", "/version", None)
        except _TRANSPORT_ERRORS:
            return None
        return self._parsed("read the version", answer, _version)

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> ProxyInfo:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return self._read(f"create proxy {name!r}", "POST", "/proxies", _proxy_info, body)

    def proxy(self, name: str) -> ProxyInfo:
        return self._read(f"read proxy {name!r}", "GET", _proxy_path(name), _proxy_info)

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
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        action = f"add toxic {name!r} to proxy {proxy!r}"
        self._read(action, "POST", f"{_proxy_path(proxy)}/toxics", _toxic_name, body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        action = f"remove toxic {name!r} from proxy {proxy!r}"
        path = f"{_proxy_path(proxy)}/toxics/{quote(name, safe='')}"
        answer = self._answer(action, "DELETE", path, None)
        # Reverting a fault twice (or after a reset) must not fail; a missing proxy still does.
        if answer.status == HTTPStatus.NOT_FOUND and answer.error == "toxic not found":
            return
        self._check(action, answer)

    def toxics(self, proxy: str) -> list[str]:
        action = f"list the toxics of proxy {proxy!r}"
        return sorted(self._read(action, "GET", f"{_proxy_path(proxy)}/toxics", _toxic_names))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        action = f"{'enable' if enabled else 'disable'} proxy {proxy!r}"
        self._read(action, "PATCH", _proxy_path(proxy), _proxy_info, {"enabled": enabled})

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        action = "reset every proxy"
        self._check(action, self._answer(action, "POST", "/reset", None))

    def _read(
        self,
        action: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        body: object = None,
    ) -> T:
        return self._parsed(action, self._answer(action, method, path, body), parse)

    def _parsed(self, action: str, answer: _Answer, parse: Callable[[Any], T]) -> T:
        self._check(action, answer)
        try:
            return parse(answer.json())
        except ValueError as exc:
            raise self._failure(action, f"unexpected answer: {exc}") from exc

    def _check(self, action: str, answer: _Answer) -> None:
        if not HTTPStatus.OK <= answer.status < HTTPStatus.MULTIPLE_CHOICES:
            raise self._failure(action, f"HTTP {answer.status}: {answer.error}")

    def _answer(self, action: str, method: str, path: str, body: object) -> _Answer:
        try:
            return self._exchange(method, path, body)
        except _TRANSPORT_ERRORS as exc:
            raise self._failure(action, transport_cause(exc, self.timeout_s)) from exc

    def _exchange(self, method: str, path: str, body: object) -> _Answer:
        """One request; any HTTP status is an answer, only a broken exchange raises."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with DIRECT.open(request, timeout=self.timeout_s) as response:
                return _Answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return _Answer(exc.code, exc.read())

    def _failure(self, action: str, cause: str) -> TopologyError:
        return TopologyError(f"toxiproxy at {self.api_url}: could not {action} (caused by {cause})")


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ValueError(f"expected JSON but got {_clip(self.body)}") from exc

    @property
    def error(self) -> str:
        """Toxiproxy's own reason when it gives one ({"error": ...}), else the body's start."""
        try:
            decoded = json.loads(self.body)
        except ValueError:
            decoded = None
        reason = decoded.get("error") if isinstance(decoded, dict) else None
        if isinstance(reason, str) and reason:
            return reason
        text = self.body[:200].decode(errors="replace").strip()
        return text or _phrase(self.status)


def _proxy_path(name: str) -> str:
    return f"/proxies/{quote(name, safe='')}"


def _proxy_info(data: Any) -> ProxyInfo:
    if not isinstance(data, dict):
        raise ValueError(f"expected a proxy object but got {_clip(data)}")
    name, listen, upstream = (data.get(key) for key in ("name", "listen", "upstream"))
    enabled = data.get("enabled")
    if not (
        isinstance(name, str)
        and isinstance(listen, str)
        and isinstance(upstream, str)
        and isinstance(enabled, bool)
    ):
        raise ValueError(
            f"expected a proxy with name, listen, upstream, enabled but got {_clip(data)}"
        )
    if not listen.rpartition(":")[2].isdigit():
        raise ValueError(f"expected listen as HOST:PORT but got listen={listen!r}")
    return ProxyInfo(name, listen, upstream, enabled)


def _toxic_name(data: Any) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"expected a toxic with a name but got {_clip(data)}")
    return name


def _toxic_names(data: Any) -> list[str]:
    if not isinstance(data, list):
        raise ValueError(f"expected a list of toxics but got {_clip(data)}")
    return [_toxic_name(item) for item in data]


def _version(data: Any) -> str:
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise ValueError(f'expected {{"version": ...}} but got {_clip(data)}')
    return version


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no reason given"


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."
