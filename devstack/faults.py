"""Fault injection between a function and a stand-in, as WSGI middleware.

Modes: `ok`; `error` (answer `status` without touching the stand-in); `slow` (wait `delay`
seconds, then forward); `hang` (accept and never answer until cleared); `lose_answer` (forward,
so the write happens, then never answer: the client's read times out). `times` limits how many
requests the fault hits before it clears itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

HANG_LIMIT_SECONDS = 30.0


@dataclass
class Fault:
    mode: str = "ok"
    status: int = 503
    delay: float = 0.0
    times: int | None = None


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

    def set(self, mode: str, *, status: int = 503, delay: float = 0.0, times: int | None = None) -> None:
        with self._lock:
            self._release.set()  # free anything hanging from the previous fault
            self._release = threading.Event()
            self.fault = Fault(mode, status, delay, times)

    def clear(self) -> None:
        self.set("ok")

    def _take(self, environ: dict[str, Any]) -> tuple[Fault, threading.Event]:
        with self._lock:
            self.requests += 1
            self.log.append((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
            fault = self.fault
            if fault.mode != "ok":
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
        return self.app(environ, start_response)  # type: ignore[no-any-return]
