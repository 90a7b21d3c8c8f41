"""Whether the native engine is built here, and whether it can send a target's requests: asked
when a plan is made and by ``--engine auto``, without loading the engine's runner
(``native.py``), which needs the plan's own types."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from harness.loadgen.payloads import (
    AcceptAny,
    FixedBody,
    PredictionsPerRecord,
    RecordsBody,
    SampleBodies,
)

if TYPE_CHECKING:
    from harness.loadgen.engine import Target

NATIVE: ModuleType | None
try:
    import serving_chaos_native as NATIVE
except ImportError:  # pragma: no cover - depends on the machine
    NATIVE = None

__all__ = ["FAILURES", "INSTALL_HINT", "NATIVE", "native_available", "unsupported"]

# The failure classes the native engine's outcomes index (none where it is not built).
FAILURES: tuple[str, ...] = () if NATIVE is None else tuple(NATIVE.FAILURES)

INSTALL_HINT = (
    "the native engine is not installed: `make provision` builds it where Rust's cargo is "
    "installed (https://rustup.rs), or run `pip install ./native` in a checkout; "
    "--engine http1 needs nothing more"
)


def native_available() -> bool:
    return NATIVE is not None


def unsupported(target: Target) -> str | None:
    """Why the native engine cannot send ``target``'s requests, or None when it can."""
    if not target.url.startswith("http://"):
        return f"expected an http:// URL for the native engine but got {target.url!r}"
    if not isinstance(target.body, FixedBody | SampleBodies | RecordsBody):
        return f"the native engine cannot make bodies of {type(target.body).__name__}"
    if not isinstance(target.validator, AcceptAny | PredictionsPerRecord):
        return f"the native engine cannot check answers with {type(target.validator).__name__}"
    return None
