"""Streaming clients of an OpenAI-compatible chat or completion endpoint: each call reads the
answer's server-sent events and yields the text of each token as it comes, so the harness times
every token as the caller gets it.

- ``naive_stream`` asks once. A stream cut part way (the connection dropped, or the body ended
  without ``data: [DONE]`` or a finish reason) raises to its caller after the tokens it got.
- ``restarting_stream`` asks again from the start when a stream is cut, as a client must when
  the server cannot resume a stream (OpenAI-compatible ones cannot), at most ``MAX_ATTEMPTS``
  times in all, and passes on only the tokens its caller does not have yet. Its caller gets a
  whole answer, late; the endpoint generates every token the cut stream had delivered again:
  the duplicated work a run measures as ``duplicated_tokens`` and ``token_amplification``.
  Restarting assumes the answer comes out the same again (greedy decoding, temperature 0);
  with sampling, the restarted answer may not continue the one the caller has.

Both are async generator functions on a pooled aiohttp session per event loop; ``await
aclose()`` before a loop ends closes that loop's session. An HTTP error status is raised at
once (``aiohttp.ClientResponseError``, carrying ``.status``): a shed or an outage is not a cut.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from harness.clients.sessions import LoopSessions

__all__ = ["StreamCut", "aclose", "naive_stream", "restarting_stream"]

MAX_ATTEMPTS = 5
MAX_TOTAL_S = 20.0
CONNECT_TIMEOUT_S = 1.0
# Between two bytes of a stream: longer than any stall a scenario holds a stream for.
READ_TIMEOUT_S = 10.0
POOL_SIZE = 64
# Full jitter: restarts of streams cut together do not come back together.
_RESTART_WAIT_S = 0.05
_DONE = "[DONE]"
_SESSIONS = LoopSessions(pool_size=POOL_SIZE, connect_s=CONNECT_TIMEOUT_S, read_s=READ_TIMEOUT_S)


class StreamCut(ConnectionError):
    """A stream that ended before its answer did: the body stopped without ``data: [DONE]``
    or a finish reason."""


# Worth asking again: the connection went, or the body stopped part way.
_CUTS = (StreamCut, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)


async def naive_stream(url: str, payload: dict[str, Any]) -> AsyncIterator[str]:
    """POST ``payload`` with ``stream: true`` once; each token's text as it comes."""
    async for text in _tokens(url, payload):
        yield text


async def restarting_stream(url: str, payload: dict[str, Any]) -> AsyncIterator[str]:
    """POST ``payload`` with ``stream: true``; after a cut, again from the start, passing on
    only the tokens past those already yielded. The last attempt's error when every attempt
    was cut."""
    deadline = time.monotonic() + MAX_TOTAL_S
    yielded = 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        seen = 0
        try:
            async for text in _tokens(url, payload):
                seen += 1
                if seen > yielded:
                    yielded = seen
                    yield text
            return
        except _CUTS:
            wait = random.uniform(0.0, _RESTART_WAIT_S * 2**attempt)
            if attempt == MAX_ATTEMPTS or time.monotonic() + wait > deadline:
                raise
        await asyncio.sleep(wait)


async def _tokens(url: str, payload: dict[str, Any]) -> AsyncIterator[str]:
    """One attempt: the text of each token event of the answer to ``payload``; StreamCut when
    the body ends before the answer does."""
    async with _SESSIONS.get().post(url, json={**payload, "stream": True}) as response:
        response.raise_for_status()
        finished = False
        async for line in response.content:
            data = _data(line)
            if data is None:
                continue
            if data == _DONE:
                return
            text, ended = _chunk(data)
            finished = finished or ended
            if text:
                yield text
        if not finished:
            raise StreamCut(f"the stream from {url} ended without [DONE] or a finish reason")


def _data(line: bytes) -> str | None:
    """The data of an SSE ``data:`` line, or None for any other line."""
    if not line.startswith(b"data:"):
        return None
    return line[5:].strip().decode()


def _chunk(data: str) -> tuple[str, bool]:
    """A chunk's token text (``delta.content`` of a chat chunk, ``text`` of a completion) and
    whether it ends the answer (it has a finish reason). A chunk that is not JSON cuts the
    stream: what follows it cannot be trusted."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise StreamCut(f"expected a JSON event but got {data[:60]!r}") from exc
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        # A usage-only chunk (stream_options.include_usage) has no choices.
        return "", False
    choice = choices[0]
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return (text if isinstance(text, str) else ""), bool(choice.get("finish_reason"))


async def aclose() -> None:
    """Close the running loop's session, if a call opened one."""
    await _SESSIONS.aclose()
