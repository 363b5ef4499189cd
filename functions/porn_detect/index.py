"""SCF entry point for CSS porn_detect callbacks (event_type 317)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("porn_detect", event, context)
