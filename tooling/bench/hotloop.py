"""The pipeline's own CPU per callback, hot: callbacks back to back with the SDK calls stubbed.

The bench's "hot pipeline CPU" in isolation (scripts/hotloop.py), with the bench's events and
stubs. The stand-ins run too, so settings and clients are built exactly as in a warm instance,
but no callback reaches them: `put_object`, `head_object` and the topic's POST answer at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from devstack.stack import DevStack
from tooling.bench.child import instrument_sdk_calls, load_handler
from tooling.bench.events import generated_events

WARMUP = 50


def run(kind: str, variant: str, count: int, built: int, profile: bool) -> None:
    stack = DevStack().start()
    try:
        os.environ.update(stack.env())
        handler = load_handler(variant, kind)
        events = [(r["event"], r["context"]) for r in generated_events(kind, max(count, built) + WARMUP, "hot")]
        sdk = {"cpu": 0, "wall": 0, "calls": 0}
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (our log lines; SCF would collect them)
        if kind == "porn_detect":
            handler(*events.pop())  # a real first hit imports the TDMQ SDK, so its call can be stubbed
        instrument_sdk_calls(sdk, stub=True)
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


def instructions(kind: str, variant: str, script: str) -> None:
    """Instructions per hot callback: two callgrind runs, 200 and 1,200 callbacks, differenced
    (both build the same 1,200 events, so start-up and event building cancel out)."""
    totals = []
    for count in (200, 1200):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, script]
        command += [kind, "--variant", variant, "--count", str(count), "--built", "1200"]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next(x for x in completed.stderr.splitlines() if "Collected :" in x)
        totals.append(int(line.split()[-1]))
    print(f"{kind} {variant}: {(totals[1] - totals[0]) / 1000:,.0f} instructions per hot callback")
