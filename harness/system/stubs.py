"""What the wiring tells a running stub and asks back from it: its spec (sent over HTTP, the
same way for a process and a container), and a ``proxy`` stub's recording at the end."""

from __future__ import annotations

from pathlib import Path

from harness.errors import TopologyError
from harness.system.loopback import control

__all__ = ["CONTROL_TIMEOUT_S", "put_stub_spec", "save_recording"]

CONTROL_TIMEOUT_S = 10.0


def put_stub_spec(name: str, stub_url: str, spec: str) -> None:
    """Configure the stub ``name`` as ``spec`` (its JSON) says."""
    _call(name, f"{stub_url}/_chaos/spec", "PUT", spec.encode(), "take its spec")


def save_recording(name: str, stub_url: str, path: str) -> None:
    """Write what the recording stub ``name`` saw to ``path`` (parents made as needed)."""
    body = _call(name, f"{stub_url}/_chaos/recording", "GET", None, "hand over its recording")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    except OSError as exc:
        raise TopologyError(
            f"stub {name!r}: could not write its recording to {path}: {exc.strerror}"
        ) from exc


def _call(name: str, url: str, method: str, body: bytes | None, action: str) -> bytes:
    return control(
        f"stub {name!r}", url, action, method=method, body=body, timeout_s=CONTROL_TIMEOUT_S
    )
