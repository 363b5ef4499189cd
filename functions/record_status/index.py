"""SCF entry point for CSS recording status callbacks (event_type 332): started, failed, paused, ended."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("record_status", event, context)
