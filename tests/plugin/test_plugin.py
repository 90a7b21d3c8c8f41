"""The pytest plugin as users meet it, through pytester in a subprocess."""

from __future__ import annotations

import json

import pytest

# These tests are about lifecycle and verdicts, not the generator's punctuality on a busy
# machine: a generator up to 100 ms late (p99) does not invalidate their runs.
SCENARIO = """\
name: plugin-short
load: {rate: 20, duration_s: 2, timeout_s: 5, max_lag_ms: 100}
faults:
  - {name: slow, type: latency, target: feature-store, start_s: 0.5, duration_s: 1,
     attributes: {latency: 60}}
budgets:
  - error_rate < 0.01
  - expect: p50_ms < %s
    phase: during:slow
"""

TEST_FILE = """\
import pytest

def test_fixture(chaos):
    result = chaos.run("short.yaml")
    assert result.phases["overall"].requests == 40

@pytest.mark.chaos_scenario("short.yaml")
def test_marker(chaos_result):
    assert chaos_result.passed
"""


def test_options_and_ini_twins_show_in_help_and_header(pytester: pytest.Pytester) -> None:
    help_run = pytester.runpytest_subprocess("--help")
    help_run.stdout.fnmatch_lines(["*serving-chaos*", "*--chaos-backend*", "*--chaos-report-dir*"])
    help_run.stdout.fnmatch_lines(["*chaos_backend*", "*chaos_report_dir*"])

    pytester.makeini("[pytest]\nchaos_report_dir = from-ini\n")
    pytester.makepyfile("def test_nothing_to_do():\n    assert 1 + 1 == 2\n")
    from_ini = pytester.runpytest_subprocess()
    from_ini.stdout.fnmatch_lines(["serving-chaos: backend=auto, report-dir=from-ini"])
    from_flag = pytester.runpytest_subprocess(
        "--chaos-report-dir", "from-flag", "--chaos-backend", "process"
    )
    from_flag.stdout.fnmatch_lines(["serving-chaos: backend=process, report-dir=from-flag"])


def test_unknown_backend_is_a_usage_error_naming_value_and_choices(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--chaos-backend", "kubernetes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # fnmatch would read the brackets as a character class: compare the text itself.
    expected = "expected --chaos-backend in ['auto', 'process', 'docker'] but got 'kubernetes'"
    assert expected in result.stderr.str()


def test_scenarios_pass_through_fixture_and_marker_and_write_reports(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", short=SCENARIO % 1000)
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("--chaos-report-dir", "out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*serving-chaos verdicts*", "PASS plugin-short*"])
    written = sorted(pytester.path.joinpath("out").rglob("results.json"))
    assert len(written) == 2
    assert all(json.loads(path.read_text())["passed"] for path in written)


def test_violated_budget_fails_the_test_with_the_verdict_table(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", short=SCENARIO % 5)
    pytester.makepyfile(TEST_FILE)
    # The process backend: the docker path of the same plugin runs in the test above.
    result = pytester.runpytest_subprocess("-k", "fixture", "--chaos-backend", "process")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r".*plugin-short \[(process|docker)\]: FAIL",
            r".*p50_ms < 5 .*during:slow .*FAIL",
            r".*expected p50_ms < 5",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_compose_option_shows_in_the_header(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing_to_do():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("--chaos-compose", "mine.yml")
    result.stdout.fnmatch_lines(
        ["serving-chaos: backend=auto, report-dir=not written, compose=mine.yml"]
    )


def test_the_plugin_refuses_a_bad_chaos_workers_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--chaos-workers", "many")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "serving-chaos: --chaos-workers: expected --workers N" in result.stderr.str()
