"""Text views of the read model (tooling/readmodel.py): the timeline as a terminal table.

Pure string building, so the local stack's demo, `scripts/timeline.py` and the tests print the
same thing; machines get the timeline itself as JSON.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from shared.events import PUSH_EXCEPTION_TYPES
from tooling.readmodel import LIVE


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


def terminal_safe(text: str) -> str:
    """`text` with every control or format character but the newline shown escaped (`\\x1b`), so
    a stored field (a stream name, a label, a reason) cannot move the cursor, clear the screen or
    hide lines of the tool's own output."""
    return "".join(
        ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else ascii(ch)[1:-1] for ch in text
    )


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
        + (f" · {plural(counts['push_exceptions'], 'push exception report')}" if counts.get("push_exceptions") else "")
        + (
            f" · {plural(counts['recording_failures'], 'recording failure')}"
            if counts.get("recording_failures")
            else ""
        )
        + (
            f" · {plural(counts['recording_exceptions'], 'recording exception')}"
            if counts.get("recording_exceptions")
            else ""
        )
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
                marks = [f"{side} {s[f'{side}_source']}" for side in ("begin", "end") if s.get(f"{side}_source")]
                state = s["state"] + "".join(f"; {note}" for note in [*marks, *s["notes"]])
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
                        str(r["url"] or r["file_id"] or "") + (" (backfilled)" if r.get("backfilled") else ""),
                    ]
                )
            lines.extend(table(rows))
        if stream.get("recording_status") or stream.get("recording_exceptions"):
            rows = [["recording event", "at", "detail"]]
            for r in stream.get("recording_status", []):
                rows.append(
                    [r["event"] + (" (FAILED)" if r["failed"] else ""), _clock(r["time"]), str(r["session_id"] or "")]
                )
            for r in stream.get("recording_exceptions", []):
                what = f"{r['level']} {r['type']} x{r['occurs']}: {r['desc']}"
                rows.append(["recording exception", _clock(r["time"]), what])
            lines.extend(table(rows))
        if stream.get("health"):
            rows = [["push exception", "types (count)", "interval"]]
            for h in stream["health"]:
                types = ", ".join(f"{t} {PUSH_EXCEPTION_TYPES.get(int(t), '?')} (x{n})" for t, n in h["types"].items())
                rows.append([_clock(h["time"]), types or "-", f"{h['interval_s']:g} s"])
            lines.extend(table(rows))
        snapshots = stream["snapshots"]
        if snapshots["count"]:
            lines.append(
                f"    snapshots  {snapshots['count']} from {_clock(snapshots['first'])} to {_clock(snapshots['last'])}"
            )
        if stream["hits"]:
            rows = [["hit", "suggestion", "label", "score", "published", "action", "image"]]
            for h in stream["hits"]:
                label = "/".join(str(x) for x in (h["label"], h["sub_label"]) if x)
                rows.append(
                    [
                        _clock(h["time"]),
                        h["suggestion"] or "?",
                        label or "-",
                        str(h["score"]),
                        "yes" if h["published"] else "no",
                        str(h.get("action") or "-"),
                        (f"audio: {h.get('asr_text') or ''}" if h.get("audio") else str(h["img"] or ""))
                        + (" (backfilled)" if h.get("backfilled") else ""),
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
    if totals.get("backfilled") or totals.get("synthesised"):
        lines.append(
            f"repaired by reconcile: {totals.get('backfilled', 0)} documents backfilled from the Live API's"
            f" callback records, {totals.get('synthesised', 0)} session begins/ends synthesised from its event list"
        )
    if timeline["quarantined"]:
        lines.append(f"quarantined: {len(timeline['quarantined'])} documents (authentic but unusable callbacks)")
        for item in timeline["quarantined"][:10]:
            lines.append(f"    {item['function']}: {item['reason']}")
    return terminal_safe("\n".join(lines))
