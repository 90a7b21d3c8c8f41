"""OpenAI's wire format for the LLM mode: chat and completion requests in, answers, stream
chunks (server-sent events) and errors out, as OpenAI's API and vLLM's server write them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.llm import CHAT_MESSAGE_TOKENS, CHAT_REPLY_TOKENS, count_tokens

__all__ = [
    "CHAT",
    "COMPLETION",
    "SSE_DONE",
    "Answer",
    "LlmRequest",
    "openai_error",
    "parse_request",
]

CHAT = "chat"
COMPLETION = "completion"
SSE_DONE = b"data: [DONE]\n\n"
_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, slots=True)
class LlmRequest:
    """One generation request, as far as the token model needs it.

    `finish_reason` is "length" when the caller set max_tokens (generation always runs to it),
    and "stop" when the default applied: the model then "chose" to stop there.
    """

    kind: str
    model: str
    prompt_tokens: int
    max_tokens: int
    stream: bool
    finish_reason: str

    @property
    def kv_tokens(self) -> int:
        """KV-cache tokens the sequence reserves while it runs."""
        return self.prompt_tokens + self.max_tokens


def parse_request(
    payload: Any, kind: str | None, *, default_model: str, default_max_tokens: int
) -> LlmRequest:
    """Read a chat (`messages`) or completion (`prompt`) request; ``kind`` None takes whichever
    the payload holds. Raises ApiError 400 naming the field that is wrong."""
    if not isinstance(payload, Mapping):
        raise _bad(f"expected a JSON object but got a JSON {type(payload).__name__}")
    if kind is None:
        kind = CHAT if "messages" in payload else COMPLETION
    if kind == CHAT:
        prompt_tokens = _chat_tokens(payload.get("messages"))
    else:
        prompt_tokens = _prompt_tokens(payload.get("prompt"))
    model = payload.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise _bad(f"expected model as a non-empty string but got model={model!r}")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad(f"expected stream as true or false but got stream={stream!r}")
    # Newer OpenAI clients send max_completion_tokens; older ones, and vLLM's, max_tokens.
    key = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
    asked = payload.get(key)
    if asked is not None and (isinstance(asked, bool) or not isinstance(asked, int) or asked < 1):
        raise _bad(f"expected {key} as an integer >= 1 but got {key}={asked!r}")
    return LlmRequest(
        kind=kind,
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=default_max_tokens if asked is None else asked,
        stream=bool(stream),
        finish_reason="stop" if asked is None else "length",
    )


def _chat_tokens(messages: Any) -> int:
    if not isinstance(messages, list) or not messages:
        raise _bad(f"expected messages as a non-empty list but got messages={messages!r:.80}")
    tokens = CHAT_REPLY_TOKENS
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise _bad(f"expected messages[{i}] as {{role, content}} but got {message!r:.80}")
        tokens += CHAT_MESSAGE_TOKENS + count_tokens(_content_text(message.get("content"), i))
    return tokens


def _content_text(content: Any, i: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    # Content parts ([{"type": "text", "text": ...}, ...]): only text parts take tokens here.
    if isinstance(content, list) and all(isinstance(part, Mapping) for part in content):
        return " ".join(str(part.get("text", "")) for part in content)
    raise _bad(
        f"expected messages[{i}].content as a string or a list of parts but got {content!r:.80}"
    )


def _prompt_tokens(prompt: Any) -> int:
    if isinstance(prompt, str):
        return count_tokens(prompt)
    # A list of token ids is its own count; a list of strings is read as one prompt.
    if isinstance(prompt, list) and all(type(item) is int for item in prompt):
        return len(prompt)
    if isinstance(prompt, list) and all(isinstance(item, str) for item in prompt):
        return sum(count_tokens(item) for item in prompt)
    raise _bad(f"expected prompt as a string or a list of token ids but got prompt={prompt!r:.80}")


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


class Answer:
    """The bodies of one request's answer, streamed or whole; `id` and `created` are shared by
    every chunk as OpenAI's are."""

    def __init__(self, request: LlmRequest, *, id: str, created: int) -> None:
        self.request = request
        chat = request.kind == CHAT
        self._head = {
            "id": id,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": request.model,
        }
        self._chat = chat

    def usage(self) -> dict[str, int]:
        prompt, completion = self.request.prompt_tokens, self.request.max_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def chunk(self, text: str, index: int) -> bytes:
        """The server-sent event of generated token ``index``."""
        if self._chat:
            # The first delta names the role, as OpenAI's first chunk does.
            delta = {"role": "assistant", "content": text} if index == 0 else {"content": text}
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"index": 0, "text": text}
        choice["logprobs"] = None
        choice["finish_reason"] = None
        return _event({**self._head, "choices": [choice]})

    def last_chunk(self) -> bytes:
        """The event after the last token: the finish reason and the usage."""
        choice: dict[str, Any] = (
            {"index": 0, "delta": {}} if self._chat else {"index": 0, "text": ""}
        )
        choice["logprobs"] = None
        choice["finish_reason"] = self.request.finish_reason
        return _event({**self._head, "choices": [choice], "usage": self.usage()})

    def whole(self, text: str) -> dict[str, Any]:
        """The non-streaming answer with the whole ``text``."""
        if self._chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
            }
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": text}
            kind = "text_completion"
        choice["logprobs"] = None
        choice["finish_reason"] = self.request.finish_reason
        return {**self._head, "object": kind, "choices": [choice], "usage": self.usage()}


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def openai_error(err: ApiError) -> dict[str, Any]:
    """``err`` in the body shape OpenAI's API (and clients built for it) expect."""
    kind = _ERROR_TYPES.get(err.status)
    if kind is None:
        kind = "server_error" if err.status >= 500 else "invalid_request_error"
    return {"error": {"message": err.message, "type": kind, "param": None, "code": err.error_code}}
