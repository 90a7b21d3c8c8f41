"""A scenario as value objects: the system it runs against, the load, the faults, the budgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from faults import HttpError, ResourceLimit, ScheduledFault, Surge
from harness.incident.reproduce import DEFAULT_MIN_OVERLAP, DEFAULT_TOLERANCE_S, SourceSignature
from harness.loadgen.llm_requests import LlmRequests
from harness.loadgen.shapes import Constant, Shape, Spike
from harness.loadgen.streams import StreamSlo
from harness.scenario.budgets import Budget
from harness.scenario.clients import ClientSpec
from harness.servers.endpoint.config import EndpointConfig
from harness.system.spec import (
    ENDPOINT,
    REFERENCE_DEPENDENCIES,
    Dependency,
    ExternalTarget,
    SystemSpec,
)

__all__ = ["EndpointSpec", "IncidentSpec", "LoadSpec", "Scenario"]

# A scenario's `endpoint:` section is the reference endpoint's own configuration; the wiring
# fills in where it listens and how it reaches its upstreams.
EndpointSpec = EndpointConfig


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Open-loop constant-rate load: ``rate`` requests/s for ``duration_s`` seconds."""

    rate: float
    duration_s: float
    records_per_request: int = 1
    timeout_s: float = 10.0
    max_connections: int = 256
    keyspace: int = 1000
    # A generator that starts requests later than this (p99) measured itself, not the endpoint.
    max_lag_ms: float = 10.0
    # A JSON body sent as is with every request, for endpoints with their own contract; None
    # sends MLflow dataframe_records and expects one prediction per record back.
    body: bytes | None = None
    # Bodies sent in turn (``load.body_file``: JSON lines, e.g. an imported incident's request
    # samples), any 2xx a success like ``body``; empty: none.
    samples: tuple[bytes, ...] = ()
    # How requests arrive over time; None is the constant ``rate``.
    arrivals: Shape | None = None
    # The HTTP engine: aiohttp, http1, curl, native, or auto (native for http:// URLs where it is
    # built, else http1).
    engine: str = "aiohttp"
    # Answers are server-sent event streams (an LLM endpoint's), timed token by token; ``slo``
    # the objectives a stream must meet to count towards goodput.
    stream: bool = False
    slo: StreamSlo = field(default_factory=StreamSlo)
    # OpenAI chat or completion requests with prompt and answer lengths drawn from
    # distributions (``load.llm``), sent in turn like ``samples``; None: none.
    llm: LlmRequests | None = None

    def sample_bodies(self) -> tuple[bytes, ...]:
        """The bodies sent in turn: ``load.llm``'s requests (made here, once per call, so
        keep the result), else ``samples``; empty when the load sends one body."""
        if self.llm is not None:
            return self.llm.bodies(stream=self.stream)
        return self.samples


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """The incident a scenario replays: its source's signature and how closely the replay's
    anomalous seconds must match it (:mod:`harness.incident.reproduce`)."""

    signature: SourceSignature
    path: str
    tolerance_s: int = DEFAULT_TOLERANCE_S
    min_overlap: float = DEFAULT_MIN_OVERLAP


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    load: LoadSpec
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    faults: tuple[ScheduledFault, ...] = ()
    budgets: tuple[Budget, ...] = ()
    description: str = ""
    source: str = "<scenario>"
    target: ExternalTarget | None = None
    dependencies: tuple[Dependency, ...] = REFERENCE_DEPENDENCIES
    # The user's own client under test; None: the harness's own HTTP engine sends the load.
    client: ClientSpec | None = None
    # An imported incident's signature: the run then says whether it reproduced it.
    incident: IncidentSpec | None = None

    @property
    def needs_limits(self) -> bool:
        """Whether a fault changes a container's CPU or memory (only docker can)."""
        return any(isinstance(f.fault, ResourceLimit) for f in self.faults)

    @property
    def system(self) -> SystemSpec:
        """What this scenario runs against, as the wiring brings it up."""
        # A client under test always goes through the HTTP fault layer: it counts attempts.
        front = self.has_endpoint_http_faults or self.client is not None
        return SystemSpec(self.endpoint, self.target, self.dependencies, http_front=front)

    @property
    def has_endpoint_http_faults(self) -> bool:
        """Whether an HTTP fault aims at the client's hop, which needs the HTTP fault layer."""
        return any(
            isinstance(f.fault, HttpError) and f.fault.target == ENDPOINT for f in self.faults
        )

    def load_shape(self) -> Shape:
        """The offered load over time: ``load.arrivals``, or the constant rate with a surge
        fault's climb in it."""
        if self.load.arrivals is not None:
            return self.load.arrivals
        surge = next((f for f in self.faults if isinstance(f.fault, Surge)), None)
        if surge is None:
            return Constant(self.load.rate, self.load.duration_s)
        fault = surge.fault
        if not isinstance(fault, Surge):
            raise TypeError("surge fault expected")
        return Spike(
            baseline=self.load.rate,
            factor=fault.factor,
            at_s=surge.start_s,
            rise_s=min(fault.rise_s, surge.duration_s),
            hold_s=max(surge.duration_s - fault.rise_s, 0.0),
            duration_s=self.load.duration_s,
        )

    def phase_names(self) -> list[str]:
        names = ["overall"]
        if self.faults:
            names += ["baseline", *(f"during:{f.name}" for f in self.faults), "recovery"]
        return names
