"""A real aiohttp server on a free loopback port, run in a thread so sync tests can drive it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1; yields its base URL (``http://127.0.0.1:PORT``)."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    base: list[str] = []

    async def start() -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        return runner

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the test server did not start within 10 s")
    try:
        yield base[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
