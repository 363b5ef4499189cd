"""The event bus (issue 25): with NOTIFY_KINDS naming every kind, the team's app hears every event.

The doors publish through the TDMQ stand-in, which pushes each message to an HTTP subscription as
CMQ does (page 1496/65109: POST, `x-cmq-*` headers, JSON or SIMPLIFIED body, 2xx = delivered,
retried otherwise); the receiver is the example an app copies (examples/subscriber.py), running
as it would. Every message is validated against docs/events.schema.json.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from devstack import payloads, triggers
from devstack.live_api import LiveApiStandIn
from devstack.tdmq import HttpSubscription
from examples import subscriber
from shared import notify, reconcile
from shared.config import load_settings
from shared.vocabulary import FOLDER_OF
from tests.conftest import Live
from tooling.readmodel import timeline_of
from tooling.traffic.plan import plan

SCHEMA = Draft202012Validator(json.loads((Path(__file__).parent.parent / "docs" / "events.schema.json").read_text()))


class App:
    def __init__(self, live: Live, **options: Any) -> None:
        self.token = secrets.token_hex(8)
        self.server, self.state = subscriber.serve(0, self.token)
        endpoint = f"http://127.0.0.1:{self.server.server_port}/cmq?token={self.token}"
        self.live = live
        self.subscription = live.stack.tdmq.subscribe(
            HttpSubscription(live.topic, f"app-{self.token[:6]}", endpoint, time_scale=0.01, **options)
        )

    def drain(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.live.stack.tdmq.pushing():
            time.sleep(0.02)
        assert self.live.stack.tdmq.pushing() == 0

    def close(self) -> None:
        self.live.stack.tdmq.unsubscribe(self.subscription)
        self.server.shutdown()


@pytest.fixture
def app(live: Live) -> Iterator[App]:
    live.configure(NOTIFY_KINDS="all")
    receiver = App(live)
    try:
        yield receiver
    finally:
        receiver.close()


def _expected_ids(live: Live) -> dict[str, str]:
    """id -> kind of every stored event the doors publish: every document, a hit's only when its
    suggestion is published (MODERATION_SUGGESTIONS), synthesised ones included."""
    folders = {folder: kind for kind, folder in FOLDER_OF.items()}
    out = {}
    for key, document in live.documents().items():
        folder = key.split("/", 1)[0] + "/"
        kind = folders.get(folder)
        if kind is None or not isinstance(document, dict) or "event" not in document:
            continue
        if folder == FOLDER_OF["porn_detect"]:
            message = document["message"]
            if message["suggestion"] in ("Block", "Review"):
                out[message["id"]] = message["kind"]
            continue
        out[notify.message_id(key)] = document["kind"]
    return out


def test_the_app_hears_every_stored_event_once_and_its_live_set_matches_the_read_model(live: Live, app: App) -> None:
    scenario = plan(4, seed=25, stream_prefix="bus")
    for index, callback in enumerate(scenario.callbacks):
        body = payloads.signed(callback.payload)
        for _ in range(2 if index % 3 == 0 else 1):  # CSS delivers a third of them twice
            assert live.invoke(callback.kind, body)["statusCode"] == 200
    app.drain()
    state = app.state.state()
    expected = _expected_ids(live)
    missing = {i: expected[i] for i in set(expected) - set(state["ids"])}
    assert set(state["ids"]) == set(expected), f"one message per stored event; missing {missing}"
    assert state["messages"] == len(expected) and state["duplicates"] > 0
    assert {k for k in state["kinds"]} == set(expected.values())
    assert len(set(expected.values())) >= 8  # stream_begin/end, snapshot, record, hits and the newer kinds
    for message in app.state.messages:
        errors = sorted(SCHEMA.iter_errors(message), key=str)
        assert errors == [], (message["kind"], [e.message for e in errors])
    timeline = timeline_of(load_settings())
    live_in_view = sorted(
        "/".join((s["app"], s["appname"], s["stream_id"]))
        for s in timeline["streams"]
        if any(session["state"] == "live" for session in s["sessions"])
    )
    assert app.state.live_now() == live_in_view and live_in_view, "the app's live set is the read model's"
    pushes = app.subscription.attempts
    assert pushes and all(200 <= p["status"] < 300 for p in pushes)


def test_a_stream_whose_end_css_never_sent_leaves_the_apps_live_set(live: Live, app: App) -> None:
    api = LiveApiStandIn().start()
    try:
        live.configure(
            RECONCILE_DOMAINS=payloads.PUSH_DOMAIN,
            LIVE_API_ENDPOINT=api.endpoint,
            LIVE_API_SCHEME="http",
            LIVE_API_REGION="ap-guangzhou",
        )
        now = int(time.time())
        api.start_push(payloads.PUSH_DOMAIN, payloads.APPNAME, "vanished", at=now - 300)
        assert (
            live.deliver("stream_begin", stream_id="vanished", event_time=now - 300, sequence="v-1")["statusCode"]
            == 200
        )
        context = {**triggers.context("reconcile"), "time_limit_in_ms": 300_000}
        reconcile.reset()
        reconcile.main_handler({"Type": "Timer"}, context)
        app.drain()
        assert app.state.live_now() == [f"{payloads.PUSH_DOMAIN}/{payloads.APPNAME}/vanished"]
        api.history.sessions[0].end = now - 90  # the push ended; CSS never sent the end callback
        reconcile.reset()
        assert reconcile.main_handler({"Type": "Timer"}, context)["closed"] == 1
        app.drain()
        assert app.state.live_now() == []
        (end,) = [m for m in app.state.messages if m["kind"] == "stream_end"]
        assert end["source"] == "synthesised" and end["sequence"] == "v-1"
        assert list(SCHEMA.iter_errors(end)) == []
    finally:
        api.stop()
        reconcile.reset()


def test_a_subscription_filters_by_tag_and_takes_the_simplified_format(live: Live) -> None:
    live.configure(NOTIFY_KINDS="all")
    covers = App(live, filter_tags=("snapshot",), content_format="SIMPLIFIED")
    blocks = App(live, filter_tags=("Block",))
    try:
        live.deliver("snapshot", stream_id="tagged")
        live.deliver("stream_begin", stream_id="tagged")
        live.deliver("porn_detect", stream_id="tagged", suggestion="Block")
        live.deliver("porn_detect", stream_id="tagged", suggestion="Review")
        covers.drain()
        assert [m["kind"] for m in covers.state.messages] == ["snapshot"]
        assert [m["suggestion"] for m in blocks.state.messages] == ["Block"]
        (tags,) = {tuple(m["msgTag"]) for m in live.published() if "Block" in m["msgTag"]}
        assert tags[:2] == ("porn_detect", "Block")
    finally:
        covers.close()
        blocks.close()


def test_an_unreachable_endpoint_is_retried_with_decaying_delays(live: Live) -> None:
    live.configure(NOTIFY_KINDS="stream_begin")
    subscription = live.stack.tdmq.subscribe(
        HttpSubscription(live.topic, "down", "http://127.0.0.1:9/cmq", time_scale=0.01)
    )
    try:
        live.deliver("stream_begin", stream_id="retried")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(subscription.attempts) < 5:
            time.sleep(0.02)
        times = [a["at"] for a in subscription.attempts[:5]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert [a["status"] for a in subscription.attempts[:5]] == [0] * 5
        assert gaps == sorted(gaps) and gaps[-1] > gaps[0]  # 1 s, 2 s, 4 s, 8 s (scaled)
    finally:
        live.stack.tdmq.unsubscribe(subscription)


def test_notify_kinds_default_publishes_only_the_hits_and_refuses_unknown_kinds(live: Live) -> None:
    live.configure(NOTIFY_KINDS=None)
    live.deliver("stream_begin", stream_id="quiet")
    live.deliver("snapshot", stream_id="quiet")
    live.deliver("porn_detect", stream_id="quiet", suggestion="Block")
    assert [json.loads(m["msgBody"])["kind"] for m in live.published()] == ["porn_detect"]
    live.configure(NOTIFY_KINDS="none")
    live.deliver("porn_detect", stream_id="silent", suggestion="Block")
    assert len(live.published()) == 1
    live.configure(NOTIFY_KINDS="stream_begin,recordings")
    answer = live.deliver("stream_begin", stream_id="x")
    assert answer["statusCode"] == 500 and "NOTIFY_KINDS" in json.loads(answer["body"])["message"]


def test_a_topic_outage_answers_503_and_the_retry_publishes_the_stored_event(live: Live) -> None:
    live.configure(NOTIFY_KINDS="snapshot")
    body = payloads.signed(payloads.snapshot("outage-bus"))
    live.stack.tdmq.faults.set("error", status=503)
    assert live.invoke("snapshot", body)["statusCode"] == 503
    assert len(live.objects("snapshots/")) == 1 and live.published() == []  # stored, not yet published
    live.stack.tdmq.faults.clear()
    assert live.invoke("snapshot", body)["statusCode"] == 200  # CSS's retry
    (message,) = live.published()
    assert json.loads(message["msgBody"])["id"] == notify.message_id(next(iter(live.objects("snapshots/"))))
