"""SCF entry point for CSS record callbacks (event_type 100)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("record", event, context)
