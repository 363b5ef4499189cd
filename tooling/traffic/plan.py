"""A reproducible scenario of live traffic: the unique callbacks of N streams and their delivery order.

Each stream pushes one or more sessions (begin, snapshots at an interval, occasional moderation
hits, end with a realistic errcode, recordings in several formats); `deliveries` repeats some as
CSS retries do and can shuffle them. The same arguments (and `now`) give the same callbacks.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devstack import payloads
from shared.vocabulary import DEFAULT_PUBLISHED, SUGGESTIONS

FORMATS = ("mp4", "flv", "hls", "aac")

# Stream-end errcodes as CSS sends them, with the message CSS pairs them with and a weight.
END_CODES: tuple[tuple[int, str, int], ...] = (
    (1, "recv rtmp deleteStream", 40),
    (2, "recv rtmp closeStream", 10),
    (3, "recv() return 0", 14),
    (4, "recv() return error", 8),
    (13, "push network error", 6),
    (20, "no data for a long time", 6),
    (21, "stopped by api", 4),
    (37, "stop unwatched stream", 4),
)
RECONNECT_CODES: tuple[tuple[int, str, int], ...] = (
    (4, "recv() return error", 3),
    (14, "push network error", 2),
    (20, "no data for a long time", 1),
)
EXPECTED_TOTALS = (
    "sessions",
    "live_sessions",
    "recordings",
    "snapshots",
    "hits",
    "publishable_hits",
    "push_exceptions",
    "recording_failures",
    "recording_exceptions",
)
TROUBLED_ENDS = frozenset({4, 13, 14, 20})
"""End codes of a push that was in trouble first: push exceptions are reported before them."""
BYTES_PER_SECOND = {"mp4": 250_000, "flv": 250_000, "hls": 260_000, "aac": 16_000}


@dataclass
class Callback:
    """One unique callback CSS would send: its kind, payload (unsigned) and natural delivery time."""

    kind: str
    stream_id: str
    payload: dict[str, Any]
    at: int
    index: int = 0


@dataclass
class StreamPlan:
    stream_id: str
    app: str = payloads.PUSH_DOMAIN
    appname: str = payloads.APPNAME
    sessions: int = 0
    live_sessions: int = 0
    recordings: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    snapshots: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    push_exceptions: int = 0
    recording_failures: int = 0
    recording_exceptions: int = 0

    def expected(self, published: Sequence[str]) -> dict[str, Any]:
        return {
            "app": self.app,
            "appname": self.appname,
            "sessions": self.sessions,
            "live_sessions": self.live_sessions,
            "recordings": self.recordings,
            "formats": dict(sorted(self.formats.items())),
            "snapshots": self.snapshots,
            "hits": sum(self.hits.values()),
            "hits_by_suggestion": {s: self.hits[s] for s in SUGGESTIONS},
            "publishable_hits": sum(n for s, n in self.hits.items() if s in published),
            "push_exceptions": self.push_exceptions,
            "recording_failures": self.recording_failures,
            "recording_exceptions": self.recording_exceptions,
        }


@dataclass
class Scenario:
    seed: int
    streams: list[StreamPlan]
    callbacks: list[Callback]
    published: tuple[str, ...] = DEFAULT_PUBLISHED

    def expected(self) -> dict[str, Any]:
        """Per stream the unique counts a correct receiver stores, and their totals."""
        streams = {plan.stream_id: plan.expected(self.published) for plan in self.streams}
        totals: Counter[str] = Counter()
        for counts in streams.values():
            for name in EXPECTED_TOTALS:
                totals[name] += counts[name]
        totals["streams"] = len(streams)
        totals["callbacks"] = len(self.callbacks)
        return {"streams": streams, "totals": dict(totals), "published_suggestions": list(self.published)}


def _session_end(rng: random.Random, reconnects: bool) -> tuple[int, str]:
    table = RECONNECT_CODES if reconnects else END_CODES
    code, message, _ = rng.choices(table, weights=[w for *_, w in table])[0]
    return code, message


def _file_id(rng: random.Random) -> str:
    return str(rng.randrange(5285890780000000000, 5285890799999999999))


def plan(
    streams: int = 8,
    seed: int = 1,
    now: int | None = None,
    snapshot_interval: int = 60,
    session_seconds: tuple[int, int] = (180, 1500),
    segment_seconds: int = 900,
    live_fraction: float = 0.15,
    reconnect_fraction: float = 0.3,
    hits_per_session: float = 1.5,
    stream_prefix: str = "room",
    published: Sequence[str] = DEFAULT_PUBLISHED,
) -> Scenario:
    """A reproducible scenario: the same arguments (and `now`) give the same callbacks."""
    rng = random.Random(seed)
    now = int(time.time()) if now is None else now
    tag = f"{rng.randrange(16**4):04x}"
    plans: list[StreamPlan] = []
    callbacks: list[Callback] = []
    formats_cycle = list(FORMATS)
    rng.shuffle(formats_cycle)
    suggestions_cycle = list(SUGGESTIONS)
    rng.shuffle(suggestions_cycle)
    hit_serial = 0
    record_serial = 0
    any_reconnect = any_live = False
    extra = random.Random(f"{seed}:template-kinds")  # its own draws: the five older kinds stay as they were
    seen = {"audio": False, "failed": False}

    for number in range(1, streams + 1):
        stream_id = f"{stream_prefix}{number:02d}-{tag}"
        stream = StreamPlan(stream_id)
        plans.append(stream)
        # A run of 3+ streams shows every case: at least one reconnect and, unless disabled, one live stream.
        last = number == streams and streams >= 3
        reconnects = rng.random() < reconnect_fraction or (last and reconnect_fraction > 0 and not any_reconnect)
        live = rng.random() < live_fraction or (last and live_fraction > 0 and not any_live)
        any_reconnect, any_live = any_reconnect or reconnects, any_live or live
        n_sessions = 2 if reconnects else 1
        durations = [rng.randint(*session_seconds) for _ in range(n_sessions)]
        gaps = [rng.randint(5, 90) for _ in range(n_sessions - 1)]
        end_of_stream = now - (rng.randint(5, 60) if live else rng.randint(60, 900))
        begin = end_of_stream - sum(durations) - sum(gaps)
        user_ip = f"203.0.113.{rng.randint(2, 250)}"
        for i, duration in enumerate(durations):
            is_live = live and i == n_sessions - 1
            end = begin + duration
            sequence = str(rng.randrange(10**18, 10**19))
            node = f"183.60.{rng.randint(1, 250)}.{rng.randint(2, 250)}"
            common = {"node": node, "user_ip": user_ip}
            stream.sessions += 1
            callbacks.append(
                Callback(
                    "stream_begin",
                    stream_id,
                    payloads.stream_begin(stream_id, begin, sequence, **common),
                    begin + 1,
                )
            )
            last_frame = now - 2 if is_live else end
            shots = list(range(begin + snapshot_interval, last_frame + 1, snapshot_interval))
            for shot in shots:
                callbacks.append(
                    Callback("snapshot", stream_id, payloads.snapshot(stream_id, shot), shot + rng.randint(1, 4))
                )
            stream.snapshots += len(shots)
            n_hits = min(len(shots), int(rng.expovariate(1 / hits_per_session))) if hits_per_session > 0 else 0
            for shot in sorted(rng.sample(shots, n_hits)):
                hit_serial += 1
                if hit_serial <= len(suggestions_cycle):  # every suggestion appears in a run with 3+ hits
                    suggestion = suggestions_cycle[hit_serial - 1]
                else:
                    suggestion = rng.choices(SUGGESTIONS, weights=(3, 4, 3))[0]
                score = {"Block": rng.randint(91, 99), "Review": rng.randint(70, 90), "Pass": rng.randint(5, 60)}[
                    suggestion
                ]
                payload = payloads.porn_hit(stream_id, shot, suggestion, score)
                callbacks.append(Callback("porn_detect", stream_id, payload, shot + rng.randint(3, 20)))
                stream.hits[suggestion] += 1
            seen["audio"] |= _audio_hits(extra, stream, callbacks, shots, force=last and not seen["audio"])
            if is_live:
                stream.live_sessions += 1
                break  # still pushing: no end, and no recording until it ends
            code, message = _session_end(rng, reconnects=i < n_sessions - 1)
            troubled = code in TROUBLED_ENDS or extra.random() < 0.1
            if troubled:
                _push_exceptions(extra, stream, callbacks, sequence, end)
            push_ms = duration * 1000 + rng.randint(0, 999)
            end_payload = payloads.stream_end(
                stream_id, end, sequence, push_ms=push_ms, errcode=code, errmsg=message, **common
            )
            callbacks.append(Callback("stream_end", stream_id, end_payload, end + 1))
            fails = extra.random() < 0.1 or (last and not seen["failed"])
            seen["failed"] = seen["failed"] or fails
            _recording_events(extra, stream, callbacks, begin, end, fails)
            record_serial += 1
            n_formats = 2 if rng.random() < 0.35 else 1
            chosen = [formats_cycle[(record_serial + k) % len(FORMATS)] for k in range(n_formats)]
            for file_format in chosen:
                start = begin
                while start < end:
                    stop = min(start + segment_seconds, end)
                    length = stop - start
                    file_id = _file_id(rng)
                    extension = "m3u8" if file_format == "hls" else file_format
                    ext = (
                        {"audio_codec": "aac"}
                        if file_format == "aac"
                        else {"video_codec": "h264", "resolution": "1280x720"}
                    )
                    record = payloads.record(
                        stream_id,
                        stop,
                        file_format,
                        length,
                        file_id=file_id,
                        record_file_id=file_id,
                        file_size=length * BYTES_PER_SECOND[file_format] + rng.randint(0, 9999),
                        video_url=f"http://1250000000.vod2.myqcloud.com/d2d8/{file_id}/f0.{extension}",
                        callback_ext=json.dumps(ext),
                    )
                    callbacks.append(Callback("record", stream_id, record, stop + rng.randint(5, 40)))
                    stream.recordings += 1
                    stream.formats[file_format] += 1
                    start = stop
            begin = end + (gaps[i] if i < len(gaps) else 0)

    callbacks.sort(key=lambda c: c.at)
    for index, callback in enumerate(callbacks):
        callback.index = index
    return Scenario(seed, plans, callbacks, tuple(published))


def _audio_hits(
    rng: random.Random, stream: StreamPlan, callbacks: list[Callback], shots: Sequence[int], force: bool
) -> bool:
    """Audio moderation hits (315): rarer than image hits, only suspected violations. Whether any."""
    count = 1 if force else (1 if rng.random() < 0.3 else 0)
    moments = sorted(rng.sample(list(shots), min(count, len(shots))))
    for moment in moments:
        suggestion = rng.choice(("Block", "Review"))
        payload = payloads.audio_hit(stream.stream_id, moment, suggestion, rng.randint(80, 99))
        callbacks.append(Callback("audio_moderation", stream.stream_id, payload, moment + rng.randint(5, 30)))
        stream.hits[suggestion] += 1
    return bool(moments)


def _push_exceptions(
    rng: random.Random, stream: StreamPlan, callbacks: list[Callback], sequence: str, end: int
) -> None:
    """Push exception reports (321) in the minutes before a troubled end, one per 10 s interval."""
    for k in range(rng.randint(1, 3)):
        at_ms = (end - 10 * (k + 1)) * 1000 + rng.randint(0, 999)
        kinds = tuple(sorted(rng.sample(range(1, 12), rng.randint(1, 2))))
        payload = payloads.push_exception(stream.stream_id, at_ms, kinds, sequence=sequence)
        callbacks.append(Callback("push_exception", stream.stream_id, payload, at_ms // 1000 + 1))
        stream.push_exceptions += 1


def _recording_events(
    rng: random.Random, stream: StreamPlan, callbacks: list[Callback], begin: int, end: int, fails: bool
) -> None:
    """Recording status (332) at the start and end of a session's recording; sometimes a failed
    start first (a retry then succeeds), sometimes a warning-level recording exception (341)."""
    session_id = str(rng.randrange(10**18, 10**19))
    events = [("record_start_failed", begin + 1)] if fails else []
    events += [("record_start_succeeded", begin + 3), ("record_ended", end + 2)]
    for event, at in events:
        payload = payloads.record_status(stream.stream_id, at, event, session_id=session_id)
        callbacks.append(Callback("record_status", stream.stream_id, payload, at + 1))
    stream.recording_failures += int(fails)
    if rng.random() < 0.2 and end - begin > 60:
        moment = rng.randint(begin + 30, end - 10)
        payload = payloads.record_exception(stream.stream_id, moment, "warning", -201, session_id=session_id)
        callbacks.append(Callback("record_exception", stream.stream_id, payload, moment + rng.randint(5, 120)))
        stream.recording_exceptions += 1


def deliveries(scenario: Scenario, duplicates: float = 0.0, shuffle: bool = False) -> list[Callback]:
    """The order in which callbacks reach the receiver.

    A `duplicates` fraction of callbacks is delivered two or three times, as CSS does when an answer
    is lost (a retry a minute or more later). `shuffle` drops all ordering, as retries and parallel
    senders can.
    """
    rng = random.Random(f"{scenario.seed}:deliveries")
    timed: list[tuple[float, Callback]] = []
    for callback in scenario.callbacks:
        timed.append((callback.at, callback))
        if rng.random() < duplicates:
            for retry in range(1, rng.randint(1, 2) + 1):
                timed.append((callback.at + 60 * retry + rng.random(), callback))
    timed.sort(key=lambda item: item[0])
    ordered = [callback for _, callback in timed]
    if shuffle:
        rng.shuffle(ordered)
    return ordered
