"""The message a moderation hit publishes to the topic, bounded to what a CMQ topic accepts.

A small JSON document a subscriber can act on (stream, image, suggestion, label, score, times,
the COS key of the stored evidence, a stable `dedupe_id`), never larger than the topic's limit:
a hit whose message would not fit is published trimmed, and the evidence keeps everything.
"""

from __future__ import annotations

from typing import Any

from shared import notify
from shared.events import AudioModerationHit, ModerationHit
from shared.layout import dedupe_id
from shared.notify import Stored

MAX_MESSAGE_BYTES = 64 * 1024
"""The largest message a CMQ topic takes (its MaxMsgSize is 1-64 KB, 64 KB by default)."""
TRIMMED_TEXT = 1024
"""Characters a text field keeps when the message is too large (the evidence keeps all)."""
TRIMMED_TYPES = 16
_ESSENTIAL = (
    "schema",
    "id",
    "kind",
    "event_type",
    "app",
    "appname",
    "stream_id",
    "time",
    "key",
    "source",
    "dedupe_id",
    "suggestion",
    "score",
    "screenshot_time",
    "send_time",
    "evidence_key",
)


def message(hit: ModerationHit | AudioModerationHit, suggestion: str, where: Stored) -> dict[str, Any]:
    """The hit's message: the event schema's common fields (shared/notify.py; `id` is the
    `dedupe_id`), then the fields it always had."""
    evidence_key = where.prefix + where.key
    if isinstance(hit, AudioModerationHit):  # speech: the transcript instead of a frame
        return {
            **_schema_fields("audio_moderation", hit, hit.event_time, where),
            "dedupe_id": dedupe_id(hit),
            "appid": hit.appid,
            "suggestion": suggestion,
            "label": hit.label,
            "sub_label": hit.sub_label,
            "score": hit.best_score,
            "asr_text": hit.asr_text,
            "audio_url": hit.cdn_url or None,
            "screenshot_time": hit.event_time,
            "send_time": None,
            "evidence_key": evidence_key,
        }
    return {
        **_schema_fields("porn_detect", hit, hit.screenshot_time, where),
        "dedupe_id": dedupe_id(hit),
        "appid": hit.appid,
        "img": hit.img,
        "suggestion": suggestion,
        "label": hit.label,
        "sub_label": hit.sub_label,
        "score": hit.best_score,
        "type": hit.type,
        "screenshot_time": hit.screenshot_time,
        "send_time": hit.send_time,
        "evidence_key": evidence_key,
    }


def _schema_fields(
    kind: str, hit: ModerationHit | AudioModerationHit, time: int | None, where: Stored
) -> dict[str, Any]:
    fields = notify.common_fields(kind, hit, int(time or 0), where)
    fields["id"] = dedupe_id(hit)  # a hit's id was always its dedupe_id: subscribers keep theirs
    return fields


def encode(msg: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """The message as JSON text of at most `limit` UTF-8 bytes.

    Rule: if the whole message is too large, each text field keeps its first 1,024 characters and
    `type` its first 16 entries, and `truncated` names what was cut; if that is still too large,
    only the essential fields are sent (`truncated: ["*"]`). `evidence_key` always leads to the
    stored document, which keeps the hit as CSS sent it.
    """
    content = notify.encode(msg)
    if len(content.encode("utf-8")) <= limit:
        return content
    trimmed = dict(msg)
    cut = []
    for name, value in msg.items():
        if isinstance(value, str) and len(value) > TRIMMED_TEXT and name not in _ESSENTIAL:
            trimmed[name] = value[:TRIMMED_TEXT]
            cut.append(name)
        elif isinstance(value, list) and len(value) > TRIMMED_TYPES:
            trimmed[name] = value[:TRIMMED_TYPES]
            cut.append(name)
    trimmed["truncated"] = cut
    content = notify.encode(trimmed)
    if len(content.encode("utf-8")) <= limit:
        return content
    return notify.encode({**{name: msg.get(name) for name in _ESSENTIAL}, "truncated": ["*"]})
