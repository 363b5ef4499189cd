"""CSS `live` cloud API stand-in: callback templates and rules, callback records, push sessions.

The real tencentcloud-sdk-python-live client reaches it with
`HttpProfile(protocol="http", endpoint="127.0.0.1:PORT")`, so scripts/configure_callbacks.py and
the reconcile function are tested through the SDK they use in production. Like the real API it
lets two templates share a name (the script must not create a second one) and refuses a second
rule for a domain + AppName.

What CSS sent, and whether it was delivered, is recorded by `CallbackRecorder` (WSGI middleware
in front of the local gateway, as CSS sits in front of the functions): each delivery becomes a
callback record (`DescribeCallbackRecordsList`), and each stream begin/end a push session
(`DescribeLiveStreamEventList`, `DescribeLiveStreamOnlineList`), delivered or not. The query
limits are the documented ones: records span at most a day within the last 14 days, exact stream
name, each call at its documented rate per account (`RequestLimitExceeded` beyond, whoever the
caller), the event and online lists paged by at most 100, times answered in the form asked.
Evidence: the field docs of tencentcloud-sdk-python-live 3.1.195's models
(`DescribeCallbackRecordsListRequest.EndTime`: "跨度不支持超过1天。仅支持查询最近14天的数据";
`DescribeLiveStreamEventListRequest.PageSize`: "最大值: 100" (max 100); times as `YYYY-MM-DDThh:mm:ssZ` UTC,
or `YYYY-MM-DD hh:mm:ss` Beijing time) and the rate on Tencent's API page (protocol.md section 3).
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tencentcloud.live.v20180801 import models

from devstack.faults import FaultInjector
from devstack.servers import StandIn

API_VERSION = "2018-08-01"
MAX_TEMPLATES = 50
TEMPLATE_FIELDS = (
    "TemplateName",
    "Description",
    "StreamBeginNotifyUrl",
    "StreamMixNotifyUrl",
    "StreamEndNotifyUrl",
    "RecordNotifyUrl",
    "RecordStatusNotifyUrl",
    "SnapshotNotifyUrl",
    "PornCensorshipNotifyUrl",
    "CallbackKey",
    "PushExceptionNotifyUrl",
    "AudioAuditNotifyUrl",
    "RecordExceptionNotifyUrl",
)
URL_FIELDS = tuple(f for f in TEMPLATE_FIELDS if f.endswith("NotifyUrl"))
DESCRIBED_FIELDS = frozenset(name[1:] for name in vars(models.CallBackTemplateInfo()) if name.startswith("_"))
"""What DescribeLiveCallbackTemplates answers per template: the SDK's own response model (it has no
RecordStatusNotifyUrl, which the create and modify requests take)."""
WRITE_ACTIONS = frozenset(
    {
        "CreateLiveCallbackTemplate",
        "ModifyLiveCallbackTemplate",
        "DeleteLiveCallbackTemplate",
        "CreateLiveCallbackRule",
        "DeleteLiveCallbackRule",
    }
)


ACTING_ACTIONS = frozenset({"DropLiveStream", "ForbidLiveStream", "ResumeLiveStream"})
ACTION_RATES = {"DropLiveStream": 100, "ForbidLiveStream": 200, "ResumeLiveStream": 100}
MAX_FORBID_SECONDS = 90 * 86400


def action(name: str) -> Callable[[dict[str, Any]], bool]:
    """A fault predicate (devstack/faults.py `when=`): the requests of one Live API action."""
    return lambda environ: environ.get("HTTP_X_TC_ACTION") == name


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _answer(start_response: Callable[..., Any], response: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps({"Response": {**response, "RequestId": str(uuid.uuid4())}}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _live_error(status: int) -> tuple[str, bytes]:
    body = {"Response": {"Error": {"Code": "InternalError", "Message": f"injected fault {status}"}}}
    return "application/json", json.dumps(body).encode()


def _text(params: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError("MissingParameter", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ApiError("InvalidParameter", f"{name} must be a string")
    return value


EXCEPTION_LEVELS = ("error", "warning", "info")
"""RecordExceptionLevels' choices (CreateLiveCallbackTemplateRequest, SDK 3.1.195: error、warning、info)."""


def _levels(params: dict[str, Any]) -> list[str] | None:
    value = params.get("RecordExceptionLevels")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v in EXCEPTION_LEVELS for v in value):
        raise ApiError("InvalidParameter", f"RecordExceptionLevels must be a list of {', '.join(EXCEPTION_LEVELS)}")
    return list(value)


RATES = {
    "DescribeCallbackRecordsList": 20,  # protocol.md section 3
    "DescribeLiveStreamEventList": 300,  # page 267/30800, updated 2025-10-30
    "DescribeLiveStreamOnlineList": 100,  # page 267/30798, updated 2025-10-30
    "DescribeLiveStreamState": 20,  # not found on a page: assumed as low as the lowest read call
    **ACTION_RATES,
}
"""Requests a second per account (per stand-in: every client shares them, as every caller on an
account shares the real limits)."""
RECORD_DAYS = 14
EVENT_LIST_PAGE_MAX = 100
ONLINE_PAGE_SIZES = (10, 100)
"""DescribeLiveStreamOnlineList's PageSize: "any integer between 10 and 100" (267/30798)."""
ONLINE_MAX_STREAMS = 20000
"""The online list lists at most 20,000 streams (267/30798)."""
BEIJING = 8 * 3600
_FORMS = (("%Y-%m-%dT%H:%M:%SZ", 0), ("%Y-%m-%d %H:%M:%S", BEIJING))


def iso(ts: float) -> str:
    """UTC in the API's ISO form: 2026-11-29T03:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _parse_time(value: Any, name: str) -> float:
    return _parse_form(value, name)[0]


def _parse_form(value: Any, name: str) -> tuple[float, int]:
    """The time and its form's offset: UTC `YYYY-MM-DDThh:mm:ssZ`, or Beijing `YYYY-MM-DD hh:mm:ss`."""
    if not isinstance(value, str):
        raise ApiError("MissingParameter", f"{name} is required")
    for form, offset in _FORMS:
        try:
            return calendar.timegm(time.strptime(value, form)) - offset, offset
        except ValueError:
            continue
    raise ApiError("InvalidParameter", f"{name} {value!r} is not YYYY-MM-DDThh:mm:ssZ")


def _formatted(ts: float, offset: int) -> str:
    """A time in the form the query was asked in ("接口返回的时间格式和查询请求传入的时间格式一致",
    CallBackEventInfo.EventTime, SDK 3.1.195)."""
    form = next(f for f, o in _FORMS if o == offset)
    return time.strftime(form, time.gmtime(ts + offset))


def _page(
    params: dict[str, Any], items: list[Any], default_size: int, max_size: int
) -> tuple[list[Any], dict[str, int]]:
    number = params.get("PageNum", 1)
    size = params.get("PageSize", default_size)
    if not isinstance(number, int) or number < 1 or not isinstance(size, int) or not 1 <= size <= max_size:
        raise ApiError("InvalidParameter", f"PageNum >= 1 and PageSize 1-{max_size}")
    total_pages = (len(items) + size - 1) // size
    chunk = items[(number - 1) * size : number * size]
    return chunk, {"PageNum": number, "PageSize": size, "TotalNum": len(items), "TotalPage": total_pages}


EVENT_TIME_FIELDS = ("event_time", "create_time", "end_time", "sendTime", "screenshotTime", "timestamp")
"""Where each kind's body says when it was sent (stream and recording status events: `event_time`;
snapshots `create_time`; recordings `end_time`; moderation hits `sendTime`; recording exceptions
`timestamp`); the first a body has is taken."""


def event_time(payload: dict[str, Any]) -> float:
    """When the callback's event happened (a Unix time of the last 14 days), else now."""
    now = time.time()
    for name in EVENT_TIME_FIELDS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and now - RECORD_DAYS * 86400 < value <= now + 60:
            return float(value)
    return now


@dataclass
class PushSession:
    domain: str
    app: str
    stream: str
    start: float
    end: float | None = None
    stop_reason: str = ""
    sequence: str = ""
    listed: bool = True
    """False: in the online list but never in the event list ("should not be relied too much
    upon", 267/30800): a client must find live streams in both."""


@dataclass
class CallbackRecord:
    at: float
    stream: str
    event_type: int
    request: str
    result_code: int
    response: str = ""


@dataclass
class _History:
    records: list[CallbackRecord] = field(default_factory=list)
    sessions: list[PushSession] = field(default_factory=list)


class LiveApiStandIn(StandIn):
    def __init__(self, port: int = 0) -> None:
        self.templates: dict[int, dict[str, Any]] = {}
        self.rules: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.history = _History()
        self.rates = dict(RATES)
        self.rate_limited = 0
        """Requests refused with RequestLimitExceeded (the SDK's retryer is expected to retry them)."""
        self._recent: dict[str, list[float]] = {}
        self.forbidden: dict[str, tuple[float, str]] = {}
        """Banned stream names -> (resume time, reason): bans match on the stream name by default."""
        self.dropped: list[tuple[str, str, str, float]] = []
        self._next_id = 100000
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _live_error), port)

    # What CSS did: callbacks sent (delivered or not) and push sessions.

    def record_callback(self, body: bytes, status: int, at: float | None = None) -> None:
        """One delivery as CSS would log it; a stream begin/end also opens/closes a push session.

        Logged at `at`, else at the time the callback itself gives: CSS sends a callback when its
        event happens, and the tests and the demo send past events now (the reads a reconcile run
        makes around a session's begin or end rely on that correlation being real)."""
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        if at is None:
            at = event_time(payload)
        stream = payload.get("stream_id", payload.get("streamId"))
        event_type = payload.get("event_type")
        if not isinstance(stream, str) or not isinstance(event_type, int):
            return
        record = CallbackRecord(at, stream, event_type, body.decode("utf-8", "replace"), 0 if status == 200 else 1)
        with self._lock:
            self.history.records.append(record)
            if event_type in (0, 1):
                self._session_event(payload, stream, event_type)

    def _session_event(self, payload: dict[str, Any], stream: str, event_type: int) -> None:
        domain, app = str(payload.get("app", "")), str(payload.get("appname", ""))
        sequence = str(payload.get("sequence", ""))
        when = payload.get("event_time")
        when = float(when) if isinstance(when, (int, float)) else time.time()
        for session in self.history.sessions:
            if (session.domain, session.app, session.stream, session.sequence) == (domain, app, stream, sequence):
                break
        else:
            began = when
            if event_type == 0:  # an end whose begin CSS never sent: the push began push_duration ago
                with contextlib.suppress(TypeError, ValueError):
                    began = when - int(payload.get("push_duration", 0)) / 1000
            session = PushSession(domain, app, stream, began, sequence=sequence)
            self.history.sessions.append(session)
        if event_type == 1:
            session.start = when
        else:
            session.end = when
            session.stop_reason = str(payload.get("errmsg", ""))

    def add_session(
        self, domain: str, app: str, stream: str, start: float, end: float | None = None, listed: bool = True
    ) -> None:
        """A push session CSS saw but sent no callback for (or whose callbacks all failed)."""
        with self._lock:
            session = PushSession(domain, app, stream, start, end, "stopped" if end else "", listed=listed)
            self.history.sessions.append(session)

    @property
    def records_per_second(self) -> int:
        return self.rates["DescribeCallbackRecordsList"]

    @records_per_second.setter
    def records_per_second(self, value: int) -> None:
        """What is left of the account's records rate (its other callers use the rest)."""
        self.rates["DescribeCallbackRecordsList"] = value

    def _limit(self, action: str, per_second: int | None = None) -> None:
        per_second = self.rates[action] if per_second is None else per_second
        now = time.monotonic()
        recent = [t for t in self._recent.get(action, []) if now - t < 1.0]
        if len(recent) >= per_second:
            self.rate_limited += 1
            raise ApiError("RequestLimitExceeded", f"{action}: at most {per_second} requests a second")
        recent.append(now)
        self._recent[action] = recent

    def acted(self) -> list[tuple[str, dict[str, Any]]]:
        """The Drop/Forbid/Resume calls that reached the API (a fault injected in front never does)."""
        with self._lock:
            return [call for call in self.calls if call[0] in ACTING_ACTIONS]

    def start_push(self, domain: str, app: str, stream: str, at: float | None = None) -> None:
        """A streamer starts pushing (as a stream begin callback would record it)."""
        with self._lock:
            self.history.sessions.append(PushSession(domain, app, stream, time.time() if at is None else at))

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        """The calls that changed (or tried to change) something, in order."""
        with self._lock:
            return [call for call in self.calls if call[0] in WRITE_ACTIONS]

    # The API

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        action = environ.get("HTTP_X_TC_ACTION", "")
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("HTTP_AUTHORIZATION", "").startswith(
            "TC3-HMAC-SHA256 "
        ):
            return self._error(start_response, "AuthFailure.SignatureFailure", "missing TC3 signature")
        if environ.get("HTTP_X_TC_VERSION") != API_VERSION:
            return self._error(start_response, "InvalidParameter", f"version must be {API_VERSION}")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return self._error(start_response, "InvalidParameter", "body is not JSON")
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            return self._error(start_response, "UnsupportedOperation", f"{action} is not served here")
        with self._lock:
            self.calls.append((action, params))
            try:
                response = handler(params)
            except ApiError as exc:
                return self._error(start_response, exc.code, exc.message)
        return _answer(start_response, response)

    @staticmethod
    def _error(start_response: Callable[..., Any], code: str, message: str) -> Iterable[bytes]:
        return _answer(start_response, {"Error": {"Code": code, "Message": message}})

    def _template(self, params: dict[str, Any]) -> dict[str, Any]:
        template_id = params.get("TemplateId")
        if not isinstance(template_id, int) or template_id not in self.templates:
            raise ApiError("InvalidParameter.TemplateNotFound", f"template {template_id} does not exist")
        return self.templates[template_id]

    def _do_CreateLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _text(params, "TemplateName", required=True) or ""
        if not name or len(name.encode()) > 255:
            raise ApiError("InvalidParameter", "TemplateName must be 1-255 bytes")
        fields = {f: _text(params, f) or "" for f in TEMPLATE_FIELDS}
        if not any(fields[f] for f in URL_FIELDS):
            raise ApiError("InvalidParameter", "give at least one notify URL")
        if len(self.templates) >= MAX_TEMPLATES:
            raise ApiError("LimitExceeded", f"at most {MAX_TEMPLATES} callback templates")
        levels = _levels(params)
        self._next_id += 1
        self.templates[self._next_id] = {"TemplateId": self._next_id, **fields, "RecordExceptionLevels": levels or []}
        return {"TemplateId": self._next_id}

    def _do_ModifyLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self._template(params)
        for f in TEMPLATE_FIELDS:
            value = _text(params, f)
            if value is not None:  # fields left out keep their value
                template[f] = value
        levels = _levels(params)
        if levels is not None:
            template["RecordExceptionLevels"] = levels
        return {}

    def _do_DeleteLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self._template(params)
        if any(rule["TemplateId"] == template["TemplateId"] for rule in self.rules):
            raise ApiError("InternalError.RuleInUsing", "the template is bound by a rule")
        del self.templates[template["TemplateId"]]
        return {}

    def _do_DescribeLiveCallbackTemplates(self, params: dict[str, Any]) -> dict[str, Any]:
        ordered = sorted(self.templates.values(), key=lambda t: t["TemplateId"])
        return {"Templates": [{k: v for k, v in t.items() if k in DESCRIBED_FIELDS} for t in ordered]}

    def _do_CreateLiveCallbackRule(self, params: dict[str, Any]) -> dict[str, Any]:
        domain = _text(params, "DomainName", required=True)
        app = _text(params, "AppName", required=True)
        template = self._template(params)
        if any(rule["DomainName"] == domain and rule["AppName"] == app for rule in self.rules):
            raise ApiError("FailedOperation.RuleAlreadyExist", f"a callback rule for {domain}/{app} exists")
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self.rules.append(
            {
                "DomainName": domain,
                "AppName": app,
                "TemplateId": template["TemplateId"],
                "CreateTime": now,
                "UpdateTime": now,
            }
        )
        return {}

    def _do_DeleteLiveCallbackRule(self, params: dict[str, Any]) -> dict[str, Any]:
        domain = _text(params, "DomainName", required=True)
        app = _text(params, "AppName", required=True)
        kept = [r for r in self.rules if not (r["DomainName"] == domain and r["AppName"] == app)]
        if len(kept) == len(self.rules):
            raise ApiError("InvalidParameter.RuleNotFound", f"no callback rule for {domain}/{app}")
        self.rules = kept
        return {}

    def _do_DescribeLiveCallbackRules(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Rules": [dict(r) for r in self.rules]}

    def _do_DescribeCallbackRecordsList(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("DescribeCallbackRecordsList")
        start, form = _parse_form(params.get("StartTime"), "StartTime")
        end = _parse_time(params.get("EndTime"), "EndTime")
        stream = _text(params, "StreamName", required=True)
        if not 0 < end - start <= 86400:
            raise ApiError("InvalidParameter", "StartTime-EndTime must span more than 0 s and at most one day")
        if start < time.time() - RECORD_DAYS * 86400:
            raise ApiError("InvalidParameter", f"only the last {RECORD_DAYS} days can be queried")
        event_type, result_code = params.get("EventType"), params.get("ResultCode")
        found = [
            r
            for r in self.history.records
            if r.stream == stream
            and start <= r.at < end
            and (event_type is None or r.event_type == event_type)
            and (result_code is None or r.result_code == result_code)
        ]
        chunk, paging = _page(params, found, 10, 10000)
        infos = [
            {
                "EventTime": _formatted(r.at, form),
                "EventType": r.event_type,
                "Request": r.request,
                "Response": r.response,
                "ResponseTime": _formatted(r.at, form),
                "ResultCode": r.result_code,
                "StreamId": r.stream,
            }
            for r in chunk
        ]
        return {"DataInfoList": infos, **paging}

    def _do_DescribeLiveStreamEventList(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("DescribeLiveStreamEventList")
        start, form = _parse_form(params.get("StartTime"), "StartTime")
        end = _parse_time(params.get("EndTime"), "EndTime")
        if not 0 < end - start <= 31 * 86400:
            raise ApiError("InvalidParameter", "StartTime-EndTime must span at most a month")
        domain, app, stream = params.get("DomainName"), params.get("AppName"), params.get("StreamName")
        sessions = sorted(
            (
                s
                for s in self.history.sessions
                if start <= s.start < end
                and s.listed
                and (domain is None or s.domain == domain)
                and (app is None or s.app == app)
                and (stream is None or s.stream == stream)
            ),
            key=lambda s: s.start,
        )
        chunk, paging = _page(params, sessions, 10, EVENT_LIST_PAGE_MAX)
        events = [
            {
                "AppName": s.app,
                "DomainName": s.domain,
                "StreamName": s.stream,
                "StreamStartTime": _formatted(s.start, form),
                "StreamEndTime": _formatted(s.end, form) if s.end is not None else "",
                "StopReason": s.stop_reason,
                "Duration": int(s.end - s.start) if s.end is not None else 0,
                "ClientIp": "203.0.113.10",
                "Resolution": "1280*720",
            }
            for s in chunk
        ]
        return {"EventList": events, **paging}

    def _do_DescribeLiveStreamOnlineList(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("DescribeLiveStreamOnlineList")
        domain, app = params.get("DomainName"), params.get("AppName")
        live = [
            s
            for s in self.history.sessions
            if s.end is None and (domain is None or s.domain == domain) and (app is None or s.app == app)
        ]
        streams: dict[tuple[str, str, str], list[PushSession]] = {}
        for s in live:
            streams.setdefault((s.domain, s.app, s.stream), []).append(s)
        listed = sorted(streams.items())[:ONLINE_MAX_STREAMS]
        size = params.get("PageSize", 10)
        if isinstance(size, int) and size < ONLINE_PAGE_SIZES[0]:
            raise ApiError("InvalidParameter", f"PageSize must be {ONLINE_PAGE_SIZES[0]}-{ONLINE_PAGE_SIZES[1]}")
        chunk, paging = _page(params, listed, 10, ONLINE_PAGE_SIZES[1])
        online = [
            {
                "StreamName": stream,
                "AppName": app_name,
                "DomainName": domain_name,
                "PublishTimeList": [{"PublishTime": iso(s.start)} for s in group],
                "PushToDelay": 0,
            }
            for (domain_name, app_name, stream), group in chunk
        ]
        return {"OnlineInfo": online, **paging}

    # Acting on streams (the moderation_action function, scripts/moderation.py): DropLiveStream ends
    # the stream's live session, ForbidLiveStream bans the stream name until ResumeTime (at most 90
    # days), ResumeLiveStream lifts it, DescribeLiveStreamState answers active / inactive / forbid;
    # at their documented rates. `faults.set("error", when=action("ForbidLiveStream"))` fails one.

    @staticmethod
    def _names(params: dict[str, Any]) -> tuple[str, str, str]:
        names = tuple(_text(params, n, required=True) or "" for n in ("DomainName", "AppName", "StreamName"))
        if not all(names):
            raise ApiError("InvalidParameter", "DomainName, AppName and StreamName must not be empty")
        return names[0], names[1], names[2]

    def _do_DropLiveStream(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("DropLiveStream")
        domain, app, stream = self._names(params)
        now = time.time()
        for session in self.history.sessions:  # succeeds on an inactive stream too
            if (session.domain, session.app, session.stream) == (domain, app, stream) and session.end is None:
                session.end, session.stop_reason = now, "dropped by DropLiveStream"
        self.dropped.append((domain, app, stream, now))
        return {}

    def _do_ForbidLiveStream(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("ForbidLiveStream")
        _, _, stream = self._names(params)
        resume_text = params.get("ResumeTime")
        now = time.time()
        resume = now + 7 * 86400 if resume_text is None else _parse_time(resume_text, "ResumeTime")
        if not now < resume <= now + MAX_FORBID_SECONDS + 60:
            raise ApiError("InvalidParameter.ResumeTime", "ResumeTime must be in the next 90 days")
        self.forbidden[stream] = (resume, str(params.get("Reason") or ""))
        return {}

    def _do_ResumeLiveStream(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("ResumeLiveStream")
        _, _, stream = self._names(params)
        self.forbidden.pop(stream, None)
        return {}

    def _do_DescribeLiveStreamState(self, params: dict[str, Any]) -> dict[str, Any]:
        self._limit("DescribeLiveStreamState")
        domain, app, stream = self._names(params)
        banned = self.forbidden.get(stream)
        if banned is not None and banned[0] > time.time():
            return {"StreamState": "forbid"}
        live = any(
            (s.domain, s.app, s.stream) == (domain, app, stream) and s.end is None for s in self.history.sessions
        )
        return {"StreamState": "active" if live else "inactive"}


class CallbackRecorder:
    """WSGI middleware in front of the local gateway: every POST it passes on is a callback CSS
    sent, recorded with its answer in the Live API stand-in (as CSS keeps its callback records)."""

    def __init__(self, app: Callable[..., Any], live: LiveApiStandIn) -> None:
        self.app = app
        self.live = live

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[int] = []

        def recording_start_response(line: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status.append(int(line.split(" ", 1)[0]))
            return start_response(line, headers, *args)

        answer = list(self.app(environ, recording_start_response))
        self.live.record_callback(body, status[0] if status else 500)
        return answer
