"""Retries, duplicates and disorder at volume, through the local API Gateway over real HTTP.

At least 2,000 unique callbacks for 50 streams, each delivered one to three times, shuffled, 32
at a time. Afterwards every unique event is stored exactly once, every publishable hit is
published once, nothing got a 5xx, and sessions whose end arrived first are still complete.
The figures go to build/reliability/volume.json for docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from devstack import payloads
from devstack.servers import Server
from devstack.stack import DEV_CALLBACK_KEY
from devstack.triggers import ROOT
from tests.conftest import Live
from tooling.traffic.plan import deliveries, plan
from tooling.traffic.send import route_paths
from tooling.traffic.send import run as send

REPORT = ROOT / "build" / "reliability" / "volume.json"


@pytest.mark.slow
@pytest.mark.heavy
def test_duplicated_shuffled_concurrent_traffic_is_stored_exactly_once(live: Live) -> None:
    scenario = plan(streams=50, seed=2026, snapshot_interval=30)
    assert len(scenario.callbacks) >= 2000
    order = deliveries(scenario, duplicates=0.5, shuffle=True)
    copies = Counter(callback.index for callback in order)
    assert set(copies.values()) == {1, 2, 3}

    with Server(live.gateway(), threads=32) as server:
        result = send(server.url, order, DEV_CALLBACK_KEY, route_paths(), concurrency=32, retries=0)

    assert dict(result.answers) == {"200": len(order)}, "no 5xx (nor anything else) while dependencies are healthy"
    expected = scenario.expected()["totals"]
    stored = Counter(key.split("/", 1)[0] for key in live.objects())
    ends = sum(1 for key in live.objects("sessions/") if key.endswith("-end.json"))
    assert stored["sessions"] == expected["sessions"] + expected["sessions"] - expected["live_sessions"]
    assert ends == expected["sessions"] - expected["live_sessions"]
    assert stored["records"] == expected["recordings"]
    assert stored["snapshots"] == expected["snapshots"]
    assert stored["moderation"] == expected["hits"]
    assert "quarantine" not in stored
    messages = [json.loads(m["msgBody"]) for m in live.published()]
    assert len(messages) == expected["publishable_hits"]
    assert len({m["dedupe_id"] for m in messages}) == len(messages)

    # Sessions whose end reached the receiver before their begin are complete all the same.
    first_seen: dict[tuple[str, str], int] = {}
    for position, callback in enumerate(order):
        if callback.kind in ("stream_begin", "stream_end"):
            first_seen.setdefault((callback.payload["sequence"], callback.kind), position)
    reversed_sessions = [
        sequence
        for (sequence, kind), position in first_seen.items()
        if kind == "stream_end" and position < first_seen[(sequence, "stream_begin")]
    ]
    assert reversed_sessions, "the shuffle should deliver some ends before their begins"
    keys = list(live.objects("sessions/"))
    for sequence in reversed_sessions:
        assert sum(f"-{sequence}-" in key for key in keys) == 2

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    latencies = sorted(result.latencies_ms)
    REPORT.write_text(
        json.dumps(
            {
                "streams": 50,
                "unique_callbacks": len(scenario.callbacks),
                "deliveries": len(order),
                "delivered_twice_or_more": sum(1 for n in copies.values() if n > 1),
                "concurrency": 32,
                "answers": dict(result.answers),
                "objects_stored": sum(stored.values()),
                "published": len(messages),
                "ends_before_begins": len(reversed_sessions),
                "elapsed_s": result.elapsed_s,
                "latency_ms_p50": round(latencies[len(latencies) // 2], 2),
                "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)], 2),
            },
            indent=2,
        )
        + "\n"
    )


def test_copies_of_one_hit_arriving_together_publish_it_once(live: Live) -> None:
    import http.client
    import threading

    hits = [payloads.signed(payloads.porn_hit(stream_id=f"burst-{n}", suggestion="Block")) for n in range(5)]
    statuses: list[int] = []
    lock = threading.Lock()

    with Server(live.gateway(), threads=32) as server:

        def send(body: bytes) -> None:
            connection = http.client.HTTPConnection(server.host, server.port, timeout=20)
            connection.request("POST", "/live/porn-detect", body, {"Content-Type": "application/json"})
            status = connection.getresponse().status
            connection.close()
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=send, args=(json.dumps(hit).encode(),)) for hit in hits for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # The first copy of each hit publishes; a copy that meets its claim still in progress is told
    # to come back (503), never "done" (200): CSS retries it, and then it is a duplicate.
    assert sorted(set(statuses)) in ([200], [200, 503])
    assert statuses.count(200) >= 5
    for hit in hits:
        assert live.invoke("porn_detect", hit)["statusCode"] == 200
        assert live.logs[-1]["outcome"] == "duplicate"
    messages = [json.loads(m["msgBody"]) for m in live.published()]
    assert sorted(m["stream_id"] for m in messages) == [f"burst-{n}" for n in range(5)]
    assert len(live.objects("moderation/")) == 5


def test_a_stale_pending_claim_is_taken_over_and_a_fresh_one_is_left_to_its_owner(live: Live) -> None:
    from shared.config import load_settings
    from shared.storage import CosStore

    hit = payloads.signed(payloads.porn_hit(stream_id="crashed-owner"))
    store = CosStore(load_settings())
    # An earlier invocation claimed the hit, then died before publishing.
    live.invoke("porn_detect", hit)
    (key,) = live.objects("moderation/")
    now = str(int(time.time()))
    store.put_json(key, live.objects()[key], {"state": "pending", "owner": "crashed", "claimed-at": now})
    live.stack.tdmq.forget()

    fresh = live.invoke("porn_detect", hit)
    assert (fresh["statusCode"], live.logs[-1]["outcome"]) == (503, "in_progress")  # not "done": CSS comes back
    assert live.published() == []

    live.backdate_claims(25)
    assert live.invoke("porn_detect", hit)["statusCode"] == 503  # still its owner's
    live.backdate_claims(31)  # no invocation lives 31 s
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    assert (live.logs[-1]["outcome"], live.logs[-1].get("takeover")) == ("published", True)
    assert len(live.published()) == 1
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    assert live.logs[-1]["outcome"] == "duplicate"
