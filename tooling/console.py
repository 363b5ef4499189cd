"""The HTML view of the read model: one self-contained page of streams for the on-call person.

`render_html` is pure (timeline in, HTML text out): the page carries the timeline as compact JSON
and builds each stream's DOM in the browser only when it is shown, so a day of thousands of
streams stays a few MB and responsive. No external script, font or stylesheet: the CSS and JS in
tooling/console_assets/ are inlined, and a Content-Security-Policy lets the page load nothing but
images. `upload` puts the page into the bucket (private) and returns a presigned URL.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.events import PUSH_EXCEPTION_TYPES
from shared.storage import CosStore
from shared.vocabulary import SUGGESTIONS
from tooling.readmodel import LIVE

ASSETS = Path(__file__).resolve().parent / "console_assets"
DAY = 86400
DEFAULT_HOURS = 24
UPLOAD_FOLDER = "console/"
"""Where `--upload` puts pages, under the configured prefix (never read as callback documents)."""
CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
"""The page may load images and nothing else: no script, font, stylesheet or fetch from elsewhere."""


class RangeError(ValueError):
    """A --day/--since/--until value that is not a UTC date or time; the message says which."""


def _instant(text: str, flag: str) -> int:
    """`2026-11-28`, `2026-11-28T04:30`, `2026-11-28 04:30:00` (UTC, a trailing Z allowed) or epoch seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.removesuffix("Z").replace(" ", "T"))
    except ValueError:
        raise RangeError(f"{flag} {text!r}: expected a UTC date or time such as 2026-11-28T04:30") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def parse_range(
    day: str | None = None, since: str | None = None, until: str | None = None, now: int | None = None
) -> tuple[int, int]:
    """The window (UTC seconds, end excluded): a whole `day`, or `since`..`until` (default: the
    last 24 hours up to now)."""
    now = int(time.time()) if now is None else now
    if day is not None:
        if since is not None or until is not None:
            raise RangeError("--day and --since/--until: give one or the other")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day.strip()):
            raise RangeError(f"--day {day!r}: expected YYYY-MM-DD (UTC)")
        start = _instant(day, "--day")
        return start, start + DAY
    end = _instant(until, "--until") if until is not None else now + 1
    start = _instant(since, "--since") if since is not None else end - DEFAULT_HOURS * 3600
    if start >= end:
        raise RangeError("--since must be before --until")
    return start, end


def _template(times: Sequence[int | None], urls: Sequence[str | None]) -> tuple[list[str], dict[str, str]]:
    """A stream's snapshot URLs as one `prefix{time}suffix` template plus the exceptions by index:
    CSS names a snapshot by its time, so a day of them costs a few bytes each."""
    template: list[str] = []
    for t, url in zip(times, urls, strict=True):
        if t is not None and url and str(t) in url:
            at = url.rfind(str(t))
            template = [url[:at], url[at + len(str(t)) :]]
            break
    exceptions: dict[str, str] = {}
    for index, (t, url) in enumerate(zip(times, urls, strict=True)):
        if not (template and t is not None and url == f"{template[0]}{t}{template[1]}"):
            exceptions[str(index)] = url or ""
    return template, exceptions


def _deltas(times: Sequence[int | None]) -> list[int]:
    out: list[int] = []
    previous = 0
    for t in times:
        value = t if t is not None else previous
        out.append(value - previous)
        previous = value
    return out


def _web_url(value: Any) -> str:
    """A link the page may open or load: http(s) only (a stored `javascript:` URL would run in it)."""
    text = str(value or "")
    return text if text.lower().startswith(("http://", "https://")) else ""


def _stream_data(stream: Mapping[str, Any]) -> dict[str, Any]:
    items = stream["snapshots"].get("items") or []
    times = [item["time"] for item in items]
    template, exceptions = _template(times, [_web_url(item["url"]) for item in items])
    sessions = [
        [
            s["begin"],
            s["end"],
            s["state"],
            1 if s["begin_estimated"] else 0,
            s.get("begin_source") or "",
            s.get("end_source") or "",
            "" if s["errcode"] is None else f"{s['errcode']} {s['end_reason'] or s['errmsg'] or ''}".strip(),
            "; ".join(s["notes"]),
        ]
        for s in stream["sessions"]
    ]
    recordings = [
        [r["start"], r["end"], r["format"] or "", _web_url(r["url"]), r["file_size"], 1 if r.get("backfilled") else 0]
        for r in stream["recordings"]
    ]
    hits = [
        [
            h["time"],
            h["suggestion"] or "?",
            "/".join(str(x) for x in (h["label"], h["sub_label"]) if x),
            h["score"],
            _web_url(h["img"]),
            1 if h["published"] else 0,
            1 if h.get("backfilled") else 0,
            h.get("action") or "",
            h.get("asr_text") or "",
        ]
        for h in stream["hits"]
    ]
    health = [
        [
            h["time"],
            ", ".join(f"{t} {PUSH_EXCEPTION_TYPES.get(int(t), 'type ' + t)} x{n}" for t, n in h["types"].items()),
        ]
        for h in stream.get("health", [])
    ]
    recording_events = [
        [r["time"], r["event"], 1 if r["failed"] else 0, ""] for r in stream.get("recording_status", [])
    ]
    recording_events += [
        [
            r["time"],
            f"exception {r['type']} ({r['level']})",
            1 if r["level"] == "error" else 0,
            f"x{r['occurs']} {r['desc']}",
        ]
        for r in stream.get("recording_exceptions", [])
    ]
    recording_events.sort(key=lambda r: r[0] or 0)
    counts = stream["counts"]
    return {
        "id": stream["stream_id"],
        "app": f"{stream['app']}/{stream['appname']}",
        "live": counts["live_sessions"],
        "s": sessions,
        "r": recordings,
        "t": _deltas(times),
        "u": template,
        "x": exceptions,
        "h": hits,
        "e": health,
        "re": recording_events,
        "repaired": counts.get("backfilled", 0) + counts.get("synthesised", 0),
    }


def page_data(timeline: Mapping[str, Any], window: tuple[int, int], built_at: int) -> dict[str, Any]:
    """What the page's script reads: the header's figures and every stream in compact form."""
    totals = timeline["totals"]
    streams = timeline["streams"]
    by_suggestion: Counter[str] = Counter()
    for stream in streams:
        by_suggestion.update(stream["counts"]["hits_by_suggestion"])
    reasons: Counter[tuple[str, str]] = Counter(
        (str(q.get("function") or "?"), str(q.get("reason") or "?")) for q in timeline["quarantined"]
    )
    times = [t for s in streams for t in _extent(s)]
    live_now = [  # streams whose latest session is open
        s["stream_id"] for s in streams if s["sessions"] and s["sessions"][-1]["state"] == LIVE
    ]
    return {
        "range": {"since": window[0], "until": window[1]},
        "extent": [min(times), max(times)] if times else [window[0], window[1]],
        "built": built_at,
        "source": timeline.get("source") or {},
        "totals": {
            "streams": totals.get("streams", 0),
            "sessions": totals.get("sessions", 0),
            "complete": totals.get("complete_sessions", 0),
            "live": totals.get("live_sessions", 0),
            "without_end": totals.get("sessions_without_end", 0),
            "without_begin": totals.get("sessions_without_begin", 0),
            "recordings": totals.get("recordings", 0),
            "snapshots": totals.get("snapshots", 0),
            "hits": totals.get("hits", 0),
            "published": totals.get("publishable_hits", 0),
            "quarantined": totals.get("quarantined", 0),
            "backfilled": totals.get("backfilled", 0),
            "synthesised": totals.get("synthesised", 0),
            "actions": sum(1 for stream in streams for h in stream["hits"] if h.get("action")),
            "push_exceptions": totals.get("push_exceptions", 0),
            "recording_failures": totals.get("recording_failures", 0),
        },
        "live_now": len(live_now),
        "hits_by_suggestion": {
            s: by_suggestion[s] for s in (*SUGGESTIONS, *sorted(set(by_suggestion) - set(SUGGESTIONS)))
        },
        "quarantine": [[function, reason, n] for (function, reason), n in reasons.most_common()],
        "streams": [_stream_data(s) for s in streams],
    }


def _extent(stream: Mapping[str, Any]) -> list[int]:
    points = [t for s in stream["sessions"] for t in (s["begin"], s["end"]) if t is not None]
    points += [t for r in stream["recordings"] for t in (r["start"], r["end"]) if t is not None]
    points += [t for t in (stream["snapshots"]["first"], stream["snapshots"]["last"]) if t is not None]
    points += [h["time"] for h in stream["hits"] if h["time"] is not None]
    points += [h["time"] for h in stream.get("health", []) if h["time"]]
    points += [r["time"] for r in stream.get("recording_status", []) if r["time"] is not None]
    return [min(points), max(points)] if points else []


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no `</script>`, no `<!--`, no line separators a parser trips on."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_html(timeline: Mapping[str, Any], window: tuple[int, int], built_at: int | None = None) -> str:
    """The page: the stylesheet, the data and the script, in one file that opens offline."""
    built = int(time.time()) if built_at is None else built_at
    data = page_data(timeline, window, built)
    since, until = (datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M") for t in window)
    title = f"Live streams {since} to {until} UTC"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_asset('console.css')}</style>\n</head>\n"
        f"<body>\n{_asset('console.html')}"
        f'<script type="application/json" id="console-data">{_script_json(data)}</script>\n'
        f"<script>\n{_asset('console.js')}</script>\n</body>\n</html>\n"
    )


def write_page(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def page_name(window: tuple[int, int], built_at: int) -> str:
    stamp = datetime.fromtimestamp(built_at, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = datetime.fromtimestamp(window[0], tz=timezone.utc).strftime("%Y-%m-%d")
    return f"streams-{day}-built-{stamp}.html"


def loopback_url(url: str, settings: Settings) -> str | None:
    """A presigned URL as a browser reaches it on the local stand-in (path-style through its
    address), or None for a real bucket, whose URL works as it is."""
    if not settings.cos_proxy:
        return None
    path = url.split("myqcloud.com", 1)[1] if "myqcloud.com" in url else url
    return f"{settings.cos_proxy.rstrip('/')}/{settings.cos_bucket}{path}"


def upload(settings: Settings, page: str, name: str, expires: timedelta) -> tuple[str, str]:
    """Put the page under `{prefix}console/` (private, as every object is by default) and return
    its key and a presigned GET URL valid for `expires` (COS wants a temporary key's token in it)."""
    store = CosStore(settings)
    key = store.prefix + UPLOAD_FOLDER + name
    store.client.put_object(
        Bucket=store.bucket, Key=key, Body=page.encode("utf-8"), ContentType="text/html; charset=utf-8"
    )
    params = {"x-cos-security-token": settings.session_token} if settings.session_token else {}
    url = store.client.get_presigned_url(
        Bucket=store.bucket, Key=key, Method="GET", Expired=int(expires.total_seconds()), Params=params
    )
    return key, str(url)
