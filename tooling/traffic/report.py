"""What a traffic run did: counts, answers and latency percentiles, for a person or as JSON.

Never includes the key or the signatures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from shared.vocabulary import SUGGESTIONS
from tooling.traffic.plan import Callback, Scenario
from tooling.traffic.send import RunResult


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (`p` in 0-100) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(scenario: Scenario, order: Sequence[Callback], result: RunResult, url: str) -> dict[str, Any]:
    """What a person or a machine wants to know about a run (never the key or the signatures)."""
    latencies = result.latencies_ms
    repeated = Counter(c.index for c in order)
    return {
        "url": url,
        "seed": scenario.seed,
        "sent": result.sent,
        "deliveries": len(order),
        "unique_events": len(scenario.callbacks),
        "delivered_more_than_once": sum(1 for n in repeated.values() if n > 1),
        "unique_by_kind": dict(Counter(c.kind for c in scenario.callbacks)),
        "answers": dict(sorted(result.answers.items())),
        "not_accepted": len(result.failed),
        "elapsed_s": result.elapsed_s,
        "rate_per_s": round(result.sent / result.elapsed_s, 1) if result.elapsed_s else None,
        "latency_ms": {
            name: None if value is None else round(value, 2)
            for name, value in (
                ("p50", percentile(latencies, 50)),
                ("p95", percentile(latencies, 95)),
                ("p99", percentile(latencies, 99)),
                ("max", max(latencies) if latencies else None),
            )
        },
        "scenario": scenario.expected(),
    }


def describe(report: Mapping[str, Any]) -> str:
    """The human summary of a run."""
    totals = report["scenario"]["totals"]
    latency = report["latency_ms"]
    answers = ", ".join(f"{status} x {count}" for status, count in report["answers"].items()) or "none"
    formats: Counter[str] = Counter()
    suggestions: Counter[str] = Counter()
    for stream in report["scenario"]["streams"].values():
        formats.update(stream["formats"])
        suggestions.update(stream["hits_by_suggestion"])
    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(report["unique_by_kind"].items()))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"sent          {report['sent']} requests to {report['url']} in {report['elapsed_s']:.1f} s"
        f" ({report['rate_per_s'] or 0:.0f}/s), seed {report['seed']}",
        f"unique events {report['unique_events']} ({by_kind});"
        f" {report['delivered_more_than_once']} delivered more than once",
        f"answers       {answers}" + (f"; {report['not_accepted']} never accepted" if report["not_accepted"] else ""),
        f"latency ms    p50 {ms(latency['p50'])}  p95 {ms(latency['p95'])}  p99 {ms(latency['p99'])}"
        f"  max {ms(latency['max'])}",
        f"expected      {totals['streams']} streams, {totals['sessions']} sessions"
        f" ({totals['live_sessions']} still live), {totals['recordings']} recordings"
        f" ({', '.join(f'{f} {n}' for f, n in sorted(formats.items()))}), {totals['snapshots']} snapshots,"
        f" {totals['hits']} moderation hits ({', '.join(f'{s} {suggestions[s]}' for s in SUGGESTIONS)};"
        f" {totals['publishable_hits']} to publish)",
    ]
    return "\n".join(lines)
