"""The read model: what the functions stored in COS, as per-stream sessions, recordings, hits.

`build_timeline` is pure (documents in, a JSON-able timeline out), so the session view is derived
on read as the design asks and can be tested without COS; `timeline_of` reads the documents of a
bucket (the local stand-in or a real one) with the functions' own COS code and builds it. Half
sessions (an end without its begin, a begin without its end) and out-of-order pairs are kept and
marked. Views of it live in tooling/render.py (text) and are printed as JSON by the tools.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from shared.config import Settings
from shared.layout import encode_part
from shared.storage import CosStore
from shared.vocabulary import DEFAULT_PUBLISHED, FOLDERS, QUARANTINE, SESSION_KINDS, SESSIONS
from shared.vocabulary import SUGGESTIONS as SUGGESTION_ORDER

ENFORCEMENT = "enforcement/"
"""The moderation_action ledger (shared/enforcement.py): shown beside the hit it acted on."""
READERS = 4
"""Parallel GETs; CosStore's connection pool keeps 4 connections."""

RECONCILE = "reconcile"
"""`source` of a document the reconcile function backfilled from the Live API's callback records."""
SYNTHESISED = "synthesised"
"""`source` of a session begin/end made from the Live API's event list (no callback ever came)."""

COMPLETE = "complete"
LIVE = "live"
"""Begin without end, and the stream's latest session: most likely still pushing."""
NO_END = "no end"
"""Begin without end, followed by a later session: the end callback never arrived (yet)."""
NO_BEGIN = "no begin"
"""End without begin: the begin callback never arrived (yet); the begin time is estimated."""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _stream_key(event: Mapping[str, Any]) -> tuple[str, str, str]:
    stream = event.get("stream_id") or event.get("streamId") or ""
    return str(event.get("app") or ""), str(event.get("appname") or ""), str(stream)


MAX_PUSH_MS = 366 * 86400 * 1000
"""Longest push_duration the views believe (a year): a signed, stored 1e16 ms blanked the console
(an estimated begin before year 1) or froze it (millions of ruler ticks)."""


def _session(sequence: str, begin: Mapping[str, Any] | None, end: Mapping[str, Any] | None) -> dict[str, Any]:
    begin_time = _int(begin.get("event_time")) if begin else None
    end_time = _int(end.get("event_time")) if end else None
    push_ms = _int(end.get("push_duration")) if end else None
    notes: list[str] = []
    if push_ms is not None and push_ms > MAX_PUSH_MS:  # a stored value must not bend the view
        notes.append(f"push_duration {push_ms} ms is implausible, ignored")
        push_ms = None
    estimated = False
    if begin_time is None and end_time is not None and push_ms is not None:
        begin_time, estimated = end_time - push_ms // 1000, True
    if push_ms is not None:
        duration: int | None = push_ms // 1000
    elif begin_time is not None and end_time is not None:
        duration = end_time - begin_time
    else:
        duration = None
    if begin and end and begin_time is not None and end_time is not None and end_time < begin_time:
        notes.append("end time is before begin time")
    return {
        "sequence": sequence,
        "state": COMPLETE if begin and end else (NO_BEGIN if end else NO_END),
        "begin": begin_time,
        "begin_estimated": estimated,
        "end": end_time,
        "duration_s": duration,
        "errcode": _int(end.get("errcode")) if end else None,
        "end_reason": end.get("end_reason") if end else None,
        "errmsg": end.get("errmsg") if end else None,
        "begin_source": begin.get("_source") if begin else None,
        "end_source": end.get("_source") if end else None,
        "notes": notes,
    }


def build_timeline(
    documents: Iterable[Mapping[str, Any]],
    published: Sequence[str] = DEFAULT_PUBLISHED,
    window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Group stored documents by stream into sessions, recordings, snapshots and moderation hits.

    `documents` are the JSON objects the functions write (`{"kind", "key", "event", ...}`) and
    quarantine documents (`{"function", "reason", "payload"}`), in any order. `published` is the
    receiver's MODERATION_SUGGESTIONS, used to mark which hits were published. `window` (UTC
    seconds, end excluded) keeps what happened in it: sessions and recordings that overlap it
    (joined first, so a session begun earlier is whole), snapshots and hits inside it.
    """
    publish = {s.capitalize() for s in published}
    streams: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "begins": {},
            "ends": {},
            "recordings": [],
            "snapshots": [],
            "hits": [],
            "health": [],
            "recording_status": [],
            "recording_exceptions": [],
            "duplicates": 0,
            "repaired": Counter(),
        }
    )
    quarantined: list[dict[str, Any]] = []
    actions: dict[str, str] = {}
    unknown = 0
    for document in documents:
        kind = document.get("kind")
        event = document.get("event")
        if kind == "enforcement":
            if document.get("source") != "operator" and document.get("dedupe_id"):
                actions[str(document["dedupe_id"])] = action_text(document)
            continue
        if kind is None and "function" in document and ("payload" in document or "payload_text" in document):
            quarantined.append(
                {"key": document.get("key"), "function": document.get("function"), "reason": document.get("reason")}
            )
            continue
        if not isinstance(event, Mapping):
            unknown += 1
            continue
        stream = streams[_stream_key(event)]
        source = document.get("source")
        if source == RECONCILE:
            stream["repaired"][source] += 1  # synthesised halves are counted where shown (one may give way)
        if kind in SESSION_KINDS:
            side = stream["begins" if kind == "stream_begin" else "ends"]
            sequence = str(event.get("sequence") or "")
            held = side.get(sequence)
            if held is None or (held["_source"] == SYNTHESISED and source != SYNTHESISED):
                side[sequence] = {**event, "_source": source}  # a real callback wins over a synthesised one
            elif source != SYNTHESISED and held["_source"] != SYNTHESISED:
                stream["duplicates"] += 1
        elif kind == "record":
            stream["recordings"].append(
                {
                    "format": event.get("file_format"),
                    "start": _int(event.get("start_time")),
                    "end": _int(event.get("end_time")),
                    "duration_s": _int(event.get("duration")),
                    "file_size": _int(event.get("file_size")),
                    "file_id": event.get("record_file_id") or event.get("file_id"),
                    "url": event.get("video_url"),
                    "backfilled": source == RECONCILE,
                }
            )
        elif kind == "snapshot":
            url = event.get("pic_full_url") or event.get("pic_url")
            stream["snapshots"].append((_int(event.get("create_time")), url))
        elif kind == "porn_detect":
            found = document.get("message")
            message: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            suggestion = str(message.get("suggestion") or event.get("suggestion") or "").capitalize()
            score = message.get("score", event.get("score", event.get("socre")))
            stream["hits"].append(
                {
                    "time": _int(event.get("screenshot_time")) or _int(event.get("send_time")),
                    "suggestion": suggestion,
                    "label": event.get("label"),
                    "sub_label": event.get("sub_label"),
                    "score": score,
                    "published": suggestion in publish,
                    "img": event.get("img"),
                    "dedupe_id": message.get("dedupe_id"),
                    "backfilled": source == RECONCILE,
                }
            )
        elif kind == "audio_moderation":
            found = document.get("message")
            message = found if isinstance(found, Mapping) else {}
            suggestion = str(message.get("suggestion") or event.get("suggestion") or "").capitalize()
            stream["hits"].append(
                {
                    "time": _int(message.get("screenshot_time")),
                    "suggestion": suggestion,
                    "label": event.get("label"),
                    "sub_label": event.get("sub_label"),
                    "score": message.get("score", event.get("hit_score")),
                    "published": suggestion in publish,
                    "img": None,
                    "audio": True,
                    "asr_text": str(event.get("asr_text") or "")[:300],
                    "dedupe_id": message.get("dedupe_id"),
                    "backfilled": source == RECONCILE,
                }
            )
        elif kind == "push_exception":
            counts = Counter[int]()
            for item in event.get("abnormal_event") or []:
                if isinstance(item, Mapping) and _int(item.get("type")) is not None:
                    counts[int(item["type"])] += _int(item.get("count")) or 1
            stream["health"].append(
                {
                    "time": (_int(event.get("data_time")) or 0) // 1000,
                    "types": {str(t): n for t, n in sorted(counts.items())},
                    "interval_s": (_int(event.get("report_interval")) or 0) / 1000,
                }
            )
        elif kind == "record_status":
            record_event = str(event.get("record_event") or "")
            stream["recording_status"].append(
                {
                    "time": _int(event.get("event_time")),
                    "event": record_event,
                    "failed": record_event in ("record_start_failed", "record_error"),
                    "session_id": event.get("session_id"),
                }
            )
        elif kind == "record_exception":
            exception = event.get("exception") if isinstance(event.get("exception"), Mapping) else {}
            stream["recording_exceptions"].append(
                {
                    "time": _int(event.get("timestamp")),
                    "level": event.get("exception_level"),
                    "type": _int(exception.get("type")),
                    "occurs": _int(exception.get("occurs")),
                    "desc": str(exception.get("desc") or "")[:200],
                }
            )
        else:
            unknown += 1

    views = [_stream_view(key, parts, window) for key, parts in streams.items()]
    if window is not None:
        views = [
            v
            for v in views
            if v["sessions"]
            or v["recordings"]
            or v["snapshots"]["count"]
            or v["hits"]
            or v["health"]
            or v["recording_status"]
            or v["recording_exceptions"]
        ]
    for view in views:
        for hit in view["hits"]:
            hit["action"] = actions.get(str(hit["dedupe_id"]))
    views.sort(key=lambda v: (v["app"], v["appname"], v["stream_id"]))
    totals: Counter[str] = Counter()
    for view in views:
        totals.update({name: value for name, value in view["counts"].items() if isinstance(value, int)})
    totals["streams"] = len(views)
    totals["quarantined"] = len(quarantined)
    return {
        "streams": views,
        "totals": dict(totals),
        "quarantined": quarantined,
        "unrecognised_documents": unknown,
        "published_suggestions": sorted(publish),
    }


def _overlaps(start: int | None, end: int | None, window: tuple[int, int] | None) -> bool:
    """Whether [start, end] meets the window; a missing start or end is open on that side."""
    if window is None:
        return True
    return (start is None or start < window[1]) and (end is None or end >= window[0])


SAME_PUSH_SECONDS = 120
"""A session synthesised on its own (`synthesised-<start>` sequence) and a real one whose begin or
end is this close are the same push (shared/reconcile.py SESSION_MATCH_SECONDS)."""


def _real_first(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop a session reconcile synthesised on its own when the real callbacks of that push came
    after all: the real one is shown, never both."""
    real = [s for s in sessions if not s["sequence"].startswith("synthesised-")]

    def shadowed(session: dict[str, Any]) -> bool:
        return any(
            session[side] is not None
            and other[side] is not None
            and abs(session[side] - other[side]) <= SAME_PUSH_SECONDS
            for other in real
            for side in ("begin", "end")
        )

    return [s for s in sessions if not (s["sequence"].startswith("synthesised-") and shadowed(s))]


def _stream_view(
    key: tuple[str, str, str], parts: Mapping[str, Any], window: tuple[int, int] | None = None
) -> dict[str, Any]:
    app, appname, stream_id = key
    begins: Mapping[str, Any] = parts["begins"]
    ends: Mapping[str, Any] = parts["ends"]
    sessions = _real_first([_session(seq, begins.get(seq), ends.get(seq)) for seq in {**begins, **ends}])
    sessions.sort(key=lambda s: (s["begin"] if s["begin"] is not None else s["end"] or 0, s["sequence"]))
    for index, session in enumerate(sessions):
        if session["state"] == NO_END and index == len(sessions) - 1:
            session["state"] = LIVE
        if index and session["begin"] is not None:
            previous = sessions[index - 1]
            if previous["end"] is not None and session["begin"] < previous["end"]:
                session["notes"].append("begins before the previous session ended")
    sessions = [s for s in sessions if _overlaps(s["begin"], s["end"], window)]
    recordings = sorted(
        (r for r in parts["recordings"] if _overlaps(r["start"], r["end"], window)),
        key=lambda r: (r["end"] or 0, str(r["format"]), str(r["file_id"])),
    )
    hits = sorted(
        (h for h in parts["hits"] if _overlaps(h["time"], h["time"], window)),
        key=lambda h: (h["time"] or 0, str(h["img"]), str(h.get("dedupe_id"))),
    )
    health = sorted((h for h in parts["health"] if _overlaps(h["time"], h["time"], window)), key=lambda h: h["time"])
    statuses = sorted(
        (r for r in parts["recording_status"] if _overlaps(r["time"], r["time"], window)),
        key=lambda r: (r["time"] or 0, r["event"]),
    )
    exceptions = sorted(
        (r for r in parts["recording_exceptions"] if _overlaps(r["time"], r["time"], window)),
        key=lambda r: (r["time"] or 0, r["type"] or 0),
    )
    items = sorted(
        ((t, url) for t, url in parts["snapshots"] if _overlaps(t, t, window)),
        key=lambda item: (item[0] if item[0] is not None else -1, str(item[1])),
    )
    shots = [t for t, _ in items if t is not None]
    states = Counter(s["state"] for s in sessions)
    suggestions = Counter(h["suggestion"] for h in hits)
    return {
        "app": app,
        "appname": appname,
        "stream_id": stream_id,
        "sessions": sessions,
        "recordings": recordings,
        "snapshots": {
            "count": len(items),
            "first": shots[0] if shots else None,
            "last": shots[-1] if shots else None,
            "items": [{"time": t, "url": url} for t, url in items],
        },
        "hits": hits,
        "health": health,
        "recording_status": statuses,
        "recording_exceptions": exceptions,
        "counts": {
            "sessions": len(sessions),
            "complete_sessions": states[COMPLETE],
            "live_sessions": states[LIVE],
            "sessions_without_end": states[NO_END],
            "sessions_without_begin": states[NO_BEGIN],
            "recordings": len(recordings),
            "formats": dict(sorted(Counter(str(r["format"]) for r in recordings).items())),
            "snapshots": len(items),
            "hits": len(hits),
            "hits_by_suggestion": {s: suggestions[s] for s in sorted(suggestions, key=_suggestion_rank)},
            "publishable_hits": sum(1 for h in hits if h["published"]),
            "push_exceptions": len(health),
            "recording_failures": sum(1 for r in statuses if r["failed"]),
            "recording_exceptions": len(exceptions),
            "backfilled": parts["repaired"][RECONCILE],
            "synthesised": sum((s["begin_source"] == SYNTHESISED) + (s["end_source"] == SYNTHESISED) for s in sessions),
        },
    }


def action_text(document: Mapping[str, Any]) -> str:
    """What moderation_action did with a hit, in a few words: `forbid until ... (state forbid)`."""
    decision = str(document.get("decision") or "?")
    text = {"none": "no action", "queue": "queued for review", "exempt": "exempt"}.get(decision, decision)
    if document.get("resume_time"):
        text += f" until {document['resume_time']}"
    state = document.get("stream_state")
    if isinstance(state, Mapping) and state.get("state"):
        text += f" (state {state['state']})"
    if document.get("dry_run"):
        text += " [dry run]"
    if document.get("status") != "done":
        text += f" [{document.get('status')}]"
    return text


def _suggestion_rank(suggestion: str) -> tuple[int, str]:
    rank = SUGGESTION_ORDER.index(suggestion) if suggestion in SUGGESTION_ORDER else len(SUGGESTION_ORDER)
    return rank, suggestion


# Reading a bucket.


SESSION_LOOKBACK = 2 * 86400
"""How far before a window session documents are read, so a session begun earlier is joined whole."""


@lru_cache(maxsize=8)
def _days(since: int, until: int) -> frozenset[str]:
    """The date folders (`YYYY/MM/DD`, UTC) from `since` to `until` (end excluded)."""
    first = datetime.fromtimestamp(since, tz=timezone.utc).date()
    last = datetime.fromtimestamp(max(since, until - 1), tz=timezone.utc).date()
    return frozenset((first + timedelta(days=n)).strftime("%Y/%m/%d") for n in range((last - first).days + 1))


def _wanted(key: str, streams: Sequence[str], window: tuple[int, int] | None = None) -> bool:
    parts = key.split("/")
    if window is not None:  # the key's date folder: a day can be selected without a GET
        quarantine = key.startswith(QUARANTINE)
        day = "/".join(parts[2:5] if quarantine else parts[4:7])
        since = window[0] - (SESSION_LOOKBACK if key.startswith(SESSIONS) else 0)
        if day not in _days(since, window[1]):
            return False
    if not streams or key.startswith(QUARANTINE):
        return True
    return len(parts) > 3 and parts[3] in {encode_part(s) for s in streams}


def stored_documents(
    store: CosStore, streams: Sequence[str] = (), window: tuple[int, int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every document the functions stored (optionally only of some streams and of the days of
    `window`; sessions from SESSION_LOOKBACK earlier), with its key."""
    keys = [
        key for prefix in (*FOLDERS, ENFORCEMENT) for key in store.list_keys(prefix) if _wanted(key, streams, window)
    ]

    def fetch(key: str) -> dict[str, Any]:
        document, meta = store.get_json_and_metadata(key)
        if not isinstance(document, dict):
            return {"key": key}
        document.setdefault("key", store.prefix + key)
        if meta.get("source") == RECONCILE and "source" not in document:
            document["source"] = RECONCILE  # backfilled: the same bytes as live, marked in metadata
        return document

    with ThreadPoolExecutor(READERS) as pool:
        yield from pool.map(fetch, keys)


def timeline_of(
    settings: Settings, streams: Sequence[str] = (), window: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The timeline of the bucket `settings` name (optionally only of some streams, and of what
    happened in `window`, UTC seconds, end excluded), with its source."""
    store = CosStore(settings)
    documents = stored_documents(store, streams, window)
    timeline = build_timeline(documents, sorted(settings.moderation_suggestions), window)
    timeline["source"] = {"bucket": settings.cos_bucket, "region": settings.cos_region, "prefix": settings.cos_prefix}
    return timeline
