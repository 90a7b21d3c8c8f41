"""Screenshot of a report.html, taken by headless chromium with networking off.

    .venv/bin/python scripts/report_screenshot.py reports/demo/report.html docs/report.png \
        --before chart-responses

The page is opened from the file with every request other than the file itself refused, so
the picture is what an offline reader sees. Needs playwright (the dev extra) and a chromium
(scripts/provision_browser.sh installs Debian's); SERVING_CHAOS_CHROMIUM names another.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

WIDTH = 1200


def find_chromium() -> str | None:
    for name in (os.environ.get("SERVING_CHAOS_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


def screenshot(
    report: Path, out: Path, *, width: int, height: int | None, before: str | None
) -> int:
    """Writes the PNG, the whole page or its top ``height`` pixels or the part above the
    element whose id is ``before``; returns how many outside requests were refused."""
    from playwright.sync_api import FloatRect, Route, sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium found: run scripts/provision_browser.sh first")
    url = report.resolve().as_uri()
    refused: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height or 900})
            context.set_offline(True)
            context.route("**/*", only_the_file)
            page = context.new_page()
            page.goto(url)
            if before is not None:
                top = page.evaluate(
                    "id => { const e = document.getElementById(id);"
                    " return e ? e.getBoundingClientRect().top + window.scrollY : null; }",
                    before,
                )
                if top is None:
                    raise SystemExit(f"no element with id={before} in {report}")
                height = int(top) - 8
            if height is None:
                page.screenshot(path=str(out), full_page=True)
            else:
                clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": height}
                page.screenshot(path=str(out), full_page=True, clip=clip)
        finally:
            browser.close()
    return len(refused)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=WIDTH, help="viewport width in pixels")
    parser.add_argument(
        "--height", type=int, default=None, help="crop to this many pixels from the top"
    )
    parser.add_argument("--before", default=None, help="crop just above the element with this id")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"expected a report.html file but got report={args.report}")
    refused = screenshot(
        args.report, args.out, width=args.width, height=args.height, before=args.before
    )
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size // 1024} KiB); {refused} outside requests refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
