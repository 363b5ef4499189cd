"""shared/deadline.py: a guarded call ends at its deadline whatever framing the peer answers in.

The peer sends its headers at once and then ten body bytes one a second. With keep-alive the
socket stays on the connection; with `Connection: close` or an HTTP/1.0 status line http.client
moves it into the response (`connection.sock` becomes None), which is where a cut that tracked
connections instead of sockets lost it and the call ran the whole ten seconds.
"""

from __future__ import annotations

import time

import pytest
import requests

from devstack.faults import SilentPeer, TricklingPeer
from shared import deadline
from shared.errors import DependencyTimeout
from shared.live import LiveApi, LiveApiSettings, StreamRef

GUARD_SECONDS = 1.0
BODY = b"0123456789"
"""Ten seconds of body at one byte a second: far beyond the guard."""


@pytest.mark.parametrize("framing", TricklingPeer.FRAMINGS)
def test_a_guarded_request_ends_at_its_deadline_whatever_the_framing(framing: str) -> None:
    session = deadline.mount(requests.Session())
    with TricklingPeer(framing, BODY, delay=1.0) as peer:
        started = time.monotonic()
        with pytest.raises(requests.RequestException), deadline.guarded(GUARD_SECONDS) as guard:
            session.get(peer.url + "/slow", timeout=(1, 5))
        elapsed = time.monotonic() - started
    assert guard.fired
    assert elapsed < GUARD_SECONDS + 1.0, f"{framing}: the call ran {elapsed:.1f} s past a {GUARD_SECONDS} s guard"


def test_a_request_that_starts_after_its_guard_fired_is_cut_at_once() -> None:
    session = deadline.mount(requests.Session())
    with TricklingPeer("close", BODY, delay=1.0) as peer, deadline.guarded(0.2) as guard:
        time.sleep(0.4)  # the watchdog fires while no connection is open yet
        assert guard.fired
        started = time.monotonic()
        with pytest.raises(requests.RequestException):
            session.get(peer.url + "/late", timeout=(1, 5))
        assert time.monotonic() - started < 1.0


def test_an_earlier_guard_armed_after_a_later_one_still_fires_first() -> None:
    session = deadline.mount(requests.Session())
    # a long guard already sleeping in the watchdog, then a shorter one inside it
    with TricklingPeer("keep-alive", BODY, delay=1.0) as peer, deadline.guarded(30):
        time.sleep(0.2)  # the watchdog is asleep on the 30 s deadline now: the shorter one must wake it
        started = time.monotonic()
        with pytest.raises(requests.RequestException), deadline.guarded(GUARD_SECONDS):
            session.get(peer.url + "/nested", timeout=(1, 5))
        assert time.monotonic() - started < GUARD_SECONDS + 1.0


def test_an_answer_within_the_deadline_is_read_whole() -> None:
    session = deadline.mount(requests.Session())
    with TricklingPeer("close", b"ok", delay=0.05) as peer, deadline.guarded(3) as guard:
        answer = session.get(peer.url + "/quick", timeout=(1, 5))
    assert answer.content == b"ok" and not guard.fired


def test_a_connect_that_is_never_answered_ends_at_the_deadline() -> None:
    session = deadline.mount(requests.Session())
    with SilentPeer() as peer:
        started = time.monotonic()
        with pytest.raises(requests.RequestException), deadline.guarded(GUARD_SECONDS):
            session.get(f"http://{peer.endpoint}/", timeout=(10, 10))  # the client's own connect timeout: 10 s
        assert time.monotonic() - started < GUARD_SECONDS + 0.5


def test_a_live_api_call_and_all_its_retries_end_at_the_call_deadline() -> None:
    """The SDK's retryer tries again after the watchdog's cut, each time on a new connection: a
    call of 2 s against a peer that never answers its connects took 4 attempts of the client's
    10 s connect timeout (the reviewer measured 35 s for `drop(timeout=4)`)."""
    with SilentPeer() as peer:
        live = LiveApi(LiveApiSettings("ap-guangzhou", peer.endpoint, "http"), "AKIDtest", "key", None)
        started = time.monotonic()
        with pytest.raises(DependencyTimeout):
            live.drop(StreamRef("push.example.com", "live", "s"), timeout=2.0)
        assert time.monotonic() - started < 2.5


def test_a_request_on_a_kept_alive_connection_after_its_guard_fired_is_cut_at_once() -> None:
    """The connect bound covers a new connection; a socket kept alive from an unguarded request
    (so no guard holds it) is cut when a request on it starts after its guard fired."""
    session = deadline.mount(requests.Session())
    with TricklingPeer("keep-alive", BODY, delay=0.1) as peer:
        assert session.get(peer.url + "/first", timeout=(1, 5)).content == BODY  # ~1 s, unguarded
        with deadline.guarded(0.2) as guard:
            time.sleep(0.4)
            assert guard.fired
            started = time.monotonic()
            with pytest.raises(requests.RequestException):
                session.get(peer.url + "/late", timeout=(1, 5))
            assert time.monotonic() - started < 0.5  # uncut, the reused socket trickles for ~1 s
