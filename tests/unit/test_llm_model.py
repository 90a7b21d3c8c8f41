"""The LLM mode's token model: prompt counting, generated text, and when each token is due."""

from __future__ import annotations

import asyncio

import pytest

from harness.servers.endpoint.llm import TokenModel, count_tokens, generate, token_text
from tests.waiting import run_async


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("   ", 0), ("a b c", 3), ("hello world", 4), ("abcd", 1), ("abcde", 2)],
)
def test_a_word_takes_one_token_per_started_four_characters(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_generated_tokens_are_numbered_words() -> None:
    assert [token_text(i) for i in range(3)] == ["tok0 ", "tok1 ", "tok2 "]


def test_first_token_after_prefill_then_one_per_interval() -> None:
    model = TokenModel(prefill_ms_per_token=2.0, decode_tokens_per_s=20.0)
    assert model.prefill_s(100) == pytest.approx(0.2)
    assert [model.due_s(100, i) for i in range(3)] == pytest.approx([0.2, 0.25, 0.3])
    assert model.generation_s(100, 3) == pytest.approx(0.3)
    assert model.generation_s(100, 0) == 0.0


@pytest.mark.parametrize(
    ("prefill", "rate", "field"),
    [(-1.0, 10.0, "prefill_ms_per_token"), (0.0, 0.0, "decode_tokens_per_s")],
)
def test_token_model_refuses_impossible_settings(prefill: float, rate: float, field: str) -> None:
    with pytest.raises(ValueError, match=f"but got {field}="):
        TokenModel(prefill, rate)


def test_tokens_are_paced_against_absolute_due_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A consumer that takes 30 ms per token shortens the next sleep instead of adding to it:
    the sleeps asked for are due time minus now, and a late token comes without a sleep."""
    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(round(delay, 6))
        now[0] += delay

    model = TokenModel(prefill_ms_per_token=1.0, decode_tokens_per_s=20.0)

    async def scenario() -> None:
        monkeypatch.setattr(asyncio, "sleep", fake_sleep)
        got = []
        try:
            async for token in generate(model, 10, 4, clock=lambda: now[0]):
                got.append((token, round(now[0] - 100.0, 6)))
                now[0] += 0.03 if len(got) < 3 else 0.08
        finally:
            monkeypatch.undo()
        # Tokens at 10 ms, 60 ms, 110 ms, and the last one late (at 190 ms, due at 160 ms).
        assert got == [("tok0 ", 0.01), ("tok1 ", 0.06), ("tok2 ", 0.11), ("tok3 ", 0.19)]
        assert slept == [0.01, 0.02, 0.02]

    run_async(scenario)
