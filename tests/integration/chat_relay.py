"""A chat server of the kind a team writes itself, for the dependency stream-fault tests: it knows
nothing of the harness and streams its answers from an OpenAI-compatible LLM API it finds in
its environment, through the OpenAI Python SDK.

- LLM_API_URL: the API's base URL (the SDK is pointed at ``$LLM_API_URL/v1``).

``POST /v1/chat/completions`` with ``{"model", "messages"}`` answers a server-sent event stream:
each chunk the SDK yields, as it yields it, then ``data: [DONE]``. When the API's stream
breaks part way (cut, or an event that does not parse), the server cuts its own stream too,
so its caller sees what its users would. ``GET /health`` answers when it is up. It listens on
127.0.0.1:$PORT.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import openai
from aiohttp import web

LLM = web.AppKey("llm", openai.AsyncOpenAI)
# A stream that stops sending (no [DONE]) is given up after this long without a byte.
READ_TIMEOUT_S = 3.0


async def chat(request: web.Request) -> web.StreamResponse:
    try:
        payload = await request.json()
        messages = payload["messages"]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {model, messages}"}, status=400)
    try:
        chunks = await request.app[LLM].chat.completions.create(
            model=str(payload.get("model", "stub")), messages=messages, stream=True
        )
    except openai.OpenAIError as exc:
        return web.json_response({"error": f"LLM API unavailable: {exc}"}, status=502)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        async for chunk in chunks:
            data = chunk.model_dump_json(exclude_unset=True)
            await response.write(f"data: {data}\n\n".encode())
    except Exception:
        # The API's stream broke (the SDK raises its HTTP library's errors, or a JSON error
        # for an event that does not parse): end ours mid-body, as a cut, not as an answer.
        if request.transport is not None:
            request.transport.close()
        return response
    finally:
        await chunks.close()
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _client(app: web.Application) -> AsyncIterator[None]:
    base = os.environ["LLM_API_URL"].rstrip("/") + "/v1"
    # trust_env off: the API is on loopback, and a proxy meant for the outside must not see it.
    http = openai.DefaultAsyncHttpxClient(
        trust_env=False, timeout=openai.Timeout(5.0, read=READ_TIMEOUT_S)
    )
    app[LLM] = openai.AsyncOpenAI(base_url=base, api_key="stub", max_retries=0, http_client=http)
    yield
    await app[LLM].close()


def main() -> None:
    app = web.Application()
    app.cleanup_ctx.append(_client)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    # Cancelled when the caller goes away, so a stream the caller gave up on lets go upstream.
    web.run_app(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None, handler_cancellation=True
    )


if __name__ == "__main__":
    main()
