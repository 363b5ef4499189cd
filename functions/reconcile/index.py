"""SCF entry point of the reconcile function (timer trigger): backfill what CSS gave up on."""

from typing import Any

from shared.reconcile import main_handler as _reconcile


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    return _reconcile(event, context)
