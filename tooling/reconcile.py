"""Reconcile from the command line: the reconcile function's run, for a window an operator picks.

Same code as the timer function (shared/reconcile.py): the push sessions and callback records
of the window are read from the Live API, undelivered callbacks are backfilled through the same
pipeline, sessions without any callback are synthesised. The bucket is reached as every tool
reaches it (tooling/access.py: `--local`, or the functions' variables); the Live API through
LIVE_API_REGION (LIVE_API_ENDPOINT/LIVE_API_SCHEME for a stand-in) with the same credentials.
"""

from __future__ import annotations

import argparse
import calendar
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import pipeline
from shared.errors import CallbackError, ConfigurationError
from shared.live import LiveApi, load_live_settings
from shared.reconcile import DEFAULT_WINDOW_MINUTES, Report, Run, run_window
from tooling import access

_RELATIVE = re.compile(r"-?(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float) -> float:
    """Unix seconds, ISO UTC (2026-11-29T03:00:00Z) or an age (90m, 3h, 2d: that long ago)."""
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNITS[relative.group(2)]
    if text.isdigit():
        return float(text)
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, form)))
        except ValueError:
            continue
    raise access.SetupError(f"{text!r} is not a time: give Unix seconds, 2026-11-29T03:00:00Z, or an age like 3h")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    access.add_arguments(parser)
    parser.add_argument("--since", help="window start (default: --until minus RECONCILE_WINDOW_MINUTES)")
    parser.add_argument("--until", help="window end (default: now)")
    parser.add_argument("--stream", help="only this stream name")
    parser.add_argument("--domain", action="append", default=[], help="push domain (default: $RECONCILE_DOMAINS)")
    parser.add_argument("--dry-run", action="store_true", help="read and count; write and publish nothing")
    parser.add_argument(
        "--every-record", action="store_true", help="also ingest records CSS counted as delivered (checks them all)"
    )


@dataclass(frozen=True)
class Plan:
    run: Run
    window: tuple[float, float]
    stream: str | None


def plan(args: argparse.Namespace, env: Mapping[str, str], now: float | None = None) -> Plan:
    now = time.time() if now is None else now
    merged = access.environment(args, env)
    settings = access.bucket_settings(merged, bool(args.local))
    domains = tuple(args.domain) or tuple(
        d.strip() for d in merged.get("RECONCILE_DOMAINS", "").split(",") if d.strip()
    )
    if not domains:
        raise access.SetupError("no push domain: give --domain or set RECONCILE_DOMAINS")
    try:
        live = LiveApi(load_live_settings(merged), settings.secret_id, settings.secret_key, settings.session_token)
    except ConfigurationError as exc:
        raise access.SetupError(exc.reason) from None
    until = parse_when(args.until, now) if args.until else now
    raw_minutes = merged.get("RECONCILE_WINDOW_MINUTES") or str(DEFAULT_WINDOW_MINUTES)
    if not raw_minutes.strip().isdigit():
        raise access.SetupError(f"RECONCILE_WINDOW_MINUTES must be a whole number of minutes, got {raw_minutes[:20]!r}")
    minutes = int(raw_minutes)
    since = parse_when(args.since, now) if args.since else until - minutes * 60
    if not since < until <= now + 60:
        raise access.SetupError("the window must have --since before --until, and --until not in the future")
    if settings.moderation_topic is None and not args.dry_run:
        raise access.SetupError("MODERATION_TOPIC is not set: backfilled hits are published like live ones")
    if settings.cmq_endpoint is None and not args.dry_run:
        raise access.SetupError("CMQ_ENDPOINT is not set: the topic's data-flow address, for the backfilled hits")
    run = Run(pipeline.Instance(settings), live, domains, dry_run=args.dry_run, every_record=args.every_record)
    return Plan(run, (since, until), args.stream)


def execute(plan_: Plan) -> Report:
    """Run the window (no state: an operator's window is run whole) and write its report."""
    return run_window(plan_.run, plan_.window, plan_.stream)


def summary(report: Report) -> str:
    data: dict[str, Any] = report.as_dict()
    backfilled = ", ".join(f"{k} {v}" for k, v in data["backfilled"].items()) or "nothing"
    lines = [
        f"window {data['window']['start']} .. {data['window']['end']}" + (" (dry run)" if report.dry_run else ""),
        f"streams checked {data['streams_checked']}; records seen {sum(data['records_seen'].values())}"
        f" ({', '.join(f'{k} {v}' for k, v in data['records_seen'].items()) or 'none'})",
        f"delivered by CSS {data['delivered']}; already stored {data['already_stored']}",
        f"{'would backfill' if report.dry_run else 'backfilled'}: {backfilled}",
        f"sessions synthesised {data['synthesised']}; quarantined {data['quarantined']}",
    ]
    lines += [f"FAILED {f['stream']} {f['kind']}: {f['reason']}" for f in data["failed"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None, env: Mapping[str, str], out: Any = print, err: Any = None) -> int:
    import sys

    err = err or (lambda text: print(text, file=sys.stderr))
    parser = argparse.ArgumentParser(prog="reconcile", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        report = execute(plan(args, env))
    except access.SetupError as exc:
        err(f"reconcile: {exc}")
        return 2
    except CallbackError as exc:
        err(f"reconcile: {exc.reason}")
        return 1
    out(summary(report))
    return 1 if report.failed else 0
