"""COS key layout: deterministic keys built from each event's own identity.

A retried callback maps to the same key, so storing it again rewrites the same object. Every
part taken from a payload is encoded so that no value can leave its folder or collide with
another value, and times are zero-padded so listing order is time order.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from typing import Any

from shared.events import (
    HITS,
    AudioModerationHit,
    CallbackEvent,
    ModerationHit,
    PushExceptionEvent,
    RecordEvent,
    RecordExceptionEvent,
    RecordStatusEvent,
    SnapshotEvent,
    StreamEvent,
)
from shared.vocabulary import (
    HEALTH,
    MODERATION,
    QUARANTINE,
    RECORDING_EXCEPTIONS,
    RECORDING_STATUS,
    RECORDS,
    SESSIONS,
    SNAPSHOTS,
)

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_ESCAPED = tuple(chr(b) if b in _SAFE else f"~{b:02X}" for b in range(256))
"""What each byte becomes: itself when safe, else ~HH (a lookup instead of a test per byte)."""
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
"""Values made of safe characters only (the usual case) are their own encoding."""
MAX_PART = 96
"""Longest encoded part kept readable; longer values end in a digest (COS keys max 850 bytes)."""


def encode_part(value: str) -> str:
    """Encode one key part: [A-Za-z0-9._-] stay, every other byte of its UTF-8 becomes ~HH.

    Decoding is unambiguous (`~` is always an escape), so distinct values give distinct parts;
    a part never contains `/`, is never `.` or `..`, and the empty value is `~`.
    """
    if value == "":
        return "~"
    raw = value.encode("utf-8", "surrogatepass")
    out = value if _PLAIN.fullmatch(value) else "".join(map(_ESCAPED.__getitem__, raw))
    if out.strip(".") == "":
        out = out.replace(".", "~2E")
    if len(out) > MAX_PART:
        out = f"{out[: MAX_PART - 18]}~~{hashlib.sha256(raw).hexdigest()[:16]}"
    return out


def _date(ts: int) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(ts))  # UTC; a third of datetime's cost


def _stream_folder(folder: str, event: CallbackEvent, stream_id: str, ts: int) -> str:
    return folder + "/".join((encode_part(event.app), encode_part(event.appname), encode_part(stream_id), _date(ts)))


def event_key(event: CallbackEvent) -> str:
    """The key (without the configured prefix) under which an event's document is stored."""
    if isinstance(event, StreamEvent):
        side = "begin" if event.event_type == 1 else "end"
        folder = _stream_folder(SESSIONS, event, event.stream_id, event.event_time)
        return f"{folder}/{event.event_time:012d}-{encode_part(event.sequence)}-{side}.json"
    if isinstance(event, RecordEvent):
        folder = _stream_folder(RECORDS, event, event.stream_id, event.end_time)
        return f"{folder}/{event.end_time:012d}-{encode_part(event.identity)}.json"
    if isinstance(event, SnapshotEvent):
        folder = _stream_folder(SNAPSHOTS, event, event.stream_id, event.create_time)
        return f"{folder}/{event.create_time:012d}-{encode_part(event.pic_url)}.json"
    if isinstance(event, HITS):
        folder = _stream_folder(MODERATION, event, event.stream_id, event.event_time)
        return f"{folder}/{event.event_time:012d}-{dedupe_id(event)}.json"
    if isinstance(event, PushExceptionEvent):  # one report: its push session and callback time (ms)
        folder = _stream_folder(HEALTH, event, event.stream_id, event.event_time)
        return f"{folder}/{event.data_time:015d}-{encode_part(event.sequence)}.json"
    if isinstance(event, RecordStatusEvent):
        folder = _stream_folder(RECORDING_STATUS, event, event.stream_id, event.event_time)
        return f"{folder}/{event.event_time:012d}-{encode_part(event.identity)}.json"
    if isinstance(event, RecordExceptionEvent):
        # One callback per exception type and recording session at its send time (repeats inside
        # the merge window are one callback, 267/68622); the level is part of what was reported.
        folder = _stream_folder(RECORDING_EXCEPTIONS, event, event.stream_id, event.timestamp)
        what = "-".join((event.session_id or "~", event.exception_level or "~", str(event.exception.type)))
        return f"{folder}/{event.timestamp:012d}-{encode_part(what)}.json"
    raise TypeError(f"no key layout for {type(event).__name__}")


def dedupe_id(hit: ModerationHit | AudioModerationHit) -> str:
    """Stable identity of a moderation hit: the same frame of the same stream gives the same id
    (an audio hit: the same moderation result, `request_id` or task + sequence)."""
    if isinstance(hit, AudioModerationHit):
        identity = "\n".join((hit.app, hit.appname, hit.stream_id, "audio", hit.identity))
    else:
        identity = "\n".join((hit.app, hit.appname, hit.stream_id, str(hit.event_time), hit.img))
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def quarantine_key(function: str, payload: dict[str, Any], t: int) -> str:
    """Where an authentic but unusable payload is kept: dated by its `t`, named by its content.

    The name leaves out `sign` and `t`, so a CSS retry, or a re-signed replay of the same payload
    on the same day, lands on the same object.
    """
    content = {k: v for k, v in payload.items() if k not in ("sign", "t")}
    digest = hashlib.sha256(canonical_json(content)).hexdigest()[:32]
    return f"{QUARANTINE}{encode_part(function)}/{_date(t)}/{digest}.json"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """`value` with every non-finite float (which JSON cannot hold) replaced by its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Deterministic, strict JSON bytes: the same document always gives the same object in COS.

    Never `Infinity` or `NaN` (Node's and Go's parsers refuse them): a non-finite float, which only
    a direct invoke can bring (HTTP bodies keep such numbers as text, shared/gateway.py), is stored
    as its name.
    """
    try:
        return _CANONICAL.encode(value).encode("ascii")
    except ValueError:
        return _CANONICAL.encode(_finite(value)).encode("ascii")
