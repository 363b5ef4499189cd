"""SCF entry point for CSS push exception (a stream in trouble) callbacks (event_type 321)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("push_exception", event, context)
