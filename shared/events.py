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
        # CSS sends a JSON object encoded as a string; keep the string if it is not one.
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                parsed = json.loads(value, parse_constant=_no_constant)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
                return value
            return parsed if isinstance(parsed, dict) else value
        return value

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
        """`suggestion` as sent; for legacy payloads without one, Review when the score is high."""
        if self.suggestion:
            return self.suggestion.strip().capitalize()
        score = self.best_score
        return "Review" if score is not None and score >= min_score else "Pass"


MODELS: dict[str, type[CallbackEvent]] = {
    model.kind: model for model in (StreamBegin, StreamEnd, RecordEvent, SnapshotEvent, ModerationHit)
}
if {kind: model.event_code for kind, model in MODELS.items()} != EVENT_CODES:  # one vocabulary
    raise ImportError("shared/events.py models and shared/vocabulary.py EVENT_CODES disagree")
