"""SCF entry point for CSS snapshot callbacks (event_type 200)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("snapshot", event, context)
