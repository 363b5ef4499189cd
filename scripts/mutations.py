#!/usr/bin/env python3
"""Mutation check: small deliberate bugs in shared/, each of which the suite must catch.

Each mutation is applied to a copy of the working tree (never to the tree itself), the tests
that claim to guard it run there, and the mutation counts as caught when they fail. The list and
the runner are tooling/mutations.py.

    .venv/bin/python scripts/mutations.py            # every mutation, about 2 minutes on 2 cores
    .venv/bin/python scripts/mutations.py --list
    .venv/bin/python scripts/mutations.py stale-an-hour tz-local
"""

from __future__ import annotations

import argparse
import sys

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from tooling.mutations import MUTATIONS, Mutation, run
except ModuleNotFoundError as missing:
    sys.exit(f"mutations: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list:
        for mutation in chosen:
            print(f"{mutation.name:34} {mutation.path}")
        return 0
    control = Mutation(
        "control", "shared/claim.py", "STALE_AFTER_SECONDS", "", tuple({t for m in chosen for t in m.tests})
    )
    failed, seconds = run(control, control=True)
    print(f"{'FAILED  ' if failed else 'passed  '} {'the same tests, unmutated':34} {seconds:6.1f} s", flush=True)
    if failed:
        return 2
    survived = 0
    for mutation in chosen:
        caught, seconds = run(mutation)
        survived += not caught
        print(f"{'caught  ' if caught else 'SURVIVED'} {mutation.name:34} {seconds:6.1f} s", flush=True)
    print(f"{len(chosen) - survived} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
