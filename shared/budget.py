"""Time budget of one invocation, so every answer reaches CSS well inside its 20 s window.

The budget is a deadline: each dependency call has a fixed worst case (connect + read timeout)
and is cut at that worst case or at the deadline, whichever comes first (shared/deadline.py);
a call, or its retry, starts only while the budget can still absorb its worst case.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

PIPELINE_BUDGET_SECONDS = 12.0
"""Total time the pipeline may spend on dependencies.

Sized so that a moderation hit can claim, publish and mark even when COS and the topic are slow
(~2.5 s a call): the publish starts only when the publish and the mark both fit. The SCF timeout
(15 s) is set above it, CSS's 20 s window above that.
"""

PUSH_EXCEPTION_BUDGET_SECONDS = 3.9
"""CSS gives a push-exception callback 5 s (its payload's `timeout: 5000`, page 267/53310), not
20: one COS attempt (1 s connect + 2.5 s read) fits after the pipeline's own work (0.4 s of slack:
a loaded instance took 0.11 s to reach the PUT, and a budget of 3.6 s then refused the attempt),
and the answer leaves inside 4 s."""

KIND_BUDGETS: dict[str, float] = {"push_exception": PUSH_EXCEPTION_BUDGET_SECONDS}
"""Kinds whose callers wait less than CSS's usual 20 s."""

SCF_TIMEOUT_RESERVE_SECONDS = 1.5
"""Kept back from SCF's own time limit (context `time_limit_in_ms`) for the answer and the log line."""


class Budget:
    def __init__(self, seconds: float = PIPELINE_BUDGET_SECONDS) -> None:
        self.ends = time.monotonic() + seconds

    @classmethod
    def for_invocation(cls, context: Mapping[str, Any] | None, kind: str = "") -> Budget:
        """The pipeline budget (the kind's own, if its caller waits less), shortened when the
        function's own SCF timeout is shorter."""
        seconds = KIND_BUDGETS.get(kind, PIPELINE_BUDGET_SECONDS)
        limit = (context or {}).get("time_limit_in_ms")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
            seconds = min(seconds, limit / 1000 - SCF_TIMEOUT_RESERVE_SECONDS)
        return cls(seconds)

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def allows(self, worst_case: float) -> bool:
        return self.remaining() >= worst_case

    def cap(self, worst_case: float) -> float:
        """How long a call may run: its worst case, or what is left of the budget if less."""
        return max(0.0, min(worst_case, self.remaining()))
