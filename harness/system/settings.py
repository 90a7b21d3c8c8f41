"""What the host tells the harness, read once at the edges (the CLI, the pytest plugin) and
passed down: where toxiproxy-server is, the base image of the serving image, a compose file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.system.backends.docker.images import LOCAL_BASE

__all__ = ["BASE_IMAGE_VARIABLE", "HostSettings"]

# Set by provisioning when it builds the base image somewhere else than the default.
BASE_IMAGE_VARIABLE = "SERVING_CHAOS_BASE_IMAGE"
_TOXIPROXY_VARIABLES = ("SERVING_CHAOS_TOXIPROXY", "PATH")
# The shipped compose file, when the package runs from a checkout that has it.
_CHECKOUT_COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@dataclass(frozen=True, slots=True)
class HostSettings:
    """``toxiproxy_env`` holds the variables the toxiproxy-server lookup reads; ``compose``
    is a compose file for the docker backend (None: no compose file)."""

    toxiproxy_env: Mapping[str, str] = field(default_factory=dict)
    base_image: str = LOCAL_BASE
    compose: Path | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, compose: Path | None = None
    ) -> HostSettings:
        env = os.environ if environ is None else environ
        return cls(
            toxiproxy_env={k: env[k] for k in _TOXIPROXY_VARIABLES if k in env},
            base_image=env.get(BASE_IMAGE_VARIABLE) or LOCAL_BASE,
            compose=compose if compose is not None else _checkout_compose(),
        )


def _checkout_compose() -> Path | None:
    return _CHECKOUT_COMPOSE if _CHECKOUT_COMPOSE.is_file() else None
