"""COS keys: deterministic, dated by the event, encoded so nothing escapes its folder."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack import payloads
from shared.events import ModerationHit, RecordEvent, SnapshotEvent, StreamBegin, StreamEnd
from shared.layout import MAX_PART, encode_part, event_key, quarantine_key

SAFE_KEY = re.compile(r"[A-Za-z0-9._~/-]+")


def _decode(part: str) -> str:
    out = bytearray()
    i = 0
    while i < len(part):
        if part[i] == "~":
            out.append(int(part[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(part[i]))
            i += 1
    return out.decode("utf-8", "surrogatepass")


@given(st.text(max_size=40))
def test_encoded_part_decodes_back_so_distinct_values_never_collide(value: str) -> None:
    part = encode_part(value)
    assert "/" not in part
    assert part not in (".", "..")
    if value and "~~" not in part:  # parts cut short end in "~~" + digest instead
        assert _decode(part) == value


@given(st.text(min_size=1, max_size=400))
def test_encoded_part_is_bounded_and_path_safe(value: str) -> None:
    part = encode_part(value)
    assert len(part) <= MAX_PART
    assert SAFE_KEY.fullmatch(part)


def test_dot_segments_and_slashes_cannot_escape_the_folder() -> None:
    assert encode_part("..") == "~2E~2E"
    assert encode_part(".") == "~2E"
    assert encode_part("../../etc") == "..~2F..~2Fetc"
    assert encode_part("a b/ü") == "a~20b~2F~C3~BC"
    assert encode_part("") == "~"
    assert encode_part("~") == "~7E"


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_distinct_values_give_distinct_parts(a: str, b: str) -> None:
    assert (encode_part(a) == encode_part(b)) == (a == b)


def test_long_values_keep_distinct_digests() -> None:
    a, b = "x" * 500 + "a", "x" * 500 + "b"
    assert encode_part(a) != encode_part(b)
    assert len(encode_part(a)) == MAX_PART


def test_session_keys_are_dated_by_event_time_and_zero_padded() -> None:
    begin = StreamBegin.model_validate(payloads.stream_begin("s/1", event_time=1700000000, sequence="99"))
    end = StreamEnd.model_validate(payloads.stream_end("s/1", event_time=1700003600, sequence="99"))
    assert event_key(begin) == "sessions/push.example.com/live/s~2F1/2023/11/14/001700000000-99-begin.json"
    assert event_key(end) == "sessions/push.example.com/live/s~2F1/2023/11/14/001700003600-99-end.json"


def test_record_snapshot_and_hit_keys() -> None:
    record = RecordEvent.model_validate(payloads.record("s1", end_time=1700000000, record_file_id="rf-1"))
    assert event_key(record) == "records/push.example.com/live/s1/2023/11/14/001700000000-rf-1.json"
    snap = SnapshotEvent.model_validate(payloads.snapshot("s1", create_time=1700000000, pic_url="/a/b.jpg"))
    assert event_key(snap) == "snapshots/push.example.com/live/s1/2023/11/14/001700000000-~2Fa~2Fb.jpg.json"
    hit = ModerationHit.model_validate(payloads.porn_hit("s1", screenshot_time=1700000000))
    assert re.fullmatch(
        r"moderation/push\.example\.com/live/s1/2023/11/14/001700000000-[0-9a-f]{32}\.json", event_key(hit)
    )


def test_same_event_gives_the_same_key_and_other_events_other_keys() -> None:
    first = StreamBegin.model_validate(payloads.stream_begin("s1", event_time=1700000000))
    again = StreamBegin.model_validate(payloads.stream_begin("s1", event_time=1700000000))
    other = StreamBegin.model_validate(payloads.stream_begin("s2", event_time=1700000000))
    assert event_key(first) == event_key(again) != event_key(other)


def test_quarantine_key_is_dated_by_t_and_named_by_content() -> None:
    key = quarantine_key("record", {"event_type": 7, "t": 1700000600}, 1700000600)
    assert re.fullmatch(r"quarantine/record/2023/11/14/[0-9a-f]{32}\.json", key)
    assert key == quarantine_key("record", {"t": 1700000600, "event_type": 7}, 1700000600)
    assert key != quarantine_key("record", {"event_type": 8, "t": 1700000600}, 1700000600)
    resigned = quarantine_key("record", {"event_type": 7, "t": 1700000900, "sign": "x"}, 1700000900)
    assert resigned == key


def test_a_recording_is_named_by_record_file_id_then_file_id_then_video_url() -> None:
    base = payloads.record("s1", end_time=1700000000, record_file_id=None, file_id="f-9", video_url="http://v/x.mp4")
    assert event_key(RecordEvent.model_validate(base)).endswith("-f-9.json")
    with_rfid = {**base, "record_file_id": "rf-1"}
    assert event_key(RecordEvent.model_validate(with_rfid)).endswith("-rf-1.json")
    only_url = {**base, "file_id": None}
    assert event_key(RecordEvent.model_validate(only_url)).endswith("-http~3A~2F~2Fv~2Fx.mp4.json")


@pytest.fixture
def far_east(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine whose local time is UTC+8 (SCF in China, a developer's laptop)."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_date_folders_are_utc_whatever_the_local_time_zone(far_east: None) -> None:
    late_evening_utc = 1700000000 - 1700000000 % 86400 + 20 * 3600  # 2023-11-14 20:00 UTC = 15th 04:00 +8
    assert time.localtime(late_evening_utc).tm_mday == 15
    begin = StreamBegin.model_validate(payloads.stream_begin("s1", event_time=late_evening_utc, sequence="1"))
    assert "/2023/11/14/" in event_key(begin)
    assert "/2023/11/14/" in quarantine_key("record", {"a": 1}, late_evening_utc)
