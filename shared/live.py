"""The CSS Live API (tencentcloud-sdk-python-live, 2018-08-01): what CSS saw and what it sent.

Acting on a stream for the moderation_action function (`drop`, `forbid`, `resume`, `state`),
each paced under its documented rate. Read calls for the reconcile function: push sessions
(`DescribeLiveStreamEventList`), streams live now (`DescribeLiveStreamOnlineList`) and every
callback CSS sent for a stream with the exact body and its result (`DescribeCallbackRecordsList`).
Each pages through to the end, keeps under the documented request rate, lets the SDK's own
retryer repeat rate-limited and network-failed requests, and is cut at a hard per-request
deadline (shared/deadline.py).
"""

from __future__ import annotations

import calendar
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.retry import StandardRetryer
from tencentcloud.live.v20180801 import live_client, models

from shared import deadline
from shared.errors import ConfigurationError, DependencyError, DependencyTimeout


class Throttled(DependencyError):
    """`RequestLimitExceeded` until the caller's time ran out: the run stops and resumes, it did not fail."""


REQUEST_TIMEOUT = 10
"""Seconds one Live API request may take, its SDK retries included (then it is cut)."""
READ_RATES = {
    "DescribeCallbackRecordsList": 20,
    "DescribeLiveStreamEventList": 300,
    "DescribeLiveStreamOnlineList": 100,
}
"""Requests a second each read call allows, per account (not per caller): DescribeCallbackRecordsList
20 (protocol.md section 3), DescribeLiveStreamEventList 300 (page 267/30800, updated 2025-10-30),
DescribeLiveStreamOnlineList 100 (page 267/30798, updated 2025-10-30). Reconcile takes a share of
each (`RECONCILE_RATE_SHARE`), leaving the rest to every other caller on the account."""
DEFAULT_RATE_SHARE = 0.5
RECORDS_PAGE_SIZE = 100
"""Records per DescribeCallbackRecordsList page. The page's size is silent on a maximum; memory
decides: the SDK holds a whole answer several times over (body, text, parsed JSON, models), so a
page of 1,000 records of 50 KB peaked at 183 MB against reconcile's 128 MB, a page of 100 at 56 MB
(docs/RELIABILITY.md, reconcile at scale)."""
EVENTS_PAGE_SIZE = 100  # the documented maximum
ONLINE_PAGE_SIZE = 100  # the documented maximum (10-100)
RECORD_SPAN_SECONDS = 86400
"""DescribeCallbackRecordsList answers for at most one day per query."""
THROTTLE_PAUSE = (0.25, 4.0)
"""First and longest wait after `RequestLimitExceeded`; each one doubles the pause and the gap
between requests, so a run that shares the limit slows down until it fits (and never fails)."""

logging.getLogger("tencentcloud_sdk_common").setLevel(logging.CRITICAL)  # see shared/storage.py


def iso(ts: float) -> str:
    """UTC to the second, as the API takes it (callers round outward: see `_span`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _span(start: float, end: float) -> tuple[str, str]:
    """A query window on whole seconds that covers [start, end): a callback sent 0.7 s into the
    window's last second is inside it."""
    return iso(math.floor(start)), iso(math.ceil(end) if end > math.floor(end) else end)


def parse_time(value: str) -> float | None:
    """The API's UTC times (`2026-11-29T03:00:00Z`); the `YYYY-MM-DD hh:mm:ss` form is Beijing time."""
    for form, offset in (("%Y-%m-%dT%H:%M:%SZ", 0), ("%Y-%m-%d %H:%M:%S", 8 * 3600)):
        try:
            return float(calendar.timegm(time.strptime(value, form)) - offset)
        except (TypeError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class LiveApiSettings:
    region: str
    endpoint: str | None = None
    scheme: str = "https"


def load_live_settings(env: Mapping[str, str]) -> LiveApiSettings:
    scheme = env.get("LIVE_API_SCHEME", "").strip().lower() or "https"
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"LIVE_API_SCHEME must be 'http' or 'https', got {scheme!r}")
    region = env.get("LIVE_API_REGION", "").strip() or env.get("TENCENTCLOUD_REGION", "").strip()
    if not region:
        raise ConfigurationError("LIVE_API_REGION is not set: name the region of the Live API, e.g. ap-guangzhou")
    return LiveApiSettings(region, env.get("LIVE_API_ENDPOINT", "").strip() or None, scheme)


@dataclass(frozen=True)
class StreamRef:
    """A stream as the Live API names it: push domain, AppName, StreamName."""

    domain: str
    app: str
    stream: str

    @property
    def names(self) -> tuple[str, str, str]:
        return self.domain, self.app, self.stream


@dataclass(frozen=True)
class Session:
    """A push session as CSS saw it (DescribeLiveStreamEventList)."""

    domain: str
    app: str
    stream: str
    start: float
    end: float | None
    stop_reason: str


@dataclass(frozen=True)
class Record:
    """One callback CSS sent (DescribeCallbackRecordsList): the body as sent and the outcome."""

    at: float
    event_type: int
    request: str
    result_code: int
    stream: str


class Retryer(StandardRetryer):  # type: ignore[misc]
    """The SDK's retry policy (network errors and `RequestLimitExceeded`, with backoff), fixed,
    and held to the call's deadline (shared/deadline.py): no backoff or attempt starts past it.

    tencentcloud-sdk-python-common 3.1.195's `StandardRetryer.send_request` never clears the error
    of a failed attempt, so a retry that succeeds is thrown away and the old error raised after the
    last attempt: a rate-limited query could never recover (seen against the stand-in, whose
    fourth attempt succeeded). Same policy (`should_retry`, `backoff_fn`), correct loop.
    """

    def send_request(self, fn: Any) -> Any:
        for attempt in range(self._max_attempts):
            try:
                return fn()
            except TencentCloudSDKException as error:
                if attempt == self._max_attempts - 1 or not self.should_retry(None, error):
                    raise
                if error.get_code() == "RequestLimitExceeded":
                    raise  # LiveApi._call slows the whole client down instead (the limit is the account's)
                pause = self._backoff_fn(attempt)
                left = deadline.remaining()
                if left is not None and left <= pause:
                    raise  # the call's deadline comes first: no attempt starts past it
                time.sleep(pause)
        raise RuntimeError("unreachable")


class _Pace:
    """At most `per_second` requests a second from this instance; slower after each throttle,
    back to that pace by a twentieth of the gap per request answered."""

    def __init__(self, per_second: float) -> None:
        self.base = self.gap = 1.0 / per_second
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            if now < self.next:
                time.sleep(self.next - now)
            self.next = max(now, self.next) + self.gap

    def answered(self) -> None:
        self.gap = max(self.base, self.gap * 0.95)

    def throttled(self) -> None:
        self.gap = min(self.gap * 2, 1.0)


ACTION_RATES = {"DropLiveStream": 100, "ForbidLiveStream": 200, "ResumeLiveStream": 100, "DescribeLiveStreamState": 20}
"""The documented request rates of the calls that act on a stream (DescribeLiveStreamState: assumed 20/s)."""
MAX_FORBID_SECONDS = 90 * 86400
"""ForbidLiveStream bans for at most 90 days."""


class LiveApi:
    give_up_at = float("inf")
    """`time.monotonic()` after which a read call stops waiting out `RequestLimitExceeded` (raises
    `Throttled`); reconcile sets its run's stop time. Acting calls wait at most their own timeout."""

    def __init__(self, settings: LiveApiSettings, secret_id: str, secret_key: str, token: str | None) -> None:
        http = HttpProfile(protocol=settings.scheme, endpoint=settings.endpoint or "live.tencentcloudapi.com")
        http.reqTimeout = REQUEST_TIMEOUT
        profile = ClientProfile(httpProfile=http, retryer=Retryer(max_attempts=4, backoff_fn=_backoff))
        self.client = live_client.LiveClient(Credential(secret_id, secret_key, token), settings.region, profile)
        session = getattr(getattr(getattr(self.client, "request", None), "conn", None), "_session", None)
        if not isinstance(session, requests.Session):
            raise RuntimeError("tencentcloud-sdk-python-common changed: no requests session to guard")
        deadline.mount(session, pool_maxsize=2)
        self.paces = {action: _Pace(rate) for action, rate in ACTION_RATES.items()}
        self.set_share(DEFAULT_RATE_SHARE)
        self.calls = 0
        self.throttled = 0
        """Requests answered `RequestLimitExceeded` (each waited out, none lost)."""

    def set_share(self, share: float) -> None:
        """Use `share` (0-1] of each read call's per-account rate."""
        self.paces.update({action: _Pace(rate * share) for action, rate in READ_RATES.items()})

    def _call(self, action: str, request: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        pace = self.paces[action]
        reading = action in READ_RATES
        ends = self.give_up_at if reading else time.monotonic() + timeout
        pause = THROTTLE_PAUSE[0]
        while True:
            pace.wait()
            self.calls += 1
            # A read is cut at its own timeout (the run's stop time only stops new work); an action
            # at its deadline, throttled attempts included.
            with deadline.guarded(timeout if reading else max(ends - time.monotonic(), 0.0)) as guard:
                try:
                    answer = getattr(self.client, action)(request)
                    pace.answered()
                    return answer
                except TencentCloudSDKException as exc:
                    if guard.fired:
                        raise DependencyTimeout(f"Live API {action} timed out") from None
                    if exc.get_code() != "RequestLimitExceeded":
                        raise DependencyError(
                            f"Live API {action} failed: {exc.get_code()}: {exc.get_message()}"
                        ) from None
            self.throttled += 1
            pace.throttled()
            if time.monotonic() + pause >= ends:
                raise Throttled(f"Live API {action}: still rate limited when the time ran out")
            time.sleep(pause)
            pause = min(pause * 2, THROTTLE_PAUSE[1])

    # Acting on a stream (moderation_action, scripts/moderation.py). Each is safe to repeat: a drop
    # of an inactive stream succeeds, a second forbid sets the same ban, a resume of a free stream
    # changes nothing; so the SDK's retryer may repeat them and a retried hit may call them again.

    def _stream_request(self, request: Any, domain: str, app: str, stream: str) -> Any:
        request.DomainName, request.AppName, request.StreamName = domain, app, stream
        return request

    def drop(self, stream: StreamRef, timeout: float = REQUEST_TIMEOUT) -> str:
        """Cut the push (DropLiveStream); the streamer may push again. Returns the RequestId."""
        request = self._stream_request(models.DropLiveStreamRequest(), *stream.names)
        return str(self._call("DropLiveStream", request, timeout).RequestId or "")

    def forbid(self, stream: StreamRef, resume_at: float, reason: str, timeout: float = REQUEST_TIMEOUT) -> str:
        """Ban the stream until `resume_at` (ForbidLiveStream, at most 90 days). Returns the RequestId."""
        request = self._stream_request(models.ForbidLiveStreamRequest(), *stream.names)
        request.ResumeTime = iso(resume_at)
        request.Reason = reason[:2048]
        return str(self._call("ForbidLiveStream", request, timeout).RequestId or "")

    def resume(self, stream: StreamRef, timeout: float = REQUEST_TIMEOUT) -> str:
        """Lift a ban (ResumeLiveStream). Returns the RequestId."""
        request = self._stream_request(models.ResumeLiveStreamRequest(), *stream.names)
        return str(self._call("ResumeLiveStream", request, timeout).RequestId or "")

    def state(self, stream: StreamRef, timeout: float = REQUEST_TIMEOUT) -> str:
        """`active`, `inactive` or `forbid` (DescribeLiveStreamState)."""
        request = self._stream_request(models.DescribeLiveStreamStateRequest(), *stream.names)
        return str(self._call("DescribeLiveStreamState", request, timeout).StreamState or "")

    def sessions(self, domain: str, start: float, end: float, stream: str | None = None) -> Iterator[Session]:
        """Push sessions on `domain` (of `stream` only, when given) that started in [start, end), every page."""
        page = 1
        while True:
            request = models.DescribeLiveStreamEventListRequest()
            request.StartTime, request.EndTime = _span(start, end)
            request.DomainName = domain
            if stream is not None:
                request.StreamName = stream
            request.PageNum, request.PageSize = page, EVENTS_PAGE_SIZE
            answer = self._call("DescribeLiveStreamEventList", request)
            for event in answer.EventList or []:
                began = parse_time(event.StreamStartTime or "")
                if began is None:
                    continue
                ended = parse_time(event.StreamEndTime or "")
                yield Session(
                    event.DomainName or domain,
                    event.AppName or "",
                    event.StreamName or "",
                    began,
                    ended,
                    event.StopReason or "",
                )
            if page >= (answer.TotalPage or 0):
                return
            page += 1

    def online(self, domain: str) -> Iterator[tuple[str, str, str, float]]:
        """(domain, app, stream, first publish time) of every stream live on `domain` now, every page
        (the page: at most 20,000 streams are listed, 267/30798)."""
        page = 1
        while True:
            request = models.DescribeLiveStreamOnlineListRequest()
            request.DomainName = domain
            request.PageNum, request.PageSize = page, ONLINE_PAGE_SIZE
            answer = self._call("DescribeLiveStreamOnlineList", request)
            for info in answer.OnlineInfo or []:
                times = [parse_time(p.PublishTime or "") for p in info.PublishTimeList or []]
                published = min((t for t in times if t is not None), default=time.time())
                yield (info.DomainName or domain, info.AppName or "", info.StreamName or "", published)
            if page >= (answer.TotalPage or 0):
                return
            page += 1

    def records(self, stream: str, start: float, end: float) -> Iterator[Record]:
        """Every callback CSS sent for `stream` in [start, end): one-day queries, every page."""
        day_start, last = float(math.floor(start)), float(math.ceil(end))  # whole seconds, covering the window
        while day_start < last:
            day_end = min(last, day_start + RECORD_SPAN_SECONDS)
            page = 1
            while True:
                request = models.DescribeCallbackRecordsListRequest()
                request.StartTime, request.EndTime = iso(day_start), iso(day_end)
                request.StreamName = stream
                request.PageNum, request.PageSize = page, RECORDS_PAGE_SIZE
                answer = self._call("DescribeCallbackRecordsList", request)
                for info in answer.DataInfoList or []:
                    at = parse_time(info.EventTime or "")
                    yield Record(
                        at if at is not None else day_start,
                        int(info.EventType if info.EventType is not None else -1),
                        info.Request or "",
                        int(info.ResultCode if info.ResultCode is not None else -1),
                        info.StreamId or stream,
                    )
                if page >= (answer.TotalPage or 0):
                    break
                page += 1
            day_start = day_end


def _backoff(attempt: int) -> float:
    return float(min(0.2 * 2**attempt, 2.0))
