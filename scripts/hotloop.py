#!/usr/bin/env python3
"""The pipeline's own CPU per callback, hot: callbacks back to back with the SDK calls stubbed.

The bench's "hot pipeline CPU" in isolation, for before/after comparisons of a change to
`shared/`. Wall-clock CPU figures on a shared machine move by 2x between runs; the instruction
count (`--instructions`, under valgrind's callgrind) moves by well under 1 %, so judge a change
by that and use `--profile` to see where the time goes.

    .venv/bin/python scripts/hotloop.py stream_begin                  # thread CPU, median and mean
    .venv/bin/python scripts/hotloop.py stream_begin --profile        # cProfile, top 30 by own time
    .venv/bin/python scripts/hotloop.py stream_begin --instructions   # needs valgrind; ~1 minute
    .venv/bin/python scripts/hotloop.py record --variant baseline     # the same for the baseline

The loop is tooling/bench/hotloop.py; events and stubs are the bench's (signed API Gateway
events, each a new event). The stand-ins run too, so settings and clients are built exactly as in
a warm instance, but no callback reaches them: `put_object`, `head_object` and `PublishCmqMsg`
answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from shared.vocabulary import KINDS
    from tooling.bench.hotloop import instructions, run
except ModuleNotFoundError as missing:
    sys.exit(f"hotloop: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--variant", choices=("ours", "baseline"), default="ours")
    parser.add_argument("--count", type=int, default=3000, help="callbacks timed (default 3000)")
    parser.add_argument("--built", type=int, default=0, help=argparse.SUPPRESS)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", action="store_true", help="cProfile the callbacks instead of timing them")
    group.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    options = parser.parse_args()
    if options.instructions:
        instructions(options.kind, options.variant, os.path.abspath(__file__))
    else:
        run(options.kind, options.variant, options.count, options.built, options.profile)


if __name__ == "__main__":
    main()
