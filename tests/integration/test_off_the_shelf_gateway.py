"""An LLM gateway nobody here wrote: LiteLLM's proxy (from PyPI, installed by provisioning in a
venv of its own) started by ``target.command``, streaming chat completions from its provider,
which the scenario stubs as a routes dependency that streams a canned answer. The caller is the
OpenAI SDK, a client under test. Stream faults aimed at the provider's hop reach the gateway's
callers in their windows and nowhere else. Everything binds 127.0.0.1 (process backend)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

openai = pytest.importorskip("openai")

VENV = Path(__file__).resolve().parents[2] / ".tools" / "venvs" / "litellm"
# The gateway refuses to start without a strong master key; its callers present it.
KEY = "sk-" + secrets.token_hex(24)
CONFIG = """\
model_list:
  - model_name: chat
    litellm_params: {model: openai/chat, api_base: os.environ/PROVIDER_URL, api_key: stub}
litellm_settings: {telemetry: false}
"""
WORDS = "one two three four five six seven eight nine ten eleven twelve"
EVENTS_PER_S = 40.0
STALL_MS = 400


def gateway_stream(url: str, payload: dict[str, Any]) -> Any:
    """The gateway's caller: the OpenAI SDK, streaming, with the gateway's key."""
    base = re.sub(r"/chat/completions$", "", url)
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=3.0)
    return client.chat.completions.create(model="chat", messages=payload["messages"], stream=True)


@pytest.fixture(scope="module")
def litellm(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that starts LiteLLM's proxy on ``{port}``, its provider at PROVIDER_URL."""
    if not (VENV / ".installed").is_file():
        pytest.skip("LiteLLM is not installed: run `make provision` (needs a package index)")
    config = tmp_path_factory.mktemp("litellm") / "config.yaml"
    config.write_text(CONFIG)
    # The cost map from the package, not fetched: the machine may have no way out.
    settings = f"LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_MASTER_KEY={KEY}"
    litellm = VENV / "bin" / "litellm"
    return [
        "/bin/sh",
        "-c",
        f"{settings} exec {litellm} --config {config} --host 127.0.0.1 --port {{port}}",
    ]


def test_stream_faults_on_its_provider_reach_the_callers_of_an_off_the_shelf_gateway(
    litellm: list[str],
) -> None:
    route = {
        "method": "POST",
        "path": "/chat/completions",
        "response": {"stream": {"chat": {"text": WORDS}, "events_per_s": EVENTS_PER_S}},
    }
    scenario = parse_scenario(
        f"""\
name: llm-gateway
target:
  command: {json.dumps(litellm)}
  invocations_path: /v1/chat/completions
  health_path: /health/liveliness
dependencies:
  provider: {{kind: routes, env: PROVIDER_URL, routes: [{json.dumps(route)}]}}
client:
  callable: tests.integration.test_off_the_shelf_gateway:gateway_stream
  payload: {{messages: [{{role: user, content: hi}}]}}
load: {{rate: 5, duration_s: 6.5, timeout_s: 3, stream: true}}
faults:
  - {{name: stall, type: stream, target: provider, start_s: 1, duration_s: 1.5,
     attributes: {{action: stall, after_events: 3, stall_ms: {STALL_MS}}}}}
  - {{name: cut, type: stream, target: provider, start_s: 3.5, duration_s: 1.5,
     attributes: {{action: cut, after_events: 3}}}}
"""
    )
    result = run_scenario(scenario, backend="process")
    phases = result.phases

    def value(phase: str, metric: str) -> float:
        found = phases[phase].value(metric)
        assert found is not None, (phase, metric)
        return found

    stall, cut = phases["during:stall"], phases["during:cut"]
    # The provider's stall holds each relayed stream once, for about its length; none fails.
    assert stall.requests > 0
    assert stall.errors == 0
    assert value("during:stall", "itl_p99_ms") >= STALL_MS * 0.9
    # The provider's cut breaks the gateway's streams: its callers see them end short.
    assert cut.requests > 0
    assert cut.errors >= cut.requests - 1
    assert result.dependencies["provider"]["faults_injected"]["stream"] >= (
        stall.requests + cut.requests - 2
    )
    # Before and after, every answer streams whole (the stub switches a fault as each call
    # arrives, phases go by intended start: one call at an edge is let off). After, at the
    # provider's pace; before, the gateway's first answers come late and all at once while it
    # warms up, so only their outcome is judged.
    for phase in ("baseline", "recovery"):
        assert phases[phase].requests > 0, phase
        assert phases[phase].errors <= 1, phase
    assert value("recovery", "itl_p50_ms") == pytest.approx(1000 / EVENTS_PER_S, rel=0.25)
