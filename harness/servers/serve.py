"""How every serving process (endpoint, stubs, a benchmark's baseline) runs an aiohttp app, so
they all run with the same settings."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from aiohttp.log import access_logger

__all__ = ["new_event_loop", "run_server"]


def run_server(
    app: web.Application, *, host: str, port: int, access_log: bool, use_uvloop: bool
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut down cleanly.

    Handlers are cancelled when their client goes away, which is what frees a disconnected
    caller's unit or queue place at once.
    """
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        handler_cancellation=True,
        shutdown_timeout=5.0,
        access_log=_access_log() if access_log else None,
        loop=new_event_loop(use_uvloop),
    )


def new_event_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    """uvloop's loop if asked for and installed, else asyncio's own."""
    if use_uvloop and sys.platform != "win32":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def _access_log() -> logging.Logger:
    # aiohttp formats no line unless its logger is enabled for INFO; asking for the access log
    # should show it even when the process configured no logging of its own.
    if access_logger.getEffectiveLevel() > logging.INFO:
        access_logger.setLevel(logging.INFO)
    if not access_logger.hasHandlers():
        access_logger.addHandler(logging.StreamHandler())
    return access_logger
