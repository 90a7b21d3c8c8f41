"""A call on the fault layer's data plane: one request, and what is being done with it."""

from __future__ import annotations

from harness.servers.httpfaults import Decision

__all__ = ["DELAYED", "FORWARDED", "LOCAL", "QUEUED", "SENDING", "UNTOUCHED", "Call"]

# What is being done with a call, in the order it can happen.
QUEUED = 0  # its head is incomplete, or it waits behind the call before it
DELAYED = 1  # held by a delay fault
FORWARDED = 2  # sent (or being sent) upstream; the answer is relayed
LOCAL = 3  # answered by the fault layer once the request is fully received
SENDING = 4  # the fault layer's own answer is being written

# The decision for every call while no fault is active.
UNTOUCHED = Decision()


class Call:
    """One request and what is being done with it."""

    __slots__ = (
        "closes",
        "complete",
        "decision",
        "head",
        "kept",
        "kept_bytes",
        "pending",
        "replied",
        "responded",
        "retried",
        "retry_after",
        "stage",
        "started",
        "tag",
        "upgrade",
    )

    def __init__(self) -> None:
        self.stage = QUEUED
        self.decision: Decision | None = None
        self.head = self.upgrade = self.complete = self.retried = False
        # replied: the upstream's answer is in (relayed, or being paced out); responded: the
        # client has a whole answer, the upstream's or the fault layer's.
        self.replied = self.responded = False
        # The connection ends once this call is answered.
        self.closes = False
        # Received and not yet forwarded.
        self.pending: list[bytes] = []
        # Every byte of the call so far; None once it grew too big to keep.
        self.kept: list[bytes] | None = []
        self.kept_bytes = 0
        # The logical call of a client under test this request is an attempt of (-1: none),
        # when it started, and the Retry-After its answer gave.
        self.tag = -1
        self.started = 0.0
        self.retry_after: float | None = None
