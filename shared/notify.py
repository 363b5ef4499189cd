"""The event bus: what is stored is published to the topic, for the team's own app to hear.

Which kinds are published is `NOTIFY_KINDS` (default: the two moderation hit kinds, as before).
Each message is small JSON of a documented, versioned schema (docs/events.schema.json): `schema`,
a stable `id` to dedupe on (the same for every copy of the event: CSS's retries, reconcile's
backfill, a replay), `kind`, `event_type`, the stream (`app`, `appname`, `stream_id`), the event's own
`time` (Unix seconds), the COS `key` of the stored document, `source` (`callback`, `reconcile`,
`synthesised`) and the fields an app needs for that kind. The stream is named as CSS names it:
`app` is the push domain, `appname` the push path, `stream_id` the stream. Tags (`msgTag`, at most 5 of at most 16
characters, page 1496/127318): the kind, and for a hit its suggestion and label, so a subscription's
`FilterTag` picks what it wants.

Semantics: a hit is published once (shared/claim.py). Every other kind is published at least once,
in the door, after its document is stored: a publish that fails answers CSS 503, CSS retries, the
document is already stored and the message is published again (the same `id`); reconcile's
backfill goes the same way; a session end reconcile synthesises is published before it is stored.
Measured cost per callback, with and without: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.events import (
    CallbackEvent,
    PushExceptionEvent,
    RecordEvent,
    RecordExceptionEvent,
    RecordStatusEvent,
    SnapshotEvent,
    StreamBegin,
    StreamEnd,
    end_reason,
)

SCHEMA = "live-callbacks/event/v1"
"""The `schema` of every message (docs/events.schema.json); a change that removes or retypes a
field is a new version, adding a field is not."""


def message_id(key: str) -> str:
    """The stable id of the event stored at `key` (without the prefix): every copy has the same key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Stored:
    """Where an event's document is: its key (without the prefix), the prefix, and who wrote it."""

    key: str
    prefix: str = ""
    source: str = "callback"


def common_fields(kind: str, event: CallbackEvent, time: int, where: Stored) -> dict[str, Any]:
    """The schema's fields every message has (a hit's message adds them to the fields it always had)."""
    return {
        "schema": SCHEMA,
        "id": message_id(where.key),
        "kind": kind,
        "event_type": event.event_type,
        "app": event.app,
        "appname": event.appname,
        "stream_id": str(getattr(event, "stream_id", "")),
        "time": time,
        "key": where.prefix + where.key,
        "source": where.source,
    }


def message(kind: str, event: CallbackEvent, where: Stored) -> dict[str, Any]:
    """The message of a stored event that is not a hit (a hit's is shared/moderation.py's)."""
    if isinstance(event, (StreamBegin, StreamEnd)):
        out = common_fields(kind, event, event.event_time, where)
        out["sequence"] = event.sequence
        if isinstance(event, StreamEnd):
            reason = end_reason(event.errcode)
            out.update(push_duration_ms=event.push_duration, end_reason=reason, errmsg=event.errmsg)
        return out
    if isinstance(event, SnapshotEvent):
        out = common_fields(kind, event, event.create_time, where)
        out.update(image_url=event.pic_full_url or event.pic_url, width=event.width, height=event.height)
        return out
    if isinstance(event, RecordEvent):
        out = common_fields(kind, event, event.end_time, where)
        out.update(
            video_url=event.video_url,
            file_format=event.file_format,
            file_size=event.file_size,
            duration=event.duration,
            start_time=event.start_time,
            end_time=event.end_time,
        )
        return out
    if isinstance(event, PushExceptionEvent):
        out = common_fields(kind, event, event.event_time, where)
        out.update(sequence=event.sequence, exception_types=sorted({e.type for e in event.abnormal_event}))
        return out
    if isinstance(event, RecordStatusEvent):
        out = common_fields(kind, event, event.event_time, where)
        out.update(record_event=event.record_event, session_id=event.session_id)
        return out
    if isinstance(event, RecordExceptionEvent):
        out = common_fields(kind, event, event.timestamp, where)
        level, exception = event.exception_level, event.exception
        out.update(session_id=event.session_id, exception_level=level, exception_type=exception.type)
        return out
    raise TypeError(f"no message for {type(event).__name__}")


def tags(msg: Mapping[str, Any]) -> list[str]:
    """The message's tags: its kind, and a hit's suggestion and label (shared/topic.py trims them)."""
    values = [str(msg["kind"])]
    values += [str(msg[name]) for name in ("suggestion", "label") if msg.get(name)]
    return values


def encode(msg: Mapping[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
