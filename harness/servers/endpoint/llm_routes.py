"""HTTP handlers of the LLM mode: OpenAI-compatible chat and completions, streamed as
server-sent events or answered whole, and the same payloads at Databricks' invocations route."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from aiohttp import web

from harness.servers.endpoint.config import EndpointConfig
from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.llm import TokenModel, generate
from harness.servers.endpoint.llm_openai import (
    CHAT,
    COMPLETION,
    SSE_DONE,
    Answer,
    LlmRequest,
    openai_error,
    parse_request,
)
from harness.servers.endpoint.llm_scheduler import (
    SequenceScheduler,
    SequencesFull,
    SequenceWaitTimeout,
)
from harness.servers.endpoint.metrics import CLIENT_CLOSED, EndpointMetrics

__all__ = ["LlmRoutes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# How an ApiError's body looks on a route: OpenAI's shape on /v1, Databricks' elsewhere.
ErrorShape = Callable[[ApiError], dict[str, Any]]
_STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    # Proxies that buffer (nginx) would hold the tokens back and break time to first token.
    "X-Accel-Buffering": "no",
}
# `payload` of a request whose body the handler still has to read itself.
_UNREAD = object()


def _databricks_error(err: ApiError) -> dict[str, Any]:
    return dict(err.body())


class LlmRoutes:
    """The LLM mode of one app: its sequence scheduler, token model and handlers.

    ``guard`` runs the endpoint's own front checks (bearer token, QPS limit) and raises
    ApiError; ``fallback`` is the MLflow invocations handler, which keeps every body at
    /serving-endpoints/NAME/invocations that is not a chat or completion request.
    """

    def __init__(
        self,
        config: EndpointConfig,
        metrics: EndpointMetrics,
        *,
        guard: Callable[[web.Request], None],
        fallback: Handler,
    ) -> None:
        self.config = config
        self.scheduler = SequenceScheduler(
            config.max_sequences,
            kv_cache_tokens=config.kv_cache_tokens,
            max_waiting=config.llm_max_waiting,
            queue_timeout_s=config.llm_queue_timeout_s,
        )
        self.model = TokenModel(config.prefill_ms_per_token, config.decode_tokens_per_s)
        self._metrics = metrics
        self._series = metrics.watch_llm(self.scheduler)
        self._guard = guard
        self._fallback = fallback
        self._ids = itertools.count(1)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self.chat)
        router.add_post("/v1/completions", self.completions)
        router.add_get("/v1/models", self.models)

    async def models(self, request: web.Request) -> web.Response:
        """The one model served, as clients that list models first (benchmarks, SDKs) ask."""
        model = {
            "id": self.config.name,
            "object": "model",
            "created": 0,
            "owned_by": "serving-chaos",
        }
        return web.json_response({"object": "list", "data": [model]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, CHAT, openai_error)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, COMPLETION, openai_error)

    async def invocations(self, request: web.Request) -> web.StreamResponse:
        """Databricks' route (and ``/invocations``, which has no name): a chat or completion
        body is generated, anything else scored."""
        name = request.match_info.get("name")
        if (name is not None and name != self.config.name) or not _json_typed(request):
            return await self._fallback(request)
        length = request.content_length
        if length is not None and length > self.config.max_payload_bytes:
            return await self._fallback(request)
        try:
            # The body is read here, before the guard, to choose the handler; aiohttp keeps it,
            # so the MLflow handler reads the same bytes again at no cost.
            payload = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            # Part of a chunked body is gone and nothing can read it again: answer here.
            limit = self.config.max_payload_bytes
            refused = ApiError(413, f"expected a body of at most {limit} bytes")
            return await self._serve(request, None, _databricks_error, refused=refused)
        except ValueError:
            return await self._fallback(request)
        if isinstance(payload, dict) and ("messages" in payload or "prompt" in payload):
            return await self._serve(request, None, _databricks_error, payload=payload)
        return await self._fallback(request)

    async def _serve(
        self,
        request: web.Request,
        kind: str | None,
        shape: ErrorShape,
        *,
        payload: Any = _UNREAD,
        refused: ApiError | None = None,
    ) -> web.StreamResponse:
        with self._metrics.invocation() as call:
            try:
                self._guard(request)
                if refused is not None:
                    raise refused
                if payload is _UNREAD:
                    payload = await self._payload(request)
                spec = parse_request(
                    payload,
                    kind,
                    default_model=self.config.name,
                    default_max_tokens=self.config.default_max_tokens,
                )
                response, call.status = await self._generate(request, spec, call.started)
            except ApiError as err:
                response = web.json_response(shape(err), status=err.status, headers=err.headers)
                call.status = err.status
            return response

    async def _payload(self, request: web.Request) -> Any:
        # No Content-Type check: OpenAI-compatible servers parse the body as JSON whatever
        # the header says, and `curl -d` sends form encoding.
        limit = self.config.max_payload_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise ApiError(413, f"expected a body of at most {limit} bytes but got {length=}")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise ApiError(413, f"expected a body of at most {limit} bytes") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"malformed JSON body: {exc}") from exc

    async def _generate(
        self, request: web.Request, spec: LlmRequest, started: float
    ) -> tuple[web.StreamResponse, int]:
        """Hold a sequence for the request and generate it; the response and its status (499
        when the client went away mid-stream)."""
        tokens = spec.kv_tokens
        scheduler = self.scheduler
        if not scheduler.fits(tokens):
            self._metrics.reject("context_too_long")
            raise ApiError(
                400,
                f"expected prompt_tokens + max_tokens <= kv_cache_tokens="
                f"{scheduler.kv_cache_tokens} but got {spec.prompt_tokens} + {spec.max_tokens}",
            )
        if not scheduler.try_admit(tokens):
            await self._wait(tokens)
        try:
            answer = Answer(spec, id=self._id(spec), created=int(time.time()))
            if spec.stream:
                return await self._stream(request, answer, started)
            async with aclosing(self._tokens(spec, started)) as generated:
                text = "".join([token async for token in generated])
            return web.json_response(answer.whole(text)), 200
        finally:
            scheduler.release(tokens)

    async def _wait(self, tokens: int) -> None:
        """Queue for a sequence, or turn the caller away as TGI and vLLM-based gateways do."""
        scheduler, retry_after = self.scheduler, {"Retry-After": str(self.config.retry_after_s)}
        try:
            await scheduler.admit(tokens)
        except SequencesFull:
            self._metrics.reject("sequences_full")
            raise ApiError(
                429,
                f"all {scheduler.max_sequences} sequences busy and "
                f"{scheduler.max_waiting} requests waiting",
                headers=retry_after,
            ) from None
        except SequenceWaitTimeout:
            self._metrics.reject("sequence_timeout")
            raise ApiError(
                429,
                f"waited longer than llm_queue_timeout_s={scheduler.queue_timeout_s} "
                "for a sequence",
                headers=retry_after,
            ) from None

    async def _stream(
        self, request: web.Request, answer: Answer, started: float
    ) -> tuple[web.StreamResponse, int]:
        response = web.StreamResponse(headers=_STREAM_HEADERS)
        try:
            # Without a length, aiohttp sends HTTP/1.1 chunked; each write goes out at once.
            await response.prepare(request)
            # aclosing: a client gone mid-stream stops the generator here, not at GC time.
            async with aclosing(self._tokens(answer.request, started)) as generated:
                index = 0
                async for token in generated:
                    await response.write(answer.chunk(token, index))
                    index += 1
            await response.write(answer.last_chunk())
            await response.write(SSE_DONE)
            await response.write_eof()
        except ConnectionResetError:
            # The client hung up mid-stream (handler cancellation may not have fired yet).
            return response, CLIENT_CLOSED
        return response, 200

    async def _tokens(self, spec: LlmRequest, started: float) -> AsyncGenerator[str, None]:
        series = self._series
        first = True
        paced = generate(self.model, spec.prompt_tokens, spec.max_tokens)
        async with aclosing(paced):
            async for token in paced:
                if first:
                    series.ttft.observe(time.perf_counter() - started)
                    first = False
                series.tokens += 1
                yield token

    def _id(self, spec: LlmRequest) -> str:
        prefix = "chatcmpl" if spec.kind == CHAT else "cmpl"
        return f"{prefix}-{next(self._ids)}"


def _json_typed(request: web.Request) -> bool:
    return (
        request.headers.get("Content-Type") == "application/json"
        or request.content_type == "application/json"
    )
