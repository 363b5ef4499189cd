"""Reconcile at a platform's scale: many streams, a real outage, the rate limits held.

The Live API stand-in is given the history CSS would have for `streams` streams over the last
hour and a half: each pushing since then with a snapshot every `snapshot_every` seconds, every
callback CSS sent from `outage` seconds ago for 15 minutes failed (CSS gave up on them), and a
fifth of the streams stopping in that outage, their end callbacks lost with the rest. COS holds
what the doors stored before and after. Timer runs, each with the SCF time limit, then run back to
back from a state that had swept every stream up to ten minutes before the outage (steady state);
the tool reports every run's time, calls and throttles, and checks that every lost callback was
restored and every stopped stream closed. Used by scripts/reconcile_scale.py (figures in
docs/RELIABILITY.md) and, smaller, by tests/test_reconcile.py.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack import payloads
from devstack.live_api import CallbackRecord, LiveApiStandIn, PushSession
from shared import pipeline, reconcile
from shared.budget import Budget
from shared.events import MODELS
from shared.layout import event_key
from shared.live import LiveApi, LiveApiSettings
from shared.reconcile import Known, Report, Run, State

OUTAGE_SECONDS = 900
HISTORY_SECONDS = 5400


@dataclass
class Scale:
    streams: int = 1000
    snapshot_every: int = 30
    outage_ago: int = 2700
    """The outage began this long ago (it lasts OUTAGE_SECONDS, and ended before CSS's retries did)."""
    stopped_fraction: float = 0.2
    time_limit: float = 300.0
    share: float = 0.5
    max_runs: int = 12


@dataclass
class Outcome:
    runs: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0
    restored: int = 0
    stopped: int = 0
    closed: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)


def _names(scale: Scale) -> list[str]:
    return [f"scale-{n:05d}" for n in range(scale.streams)]


def build(api: LiveApiStandIn, inst: pipeline.Instance, scale: Scale, now: float) -> tuple[list[str], set[str]]:
    """The history and the stored begins; the keys of the documents the outage lost, and the
    streams that stopped in it."""
    outage = (now - scale.outage_ago, now - scale.outage_ago + OUTAGE_SECONDS)
    lost: list[str] = []
    stopped: set[str] = set()
    for index, name in enumerate(_names(scale)):
        start = int(now - HISTORY_SECONDS + index % 60)
        sequence = f"seq-{index}"
        begin = payloads.stream_begin(name, event_time=start, sequence=sequence)
        pipeline.backfill("stream_begin", begin, inst, Budget(60.0), "scale")  # stored by its door
        api.history.records.append(CallbackRecord(start, name, 1, json.dumps(payloads.signed(begin)), 0))
        stops = index < scale.streams * scale.stopped_fraction
        until = int(outage[0] + OUTAGE_SECONDS / 2 + index % 300) if stops else int(now)
        session = PushSession(payloads.PUSH_DOMAIN, payloads.APPNAME, name, start, sequence=sequence)
        api.history.sessions.append(session)
        for at in range(start + scale.snapshot_every, until, scale.snapshot_every):
            failed = outage[0] <= at < outage[1]
            snap = payloads.snapshot(name, create_time=at)
            api.history.records.append(CallbackRecord(at, name, 200, json.dumps(payloads.signed(snap)), int(failed)))
            if failed:
                lost.append(event_key(MODELS["snapshot"].model_validate(snap)))
        if stops:
            end = payloads.stream_end(name, event_time=until, sequence=sequence, push_ms=(until - start) * 1000)
            failed = outage[0] <= until < outage[1]
            api.history.records.append(CallbackRecord(until, name, 0, json.dumps(payloads.signed(end)), int(failed)))
            session.end, session.stop_reason = until, "stopped"
            stopped.add(name)
    api.history.records.sort(key=lambda r: r.at)
    return lost, stopped


def steady_state(scale: Scale, now: float) -> State:
    """What the runs before the outage left: every stream swept up to ten minutes before it, all
    of them live when the last run looked."""
    swept = now - scale.outage_ago - 600
    online = {}
    streams = {}
    for index, name in enumerate(_names(scale)):
        start = float(int(now - HISTORY_SECONDS + index % 60))
        online[reconcile._ref(payloads.PUSH_DOMAIN, payloads.APPNAME, name)] = start
        streams[name] = Known(swept, start, swept)
    return State(online=online, online_at=swept, sessions_until=swept, streams=streams, queue=[])


def run(api: LiveApiStandIn, inst: pipeline.Instance, scale: Scale, say: Callable[[str], Any] = print) -> Outcome:
    now = time.time()
    outcome = Outcome()
    clock = time.monotonic()
    lost, stopped = build(api, inst, scale, now)
    outcome.lost, outcome.stopped, outcome.records = len(lost), len(stopped), len(api.history.records)
    say(
        f"history: {scale.streams} streams, {len(api.history.records)} callback records, {len(lost)} lost in a"
        f" {OUTAGE_SECONDS // 60}-minute outage {scale.outage_ago // 60} minutes ago, {len(stopped)} streams stopped"
        f" in it ({time.monotonic() - clock:.0f} s to build)"
    )
    inst.store.put_json(reconcile.STATE, steady_state(scale, now).as_bytes(), {"source": "scale"})
    live = LiveApi(LiveApiSettings("ap-guangzhou", api.endpoint, "http"), "AKIDscale", "scale-key", None)
    live.set_share(scale.share)
    for number in range(1, scale.max_runs + 1):
        before = Counter(action for action, _ in api.calls)
        limited = api.rate_limited
        started = time.monotonic()
        stop_at = started + scale.time_limit - reconcile.TIME_RESERVE_SECONDS
        report: Report = reconcile.run_timer(Run(inst, live, (payloads.PUSH_DOMAIN,), stop_at=stop_at))
        seconds = time.monotonic() - started
        calls = Counter(action for action, _ in api.calls) - before
        outcome.runs.append(
            {
                "run": number,
                "seconds": round(seconds, 1),
                "complete": report.complete,
                "calls": dict(sorted(calls.items())),
                "refused_by_rate_limit": api.rate_limited - limited,
                "reads": dict(report.slices),
                "backfilled": sum(report.backfilled.values()),
                "closed": report.closed,
                "left": report.left,
                "sweep_lag_seconds": round(report.sweep_lag_seconds),
            }
        )
        say(
            f"run {number}: {seconds:.0f} s, {sum(calls.values())} Live API calls"
            f" ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}), {api.rate_limited - limited} throttled;"
            f" reads {dict(report.slices)}; backfilled {sum(report.backfilled.values())}, closed {report.closed},"
            f" {report.left} reads left, sweep {report.sweep_lag_seconds:.0f} s behind"
        )
        if seconds > scale.time_limit:
            outcome.problems.append(f"run {number} took {seconds:.0f} s, over its {scale.time_limit:.0f} s limit")
        if report.complete and report.left == 0:
            break
    stored = set(inst.store.list_keys("snapshots/"))
    outcome.restored = sum(1 for key in lost if key in stored)
    ends = {key.split("/")[3] for key in inst.store.list_keys("sessions/") if "-end" in key}
    outcome.closed = len({name for name in stopped if name in ends})
    if outcome.restored != outcome.lost:
        outcome.problems.append(f"{outcome.lost - outcome.restored} of {outcome.lost} lost snapshots not restored")
    if outcome.closed != outcome.stopped:
        outcome.problems.append(f"{outcome.stopped - outcome.closed} of {outcome.stopped} stopped streams not closed")
    say("OK: every lost callback restored, every stopped stream closed" if not outcome.problems else "FAILED")
    for problem in outcome.problems:
        say(f"  {problem}")
    return outcome
