"""Reconcile: what CSS gave up delivering is backfilled from the Live API's own records.

CSS's deliveries go through `CallbackRecorder` in front of the local gateway, so the Live API
stand-in answers DescribeCallbackRecordsList / DescribeLiveStreamEventList /
DescribeLiveStreamOnlineList from what was actually sent and answered, failed deliveries
included, through the real tencentcloud-sdk-python-live client.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tencentcloud.live.v20180801 import models

from devstack import payloads, triggers
from devstack.gateway import load_routes
from devstack.live_api import CallbackRecord, CallbackRecorder, LiveApiStandIn
from devstack.servers import Server
from devstack.stack import DEV_CALLBACK_KEY
from shared import reconcile
from shared.errors import ConfigurationError
from shared.vocabulary import FOLDER_OF
from tests.conftest import Live

CSS_ATTEMPTS = 13
"""A push, end, record or moderation callback: the first try and 12 retries, then CSS drops it."""
TIMER = {"Type": "Timer", "TriggerName": "reconcile", "Time": "2026-11-29T03:00:00Z", "Message": ""}
PATHS = {route.kind: route.path for route in load_routes()}


class Css:
    """CSS as far as these tests need it: it sends callbacks through the local gateway, and the
    Live API stand-in keeps the record of each delivery."""

    def __init__(self, live: Live, api: LiveApiStandIn, server: Server) -> None:
        self.live, self.api, self.server = live, api, server
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, kind: str, payload: dict[str, Any], attempts: int = 1) -> int:
        """Deliver a signed callback, retrying like CSS up to `attempts` times; the last status."""
        body = json.dumps(payloads.signed(payload)).encode()
        self.sent.append((kind, payload))
        status = 0
        for _ in range(attempts):
            connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=20)
            connection.request("POST", PATHS[kind], body, {"Content-Type": "application/json"})
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                break
        return status

    def reconcile(self, event: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
        reconcile.reset()
        handler = triggers.load_handler("reconcile")
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                return handler(
                    event or TIMER, {**triggers.context("reconcile"), "time_limit_in_ms": 300_000, **context}
                )
        finally:
            for line in captured.getvalue().splitlines():  # reaches the secrets check too
                self.live.raw_logs.append(line)
                self.live.logs.append(json.loads(line))


@pytest.fixture
def css(live: Live) -> Iterator[Css]:
    api = LiveApiStandIn().start()
    live.configure(
        RECONCILE_DOMAINS=payloads.PUSH_DOMAIN,
        LIVE_API_ENDPOINT=api.endpoint,
        LIVE_API_SCHEME="http",
        LIVE_API_REGION="ap-guangzhou",
    )
    server = Server(CallbackRecorder(live.gateway(), api), threads=8).start()
    try:
        yield Css(live, api, server)
    finally:
        server.stop()
        api.stop()
        reconcile.reset()


def _traffic(stream: str, start: int) -> list[tuple[str, dict[str, Any]]]:
    """One push session's callbacks: begin, snapshots, a recording, two hits, end."""
    sequence = f"{abs(hash(stream)) % 10**12}"
    return [
        ("stream_begin", payloads.stream_begin(stream, event_time=start, sequence=sequence)),
        ("snapshot", payloads.snapshot(stream, create_time=start + 10)),
        ("snapshot", payloads.snapshot(stream, create_time=start + 70)),
        ("porn_detect", payloads.porn_hit(stream, screenshot_time=start + 70, suggestion="Block")),
        ("porn_detect", payloads.porn_hit(stream, screenshot_time=start + 130, suggestion="Pass")),
        ("record", payloads.record(stream, end_time=start + 170, duration=160)),
        ("stream_end", payloads.stream_end(stream, event_time=start + 180, sequence=sequence)),
    ]


def _stored(live: Live) -> Counter[str]:
    return Counter(key.split("/", 1)[0] for key in live.objects() if not key.startswith(("reconcile/", "claims/")))


def _expected(sent: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    return Counter(FOLDER_OF[kind].rstrip("/") for kind, _ in sent)


@pytest.mark.slow
def test_an_outage_longer_than_css_retries_is_restored_by_one_run_and_a_second_writes_nothing(
    css: Css, live: Live
) -> None:
    now = int(time.time())
    healthy = [c for n in range(3) for c in _traffic(f"before-{n}", now - 3000 + n)]
    lost = [c for n in range(4) for c in _traffic(f"during-{n}", now - 1800 + n)]
    for kind, payload in healthy:
        assert css.send(kind, payload) == 200
    live.stack.cos.faults.set("error", status=503)  # 15 minutes of COS refusing, as CSS sees it
    for kind, payload in lost:
        assert css.send(kind, payload, attempts=CSS_ATTEMPTS) == 503
    live.stack.cos.faults.clear()
    assert _stored(live) == _expected(healthy)  # CSS has given up on the rest

    started = time.monotonic()
    calls_before = len(css.api.calls)
    cos_before = live.stack.cos.faults.requests
    answer = css.reconcile()
    seconds = time.monotonic() - started
    assert answer["code"] == 0 and answer["complete"]
    # The simulated CSS's 13 copies of a callback carry one request: written once, not 13 times.
    assert live.stack.cos.faults.requests - cos_before < 3 * len(lost)
    assert _stored(live) == _expected(healthy + lost), "stored = sent"
    hits = [json.loads(m["msgBody"]) for m in live.published()]
    expected_hits = [f"before-{n}" for n in range(3)] + [f"during-{n}" for n in range(4)]  # one Block each
    assert sorted(m["stream_id"] for m in hits) == expected_hits
    assert len({m["dedupe_id"] for m in hits}) == len(hits), "each hit published once"
    assert answer["backfilled"] == dict(Counter(kind for kind, _ in lost))
    # The streams whose begin and end no document held are read around those times first (every
    # callback of theirs was there); then the sweep reads each stream once up to CSS's retry horizon.
    assert answer["reads"] == {"session": 4, "sweep": 7} and answer["streams_checked"] == 7
    assert answer["synthesised"] == 0
    assert answer["sessions_checked"] == 7
    backfilled = [k for k in live.objects() if k.startswith("sessions/") and "during-0" in k]
    head = live.stack.cos.client().head_object(Bucket=live.bucket, Key=backfilled[0])
    assert {k.lower(): v for k, v in head.items()}["x-cos-meta-source"] == "reconcile"
    (report_key,) = [k for k in live.objects("reconcile/") if k != "reconcile/state.json"]
    assert json.loads(live.objects()[report_key])["backfilled"] == answer["backfilled"]
    (line,) = [entry for entry in live.logs if entry["function"] == "reconcile"]
    assert line["outcome"] == "complete" and line["backfilled"] == answer["backfilled"]
    _record_outage_figures(len(lost) * CSS_ATTEMPTS, len(lost), len(css.api.calls) - calls_before, seconds)

    before = live.objects()
    since = int(time.time()) - 3600
    again = css.reconcile({"since": since, "until": int(time.time())})  # an operator's whole window
    assert again["backfilled"] == {} and again["synthesised"] == 0
    assert again["already_stored"] == len(lost) * CSS_ATTEMPTS  # every failed delivery: stored now
    assert css.reconcile()["sessions_checked"] == 0  # the next timer run: nothing began or left since
    after = live.objects()
    assert {k: v for k, v in after.items() if not k.startswith("reconcile/")} == {
        k: v for k, v in before.items() if not k.startswith("reconcile/")
    }, "a rerun rewrites nothing"
    assert len(live.published()) == len(hits)


def _record_outage_figures(deliveries: int, lost: int, calls: int, seconds: float) -> None:
    from pathlib import Path

    report = Path(__file__).resolve().parent.parent / "build" / "reliability" / "reconcile.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    figures = {"failed_deliveries": deliveries, "events_lost": lost, "live_api_calls": calls, "seconds": seconds}
    report.write_text(json.dumps(figures, indent=2) + "\n")


def test_every_page_of_records_and_sessions_is_read(css: Css, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    live.stack.cos.faults.set("error", status=503)
    for n in range(25):
        css.send("snapshot", payloads.snapshot("paged", create_time=now - 600 + n))
    for n in range(12):
        css.send("stream_begin", payloads.stream_begin(f"paged-{n}", event_time=now - 500, sequence=str(n)))
    css.send("stream_begin", payloads.stream_begin("paged", event_time=now - 700, sequence="p"))
    live.stack.cos.faults.clear()
    from shared import live as live_api

    monkeypatch.setattr(live_api, "RECORDS_PAGE_SIZE", 10)  # the stand-in pages the same way at any size
    monkeypatch.setattr(live_api, "EVENTS_PAGE_SIZE", 5)
    monkeypatch.setattr(live_api, "ONLINE_PAGE_SIZE", 10)
    answer = css.reconcile({"since": now - 3600, "until": now})
    assert answer["backfilled"] == {"snapshot": 25, "stream_begin": 13}
    pages = [
        p["PageNum"] for a, p in css.api.calls if a == "DescribeCallbackRecordsList" and p["StreamName"] == "paged"
    ]
    assert pages == [1, 2, 3]
    event_pages = [p["PageNum"] for a, p in css.api.calls if a == "DescribeLiveStreamEventList"]
    assert event_pages == [1, 2, 3]
    online_pages = [p["PageNum"] for a, p in css.api.calls if a == "DescribeLiveStreamOnlineList"]
    assert online_pages == [1, 2]  # 13 streams live, 10 a page


def test_no_query_asks_for_more_than_its_documented_page_or_a_page_that_breaks_memory(css: Css, live: Live) -> None:
    now = int(time.time())
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "sizes", now - 3000, now - 1200)
    css.reconcile()
    css.reconcile({"since": now - 3600, "until": now})
    sizes = {(a, p["PageSize"]) for a, p in css.api.calls if "PageSize" in p}
    assert {a for a, _ in sizes} == {
        "DescribeCallbackRecordsList",
        "DescribeLiveStreamEventList",
        "DescribeLiveStreamOnlineList",
    }
    assert all(size <= 100 for _, size in sizes), sizes


def test_a_window_longer_than_a_day_is_queried_a_day_at_a_time(css: Css, live: Live) -> None:
    now = int(time.time())
    for days_ago in (2.5, 1.5, 0.5):
        snap = payloads.signed(payloads.snapshot("long-window", create_time=int(now - days_ago * 86400)))
        css.api.record_callback(json.dumps(snap).encode(), 503, at=now - days_ago * 86400)
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "long-window", now - 2.6 * 86400, None)
    answer = css.reconcile({"since": now - 3 * 86400, "until": now})
    assert answer["backfilled"] == {"snapshot": 3}
    spans = [(p["StartTime"], p["EndTime"]) for a, p in css.api.calls if a == "DescribeCallbackRecordsList"]
    assert len(spans) == 3  # the stand-in refuses any span over a day, as the API does


def test_a_malformed_request_in_a_record_goes_to_quarantine_not_a_crash(css: Css, live: Live) -> None:
    now = time.time()
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "garbled", now - 300, now - 100)
    css.api.history.records.append(CallbackRecord(now - 200, "garbled", 200, '{"event_type": 200, "pic_u', 1))
    answer = css.reconcile()
    assert answer["code"] == 0
    assert answer["quarantined"] == 1  # the reads around its begin and its end overlap: read once
    (document,) = live.documents("quarantine/reconcile/").values()
    assert document["payload_text"] == '{"event_type": 200, "pic_u'


def test_a_push_session_without_any_callback_is_synthesised_and_closed(css: Css, live: Live) -> None:
    now = int(time.time())
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "silent", now - 900, now - 300)
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "still-live", now - 600, None)
    answer = css.reconcile()
    assert answer["synthesised"] == 3  # begin + end of the closed session, begin of the live one
    documents = live.documents("sessions/")
    silent = sorted((d for d in documents.values() if d["event"]["stream_id"] == "silent"), key=lambda d: d["kind"])
    assert [d["kind"] for d in silent] == ["stream_begin", "stream_end"]
    assert {d["source"] for d in silent} == {"synthesised"}
    assert silent[0]["event"]["sequence"] == silent[1]["event"]["sequence"]  # one session, closed
    assert silent[1]["event"]["push_duration"] == 600_000
    assert [d["kind"] for d in documents.values() if d["event"]["stream_id"] == "still-live"] == ["stream_begin"]
    # A real callback arriving later is stored as CSS sent it, beside the synthesised one.
    real = payloads.stream_begin("silent", event_time=now - 899, sequence="real-1")
    assert css.send("stream_begin", real) == 200
    assert any(
        d.get("original") and d["original"]["sequence"] == "real-1" for d in live.documents("sessions/").values()
    )
    assert css.reconcile()["synthesised"] == 0


def test_an_end_without_its_begin_gets_a_begin_of_the_same_session(css: Css, live: Live) -> None:
    now = int(time.time())
    end = payloads.stream_end("half", event_time=now - 300, sequence="seq-7", push_ms=600_000)
    assert css.send("stream_end", end) == 200  # CSS saw the push from now - 900; its begin never came
    assert css.reconcile()["synthesised"] == 1
    begins = [d for d in live.documents("sessions/").values() if d["kind"] == "stream_begin"]
    assert [(d["event"]["sequence"], d["source"]) for d in begins] == [("seq-7", "synthesised")]


def test_an_http_event_is_refused_before_any_live_api_call(css: Css) -> None:
    forged = triggers.function_url_event(payloads.signed(payloads.stream_begin("forged")))
    answer = css.reconcile(forged)
    assert answer["code"] == 400
    assert css.api.calls == []


def _lost_snapshots(css: Css, live: Live, prefix: str, streams: int) -> None:
    """One snapshot per stream `<prefix>-<n>` sent while COS refuses every write (the fault stays
    set), each stream with a live push session the Live API reports."""
    now = int(time.time())
    live.stack.cos.faults.set("error", status=503)
    for n in range(streams):
        css.send("snapshot", payloads.snapshot(f"{prefix}-{n}", create_time=now - 100))
        css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, f"{prefix}-{n}", now - 200, None)


@pytest.mark.slow
def test_a_run_that_reaches_its_time_limit_stops_cleanly_and_the_next_resumes(css: Css, live: Live) -> None:
    _lost_snapshots(css, live, "slow", 4)
    live.stack.cos.faults.set("slow", delay=0.4)  # each COS request takes 0.4 s
    # 31.5 s of SCF time minus the 30 s reserve: time for a read or two, not four and the checks.
    started = time.monotonic()
    first = css.reconcile(time_limit_in_ms=31_500)
    assert time.monotonic() - started < 8  # stopped at its limit (plus the request under way)
    live.stack.cos.faults.clear()
    assert first["complete"] is False and first["stopped_by"] == "time limit"
    assert "reconcile/state.json" in live.objects()
    css.api.history.sessions[0].end = time.time() - 90  # a stream stops pushing between the runs
    second = css.reconcile()
    assert second["complete"] is True
    assert sum(first["backfilled"].values()) + sum(second["backfilled"].values()) == 4
    assert len(live.objects("snapshots/")) == 4
    state = json.loads(live.objects()["reconcile/state.json"])
    assert state["queue"] == []
    ends = [d for d in live.documents("sessions/").values() if d["kind"] == "stream_end"]
    assert [d["event"]["stream_id"] for d in ends] == ["slow-0"]  # the stream that stopped, closed


@pytest.mark.slow
def test_throttled_queries_slow_the_run_down_and_lose_nothing(css: Css, live: Live) -> None:
    _lost_snapshots(css, live, "busy", 12)
    live.stack.cos.faults.clear()
    css.api.records_per_second = 3  # an account already using most of its 20 queries a second
    answer = css.reconcile()
    assert css.api.rate_limited > 0 and answer["throttled"] == css.api.rate_limited
    assert answer["complete"] and answer["backfilled"] == {"snapshot": 12}
    assert answer["synthesised"] == 12  # their push sessions had no begin callback


def test_a_run_throttled_until_its_time_limit_stops_cleanly_and_the_next_finishes(css: Css, live: Live) -> None:
    _lost_snapshots(css, live, "starved", 3)
    live.stack.cos.faults.clear()
    css.api.records_per_second = 0  # other callers use all of it
    first = css.reconcile(time_limit_in_ms=34_000)
    assert first["code"] == 0 and first["complete"] is False and first["stopped_by"] == "rate limit"
    assert first["throttled"] > 0 and first["backfilled"] == {}
    assert first["synthesised"] == 3  # the sessions were closed anyway: their reads wait in the queue
    assert first["left"] == 3
    css.api.records_per_second = 20
    second = css.reconcile()
    assert second["complete"] and second["backfilled"] == {"snapshot": 3} and second["left"] == 0


def test_a_live_api_fault_fails_the_run_loudly_and_the_next_run_repairs(css: Css, live: Live) -> None:
    now = int(time.time())
    live.stack.cos.faults.set("error", status=503)
    css.send("record", payloads.record("fault", end_time=now - 1000))  # CSS gave up on it long ago
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "fault", now - 2000, None)
    live.stack.cos.faults.clear()

    def records_query(environ: dict[str, Any]) -> bool:
        return environ.get("HTTP_X_TC_ACTION") == "DescribeCallbackRecordsList"

    css.api.faults.set("error", status=500, when=records_query)
    with pytest.raises(RuntimeError, match="reconcile failed"):
        css.reconcile()
    assert live.objects("reconcile/") == {} and live.objects("records/") == {}
    css.api.faults.clear()
    answer = css.reconcile()  # the stream is live: a canary, read up to CSS's retry horizon
    assert answer["backfilled"] == {"record": 1} and answer["reads"]["canary"] == 1


def test_the_timeline_marks_backfilled_and_synthesised_items(css: Css, live: Live) -> None:
    from shared.config import load_settings
    from tooling.readmodel import timeline_of
    from tooling.render import render

    now = int(time.time())
    live.stack.cos.faults.set("error", status=503)
    for kind, payload in _traffic("repaired", now - 1200)[:4]:  # begin, snapshots, a Block hit: lost
        css.send(kind, payload, attempts=3)
    live.stack.cos.faults.clear()
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "silent", now - 900, now - 300)
    css.reconcile()
    timeline = timeline_of(load_settings())
    streams = {s["stream_id"]: s for s in timeline["streams"]}
    repaired, silent = streams["repaired"], streams["silent"]
    assert repaired["sessions"][0]["begin_source"] == "reconcile"
    assert [h["backfilled"] for h in repaired["hits"]] == [True]
    assert repaired["counts"]["backfilled"] == 4
    assert (silent["sessions"][0]["begin_source"], silent["sessions"][0]["end_source"]) == ("synthesised",) * 2
    assert silent["sessions"][0]["state"] == "complete"
    assert timeline["totals"]["backfilled"] == 4 and timeline["totals"]["synthesised"] == 2
    text = render(timeline)
    assert "begin reconcile" in text and "begin synthesised; end synthesised" in text and "(backfilled)" in text
    assert json.loads(json.dumps(timeline))["totals"]["synthesised"] == 2


def test_the_command_line_runs_a_chosen_window_and_a_dry_run_writes_nothing(css: Css, live: Live) -> None:
    from tooling import reconcile as command

    now = int(time.time())
    live.stack.cos.faults.set("error", status=503)
    css.send("record", payloads.record("operator", end_time=now - 100), attempts=2)
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "operator", now - 2000, None)
    live.stack.cos.faults.clear()
    env = dict(os.environ)  # the functions' variables, as the fixtures set them
    lines: list[str] = []
    errors: list[str] = []
    assert command.main(["--since", "1h", "--stream", "operator", "--dry-run"], env, lines.append, errors.append) == 0
    assert "would backfill: record 1" in lines[-1] and "(dry run)" in lines[-1]
    assert live.objects() == {}
    assert command.main(["--since", "1h", "--stream", "operator"], env, lines.append, errors.append) == 0
    assert "backfilled: record 1" in lines[-1]
    assert len(live.objects("records/")) == 1 and len(live.objects("reconcile/")) == 1
    assert command.main(["--since", "yesterday"], env, lines.append, errors.append) == 2
    assert "is not a time" in errors[-1]
    assert command.main(["--since", "1h"], {}, lines.append, errors.append) == 2
    assert "COS_BUCKET is not set" in errors[-1]


@pytest.mark.slow
def test_the_simulators_traffic_lost_in_an_outage_is_restored_by_one_run(css: Css, live: Live) -> None:
    from shared.config import load_settings
    from tooling.outage import outage_and_repair

    lines: list[str] = []
    url = f"http://{css.server.host}:{css.server.port}"
    outcome = outage_and_repair(url, DEV_CALLBACK_KEY, PATHS, live.stack.cos, load_settings(), say=lines.append)
    assert outcome.problems == [], lines
    assert outcome.lost_events == len(outcome.scenario.callbacks)
    assert sum(outcome.report.backfilled.values()) == len(outcome.scenario.callbacks)


def test_a_synthesised_begin_gives_way_to_the_real_one_found_later(css: Css, live: Live) -> None:
    """Item 1 of the hostile review: a synthesised document took the key of the real begin (same
    sequence, same start), so the later backfill found it taken and dropped the real callback."""
    now = int(time.time())
    start = now - 2400
    end = payloads.stream_end("shadow", event_time=now - 1800, sequence="seq-9", push_ms=600_000)
    assert css.send("stream_end", end) == 200
    assert css.reconcile()["synthesised"] == 1  # no begin anywhere: synthesised from the event list
    # CSS's record of the begin's failed delivery turns up only now (or beyond what the run read)
    begin = payloads.signed(payloads.stream_begin("shadow", event_time=start, sequence="seq-9"))
    css.api.record_callback(json.dumps(begin).encode(), 503, at=start)
    answer = css.reconcile({"since": now - 3600, "until": now})
    assert answer["backfilled"] == {"stream_begin": 1}
    begins = sorted(
        (str(d.get("source")), d.get("original") is not None)
        for d in live.documents("sessions/").values()
        if d["kind"] == "stream_begin"
    )
    assert begins == [("None", True), ("synthesised", False)]  # the real one at its own key, beside it
    from shared.config import load_settings
    from tooling.readmodel import timeline_of

    (stream,) = timeline_of(load_settings(), ["shadow"])["streams"]
    ((session),) = stream["sessions"]
    assert session["begin_source"] == "reconcile" and session["state"] == "complete"  # the real one is shown


def test_records_of_a_same_named_stream_on_another_domain_are_never_ingested(css: Css, live: Live) -> None:
    """Item 2: DescribeCallbackRecordsList matches the stream name alone; another domain's hit was
    backfilled, published and acted on (ForbidLiveStream bans the name)."""
    now = int(time.time())
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "twin", now - 2000, now - 1000)
    for at, domain in ((now - 1500, "other.example.net"), (now - 1400, payloads.PUSH_DOMAIN)):
        hit = payloads.porn_hit("twin", screenshot_time=at, suggestion="Block")
        hit.update(app=domain, sendTime=at)
        css.api.record_callback(json.dumps(payloads.signed(hit)).encode(), 503, at=at)
    answer = css.reconcile({"since": now - 3600, "until": now})
    assert answer["other_domain"] == 1 and answer["backfilled"] == {"porn_detect": 1}
    assert {json.loads(m["msgBody"])["app"] for m in live.published()} == {payloads.PUSH_DOMAIN}
    assert all("other.example.net" not in key for key in live.objects())


def test_a_stream_whose_end_never_came_is_closed_by_the_next_run(css: Css, live: Live) -> None:
    """Issue 24: "live" tells the truth. A stream live at one run and gone at the next gets its end
    within one period: the real one from CSS's records when it was sent and lost, synthesised from
    the event list when CSS never sent one, and from the online list when no list shows it."""
    now = int(time.time())
    for name in ("lost-end", "no-end", "unlisted"):
        begin = payloads.stream_begin(name, event_time=now - 600, sequence=f"{name}-1")
        assert css.send("stream_begin", begin) == 200
    css.api.history.sessions[-1].listed = False  # in the online list, never in the event list
    first = css.reconcile()
    assert first["closed"] == 0 and first["synthesised"] == 0
    live.stack.cos.faults.set("error", status=503)
    lost = payloads.stream_end("lost-end", event_time=now - 120, sequence="lost-end-1", push_ms=480_000)
    assert css.send("stream_end", lost, attempts=3) == 503
    live.stack.cos.faults.clear()
    for session in css.api.history.sessions[1:]:  # CSS sends no end for these two
        session.end, session.stop_reason = now - 100, "stopped"
    second = css.reconcile()
    assert second["backfilled"] == {"stream_end": 1} and second["closed"] == 2
    ends = {d["event"]["stream_id"]: d for d in live.documents("sessions/").values() if d["kind"] == "stream_end"}
    assert set(ends) == {"lost-end", "no-end", "unlisted"}
    assert ends["lost-end"]["original"]["sequence"] == "lost-end-1"  # CSS's own end, backfilled
    assert ends["no-end"]["synthesised_from"]["api"] == "DescribeLiveStreamEventList"
    assert ends["unlisted"]["synthesised_from"]["api"] == "DescribeLiveStreamOnlineList"
    assert {d["event"]["sequence"] for d in ends.values()} == {"lost-end-1", "no-end-1", "unlisted-1"}
    from shared.config import load_settings
    from tooling.readmodel import timeline_of

    timeline = timeline_of(load_settings(), ["lost-end", "no-end", "unlisted"])
    assert [s["sessions"][0]["state"] for s in timeline["streams"]] == ["complete"] * 3


def test_the_14_day_edge_drops_what_cannot_be_read_instead_of_failing_every_run(css: Css, live: Live) -> None:
    """Item 5: a cursor older than 14 days was resumed forever, and the largest window the
    validator allowed failed every run."""
    now = time.time()
    with pytest.raises(ConfigurationError, match="RECONCILE_WINDOW_MINUTES"):
        reconcile.load_reconcile_settings({"RECONCILE_DOMAINS": "d", "RECONCILE_WINDOW_MINUTES": "20160"})
    live.configure(RECONCILE_WINDOW_MINUTES=str(reconcile.MAX_WINDOW_MINUTES))
    stale = {
        "version": reconcile.STATE_VERSION,
        "online": {},
        "online_at": now - 15 * 86400,
        "sessions_until": now - 15 * 86400,
        "streams": {"old": [now - 15 * 86400, now - 15 * 86400, now - 15 * 86400]},
        "queue": [{"stream": "old", "start": now - 15 * 86400, "end": now - 14.5 * 86400, "why": "outage"}],
    }
    live.stack.cos.client().put_object(Bucket=live.bucket, Key="reconcile/state.json", Body=json.dumps(stale).encode())
    answer = css.reconcile()
    # The queued read lies wholly past the edge: dropped. The stream's sweep reads what is left.
    assert answer["code"] == 0 and answer["complete"] and answer["expired"] == 1
    state = json.loads(live.objects()["reconcile/state.json"])
    assert state["queue"] == [] and "old" not in state["streams"]
    assert css.reconcile()["expired"] == 0


def test_times_in_beijing_form_are_read_as_beijing_time(css: Css) -> None:
    """The API answers in the form it was asked ("接口返回的时间格式和查询请求传入的时间格式一致"):
    a client that parsed `YYYY-MM-DD hh:mm:ss` as UTC would be eight hours off."""
    from shared.live import LiveApi, LiveApiSettings, parse_time

    now = int(time.time())
    css.api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "bj", now - 600, now - 300)
    client = LiveApi(LiveApiSettings("ap-guangzhou", css.api.endpoint, "http"), "AKIDx", "key", None)
    request = models.DescribeLiveStreamEventListRequest()
    request.StartTime = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 3600 + 8 * 3600))
    request.EndTime = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now + 8 * 3600))
    request.DomainName = payloads.PUSH_DOMAIN
    (event,) = client.client.DescribeLiveStreamEventList(request).EventList
    assert "T" not in event.StreamStartTime and parse_time(event.StreamStartTime) == now - 600
    (session,) = client.sessions(payloads.PUSH_DOMAIN, now - 3600, now)
    assert (session.start, session.end) == (now - 600, now - 300)


@pytest.mark.slow
def test_an_outage_across_many_streams_is_restored_over_runs_that_each_keep_their_time_limit(css: Css) -> None:
    """Issue 24's scale test, small: 60 streams, a 15-minute outage, runs of 36 s (6 s of work
    each, so the work takes several runs). scripts/reconcile_scale.py runs 1,000 (docs/RELIABILITY.md)."""
    from shared import pipeline
    from shared.config import load_settings
    from tooling.reconcile_scale import Scale, run

    scale = Scale(streams=60, snapshot_every=60, time_limit=36.0)
    outcome = run(css.api, pipeline.Instance(load_settings(callbacks=False)), scale, say=lambda _: None)
    assert outcome.problems == [] and outcome.lost > 500 and outcome.restored == outcome.lost
    assert outcome.closed == outcome.stopped == 12
    assert len(outcome.runs) > 1 and all(r["seconds"] < scale.time_limit for r in outcome.runs)
    assert not outcome.runs[0]["complete"] and outcome.runs[-1]["complete"]


def test_a_sweep_far_behind_reads_its_horizon_and_says_what_it_skipped(css: Css, live: Live) -> None:
    now = time.time()
    behind = now - 10 * 3600
    state = {
        "version": reconcile.STATE_VERSION,
        "online": {},
        "online_at": now - 600,
        "sessions_until": now - 600,
        "streams": {"behind": [behind, behind, now - 600]},
        "queue": [],
    }
    live.stack.cos.client().put_object(Bucket=live.bucket, Key="reconcile/state.json", Body=json.dumps(state).encode())
    answer = css.reconcile()
    (query,) = [p for a, p in css.api.calls if a == "DescribeCallbackRecordsList"]
    started = reconcile_time(query["StartTime"])
    assert abs(started - (now - reconcile.SETTLE_SECONDS - reconcile.SWEEP_HORIZON_SECONDS)) < 5
    skipped = now - reconcile.SETTLE_SECONDS - reconcile.SWEEP_HORIZON_SECONDS - (behind - reconcile.OVERLAP_SECONDS)
    assert abs(answer["unswept_seconds"] - skipped) < 5


def reconcile_time(text: str) -> float:
    from shared.live import parse_time

    value = parse_time(text)
    assert value is not None
    return value


@pytest.mark.parametrize("synthesised_first", [True, False])
def test_the_read_model_shows_the_real_begin_whichever_document_it_reads_first(synthesised_first: bool) -> None:
    """A synthesised begin (the event list's start, some seconds off) and the real one CSS sent
    later share a sequence: the view shows the real one, and no duplicate, in either order."""
    from shared.events import StreamBegin, StreamEnd
    from tooling.readmodel import build_timeline

    now = int(time.time())
    real = StreamBegin.model_validate(payloads.stream_begin("twice", event_time=now - 600, sequence="s-1"))
    made = StreamBegin.model_validate(payloads.stream_begin("twice", event_time=now - 630, sequence="s-1"))
    end = StreamEnd.model_validate(payloads.stream_end("twice", event_time=now - 60, sequence="s-1"))
    documents = [
        {"kind": "stream_begin", "key": "a", "event": made.normalised(), "source": "synthesised"},
        {"kind": "stream_begin", "key": "b", "event": real.normalised()},
        {"kind": "stream_end", "key": "c", "event": end.normalised()},
    ]
    if not synthesised_first:
        documents = documents[1:2] + documents[:1] + documents[2:]
    (stream,) = build_timeline(documents)["streams"]
    (session,) = stream["sessions"]
    assert (session["begin"], session["begin_source"]) == (now - 600, None)
    assert build_timeline(documents)["totals"]["synthesised"] == 0  # the synthesised half gave way


@pytest.mark.slow
@pytest.mark.parametrize("hung", ["DescribeLiveStreamOnlineList", "DescribeLiveStreamEventList"])
def test_a_live_api_call_that_hangs_fails_the_run_at_its_deadline_not_the_scf_timeout(
    css: Css, live: Live, hung: str
) -> None:
    from devstack.live_api import action
    from shared.live import REQUEST_TIMEOUT

    css.api.faults.set("hang", when=action(hung))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"):
        css.reconcile()
    assert time.monotonic() - started < REQUEST_TIMEOUT + 2
    assert "reconcile/state.json" not in live.objects()  # nothing half-written
