"""SCF entry point for CSS stream_begin callbacks (event_type 1)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("stream_begin", event, context)
