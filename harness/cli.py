"""`serving-chaos`: run scenarios, drive standalone load, serve the reference endpoint and stubs.

Exit codes: 0 every budget held, 1 a budget was violated (or the run was invalid), 2 bad usage,
an invalid scenario or a missing tool, 3 the topology could not be brought up, 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from harness.errors import (
    ChaosError,
    ProvisioningError,
    ScenarioError,
    TopologyError,
    UsageError,
)
from harness.system.backends import BACKENDS

__all__ = ["build_parser", "main"]

EXIT_PASSED, EXIT_VIOLATED, EXIT_USAGE, EXIT_TOPOLOGY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, so every `finally` and context manager tears down.
    raise KeyboardInterrupt


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.errors import HarnessServiceLost
    from harness.loadgen.live import LiveProgress
    from harness.report import print_verdict
    from harness.run.runner import run_scenario
    from harness.scenario import load_scenario, with_client
    from harness.system import HostSettings, backend_for

    scenario = load_scenario(args.scenario)
    if args.client is not None:
        scenario = with_client(scenario, args.client)
    settings = HostSettings.from_environment(compose=args.compose)
    out = Console()
    err = Console(stderr=True, soft_wrap=True)
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
            )
    except HarnessServiceLost as lost:
        err.print(f"serving-chaos: the run is invalid: {lost}", markup=False, highlight=False)
        err.print(f"partial results written to {args.report_dir}", markup=False, highlight=False)
        return EXIT_TOPOLOGY
    print_verdict(result, out)
    if args.junit is not None:
        from harness.report.junit import run_cases, write_junit

        write_junit(args.junit, f"run {result.scenario}", run_cases(result), result.duration_s)
    results_path, report_path = args.report_dir / "results.json", args.report_dir / "report.html"
    out.print(
        f"wrote {results_path} and {report_path}", markup=False, highlight=False, soft_wrap=True
    )
    return EXIT_PASSED if result.passed else EXIT_VIOLATED


def _cmd_certify(args: argparse.Namespace) -> int:
    from harness.certify import certify, load_readiness, write_certificate
    from harness.system import HostSettings

    spec = load_readiness(args.spec, profile=args.profile)
    err = Console(stderr=True, soft_wrap=True)
    out = Console(soft_wrap=True)
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
    )
    verdict = "READY" if certificate.ready else "NOT READY"
    out.print(f"{spec.name}: {verdict}", markup=False)
    for check in certificate.checks:
        shown = check.to_json()["verdict"]
        out.print(f"  {check.name:<13} {shown:<5} {check.summary}", markup=False, highlight=False)
    out.print(f"  recommended: {certificate.recommendation()}", markup=False, highlight=False)
    written = write_certificate(certificate, args.report_dir, args.junit)
    out.print("wrote " + ", ".join(map(str, written)), markup=False, highlight=False)
    return EXIT_PASSED if certificate.ready else EXIT_VIOLATED


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
    Console().print(f"{built} tagged {args.tag}", markup=False, highlight=False)
    return EXIT_PASSED


def _cmd_proxies(args: argparse.Namespace) -> int:
    from harness.system.compose_tools import ProxySpec, create_proxies

    create_proxies(args.api, [ProxySpec.parse(text) for text in args.proxy])
    return EXIT_PASSED


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
        "call(url, payload), sync or async, or a reference client (naive, fixed_retries, "
        "resilient, resilient_async, batched, cached); overrides the scenario's client",
    )
    run.add_argument("--junit", type=Path, default=None, help="also write JUnit XML here")
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
    certify.set_defaults(handler=_cmd_certify)

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
    err = Console(stderr=True, soft_wrap=True)
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
