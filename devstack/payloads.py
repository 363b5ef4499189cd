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


def audio_hit(
    stream_id: str = "stream-1",
    created: int | None = None,
    suggestion: str = "Block",
    score: int = 96,
    **over: Any,
) -> dict[str, Any]:
    """Shaped like the sample of 267/58643: `domain`/`path`, `Score` and `HitFlag` in PascalCase,
    the speech result's `create_time` inside `data`, a transcript and the text results behind it."""
    created = int(time.time()) if created is None else created
    label = "Ad" if suggestion != "Pass" else "Normal"
    return {
        "HitFlag": 1 if suggestion != "Pass" else 0,
        "Score": score,
        "SubTag": "XXXsound",
        "appid": APPID,
        "asr_text": "provide mobile phone number for easy contact",
        "cdn_url": "",
        "channel_id": stream_id,
        "data": {
            "asr_tmp_full_results": [
                {
                    "appearing_point": [1810089.2, 1810104.8],
                    "confidence": 100,
                    "create_time": created,
                    "id": "",
                    "periods": "00:00:00-00:00:15",
                    "url": f"https://audit.example.com/{stream_id}/{created}.wav",
                }
            ]
        },
        "domain": PUSH_DOMAIN,
        "duration": 10,
        "event_type": 315,
        "interface": "general_callback",
        "label": label,
        "moan_results": [],
        "path": APPNAME,
        "request_id": hashlib.sha1(f"{stream_id}:{created}".encode()).hexdigest()[:32],
        "seq": created * 10 % 2**32,
        "status": 2,
        "stream_id": stream_id,
        "stream_param": STREAM_PARAM,
        "sub_label": "Contact" if suggestion != "Pass" else "",
        "suggestion": suggestion,
        "task_id": 36881,
        "text_results": [{"Keywords": ["mobile phone number"], "Label": label, "Score": 100, "Suggestion": suggestion}],
        **over,
    }


def push_exception(
    stream_id: str = "stream-1", data_time: int | None = None, types: tuple[int, ...] = (6, 7), **over: Any
) -> dict[str, Any]:
    """Shaped like 267/53310's table and sample (updated 2023-10-08): times in milliseconds, one
    `abnormal_event` entry per type with its count and occurrences, `timeout: 5000`."""
    data_time = int(time.time() * 1000) if data_time is None else data_time
    described = {
        6: "video frame arrive interval bigger than 1000(ms)",
        7: "audio frame arrive interval bigger than 1000(ms)",
    }
    events = [
        {
            "count": 2,
            "customer_visible": "true",
            "detail": [
                {
                    "desc": f"frame arrive interval too long, interval=3046(msec), type {kind}",
                    "occur_time": data_time - 9000,
                },
                {
                    "desc": f"frame arrive interval too long, interval=2953(msec), type {kind}",
                    "occur_time": data_time - 6000,
                },
            ],
            "event_key": "",
            "type": kind,
            "type_desc_cn": " ",
            "type_desc_en": described.get(kind, f"abnormal event {kind}"),
        }
        for kind in types
    ]
    return {
        "appid": APPID,
        "user_ip": "203.0.113.10",
        "data_time": data_time,
        "domain": PUSH_DOMAIN,
        "path": APPNAME,
        "event_type": 321,
        "report_interval": 10000,
        "sequence": str(int(hashlib.sha1(stream_id.encode()).hexdigest()[:15], 16)),
        "stream_id": stream_id,
        "stream_param": STREAM_PARAM,
        "timeout": 5000,
        "abnormal_event": events,
        **over,
    }


def _session_id(stream_id: str) -> str:
    return str(int(hashlib.sha1(f"record:{stream_id}".encode()).hexdigest()[:15], 16))


def record_status(
    stream_id: str = "stream-1",
    event_time: int | None = None,
    record_event: str = "record_start_succeeded",
    **over: Any,
) -> dict[str, Any]:
    """Shaped like the sample of 267/58590 (updated 2025-12-03): the push domain as `domain`,
    `record_detail` a JSON object encoded as a string, `seq` per message, `session_id` per task."""
    event_time = int(time.time()) if event_time is None else event_time
    detail = {"file_format": 2, "record_bps": 0, "start_model": 1, "record_content": 1, "source_type": 1}
    return {
        "appid": APPID,
        "appname": APPNAME,
        "domain": PUSH_DOMAIN,
        "event_time": event_time,
        "event_type": 332,
        "record_detail": json.dumps({**detail, "codec_temp_id": 0}, separators=(",", ":")),
        "record_event": record_event,
        "seq": str(int(hashlib.sha1(f"{stream_id}:{event_time}:{record_event}".encode()).hexdigest()[:15], 16)),
        "session_id": _session_id(stream_id),
        "stream_id": stream_id,
        **over,
    }


def record_exception(
    stream_id: str = "stream-1",
    timestamp: int | None = None,
    exception_level: str = "warning",
    exception_type: int = -201,
    **over: Any,
) -> dict[str, Any]:
    """Shaped like the sample of 267/68622 (updated 2025-12-03): `interface`, `domain` and `path`
    beside the table's fields, one `exception` object whose repeats are counted in `occurs`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "interface": "general_callback",
        "event_type": 341,
        "appid": APPID,
        "domain": PUSH_DOMAIN,
        "path": APPNAME,
        "stream_id": stream_id,
        "session_id": _session_id(stream_id),
        "file_format": "ts",
        "timestamp": timestamp,
        "exception_level": exception_level,
        "exception": {"type": exception_type, "desc": "video ts deviation: 100.000000", "occurs": 4},
        **over,
    }


RECORD_STATUS_SAMPLE = (
    r'{"appid":123456789,"appname":"live","domain":"****.livepush.myqcloud.com","event_time":1700207929,'
    r'"event_type":332,"record_detail":"{\\"file_format\\":2,\\"record_bps\\":0,\\"start_model\\":1,'
    r'\\"record_content\\":1,\\"source_type\\":2,\\"codec_temp_id\\":0}","record_event":"record_ended",'
    r'"seq":"3266441426274648065","session_id":"2918085116267032069","stream_id":"2991615887188599295",'
    r'"sign":"ca3e25e5dc17a6f9909a9ae7281e300d","t":1754623810}'
)
"""The sample of 267/58590 as printed: its `record_detail` escapes (two backslashes before each
inner quote) end the string early, so it is not JSON; `documented_sample` repairs only those."""

RECORD_EXCEPTION_SAMPLE = (
    '{ "interface":"general_callback", "event_type":341, "appid":1234567, "domain":"1234567.livepush.myqcloud.com",'
    ' "path":"live", "stream_id":"test_stream_35b4a6e6d4261", "session_id":"1855245773800540059",'
    ' "file_format":"ts", "timestamp":1739934527, "exception_level":"info", "exception": { "type":-201,'
    ' "desc":"video ts deviation: 100.000000", "occurs":4 }, "sign": "ca3e25e5dc17a6f9909a9ae7281e300d",'
    ' "t": 1754623810}'
)
"""The sample of 267/68622, verbatim: valid JSON as printed."""


AUDIO_MODERATION_SAMPLE = (
    '{ "HitFlag": 1, "Score": 96, "SubTag": "XXXsound", "appid": 12345678, "asr_text": "provide mobil'
    'e phone number for easy contact", "cdn_url": "", "channel_id": "xxxun01", "data": { "asr_tmp_ful'
    'l_results": [ { "appearing_point": [ 1810089.20, 1810104.80 ], "confidence": 100, "create_time":'
    ' 1685929588, "id": "", "periods": "00:00:00-00:00:15", "url": "https://xxx.Audit-09-46-27.wav" }'
    ' ] }, "domain": "xxx.cn", "duration": 10, "event_type": 315, "interface": "general_callback", "l'
    'abel": "Ad", "language_results": [ ], "moan_results": [ { "EndTime": 15, "Label": "Ad", "Score":'
    ' 0, "StartTime": 0, "SubLabel": "Contact", "Suggestion": "Pass" } ], "path": "live", "recognitio'
    'n_results": [ ], "request_id": "xxx594-4f4d-a5d0-99cce8b750b4", "seq": 3232590095, "speaker_resu'
    'lts": [ ], "status": 2, "stream_id": "xxxn01", "sub_label": "Contact", "suggestion": "Block", "t'
    'ask_id": xxx36881, "text_results": [ { "HitInfos": [ { "Keyword": "mobile phone number", "LibNam'
    'e": "XXViolationThesaurus", "Positions": [ { "End": 16, "Start": 13 }, { "End": 22, "Start": 18 '
    '} ], "Type": "Keyword" } ], "Keywords": ["mobile phone number"], "Label": "Ad", "LibId": "", "Li'
    'bName": "", "LibType": 0, "Score": 100, "SubLabel": "", "Suggestion": "Block" } ]}'
)
"""The sample of 267/58643 (updated 2025-12-03), whitespace collapsed: `"task_id": xxx36881` (a
redacted number) is not JSON; it carries no `sign`/`t` although the table lists them."""


PUSH_EXCEPTION_SAMPLE = (
    '{"abnormal_event":[{"count":2,"detail":[{"desc":"video frame arrive interval too long, interval=3046(msec)",'
    '"occur_time":1670588070569},{"desc":"video frame arrive interval too long, interval=2953(msec)",'
    '"occur_time":1670588073522}],"type":6,"type_desc_cn":" ","type_desc_en":"video frame arrive interval bigger'
    ' than 1000(ms)"},{"count":2,"detail":[{"desc":"audio frame arrive interval too long, interval=3009(msec)",'
    '"occur_time":1670588070532},{"desc":"audio frame arrive interval too long, interval=2917(msec)",'
    '"occur_time":1670588073486}],"type":7,"type_desc_cn":" ","type_desc_en":"audio frame arrive interval bigger'
    ' than 1000(ms)"}],"appid":0,"data_time":1670588074971,"domain":"xxxx.xxxxx.xxxx.xxxx","event_type":321,'
    '"interface":"general_callback","path":"xxxx","report_interval":5000,"sequence":"000000000000000000",'
    '"stream_id":"xxxxxx","stream_param":"txSecret=f5828cd4a8a09109304b060172fb3960&txTime=665982e4","timeout":5000}'
)
"""The sample of 267/53310's English source (tencentyun/intlcloud-documents, 推流异常事件通知_intl_en.md):
valid JSON as printed; no `sign`/`t`; its `stream_param` holds a `txSecret`."""


def documented_sample(kind: str) -> dict[str, Any]:
    """The sample of the kind's Tencent page, repaired as little as needed to be JSON, its own
    `sign`/`t` (placeholders of the page) left out for the caller to sign."""
    if kind == "record_status":
        text = RECORD_STATUS_SAMPLE.replace("\\\\" + '"', "\\" + '"')  # the one repair: \\" -> \"
    elif kind == "record_exception":
        text = RECORD_EXCEPTION_SAMPLE
    elif kind == "push_exception":
        text = PUSH_EXCEPTION_SAMPLE
    elif kind == "audio_moderation":
        text = AUDIO_MODERATION_SAMPLE.replace('"task_id": xxx36881', '"task_id": 36881')  # the one repair
    else:
        raise KeyError(kind)
    sample: dict[str, Any] = json.loads(text)
    return {k: v for k, v in sample.items() if k not in ("sign", "t")}


BUILDERS = {
    "stream_begin": stream_begin,
    "stream_end": stream_end,
    "record": record,
    "snapshot": snapshot,
    "porn_detect": porn_hit,
    "audio_moderation": audio_hit,
    "push_exception": push_exception,
    "record_status": record_status,
    "record_exception": record_exception,
}
