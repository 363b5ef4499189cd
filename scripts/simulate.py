#!/usr/bin/env python3
"""Simulate CSS live traffic: correctly signed, realistic callbacks for N streams, sent over HTTP.

Each stream pushes one or more sessions (begin, snapshots at an interval, occasional moderation
hits, end with a realistic errcode, recordings in several formats). Deliveries can be repeated as
CSS retries do, shuffled, sent concurrently and rate-limited; `--seed` makes a run reproducible.
Works against the local stack or a deployment (`--key` or LIVE_CALLBACK_KEYS): a base URL with the
five routes (`--url`), or one URL per function (`--stream-begin-url ...`, `--urls-from FILE`).

    .venv/bin/python scripts/simulate.py --url http://127.0.0.1:9000 --streams 8 --duplicates 0.3 --shuffle
    .venv/bin/python scripts/simulate.py --urls-from build/deploy-output.txt --streams 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import queue
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy import endpoints  # noqa: E402
from devstack import payloads  # noqa: E402
from devstack.gateway import ROUTES_FILE, load_routes  # noqa: E402
from devstack.stack import DEV_CALLBACK_KEY  # noqa: E402

KINDS = ("stream_begin", "stream_end", "record", "snapshot", "porn_detect")
FORMATS = ("mp4", "flv", "hls", "aac")
SUGGESTIONS = ("Block", "Review", "Pass")
DEFAULT_PUBLISHED = ("Block", "Review")
LOCAL_URL = "http://127.0.0.1:9000"
"""The local stack's gateway (./scripts/local.sh)."""
REQUEST_TIMEOUT = 20.0
"""CSS gives up on an answer after 20 s; so does the simulator."""

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
            for name in ("sessions", "live_sessions", "recordings", "snapshots", "hits", "publishable_hits"):
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
            if is_live:
                stream.live_sessions += 1
                break  # still pushing: no end, and no recording until it ends
            code, message = _session_end(rng, reconnects=i < n_sessions - 1)
            push_ms = duration * 1000 + rng.randint(0, 999)
            end_payload = payloads.stream_end(
                stream_id, end, sequence, push_ms=push_ms, errcode=code, errmsg=message, **common
            )
            callbacks.append(Callback("stream_end", stream_id, end_payload, end + 1))
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


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (`p` in 0-100) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Pacer:
    """Spreads request starts so that at most `rate` begin per second (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            slot = max(self.next, time.monotonic())
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Sender:
    """Keep-alive HTTP connections, one per worker thread and host (stdlib http.client)."""

    def __init__(self, timeout: float = REQUEST_TIMEOUT) -> None:
        self.timeout = timeout
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        connections: dict[tuple[str, str], http.client.HTTPConnection] = self.local.__dict__.setdefault(
            "connections", {}
        )
        connection = connections.get((scheme, netloc))
        if connection is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = cls(netloc, timeout=self.timeout)
            connections[(scheme, netloc)] = connection
            with self.lock:
                self.opened.append(connection)
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self.local.__dict__.get("connections", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def post(self, url: str, body: bytes) -> int | str:
        """The HTTP status, or a short error name when there was no answer."""
        parts = urlsplit(url)
        scheme, netloc = parts.scheme, parts.netloc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile is reopened once
            connection = self._connection(scheme, netloc)
            try:
                connection.request(
                    "POST",
                    target,
                    body=body,
                    headers={"Content-Type": "application/json", "User-Agent": "CSS-Callback-Simulator"},
                )
                answer = connection.getresponse()
                answer.read()
                if answer.will_close:
                    self._drop(scheme, netloc)
                return answer.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop(scheme, netloc)
                if attempt == 2:
                    return type(exc).__name__
            except TimeoutError:
                self._drop(scheme, netloc)
                return "timeout"
            except OSError as exc:
                self._drop(scheme, netloc)
                return type(exc).__name__
        return "unreachable"

    def close(self) -> None:
        with self.lock:
            for connection in self.opened:
                connection.close()
            self.opened.clear()


def targets(base_url: str | None, paths: Mapping[str, str]) -> dict[str, str]:
    """kind -> URL: `paths` values that are absolute URLs are used as they are, others go below `base_url`."""
    urls: dict[str, str] = {}
    for kind, path in paths.items():
        if urlsplit(path).scheme:
            urls[kind] = path
        elif base_url:
            urls[kind] = base_url.rstrip("/") + path
        else:
            raise ValueError(f"{kind}: {path!r} is a path, and no base URL was given")
        parts = urlsplit(urls[kind])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be an http(s) URL, got {urls[kind]!r}")
    return urls


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.lock = threading.Lock()

    def advance(self, ok: bool) -> None:
        with self.lock:
            self.done += 1
            self.failed += 0 if ok else 1
            now = time.monotonic()
            if self.enabled and (now - self.drawn >= 0.1 or self.done == self.total):
                self.drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = width * self.done // max(self.total, 1)
        rate = self.done / max(now - self.started, 1e-6)
        failed = f"  {self.failed} not 200" if self.failed else ""
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} callbacks  {rate:6.0f}/s{failed}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class RunResult:
    sent: int
    answers: Counter[str]
    latencies_ms: list[float]
    failed: list[tuple[str, str]]
    """(kind, stream) of callbacks that never got a 200."""
    elapsed_s: float


def run(
    base_url: str | None,
    order: Sequence[Callback],
    key: str,
    paths: Mapping[str, str],
    concurrency: int = 8,
    rate: float = 0.0,
    retries: int = 2,
    retry_delay: float = 0.2,
    progress: Progress | None = None,
) -> RunResult:
    """Deliver `order` to `base_url` + `paths[kind]` (or `paths[kind]` itself when it is a URL);
    a non-200 answer is retried as CSS would (faster)."""
    urls = targets(base_url, paths)
    sender = Sender()
    pacer = Pacer(rate)
    bodies: dict[int, bytes] = {}
    bodies_lock = threading.Lock()
    work: queue.SimpleQueue[Callback | None] = queue.SimpleQueue()
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    failed: list[tuple[str, str]] = []
    record_lock = threading.Lock()

    def body_of(callback: Callback) -> bytes:
        # CSS signs once (t = expiry) and re-sends the same body on every retry.
        with bodies_lock:
            if callback.index not in bodies:
                bodies[callback.index] = json.dumps(payloads.signed(callback.payload, key)).encode()
            return bodies[callback.index]

    # CSS re-sends a callback only after the previous attempt failed or timed out, never while it is
    # still in flight: a copy of a callback waits for the copy before it.
    in_flight = {callback.index: threading.Lock() for callback in order}

    def deliver(callback: Callback) -> None:
        with in_flight[callback.index]:
            attempt_all(callback)

    def attempt_all(callback: Callback) -> None:
        ok = False
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(retry_delay)
            pacer.wait()
            started = time.perf_counter()
            status = sender.post(urls[callback.kind], body_of(callback))
            elapsed = (time.perf_counter() - started) * 1000
            with record_lock:
                answers[str(status)] += 1
                latencies.append(elapsed)
            if status == 200:
                ok = True
                break
        if not ok:
            with record_lock:
                failed.append((callback.kind, callback.stream_id))
        if progress is not None:
            progress.advance(ok)

    def worker() -> None:
        while (callback := work.get()) is not None:
            deliver(callback)

    started = time.monotonic()
    for callback in order:
        work.put(callback)
    threads = [threading.Thread(target=worker, name=f"simulate-{n}", daemon=True) for n in range(max(1, concurrency))]
    for thread in threads:
        work.put(None)
        thread.start()
    for thread in threads:
        thread.join()
    sender.close()
    if progress is not None:
        progress.finish()
    return RunResult(sum(answers.values()), answers, latencies, failed, round(time.monotonic() - started, 3))


def summary(scenario: Scenario, order: Sequence[Callback], result: RunResult, url: str) -> dict[str, Any]:
    """What a person or a machine wants to know about a run (never the key or the signatures)."""
    latencies = result.latencies_ms
    repeated = Counter(c.index for c in order)
    return {
        "url": url,
        "seed": scenario.seed,
        "sent": result.sent,
        "deliveries": len(order),
        "unique_events": len(scenario.callbacks),
        "delivered_more_than_once": sum(1 for n in repeated.values() if n > 1),
        "unique_by_kind": dict(Counter(c.kind for c in scenario.callbacks)),
        "answers": dict(sorted(result.answers.items())),
        "not_accepted": len(result.failed),
        "elapsed_s": result.elapsed_s,
        "rate_per_s": round(result.sent / result.elapsed_s, 1) if result.elapsed_s else None,
        "latency_ms": {
            name: None if value is None else round(value, 2)
            for name, value in (
                ("p50", percentile(latencies, 50)),
                ("p95", percentile(latencies, 95)),
                ("p99", percentile(latencies, 99)),
                ("max", max(latencies) if latencies else None),
            )
        },
        "scenario": scenario.expected(),
    }


def describe(report: Mapping[str, Any]) -> str:
    """The human summary of a run."""
    totals = report["scenario"]["totals"]
    latency = report["latency_ms"]
    answers = ", ".join(f"{status} x {count}" for status, count in report["answers"].items()) or "none"
    formats: Counter[str] = Counter()
    suggestions: Counter[str] = Counter()
    for stream in report["scenario"]["streams"].values():
        formats.update(stream["formats"])
        suggestions.update(stream["hits_by_suggestion"])
    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(report["unique_by_kind"].items()))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"sent          {report['sent']} requests to {report['url']} in {report['elapsed_s']:.1f} s"
        f" ({report['rate_per_s'] or 0:.0f}/s), seed {report['seed']}",
        f"unique events {report['unique_events']} ({by_kind});"
        f" {report['delivered_more_than_once']} delivered more than once",
        f"answers       {answers}" + (f"; {report['not_accepted']} never accepted" if report["not_accepted"] else ""),
        f"latency ms    p50 {ms(latency['p50'])}  p95 {ms(latency['p95'])}  p99 {ms(latency['p99'])}"
        f"  max {ms(latency['max'])}",
        f"expected      {totals['streams']} streams, {totals['sessions']} sessions"
        f" ({totals['live_sessions']} still live), {totals['recordings']} recordings"
        f" ({', '.join(f'{f} {n}' for f, n in sorted(formats.items()))}), {totals['snapshots']} snapshots,"
        f" {totals['hits']} moderation hits ({', '.join(f'{s} {suggestions[s]}' for s in SUGGESTIONS)};"
        f" {totals['publishable_hits']} to publish)",
    ]
    return "\n".join(lines)


def route_paths(routes_file: Path = ROUTES_FILE, overrides: Sequence[str] = ()) -> dict[str, str]:
    """Callback kind -> URL path, from deploy/functions.yml's routes, then `kind=/path` overrides."""
    paths = {route.kind: route.path for route in load_routes(routes_file) if route.method in ("POST", "ANY")}
    for item in overrides:
        kind, _, path = item.partition("=")
        if kind not in KINDS or not path.startswith("/"):
            raise ValueError(f"--path wants kind=/path with kind in {', '.join(KINDS)}, got {item!r}")
        paths[kind] = path
    missing = [kind for kind in KINDS if kind not in paths]
    if missing:
        raise ValueError(f"no route for {', '.join(missing)} in {routes_file}; give --path kind=/path")
    return paths


def signing_key(explicit: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """The key to sign with and where it came from (the newest of LIVE_CALLBACK_KEYS)."""
    if explicit:
        return explicit, "--key"
    keys = [k.strip() for k in env.get("LIVE_CALLBACK_KEYS", "").split(",") if k.strip()]
    if keys:
        return keys[0], "LIVE_CALLBACK_KEYS"
    return DEV_CALLBACK_KEY, "the development key"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--key", help="callback key to sign with (default: first of LIVE_CALLBACK_KEYS, else the dev key)")
    p.add_argument("--streams", type=int, default=8, help="number of streams (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same scenario (default %(default)s)")
    p.add_argument("--snapshot-interval", type=int, default=60, help="seconds between snapshots (default %(default)s)")
    p.add_argument("--duplicates", type=float, default=0.3, help="fraction delivered 2-3 times (default %(default)s)")
    p.add_argument("--shuffle", action="store_true", help="deliver in random order (ends before begins, ...)")
    p.add_argument("--concurrency", type=int, default=8, help="parallel senders (default %(default)s)")
    p.add_argument("--rate", type=float, default=0.0, help="max requests per second, 0 = no limit (default)")
    p.add_argument("--retries", type=int, default=2, help="re-sends of a callback not answered 200 (default 2)")
    p.add_argument("--path", action="append", default=[], metavar="KIND=/PATH", help="override a route path")
    p.add_argument("--routes", type=Path, default=ROUTES_FILE, help="deploy spec to take paths from")
    p.add_argument("--publish", default=",".join(DEFAULT_PUBLISHED), help="suggestions the receiver publishes")
    p.add_argument("--json", action="store_true", help="print the summary (with the scenario) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: bar when stderr is a tty)")
    endpoints.add_arguments(p, base_help=f"base URL with the five routes below it (default {LOCAL_URL})")
    return p


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    if args.streams < 1 or args.snapshot_interval < 1 or not 0 <= args.duplicates <= 1 or args.concurrency < 1:
        print(
            "simulate: --streams, --snapshot-interval, --concurrency must be >= 1, --duplicates 0..1", file=sys.stderr
        )
        return 2
    try:
        paths = route_paths(args.routes, args.path)
        own = {kind: getattr(args, f"{kind}_url", None) for kind in KINDS}
        if args.urls_from is not None:
            own.update(endpoints.urls_from_text(args.urls_from.read_text(encoding="utf-8")))
        if not args.url and not all(own.values()):
            args.url = LOCAL_URL
        paths = {kind: own.get(kind) or path for kind, path in paths.items()}
        urls = targets(args.url, paths)  # validates every URL
    except (ValueError, OSError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    key, source = signing_key(args.key, os.environ)
    published = tuple(s.strip().capitalize() for s in args.publish.split(",") if s.strip())
    scenario = plan(args.streams, args.seed, snapshot_interval=args.snapshot_interval, published=published)
    order = deliveries(scenario, args.duplicates, args.shuffle)
    print(
        f"simulate: {len(scenario.callbacks)} callbacks of {args.streams} streams as {len(order)} deliveries"
        f" to {args.url or 'five URLs'}, signed with {source}",
        file=sys.stderr,
    )
    progress = Progress(len(order), enabled=not args.no_progress and sys.stderr.isatty())
    result = run(args.url, order, key, urls, args.concurrency, args.rate, args.retries, progress=progress)
    report = summary(scenario, order, result, args.url or ", ".join(f"{k}={u}" for k, u in urls.items()))
    out(json.dumps(report, indent=2) if args.json else describe(report))
    return 0 if not result.failed else 1


if __name__ == "__main__":
    sys.exit(main())
