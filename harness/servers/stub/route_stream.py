"""A route's streamed answer: server-sent events at a steady rate, the way an LLM API streams
its tokens, so a server that streams from a dependency can be tested against a stub::

    response:
      stream:
        events: [{"n": 1}, "plain text", ...]   # JSON as its JSON; a string as its text
        events_per_s: 20                         # the first event at once, then one each 50 ms
        done: true                               # then ``data: [DONE]`` (the default)

    response:
      stream:
        chat: {text: "The answer is 42.", tokens: 5, model: stub}   # tokens: one per word
        events_per_s: 20

``chat`` is the shorthand for an OpenAI chat completion: its ``chat.completion.chunk`` events,
``text`` cut into ``tokens`` pieces (the first naming the assistant's role), then a last chunk
with the finish reason and the usage. Events, the chat text and the model are templated from
the call like a ``json`` answer (see ``template``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from harness.servers.httpfaults.events import DONE_EVENT, data_event
from harness.servers.stub import fields as f
from harness.servers.stub.fields import StubSpecError
from harness.servers.stub.template import CallValues, render_json, render_text

__all__ = ["ChatText", "RouteStream", "paced", "stream_from_json", "stream_to_json"]

_FIELDS = frozenset({"events", "chat", "events_per_s", "done"})
_CHAT_FIELDS = frozenset({"text", "tokens", "model"})
_MAX_RATE = 100_000.0
_MAX_TOKENS = 1_000_000
_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class ChatText:
    """An OpenAI chat completion, streamed: ``text`` in ``tokens`` pieces of near-equal
    length, or one piece per word when ``tokens`` is None."""

    text: str
    tokens: int | None = None
    model: str = "stub"

    def events(self, values: CallValues) -> list[bytes]:
        """Its ``chat.completion.chunk`` events for the call ``values`` describes."""
        pieces = _pieces(render_text(self.text, values), self.tokens)
        head = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": render_text(self.model, values),
        }
        events = []
        for index, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(_json_event({**head, "choices": [choice]}))
        last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        usage = {"prompt_tokens": 0, "completion_tokens": len(pieces), "total_tokens": len(pieces)}
        events.append(_json_event({**head, "choices": [last], "usage": usage}))
        return events


@dataclass(frozen=True, slots=True)
class RouteStream:
    """A streamed answer: ``events_json`` (the JSON text of the list of events) or ``chat``,
    one event every 1/``events_per_s`` seconds, then ``data: [DONE]`` when ``done``."""

    events_json: str | None = None
    chat: ChatText | None = None
    events_per_s: float = 10.0
    done: bool = True

    def events(self, values: CallValues) -> list[bytes]:
        """The events (without the closing ``[DONE]``) for the call ``values`` describes."""
        if self.chat is not None:
            return self.chat.events(values)
        found = []
        for template in json.loads(self.events_json or "[]"):
            if isinstance(template, str):
                found.append(data_event(render_text(template, values)))
            else:
                found.append(_json_event(render_json(template, values)))
        return found


async def paced(
    events: Sequence[bytes], events_per_s: float, done: bool
) -> AsyncGenerator[bytes, None]:
    """``events``, the first at once and each next 1/``events_per_s`` after the one before
    was due (so a slow reader does not slow the schedule), then ``[DONE]`` when ``done``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    every_s = 1.0 / events_per_s
    for index, event in enumerate(events):
        wait = start + index * every_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        yield event
    if done:
        yield DONE_EVENT


def stream_from_json(value: object, where: str) -> RouteStream:
    """A response's ``stream`` as a spec writes it; errors name fields below ``where``."""
    doc = f.mapping(value, where, "a stream object {events | chat, events_per_s, done}")
    f.known(doc, _FIELDS, where)
    given = [key for key in ("events", "chat") if key in doc]
    if len(given) != 1:
        raise StubSpecError(
            where, f"expected exactly one of ['events', 'chat'] in a stream but got {given}"
        )
    events_json = chat = None
    if "events" in doc:
        here = f.at(where, "events")
        events = f.sequence(doc["events"], here, "a list of events (JSON values or strings)")
        events_json = _json_text(list(events), here)
    else:
        chat = _chat(doc["chat"], f.at(where, "chat"))
    rate = 10.0
    if "events_per_s" in doc:
        rate = f.number(doc, "events_per_s", where)
        if not 0 < rate <= _MAX_RATE:
            raise StubSpecError(
                f.at(where, "events_per_s"),
                f"expected events_per_s in (0, {_MAX_RATE:g}] but got events_per_s={rate:g}",
            )
    done = f.boolean(doc, "done", where) if "done" in doc else True
    return RouteStream(events_json, chat, rate, done)


def stream_to_json(stream: RouteStream) -> dict[str, Any]:
    """What ``stream_from_json`` reads back as ``stream``."""
    doc: dict[str, Any] = {}
    if stream.chat is not None:
        chat: dict[str, Any] = {"text": stream.chat.text, "model": stream.chat.model}
        if stream.chat.tokens is not None:
            chat["tokens"] = stream.chat.tokens
        doc["chat"] = chat
    else:
        doc["events"] = json.loads(stream.events_json or "[]")
    doc["events_per_s"] = stream.events_per_s
    doc["done"] = stream.done
    return doc


def _chat(value: object, where: str) -> ChatText:
    doc = f.mapping(value, where, "a chat object {text, tokens, model}")
    f.known(doc, _CHAT_FIELDS, where)
    text = f.text(doc, "text", where, non_empty=True)
    tokens = None
    if "tokens" in doc:
        tokens = f.integer(doc, "tokens", where, low=1, high=_MAX_TOKENS)
    model = f.text(doc, "model", where, non_empty=True) if "model" in doc else "stub"
    return ChatText(text, tokens, model)


def _pieces(text: str, tokens: int | None) -> list[str]:
    """``text`` in ``tokens`` runs of near-equal length, or a run per word (with the space
    before it) when ``tokens`` is None."""
    if tokens is None:
        return _WORD.findall(text) or [text]
    size, extra = divmod(len(text), tokens)
    pieces, at = [], 0
    for index in range(tokens):
        end = at + size + (1 if index < extra else 0)
        pieces.append(text[at:end])
        at = end
    return pieces


def _json_event(value: Any) -> bytes:
    return data_event(json.dumps(value, separators=(",", ":")))


def _json_text(value: object, where: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StubSpecError(where, f"expected JSON values but got {f.found(value)}") from exc
