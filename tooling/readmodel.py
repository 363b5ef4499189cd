"""Timeline view: the documents the functions stored in COS, turned into per-stream sessions.

Pure functions (documents in, a JSON-able timeline out, text rendering), so the session view
is derived on read as the design asks and can be tested without COS. Half sessions (an end
without its begin, a begin without its end) and out-of-order pairs are kept and marked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

DEFAULT_PUBLISHED = ("Block", "Review")
SUGGESTION_ORDER = ("Block", "Review", "Pass")

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


def _session(sequence: str, begin: Mapping[str, Any] | None, end: Mapping[str, Any] | None) -> dict[str, Any]:
    begin_time = _int(begin.get("event_time")) if begin else None
    end_time = _int(end.get("event_time")) if end else None
    push_ms = _int(end.get("push_duration")) if end else None
    estimated = False
    if begin_time is None and end_time is not None and push_ms is not None:
        begin_time, estimated = end_time - push_ms // 1000, True
    if push_ms is not None:
        duration: int | None = push_ms // 1000
    elif begin_time is not None and end_time is not None:
        duration = end_time - begin_time
    else:
        duration = None
    notes: list[str] = []
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
        "notes": notes,
    }


def build_timeline(
    documents: Iterable[Mapping[str, Any]], published: Sequence[str] = DEFAULT_PUBLISHED
) -> dict[str, Any]:
    """Group stored documents by stream into sessions, recordings, snapshots and moderation hits.

    `documents` are the JSON objects the functions write (`{"kind", "key", "event", ...}`) and
    quarantine documents (`{"function", "reason", "payload"}`), in any order. `published` is the
    receiver's MODERATION_SUGGESTIONS, used to mark which hits were published.
    """
    publish = {s.capitalize() for s in published}
    streams: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"begins": {}, "ends": {}, "recordings": [], "snapshots": [], "hits": [], "duplicates": 0}
    )
    quarantined: list[dict[str, Any]] = []
    unknown = 0
    for document in documents:
        kind = document.get("kind")
        event = document.get("event")
        if kind is None and "function" in document and "payload" in document:
            quarantined.append(
                {"key": document.get("key"), "function": document.get("function"), "reason": document.get("reason")}
            )
            continue
        if not isinstance(event, Mapping):
            unknown += 1
            continue
        stream = streams[_stream_key(event)]
        if kind in ("stream_begin", "stream_end"):
            side = stream["begins" if kind == "stream_begin" else "ends"]
            sequence = str(event.get("sequence") or "")
            if sequence in side:
                stream["duplicates"] += 1
            side.setdefault(sequence, event)
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
                }
            )
        elif kind == "snapshot":
            stream["snapshots"].append(_int(event.get("create_time")))
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
                }
            )
        else:
            unknown += 1

    views = [_stream_view(key, parts) for key, parts in streams.items()]
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


def _stream_view(key: tuple[str, str, str], parts: Mapping[str, Any]) -> dict[str, Any]:
    app, appname, stream_id = key
    begins: Mapping[str, Any] = parts["begins"]
    ends: Mapping[str, Any] = parts["ends"]
    sessions = [_session(seq, begins.get(seq), ends.get(seq)) for seq in {**begins, **ends}]
    sessions.sort(key=lambda s: (s["begin"] if s["begin"] is not None else s["end"] or 0, s["sequence"]))
    for index, session in enumerate(sessions):
        if session["state"] == NO_END and index == len(sessions) - 1:
            session["state"] = LIVE
        if index and session["begin"] is not None:
            previous = sessions[index - 1]
            if previous["end"] is not None and session["begin"] < previous["end"]:
                session["notes"].append("begins before the previous session ended")
    recordings = sorted(parts["recordings"], key=lambda r: (r["end"] or 0, str(r["format"]), str(r["file_id"])))
    hits = sorted(parts["hits"], key=lambda h: (h["time"] or 0, str(h["img"])))
    shots = sorted(t for t in parts["snapshots"] if t is not None)
    states = Counter(s["state"] for s in sessions)
    suggestions = Counter(h["suggestion"] for h in hits)
    return {
        "app": app,
        "appname": appname,
        "stream_id": stream_id,
        "sessions": sessions,
        "recordings": recordings,
        "snapshots": {
            "count": len(parts["snapshots"]),
            "first": shots[0] if shots else None,
            "last": shots[-1] if shots else None,
        },
        "hits": hits,
        "counts": {
            "sessions": len(sessions),
            "complete_sessions": states[COMPLETE],
            "live_sessions": states[LIVE],
            "sessions_without_end": states[NO_END],
            "sessions_without_begin": states[NO_BEGIN],
            "recordings": len(recordings),
            "formats": dict(sorted(Counter(str(r["format"]) for r in recordings).items())),
            "snapshots": len(parts["snapshots"]),
            "hits": len(hits),
            "hits_by_suggestion": {s: suggestions[s] for s in sorted(suggestions, key=_suggestion_rank)},
            "publishable_hits": sum(1 for h in hits if h["published"]),
        },
    }


def _suggestion_rank(suggestion: str) -> tuple[int, str]:
    rank = SUGGESTION_ORDER.index(suggestion) if suggestion in SUGGESTION_ORDER else len(SUGGESTION_ORDER)
    return rank, suggestion


# Text rendering.


def _when(ts: int | None, estimated: bool = False) -> str:
    if ts is None:
        return "?"
    text = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"~{text}" if estimated else text


def _clock(ts: int | None) -> str:
    return "?" if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S")


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024  # type: ignore[assignment]
    return "?"


def table(rows: Sequence[Sequence[str]], indent: str = "    ") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)) + "  " + row[-1]).rstrip()
        for row in rows
    ]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _counts_line(counts: Mapping[str, Any]) -> str:
    half = counts["sessions_without_end"] + counts["sessions_without_begin"]
    sessions = plural(counts["sessions"], "session")
    extras = [f"{counts['live_sessions']} live"] if counts["live_sessions"] else []
    extras += [f"{half} half"] if half else []
    if extras:
        sessions += f" ({', '.join(extras)})"
    formats = ", ".join(f"{f} {n}" for f, n in counts["formats"].items())
    hits = ", ".join(f"{s} {n}" for s, n in counts["hits_by_suggestion"].items())
    return (
        f"{sessions} · {plural(counts['recordings'], 'recording')}"
        + (f" ({formats})" if formats else "")
        + f" · {plural(counts['snapshots'], 'snapshot')} · {plural(counts['hits'], 'moderation hit')}"
        + (f" ({hits}; {counts['publishable_hits']} published)" if hits else "")
    )


def render(timeline: Mapping[str, Any], detail: bool = True) -> str:
    """The timeline as a terminal table: per stream its sessions, recordings and hits."""
    lines: list[str] = []
    if not timeline["streams"]:
        lines.append("no stream documents found")
    for stream in timeline["streams"]:
        lines.append(f"{stream['stream_id']}  ({stream['app']}/{stream['appname']})")
        lines.append("  " + _counts_line(stream["counts"]))
        if not detail:
            continue
        if stream["sessions"]:
            rows = [["session", "begin (UTC)", "end", "duration", "state", "end reason"]]
            for n, s in enumerate(stream["sessions"], 1):
                reason = "" if s["errcode"] is None else f"{s['errcode']} {s['end_reason'] or ''}".strip()
                state = s["state"] + "".join(f"; {note}" for note in s["notes"])
                end = _clock(s["end"]) if s["end"] is not None else "-"
                rows.append(
                    [
                        str(n),
                        _when(s["begin"], s["begin_estimated"]),
                        end,
                        "-" if s["state"] == LIVE else duration(s["duration_s"]),
                        state,
                        reason,
                    ]
                )
            lines.extend(table(rows))
        if stream["recordings"]:
            rows = [["recording", "start", "end", "duration", "size", "url"]]
            for r in stream["recordings"]:
                rows.append(
                    [
                        str(r["format"]),
                        _clock(r["start"]),
                        _clock(r["end"]),
                        duration(r["duration_s"]),
                        size(r["file_size"]),
                        str(r["url"] or r["file_id"] or ""),
                    ]
                )
            lines.extend(table(rows))
        snapshots = stream["snapshots"]
        if snapshots["count"]:
            lines.append(
                f"    snapshots  {snapshots['count']} from {_clock(snapshots['first'])} to {_clock(snapshots['last'])}"
            )
        if stream["hits"]:
            rows = [["hit", "suggestion", "label", "score", "published", "image"]]
            for h in stream["hits"]:
                label = "/".join(str(x) for x in (h["label"], h["sub_label"]) if x)
                rows.append(
                    [
                        _clock(h["time"]),
                        h["suggestion"] or "?",
                        label or "-",
                        str(h["score"]),
                        "yes" if h["published"] else "no",
                        str(h["img"] or ""),
                    ]
                )
            lines.extend(table(rows))
        lines.append("")
    totals = timeline["totals"]
    lines.append(
        f"total: {totals.get('streams', 0)} streams, {totals.get('sessions', 0)} sessions"
        f" ({totals.get('complete_sessions', 0)} complete, {totals.get('live_sessions', 0)} live,"
        f" {totals.get('sessions_without_end', 0)} without end, {totals.get('sessions_without_begin', 0)} without"
        f" begin), {totals.get('recordings', 0)} recordings, {totals.get('snapshots', 0)} snapshots,"
        f" {totals.get('hits', 0)} moderation hits ({totals.get('publishable_hits', 0)} published)"
    )
    if timeline["quarantined"]:
        lines.append(f"quarantined: {len(timeline['quarantined'])} documents (authentic but unusable callbacks)")
        for item in timeline["quarantined"][:10]:
            lines.append(f"    {item['function']}: {item['reason']}")
    return "\n".join(lines)
