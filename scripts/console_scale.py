#!/usr/bin/env python3
"""How the console scales: build time and page size at multiples of the demo's data.

Feeds `build_timeline` synthetic documents (the simulator's payloads, parsed and keyed by the
functions' own models, as the pipeline stores them: no COS round trip, so the figure is the read
model and the renderer, not the GETs), renders the page, and with --browser opens it in Chromium
and times the first rows and a filter. The figures are in docs/PERFORMANCE.md.

    .venv/bin/python scripts/console_scale.py 1 10 100 --browser
    .venv/bin/python scripts/console_scale.py --day-of 2000     # ~200,000 objects
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from shared.events import MODELS
    from shared.layout import event_key
    from tooling.console import render_html
    from tooling.readmodel import build_timeline
    from tooling.traffic.plan import plan
except ModuleNotFoundError as missing:
    sys.exit(f"console_scale: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

DEMO_STREAMS = 8


def documents(streams: int, session_seconds: tuple[int, int] = (180, 1500)) -> list[dict[str, Any]]:
    scenario = plan(streams, seed=1, session_seconds=session_seconds, segment_seconds=1800)
    out = []
    for callback in scenario.callbacks:
        model = MODELS[callback.kind].model_validate(callback.payload)
        document: dict[str, Any] = {"kind": callback.kind, "key": event_key(model), "event": model.normalised()}
        if callback.kind == "porn_detect":
            document["message"] = {"suggestion": callback.payload["suggestion"], "dedupe_id": callback.index}
        out.append(document)
    return out


def measure(label: str, docs: list[dict[str, Any]], browser: bool) -> None:
    started = time.perf_counter()
    timeline = build_timeline(docs)
    window = (min(s["sessions"][0]["begin"] for s in timeline["streams"]) - 60, int(time.time()) + 1)
    page = render_html(timeline, window)
    seconds = time.perf_counter() - started
    line = f"{label:>10}  {timeline['totals']['streams']:>5} streams  {len(docs):>7} objects  build {seconds:6.2f} s"
    line += f"  page {len(page.encode()) / 1e6:6.2f} MB"
    if browser:
        line += "  " + _browser(page)
    print(line, flush=True)


def _browser(page: str) -> str:
    from tooling.browser import launched

    with tempfile.TemporaryDirectory() as folder, launched() as chromium:
        path = Path(folder) / "page.html"
        path.write_text(page, encoding="utf-8")
        tab = chromium.new_page(viewport={"width": 1280, "height": 820})
        started = time.perf_counter()
        tab.goto(path.as_uri())
        tab.wait_for_selector(".stream")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        tab.fill("#f-name", "room1")
        tab.wait_for_function("document.getElementById('shown').textContent.length > 0")
        filtered = time.perf_counter() - started
        rows = tab.locator(".stream").count()
        nodes = tab.evaluate("document.getElementsByTagName('*').length")
        return f"open {loaded:.2f} s, filter {filtered * 1000:.0f} ms, {rows} rows / {nodes} nodes in the DOM"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("multiples", nargs="*", type=int, default=[1, 10, 100], help="of the demo's 8 streams")
    p.add_argument("--day-of", type=int, help="also N streams pushing ~100 minutes each (~100 objects a stream)")
    p.add_argument("--browser", action="store_true", help="open each page in Chromium and time it")
    args = p.parse_args(argv)
    for multiple in [m for m in args.multiples if m > 0]:
        measure(f"{multiple}x", documents(DEMO_STREAMS * multiple), args.browser)
    if args.day_of:
        measure("day", documents(args.day_of, session_seconds=(5400, 6600)), args.browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
