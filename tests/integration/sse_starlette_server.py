"""A streaming model server of the kind a team writes on the common Python stack, for the stream
fault tests: Starlette served by uvicorn, its answers sent by sse-starlette's
``EventSourceResponse``, which ends every line with ``\\r\\n`` (most servers write ``\\n``). It
knows nothing of the harness.

``POST /v1/chat/completions`` with ``{"max_tokens"}`` streams that many OpenAI-style chunks, one
every 20 ms, then ``data: [DONE]``. ``GET /health`` answers when it is up. It listens on
127.0.0.1:$PORT.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN_S = 0.02


async def chat(request: Request) -> Response:
    try:
        tokens = int((await request.json()).get("max_tokens", 10))
    except (ValueError, TypeError, AttributeError):
        return JSONResponse({"error": "expected {max_tokens}"}, status_code=400)

    async def chunks() -> AsyncIterator[str]:
        for n in range(tokens):
            await asyncio.sleep(TOKEN_S)
            delta = {"content": f"t{n} "}
            yield json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": delta}]})
        yield "[DONE]"

    # No keep-alive comments during the short answers here.
    return EventSourceResponse(chunks(), ping=3600)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/health", health),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
