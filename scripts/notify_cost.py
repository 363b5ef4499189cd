#!/usr/bin/env python3
"""What publishing a stored event costs a door per callback: the same warm door, with and without
its kind in NOTIFY_KINDS, side by side (issue 25). Figures in docs/PERFORMANCE.md.

The COS and TDMQ stand-ins run in this process (loopback, so the figure is our code's cost plus one
loopback round trip; in a region add the topic's own latency, measured by Tencent at a few ms on
the private endpoint). Runs alternate: a batch without, a batch with, so drift hits both alike.

    .venv/bin/python scripts/notify_cost.py             # snapshot, 5 x 200 callbacks each way
    .venv/bin/python scripts/notify_cost.py --kind stream_begin --batches 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from collections.abc import Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from devstack import payloads, triggers
    from devstack.stack import DevStack
    from shared import pipeline
    from shared.vocabulary import KINDS
except ModuleNotFoundError as missing:
    sys.exit(f"notify_cost: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def batch(kind: str, notify: bool, count: int, stack: DevStack) -> list[float]:
    os.environ["NOTIFY_KINDS"] = kind if notify else "none"
    pipeline.reset_instance()
    handler = triggers.load_handler(kind)
    times = []
    for n in range(count + 20):
        body = payloads.signed(payloads.BUILDERS[kind](stream_id=f"cost-{n % 50}"))
        event = triggers.function_url_event(body)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            answer = handler(event, triggers.context(kind))
        elapsed = time.perf_counter() - started
        if answer["statusCode"] != 200:
            raise SystemExit(f"notify_cost: {kind} answered {answer['statusCode']}: {answer['body'][:200]}")
        if n >= 20:  # the first ones warm the instance and its connections
            times.append(elapsed * 1000)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--kind", choices=[k for k in KINDS if k not in ("porn_detect", "audio_moderation")], default="snapshot"
    )
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--count", type=int, default=200)
    args = p.parse_args(argv)
    with DevStack() as stack:
        os.environ.update(stack.env())
        without: list[float] = []
        with_: list[float] = []
        published = 0
        for _ in range(args.batches):
            without += batch(args.kind, False, args.count, stack)
            before = len(stack.tdmq.published())
            with_ += batch(args.kind, True, args.count, stack)
            published += len(stack.tdmq.published()) - before
    for name, values in (("without", without), ("with", with_)):
        q = statistics.quantiles(values, n=20)
        print(f"{args.kind} {name:<8} n={len(values)}  median {statistics.median(values):.2f} ms  p95 {q[18]:.2f} ms")
    extra = statistics.median(with_) - statistics.median(without)
    print(f"publishing adds {extra:.2f} ms (median) per callback; {published} messages published")
    return 0


if __name__ == "__main__":
    sys.exit(main())
