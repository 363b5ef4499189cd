"""SCF entry point of the moderation_action function (CMQ topic trigger): act on moderation hits."""

from typing import Any

from shared.enforcement import main_handler as _act


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return _act(event, context)
