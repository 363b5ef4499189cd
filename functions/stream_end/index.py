"""SCF entry point for CSS stream_end callbacks (event_type 0)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("stream_end", event, context)
