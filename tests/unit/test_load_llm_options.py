"""`serving-chaos load` for an LLM endpoint: ``--stream``, ``--slo-*`` and ``--llm-*`` read into
the plan a scenario's ``load.stream``/``load.slo``/``load.llm`` would make, bad values answered
with exit 2 and a message naming the flag, and the streamed measures in the results."""

from __future__ import annotations

import json

import pytest

from harness.cli import build_parser
from harness.errors import UsageError
from harness.loadgen.engine import Plan
from harness.loadgen.lengths import (
    FixedLength,
    Length,
    LogNormalLength,
    SampledLength,
    UniformLength,
)
from harness.loadgen.llm_options import length_from_flag
from harness.loadgen.options import plan_from
from harness.loadgen.payloads import AcceptAny, SampleBodies
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.streams import StreamSlo, StreamTimes
from harness.loadgen.summary import LoadResult
from tests.cli import Cli

URL = "http://127.0.0.1:9/v1/chat/completions"
RUN = ("--rate", "1", "--duration", "1", "--workers", "1", "--quiet")
LLM = ("--llm-prompt-tokens", "100", "--llm-max-tokens", "16")
# HDR histograms keep 3 significant digits.
HDR = 1e-3


def _plan(*argv: str) -> Plan:
    args = build_parser().parse_args(["load", "--url", URL, *RUN, *argv])
    plan, _ = plan_from(args)
    return plan


@pytest.mark.parametrize(
    ("spelled", "length"),
    [
        ("500", FixedLength(500)),
        (" fixed:7 ", FixedLength(7)),
        ("1e3", FixedLength(1000)),
        ("16,32,64", SampledLength((16, 32, 64))),
        ("16, 16 ,64", SampledLength((16, 16, 64))),
        ("uniform:100:400", UniformLength(100, 400)),
        ("Uniform:5:5", UniformLength(5, 5)),
        ("lognormal:500:0.4", LogNormalLength(500.0, 0.4)),
        ("lognormal:500:0.4:2000", LogNormalLength(500.0, 0.4, 2000)),
    ],
)
def test_a_length_is_spelled_compactly_into_the_scenarios_values(
    spelled: str, length: Length
) -> None:
    assert length_from_flag(spelled, "--llm-prompt-tokens") == length


@pytest.mark.parametrize(
    ("spelled", "message"),
    [
        ("", "expected a number but got ''"),
        ("many", "expected a number but got 'many'"),
        ("0", "expected --llm-max-tokens >= 1 token"),
        ("2.5", "expected a whole number of tokens"),
        ("nan", "expected a finite number"),
        ("16,,64", "expected a number but got ''"),
        ("gamma:2:3", "expected a kind among ['fixed', 'lognormal', 'uniform']"),
        ("uniform:5", "expected uniform:LOWER:UPPER but got 1 number"),
        ("uniform:9:3", "expected lower <= upper"),
        ("lognormal:5:1:9:9", "expected lognormal:MEDIAN:SIGMA[:CAP] but got 4 numbers"),
        ("lognormal:500:-1", "expected sigma >= 0"),
        ("lognormal:500:0.4:100", "expected cap >= median"),
    ],
)
def test_a_bad_length_names_the_flag_the_value_and_the_spelling(spelled: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        length_from_flag(spelled, "--llm-max-tokens")

    said = str(caught.value)
    assert said.startswith(f"bad --llm-max-tokens {spelled!r}: ")
    assert message in said
    assert "uniform:LOWER:UPPER or lognormal:MEDIAN:SIGMA[:CAP]" in said


def test_stream_and_llm_flags_make_the_plan_a_scenario_would() -> None:
    plan = _plan(
        "--stream",
        *("--slo-ttft-ms", "500", "--slo-tpot-ms", "40", "--slo-e2e-ms", "3000"),
        *("--llm-prompt-tokens", "uniform:100:400", "--llm-max-tokens", "16,32"),
        *("--llm-model", "m", "--seed", "3"),
    )

    target = plan.target
    assert target.stream
    assert target.slo == StreamSlo(ttft_ms=500, tpot_ms=40, e2e_ms=3000)
    assert isinstance(target.validator, AcceptAny)
    assert isinstance(target.body, SampleBodies)
    assert len(target.body.samples) == 256
    first = json.loads(target.body(0))
    assert first["model"] == "m"
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["messages"][0]["role"] == "user"
    assert {json.loads(body)["max_tokens"] for body in target.body.samples} == {16, 32}
    # The same seed makes the same requests; another seed others.
    assert _plan("--stream", *LLM, "--seed", "3").target.body(5) == _plan(
        "--stream", *LLM, "--seed", "3"
    ).target.body(5)
    assert _plan(*LLM, "--seed", "3").target.body(5) != _plan(*LLM, "--seed", "4").target.body(5)


def test_completion_requests_without_stream_are_whole_answers_checked_for_nothing() -> None:
    plan = _plan(*LLM, "--llm-api", "completions")

    body = json.loads(plan.target.body(0))
    assert not plan.target.stream
    assert body["stream"] is False
    assert "stream_options" not in body
    assert len(body["prompt"].split()) == 100
    assert body["max_tokens"] == 16
    assert isinstance(plan.target.validator, AcceptAny)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--stream", *LLM, "--engine", "curl"],
            "--stream needs an engine that reads streamed answers (aiohttp, http1, native) "
            "but got --engine curl",
        ),
        (
            ["--stream", *LLM, "--workers", "ray"],
            "--stream is recorded by worker processes, not by Ray shards: use --workers N",
        ),
        (["--slo-ttft-ms", "500", *LLM], "--slo-ttft-ms judges streamed answers: add --stream"),
        (["--slo-e2e-ms", "100"], "--slo-e2e-ms judges streamed answers"),
        (["--stream", *LLM, "--slo-tpot-ms", "0"], "expected --slo-tpot-ms > 0 milliseconds"),
        (["--stream", *LLM, "--slo-ttft-ms", "nan"], "expected --slo-ttft-ms > 0"),
        (["--llm-prompt-tokens", "100"], "expected --llm-max-tokens with --llm-prompt-tokens"),
        (["--llm-api", "completions"], "expected --llm-prompt-tokens with --llm-api"),
        ([*LLM, "--body", "{}"], "give --llm-prompt-tokens/--llm-max-tokens or --body"),
        ([*LLM, "--body-file", "x.jsonl"], "or --body-file, not both"),
        ([*LLM, "--method", "GET"], "expected --method POST with --llm-* requests but got GET"),
        ([*LLM, "--seed", "-1"], "expected --seed >= 0 for --llm-* requests"),
        ([*LLM, "--llm-model", " "], "expected --llm-model NAME, a non-empty name"),
        (["--stream"], "--stream needs POST bodies that ask for a stream"),
        (
            ["--stream", "--body", "{}", "--validate", "predictions"],
            "--validate predictions checks whole answers",
        ),
        (["--llm-prompt-tokens", "uniform:1", "--llm-max-tokens", "8"], "bad --llm-prompt-tokens"),
        (["--stream", *LLM, "--slo-ttft-ms", "soon"], "argument --slo-ttft-ms: invalid float"),
        ([*LLM, "--llm-api", "embeddings"], "argument --llm-api: invalid choice"),
    ],
)
def test_bad_llm_flags_exit_2_naming_the_flag(argv: list[str], message: str, cli: Cli) -> None:
    ran = cli("load", "--url", URL, *RUN, *argv)

    assert ran.code == 2
    assert message in ran.err
    assert "Traceback" not in ran.err


def _streams(recorder: Recorder) -> None:
    """Three requests: two streams of 5 tokens (one meeting the objectives), one cut."""
    answers = [
        (0.0, StreamTimes(0.1, 0.2, (0.05,) * 4, 5, True, 0.4), True),
        (0.5, StreamTimes(0.3, 0.4, (0.10,) * 4, 5, True, 0.8), False),
        (0.9, StreamTimes(0.1, 0.2, (), 1, False, 0.3), False),
    ]
    for intended, times, good in answers:
        cut = not times.complete
        recorder.completed(
            intended,
            intended,
            intended + times.total_s,
            status=None if cut else 200,
            failure="stream_cut" if cut else None,
        )
        recorder.streamed(intended, times, good)


def _result(recorder: Recorder, *, stream: bool) -> LoadResult:
    stats = GeneratorStats(scheduled=3, sent=3)
    return LoadResult(
        URL,
        "open-loop",
        "constant 3/s",
        2,
        "native",
        2.0,
        recorder,
        stats,
        stream=stream,
        slo=StreamSlo(ttft_ms=300),
    )


def test_streamed_results_hold_the_phase_stream_measures_merged_over_workers() -> None:
    parts = [Recorder(), Recorder()]
    _streams(parts[0])
    _streams(parts[1])
    merged = Recorder()
    for part in parts:
        merged.merge_encoded(part.encode())

    data = _result(merged, stream=True).to_json()

    stream = data["stream"]
    assert (stream["streams"], stream["complete"], stream["cut"]) == (6, 4, 2)
    assert (stream["tokens"], stream["good"]) == (22, 2)
    # Tokens over the schedule's 2 seconds; goodput the share of all 6 requests.
    assert stream["tokens_per_s"] == 11.0
    assert stream["goodput"] == pytest.approx(2 / 6, abs=1e-6)
    assert stream["ttft_ms"]["p50"] == pytest.approx(200, rel=HDR)
    assert stream["ttft_ms"]["p99"] == pytest.approx(400, rel=HDR)
    assert stream["itl_ms"]["p50"] == pytest.approx(50, rel=HDR)
    assert stream["itl_ms"]["p99"] == pytest.approx(100, rel=HDR)
    assert stream["tpot_ms"]["p90"] == pytest.approx(100, rel=HDR)
    # Time to first byte of every stream, the cut one too: 0.1, 0.3 and 0.1 s.
    assert stream["ttfb_ms"]["p50"] == pytest.approx(100, rel=HDR)
    assert stream["ttfb_ms"]["p99"] == pytest.approx(300, rel=HDR)
    assert stream["slo"] == {"ttft_ms": 300}
    assert data["failures"] == {"stream_cut": 2}


def test_the_summary_lines_say_the_stream_measures_and_the_objectives() -> None:
    recorder = Recorder()
    _streams(recorder)

    lines = "\n".join(_result(recorder, stream=True).summary_lines())

    assert "stream TTFB p50 100" in lines
    assert "TTFT p50 200" in lines
    assert "ITL p50 50" in lines
    assert "streams 3  complete 2  cut 1  tokens 11 (5.5/s)" in lines
    assert "goodput 0.333333 (1 good, SLO ttft<=300)" in lines


def test_a_stream_run_where_nothing_streamed_reports_zero_streams() -> None:
    recorder = Recorder()
    recorder.completed(0.0, 0.0, 0.01, status=None, failure="connection")

    stream = _result(recorder, stream=True).to_json()["stream"]

    assert (stream["streams"], stream["tokens"], stream["goodput"]) == (0, 0, 0.0)
    assert stream["ttft_ms"]["p50"] is None


def test_whole_answers_have_no_stream_section() -> None:
    recorder = Recorder()
    recorder.completed(0.0, 0.0, 0.01, status=200, failure=None)

    result = _result(recorder, stream=False)

    assert result.to_json()["stream"] is None
    assert result.to_json()["llm"] is None
    assert not any(line.startswith("stream") for line in result.summary_lines())
