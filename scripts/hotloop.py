"""The pipeline's own CPU per callback, hot: callbacks back to back with the SDK calls stubbed.

The bench's "hot pipeline CPU" in isolation, for before/after comparisons of a change to
`shared/`. Wall-clock CPU figures on a shared machine move by 2x between runs; the instruction
count (`--instructions`, under valgrind's callgrind) moves by well under 1 %, so judge a change
by that and use `--profile` to see where the time goes.

    .venv/bin/python scripts/hotloop.py stream_begin                  # thread CPU, median and mean
    .venv/bin/python scripts/hotloop.py stream_begin --profile        # cProfile, top 30 by own time
    .venv/bin/python scripts/hotloop.py stream_begin --instructions   # needs valgrind; ~1 minute
    .venv/bin/python scripts/hotloop.py record --variant baseline     # the same for the baseline

Events and stubs are the bench's (signed API Gateway events, each a new event). The stand-ins
run too, so settings and clients are built exactly as in a warm instance, but no callback reaches
them: `put_object`, `head_object` and `PublishCmqMsg` answer at once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]

import bench  # noqa: E402  (scripts/ is put on the path just above)

WARMUP = 50


def run(kind: str, variant: str, count: int, built: int, profile: bool) -> None:
    from devstack.stack import DevStack

    stack = DevStack().start()
    try:
        os.environ.update(stack.env())
        handler = bench._load_handler(variant, kind)
        events = [(r["event"], r["context"]) for r in bench.generated_events(kind, max(count, built) + WARMUP, "hot")]
        sdk = {"cpu": 0, "wall": 0, "calls": 0}
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (our log lines; SCF would collect them)
        if kind == "porn_detect":
            handler(*events.pop())  # a real first hit imports the TDMQ SDK, so its call can be stubbed
        bench._instrument_sdk_calls(sdk, stub=True)
        for event, context in events[:WARMUP]:
            answer = handler(event, context)
            if answer["statusCode"] != 200:
                raise SystemExit(f"warm-up callback answered {answer['statusCode']}: {answer['body']}")
        events = events[WARMUP : WARMUP + count]
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for event, context in events:
                handler(event, context)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
            return
        cpu_ns = []
        for event, context in events:
            before = sdk["cpu"]
            started = time.thread_time_ns()
            handler(event, context)
            cpu_ns.append(time.thread_time_ns() - started - (sdk["cpu"] - before))
        cpu_ns.sort()
        print(
            f"{kind} {variant}: {count} hot callbacks, pipeline CPU median "
            f"{cpu_ns[len(cpu_ns) // 2] / 1e3:.1f} µs, mean {sum(cpu_ns) / len(cpu_ns) / 1e3:.1f} µs",
            file=sys.stderr,
        )
    finally:
        stack.stop()


def instructions(kind: str, variant: str) -> None:
    """Instructions per hot callback: two callgrind runs, 200 and 1,200 callbacks, differenced
    (both build the same 1,200 events, so start-up and event building cancel out)."""
    totals = []
    for count in (200, 1200):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
        command += [kind, "--variant", variant, "--count", str(count), "--built", "1200"]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next(x for x in completed.stderr.splitlines() if "Collected :" in x)
        totals.append(int(line.split()[-1]))
    print(f"{kind} {variant}: {(totals[1] - totals[0]) / 1000:,.0f} instructions per hot callback")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(bench.TIME_FIELDS))
    parser.add_argument("--variant", choices=("ours", "baseline"), default="ours")
    parser.add_argument("--count", type=int, default=3000, help="callbacks timed (default 3000)")
    parser.add_argument("--built", type=int, default=0, help=argparse.SUPPRESS)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", action="store_true", help="cProfile the callbacks instead of timing them")
    group.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    options = parser.parse_args()
    if options.instructions:
        instructions(options.kind, options.variant)
    else:
        run(options.kind, options.variant, options.count, options.built, options.profile)


if __name__ == "__main__":
    main()
