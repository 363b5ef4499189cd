"""Delivering planned callbacks over HTTP: signed, concurrent, rate-limited, retried as CSS does.

Keep-alive stdlib connections, one per worker thread and host; a copy of a callback waits for the
copy before it (CSS never re-sends while an attempt is in flight). Works against the local gateway
and deployed functions alike: a base URL with the routes of deploy/functions.yml, or one URL per kind.
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from devstack import payloads
from devstack.gateway import ROUTES_FILE, load_routes
from shared.vocabulary import KINDS
from tooling.traffic.plan import Callback

REQUEST_TIMEOUT = 20.0
"""CSS gives up on an answer after 20 s; so does the simulator."""


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
