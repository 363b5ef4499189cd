"""Hard deadlines for dependency calls: a call ends by its deadline whatever the peer does.

A socket read timeout bounds each read, not the call: a peer that sends one byte every two
seconds keeps a call alive forever. Every socket the SDKs' HTTP connections use through a session
given `mount()` is registered with the calling thread's guard; one watchdog thread per instance
shuts the guarded sockets down when the guard's deadline passes, which ends the blocked call at once.

The sockets themselves are tracked, not the connections holding them: when an answer will close
the connection (`Connection: close`, an HTTP/1.0 peer), http.client hands the socket over to the
response and sets `connection.sock` to None, so a cut that looked there would find nothing while
the body trickles on.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Guard:
    """One guarded call: the connections it used, and whether its deadline fired."""

    __slots__ = ("deadline", "done", "fired", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.done = False

    def cut(self) -> None:
        self.fired = True
        for sock in self.sockets:
            # shutdown, not close: it ends a read blocked in another thread at once, and works on a
            # socket http.client has "closed" while the response still reads from it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """A single sleeping thread that cuts the guards whose deadline has passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, guard: Guard) -> None:
        with self._wake:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deadline-watchdog", daemon=True)
                self._thread.start()
            elif earliest is None or guard.deadline < earliest:
                self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, guard = heapq.heappop(self._heap)
                    if not guard.done:
                        guard.cut()
                timeout = self._heap[0][0] - now if self._heap else None
                self._wake.wait(timeout)


_watchdog = _Watchdog()


@contextlib.contextmanager
def guarded(seconds: float) -> Iterator[Guard]:
    """Run the body with every connection it uses cut `seconds` from now (at the latest)."""
    guard = Guard(time.monotonic() + max(seconds, 0.0))
    previous = getattr(_local, "guard", None)
    _local.guard = guard
    _watchdog.arm(guard)
    try:
        yield guard
    finally:
        _local.guard = previous
        guard.done = True  # the watchdog skips a finished guard


def remaining() -> float | None:
    """Seconds left to the calling thread's guard (at least 0), or None outside any guard.

    A retry loop inside a guarded call asks it before it sleeps and tries again: the cut ends the
    attempt under way, and an attempt (or a backoff) that starts after the deadline must not."""
    guard: Guard | None = getattr(_local, "guard", None)
    if guard is None or guard.done:
        return None
    return 0.0 if guard.fired else max(guard.deadline - time.monotonic(), 0.0)


def _connect_timeout(connection: HTTPConnection) -> None:
    """Bound the connect (and the TLS handshake) by the guard: a socket is tracked only once it is
    connected, so a peer that never answers a SYN would otherwise hold the call for the client's
    whole connect timeout, attempt after attempt, out of the watchdog's reach."""
    left = remaining()
    if left is None:
        return
    if left <= 0:
        raise TimeoutError("the deadline passed before this connection was opened")
    current = connection.timeout
    if not isinstance(current, (int, float)) or current > left:
        connection.timeout = left


def _track(connection: HTTPConnection) -> None:
    """Register the connection's socket (when it has one) with the calling thread's guard."""
    guard: Guard | None = getattr(_local, "guard", None)
    sock = getattr(connection, "sock", None)
    if guard is not None and not guard.done and sock is not None:
        if sock not in guard.sockets:
            guard.sockets.append(sock)
        if guard.fired:  # the deadline passed before this request (or this connect) started
            guard.cut()


class _Guarded:
    """What both connection classes add: a connect bounded by the guard, every socket tracked."""

    def connect(self) -> None:
        _connect_timeout(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]
        _track(self)  # type: ignore[arg-type]  # a new socket: the guard holds it whatever http.client does later

    def request(self, *args: Any, **kwargs: Any) -> None:
        _track(self)  # type: ignore[arg-type]  # a reused keep-alive socket
        super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests adapter whose connections (direct or through a proxy) obey `guarded()`.

    It also keeps TCP_NODELAY on proxy connections: requests builds proxy pools without urllib3's
    default socket options, so a PUT's body would wait for the ACK of its headers (Nagle + delayed
    ACK: about 40 ms on every request through COS_PROXY).
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("socket_options", [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def mount(session: requests.Session, pool_maxsize: int = 4) -> requests.Session:
    """Give `session` guarded connections; `trust_env` off (the proxy is passed explicitly).

    requests otherwise re-reads every `*_proxy` variable and looks for ~/.netrc on each request
    (measured in docs/PERFORMANCE.md).
    """
    session.trust_env = False
    adapter = GuardedAdapter(pool_connections=1, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
