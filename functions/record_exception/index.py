"""SCF entry point for CSS recording exception callbacks (event_type 341)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("record_exception", event, context)
