"""One pooled aiohttp session per running event loop, for the asyncio reference clients: a
session belongs to the loop it was made on, and a client called from several loops (the
harness's own, a user's) must not share one across them."""

from __future__ import annotations

import asyncio
import threading

import aiohttp

__all__ = ["LoopSessions"]


class LoopSessions:
    """The running loop's session, made on first use with a connection pool of ``pool_size``
    and the given connect and read timeouts; sessions of loops that have closed are dropped."""

    def __init__(self, *, pool_size: int, connect_s: float, read_s: float) -> None:
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_s, sock_read=read_s)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._lock = threading.Lock()

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        with self._lock:
            for gone in [old for old in self._sessions if old.is_closed()]:
                del self._sessions[gone]
            session = self._sessions.get(loop)
            if session is None or session.closed:
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self._pool_size), timeout=self._timeout
                )
                self._sessions[loop] = session
            return session

    async def aclose(self) -> None:
        """Close the running loop's session, if one was made."""
        with self._lock:
            session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()
