"""The Hypothesis profiles the plugin registers, loaded by name from the command line."""

from __future__ import annotations

import pytest

TEST_FILE = """\
from hypothesis import HealthCheck, settings

def test_profile():
    assert settings.default.max_examples == {examples}
    assert settings.default.deadline is None
    assert HealthCheck.function_scoped_fixture in settings.default.suppress_health_check
"""


@pytest.mark.parametrize(("profile", "examples"), [("ci", 2), ("deep", 200)])
def test_a_profile_loads_from_the_command_line(
    pytester: pytest.Pytester, profile: str, examples: int
) -> None:
    pytester.makepyfile(TEST_FILE.format(examples=examples))
    run = pytester.runpytest_subprocess(f"--hypothesis-profile=serving-chaos-{profile}")
    run.assert_outcomes(passed=1)


def test_an_unknown_profile_is_still_hypothesis_s_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_FILE.format(examples=2))
    run = pytester.runpytest_subprocess("--hypothesis-profile=serving-chaos-nope")
    assert run.ret != 0
    run.stderr.fnmatch_lines(["*serving-chaos-nope*"])
