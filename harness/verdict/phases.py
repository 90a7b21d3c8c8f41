"""What each phase of a run measured, in the terms budgets read: requests, errors, availability,
percentiles, throughput, queue depth, body sizes; and the phase's whole latency curve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.loadgen.histograms import Tally
from harness.loadgen.recorder import Recorder
from harness.scenario.budgets import percentile_of, size_metric_of, stream_percentile_of

__all__ = ["PhaseStats", "phase_stats"]


@dataclass(frozen=True, slots=True)
class PhaseStats:
    """One phase's tally and length; answers every budget metric."""

    name: str
    tally: Tally
    start_s: float
    end_s: float
    # Tokens the endpoint generated in the phase, by its own counter (harness/run/tokens.py):
    # known for the whole run (overall) of a streamed load against an endpoint that counts
    # them; None otherwise.
    generated_tokens: float | None = None

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    @property
    def requests(self) -> int:
        return self.tally.requests

    @property
    def errors(self) -> int:
        return self.tally.errors

    def errors_by_class(self) -> dict[str, int]:
        return self.tally.errors_by_class()

    def value(self, metric: str) -> float | None:
        # With a client under test, what the phase measured is what the client's users saw.
        metric = metric.removeprefix("client.")
        percentile = percentile_of(metric)
        if percentile is not None:
            return self.tally.percentile_ms(percentile)
        streamed = stream_percentile_of(metric)
        if streamed is not None:
            stream = self.tally.stream
            return None if stream is None else stream.percentile_ms(*streamed)
        size = size_metric_of(metric)
        if size is not None:
            which, point = size
            sizes = (
                self.tally.request_bytes() if which == "request" else self.tally.response_bytes()
            )
            return None if sizes is None else sizes[point]
        requests = self.tally.requests
        plain: dict[str, float | None] = {
            "requests": requests,
            "errors": self.tally.errors,
            "error_rate": round(self.tally.errors / requests, 6) if requests else None,
            # The share of requests that succeeded: 1 - error_rate.
            "availability": round(1 - self.tally.errors / requests, 6) if requests else None,
            "throughput_rps": round(requests / self.seconds, 2) if self.seconds > 0 else None,
            "max_ms": self.tally.max_ms(),
            "max_queue_depth": self.tally.queue_depth,
            "timeouts": self.tally.failures.get("timeout", 0),
            **self._stream_values(),
        }
        return plain.get(metric)

    def _stream_values(self) -> dict[str, float | None]:
        stream, requests = self.tally.stream, self.tally.requests
        if stream is None:
            return {}
        return {
            "tokens_per_s": round(stream.tokens / self.seconds, 2) if self.seconds > 0 else None,
            # Every request counts, streamed or failed before its stream began.
            "goodput": round(stream.good / requests, 6) if requests else None,
            "cut_streams": stream.streams - stream.complete,
            **self._token_work(stream.tokens),
        }

    def _token_work(self, received: int) -> dict[str, float | None]:
        """The endpoint's generated tokens set against the ``received`` ones.

        ``token_amplification`` is tokens generated per token received: 1 when every token
        the endpoint made reached a caller once. ``duplicated_tokens`` is the tokens generated
        that no caller received as new: a client that restarts a cut stream from the start
        has every token the cut stream delivered generated again (and passes on only the
        ones its caller has not seen), and a cut also throws away the few tokens generated
        after it. A caller that passes a restarted stream's repeated tokens on counts them as
        received, so its duplicated work shows to its users instead of here. None where the
        endpoint does not count its tokens, or nothing was received.
        """
        generated = self.generated_tokens
        if generated is None:
            return {}
        return {
            "tokens_generated": generated,
            "token_amplification": round(generated / received, 4) if received else None,
            "duplicated_tokens": max(generated - received, 0.0) if received else None,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.value("error_rate") or 0.0,
            "p50_ms": self.value("p50_ms"),
            "p90_ms": self.value("p90_ms"),
            "p99_ms": self.value("p99_ms"),
            "max_ms": self.value("max_ms"),
            "throughput_rps": self.value("throughput_rps"),
            "max_queue_depth": self.tally.queue_depth,
            "seconds": round(self.seconds, 3),
            # Where the phase lies on the timeline, in seconds from the run's start.
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "errors_by_class": self.errors_by_class(),
            # [percentile, ms] from the fastest request (0) to the slowest (100).
            "distribution": self.tally.distribution_ms(),
            # {"p50", "p99", "max"} bytes of the bodies, or None where no size was known.
            "request_bytes": self.tally.request_bytes(),
            "response_bytes": self.tally.response_bytes(),
            # Streamed answers (load.stream): None for a run of whole answers.
            "stream": self._stream_summary(),
        }

    def _stream_summary(self) -> dict[str, Any] | None:
        if self.tally.stream is None:
            return None
        values = self._stream_values()
        return {
            **self.tally.stream.summary(),
            "tokens_per_s": values["tokens_per_s"],
            "goodput": values["goodput"],
            **self._token_work(self.tally.stream.tokens),
        }


def phase_stats(recorder: Recorder, run_s: float) -> dict[str, PhaseStats]:
    """Each phase's tally with where it lies in a run of ``run_s`` seconds."""
    spans = recorder.clock.spans(run_s)
    return {name: PhaseStats(name, tally, *spans[name]) for name, tally in recorder.phases.items()}
