"""Lengths in tokens drawn from a distribution or from samples: how long the prompts and answers
of a load of LLM requests are.

Spelled as the HTTP fault layer spells latencies (:func:`faults.http.latency_from_json`), so a
scenario reads the same either way: a number is always that length, ``{type: uniform, lower,
upper}`` is spread evenly, ``{type: lognormal, median, sigma}`` has a long tail as real prompt
lengths do, and a list is a set of samples drawn from at random (a recorded workload's lengths).
Every draw is a whole number of tokens, at least 1.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FixedLength",
    "Length",
    "LogNormalLength",
    "SampledLength",
    "UniformLength",
    "length_from_json",
    "length_to_json",
]


def _check_tokens(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a number of tokens for {name} but got {name}={value!r}")
    if value < 1:
        raise ValueError(f"expected {name} >= 1 token but got {name}={value!r}")


@dataclass(frozen=True, slots=True)
class FixedLength:
    """Always ``tokens`` tokens."""

    tokens: int

    def __post_init__(self) -> None:
        _check_tokens("tokens", self.tokens)
        if not float(self.tokens).is_integer():
            raise ValueError(f"expected a whole number of tokens but got tokens={self.tokens!r}")

    def draw(self, dice: random.Random) -> int:
        return int(self.tokens)


@dataclass(frozen=True, slots=True)
class UniformLength:
    """Evenly spread from ``lower`` to ``upper`` tokens, both included."""

    lower: int
    upper: int

    def __post_init__(self) -> None:
        _check_tokens("lower", self.lower)
        _check_tokens("upper", self.upper)
        if self.upper < self.lower:
            raise ValueError(
                f"expected lower <= upper but got lower={self.lower!r}, upper={self.upper!r}"
            )

    def draw(self, dice: random.Random) -> int:
        return dice.randint(math.ceil(self.lower), math.floor(self.upper))


@dataclass(frozen=True, slots=True)
class LogNormalLength:
    """Half the draws below ``median`` tokens, spread by ``sigma`` (the standard deviation of
    the logarithm); a draw beyond ``cap`` tokens, when given, is cut to it, so one long tail
    draw cannot outgrow a context window."""

    median: float
    sigma: float
    cap: int | None = None

    def __post_init__(self) -> None:
        _check_tokens("median", self.median)
        if isinstance(self.sigma, bool) or not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"expected sigma >= 0 but got sigma={self.sigma!r}")
        if self.cap is not None:
            _check_tokens("cap", self.cap)
            if self.cap < self.median:
                raise ValueError(
                    f"expected cap >= median but got cap={self.cap!r}, median={self.median!r}"
                )

    def draw(self, dice: random.Random) -> int:
        drawn = max(round(dice.lognormvariate(math.log(self.median), self.sigma)), 1)
        return drawn if self.cap is None else min(drawn, int(self.cap))


@dataclass(frozen=True, slots=True)
class SampledLength:
    """One of ``samples`` at random, each as likely as its count in the list."""

    samples: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("expected at least one sample length but got an empty list")
        for sample in self.samples:
            _check_tokens("samples[]", sample)
            if not float(sample).is_integer():
                raise ValueError(f"expected whole numbers of tokens but got samples[]={sample!r}")

    def draw(self, dice: random.Random) -> int:
        return int(dice.choice(self.samples))


Length = FixedLength | UniformLength | LogNormalLength | SampledLength
_FIELDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required fields, optional fields)
    "fixed": (("tokens",), ()),
    "uniform": (("lower", "upper"), ()),
    "lognormal": (("median", "sigma"), ("cap",)),
}
_SPELLING = "a number of tokens, a list of samples, or {type: fixed|uniform|lognormal, ...}"


def length_from_json(value: object, name: str = "length") -> Length:
    """A length as a scenario writes it; ValueError naming ``name`` and what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected {_SPELLING} for {name} but got {name}={value!r}")
    if isinstance(value, int | float):
        return FixedLength(_whole(value, name))
    if isinstance(value, list):
        return SampledLength(tuple(_whole(item, f"{name}[]") for item in value))
    if not isinstance(value, Mapping):
        raise ValueError(f"expected {_SPELLING} for {name} but got {name}={value!r}")
    kind = value.get("type")
    if kind not in _FIELDS:
        raise ValueError(
            f"expected {name}.type among {sorted(_FIELDS)} but got type={kind!r} "
            f"(a length is {_SPELLING})"
        )
    required, optional = _FIELDS[str(kind)]
    unknown = sorted(set(value) - {"type", *required, *optional})
    if unknown:
        raise ValueError(
            f"expected fields {sorted({*required, *optional})} for a {kind} length but got "
            f"{name}.{unknown[0]}"
        )
    missing = [field for field in required if field not in value]
    if missing:
        raise ValueError(f"expected {name}.{missing[0]} for a {kind} length but it is missing")
    if kind == "fixed":
        return FixedLength(_whole(value["tokens"], f"{name}.tokens"))
    if kind == "uniform":
        return UniformLength(
            _whole(value["lower"], f"{name}.lower"), _whole(value["upper"], f"{name}.upper")
        )
    cap = value.get("cap")
    return LogNormalLength(
        _number(value["median"], f"{name}.median"),
        _number(value["sigma"], f"{name}.sigma"),
        None if cap is None else _whole(cap, f"{name}.cap"),
    )


def length_to_json(length: Length) -> Any:
    """The spelling :func:`length_from_json` reads back to ``length``."""
    if isinstance(length, FixedLength):
        return length.tokens
    if isinstance(length, SampledLength):
        return list(length.samples)
    if isinstance(length, UniformLength):
        return {"type": "uniform", "lower": length.lower, "upper": length.upper}
    found: dict[str, Any] = {"type": "lognormal"}
    found["median"] = int(length.median) if float(length.median).is_integer() else length.median
    found["sigma"] = length.sigma
    if length.cap is not None:
        found["cap"] = length.cap
    return found


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number for {name} but got {name}={value!r}")
    return float(value)


def _whole(value: object, name: str) -> int:
    number = _number(value, name)
    if not number.is_integer():
        raise ValueError(f"expected a whole number of tokens for {name} but got {name}={value!r}")
    if number < 1:
        raise ValueError(f"expected {name} >= 1 token but got {name}={value!r}")
    return int(number)
