#!/usr/bin/env python3
"""Benchmark: the five functions against a hand-written minimal handler, side by side (issue 6).

    .venv/bin/python scripts/bench.py            # the documented run (about 7 minutes on 2 cores)
    .venv/bin/python scripts/bench.py --quick    # fewer runs, under 2 minutes

The COS and TDMQ stand-ins (devstack) run in this process; every measurement runs in a fresh
child Python process that gets the functions' environment, alternating ours and the baseline
(`bench/baseline_handler.py`). Prints a table, checks the budgets and writes JSON under
bench/results/. The parts are tooling/bench/; methods and figures: docs/PERFORMANCE.md. Not run
by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from shared.vocabulary import KINDS
    from tooling.bench.child import ROOT
    from tooling.bench.runner import Plan, measure
except ModuleNotFoundError as missing:
    sys.exit(f"bench: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer runs (5 cold, 600 warm callbacks), no package build")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--cold-runs", type=int, help="cold starts per function and variant (default 15; quick 5)")
    p.add_argument(
        "--package-cold",
        type=int,
        help="cold starts per function and variant from the code package, as SCF runs it (default 5; quick 0)",
    )
    p.add_argument("--warm", type=int, help="sequential warm callbacks per process (default 2000; quick 600)")
    p.add_argument("--cpu", type=int, help="instrumented callbacks for CPU time (default 1000; quick 200)")
    p.add_argument("--rss-at", type=int, default=1000, help="callbacks handled before peak RSS is read")
    p.add_argument(
        "--package",
        action=argparse.BooleanOptionalAction,
        help="build the code package with scripts/package.sh and measure it (default: yes; quick: no)",
    )
    p.add_argument("--out", help="JSON result path (default bench/results/bench-<UTC time>.json)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    warm = options.warm or (600 if options.quick else 2000)
    plan = Plan(
        kinds=tuple(options.kinds),
        cold_runs=options.cold_runs or (5 if options.quick else 15),
        package_cold_runs=options.package_cold if options.package_cold is not None else (0 if options.quick else 5),
        warm=warm,
        cpu=options.cpu or (200 if options.quick else 1000),
        rss_at=min(options.rss_at, warm),
        build_package=not options.quick if options.package is None else options.package,
        quick=options.quick,
    )
    began = time.time()
    document = measure(plan, say=lambda line: print(line, flush=True))
    extra = document["package_cold_markdown"]
    print(
        "\n" + document["table_markdown"] + "\n\n" + document["breakdown_markdown"] + ("\n\n" + extra if extra else "")
    )
    out = options.out or os.path.join(
        ROOT, "bench", "results", time.strftime("bench-%Y%m%dT%H%M%SZ.json", time.gmtime(began))
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print(f"\nwrote {os.path.relpath(out, ROOT)} in {time.time() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
