"""Event models: each kind with the quirks CSS payloads really have."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devstack import payloads
from shared.events import ModerationHit, RecordEvent, SnapshotEvent, StreamBegin, StreamEnd, end_reason


def test_stream_end_push_duration_sent_as_string_becomes_milliseconds() -> None:
    event = StreamEnd.model_validate(payloads.stream_end(push_ms=113224, errcode=1))
    assert event.push_duration == 113224
    assert event.normalised()["end_reason"] == "pushing client stopped or closed the connection"


@pytest.mark.parametrize(
    ("errcode", "reason"),
    [(0, "unknown"), (18, "push refused"), (21, "stopped by API"), (37, "unwatched"), (999, "unknown or internal")],
)
def test_end_reason_reads_the_errcode_table(errcode: int, reason: str) -> None:
    assert reason in end_reason(errcode)


def test_record_callback_ext_json_string_is_parsed() -> None:
    event = RecordEvent.model_validate(payloads.record())
    assert event.callback_ext == {"video_codec": "h264", "resolution": "1280x720"}


def test_record_callback_ext_that_is_not_json_is_kept_as_sent() -> None:
    event = RecordEvent.model_validate(payloads.record(callback_ext="{not json"))
    assert event.callback_ext == "{not json"


def test_record_without_task_id_stream_param_or_appid_is_valid() -> None:
    payload = payloads.record()
    for name in ("task_id", "stream_param", "appid"):
        del payload[name]
    event = RecordEvent.model_validate(payload)
    assert event.task_id is None and event.stream_param is None and event.appid is None


def test_record_without_any_identity_is_invalid() -> None:
    payload = payloads.record()
    for name in ("file_id", "record_file_id", "video_url"):
        del payload[name]
    with pytest.raises(ValidationError, match="identified"):
        RecordEvent.model_validate(payload)


def test_unknown_fields_are_kept() -> None:
    event = RecordEvent.model_validate(payloads.record(brand_new_field={"x": 1}))
    assert event.model_extra is not None
    assert event.model_extra["brand_new_field"] == {"x": 1}
    assert event.model_extra["video_id"].endswith("stream-1")


def test_snapshot_without_appid_is_valid() -> None:
    payload = payloads.snapshot()
    assert "appid" not in payload
    assert SnapshotEvent.model_validate(payload).appid is None


def test_moderation_camel_case_fields_and_the_documented_example_spelling() -> None:
    payload = payloads.porn_hit_documented_example(stream_id="abc")
    assert "score" not in payload and payload["socre"] == [99]
    hit = ModerationHit.model_validate(payload)
    assert hit.stream_id == "abc"
    assert hit.best_score == 99
    assert hit.socre == [99]
    assert hit.screenshot_time == payload["screenshotTime"]
    assert hit.sub_label == "PornHigh"


@pytest.mark.parametrize(
    ("fields", "best"),
    [
        ({"score": [97]}, 97),  # the current field table: the scores of `type`
        ({"score": [40, 97, 12]}, 97),  # several labels: as serious as the worst
        ({"score": 88}, 88),  # older pages: a bare number
        ({"score": "88.5"}, 88.5),  # a numeric string
        ({"score": ["91", 7]}, 91),
        ({"socre": [99]}, 99),  # the documented example's spelling
        ({"socre": 77}, 77),
        ({"score": [91], "socre": [12]}, 91),  # `score` wins over `socre`
        ({"score": [], "socre": [12]}, 12),  # an empty array counts as absent
        ({"score": None}, 95),  # neither: the highest legacy score (pornScore/confidence 95)
    ],
)
def test_moderation_score_in_every_documented_spelling(fields: dict[str, object], best: float) -> None:
    payload = payloads.porn_hit(score=95)
    del payload["score"]
    hit = ModerationHit.model_validate({**payload, **fields})
    assert hit.best_score == best


@pytest.mark.parametrize("score", ["high", [1, "x"], [[1]], True, {"a": 1}, "1e400", float("inf"), [float("nan")]])
def test_a_score_that_is_not_a_finite_number_fails_validation(score: object) -> None:
    with pytest.raises(ValidationError):
        ModerationHit.model_validate({**payloads.porn_hit(), "score": score})


def test_a_callback_ext_nested_beyond_the_parser_is_kept_as_the_string_sent() -> None:
    deep = "{" + '"a":{' * 3000 + "}" * 3001
    event = RecordEvent.model_validate(payloads.record(callback_ext=deep))
    assert event.callback_ext == deep


def test_legacy_moderation_payload_without_suggestion_is_judged_by_score() -> None:
    payload = payloads.porn_hit()
    for name in ("suggestion", "score"):
        del payload[name]
    assert (
        ModerationHit.model_validate({**payload, "pornScore": 95, "confidence": 95}).effective_suggestion(90)
        == "Review"
    )
    assert (
        ModerationHit.model_validate({**payload, "pornScore": 40, "confidence": 40}).effective_suggestion(90) == "Pass"
    )


def test_numbers_sent_as_strings_and_strings_sent_as_numbers_are_accepted() -> None:
    event = StreamBegin.model_validate(payloads.stream_begin(event_time="1700000000", sequence=123456))
    assert event.event_time == 1700000000
    assert event.sequence == "123456"


@pytest.mark.parametrize(
    "override",
    [
        {"event_time": -1},
        {"event_time": 10**20},
        {"event_time": "soon"},
        {"stream_id": ""},
        {"stream_id": None},
        {"sequence": ""},
        {"event_type": 0},
    ],
)
def test_fields_that_cannot_be_used_fail_validation(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StreamBegin.model_validate({**payloads.stream_begin(), **override})
