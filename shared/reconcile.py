"""Reconcile: backfill from the Live API what CSS gave up delivering.

CSS retries a failed callback 12 times a minute apart (snapshots 5 times, 2 minutes apart), then
drops it. The Live API keeps, per stream, every callback CSS sent with the exact body and its
result, and every push session. A run walks a window: the push sessions of each configured
domain and the streams live now, then each stream's callback records; every record CSS could not
deliver is ingested through the same pipeline as a live callback (same model, key and bytes;
stored only where nothing is stored; a hit published once). A push session that still has no
begin or end document gets one synthesised from the event list, marked `source: synthesised`.

Each run writes a report under `reconcile/YYYY/MM/DD/<run id>.json`; a run that reaches its
time limit stops cleanly and leaves `reconcile/cursor.json`, from which the next run resumes.
A Live API or COS fault fails the run loudly; nothing is half-written (each document is one
create-only PUT), and the next run repairs what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared import gateway, pipeline
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import BadRequest, CallbackError, ClaimInProgress, ConfigurationError
from shared.events import MODELS, StreamBegin, StreamEnd
from shared.layout import canonical_json, encode_part, event_key
from shared.live import LiveApi, Record, Session, iso, load_live_settings
from shared.logs import emit
from shared.vocabulary import KIND_OF_CODE, QUARANTINE, SESSIONS

REPORTS = "reconcile/"
CURSOR = "reconcile/cursor.json"
DEFAULT_WINDOW_MINUTES = 180
SESSION_MATCH_SECONDS = 120
"""A stored begin/end within this of the event list's start/end time belongs to that session."""
SESSION_LOOKBACK = 3600
"""How long before the window a push may have begun (or ended) and still have callbacks in it."""
TIME_RESERVE_SECONDS = 30
"""Kept back from the SCF time limit to write the report and the cursor."""
_SESSION_NAME = re.compile(r"(\d{12})-(.+)-(begin|end)\.json")


@dataclass(frozen=True)
class ReconcileSettings:
    domains: tuple[str, ...]
    window_minutes: int


def load_reconcile_settings(env: Mapping[str, str]) -> ReconcileSettings:
    domains = tuple(d.strip() for d in env.get("RECONCILE_DOMAINS", "").split(",") if d.strip())
    if not domains:
        raise ConfigurationError("RECONCILE_DOMAINS is not set: give the push domains to reconcile, comma-separated")
    raw = env.get("RECONCILE_WINDOW_MINUTES", "").strip()
    try:
        minutes = int(raw) if raw else DEFAULT_WINDOW_MINUTES
    except ValueError:
        raise ConfigurationError(f"RECONCILE_WINDOW_MINUTES must be a whole number, got {raw!r}") from None
    if not 1 <= minutes <= 14 * 24 * 60:
        raise ConfigurationError("RECONCILE_WINDOW_MINUTES must be between 1 and 20160 (14 days)")
    return ReconcileSettings(domains, minutes)


@dataclass
class Report:
    run_id: str
    window: tuple[float, float]
    dry_run: bool = False
    streams_checked: int = 0
    records_seen: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    already_stored: int = 0
    backfilled: Counter[str] = field(default_factory=Counter)
    synthesised: int = 0
    quarantined: int = 0
    ignored: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    complete: bool = True
    resumed_at: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "dry_run": self.dry_run,
            "complete": self.complete,
            "resumed_at_stream": self.resumed_at,
            "streams_checked": self.streams_checked,
            "records_seen": dict(sorted(self.records_seen.items())),
            "delivered": self.delivered,
            "already_stored": self.already_stored,
            "backfilled": dict(sorted(self.backfilled.items())),
            "synthesised": self.synthesised,
            "quarantined": self.quarantined,
            "ignored": self.ignored,
            "failed": self.failed,
        }


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + uuid.uuid4().hex[:8]


@dataclass
class Run:
    """One reconcile run: where to look, what to do, and when to stop."""

    inst: pipeline.Instance
    live: LiveApi
    domains: tuple[str, ...]
    stop_at: float = float("inf")
    """`time.monotonic()` after which no new stream is started."""
    dry_run: bool = False
    every_record: bool = False
    """Ingest records CSS counted as delivered too (normally only the failed ones need it)."""
    _seen: set[str] = field(default_factory=set)
    _done: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(kind, request) written this run -> whether it was quarantined. When CSS's retries of a
    callback carry the same request (the Live API stand-in's records do; not verified against CSS),
    the first copy is written and the others are known stored without a COS call, counted as a
    rerun would count them. Retries that differ (a new `t`/`sign`) are each written, create-only,
    as before: nothing depends on the assumption but the number of COS calls."""

    def streams(self, start: float, end: float, only: str | None) -> tuple[list[tuple[str, str, str]], list[Session]]:
        """The streams to check and the sessions to close.

        Streams: every push session from `SESSION_LOOKBACK` before the window (a recording's
        callback, or CSS's last retry, can come well after its push ended; the event list is
        filtered by start time), and every stream live now. Sessions to close: those that overlap
        the window.
        """
        asked = [s for domain in self.domains for s in self.live.sessions(domain, start - SESSION_LOOKBACK, end)]
        sessions = [s for s in asked if s.start < end and (s.end is None or s.end >= start)]
        found = {(s.domain, s.app, s.stream) for s in asked}
        found.update(key for domain in self.domains for key in self.live.online(domain))
        chosen = sorted(k for k in found if only is None or k[2] == only)
        return chosen, [s for s in sessions if (s.domain, s.app, s.stream) in set(chosen)]

    def execute(self, start: float, end: float, only: str | None = None, resume_at: int = 0) -> Report:
        report = Report(new_run_id(), (start, end), self.dry_run, resumed_at=resume_at)
        streams, sessions = self.streams(start, end, only)
        for index, (_domain, _app, stream) in enumerate(streams):
            if index < resume_at:
                continue
            if time.monotonic() > self.stop_at:
                report.complete = False
                report.resumed_at = index
                return report
            report.streams_checked += 1
            for record in self.live.records(stream, start, end):
                self._record(record, report)
        for session in sessions:
            self._session(session, report)
        return report

    def _record(self, record: Record, report: Report) -> None:
        kind = KIND_OF_CODE.get(record.event_type)
        report.records_seen[kind or f"event_type {record.event_type}"] += 1
        if kind is None:
            report.ignored += 1  # an event type no function here receives
            return
        if record.result_code == 0 and not self.every_record:
            report.delivered += 1  # answered 200: stored (or quarantined) when it was delivered
            return
        try:
            payload = gateway.decode_json(record.request)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            if not self.dry_run:
                self._quarantine_text(kind, record)
            report.quarantined += 1
            return
        if self.dry_run:  # read only: would this record add a document?
            if self._stored_or_seen(kind, payload):
                report.already_stored += 1
            else:
                report.backfilled[kind] += 1
            return
        quarantined = self._done.get((kind, record.request))
        if quarantined is not None:
            if quarantined:
                report.quarantined += 1
            else:
                report.already_stored += 1
            return
        record_id = f"reconcile-{report.run_id}"
        try:
            outcome = pipeline.backfill(kind, payload, self.inst, Budget(60.0), record_id)
        except ClaimInProgress as exc:  # a live delivery of the same hit is publishing it now
            report.failed.append({"stream": record.stream, "kind": kind, "reason": exc.reason})
            return
        if outcome.outcome in ("stored", "published"):
            report.backfilled[kind] += 1
        elif outcome.outcome == "quarantined":
            report.quarantined += 1
        else:
            report.already_stored += 1
        self._done[(kind, record.request)] = outcome.outcome == "quarantined"

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

    def _session(self, session: Session, report: Report) -> None:
        folder = "/".join((encode_part(session.domain), encode_part(session.app), encode_part(session.stream)))
        days = {time.strftime("%Y/%m/%d", time.gmtime(t)) for t in (session.start, session.end or session.start)}
        found: dict[str, list[tuple[int, str]]] = {"begin": [], "end": []}
        for day in sorted(days):
            for key in self.inst.store.list_keys(f"{SESSIONS}{folder}/{day}/"):
                match = _SESSION_NAME.fullmatch(key.rsplit("/", 1)[-1])
                if match:
                    found[match.group(3)].append((int(match.group(1)), key))
        begin = _near(found["begin"], session.start)
        end = _near(found["end"], session.end) if session.end is not None else None
        if begin is not None and (end is not None or session.end is None):
            return
        sequence = self._sequence_of(begin or end) or f"synthesised-{int(session.start)}"
        if begin is None:
            report.synthesised += self._synthesise(session, sequence, "begin")
        if session.end is not None and end is None:
            report.synthesised += self._synthesise(session, sequence, "end")

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
        key = event_key(event)
        document = {
            "kind": "stream_begin" if side == "begin" else "stream_end",
            "key": self.inst.settings.cos_prefix + key,
            "event": event.normalised(),
            "original": None,
            "source": "synthesised",
            "synthesised_from": {
                "api": "DescribeLiveStreamEventList",
                "start": iso(session.start),
                "end": iso(session.end) if session.end is not None else None,
                "stop_reason": session.stop_reason,
            },
        }
        if self.dry_run:
            return 1
        meta = {"source": "synthesised"}
        return int(self.inst.store.create(key, pipeline.stored_json(document), meta, Budget(60.0)))


def _near(found: list[tuple[int, str]], when: float | None) -> str | None:
    if when is None:
        return None
    close = [(abs(t - when), key) for t, key in found if abs(t - when) <= SESSION_MATCH_SECONDS]
    return min(close)[1] if close else None


# The timer function.

_state: tuple[Settings, pipeline.Instance, LiveApi, ReconcileSettings] | None = None


def _instance() -> tuple[Settings, pipeline.Instance, LiveApi, ReconcileSettings]:
    global _state
    if _state is None:
        settings = load_settings(callbacks=False)
        settings.require_topic()  # backfilled hits are published like live ones
        settings.require_cmq_endpoint()
        live = LiveApi(load_live_settings(os.environ), settings.secret_id, settings.secret_key, settings.session_token)
        _state = (settings, pipeline.Instance(settings), live, load_reconcile_settings(os.environ))
    return _state


def reset() -> None:
    global _state
    _state = None


def _window(event: Mapping[str, Any], minutes: int, now: float) -> tuple[float, float, str | None]:
    """The window of a timer run (the last `minutes`), or one an operator asked for by direct invoke."""
    start, end = event.get("since"), event.get("until")
    stream = event.get("stream")
    if start is None and end is None:
        return now - minutes * 60, now, None
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or not start < end <= now:
        raise ConfigurationError("give 'since' < 'until' <= now as Unix times")
    return float(start), float(end), stream if isinstance(stream, str) else None


def _is_http(event: Mapping[str, Any]) -> bool:
    return any(name in event for name in ("httpMethod", "requestContext", "headers", "body"))


def run_once(run: Run, window: tuple[float, float], only: str | None, store_cursor: bool) -> Report:
    """Resume the cursor's window when one is left, else run `window`; write the report and cursor."""
    store = run.inst.store
    resume_at = 0
    if store_cursor and not run.dry_run:
        with contextlib.suppress(CallbackError, ValueError, KeyError, TypeError):
            cursor = store.get_json(CURSOR)
            window = (float(cursor["start"]), float(cursor["end"]))
            resume_at = int(cursor["next_stream"])
    report = run.execute(window[0], window[1], only, resume_at)
    if run.dry_run:
        return report
    day = time.strftime("%Y/%m/%d", time.gmtime(window[1]))
    body = canonical_json(report.as_dict())
    store.put_json(f"{REPORTS}{day}/{report.run_id}.json", body, {"source": "reconcile"})
    if store_cursor:
        if report.complete:
            with contextlib.suppress(CallbackError):
                store.delete(CURSOR)
        else:
            cursor_body = canonical_json({"start": window[0], "end": window[1], "next_stream": report.resumed_at})
            store.put_json(CURSOR, cursor_body, {"source": "reconcile"})
    return report


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
        start, end, only = _window(event_map, options.window_minutes, time.time())
        run = Run(inst, live, options.domains, stop_at=started + seconds - TIME_RESERVE_SECONDS)
        calls = live.calls
        report = run_once(run, (start, end), only, store_cursor=only is None and "since" not in event_map)
        outcome = "complete" if report.complete else "partial"
        log.update(report.as_dict(), outcome=outcome, live_api_calls=live.calls - calls)
        log["level"] = "error" if report.failed else "info"
        answer: dict[str, Any] = {"code": 0, **report.as_dict()}
    except CallbackError as exc:
        log.update(level="error", outcome=exc.outcome, reason=exc.reason)
        answer = {"code": exc.status, "message": exc.reason}
    log["seconds"] = round(time.monotonic() - started, 2)
    with contextlib.suppress(Exception):
        emit(log, secrets)
    if answer["code"] >= 500:
        raise RuntimeError(f"reconcile failed: {answer['message']}")  # SCF marks the run failed (and retries)
    return answer
