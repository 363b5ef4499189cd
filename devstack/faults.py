"""Fault injection between a function and a stand-in, as WSGI middleware.

Modes: `ok`; `error` (answer `status` without touching the stand-in); `slow` (wait `delay`
seconds, then forward); `hang` (accept and never answer until cleared); `lose_answer` (forward,
so the write happens, then never answer: the client's read times out); `trickle` (forward, then
send the answer one byte every `delay` seconds: each read succeeds, the call never ends);
`drop` (send the start of an answer and close the connection: a connection error).

`times` limits how many requests the fault hits before it clears itself, and `when` limits it to
the requests a predicate picks (`claims`, `marks`, `method("HEAD")`, ...), so one step of a
protocol can fail while the others go through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

HANG_LIMIT_SECONDS = 30.0
TRICKLE_PADDING = 32
"""Bytes added to a trickled answer, so even an empty answer (a PUT's) takes a while to read."""

Predicate = Callable[[dict[str, Any]], bool]


def method(name: str) -> Predicate:
    return lambda environ: environ.get("REQUEST_METHOD") == name


def claims(environ: dict[str, Any]) -> bool:
    """A create-only PUT: the claim of a moderation hit (or a takeover marker)."""
    return environ.get("REQUEST_METHOD") == "PUT" and environ.get("HTTP_X_COS_FORBID_OVERWRITE", "") == "true"


def marks(environ: dict[str, Any]) -> bool:
    """The PUT that marks a claim published."""
    state = environ.get("HTTP_X_COS_META_STATE", environ.get("HTTP_X_AMZ_META_STATE", ""))
    return environ.get("REQUEST_METHOD") == "PUT" and state == "published"


@dataclass
class Fault:
    mode: str = "ok"
    status: int = 503
    delay: float = 0.0
    times: int | None = None
    when: Predicate | None = None


class FaultInjector:
    def __init__(self, app: Callable[..., Any], error_body: Callable[[int], tuple[str, bytes]] | None = None) -> None:
        self.app = app
        self.fault = Fault()
        self.requests = 0
        self.hits = 0
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._error_body = error_body or (lambda status: ("text/plain", f"injected {status}".encode()))

    def set(
        self,
        mode: str,
        *,
        status: int = 503,
        delay: float = 0.0,
        times: int | None = None,
        when: Predicate | None = None,
    ) -> None:
        with self._lock:
            self._release.set()  # free anything hanging from the previous fault
            self._release = threading.Event()
            self.fault = Fault(mode, status, delay, times, when)

    def clear(self) -> None:
        self.set("ok")

    def _take(self, environ: dict[str, Any]) -> tuple[Fault, threading.Event]:
        with self._lock:
            self.requests += 1
            self.log.append((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
            fault = self.fault
            if fault.mode == "ok" or (fault.when is not None and not fault.when(environ)):
                return Fault(), self._release
            self.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.fault = Fault()
            return fault, self._release

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        fault, release = self._take(environ)
        if fault.mode == "error":
            content_type, body = self._error_body(fault.status)
            if environ.get("REQUEST_METHOD") == "HEAD":  # no body: it would poison the keep-alive stream
                body = b""
            start_response(
                f"{fault.status} Injected", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            )
            return [body]
        if fault.mode == "slow":
            time.sleep(fault.delay)
        elif fault.mode == "hang":
            release.wait(HANG_LIMIT_SECONDS)
            start_response("503 Hung", [("Content-Length", "0")])
            return [b""]
        elif fault.mode == "lose_answer":
            b"".join(self.app(environ, lambda *a, **k: None))  # the write reaches the stand-in
            release.wait(HANG_LIMIT_SECONDS)
            start_response("503 Lost", [("Content-Length", "0")])
            return [b""]
        elif fault.mode == "trickle":
            return self._trickle(environ, start_response, fault.delay or 2.0, release)
        elif fault.mode == "drop":
            start_response("200 OK", [("Content-Length", "64")])
            return _broken()
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _trickle(
        self, environ: dict[str, Any], start_response: Callable[..., Any], delay: float, release: threading.Event
    ) -> Iterator[bytes]:
        answer: list[Any] = []
        body = b"".join(self.app(environ, lambda status, headers, *a: answer.extend((status, headers))))
        status, headers = answer
        body += b" " * TRICKLE_PADDING if not body else b""
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        for i in range(len(body)):
            yield body[i : i + 1]
            if release.wait(delay):  # cleared: send the rest at once
                yield body[i + 1 :]
                return


def _broken() -> Iterator[bytes]:
    yield b"{"
    raise ConnectionAbortedError("injected: the connection drops mid-answer")
