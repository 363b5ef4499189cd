#!/usr/bin/env python3
"""Reconcile at scale: N streams, a 15-minute outage, timer runs inside the Live API's limits.

The COS, TDMQ and Live API stand-ins run in this process; the Live API stand-in holds every
documented rate per account. Prints every run (time, calls, throttles, reads) and whether every
lost callback was restored and every stopped stream closed; exits 1 when not. The figures are in
docs/RELIABILITY.md ("Reconcile at scale").

    .venv/bin/python scripts/reconcile_scale.py                 # 1,000 streams (about 5 minutes)
    .venv/bin/python scripts/reconcile_scale.py --streams 200 --time-limit 60
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from devstack.live_api import LiveApiStandIn
    from devstack.stack import DevStack
    from shared import pipeline
    from shared.config import load_settings
    from tooling.reconcile_scale import Scale, run
except ModuleNotFoundError as missing:
    sys.exit(f"reconcile_scale: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--snapshot-every", type=int, default=30, help="seconds between a stream's snapshots")
    p.add_argument("--time-limit", type=float, default=300.0, help="each run's SCF time limit, seconds")
    p.add_argument("--share", type=float, default=0.5, help="RECONCILE_RATE_SHARE")
    p.add_argument("--json", help="write the outcome here")
    args = p.parse_args(argv)
    with DevStack() as stack:
        os.environ.update(stack.env())
        api = LiveApiStandIn().start()
        try:
            scale = Scale(args.streams, args.snapshot_every, time_limit=args.time_limit, share=args.share)
            outcome = run(api, pipeline.Instance(load_settings(callbacks=False)), scale)
        finally:
            api.stop()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(outcome.__dict__, out, indent=2)
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    sys.exit(main())
