"""Time budget of one invocation, so every answer reaches CSS well inside its 20 s window.

Each dependency call has a fixed worst case (connect + read timeout); a call, or its one retry,
starts only while the budget can still absorb that worst case.
"""

from __future__ import annotations

import time

PIPELINE_BUDGET_SECONDS = 8.0
"""Total time the pipeline may spend on dependencies; the SCF timeout is set above it (10 s)."""


class Budget:
    def __init__(self, seconds: float = PIPELINE_BUDGET_SECONDS) -> None:
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def allows(self, worst_case: float) -> bool:
        return self.remaining() >= worst_case
