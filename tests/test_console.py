"""The console: one self-contained HTML page of what is stored, checked in a real browser.

The page is built from callbacks delivered through the real functions into the COS stand-in,
with the demo's pictures on it, then opened from disk in Debian's Chromium (driven by
Playwright): the figures it shows are the objects stored, live sessions are drawn open, the
filters and the enlarged thumbnail work, nothing but the pictures is requested and no error is
logged. One browser for the module; a screenshot of each run lands in .screenshots/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import payloads, triggers
from devstack.stack import DevStack
from scripts.console import main as console_main
from shared import pipeline
from tests.conftest import stored_bucket
from tests.test_local_stack import _documents
from tooling import browser
from tooling.console import RangeError, parse_range
from tooling.demomedia import MEDIA_BUCKET, attach_pictures
from tooling.readmodel import build_timeline
from tooling.traffic.plan import plan

pytestmark = pytest.mark.xdist_group("browser")
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ".screenshots"


# The pure parts: range and window


def test_a_day_is_its_utc_midnights_and_a_bad_range_says_which_flag() -> None:
    assert parse_range(day="2026-11-28") == (1795824000, 1795910400)
    assert parse_range(since="2026-11-28T04:00Z", until="2026-11-28T05:00") == (1795838400, 1795842000)
    assert parse_range(now=1795840000) == (1795840001 - 86400, 1795840001)
    for kwargs, flag in (({"day": "28/11/2026"}, "--day"), ({"since": "yesterday"}, "--since")):
        with pytest.raises(RangeError, match=flag):
            parse_range(**kwargs)
    with pytest.raises(RangeError, match="before"):
        parse_range(since="2026-11-28T05:00", until="2026-11-28T04:00")


def test_a_window_keeps_a_session_begun_before_it_whole_and_drops_what_lies_outside() -> None:
    t0 = 1_795_830_000
    documents = _documents(
        ("stream_begin", payloads.stream_begin("s", t0, "a")),
        ("stream_end", payloads.stream_end("s", t0 + 7200, "a", push_ms=7_200_000)),
        ("snapshot", payloads.snapshot("s", t0 + 60)),  # before the window
        ("snapshot", payloads.snapshot("s", t0 + 4000)),
        ("stream_begin", payloads.stream_begin("old", t0 - 9000, "b")),  # over before the window
        ("stream_end", payloads.stream_end("old", t0 - 8000, "b", push_ms=1_000_000)),
    )
    timeline = build_timeline(documents, window=(t0 + 3600, t0 + 5400))
    (stream,) = timeline["streams"]
    (session,) = stream["sessions"]
    assert (session["begin"], session["end"], session["state"]) == (t0, t0 + 7200, "complete")
    assert [item["time"] for item in stream["snapshots"]["items"]] == [t0 + 4000]


# Through the real functions into the stand-in, then the page


def _deliver(kind: str, payload: dict[str, Any]) -> None:
    event = triggers.apigw_event(payloads.signed(payload), path=f"/live/{kind}")
    with contextlib.redirect_stdout(io.StringIO()):
        answer = triggers.load_handler(kind)(event, triggers.context(kind))
    assert answer["statusCode"] == 200, answer


@pytest.fixture(scope="module")
def built(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Five streams' callbacks (one quarantined) through the functions; the page made by
    scripts/console.py and uploaded; the bucket's objects by folder."""
    bucket = stack.cos.create_bucket("console-1250000000")
    scenario = plan(5, seed=3)
    attach_pictures(stack.cos, [(c.kind, c.payload) for c in scenario.callbacks])
    out = tmp_path_factory.mktemp("console") / "page.html"
    with pytest.MonkeyPatch.context() as env:
        for name, value in stack.env(bucket=bucket).items():
            env.setenv(name, value)
        env.delenv("COS_PREFIX", raising=False)
        env.delenv("MODERATION_SUGGESTIONS", raising=False)
        pipeline.reset_instance()
        for callback in scenario.callbacks:
            _deliver(callback.kind, callback.payload)
        _deliver("record", payloads.stream_begin("misrouted"))  # authentic but another kind's: quarantined
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert console_main(["-o", str(out), "--upload", "--expires", "1h"]) == 0
        pipeline.reset_instance()
    stored = stored_bucket(bucket)
    objects = Counter(key.split("/")[0] for key in stored.keys)
    live = {p.stream_id for p in scenario.streams if p.live_sessions}
    hits = {p.stream_id: set(p.hits) for p in scenario.streams}
    yield {"page": out, "printed": printed.getvalue(), "objects": objects, "live": live, "hits": hits, "stack": stack}


def test_the_page_is_one_file_that_loads_nothing_but_pictures(built: dict[str, Any]) -> None:
    page = built["page"].read_text()
    assert "default-src 'none'" in page and "img-src http: https: data:" in page
    for outside in ("<link", "@import", 'src="http', "src='http", "@font-face", "fetch(", "XMLHttpRequest"):
        assert outside not in page
    assert f"page: {built['page'].resolve()}" in built["printed"]


def test_uploaded_page_is_private_and_its_presigned_url_reads_it(built: dict[str, Any]) -> None:
    lines = built["printed"].splitlines()
    (local,) = [line.split(": ", 1)[1] for line in lines if line.startswith("on the local stand-in")]
    assert "/console/streams-" in local and "x-cos-security-token=" in local
    with urllib.request.urlopen(local, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.read() == built["page"].read_bytes()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(local.split("?")[0], timeout=10)  # noqa: S310 (loopback)
    assert refused.value.code == 403


# In the browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        with browser.launched(install=True) as launched:
            yield launched
    except browser.BrowserMissing as exc:
        pytest.skip(f"no browser for the console tests: {exc}")


class Opened:
    """The page from disk, with every request and console error it causes."""

    def __init__(self, chromium: Any, path: Path, media: str) -> None:
        self.page = chromium.new_page(viewport={"width": 1280, "height": 820})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.media = media
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)

    def streams(self) -> list[str]:
        return list(self.page.locator(".stream").evaluate_all("rows => rows.map(r => r.dataset.stream)"))

    def figure(self, name: str) -> int:
        return int(self.page.locator(f"[data-figure={name}] .n").inner_text())

    def wait_until(self, predicate: str, timeout: float = 10.0) -> None:
        """Poll a JavaScript function from here: Playwright's wait_for_function, when it has to poll,
        builds the predicate inside the page from a string, which the page's CSP (no 'unsafe-eval')
        refuses and logs as an error."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(predicate):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {predicate}"
            self.page.wait_for_timeout(50)

    def check_clean(self) -> None:
        assert self.errors == []
        outside = [u for u in self.requests if u != self.url and not u.startswith(self.media)]
        assert outside == [], "a request left the file for something other than a picture"


@pytest.fixture
def opened(chromium: Any, built: dict[str, Any]) -> Iterator[Opened]:
    view = Opened(chromium, built["page"], f"{built['stack'].cos.url}/{MEDIA_BUCKET}/")
    yield view
    view.check_clean()
    view.page.close()


def test_figures_are_the_objects_stored_and_every_live_session_is_drawn_open(
    opened: Opened, built: dict[str, Any]
) -> None:
    objects = built["objects"]
    assert opened.figure("recordings") == objects["records"]
    assert opened.figure("snapshots") == objects["snapshots"]
    assert opened.figure("hits") == objects["moderation"]
    assert opened.figure("quarantined") == objects["quarantine"] == 1
    live = opened.figure("live")
    assert live == len(built["live"]) >= 1
    assert 2 * opened.figure("sessions") - live == objects["sessions"]  # a begin and an end each, live: a begin
    assert opened.page.locator("#quarantine").inner_text().count("record: ") == 1
    drawn_open = opened.page.locator(".stream:has(.bar.open)").evaluate_all("rows => rows.map(r => r.dataset.stream)")
    assert set(drawn_open) == built["live"]
    assert opened.page.locator(".bar.open").count() == live


def test_filters_hide_and_show_the_right_streams(opened: Opened, built: dict[str, Any]) -> None:
    everyone = opened.streams()
    assert len(everyone) == 5
    page = opened.page
    page.keyboard.press("/")
    page.keyboard.type(everyone[2][-8:])
    assert opened.streams() == [everyone[2]]
    page.fill("#f-name", "")
    page.check("#f-live")
    assert set(opened.streams()) == built["live"]
    page.uncheck("#f-live")
    page.select_option("#f-suggestion", "Block")
    assert set(opened.streams()) == {s for s, hits in built["hits"].items() if "Block" in hits}
    page.select_option("#f-suggestion", "")
    page.check("#f-hits")
    assert set(opened.streams()) == {s for s, hits in built["hits"].items() if hits}
    page.uncheck("#f-hits")
    assert opened.streams() == everyone


def test_a_stream_opens_from_the_keyboard_and_a_thumbnail_enlarges(opened: Opened, built: dict[str, Any]) -> None:
    page = opened.page
    with_hit = page.locator(".stream:has(.mark.Block)").first
    with_hit.locator(".head").focus()
    page.keyboard.press("Enter")
    assert with_hit.locator(".head").get_attribute("aria-expanded") == "true"
    outlined = with_hit.locator(".thumb.Block")
    assert outlined.count() >= 1
    opened.wait_until("() => [...document.querySelectorAll('.thumb img')].slice(0, 8).every(i => i.complete)")
    loaded = with_hit.locator(".thumb img").evaluate_all("imgs => imgs.slice(0, 8).map(i => i.naturalWidth)")
    assert loaded and all(width == 160 for width in loaded)  # the stand-in's pictures, not broken links
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-test.png"))

    outlined.first.click()
    lightbox = page.locator("#lightbox")
    assert lightbox.is_visible()
    opened.wait_until("() => document.getElementById('lightbox-img').complete")
    shown = page.locator("#lightbox-img").bounding_box()
    assert shown and shown["width"] > 400  # enlarged from a 122-pixel thumbnail
    assert "Block" in page.locator("#lightbox-caption").inner_text()
    page.keyboard.press("Escape")
    assert not lightbox.is_visible()
    assert json.loads(page.locator("#console-data").text_content() or "{}")["totals"]["hits"] == opened.figure("hits")


@pytest.mark.parametrize("width", [480, 560, 1280])
def test_the_time_axis_labels_never_overlap_whatever_the_width(opened: Opened, width: int) -> None:
    opened.page.set_viewport_size({"width": width, "height": 820})
    opened.page.wait_for_timeout(250)  # the ruler is drawn again 100 ms after a resize
    boxes = opened.page.locator("#ruler span").evaluate_all(
        "spans => spans.map(s => { const r = s.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert len(boxes) >= (2 if width >= 560 else 1)
    for (_, right), (left, _) in itertools.pairwise(boxes):
        assert right < left, f"at {width} px two labels of the time axis overlap"
    if width == 560:
        SCREENSHOTS.mkdir(exist_ok=True)
        opened.page.screenshot(path=str(SCREENSHOTS / "console-560.png"))


def test_push_exceptions_failed_recordings_and_audio_hits_show_where_a_person_looks(opened: Opened) -> None:
    page = opened.page
    troubled = page.locator(".stream:has(.axis .health)").first
    assert troubled.count() == 1
    mark = troubled.locator(".axis .health").first
    title = mark.get_attribute("title") or ""
    assert title.startswith("push exception at") and re.search(r"\d+ .+ x\d+", title), title  # types, counts
    failed = page.locator(".stream:has(.axis .recfail)").first
    assert failed.count() == 1
    assert "record_start_failed" in (failed.locator(".axis .recfail").first.get_attribute("title") or "")
    assert failed.locator(".chip.recfail").count() == 1
    failed.locator(".head").click()
    events = failed.locator(".detail table").filter(has_text="record_start_failed")
    assert events.count() == 1 and events.locator("strong.failed").count() >= 1
    audio = page.locator(".stream:has(.axis .mark.audio)").first
    audio.locator(".head").click()
    assert audio.locator(".detail h3", has_text="Audio moderation hits").count() == 1
    SCREENSHOTS.mkdir(exist_ok=True)
    failed.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "console-template-kinds.png"), full_page=True)


def test_an_outsized_stored_value_or_a_script_url_cannot_break_or_hijack_the_page(
    chromium: Any, tmp_path: Path
) -> None:
    # Issue 23, item 12: a signed, stored push_duration of 1e16 ms blanked the page ("Invalid time
    # value", 0 streams) and 1e15 ms froze it (millions of ruler ticks); a recording link took any
    # scheme, `javascript:` included.
    from tooling.console import render_html

    t0 = 1_796_000_000
    documents = _documents(
        ("stream_end", payloads.stream_end("huge", t0, "a", push_ms=10**16)),
        ("stream_begin", payloads.stream_begin("wide", t0 - 3600, "b")),
        ("stream_end", payloads.stream_end("wide", t0, "b", push_ms=10**15)),
        ("record", payloads.record("evil", t0, "mp4", 60, video_url="javascript:alert(document.domain)")),
    )
    timeline = build_timeline(documents)
    page = tmp_path / "page.html"
    page.write_text(render_html(timeline, (t0 - 7200, t0 + 60)))
    view = chromium.new_page(viewport={"width": 1280, "height": 820})
    errors: list[str] = []
    view.on("pageerror", lambda e: errors.append(str(e)))
    view.goto(page.resolve().as_uri())
    assert errors == []
    assert int(view.locator("[data-figure=streams] .n").inner_text()) == 3
    assert view.locator(".stream").count() == 3
    assert 2 <= view.locator("#ruler span").count() <= 10
    assert view.locator("a[href^='javascript']").count() == 0
    view.close()
