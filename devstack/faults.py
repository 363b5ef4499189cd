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

import contextlib
import socket
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


class TricklingPeer:
    """A raw HTTP peer on loopback that answers every request with headers at once and then a body
    one byte every `delay` seconds, in one of three framings:

    - `keep-alive`: HTTP/1.1 with a Content-Length, the connection kept open;
    - `close`: HTTP/1.1 with `Connection: close` (http.client hands the socket to the response);
    - `http/1.0`: an HTTP/1.0 status line, which closes after the answer just the same.

    Not WSGI: waitress decides the framing itself. The answer's status line and body are the same
    whatever is asked, so it stands in for COS (through `COS_PROXY`) or the topic (`CMQ_ENDPOINT`).
    """

    FRAMINGS = ("keep-alive", "close", "http/1.0")

    def __init__(self, framing: str, body: bytes = b'{"code":0}', delay: float = 1.0) -> None:
        if framing not in self.FRAMINGS:
            raise ValueError(f"framing must be one of {self.FRAMINGS}")
        self.framing, self.body, self.delay = framing, body, delay
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"trickle:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TricklingPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> TricklingPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the accept timeout: look at the stop flag again
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            while not self._stop.is_set():
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                headers, _, rest = head.partition(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip() or 0)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                self.requests += 1
                status = b"HTTP/1.0 200 OK" if self.framing == "http/1.0" else b"HTTP/1.1 200 OK"
                lines = [status, b"Content-Type: application/json", b"Content-Length: %d" % len(self.body)]
                if self.framing == "close":
                    lines.append(b"Connection: close")
                conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
                for i in range(len(self.body)):
                    if self._stop.wait(self.delay):
                        return
                    conn.sendall(self.body[i : i + 1])
                if self.framing != "keep-alive":
                    return
        except OSError:
            return
        finally:
            conn.close()


class SilentPeer:
    """A loopback address whose connects are never answered, as behind a firewall that drops SYNs.

    A listener that never accepts, its accept queue filled at once: the kernel then drops every
    further SYN, so a client's connect blocks until its own timeout. No WSGI fault can do this:
    every fault above answers the connect and misbehaves afterwards."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._fill: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fill.append(filler)
        time.sleep(0.05)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in (*self._fill, self._listener):
            sock.close()

    def __enter__(self) -> SilentPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
