"""The quarantine replay tool: re-delivers to the right function, removes only what landed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack import payloads
from devstack.gateway import LocalGateway
from devstack.servers import Server
from devstack.stack import DEV_CALLBACK_KEY
from shared.config import load_settings
from shared.storage import CosStore
from tests.conftest import Live
from tooling import quarantine
from tooling.traffic.send import route_paths


def store() -> CosStore:
    return CosStore(load_settings())


def urls(gateway_url: str) -> dict[str, str]:
    return {kind: gateway_url + path for kind, path in route_paths().items()}


@pytest.fixture
def gateway_url(live: Live) -> Iterator[str]:
    with Server(LocalGateway()) as server:
        yield server.url


def test_misrouted_callbacks_are_replayed_to_their_function_and_leave_quarantine(live: Live, gateway_url: str) -> None:
    end = payloads.signed(payloads.stream_end(stream_id="misrouted"))
    record = payloads.signed(payloads.record(stream_id="misrouted"))
    assert live.invoke("stream_begin", end)["statusCode"] == 200  # the template had the wrong URL
    assert live.invoke("snapshot", record)["statusCode"] == 200
    assert len(live.objects("quarantine/")) == 2

    lines: list[str] = []
    assert quarantine.list_entries(store(), out=lines.append) == 2
    assert "goes to stream_end" in "\n".join(lines) and "2 quarantined" in lines[-1]

    lines.clear()
    assert quarantine.replay_all(store(), urls(gateway_url), DEV_CALLBACK_KEY, out=lines.append) == 0
    assert live.objects("quarantine/") == {}
    keys = list(live.objects())
    assert len(keys) == 2
    assert any(k.startswith("sessions/") and k.endswith("-end.json") for k in keys)
    assert any(k.startswith("records/") for k in keys)
    assert lines[-1] == "2 delivered, 0 kept"


def test_a_callback_that_is_still_unusable_stays_in_quarantine_once(live: Live, gateway_url: str) -> None:
    broken = payloads.signed({**payloads.record(stream_id="broken"), "end_time": "not a time"})
    assert live.invoke("record", broken)["statusCode"] == 200
    (before,) = live.objects("quarantine/")

    lines: list[str] = []
    assert quarantine.replay_all(store(), urls(gateway_url), DEV_CALLBACK_KEY, out=lines.append) == 1
    assert "quarantined it again" in lines[0]
    assert list(live.objects()) == [before]


def test_nothing_is_removed_when_the_function_fails(live: Live, gateway_url: str) -> None:
    live.invoke("stream_begin", payloads.signed(payloads.record(stream_id="later")))
    cos = store()
    (entry,) = quarantine.entries(cos)
    live.stack.cos.faults.set("error", status=503, times=2)  # the replayed PUT and its retry fail
    result = quarantine.replay(entry, cos, gateway_url, route_paths(), DEV_CALLBACK_KEY)
    assert result == "kept: record answered 503"
    assert len(live.objects("quarantine/")) == 1


def test_dry_run_sends_nothing(live: Live, gateway_url: str) -> None:
    live.invoke("stream_begin", payloads.signed(payloads.record(stream_id="dry")))
    lines: list[str] = []
    assert quarantine.replay_all(store(), urls(gateway_url), DEV_CALLBACK_KEY, dry_run=True, out=lines.append) == 0
    assert lines[0].startswith("would deliver quarantine/stream_begin/") and lines[0].endswith("to record")
    assert len(live.objects()) == 1


def test_entries_kept_as_text_are_listed_skipped_by_replay_and_counted_by_the_timeline(
    live: Live, gateway_url: str
) -> None:
    # What the pipeline keeps for a payload nested too deeply for JSON values (and reconcile for a
    # record it could not parse): `payload_text`, no `payload`. `list` and `replay` crashed on it.
    import json

    from tooling.readmodel import timeline_of

    text = '{"event_type": 100, "stream_id": "deep", "sign": "***", "extra": [[[]]]}'
    document = {"function": "record", "reason": "payload nested too deeply", "payload_text": text}
    store().put_json("quarantine/record/2026/12/02/deep-0123.json", json.dumps(document).encode(), {})
    lines: list[str] = []
    assert quarantine.list_entries(store(), out=lines.append) == 1
    assert "goes to record (kept as text)" in "\n".join(lines)
    lines.clear()
    assert quarantine.replay_all(store(), urls(gateway_url), DEV_CALLBACK_KEY, out=lines.append) == 1
    assert "skipped: kept as text" in lines[0] and lines[-1] == "0 delivered, 1 kept"
    assert len(live.objects("quarantine/")) == 1  # nothing lost
    assert timeline_of(load_settings())["totals"]["quarantined"] == 1
