"""The demo's outage and its repair: COS refuses every write while CSS sends a few streams'
callbacks, CSS gives up, and one reconcile run restores every event from the Live API.

Used by `./scripts/local.sh --demo` (tooling/localstack.py) and by tests/test_reconcile.py: the
traffic is the simulator's (tooling/traffic), the repair is the reconcile function's own run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devstack import payloads
from devstack.cos import CosStandIn
from shared import pipeline
from shared.config import Settings
from shared.live import LiveApi, load_live_settings
from shared.reconcile import Report, Run, run_window
from tooling.readmodel import timeline_of
from tooling.traffic.plan import Scenario, deliveries, plan
from tooling.traffic.send import run as send

CSS_RETRIES = 12
"""CSS's retries of a push, end, record or moderation callback before it drops it."""


@dataclass
class Outcome:
    scenario: Scenario
    failed_deliveries: int
    lost_events: int
    report: Report
    live_api_calls: int
    seconds: float
    problems: list[str]


def stored_counts(settings: Settings, streams: list[str]) -> Counter[str]:
    """Documents per folder (sessions, records, snapshots, moderation) of `streams`."""
    timeline = timeline_of(settings, streams)
    totals = timeline["totals"]
    return Counter(
        {
            "sessions": sum(len(s["sessions"]) for s in timeline["streams"]),
            "records": totals.get("recordings", 0),
            "snapshots": totals.get("snapshots", 0),
            "moderation": totals.get("hits", 0),
        }
    )


def outage_and_repair(
    url: str,
    key: str,
    paths: Mapping[str, str],
    cos: CosStandIn,
    settings: Settings,
    streams: int = 2,
    say: Callable[[str], Any] = print,
) -> Outcome:
    """Send `streams` streams' traffic while COS refuses every write (CSS retries each callback
    `CSS_RETRIES` times, quickly), then run reconcile over the window and compare."""
    scenario = plan(streams, seed=404, stream_prefix="outage", published=sorted(settings.moderation_suggestions))
    names = [s.stream_id for s in scenario.streams]
    started = time.time()
    cos.faults.set("error", status=503)
    try:
        result = send(url, deliveries(scenario), key, paths, concurrency=4, retries=CSS_RETRIES, retry_delay=0.01)
    finally:
        cos.faults.clear()
    lost = sum(stored_counts(settings, names).values())
    say(
        f"outage: COS refused every write while CSS sent {len(scenario.callbacks)} callbacks of {streams} streams;"
        f" {len(result.failed)} given up after {CSS_RETRIES} retries each, {lost} stored"
    )
    live = LiveApi(load_live_settings(os.environ), settings.secret_id, settings.secret_key, settings.session_token)
    run = Run(pipeline.Instance(settings), live, (payloads.PUSH_DOMAIN,))
    clock = time.monotonic()
    earliest = min([started, *(c.at for c in scenario.callbacks)])  # CSS logs each when it happened
    report = run_window(run, (earliest - 60, time.time() + 1), None)
    seconds = time.monotonic() - clock
    backfilled = sum(report.backfilled.values())
    say(
        f"repair: one reconcile run read {report.streams_checked} streams' callback records ({live.calls} Live API"
        f" calls, {seconds:.1f} s) and backfilled {backfilled} events"
        f" ({', '.join(f'{k} {v}' for k, v in sorted(report.backfilled.items()))}),"
        f" synthesised {report.synthesised}"
    )
    expected = scenario.expected()["totals"]
    want = Counter(
        {
            "sessions": expected["sessions"],
            "records": expected["recordings"],
            "snapshots": expected["snapshots"],
            "moderation": expected["hits"],
        }
    )
    got = stored_counts(settings, names)
    problems = [f"outage {name}: {got[name]} stored, {want[name]} sent" for name in want if got[name] != want[name]]
    say("repair: OK, stored = sent for the outage's streams" if not problems else "repair: FAILED")
    return Outcome(
        scenario,
        failed_deliveries=len(result.failed) * (CSS_RETRIES + 1),
        lost_events=len(scenario.callbacks) - lost,
        report=report,
        live_api_calls=live.calls,
        seconds=seconds,
        problems=problems,
    )
