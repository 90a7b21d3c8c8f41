"""Free loopback ports, picked by the kernel rather than fixed."""

from __future__ import annotations

import socket

__all__ = ["LOOPBACK", "free_port", "is_loopback"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel reports free on ``host`` right now.

    The socket is closed before the caller binds, so another process could take the port in
    between; callers that start a server on it treat a bind failure as a start failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")
