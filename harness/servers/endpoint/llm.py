"""The token model of the LLM mode: how many tokens a prompt is, what is generated, and when.

Everything is deterministic, so a test (or a budget) can say what a request must see: a prompt
counts one token per started 4 characters of each whitespace-separated word, the completion is
`max_tokens` words "tok0 ", "tok1 ", ..., the first token comes after a prefill time
proportional to the prompt, and each later one `1 / decode_tokens_per_s` after the one before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

__all__ = [
    "CHAT_MESSAGE_TOKENS",
    "CHAT_REPLY_TOKENS",
    "TokenModel",
    "count_tokens",
    "generate",
    "token_text",
]

# What OpenAI's cookbook counts around chat messages: a few tokens of framing per message, and
# the assistant's reply is primed with a few more.
CHAT_MESSAGE_TOKENS = 3
CHAT_REPLY_TOKENS = 3
_CHARS_PER_TOKEN = 4


def count_tokens(text: str) -> int:
    """Tokens in ``text``: per whitespace-separated word, one per started 4 characters.

    "hello world" is 2 + 2, "a b c" is 3, "" is 0. Close enough to a BPE tokenizer on English
    (about 4 characters a token) to size prefill and KV-cache use, and needs no vocabulary.
    """
    return sum(-(-len(word) // _CHARS_PER_TOKEN) for word in text.split())


def token_text(index: int) -> str:
    """The text of generated token ``index`` (from 0): a short word and a space."""
    return f"tok{index} "


@dataclass(frozen=True, slots=True)
class TokenModel:
    """How long a sequence takes: prefill per prompt token, then a steady decode rate.

    The first token is produced by the prefill itself, as in vLLM or TGI, so time to first
    token is the wait for a sequence plus `prefill_s`; each later token is one `interval_s`
    after the one before.
    """

    prefill_ms_per_token: float
    decode_tokens_per_s: float

    def __post_init__(self) -> None:
        if self.prefill_ms_per_token < 0:
            raise ValueError(
                "expected prefill_ms_per_token >= 0 but got "
                f"prefill_ms_per_token={self.prefill_ms_per_token!r}"
            )
        if self.decode_tokens_per_s <= 0:
            raise ValueError(
                "expected decode_tokens_per_s > 0 but got "
                f"decode_tokens_per_s={self.decode_tokens_per_s!r}"
            )

    @property
    def interval_s(self) -> float:
        return 1.0 / self.decode_tokens_per_s

    def prefill_s(self, prompt_tokens: int) -> float:
        return self.prefill_ms_per_token * prompt_tokens / 1000.0

    def due_s(self, prompt_tokens: int, index: int) -> float:
        """When token ``index`` is out, counted from the start of its sequence."""
        return self.prefill_s(prompt_tokens) + index * self.interval_s

    def generation_s(self, prompt_tokens: int, tokens: int) -> float:
        """Time from the start of a sequence to its last token."""
        return self.due_s(prompt_tokens, tokens - 1) if tokens > 0 else 0.0


async def generate(
    model: TokenModel,
    prompt_tokens: int,
    tokens: int,
    *,
    clock: Callable[[], float] | None = None,
) -> AsyncGenerator[str, None]:
    """Yield the ``tokens`` token texts of one sequence, each at its due time.

    Due times are absolute (start + `due_s`), not a sleep per token, so time spent by the
    consumer between tokens (writing to a slow socket) does not add up into drift; a token that
    is already late is yielded at once.
    """
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    start = now()
    for index in range(tokens):
        delay = start + model.due_s(prompt_tokens, index) - now()
        if delay > 0:
            await asyncio.sleep(delay)
        yield token_text(index)
