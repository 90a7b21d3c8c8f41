"""`serving-chaos`: run scenarios, compare two runs, explore fault schedules, import an incident
from its logs, drive standalone load, serve the reference endpoint and stubs.

Exit codes: 0 every budget held, 1 a budget was violated (or the run was invalid, or `compare`
found a regression), 2 bad usage, an invalid scenario or a missing tool, 3 the topology could
not be brought up, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console

from harness.clients import REFERENCE_CLIENTS
from harness.errors import (
    ChaosError,
    ProvisioningError,
    ScenarioError,
    TopologyError,
    UsageError,
)
from harness.system.backends import BACKENDS

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from harness.explore import Example

__all__ = ["build_parser", "main"]

EXIT_PASSED, EXIT_VIOLATED, EXIT_USAGE, EXIT_TOPOLOGY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, so every `finally` and context manager tears down.
    raise KeyboardInterrupt


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.errors import HarnessServiceLost
    from harness.loadgen.live import LiveProgress
    from harness.loadgen.ray_shards import ray_workers
    from harness.report import print_verdict
    from harness.report.metrics_export import run_registry
    from harness.run.runner import run_scenario
    from harness.scenario import load_scenario, with_client
    from harness.system import HostSettings, backend_for

    _check_exports(args)
    workers = ray_workers(args.workers, args.shards)
    scenario = load_scenario(args.scenario)
    if args.client is not None:
        scenario = with_client(scenario, args.client)
    settings = HostSettings.from_environment(compose=args.compose)
    out = Console(emoji=False)
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    needs_limits = scenario.needs_limits
    backend = backend_for(scenario.system, args.backend, needs_limits=needs_limits)
    err.print(
        f"serving-chaos: {scenario.name}: {scenario.load.rate:g} req/s for "
        f"{scenario.load.duration_s:g}s on the {backend} backend",
        markup=False,
    )
    try:
        with LiveProgress(err, scenario.load.duration_s) as progress:
            result = run_scenario(
                scenario,
                backend=backend,
                progress=progress,
                settings=settings,
                report_dir=args.report_dir,
                workers=workers,
            )
    except HarnessServiceLost as lost:
        err.print(f"serving-chaos: the run is invalid: {lost}", markup=False, highlight=False)
        err.print(f"partial results written to {args.report_dir}", markup=False, highlight=False)
        if lost.result is not None:
            partial = lost.result
            group = {"scenario": scenario.name}
            _export_metrics(args, lambda: run_registry(partial.to_json()), group, out)
        return EXIT_TOPOLOGY
    print_verdict(result, out)
    if args.junit is not None:
        from harness.report.junit import run_cases, write_junit

        write_junit(args.junit, f"run {result.scenario}", run_cases(result), result.duration_s)
    results_path, report_path = args.report_dir / "results.json", args.report_dir / "report.html"
    out.print(
        f"wrote {results_path} and {report_path}", markup=False, highlight=False, soft_wrap=True
    )
    group = {"scenario": result.scenario}
    _export_metrics(args, lambda: run_registry(result.to_json()), group, out)
    return EXIT_PASSED if result.passed else EXIT_VIOLATED


def _add_workers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        default=None,
        metavar="ray|ray://HOST:PORT",
        help="send the load from Ray shards, one per CPU, instead of this process: ray starts "
        "a local Ray for the run, ray://HOST:PORT uses a cluster (pip install "
        "'serving-chaos[ray]'); faults, phases and budgets stay here",
    )
    parser.add_argument("--shards", type=int, default=None, help="with --workers: how many shards")


def _check_exports(args: argparse.Namespace) -> None:
    """Refuse a bad --prometheus-textfile or --pushgateway before anything starts."""
    from harness.report.metrics_export import check_pushgateway_url, check_textfile

    if args.prometheus_textfile is not None:
        check_textfile(args.prometheus_textfile)
    if args.pushgateway is not None:
        check_pushgateway_url(args.pushgateway)


def _export_metrics(
    args: argparse.Namespace,
    registry: Callable[[], CollectorRegistry],
    grouping_key: Mapping[str, str],
    out: Console,
) -> None:
    """Write and push the metrics asked for (``registry`` builds them only then). A failure
    is a warning naming the file or URL: the verdict already printed and the files already
    written stand, and so does the exit code, which stays the verdict's."""
    from harness.report.metrics_export import ExportError, push_metrics, write_textfile

    if args.prometheus_textfile is None and args.pushgateway is None:
        return
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    built = registry()
    if args.prometheus_textfile is not None:
        try:
            written = write_textfile(built, args.prometheus_textfile)
            out.print(f"wrote metrics to {written}", markup=False, highlight=False, soft_wrap=True)
        except ExportError as exc:
            err.print(f"serving-chaos: warning: {exc}", markup=False, highlight=False)
    if args.pushgateway is not None:
        url = args.pushgateway.rstrip("/")
        try:
            group = push_metrics(built, url, grouping_key)
            out.print(
                f"pushed metrics to {url}{group}", markup=False, highlight=False, soft_wrap=True
            )
        except ExportError as exc:
            err.print(
                f"serving-chaos: warning: {exc}; the metrics were not exported, the verdict "
                "and exit code above stand",
                markup=False,
                highlight=False,
            )


def _cmd_certify(args: argparse.Namespace) -> int:
    from harness.certify import certify, load_readiness, write_certificate
    from harness.loadgen.ray_shards import ray_workers
    from harness.report.metrics_export import certificate_registry
    from harness.system import HostSettings

    _check_exports(args)
    workers = ray_workers(args.workers, args.shards)
    spec = load_readiness(args.spec, profile=args.profile)
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    out = Console(soft_wrap=True, emoji=False)
    err.print(
        f"serving-chaos: certifying {spec.name} ({spec.profile.name} profile): "
        f"{', '.join(spec.checks)}",
        markup=False,
    )
    certificate = certify(
        spec,
        backend=args.backend,
        settings=HostSettings.from_environment(compose=args.compose),
        say=lambda line: err.print(line, markup=False, highlight=False),
        workers=workers,
    )
    verdict = "READY" if certificate.ready else "NOT READY"
    out.print(f"{spec.name}: {verdict}", markup=False)
    for check in certificate.checks:
        shown = check.to_json()["verdict"]
        out.print(f"  {check.name:<13} {shown:<5} {check.summary}", markup=False, highlight=False)
    out.print(f"  recommended: {certificate.recommendation()}", markup=False, highlight=False)
    written = write_certificate(certificate, args.report_dir, args.junit)
    out.print("wrote " + ", ".join(map(str, written)), markup=False, highlight=False)
    group = {"spec": spec.name}
    _export_metrics(args, lambda: certificate_registry(certificate.to_json()), group, out)
    return EXIT_PASSED if certificate.ready else EXIT_VIOLATED


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import (
        Tolerance,
        compare_runs,
        load_run,
        parse_tolerance,
        print_comparison,
        write_comparison,
    )

    tolerance = Tolerance(relative=parse_tolerance(args.tolerance))
    baseline, candidate = load_run(args.baseline), load_run(args.candidate)
    comparison = compare_runs(baseline, candidate, tolerance, force=args.force)
    out = Console(soft_wrap=True, emoji=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Two runs side by side need room; a CI log has it where a terminal might not.
        out.width = 120
    print_comparison(comparison, out)
    json_path, html_path = write_comparison(comparison, args.report_dir)
    out.print(f"wrote {json_path} and {html_path}", markup=False, highlight=False)
    return EXIT_PASSED if comparison.verdict == "NO REGRESSION" else EXIT_VIOLATED


def _cmd_explore(args: argparse.Namespace) -> int:
    from harness.explore import (
        FLAKY,
        FOUND,
        ExampleLog,
        ExploreOptions,
        describe_schedule,
        explore,
        load_palette,
        parse_time_limit,
        write_exploration,
    )
    from harness.scenario import load_scenario
    from harness.system import HostSettings

    if args.max_examples < 1:
        raise UsageError(f"expected --max-examples >= 1 but got {args.max_examples}")
    time_limit_s = parse_time_limit(args.time_limit)
    scenario = load_scenario(args.scenario)
    palette = load_palette(args.palette, scenario)
    report_dir: Path = args.report_dir
    options = ExploreOptions(
        max_examples=args.max_examples,
        time_limit_s=time_limit_s,
        seed=args.seed,
        database=args.database,
    )
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    out = Console(soft_wrap=True, emoji=False)
    err.print(
        f"serving-chaos: exploring {scenario.name} with palette {palette.name}: up to "
        f"{args.max_examples} examples of {palette.run_s:g}s, at most {len(palette.options)} "
        f"fault choices, {palette.max_faults} at once, within {time_limit_s:g}s",
        markup=False,
        highlight=False,
    )
    log = ExampleLog(report_dir / "explore.jsonl")

    def say(example: Example) -> None:
        log.write(example)
        err.print(example.line(), markup=False, highlight=False)

    try:
        exploration = explore(
            scenario,
            palette,
            options,
            backend=args.backend,
            settings=HostSettings.from_environment(compose=args.compose),
            database_root=args.database or report_dir / "examples",
            say=say,
        )
    finally:
        log.close()
    command = f"serving-chaos explore {args.scenario} --palette {args.palette}"
    written = write_exploration(
        exploration, report_dir, command=command, original_text=args.scenario.read_text()
    )
    timing = f"{exploration.runs} examples in {exploration.elapsed_s:.0f}s"
    if exploration.timed_out:
        timing += f", time limit reached: {exploration.skipped} more drawn examples declined"
    for note in exploration.notes:
        err.print(f"serving-chaos: {note}", markup=False, highlight=False)
    if exploration.dropped_budgets:
        err.print(
            "serving-chaos: budgets on the scenario's own fault windows were left out: "
            + ", ".join(exploration.dropped_budgets),
            markup=False,
            highlight=False,
        )
    smallest = describe_schedule(exploration.minimal or ())
    if exploration.outcome == FOUND:
        out.print(f"FOUND: {smallest} ({timing})", markup=False, highlight=False)
    elif exploration.outcome == FLAKY:
        out.print(
            f"FLAKY: {smallest} broke a budget once and held on the rerun; not reported as "
            f"found ({timing})",
            markup=False,
            highlight=False,
        )
    else:
        out.print(f"no failure found in {timing}", markup=False, highlight=False)
    out.print("wrote " + ", ".join(map(str, written)), markup=False, highlight=False)
    return EXIT_VIOLATED if exploration.outcome in (FOUND, FLAKY) else EXIT_PASSED


def _cmd_load(args: argparse.Namespace) -> int:
    from harness.loadgen.command import run_load

    return run_load(args)


def _cmd_endpoint(args: argparse.Namespace) -> int:
    from harness.servers import endpoint

    try:
        config = endpoint.config_from_args(args)
    except ValueError as exc:
        raise UsageError(f"serving-chaos endpoint: {exc}") from exc
    endpoint.serve(config)
    return EXIT_PASSED


def _cmd_stub(args: argparse.Namespace) -> int:
    from harness.servers import stub

    return stub.run(args)


def _cmd_front(args: argparse.Namespace) -> int:
    from harness.servers.front.cli import run as run_front

    return run_front(args)


def _cmd_record(args: argparse.Namespace) -> int:
    from harness.servers.stub.record import run as run_record

    return run_record(args)


def _cmd_image(args: argparse.Namespace) -> int:
    from harness.system.compose_tools import build_image

    built = build_image(args.tag, args.base)
    Console(emoji=False).print(f"{built} tagged {args.tag}", markup=False, highlight=False)
    return EXIT_PASSED


def _cmd_proxies(args: argparse.Namespace) -> int:
    from harness.system.compose_tools import ProxySpec, create_proxies

    create_proxies(args.api, [ProxySpec.parse(text) for text in args.proxy])
    return EXIT_PASSED


def _add_export_arguments(parser: argparse.ArgumentParser, group: str) -> None:
    parser.add_argument(
        "--prometheus-textfile",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the verdict and per-phase figures as Prometheus metrics "
        "(serving_chaos_*) to FILE, replaced atomically, for node_exporter's textfile "
        "collector (which reads only names ending in .prom)",
    )
    parser.add_argument(
        "--pushgateway",
        default=None,
        metavar="URL",
        help="also push those metrics to the Prometheus Pushgateway at URL (http://HOST:PORT) "
        f"under job serving_chaos, grouping key {group}; if it cannot be reached, a warning "
        "is printed and the exit code stays the verdict's",
    )


def _add_compare_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare two runs of one scenario (before and after a change); exit 1 on a regression",
        description="Compare a candidate run with a baseline run of the same scenario: every "
        "budget (matched by name and phase) and every phase's p50, p90, p99 and max latency, "
        "error rate and throughput, with the difference and whether it regressed. A figure "
        "regressed when it is worse (latency and error rate higher, throughput lower) by more "
        "than the tolerance of the baseline's value and by more than an absolute floor: "
        "1 ms of latency, 0.001 of error rate, 1 req/s of throughput (so 0 -> 0.0005 errors "
        "is noise, not +inf%). A budget that held in the baseline and broke in the candidate "
        "is a regression whatever the tolerance. Exit 0 no regression, 1 a regression (or "
        "either run was invalid), 2 bad usage or unreadable results.",
    )
    compare.add_argument(
        "baseline",
        type=Path,
        metavar="BASELINE",
        help="the run before the change: its report folder (holding results.json) or the file",
    )
    compare.add_argument(
        "candidate",
        type=Path,
        metavar="CANDIDATE",
        help="the run after the change: its report folder or results.json",
    )
    compare.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/compare"),
        help="where compare.json and compare.html go (default reports/compare)",
    )
    compare.add_argument(
        "--tolerance",
        default="10%",
        help="how much worse than the baseline a figure may be before it counts as a "
        "regression: a percentage (10%%) or a fraction (0.1) (default 10%%)",
    )
    compare.add_argument(
        "--force",
        action="store_true",
        help="compare runs of two different scenarios (refused otherwise)",
    )
    compare.set_defaults(handler=_cmd_compare)


def _add_explore_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explore = commands.add_parser(
        "explore",
        help="search fault schedules from a palette for one that breaks a budget, and shrink "
        "it to a minimal scenario file",
        description="Bring the scenario's system up once and let Hypothesis draw fault "
        "schedules from the palette; each example is a short run of the scenario with the "
        "drawn faults in place of its own, judged by its budgets. A broken budget is run once "
        "more and, if it breaks again, shrunk to the smallest schedule that still breaks it "
        "(fewer faults, shorter, milder, earlier), written as DIR/minimal.yaml, a complete "
        "scenario that `serving-chaos run` reproduces, with its results.json and report.html. "
        "Every run is logged to DIR/explore.jsonl. Exit 0 no failure found, 1 a failure found "
        "(or FLAKY: failures broke once but none again on its rerun; the smallest written as "
        "DIR/flaky.yaml), 2 bad usage, an invalid scenario or palette, 3 the system could not "
        "be brought up.",
    )
    explore.add_argument("scenario", type=Path, help="scenario YAML file")
    explore.add_argument(
        "--palette", type=Path, required=True, help="palette YAML file: what faults to draw"
    )
    explore.add_argument(
        "--max-examples",
        type=int,
        default=50,
        help="schedules to generate at most; shrinking runs come on top (default 50)",
    )
    explore.add_argument(
        "--time-limit",
        default="10m",
        help="the whole search, shrinking included: 90s, 10m, 1h (default 10m)",
    )
    explore.add_argument(
        "--seed",
        type=int,
        default=None,
        help="repeat a search exactly (Hypothesis then neither reads nor writes --database)",
    )
    explore.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/explore"),
        help="where explore.jsonl, explore.json, minimal.yaml and its reports go "
        "(default reports/explore)",
    )
    explore.add_argument(
        "--database",
        type=Path,
        default=None,
        help="where Hypothesis keeps failures so the next search tries them first "
        "(default REPORT_DIR/examples)",
    )
    explore.add_argument("--backend", choices=BACKENDS, default="auto", help="as for run")
    explore.add_argument("--compose", type=Path, default=None, help="as for run")
    explore.set_defaults(handler=_cmd_explore)


def _cmd_incident_import(args: argparse.Namespace) -> int:
    from harness.incident.scale import window
    from harness.incident.sources import parse_fields
    from harness.incident.write import ImportOptions, import_incident, summary_lines

    if args.max_bad_lines is not None and args.max_bad_lines < 0:
        raise UsageError(f"expected --max-bad-lines >= 0 but got {args.max_bad_lines}")
    options = ImportOptions(
        source=args.source,
        out=args.out,
        format=args.format,
        window=window(args.from_, args.to),
        speed=args.speed,
        drop_bodies=args.drop_bodies,
        fields=parse_fields(args.field),
        max_bad_lines=args.max_bad_lines,
        prom_errors=args.prom_errors,
        prom_latency=args.prom_latency,
        paths=tuple(args.path),
    )
    for line in summary_lines(import_incident(options)):
        print(line)
    return 0


def _add_incident_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    incident = commands.add_parser(
        "incident", help="turn a production incident's logs into a replayable scenario"
    )
    actions = incident.add_subparsers(dest="incident_command", required=True, metavar="ACTION")
    imported = actions.add_parser(
        "import",
        help="import an access log, request log table or Prometheus answer as a scenario",
        description="Read an incident source and write DIR/scenario.yaml (the traffic as a "
        "per-second trace in DIR/trace.csv, candidate fault windows as comments), "
        "DIR/signature.json (per second: rate, error rate by status class, p50/p99) and, "
        "when the source has request bodies, DIR/payloads.jsonl. Exit 0 written, 2 bad "
        "usage or unreadable input.",
    )
    imported.add_argument("source", type=Path, help="the incident source file")
    imported.add_argument(
        "--format",
        choices=("auto", "combined", "jsonl", "inference-table", "prometheus"),
        default="auto",
        help="source format (default auto: guessed from the name and first line)",
    )
    imported.add_argument(
        "--from",
        dest="from_",
        default=None,
        help="keep requests from this time (ISO 8601 or epoch)",
    )
    imported.add_argument(
        "--to", default=None, help="keep requests before this time (ISO 8601 or epoch)"
    )
    imported.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="divide the time axis by X (rates times X, total requests kept; default 1)",
    )
    imported.add_argument(
        "--drop-bodies", action="store_true", help="do not keep request bodies as payload samples"
    )
    imported.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=KEY",
        help="JSON lines field names, e.g. timestamp=ts,status=code,latency=dur_ms (ms), "
        "path=uri, size=request_length (request bytes)",
    )
    imported.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PREFIX",
        help="keep only requests whose path starts with PREFIX (repeatable), e.g. "
        "/serving-endpoints/ to leave health checks out",
    )
    imported.add_argument(
        "--max-bad-lines",
        type=int,
        default=None,
        help="fail when more lines than this are unreadable (default: more than 5%% of lines)",
    )
    imported.add_argument(
        "--prom-errors", type=Path, default=None, help="Prometheus answer of the error ratio (0-1)"
    )
    imported.add_argument(
        "--prom-latency",
        type=Path,
        default=None,
        help="Prometheus answer of a latency quantile in seconds",
    )
    imported.add_argument("--out", type=Path, required=True, help="where the scenario goes")
    imported.set_defaults(handler=_cmd_incident_import)


def build_parser() -> argparse.ArgumentParser:
    from harness.servers import endpoint, stub

    parser = argparse.ArgumentParser(
        prog="serving-chaos",
        description="Chaos and resilience testing for model-serving endpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario file and judge its budgets")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="where services run; auto takes docker when an engine answers (default auto)",
    )
    run.add_argument(
        "--compose",
        type=Path,
        default=None,
        help="compose file with the services' limits and environment, for the docker backend "
        "(default: the shipped docker-compose.yml; the process backend ignores it)",
    )
    run.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="where results.json goes"
    )
    run.add_argument(
        "--client",
        default=None,
        metavar="MODULE:FUNCTION",
        help="put your own client under test instead of the harness's HTTP engine: a callable "
        "call(url, payload), sync or async, or a reference client ("
        + ", ".join(REFERENCE_CLIENTS)
        + "); overrides the scenario's client",
    )
    run.add_argument("--junit", type=Path, default=None, help="also write JUnit XML here")
    _add_workers_arguments(run)
    _add_export_arguments(run, "scenario=NAME")
    run.set_defaults(handler=_cmd_run)

    certify = commands.add_parser(
        "certify", help="certify readiness for go-live against a goal: one verdict, one report"
    )
    certify.add_argument("spec", type=Path, help="readiness spec YAML file")
    certify.add_argument("--backend", choices=BACKENDS, default="auto", help="as for run")
    certify.add_argument("--compose", type=Path, default=None, help="as for run")
    certify.add_argument(
        "--profile",
        choices=("fast", "thorough"),
        default=None,
        help="how long each check runs (default: the spec's, else fast)",
    )
    certify.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        help="where certificate.json and certificate.html go",
    )
    certify.add_argument("--junit", type=Path, default=None, help="also write JUnit XML here")
    _add_workers_arguments(certify)
    _add_export_arguments(certify, "spec=NAME")
    certify.set_defaults(handler=_cmd_certify)

    _add_compare_parser(commands)
    _add_explore_parser(commands)
    _add_incident_parser(commands)

    load = commands.add_parser("load", help="standalone open-loop (or closed-loop) load")
    from harness.loadgen.options import add_arguments as add_load_arguments

    add_load_arguments(load)
    load.set_defaults(handler=_cmd_load)

    serve_endpoint = commands.add_parser("endpoint", help="run the reference serving endpoint")
    endpoint.add_arguments(serve_endpoint)
    serve_endpoint.set_defaults(handler=_cmd_endpoint)

    serve_stub = commands.add_parser("stub", help="run a stub of an external API")
    stub.add_arguments(serve_stub)
    serve_stub.set_defaults(handler=_cmd_stub)

    from harness.servers.front.cli import add_arguments as add_front_arguments
    from harness.servers.stub.record import add_arguments as add_record_arguments

    record = commands.add_parser(
        "record", help="record a real API's calls and answers, to replay them offline later"
    )
    add_record_arguments(record)
    record.set_defaults(handler=_cmd_record)

    front = commands.add_parser("front", help="run the HTTP fault layer in front of an endpoint")
    add_front_arguments(front)
    front.set_defaults(handler=_cmd_front)

    from harness.system.compose_tools import add_image_arguments, add_proxies_arguments

    image = commands.add_parser("image", help="build the serving image for docker compose up")
    add_image_arguments(image)
    image.set_defaults(handler=_cmd_image)

    proxies = commands.add_parser("proxies", help="create Toxiproxy proxies (compose start-up)")
    add_proxies_arguments(proxies)
    proxies.set_defaults(handler=_cmd_proxies)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Messages name files and URLs: never break them across lines.
    err = Console(stderr=True, soft_wrap=True, emoji=False)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        code: int = args.handler(args)
        return code
    except (ScenarioError, ProvisioningError, UsageError) as exc:
        err.print(f"serving-chaos: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    except TopologyError as exc:
        err.print(f"serving-chaos: a service failed: {exc}", markup=False, highlight=False)
        return EXIT_TOPOLOGY
    except ChaosError as exc:
        err.print(f"serving-chaos: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print(
            "serving-chaos: interrupted; everything it started has been stopped", markup=False
        )
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
