"""SCF entry point for CSS audio moderation (a suspected violation in a stream's audio) callbacks (event_type 315)."""

from typing import Any

from shared.pipeline import handle


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle("audio_moderation", event, context)
