"""Realistic, correctly signed CSS callback payloads (field tables of protocol.md section 3).

Shared by the tests, the simulator and the benchmark, so every one of them speaks the same
protocol. Each builder takes keyword overrides; `signed()` adds `t` and `sign`.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from devstack.dev import DEV_CALLBACK_KEY
from shared.signing import sign

APPID = 1250000000
PUSH_DOMAIN = "push.example.com"
APPNAME = "live"
TX_SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
STREAM_PARAM = f"txSecret={TX_SECRET}&txTime=6B5C3A00"


def signed(payload: dict[str, Any], key: str = DEV_CALLBACK_KEY, t: int | None = None) -> dict[str, Any]:
    """`payload` with CSS's signature fields: `t` = expiry (event time + 600 s by default)."""
    expiry = int(time.time()) + 600 if t is None else t
    return {**payload, "t": expiry, "sign": sign(key, expiry)}


def _common(stream_id: str) -> dict[str, Any]:
    return {
        "appid": APPID,
        "app": PUSH_DOMAIN,
        "appname": APPNAME,
        "stream_id": stream_id,
        "channel_id": stream_id,
        "stream_param": STREAM_PARAM,
    }


def stream_begin(
    stream_id: str = "stream-1", event_time: int | None = None, sequence: str | None = None, **over: Any
) -> dict[str, Any]:
    event_time = int(time.time()) if event_time is None else event_time
    return {
        **_common(stream_id),
        "event_type": 1,
        "event_time": event_time,
        "sequence": sequence or str(int(hashlib.sha1(stream_id.encode()).hexdigest()[:15], 16)),
        "node": "183.60.14.7",
        "user_ip": "203.0.113.10",
        "errcode": 0,
        "errmsg": "ok",
        "set_id": 2,
        "width": 0,
        "height": 0,
        "idc_id": 38,
        **over,
    }


def stream_end(
    stream_id: str = "stream-1",
    event_time: int | None = None,
    sequence: str | None = None,
    push_ms: int = 113224,
    errcode: int = 1,
    **over: Any,
) -> dict[str, Any]:
    begin = stream_begin(stream_id, event_time, sequence)
    return {
        **begin,
        "event_type": 0,
        "errcode": errcode,
        "errmsg": "recv rtmp deleteStream" if errcode == 1 else "stream interrupted",
        "push_duration": str(push_ms),
        "width": 1280,
        "height": 720,
        **over,
    }


def record(
    stream_id: str = "stream-1",
    end_time: int | None = None,
    file_format: str = "mp4",
    duration: int = 1800,
    **over: Any,
) -> dict[str, Any]:
    end_time = int(time.time()) if end_time is None else end_time
    file_id = f"528589{end_time % 10**8:08d}{len(stream_id):02d}"
    return {
        **_common(stream_id),
        "event_type": 100,
        "file_id": file_id,
        "record_file_id": file_id,
        "file_format": file_format,
        "task_id": "1234567890",
        "start_time": end_time - duration,
        "end_time": end_time,
        "start_time_usec": 123456,
        "end_time_usec": 654321,
        "duration": duration,
        "file_size": duration * 250_000,
        "video_url": f"http://1250000000.vod2.myqcloud.com/d2d8/{file_id}/f0.{file_format}",
        "media_start_time": 0,
        "record_bps": 0,
        "callback_ext": json.dumps({"video_codec": "h264", "resolution": "1280x720"}),
        "video_id": f"{APPID}_{stream_id}",
        "record_temp_id": 42,
        **over,
    }


def snapshot(stream_id: str = "stream-1", create_time: int | None = None, **over: Any) -> dict[str, Any]:
    create_time = int(time.time()) if create_time is None else create_time
    common = _common(stream_id)
    del common["appid"]  # some snapshot payloads omit appid
    path = f"/{APPNAME}/{stream_id}/{stream_id}-screenshot-{create_time}.jpg"
    return {
        **common,
        "event_type": 200,
        "create_time": create_time,
        "file_size": 48_211,
        "width": 1280,
        "height": 720,
        "pic_url": path,
        "pic_full_url": f"https://snapshot-1250000000.cos.ap-guangzhou.myqcloud.com{path}",
        **over,
    }


def porn_hit(
    stream_id: str = "stream-1",
    screenshot_time: int | None = None,
    suggestion: str = "Block",
    score: int = 97,
    **over: Any,
) -> dict[str, Any]:
    screenshot_time = int(time.time()) if screenshot_time is None else screenshot_time
    return {
        "appid": APPID,
        "app": PUSH_DOMAIN,
        "appname": APPNAME,
        "stream_param": STREAM_PARAM,
        "event_type": 317,
        "streamId": stream_id,
        "channelId": stream_id,
        "img": f"https://moderation-1250000000.cos.ap-guangzhou.myqcloud.com/{stream_id}/{screenshot_time}.jpg",
        "type": [1],
        "score": [score],  # the current field table: an array, the scores of `type`
        "level": 1 if suggestion == "Block" else 0,
        "suggestion": suggestion,
        "label": "Porn" if suggestion != "Pass" else "Normal",
        "subLabel": "PornHigh" if suggestion == "Block" else "",
        "labelResults": [{"Scene": "Porn", "Suggestion": suggestion, "Label": "Porn", "Score": score}],
        "objectResults": [],
        "ocrResults": [],
        "libResults": [],
        "ocrMsg": "",
        "screenshotTime": screenshot_time,
        "sendTime": screenshot_time + 2,
        "tid": "0",
        "confidence": score,
        "pornScore": score,
        "normalScore": 100 - score,
        **over,
    }


def porn_hit_documented_example(stream_id: str = "stream-1", screenshot_time: int | None = None) -> dict[str, Any]:
    """A hit shaped like the example on Tencent's event-317 page: `type` an array and the score
    spelt `socre`, also an array (`"socre": [99]`), beside the legacy fields still sent."""
    hit = porn_hit(stream_id, screenshot_time, suggestion="Block", score=99)
    del hit["score"]
    return {**hit, "socre": [99], "abductionRisk": [], "faceDetails": [], "hotScore": 0, "teenagerScore": 0}


BUILDERS = {
    "stream_begin": stream_begin,
    "stream_end": stream_end,
    "record": record,
    "snapshot": snapshot,
    "porn_detect": porn_hit,
}
