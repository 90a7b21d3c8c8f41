"""Tokens the endpoint generated during a run, read from its /metrics before and after the load:
set against the tokens the callers received, they show work the callers never got, or got
twice.

A client that restarts a cut stream from the start asks the endpoint to generate again every
token the cut stream had already delivered; the endpoint's counter counts them twice while its
caller (which skips what it already has) receives them once. The difference is that duplicated
work (see :mod:`harness.verdict.phases` for the measures built on it).

The reference endpoint counts ``serving_llm_generated_tokens``; vLLM ``vllm:generation_tokens``.
A server that exposes neither has nothing to compare, and the measures are None.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from harness.system.loopback import scrape

__all__ = [
    "GENERATED_TOKEN_COUNTERS",
    "generated_between",
    "generated_tokens",
    "scrape_generated_tokens",
]

GENERATED_TOKEN_COUNTERS = ("serving_llm_generated_tokens", "vllm:generation_tokens")
_TIMEOUT_S = 5.0


def generated_tokens(text: str) -> float | None:
    """The generated-tokens counter in Prometheus ``text``, summed over its label sets; None
    when the text has none of :data:`GENERATED_TOKEN_COUNTERS`."""
    found: float | None = None
    for family in text_string_to_metric_families(text):
        name = family.name.removesuffix("_total")
        if name not in GENERATED_TOKEN_COUNTERS:
            continue
        # A typed counter's samples are NAME_total (and NAME_created, a timestamp); an untyped
        # one's carry the family's own name.
        counted = [s.value for s in family.samples if s.name in (family.name, f"{name}_total")]
        if counted:
            found = (found or 0.0) + sum(counted)
    return found


def scrape_generated_tokens(metrics_url: str | None) -> float | None:
    """The endpoint's generated tokens now; None when it has no metrics, does not answer, or
    counts no tokens."""
    if metrics_url is None:
        return None
    return scrape(metrics_url, generated_tokens, timeout_s=_TIMEOUT_S)


def generated_between(before: float | None, after: float | None) -> float | None:
    """Tokens counted between two readings; None when either is missing or the counter went
    back (the endpoint restarted mid-run, so the run's count is lost)."""
    if before is None or after is None or after < before:
        return None
    return after - before
