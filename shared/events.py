"""Typed models of the five CSS callbacks this project receives (pydantic v2).

Models are lenient where CSS is inconsistent (numbers sent as strings, `callback_ext` as a JSON
string, the `socre` spelling, camelCase moderation fields) and keep unknown fields, so nothing
CSS adds later is lost. Fields used in COS keys are bounded so that every key can be built.

No `from __future__ import annotations` here: with it every field annotation is a string that
pydantic compiles and evaluates when the classes are made and again when a validator is built,
~7 million instructions (~1 %) of each cold start. Python 3.10 evaluates `X | None` natively.
"""

import json
import math
import os
from typing import Annotated, Any, ClassVar

# pydantic looks for plugins (entry points of every installed distribution, via importlib.metadata)
# when it builds its first validator: ~10 ms of each cold start, for plugins this project never
# uses. Set before pydantic reads it; an explicit setting in the environment wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.vocabulary import EVENT_CODES, is_event_type

UnixTime = Annotated[int, Field(ge=0, lt=253402300800)]  # up to 9999-12-31, so dates can be built
NonEmpty = Annotated[str, Field(min_length=1)]

# Stream-end errcode meanings (CSS "stream interruption" table).
_END_REASONS: dict[int, str] = {0: "unknown"}
for _codes, _reason in (
    ((1, 2, 3, 4, 35), "pushing client stopped or closed the connection"),
    ((5, 9, 11, 24, 38), "CSS internal error"),
    ((6, 23), "RTMP content error"),
    ((7,), "RTMP frame larger than the maximum"),
    ((8, 20), "no data for a long time"),
    ((10,), "proxy layer got an interrupt command"),
    ((12, 13, 14, 15, 16, 17), "push network error"),
    ((18,), "push refused (URL invalid, expired, blocked or over a limit)"),
    ((19,), "third-party authentication failed"),
    ((21,), "stopped by API, disabled, or replaced by a new push"),
    ((33,), "RTMP AMF error"),
    ((37,), "stopped an unwatched stream"),
    ((39,), "frame rate above the maximum"),
):
    for _code in _codes:
        _END_REASONS[_code] = _reason


def end_reason(errcode: int | None) -> str:
    """A readable reason for a stream-end `errcode`."""
    return _END_REASONS.get(errcode or 0, "unknown or internal")


class CallbackEvent(BaseModel):
    """Fields common to all callbacks; unknown fields are kept in `model_extra`."""

    # defer_build: a function validates one kind only, so only that model's validator is ever built
    # (on first use) instead of all five at import; this is part of every cold start.
    # allow_inf_nan off: nothing stored or published may be non-JSON (Infinity, NaN).
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, coerce_numbers_to_str=True, defer_build=True, allow_inf_nan=False
    )

    kind: ClassVar[str]
    event_code: ClassVar[int]
    event_type: int
    appid: int | None = None
    app: str = ""
    appname: str = ""
    stream_param: str | None = None

    @model_validator(mode="after")
    def _is_this_kind(self) -> "CallbackEvent":
        if not is_event_type(self.event_type, type(self).kind):
            raise ValueError(f"event_type must be {type(self).event_code} for {type(self).kind}")
        return self

    def normalised(self) -> dict[str, Any]:
        """The declared fields, by their snake_case names (extras stay in the original).

        Equal to `model_dump(include=<declared fields>)` for these field types (str, int, float,
        None, list[int], dict): pydantic keeps declared fields in `__dict__` and extras apart, and
        the values are only serialised, never changed. A thirtieth of model_dump's cost.
        """
        return dict(self.__dict__)


class StreamEvent(CallbackEvent):
    stream_id: NonEmpty
    channel_id: str | None = None
    event_time: UnixTime
    sequence: NonEmpty
    node: str | None = None
    user_ip: str | None = None
    errcode: int = 0
    errmsg: str = ""
    sub_errcode: int | None = None
    set_id: int | None = None
    width: int | None = None
    height: int | None = None
    idc_id: int | None = None


class StreamBegin(StreamEvent):
    kind: ClassVar[str] = "stream_begin"
    event_code: ClassVar[int] = 1


class StreamEnd(StreamEvent):
    kind: ClassVar[str] = "stream_end"
    event_code: ClassVar[int] = 0
    push_duration: int | None = Field(default=None, ge=0, description="milliseconds; CSS sends a string")

    def normalised(self) -> dict[str, Any]:
        return {**super().normalised(), "end_reason": end_reason(self.errcode)}


def json_object_text(value: Any) -> Any:
    """A JSON object that CSS sends encoded as a string (`callback_ext`, `record_detail`), parsed;
    the string kept as sent when it is not one."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


class RecordEvent(CallbackEvent):
    kind: ClassVar[str] = "record"
    event_code: ClassVar[int] = 100
    stream_id: NonEmpty
    channel_id: str | None = None
    file_id: str | None = None
    record_file_id: str | None = None
    file_format: str | None = None
    task_id: str | None = None
    start_time: UnixTime | None = None
    end_time: UnixTime
    start_time_usec: int | None = None
    end_time_usec: int | None = None
    duration: int | None = Field(default=None, ge=0)
    file_size: int | None = Field(default=None, ge=0)
    video_url: str | None = None
    media_start_time: int | None = None
    record_bps: int | None = None
    callback_ext: dict[str, Any] | str | None = None

    @field_validator("callback_ext", mode="before")
    @classmethod
    def _parse_callback_ext(cls, value: Any) -> Any:
        return json_object_text(value)

    @model_validator(mode="after")
    def _has_identity(self) -> "RecordEvent":
        if not (self.record_file_id or self.file_id or self.video_url):
            raise ValueError("a recording needs record_file_id, file_id or video_url to be identified")
        return self

    @property
    def identity(self) -> str:
        return self.record_file_id or self.file_id or self.video_url or ""


class SnapshotEvent(CallbackEvent):
    kind: ClassVar[str] = "snapshot"
    event_code: ClassVar[int] = 200
    stream_id: NonEmpty
    channel_id: str | None = None
    create_time: UnixTime
    pic_url: NonEmpty
    pic_full_url: str | None = None
    file_size: int | None = Field(default=None, ge=0)
    width: int | None = None
    height: int | None = None


LEGACY_SCORES = ("confidence", "pornScore", "hotScore", "normalScore")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_number(value: Any) -> int | float:
    """A score as a number: an int, a finite float, or a string holding one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("a score must be a number or a numeric string")
    number: int | float
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{text[:20]!r} is not a number") from None
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("a score must be finite")
    if not -(2**53) <= number <= 2**53:
        raise ValueError("a score must lie within +-2**53")
    return number


def scores(value: Any) -> list[int | float] | None:
    """`score`/`socre` as sent in any documented spelling: a number, a numeric string, or an array
    of them (the current field table: the scores of `type`). None when absent."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [_finite_number(item) for item in items]


def effective_suggestion(suggestion: str | None, score: float | None, min_score: int) -> str:
    """A hit's `suggestion` as sent; for payloads without one, Review when the score is high."""
    if suggestion:
        return suggestion.strip().capitalize()
    return "Review" if score is not None and score >= min_score else "Pass"


class ModerationHit(CallbackEvent):
    kind: ClassVar[str] = "porn_detect"
    event_code: ClassVar[int] = 317
    stream_id: NonEmpty = Field(validation_alias=AliasChoices("streamId", "stream_id"))
    channel_id: str | None = Field(default=None, validation_alias=AliasChoices("channelId", "channel_id"))
    img: NonEmpty
    type: list[Annotated[int, Field(ge=-(2**53), le=2**53)]] = Field(default_factory=list)
    score: list[int | float] | None = None
    socre: list[int | float] | None = None
    level: int | None = None
    suggestion: str | None = None
    label: str | None = None
    sub_label: str | None = Field(default=None, validation_alias=AliasChoices("subLabel", "sub_label"))
    screenshot_time: UnixTime | None = Field(
        default=None, validation_alias=AliasChoices("screenshotTime", "screenshot_time")
    )
    send_time: UnixTime | None = Field(default=None, validation_alias=AliasChoices("sendTime", "send_time"))
    tid: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, str)) and not isinstance(value, bool) else value

    @field_validator("score", "socre", mode="before")
    @classmethod
    def _scores(cls, value: Any) -> Any:
        return scores(value)

    @model_validator(mode="after")
    def _has_time(self) -> "ModerationHit":
        if self.screenshot_time is None and self.send_time is None:
            raise ValueError("a moderation hit needs screenshotTime or sendTime")
        return self

    @property
    def event_time(self) -> int:
        return self.screenshot_time if self.screenshot_time is not None else (self.send_time or 0)

    @property
    def best_score(self) -> float | None:
        """The hit's score: the highest of `score` (the scores of `type`), else of the documented
        example's `socre`, else the highest legacy score (`confidence`, `pornScore`, ...).

        The highest, because `type` lists the labels found and a hit is as serious as its worst
        label; a single number counts as an array of one, an empty array as absent.
        """
        for values in (self.score, self.socre):
            if values:
                return max(values)
        extras = self.model_extra or {}
        legacy = [
            extras[name]
            for name in LEGACY_SCORES
            if isinstance(extras.get(name), (int, float))
            and not isinstance(extras.get(name), bool)
            and math.isfinite(extras[name])
        ]
        return max(legacy) if legacy else None

    def effective_suggestion(self, min_score: int) -> str:
        return effective_suggestion(self.suggestion, self.best_score, min_score)


class _DomainPathEvent(CallbackEvent):
    """The four newer kinds' pages (315, 321, 332, 341) name the push domain `domain` and the push
    path `path` (332: `appname`) where the five older kinds say `app` and `appname`; both spellings
    are read into `app`/`appname` so keys and views need one place."""

    app: str = Field(default="", validation_alias=AliasChoices("app", "domain"))
    appname: str = Field(default="", validation_alias=AliasChoices("appname", "path"))


def _objects_as_list(value: Any) -> Any:
    """An array of objects as documented; a lone object counts as an array of one, null as none."""
    return [value] if isinstance(value, dict) else [] if value is None else value


class AudioModerationHit(_DomainPathEvent):
    """Event 315: a suspected violation in a stream's audio (267/58643, updated 2025-12-03; CN
    267/94421). Only suspected violations are sent. Its page names the push domain `domain` and
    the push path `path`, and carries no event time of its own: the time is the speech result's
    `create_time` when the payload has one, else the signature's expiry less CSS's default 600 s."""

    kind: ClassVar[str] = "audio_moderation"
    event_code: ClassVar[int] = 315
    stream_id: NonEmpty
    channel_id: str | None = Field(default=None, validation_alias=AliasChoices("channel_id", "channelId"))
    suggestion: str | None = None
    label: str | None = None
    sub_label: str | None = None
    hit_score: Annotated[float, Field(ge=-(2**53), le=2**53)] | None = Field(
        default=None, validation_alias=AliasChoices("Score", "score")
    )
    hit_flag: int | None = Field(default=None, validation_alias=AliasChoices("HitFlag", "hit_flag"))
    asr_text: str | None = None
    cdn_url: str | None = None
    duration: float | None = None
    task_id: str | None = None
    seq: str | None = None
    request_id: str | None = None
    t: UnixTime | None = None

    @model_validator(mode="after")
    def _has_identity_and_time(self) -> "AudioModerationHit":
        if not (self.request_id or self.task_id or self.seq):
            raise ValueError("an audio hit needs request_id, task_id or seq to be identified")
        if self.event_time <= 0:
            raise ValueError("an audio hit needs data.asr_tmp_full_results[].create_time or t for its date")
        return self

    @property
    def event_time(self) -> int:
        data = (self.model_extra or {}).get("data")
        results = data.get("asr_tmp_full_results") if isinstance(data, dict) else None
        for result in results if isinstance(results, list) else ():
            created = result.get("create_time") if isinstance(result, dict) else None
            if isinstance(created, int) and not isinstance(created, bool) and 0 < created < 253402300800:
                return created
        return max(0, (self.t or 0) - 600)

    @property
    def identity(self) -> str:
        """The result's own id (`request_id`), else its task and audio sequence number."""
        return self.request_id or f"{self.task_id or ''}:{self.seq or ''}"

    # What a moderation message and the enforcement need of any hit (shared/moderation.py).
    img: ClassVar[None] = None
    type: ClassVar[list[int]] = []
    send_time: ClassVar[None] = None

    @property
    def screenshot_time(self) -> int:
        return self.event_time

    @property
    def best_score(self) -> float | None:
        return self.hit_score

    def effective_suggestion(self, min_score: int) -> str:
        return effective_suggestion(self.suggestion, self.best_score, min_score)


class AbnormalEvent(BaseModel):
    """One item of event 321's `abnormal_event`: a type, how often it occurred within the report
    interval, and `detail` entries whose `occur_time` is in milliseconds."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, allow_inf_nan=False)
    type: Annotated[int, Field(ge=-(2**31), le=2**31)]
    count: Annotated[int, Field(ge=0, le=2**31)] | None = None
    detail: list[dict[str, Any]] = Field(default_factory=list)
    type_desc_en: str | None = None
    type_desc_cn: str | None = None

    @field_validator("detail", mode="before")
    @classmethod
    def _detail_as_list(cls, value: Any) -> Any:
        return _objects_as_list(value)


PUSH_EXCEPTION_TYPES = {
    1: "video timestamp moved backwards",
    2: "audio timestamp moved backwards",
    3: "video timestamp jumped (more than 1 s)",
    4: "audio timestamp jumped (more than 1 s)",
    5: "chunk size above 8,192",
    6: "video frames more than 3 s apart",
    7: "audio frames more than 3 s apart",
    8: "video codec changed",
    9: "audio codec changed",
    10: "video frame before its codec header",
    11: "audio frame before its codec header",
    12: "audio timestamps too far apart",
    13: "an uncommon codec",
    14: "video header unreadable",
    15: "video frame rate too low",
    16: "GOP longer than 10 s",
}
"""Event 321's `type` values (267/53310, updated 2025-12-03; 12-16 from its Chinese copy of 2025-01-15)."""


class PushExceptionEvent(_DomainPathEvent):
    """Event 321: what went wrong in a push during one report interval (267/53310; CN 267/84046).
    Sent only when something did; the domain is `domain`, the path `path`, times in milliseconds
    (`data_time`, `report_interval`, `detail[].occur_time`), and `timeout: 5000` is how long CSS
    waits for the answer (shared/budget.py keeps this door inside 4 s)."""

    kind: ClassVar[str] = "push_exception"
    event_code: ClassVar[int] = 321
    stream_id: NonEmpty
    data_time: Annotated[int, Field(ge=0, lt=253402300800000)]
    sequence: str = ""
    report_interval: int | None = None
    timeout: int | None = None
    user_ip: str | None = None
    abnormal_event: list[AbnormalEvent] = Field(default_factory=list)

    @field_validator("abnormal_event", mode="before")
    @classmethod
    def _events_as_list(cls, value: Any) -> Any:
        return _objects_as_list(value)

    @property
    def event_time(self) -> int:
        return self.data_time // 1000

    def normalised(self) -> dict[str, Any]:
        events = [e.model_dump() for e in self.abnormal_event]
        return {
            **super().normalised(),
            "abnormal_event": events,
            "types": sorted({e.type for e in self.abnormal_event}),
        }


HITS = (ModerationHit, AudioModerationHit)
"""Moderation hits, image and audio: stored as evidence, published once, acted on."""


# The recording's status and exceptions (events 332 and 341).

RECORD_EVENTS = (
    "record_start_succeeded",
    "record_start_failed",
    "record_paused",
    "record_resumed",
    "record_error",
    "record_ended",
)
"""`record_event` values of event 332 (267/58590, updated 2025-12-03; CN 267/102192)."""


class _RecordingEvent(_DomainPathEvent):
    stream_id: NonEmpty
    session_id: str | None = None


class RecordStatusEvent(_RecordingEvent):
    kind: ClassVar[str] = "record_status"
    event_code: ClassVar[int] = 332
    event_time: UnixTime
    record_event: NonEmpty
    record_detail: dict[str, Any] | str | None = None
    task_id: str | None = None
    seq: str | None = None

    @field_validator("record_detail", mode="before")
    @classmethod
    def _parse_record_detail(cls, value: Any) -> Any:
        return json_object_text(value)  # a JSON string, per the page's table

    @property
    def identity(self) -> str:
        """`seq` (the message's sequence number), else the task and its event: one status change."""
        return self.seq or f"{self.session_id or self.task_id or ''}-{self.record_event}"

    @property
    def failed(self) -> bool:
        return self.record_event in ("record_start_failed", "record_error")


class RecordException(BaseModel):
    """The `exception` object of event 341: one type, how often it occurred, a description."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, allow_inf_nan=False)
    type: Annotated[int, Field(ge=-(2**31), le=2**31)]
    occurs: Annotated[int, Field(ge=0, le=2**31)] | None = None
    desc: str | None = None


class RecordExceptionEvent(_RecordingEvent):
    kind: ClassVar[str] = "record_exception"
    event_code: ClassVar[int] = 341
    timestamp: UnixTime
    exception_level: str = ""
    exception: RecordException
    file_format: str | None = None

    @field_validator("exception_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def normalised(self) -> dict[str, Any]:
        return {**super().normalised(), "exception": self.exception.model_dump()}


MODELS: dict[str, type[CallbackEvent]] = {
    model.kind: model
    for model in (
        StreamBegin,
        StreamEnd,
        RecordEvent,
        SnapshotEvent,
        ModerationHit,
        AudioModerationHit,
        PushExceptionEvent,
        RecordStatusEvent,
        RecordExceptionEvent,
    )
}
if {kind: model.event_code for kind, model in MODELS.items()} != EVENT_CODES:  # one vocabulary
    raise ImportError("shared/events.py models and shared/vocabulary.py EVENT_CODES disagree")
