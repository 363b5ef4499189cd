"""Serve a WSGI app on a loopback port in a background thread (waitress, keep-alive HTTP/1.1)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from waitress.server import create_server

WSGIApp = Callable[..., Any]
_S = TypeVar("_S", bound="StandIn")


class Server:
    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0, threads: int = 16) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads, channel_timeout=60, ident="standin")
        self.host = host
        self.port: int = self._server.socket.getsockname()[1]  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._server.run, name=f"serve:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once, keep-alive connections included.

        Closing only the listener from this thread leaves waitress looping while clients (the COS
        and TDMQ SDKs keep connections alive) hold channels open, and closing sockets under the
        running loop can raise EBADF there. So every channel is closed by a thunk run in the
        loop's own thread, which empties the loop and ends it.
        """
        closed = threading.Event()

        def close_all() -> None:
            for channel in list(self._server._map.values()):  # listener, trigger, every connection
                channel.close()
            closed.set()

        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # already closed
                self._server.trigger.pull_trigger(close_all)
            closed.wait(2.0)
        with contextlib.suppress(OSError):
            self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StandIn:
    """A stand-in for a cloud API on a loopback port: its WSGI app behind fault injection.

    Subclasses build `self.faults` (a `FaultInjector` around their app) and call `serve()`; the
    lifecycle (start, stop with faults cleared, `with`) is this one.
    """

    faults: Any
    server: Server

    def serve(self, faults: Any, port: int = 0) -> None:
        self.faults = faults
        self.server = Server(faults, port=port)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def endpoint(self) -> str:
        """`host:port`, as the tencentcloud SDK's HttpProfile takes it."""
        return f"{self.server.host}:{self.server.port}"

    def start(self: _S) -> _S:
        self.server.start()
        return self

    def stop(self) -> None:
        self.faults.clear()
        self.server.stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port() -> int:
    """A loopback port with nothing listening on it: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
