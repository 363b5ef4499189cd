"""Reconcile: backfill from the Live API what CSS gave up delivering, and close what it never said.

CSS retries a failed callback 12 times a minute apart (snapshots 5 times, 2 minutes apart), then
drops it. The Live API keeps, per stream, every callback CSS sent with the exact body and its
result (`DescribeCallbackRecordsList`: one exact stream name per query, a day per query, the last
14 days, 20 queries a second per account), and every push session (`DescribeLiveStreamEventList`,
300/s) and what is live now (`DescribeLiveStreamOnlineList`, 100/s). Reading every stream's records
every run does not fit a platform's scale (docs/RELIABILITY.md, reconcile at scale), so a timer run
spends its calls where something may be missing, in this order, each step bounded by the run's
time and the share of each rate it is given (`RECONCILE_RATE_SHARE`):

1. **Live that tells the truth.** The online list now against the one the last run saw: a stream
   that left it, and every session that began since, is checked in COS; a begin or end no callback
   stored is synthesised from the event list (`source: synthesised`, under a key of its own that no
   callback can take: a real callback arriving later is stored beside it and wins in every view).
   A stream whose end callback never came is closed within one timer period.
2. **Canaries.** The few longest-live streams' records are read every run; a delivery that failed
   marks an outage, and every stream active in it gets that span read first.
3. **Slices queued** by steps 1 and 2: the stream's records in a span, oldest first.
4. **The sweep**, with what time is left: every known stream's records from where the last read
   ended, the stream furthest behind first, up to `SETTLE_SECONDS` ago (CSS is still retrying
   anything newer).

Every record CSS could not deliver, of a kind served here and of a configured domain, is ingested
through the same pipeline as a live callback (same model, key and bytes; stored only where nothing
is stored; a hit published once). `RequestLimitExceeded` slows the run down and never fails it.
What the run did not reach stays in `reconcile/state.json` (by stream name and time, never by
position in a list) for the next run. Each run writes a report under `reconcile/YYYY/MM/DD/`.
A Live API or COS fault fails the run loudly; nothing is half-written (each document is one
create-only PUT, the state is written last), and the next run repairs what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared import gateway, notify, pipeline
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import BadRequest, CallbackError, ClaimInProgress, ConfigurationError
from shared.events import MODELS, StreamBegin, StreamEnd
from shared.layout import canonical_json, encode_part, event_key
from shared.live import DEFAULT_RATE_SHARE, LiveApi, Record, Session, Throttled, iso, load_live_settings
from shared.logs import emit, scrub_json
from shared.vocabulary import KIND_OF_CODE, QUARANTINE, SESSIONS

REPORTS = "reconcile/"
STATE = "reconcile/state.json"
STATE_VERSION = 2
DEFAULT_WINDOW_MINUTES = 180
MAX_WINDOW_MINUTES = 14 * 24 * 60 - 60
"""The Live API keeps 14 days of records; a window reaching the edge would fail as the edge moves."""
RECORD_DAYS = 14
RETENTION_MARGIN = 1800
"""No query starts closer than this to the 14-day edge (it moves while a run waits its turn)."""
SESSION_MATCH_SECONDS = 120
"""A stored begin/end within this of the event list's start/end time belongs to that session."""
SESSION_LOOKBACK = 3600
"""How long before the window a push may have begun (or ended) and still have callbacks in it."""
SETTLE_SECONDS = 900
"""The sweep and the canaries read records up to this long ago: CSS retries a failed callback for
12 minutes (snapshots 10), so a newer failure may still be delivered by CSS itself, and the API's
pages do not say how soon a record can be read (assumed: within this)."""
OVERLAP_SECONDS = 60
"""Each sweep read starts this long before where the last one ended (records on the boundary)."""
SESSION_SETTLE_SECONDS = 60
"""Sessions that began this recently are checked next run (their begin callback may be in flight)."""
LEFT_ONLINE = "left the online list"
"""The stop reason of a session whose end no list shows: it ended when it was last seen live."""
_SOURCE_API = {LEFT_ONLINE: "DescribeLiveStreamOnlineList"}
CANARIES = 3
OUTAGE_PAD_SECONDS = 120
"""An outage is read from this long before the first failure a canary saw to this long after the last."""
CATCH_UP_SECONDS = 1800
"""An outage read starts where the sweep stands when that is at most this before the outage."""
OUTAGE_GAP_SECONDS = 300
"""Failures further apart than this are separate outages."""
SWEEP_HORIZON_SECONDS = 6 * 3600
"""The sweep reads a stream at most this far back: where the rate limit cannot keep up with every
stream (docs/RELIABILITY.md, reconcile at scale), it samples instead of falling further behind on
ever longer reads; what it skips is reported (`unswept_seconds`), and outages are still found by
the canaries and read first."""
LATE_SECONDS = 3600
"""A stream is swept until this long after it was last active (recordings and retries come late)."""
TIME_RESERVE_SECONDS = 30
"""Kept back from the SCF time limit to write the report and the state."""
_SESSION_NAME = re.compile(r"(\d{12})-(.+)-(begin|end)(\.synthesised)?\.json")
SYNTHESISED_SUFFIX = ".synthesised.json"
"""A synthesised session document's key ends so; an encoded part never holds a `.` (layout.py)."""


@dataclass(frozen=True)
class ReconcileSettings:
    domains: tuple[str, ...]
    window_minutes: int
    share: float = DEFAULT_RATE_SHARE


def load_reconcile_settings(env: Mapping[str, str]) -> ReconcileSettings:
    domains = tuple(d.strip() for d in env.get("RECONCILE_DOMAINS", "").split(",") if d.strip())
    if not domains:
        raise ConfigurationError("RECONCILE_DOMAINS is not set: give the push domains to reconcile, comma-separated")
    raw = env.get("RECONCILE_WINDOW_MINUTES", "").strip()
    try:
        minutes = int(raw) if raw else DEFAULT_WINDOW_MINUTES
    except ValueError:
        raise ConfigurationError(f"RECONCILE_WINDOW_MINUTES must be a whole number, got {raw!r}") from None
    if not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise ConfigurationError(
            f"RECONCILE_WINDOW_MINUTES must be between 1 and {MAX_WINDOW_MINUTES}"
            " (14 days, less an hour: the Live API keeps 14 days of records)"
        )
    raw_share = env.get("RECONCILE_RATE_SHARE", "").strip()
    try:
        share = float(raw_share) if raw_share else DEFAULT_RATE_SHARE
    except ValueError:
        raise ConfigurationError(f"RECONCILE_RATE_SHARE must be a number in (0, 1], got {raw_share[:20]!r}") from None
    if not 0 < share <= 1:
        raise ConfigurationError(f"RECONCILE_RATE_SHARE must be in (0, 1], got {share}")
    return ReconcileSettings(domains, minutes, share)


@dataclass
class Report:
    run_id: str
    window: tuple[float, float]
    mode: str = "timer"
    dry_run: bool = False
    streams_checked: int = 0
    records_seen: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    already_stored: int = 0
    backfilled: Counter[str] = field(default_factory=Counter)
    synthesised: int = 0
    quarantined: int = 0
    ignored: int = 0
    other_domain: int = 0
    """Records of a stream of the same name on a domain not configured: never ingested."""
    failed: list[dict[str, str]] = field(default_factory=list)
    complete: bool = True
    slices: Counter[str] = field(default_factory=Counter)
    """Records reads done, by why: outage, session, canary, sweep, window."""
    left: int = 0
    """Reads this run did not reach (kept in the state for the next one)."""
    expired: int = 0
    """Reads dropped because their span fell out of the Live API's 14 days."""
    outages: list[dict[str, str]] = field(default_factory=list)
    sessions_checked: int = 0
    closed: int = 0
    """Sessions whose end was synthesised this run (CSS's end callback never stored)."""
    sweep_lag_seconds: float = 0.0
    """How far behind now the stream furthest behind in the sweep is, when the run ends."""
    throttled: int = 0
    stopped_by: str | None = None
    unswept_seconds: float = 0.0
    """Stream-seconds the sweep skipped because they were past its horizon."""
    checked: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "dry_run": self.dry_run,
            "complete": self.complete,
            "stopped_by": self.stopped_by,
            "streams_checked": self.streams_checked,
            "sessions_checked": self.sessions_checked,
            "records_seen": dict(sorted(self.records_seen.items())),
            "delivered": self.delivered,
            "already_stored": self.already_stored,
            "backfilled": dict(sorted(self.backfilled.items())),
            "synthesised": self.synthesised,
            "closed": self.closed,
            "quarantined": self.quarantined,
            "ignored": self.ignored,
            "other_domain": self.other_domain,
            "failed": self.failed,
            "reads": dict(sorted(self.slices.items())),
            "left": self.left,
            "expired": self.expired,
            "outages": self.outages,
            "sweep_lag_seconds": round(self.sweep_lag_seconds),
            "throttled": self.throttled,
            "unswept_seconds": round(self.unswept_seconds),
        }


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + uuid.uuid4().hex[:8]


class OutOfTime(Exception):
    """The run reached its time limit (or was rate limited up to it): stop, keep what is left."""


@dataclass
class Slice:
    """A read of one stream's callback records over [start, end)."""

    stream: str
    start: float
    end: float
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "start": self.start, "end": self.end, "why": self.why}


@dataclass
class Known:
    """A stream the timer follows: records read up to `read`; active from `first` to `last`."""

    read: float
    first: float
    last: float


@dataclass
class State:
    """What one timer run leaves the next (reconcile/state.json)."""

    online: dict[str, float] = field(default_factory=dict)
    """`["domain", "app", "stream"]` (JSON) live at `online_at` -> its first publish time."""
    online_at: float | None = None
    sessions_until: float | None = None
    streams: dict[str, Known] = field(default_factory=dict)
    queue: list[Slice] = field(default_factory=list)

    def as_bytes(self) -> bytes:
        return canonical_json(
            {
                "version": STATE_VERSION,
                "online": self.online,
                "online_at": self.online_at,
                "sessions_until": self.sessions_until,
                "streams": {name: [k.read, k.first, k.last] for name, k in self.streams.items()},
                "queue": [s.as_dict() for s in self.queue],
            }
        )

    @classmethod
    def parse(cls, data: Any) -> State:
        """The stored state; a missing, older or unreadable one starts afresh (nothing is lost by
        that: the sweep reads the window again)."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls()
        try:
            return cls(
                online={str(k): float(v) for k, v in data["online"].items()},
                online_at=None if data["online_at"] is None else float(data["online_at"]),
                sessions_until=None if data["sessions_until"] is None else float(data["sessions_until"]),
                streams={str(k): Known(float(v[0]), float(v[1]), float(v[2])) for k, v in data["streams"].items()},
                queue=[
                    Slice(str(s["stream"]), float(s["start"]), float(s["end"]), str(s["why"])) for s in data["queue"]
                ],
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return cls()


def _ref(domain: str, app: str, stream: str) -> str:
    """A stream's key in the state: its three names, exactly."""
    return json.dumps([domain, app, stream], ensure_ascii=False)


def _folder(session: Session) -> str:
    return "/".join((encode_part(session.domain), encode_part(session.app), encode_part(session.stream)))


def _enqueue(state: State, part: Slice) -> None:
    """Queue a read, merged into a queued read of the same stream it overlaps (read once, not twice)."""
    for queued in state.queue:
        if queued.stream == part.stream and queued.start <= part.end and part.start <= queued.end:
            queued.start, queued.end = min(queued.start, part.start), max(queued.end, part.end)
            return
    state.queue.append(part)


@dataclass
class Run:
    """One reconcile run: where to look, what to do, and when to stop."""

    inst: pipeline.Instance
    live: LiveApi
    domains: tuple[str, ...]
    stop_at: float = float("inf")
    """`time.monotonic()` after which no new read is started."""
    dry_run: bool = False
    every_record: bool = False
    """Ingest records CSS counted as delivered too (normally only the failed ones need it)."""
    window_minutes: int = DEFAULT_WINDOW_MINUTES
    _seen: set[str] = field(default_factory=set)
    _done: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(kind, request) written this run -> whether it was quarantined. When CSS's retries of a
    callback carry the same request (the Live API stand-in's records do; not verified against CSS),
    the first copy is written and the others are known stored without a COS call, counted as a
    rerun would count them. Retries that differ (a new `t`/`sign`) are each written, create-only,
    as before: nothing depends on the assumption but the number of COS calls."""

    def __post_init__(self) -> None:
        self.live.give_up_at = self.stop_at

    def _in_time(self) -> None:
        if time.monotonic() > self.stop_at:
            raise OutOfTime("time limit")

    # Reading a stream's records

    def _read(self, part: Slice, report: Report, now: float) -> list[float] | None:
        """Ingest what CSS could not deliver in `part`; the times of those failed deliveries, or
        None when the span has left the Live API's 14 days (nothing can be read any more)."""
        oldest = now - RECORD_DAYS * 86400 + RETENTION_MARGIN
        start, end = max(part.start, oldest), part.end
        if end <= start:
            report.expired += 1
            return None
        self._in_time()
        failures: list[float] = []
        for record in self.live.records(part.stream, start, end):
            if self._record(record, report):
                failures.append(record.at)
            self._in_time()
        report.slices[part.why] += 1
        report.checked.add(part.stream)
        report.streams_checked = len(report.checked)
        return failures

    def _record(self, record: Record, report: Report) -> bool:
        """Ingest one record when it needs it; whether it was a failed delivery of ours."""
        kind = KIND_OF_CODE.get(record.event_type)
        report.records_seen[kind or f"event_type {record.event_type}"] += 1
        if kind is None:
            report.ignored += 1  # an event type no function here receives
            return False
        if record.result_code == 0 and not self.every_record:
            report.delivered += 1  # answered 200: stored (or quarantined) when it was delivered
            return False
        try:
            payload = gateway.decode_json(record.request)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            if not self.dry_run:
                self._quarantine_text(kind, record)
            report.quarantined += 1
            return record.result_code != 0
        if not self._ours(kind, payload):
            report.other_domain += 1  # the records query matches the stream name on every domain
            return False
        if self.dry_run:  # read only: would this record add a document?
            if self._stored_or_seen(kind, payload):
                report.already_stored += 1
            else:
                report.backfilled[kind] += 1
            return record.result_code != 0
        quarantined = self._done.get((kind, record.request))
        if quarantined is not None:
            if quarantined:
                report.quarantined += 1
            else:
                report.already_stored += 1
            return record.result_code != 0
        record_id = f"reconcile-{report.run_id}"
        try:
            outcome = pipeline.backfill(kind, payload, self.inst, Budget(60.0), record_id)
        except ClaimInProgress as exc:  # a live delivery of the same hit is publishing it now
            report.failed.append({"stream": record.stream, "kind": kind, "reason": exc.reason})
            return True
        if outcome.outcome in ("stored", "published"):
            report.backfilled[kind] += 1
        elif outcome.outcome == "quarantined":
            report.quarantined += 1
        else:
            report.already_stored += 1
        self._done[(kind, record.request)] = outcome.outcome == "quarantined"
        return record.result_code != 0

    def _ours(self, kind: str, payload: dict[str, Any]) -> bool:
        """Whether a record's callback is of a configured push domain. One that does not validate
        is ours to quarantine only when its `app` names one of ours (or it names none)."""
        try:
            domain = MODELS[kind].model_validate(payload).app
        except ValidationError:
            raw = payload.get("app", payload.get("domain"))
            return not isinstance(raw, str) or raw in self.domains
        return domain in self.domains

    def _stored_or_seen(self, kind: str, payload: dict[str, Any]) -> bool:
        try:
            key = event_key(MODELS[kind].model_validate(payload))
        except ValidationError:
            return False  # would be quarantined
        if key in self._seen:
            return True
        self._seen.add(key)
        return self.inst.store.head(key, Budget(60.0)) is not None

    def _quarantine_text(self, kind: str, record: Record) -> None:
        digest = hashlib.sha256(record.request.encode("utf-8", "replace")).hexdigest()[:32]
        day = time.strftime("%Y/%m/%d", time.gmtime(record.at))
        key = f"{QUARANTINE}reconcile/{day}/{digest}.json"
        document = {
            "function": kind,
            "reason": "a callback record's Request is not a JSON object",
            "payload_text": record.request,
            "record": {"stream": record.stream, "event_type": record.event_type, "at": iso(record.at)},
        }
        self.inst.store.create(key, pipeline.stored_json(document), {"source": "reconcile"}, Budget(60.0))

    # Sessions

    def _stored_sides(self, session: Session) -> tuple[str | None, str | None]:
        """The keys of the stored begin and end of `session` (a synthesised one counts), or None."""
        self._in_time()
        days = {time.strftime("%Y/%m/%d", time.gmtime(t)) for t in (session.start, session.end or session.start)}
        found: dict[str, list[tuple[int, str]]] = {"begin": [], "end": []}
        for day in sorted(days):
            for key in self.inst.store.list_keys(f"{SESSIONS}{_folder(session)}/{day}/"):
                match = _SESSION_NAME.fullmatch(key.rsplit("/", 1)[-1])
                if match:
                    found[match.group(3)].append((int(match.group(1)), key))
        begin = _near(found["begin"], session.start)
        return begin, _near(found["end"], session.end) if session.end is not None else None

    def _missing(self, session: Session, report: Report) -> list[float]:
        """The times of the begin and end of `session` that no document holds."""
        report.sessions_checked += 1
        begin, end = self._stored_sides(session)
        missing = [] if begin is not None else [session.start]
        return missing + ([session.end] if session.end is not None and end is None else [])

    def _session(self, session: Session, report: Report) -> list[float]:
        """Synthesise the begin or end of `session` that no document holds; the times of those made."""
        begin, end = self._stored_sides(session)
        if begin is not None and (end is not None or session.end is None):
            return []
        sequence = self._sequence_of(begin or end) or f"synthesised-{int(session.start)}"
        made: list[float] = []
        if begin is None and self._synthesise(session, sequence, "begin"):
            made.append(session.start)
        if session.end is not None and end is None and self._synthesise(session, sequence, "end"):
            made.append(session.end)
            report.closed += 1
        report.synthesised += len(made)
        return made

    def _sequence_of(self, key: str | None) -> str | None:
        if key is None:
            return None
        with contextlib.suppress(CallbackError, ValueError, KeyError, TypeError):
            sequence = self.inst.store.get_json(key)["event"]["sequence"]
            return str(sequence)
        return None

    def _synthesise(self, session: Session, sequence: str, side: str) -> int:
        common = {
            "app": session.domain,
            "appname": session.app,
            "stream_id": session.stream,
            "channel_id": session.stream,
            "sequence": sequence,
        }
        if side == "begin":
            begin = {**common, "event_type": 1, "event_time": int(session.start)}
            event: StreamBegin | StreamEnd = StreamBegin.model_validate(begin)
        else:
            assert session.end is not None
            duration_ms = int((session.end - session.start) * 1000)
            event = StreamEnd.model_validate(
                {
                    **common,
                    "event_type": 0,
                    "event_time": int(session.end),
                    "errmsg": session.stop_reason,
                    "push_duration": max(duration_ms, 0),
                }
            )
        # Never the key a real callback of this session would take: that one stays free for it.
        key = event_key(event).removesuffix(".json") + SYNTHESISED_SUFFIX
        document = {
            "kind": "stream_begin" if side == "begin" else "stream_end",
            "key": self.inst.settings.cos_prefix + key,
            "event": event.normalised(),
            "original": None,
            "source": "synthesised",
            "synthesised_from": {
                "api": "DescribeLiveStreamOnlineList"
                if session.stop_reason == LEFT_ONLINE
                else "DescribeLiveStreamEventList",
                "start": iso(session.start),
                "end": iso(session.end) if session.end is not None else None,
                "stop_reason": session.stop_reason,
            },
        }
        if self.dry_run:
            return 1
        settings = self.inst.settings
        kind = "stream_begin" if side == "begin" else "stream_end"
        if settings.publishes(kind) and self.inst.store.head(key, Budget(60.0)) is None:
            # Published before it is stored: a run that fails in between synthesises and publishes
            # it again (the same id); stored first, a failed publish would never be retried.
            message = notify.message(kind, event, notify.Stored(key, settings.cos_prefix, "synthesised"))
            self.inst.publisher.publish(scrub_json(notify.encode(message)), notify.tags(message), Budget(60.0))
        meta = {"source": "synthesised"}
        return int(self.inst.store.create(key, pipeline.stored_json(document), meta, Budget(60.0)))

    # An operator's window: every stream in it, read whole.

    def window(self, start: float, end: float, only: str | None, report: Report) -> None:
        """Every stream with a push session from `SESSION_LOOKBACK` before the window, or live now
        (a recording's callback, or CSS's last retry, can come well after its push ended), read
        over the window; then every session overlapping the window checked."""
        asked = [s for domain in self.domains for s in self.live.sessions(domain, start - SESSION_LOOKBACK, end)]
        sessions = [s for s in asked if s.start < end and (s.end is None or s.end >= start)]
        found = {s.stream for s in asked}
        found.update(ref[2] for domain in self.domains for ref in self.live.online(domain))
        streams = sorted(s for s in found if only is None or s == only)
        now = time.time()
        for index, stream in enumerate(streams):
            try:
                self._read(Slice(stream, start, end, "window"), report, now)
            except OutOfTime:
                report.left = len(streams) - index
                raise
        for session in sessions:
            if only is None or session.stream == only:
                report.sessions_checked += 1
                self._session(session, report)

    # The timer: liveness, canaries, queued reads, the sweep.

    def timer(self, state: State, now: float, report: Report) -> None:
        self._liveness(state, now, report)
        self._queue_outages(state, self._canaries(state, now, report), report)
        while state.queue:
            part = state.queue[0]
            self._read(part, report, now)
            state.queue.pop(0)
            known = state.streams.get(part.stream)
            if known is not None and part.start <= known.read:
                known.read = max(known.read, part.end)  # read from where the sweep stood: it goes on from here
        self._sweep(state, now, report)

    def _follow(self, state: State, stream: str, active: tuple[float, float], now: float) -> None:
        """Follow `stream` (active from `active[0]` to `active[1]`): its first read starts at its
        first activity, or the window's start when that is earlier."""
        first, last = active
        known = state.streams.get(stream)
        if known is None:
            start = max(now - self.window_minutes * 60, first - SESSION_MATCH_SECONDS)
            state.streams[stream] = Known(start, first, last)
        else:
            known.first, known.last = min(known.first, first), max(known.last, last)

    def _liveness(self, state: State, now: float, report: Report) -> None:
        """Check every session that began since the last run, and every stream that left the online
        list since; what no document holds is first looked for in the records around it (for up to
        half the time left), then synthesised. A read not made now is queued."""
        online: dict[str, float] = {}
        for domain in self.domains:
            for d, app, stream, published in self.live.online(domain):
                online[_ref(d, app, stream)] = published
        since = state.sessions_until if state.sessions_until is not None else now - self.window_minutes * 60
        until = now - SESSION_SETTLE_SECONDS
        sessions: dict[tuple[str, str, str, float], Session] = {}
        for domain in self.domains:
            for s in self.live.sessions(domain, since - SESSION_MATCH_SECONDS, until):
                sessions[(s.domain, s.app, s.stream, s.start)] = s
        still: dict[str, float] = {}
        for ref, published in state.online.items():
            if ref not in online:
                for s in self._departed(ref, published, state.online_at or now, now):
                    if s.end is None:  # the event list has it live: the online list missed it this time
                        still[ref] = published
                    sessions[(s.domain, s.app, s.stream, s.start)] = s
        for ref, published in online.items():
            self._follow(state, json.loads(ref)[2], (published, now), now)
        checked = sorted(sessions.values(), key=lambda s: s.start)
        for session in checked:
            self._follow(state, session.stream, (session.start, session.end or now), now)
        reading_until = time.monotonic() + max(self.stop_at - time.monotonic(), 0.0) / 2
        for session in checked:
            sides = self._missing(session, report)
            unread = []
            for part in _around(session.stream, sides):
                try:
                    if time.monotonic() > reading_until:
                        raise OutOfTime("half the time")
                    self._read(part, report, now)
                except (OutOfTime, Throttled):
                    reading_until = 0.0  # the rest is synthesised now and read later
                    unread.append(part)
            if sides:
                self._session(session, report)
            for part in unread:
                _enqueue(state, part)
        # Written only once every session is checked: a run stopped above checks them all again.
        state.online, state.online_at, state.sessions_until = {**online, **still}, now, until

    def _departed(self, ref: str, published: float, last_seen: float, now: float) -> list[Session]:
        """The sessions of a stream that left the online list: its ended ones from the event list;
        when the event list has none (it is "not to be relied upon", 267/30800), one that ended when
        the stream was last seen live (`LEFT_ONLINE`)."""
        domain, app, stream = json.loads(ref)
        listed = list(self.live.sessions(domain, published - SESSION_MATCH_SECONDS, now, stream))
        if listed:
            return listed
        return [Session(domain, app, stream, published, last_seen, LEFT_ONLINE)]

    def _canaries(self, state: State, now: float, report: Report) -> list[float]:
        """Read the longest-live streams' records up to `SETTLE_SECONDS` ago: their failed
        deliveries mark the outages every other stream's records are read for."""
        chosen: list[str] = []
        for ref, _published in sorted(state.online.items(), key=lambda item: (item[1], item[0])):
            stream = json.loads(ref)[2]
            if stream in state.streams and stream not in chosen:
                chosen.append(stream)
            if len(chosen) == CANARIES:
                break
        failures: list[float] = []
        for stream in chosen:
            failures += self._sweep_one(state, stream, now, report, "canary")
        return failures

    def _queue_outages(self, state: State, failures: list[float], report: Report) -> None:
        """Queue, for every stream active in an outage, a read of the outage's span that the sweep
        has not read yet."""
        for start, end in _outages(failures):
            report.outages.append({"start": iso(start), "end": iso(end)})
            queued = {(s.stream, s.why) for s in state.queue if s.start <= start and s.end >= end}
            for stream, known in sorted(state.streams.items()):
                active = known.first <= end and known.last >= start
                if active and known.read < end and (stream, "outage") not in queued:
                    # From where the sweep stands when that is close: one read instead of two.
                    begin = known.read - OVERLAP_SECONDS if known.read >= start - CATCH_UP_SECONDS else start
                    state.queue.append(Slice(stream, max(begin, known.first - SESSION_MATCH_SECONDS), end, "outage"))

    def _sweep_one(self, state: State, stream: str, now: float, report: Report, why: str) -> list[float]:
        known = state.streams[stream]
        end = now - SETTLE_SECONDS
        if end <= known.read:
            return []
        start = known.read - OVERLAP_SECONDS
        if start < end - SWEEP_HORIZON_SECONDS:  # too far behind to catch up: what lies before is skipped
            report.unswept_seconds += end - SWEEP_HORIZON_SECONDS - start
            start = end - SWEEP_HORIZON_SECONDS
        failures = self._read(Slice(stream, start, end, why), report, now)
        known.read = end
        if failures is None or known.read > known.last + LATE_SECONDS:
            del state.streams[stream]  # nothing more can come (or be read) for it
        return failures or []

    def _sweep(self, state: State, now: float, report: Report) -> None:
        for stream in sorted(state.streams, key=lambda name: (state.streams[name].read, name)):
            self._sweep_one(state, stream, now, report, "sweep")


def _around(stream: str, times: list[float]) -> list[Slice]:
    """Reads of `stream`'s records around each of `times`, those that overlap merged."""
    parts: list[Slice] = []
    for at in sorted(times):
        if parts and at - SESSION_MATCH_SECONDS <= parts[-1].end:
            parts[-1].end = at + SESSION_MATCH_SECONDS
        else:
            parts.append(Slice(stream, at - SESSION_MATCH_SECONDS, at + SESSION_MATCH_SECONDS, "session"))
    return parts


def _outages(failures: Iterable[float]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for at in sorted(failures):
        if spans and at - spans[-1][1] <= OUTAGE_GAP_SECONDS:
            spans[-1] = (spans[-1][0], at)
        else:
            spans.append((at, at))
    return [(start - OUTAGE_PAD_SECONDS, end + OUTAGE_PAD_SECONDS) for start, end in spans]


def _near(found: list[tuple[int, str]], when: float | None) -> str | None:
    if when is None:
        return None
    close = [(abs(t - when), key) for t, key in found if abs(t - when) <= SESSION_MATCH_SECONDS]
    return min(close)[1] if close else None


# Running: the report, the state, the timer function.


def _stopped(report: Report, exc: Exception) -> None:
    report.complete = False
    report.stopped_by = "rate limit" if isinstance(exc, Throttled) else "time limit"


def _write_report(run: Run, report: Report) -> None:
    day = time.strftime("%Y/%m/%d", time.gmtime(report.window[1]))
    run.inst.store.put_json(
        f"{REPORTS}{day}/{report.run_id}.json", canonical_json(report.as_dict()), {"source": "reconcile"}
    )


def run_window(run: Run, window: tuple[float, float], only: str | None) -> Report:
    """Read `window` whole for every stream in it (or `only`), then write the report (no state)."""
    report = Report(new_run_id(), window, mode="window", dry_run=run.dry_run)
    throttled = run.live.throttled
    try:
        run.window(window[0], window[1], only, report)
    except (OutOfTime, Throttled) as exc:
        _stopped(report, exc)
    report.throttled = run.live.throttled - throttled
    if not run.dry_run:
        _write_report(run, report)
    return report


def run_timer(run: Run, now: float | None = None) -> Report:
    """One timer run from the stored state; the state and the report written last."""
    now = time.time() if now is None else now
    store = run.inst.store
    state = State()
    with contextlib.suppress(CallbackError, ValueError):
        state = State.parse(json.loads(store.get_bytes(STATE)))
    report = Report(new_run_id(now), (now - run.window_minutes * 60, now))
    throttled = run.live.throttled
    try:
        run.timer(state, now, report)
    except (OutOfTime, Throttled) as exc:
        _stopped(report, exc)
    report.left = len(state.queue)
    report.throttled = run.live.throttled - throttled
    behind = [k.read for k in state.streams.values() if k.read < now - SETTLE_SECONDS]
    report.sweep_lag_seconds = max((now - SETTLE_SECONDS - t for t in behind), default=0.0)
    _write_report(run, report)
    store.put_json(STATE, state.as_bytes(), {"source": "reconcile"})
    return report


_state: tuple[Settings, pipeline.Instance, LiveApi, ReconcileSettings] | None = None


def _instance() -> tuple[Settings, pipeline.Instance, LiveApi, ReconcileSettings]:
    global _state
    if _state is None:
        settings = load_settings(callbacks=False)
        settings.require_topic()  # backfilled hits are published like live ones
        settings.require_cmq_endpoint()
        options = load_reconcile_settings(os.environ)
        live = LiveApi(load_live_settings(os.environ), settings.secret_id, settings.secret_key, settings.session_token)
        live.set_share(options.share)
        _state = (settings, pipeline.Instance(settings), live, options)
    return _state


def reset() -> None:
    global _state
    _state = None


def _window(event: Mapping[str, Any], now: float) -> tuple[float, float, str | None] | None:
    """The window an operator asked for by direct invoke, or None for a timer run."""
    start, end = event.get("since"), event.get("until")
    stream = event.get("stream")
    if start is None and end is None:
        return None
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or not start < end <= now:
        raise ConfigurationError("give 'since' < 'until' <= now as Unix times")
    return float(start), float(end), stream if isinstance(stream, str) else None


def _is_http(event: Mapping[str, Any]) -> bool:
    return any(name in event for name in ("httpMethod", "requestContext", "headers", "body"))


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    """The reconcile function: run by an SCF timer trigger (or a direct invoke naming a window).

    It takes no callback data from its event: an HTTP event is refused before any call is made,
    so the unsigned path into the pipeline (`pipeline.backfill`) is reachable only with data read
    from the authenticated Live API.
    """
    started = time.monotonic()
    event_map = event if isinstance(event, Mapping) else {}
    context_map = context if isinstance(context, Mapping) else {}
    log: dict[str, Any] = {"level": "info", "function": "reconcile", "request_id": context_map.get("request_id")}
    secrets: tuple[str, ...] = ()
    try:
        if _is_http(event_map):
            raise BadRequest("reconcile runs from its timer trigger; an HTTP event is refused")
        settings, inst, live, options = _instance()
        secrets = settings.secrets
        limit = context_map.get("time_limit_in_ms")
        seconds = limit / 1000 if isinstance(limit, (int, float)) and limit > 0 else 300.0
        asked = _window(event_map, time.time())
        run = Run(
            inst,
            live,
            options.domains,
            stop_at=started + seconds - TIME_RESERVE_SECONDS,
            window_minutes=options.window_minutes,
        )
        calls = live.calls
        report = run_timer(run) if asked is None else run_window(run, asked[:2], asked[2])
        outcome = "complete" if report.complete else "partial"
        log.update(report.as_dict(), outcome=outcome, live_api_calls=live.calls - calls)
        log["level"] = "error" if report.failed else "info"
        answer: dict[str, Any] = {"code": 0, **report.as_dict(), "live_api_calls": live.calls - calls}
    except CallbackError as exc:
        log.update(level="error", outcome=exc.outcome, reason=exc.reason)
        answer = {"code": exc.status, "message": exc.reason}
    log["seconds"] = round(time.monotonic() - started, 2)
    with contextlib.suppress(Exception):
        emit(log, secrets)
    if answer["code"] >= 500:
        raise RuntimeError(f"reconcile failed: {answer['message']}")  # SCF marks the run failed (and retries)
    return answer
