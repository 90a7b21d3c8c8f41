"""A load of OpenAI-compatible chat or completion requests whose prompt and answer lengths are
drawn from distributions (``load.llm`` of a scenario), as serving benchmarks draw them.

Request ``i`` of a run is always the same: its lengths and words come from a random generator
seeded with the scenario's ``seed`` and ``i``. Only ``distinct`` requests are made, once, before
the load starts, and request ``i`` is made ``i mod distinct``: pre-made bodies are sent in turn
(:class:`~harness.loadgen.payloads.SampleBodies`), so every engine sends them, the native one
and Ray shards included, and no prompt is written on the load's hot path.

Prompt lengths are as the reference endpoint counts them (``usage.prompt_tokens``, see
:func:`harness.servers.endpoint.llm.count_tokens`): the text is words of four letters, one token
each there and about one to a BPE tokenizer, and a chat prompt's count includes the framing of
its one message and of the reply. The words are drawn at random, so prompts share no prefix
longer than a few words that a server's prefix cache could reuse.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from harness.loadgen.lengths import FixedLength, Length

__all__ = [
    "APIS",
    "API_CHAT",
    "API_COMPLETIONS",
    "CHAT_FRAMING_TOKENS",
    "LlmRequests",
    "prompt_text",
]

API_CHAT = "chat"
API_COMPLETIONS = "completions"
APIS = (API_CHAT, API_COMPLETIONS)
# Tokens a chat prompt of one user message has besides its text, as OpenAI's cookbook counts
# them (and the reference endpoint with it): 3 framing the message, 3 priming the reply.
CHAT_FRAMING_TOKENS = 3 + 3
# fmt: off
_WORDS = (
    "time", "data", "load", "node", "fast", "slow", "work", "path", "user", "note", "line",
    "page", "city", "tree", "rain", "wind", "fire", "moon", "star", "road", "ship", "bird",
    "fish", "door", "wall", "hand", "face", "mind", "book", "game", "song", "team", "plan",
    "test", "code", "bank", "card", "cost", "rate", "risk", "rule", "case", "form", "file",
    "list", "term", "year", "week", "hour", "army", "wave",
)
# fmt: on


def prompt_text(tokens: int, dice: random.Random) -> str:
    """``tokens`` words of four letters drawn with ``dice``: ``tokens`` tokens of text."""
    return " ".join(dice.choices(_WORDS, k=tokens))


@dataclass(frozen=True, slots=True)
class LlmRequests:
    """Chat (``/v1/chat/completions``'s ``messages``) or completion (``prompt``) requests with
    ``prompt_tokens`` and ``max_tokens`` drawn per request; ``model`` is sent when given.

    ``stream`` is the load's own setting (``load.stream``), passed to :meth:`bodies`; a streamed
    request also asks for the usage in its last event (``stream_options.include_usage``, as
    vLLM's benchmark does), so the tokens received are counted as the server counted them.
    """

    api: str = API_CHAT
    prompt_tokens: Length = field(default_factory=lambda: FixedLength(64))
    max_tokens: Length = field(default_factory=lambda: FixedLength(64))
    model: str | None = None
    seed: int = 0
    distinct: int = 256

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"expected api among {list(APIS)} but got api={self.api!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"expected an integer seed >= 0 but got seed={self.seed!r}")
        if (
            isinstance(self.distinct, bool)
            or not isinstance(self.distinct, int)
            or self.distinct < 1
        ):
            raise ValueError(
                f"expected an integer distinct >= 1 but got distinct={self.distinct!r}"
            )
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ValueError(f"expected model as a non-empty string but got model={self.model!r}")

    def request(self, index: int, *, stream: bool) -> dict[str, Any]:
        """Request ``index`` as a JSON document."""
        dice = random.Random(f"llm:{self.seed}:{index}")
        prompt = self.prompt_tokens.draw(dice)
        answer = self.max_tokens.draw(dice)
        document: dict[str, Any] = {} if self.model is None else {"model": self.model}
        if self.api == API_CHAT:
            # The framing counts towards the prompt; its text gets the rest, one word at least.
            text = prompt_text(max(prompt - CHAT_FRAMING_TOKENS, 1), dice)
            document["messages"] = [{"role": "user", "content": text}]
        else:
            document["prompt"] = prompt_text(prompt, dice)
        document["max_tokens"] = answer
        document["stream"] = stream
        if stream:
            document["stream_options"] = {"include_usage": True}
        return document

    def bodies(self, *, stream: bool) -> tuple[bytes, ...]:
        """The ``distinct`` bodies a load sends in turn."""
        return tuple(
            json.dumps(self.request(index, stream=stream), separators=(",", ":")).encode()
            for index in range(self.distinct)
        )
