"""README's examples are tests: the plugin snippet runs as written against the shipped scenario."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_plugin_example_passes(pytester: pytest.Pytester) -> None:
    (snippet,) = _python_blocks((ROOT / "README.md").read_text())
    scenarios = pytester.path / "scenarios"
    scenarios.mkdir()
    shutil.copy(ROOT / "suites" / "scenarios" / "feature_store_latency.yaml", scenarios)
    pytester.makepyfile(test_readme_example=snippet)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_readme_scenario_block_is_the_shipped_file_in_short() -> None:
    readme = (ROOT / "README.md").read_text()
    shipped = (ROOT / "suites" / "scenarios" / "feature_store_latency.yaml").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    for line in block.splitlines():
        key = line.split("#")[0].strip()
        if key.startswith(("name:", "start_s:", "duration_s:", "target:", "type:")):
            assert key in shipped, key
