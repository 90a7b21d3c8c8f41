"""`serving-chaos load` flags for an LLM endpoint: answers read as server-sent event streams
(``--stream``), the objectives a stream must meet to count towards goodput (``--slo-*``), and
OpenAI request bodies whose prompt and answer lengths are drawn from distributions
(``--llm-*``), the same :class:`~harness.loadgen.llm_requests.LlmRequests` a scenario's
``load.llm`` makes. Bad values raise UsageError naming the flag.

A length is spelled compactly on the command line and read into the same values as a
scenario's: ``500`` (always 500 tokens), ``16,32,64`` (samples drawn at random),
``uniform:100:400`` (evenly spread, both ends included), ``lognormal:500:0.4`` (median and
sigma of the logarithm, a long tail as real prompts have) with an optional ``:CAP``;
``fixed:500`` is the same as ``500``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from harness.errors import UsageError
from harness.loadgen.engine import STREAM_ENGINES
from harness.loadgen.lengths import Length, length_from_json
from harness.loadgen.llm_requests import API_CHAT, APIS, LlmRequests
from harness.loadgen.ray_shards import Workers
from harness.loadgen.streams import StreamSlo

__all__ = [
    "LENGTH_SPELLING",
    "add_llm_arguments",
    "check_streaming",
    "length_from_flag",
    "llm_from",
    "slo_from",
]

LENGTH_SPELLING = "N, N,N,... (samples), uniform:LOWER:UPPER or lognormal:MEDIAN:SIGMA[:CAP]"
# Each spelled kind: its fields in order, how many of them are required.
_KINDS: dict[str, tuple[tuple[str, ...], int]] = {
    "fixed": (("tokens",), 1),
    "uniform": (("lower", "upper"), 2),
    "lognormal": (("median", "sigma", "cap"), 2),
}
# Each objective: its attribute, its flag, and what it limits.
_SLOS = (
    ("slo_ttft_ms", "--slo-ttft-ms", "time to first token, from the intended start"),
    ("slo_tpot_ms", "--slo-tpot-ms", "time per output token after the first"),
    ("slo_e2e_ms", "--slo-e2e-ms", "the whole answer, intended start to last byte"),
)
_LLM_FLAGS = (
    ("llm_prompt_tokens", "--llm-prompt-tokens"),
    ("llm_max_tokens", "--llm-max-tokens"),
    ("llm_api", "--llm-api"),
    ("llm_model", "--llm-model"),
)


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("LLM endpoints (OpenAI-compatible)")
    group.add_argument(
        "--stream",
        action="store_true",
        help="read answers as server-sent event streams: time to first token, inter-token "
        f"latency, tokens and goodput (engines {', '.join(STREAM_ENGINES)}; not curl, not Ray)",
    )
    for _, flag, limits in _SLOS:
        group.add_argument(
            flag,
            type=float,
            metavar="MS",
            help=f"with --stream: a stream counts towards goodput only if {limits} <= MS",
        )
    group.add_argument(
        "--llm-prompt-tokens",
        metavar="LENGTH",
        help=f"make OpenAI requests with prompts of LENGTH tokens: {LENGTH_SPELLING}",
    )
    group.add_argument(
        "--llm-max-tokens",
        metavar="LENGTH",
        help="with --llm-prompt-tokens: each request's max_tokens, spelled the same",
    )
    group.add_argument(
        "--llm-api",
        choices=APIS,
        help="chat: {messages: [...]} for /v1/chat/completions (default); completions: "
        "{prompt: ...} for /v1/completions",
    )
    group.add_argument("--llm-model", metavar="NAME", help="the model field of each request")


def length_from_flag(text: str, flag: str) -> Length:
    """``text`` as a :data:`~harness.loadgen.lengths.Length`; UsageError naming ``flag``."""
    try:
        return length_from_json(_length_document(text.strip()), flag)
    except ValueError as exc:
        raise UsageError(f"bad {flag} {text!r}: {exc} (a length is {LENGTH_SPELLING})") from None


def _length_document(spelled: str) -> Any:
    """The scenario spelling (:func:`length_from_json`) of a command-line length."""
    kind, colon, rest = spelled.partition(":")
    if colon:
        name = kind.strip().lower()
        known = _KINDS.get(name)
        if known is None:
            raise ValueError(f"expected a kind among {sorted(_KINDS)} but got kind={kind!r}")
        fields, required = known
        values = [_number(part) for part in rest.split(":")]
        if not required <= len(values) <= len(fields):
            wanted = "".join(
                f":{field.upper()}" if at < required else f"[:{field.upper()}]"
                for at, field in enumerate(fields)
            )
            count = f"{len(values)} number" + ("" if len(values) == 1 else "s")
            raise ValueError(f"expected {name}{wanted} but got {count} after {name}:")
        return {"type": name, **dict(zip(fields, values, strict=False))}
    if "," in spelled:
        return [_number(part) for part in spelled.split(",")]
    return _number(spelled)


def _number(text: str) -> int | float:
    part = text.strip()
    try:
        return int(part)
    except ValueError:
        pass
    try:
        number = float(part)
    except ValueError:
        raise ValueError(f"expected a number but got {part!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number but got {part!r}")
    return number


def slo_from(args: argparse.Namespace) -> StreamSlo:
    """The ``--slo-*`` objectives; they judge streams, so they need ``--stream``."""
    limits: dict[str, float | None] = {}
    for name, flag, _ in _SLOS:
        value: float | None = getattr(args, name)
        if value is not None:
            if not args.stream:
                raise UsageError(
                    f"{flag} judges streamed answers: add --stream (an OpenAI-compatible "
                    "endpoint streaming server-sent events) or drop it"
                )
            if not (math.isfinite(value) and value > 0):
                raise UsageError(f"expected {flag} > 0 milliseconds but got {flag} {value:g}")
        limits[name.removeprefix("slo_")] = value
    return StreamSlo(**limits)


def llm_from(args: argparse.Namespace) -> LlmRequests | None:
    """The ``--llm-*`` requests, or None when no length is given."""
    given = [flag for name, flag in _LLM_FLAGS if getattr(args, name) is not None]
    if not given:
        return None
    for name, flag in _LLM_FLAGS[:2]:
        if getattr(args, name) is None:
            raise UsageError(
                f"expected {flag} with {', '.join(given)}: LLM requests need both "
                "--llm-prompt-tokens and --llm-max-tokens"
            )
    for other in ("--body", "--body-file"):
        if getattr(args, other.removeprefix("--").replace("-", "_")) is not None:
            raise UsageError(
                f"give --llm-prompt-tokens/--llm-max-tokens or {other}, not both: the "
                "--llm-* flags make the bodies"
            )
    if args.method != "POST":
        raise UsageError(f"expected --method POST with --llm-* requests but got {args.method}")
    if args.seed < 0:
        raise UsageError(f"expected --seed >= 0 for --llm-* requests but got --seed {args.seed}")
    if args.llm_model is not None and not args.llm_model.strip():
        raise UsageError("expected --llm-model NAME, a non-empty name, but got ''")
    return LlmRequests(
        api=args.llm_api or API_CHAT,
        prompt_tokens=length_from_flag(args.llm_prompt_tokens, "--llm-prompt-tokens"),
        max_tokens=length_from_flag(args.llm_max_tokens, "--llm-max-tokens"),
        model=args.llm_model,
        seed=args.seed,
    )


def check_streaming(args: argparse.Namespace, engine: str, workers: Workers) -> None:
    """Refuse a ``--stream`` load that could not be read as streams, before anything starts."""
    if not args.stream:
        return
    if engine not in STREAM_ENGINES:
        raise UsageError(
            f"--stream needs an engine that reads streamed answers ({', '.join(STREAM_ENGINES)}) "
            f"but got --engine {engine}: it reads each answer whole"
        )
    if workers.ray is not None:
        raise UsageError(
            "--stream is recorded by worker processes, not by Ray shards: use --workers N "
            f"instead of --workers {args.workers}"
        )
    if args.validate == "predictions":
        raise UsageError(
            "--validate predictions checks whole answers; with --stream an answer's outcome is "
            "how its stream ended: drop --validate or use --validate none"
        )
    has_body = any(
        getattr(args, name) is not None for name in ("body", "body_file", "llm_prompt_tokens")
    )
    if not has_body and args.method in ("POST", "PUT", "PATCH"):
        raise UsageError(
            f"--stream needs {args.method} bodies that ask for a stream: give "
            "--llm-prompt-tokens and --llm-max-tokens, or --body/--body-file with "
            '"stream": true'
        )
