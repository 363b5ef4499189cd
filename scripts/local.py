#!/usr/bin/env python3
"""The whole system on one machine: local API Gateway + COS and TDMQ stand-ins + the five functions.

The gateway serves the routes of deploy/functions.yml and invokes the same `main_handler`s SCF runs,
with the API Gateway event shape. `--demo` also sends simulated live traffic through it and prints
the timeline of what was stored, then exits. Started by `./scripts/local.sh`; the stack itself is
tooling/localstack.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from devstack.gateway import ROUTES_FILE
    from tooling.access import state_dir
    from tooling.localstack import run
except ModuleNotFoundError as missing:
    sys.exit(f"local: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="gateway address (loopback only; default %(default)s)")
    p.add_argument("--port", type=int, help="gateway port (default 9000; --demo: any free port)")
    p.add_argument("--cos", choices=("local", "real"), default="local", help="COS stand-in (default) or real bucket")
    p.add_argument("--cos-port", type=int, default=0, help="COS stand-in port (default: any free port)")
    p.add_argument("--tdmq-port", type=int, default=0, help="TDMQ stand-in port (default: any free port)")
    p.add_argument("--routes", type=Path, default=ROUTES_FILE, help="deploy spec to take routes from")
    p.add_argument("--state-dir", type=Path, default=state_dir(), help="logs, messages, stack.env (default .local/)")
    p.add_argument("--quiet", action="store_true", help="do not print a line per invocation")
    demo = p.add_argument_group("demo")
    demo.add_argument("--demo", action="store_true", help="send simulated traffic, print the timeline, exit")
    demo.add_argument("--streams", type=int, default=8, help="demo streams (default %(default)s)")
    demo.add_argument("--seed", type=int, default=1, help="demo seed (default %(default)s)")
    demo.add_argument("--duplicates", type=float, default=0.3, help="demo retry fraction (default %(default)s)")
    demo.add_argument("--concurrency", type=int, default=8, help="demo senders (default %(default)s)")
    demo.add_argument("--brief", action="store_true", help="demo timeline: one line per stream")
    demo.add_argument("--screenshot", type=Path, help="also save a PNG of the demo's console page (needs Chromium)")
    demo.add_argument("--keep", action="store_true", help="after the demo, serve until Ctrl-C (the page's pictures)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
