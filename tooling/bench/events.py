"""The benchmark's callbacks: distinct signed API Gateway events of one kind, each a new event."""

from __future__ import annotations

import time
from typing import Any

from devstack import payloads, triggers

TIME_FIELDS = {
    "stream_begin": "event_time",
    "stream_end": "event_time",
    "record": "end_time",
    "snapshot": "create_time",
    "porn_detect": "screenshot_time",
    "audio_moderation": "created",
    "push_exception": "data_time",
    "record_status": "event_time",
    "record_exception": "timestamp",
}
MILLISECONDS = frozenset({"push_exception"})
"""Kinds whose time field is in milliseconds."""
"""The field that makes each generated event new (its key and, for hits, its dedupe id)."""


def generated_events(kind: str, count: int, label: str) -> list[dict[str, Any]]:
    """`count` distinct signed callbacks of `kind` as API Gateway trigger events with their context,
    each a new event (16 streams named after `label`, one second apart, an hour ago)."""
    now = int(time.time())
    out = []
    for i in range(count):
        moment = (now - 3600 + i) * (1000 if kind in MILLISECONDS else 1)
        fields = {"stream_id": f"{label}-{i % 16}", TIME_FIELDS[kind]: moment}
        payload = payloads.signed(payloads.BUILDERS[kind](**fields))
        event = triggers.apigw_event(payload, path=f"/live/{kind.replace('_', '-')}")
        out.append({"event": event, "context": triggers.context(kind)})
    return out
