"""What every connection of one fault layer shares: the loop, the upstream's address, the
active faults, the counters, the ledger of attempts per logical call, and the client
connections themselves (to close them)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

from harness.servers.front.counters import FrontCounters
from harness.servers.front.ledger import Ledger
from harness.servers.httpfaults import ActiveFaults

if TYPE_CHECKING:
    from harness.servers.front.downstream import ClientSide

__all__ = ["Plane"]


class Plane:
    """What every connection of one fault layer shares."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        upstream: tuple[str, int],
        faults: ActiveFaults,
        counters: FrontCounters,
        dice: random.Random,
    ) -> None:
        self.loop = loop
        self.upstream = upstream
        self.upstream_name = f"{upstream[0]}:{upstream[1]}"
        self.faults = faults
        self.counters = counters
        self.dice = dice
        self.clients: set[ClientSide] = set()
        self.ledger = Ledger()
        self._emptied: asyncio.Event | None = None

    def close(self) -> None:
        """End every client connection (and with it, its upstream connection)."""
        for client in list(self.clients):
            client.close()

    async def closed(self, timeout_s: float) -> None:
        """Wait until every client connection is gone, at most ``timeout_s``; abort the rest."""
        if self.clients:
            self._emptied = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), timeout_s)
        for client in list(self.clients):
            client.abort()

    def forget(self, client: ClientSide) -> None:
        self.clients.discard(client)
        if not self.clients and self._emptied is not None:
            self._emptied.set()
