"""The moderation_action function in the local stack: triggered by the COS stand-in for every
evidence object written under `moderation/`, calling the Live API stand-in, and timed from a hit
reaching porn_detect to its action recorded.

The COS stand-in delivers each write in SCF's COS trigger shape on a thread of its own (an
asynchronous invocation, retried when it fails), as the deployed function's `cos` trigger does;
the handler's log lines join the functions' log. `summary()` gives the demo's lines: what was
done, and the hit-to-ban times.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from devstack import triggers
from devstack.cos import CosStandIn
from devstack.gateway import Invocation, _captured_stdout
from shared import enforcement
from shared.vocabulary import MODERATION

DECISION_WORDS = {
    "none": "hits recorded, nothing done (the policy's `none`)",
    "drop": "pushes dropped",
    "forbid": "streams banned and dropped",
    "queue": "hits queued for a person to review",
    "exempt": "hits of exempt streams, not cut",
}
OUTCOME_WORDS = {
    "duplicate": "repeated events for a hit already handled (every write of its evidence triggers it)",
    "ignored": "events left alone (Pass hits, evidence gone)",
    "refused": "events refused (no stored hit behind them)",
    "in_progress": "events that met another invocation still acting (retried)",
}


class LocalModeration:
    def __init__(self, cos: CosStandIn, bucket: str, prefix: str, write_logs: Callable[[list[str]], None]) -> None:
        self.write_logs = write_logs
        self.handler = triggers.load_handler("moderation_action")
        self.arrived_at: dict[str, float] = {}
        """dedupe_id -> when porn_detect first received the hit (wall clock)."""
        self.acted_at: dict[str, float] = {}
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        enforcement.reset()
        self.invocations = cos.notify(bucket, prefix + MODERATION, self.deliver, retry_delay=1.0)
        self.cos = cos

    def arrived(self, invocation: Invocation) -> None:
        """Note the first porn_detect invocation of each hit (its log line names the evidence key)."""
        if invocation.function != "porn_detect":
            return
        started = time.time() - invocation.latency_ms / 1000
        for line in invocation.logs:
            try:
                key = str(json.loads(line).get("key") or "")
            except ValueError:
                continue
            dedupe_id = key.rsplit("-", 1)[-1].removesuffix(".json")
            if dedupe_id:
                with self._lock:
                    self.arrived_at[dedupe_id] = min(started, self.arrived_at.get(dedupe_id, started))

    def deliver(self, event: Any) -> Any:
        with _captured_stdout() as captured:
            try:
                return self.handler(event, triggers.context("moderation_action"))
            finally:
                done = time.time()
                logs = captured.getvalue().splitlines()
                self.write_logs(logs)
                for line in logs:
                    fields = json.loads(line)
                    with self._lock:
                        self.lines.append(fields)
                        if fields.get("outcome") == "acted" and fields.get("dedupe_id"):
                            self.acted_at.setdefault(str(fields["dedupe_id"]), done)

    def drain(self, timeout: float = 60.0) -> bool:
        return self.invocations.drain(timeout)

    def delays_ms(self, decision: str) -> list[float]:
        """Per hit acted on with `decision`: ms from porn_detect receiving it to the ledger marked done."""
        wanted = {
            str(f["dedupe_id"]) for f in self.lines if f.get("outcome") == "acted" and f.get("decision") == decision
        }
        return sorted(
            (self.acted_at[d] - self.arrived_at[d]) * 1000
            for d in wanted
            if d in self.acted_at and d in self.arrived_at
        )

    def summary(self) -> list[str]:
        acted = Counter(
            (str(f.get("decision") or "-"), f.get("outcome") == "dry_run")
            for f in self.lines
            if f.get("outcome") in ("acted", "dry_run")
        )
        said = [
            f"{n} {DECISION_WORDS.get(decision, decision)}{' (dry run)' if dry else ''}"
            for (decision, dry), n in sorted(acted.items())
        ]
        others = Counter(str(f.get("outcome")) for f in self.lines if f.get("outcome") not in ("acted", "dry_run"))
        said += [f"{n} {OUTCOME_WORDS.get(outcome, outcome)}" for outcome, n in sorted(others.items())]
        lines = ["moderation_action: " + ("; ".join(said) or "nothing triggered it")]
        for decision in ("forbid", "drop"):
            delays = self.delays_ms(decision)
            if delays:
                lines.append(
                    f"hit -> {decision} recorded: {len(delays)} hits, median {statistics.median(delays):.0f} ms,"
                    f" max {max(delays):.0f} ms (from porn_detect receiving the hit to the ledger marked done)"
                )
        return lines

    def stop(self) -> None:
        self.cos.unnotify(self.invocations)
        enforcement.reset()
