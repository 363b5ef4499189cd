"""The behaviour table, row by row, through every function's main_handler against the stand-ins."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devstack import payloads
from devstack.servers import closed_port
from devstack.stack import DEV_CALLBACK_KEY
from shared import pipeline
from shared.vocabulary import FOLDER_OF, KINDS
from tests.conftest import Live, body_of

PREFIX = FOLDER_OF


@pytest.mark.parametrize("kind", KINDS)
def test_authentic_callback_is_answered_200_and_stored_once(live: Live, kind: str) -> None:
    payload = payloads.signed(payloads.BUILDERS[kind]())
    answer = live.invoke(kind, payload)
    assert answer["statusCode"] == 200
    assert body_of(answer) == {"code": 0}
    assert answer["headers"]["Content-Type"] == "application/json"
    documents = live.documents()
    assert list(documents) == [live.logs[-1]["key"]]
    (key, document) = next(iter(documents.items()))
    assert key.startswith(PREFIX[kind])
    assert document["kind"] == kind
    assert "sign" not in document["original"]
    assert document["original"]["t"] == payload["t"]
    if "stream_param" in payload:  # the recording status and exception pages list none
        assert document["original"]["stream_param"] == "txSecret=***&txTime=6B5C3A00"
        assert document["event"]["stream_param"] == "txSecret=***&txTime=6B5C3A00"


@pytest.mark.parametrize("kind", KINDS)
def test_retried_callback_rewrites_the_same_object_with_the_same_bytes(live: Live, kind: str) -> None:
    payload = payloads.signed(payloads.BUILDERS[kind]())
    first = live.invoke(kind, payload)
    stored = live.objects()
    for _ in range(3):
        assert live.invoke(kind, payload)["statusCode"] == 200
    assert first["statusCode"] == 200
    assert live.objects() == stored
    assert len(stored) == 1


def test_retried_moderation_hit_is_published_once(live: Live) -> None:
    payload = payloads.signed(payloads.porn_hit(suggestion="Block"))
    outcomes = [live.invoke("porn_detect", payload) and live.logs[-1]["outcome"] for _ in range(4)]
    assert outcomes == ["published", "duplicate", "duplicate", "duplicate"]
    assert len(live.published()) == 1


def test_stored_documents_keep_normalised_fields_and_unknown_extras(live: Live) -> None:
    live.invoke("record", payloads.signed(payloads.record(duration=60, future_field="kept")))
    live.invoke("stream_end", payloads.signed(payloads.stream_end(push_ms=5000, errcode=18)))
    record = next(iter(live.documents("records/").values()))
    assert record["event"]["callback_ext"] == {"video_codec": "h264", "resolution": "1280x720"}
    assert record["event"]["duration"] == 60
    assert record["original"]["future_field"] == "kept"
    end = next(iter(live.documents("sessions/").values()))
    assert end["event"]["push_duration"] == 5000
    assert end["event"]["errcode"] == 18
    assert end["event"]["end_reason"].startswith("push refused")


def test_received_time_and_request_id_are_object_metadata_not_body(live: Live) -> None:
    live.invoke("snapshot", payloads.signed(payloads.snapshot()), request_id="req-abc")
    key = live.logs[-1]["key"]
    head = {k.lower(): v for k, v in live.stack.cos.client().head_object(Bucket=live.bucket, Key=key).items()}
    assert head["x-cos-meta-request-id"] == "req-abc"
    assert head["x-cos-meta-trigger"] == "apigw"
    assert head["x-cos-meta-received-at"].endswith("Z")


@pytest.mark.parametrize("kind", KINDS)
def test_function_url_and_direct_invoke_are_answered_like_api_gateway(live: Live, kind: str) -> None:
    for trigger, stream in (("url", "via-url"), ("direct", "via-direct")):
        answer = live.invoke(kind, payloads.signed(payloads.BUILDERS[kind](stream_id=stream)), trigger=trigger)
        assert answer["statusCode"] == 200, answer
    keys = list(live.objects())
    assert len(keys) == 2
    assert any("/via-url/" in k for k in keys) and any("/via-direct/" in k for k in keys)


def test_base64_encoded_body_is_accepted(live: Live) -> None:
    answer = live.invoke("record", payloads.signed(payloads.record()), as_base64=True)
    assert answer["statusCode"] == 200
    assert len(live.objects()) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("body", "method", "status"),
    [
        ("not json", "POST", 400),
        ("[1, 2, 3]", "POST", 400),
        ("", "POST", 400),
        (json.dumps({"pad": "x" * (256 * 1024 + 10)}), "POST", 413),
        (None, "GET", 405),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(
    live: Live, kind: str, body: str | None, method: str, status: int
) -> None:
    sent = body if body is not None else payloads.signed(payloads.BUILDERS[kind]())
    answer = live.invoke(kind, sent, method=method)
    assert answer["statusCode"] == status
    reply = body_of(answer)
    assert reply["code"] == status and reply["message"]
    assert live.objects() == {}
    assert live.published() == []


@pytest.mark.parametrize("kind", KINDS)
def test_forged_missing_or_expired_signatures_are_refused_and_write_nothing(live: Live, kind: str) -> None:
    base = payloads.BUILDERS[kind]()
    now = int(time.time())
    cases = [
        (payloads.signed(base, key="not-the-key"), 403),
        (payloads.signed(base, t=now - 301), 403),
        ({**payloads.signed(base), "t": "junk"}, 401),
        ({k: v for k, v in payloads.signed(base).items() if k != "sign"}, 401),
        ({k: v for k, v in payloads.signed(base).items() if k != "t"}, 401),
        ({**payloads.signed(base, t=now + 600), "t": now + 601}, 403),
    ]
    for payload, status in cases:
        answer = live.invoke(kind, payload)
        assert answer["statusCode"] == status, (payload, answer)
        assert live.logs[-1]["outcome"] == "forbidden"
    assert live.objects() == {}
    assert live.published() == []


def test_signature_within_the_tolerance_after_t_is_accepted(live: Live) -> None:
    answer = live.invoke("record", payloads.signed(payloads.record(), t=int(time.time()) - 240))
    assert answer["statusCode"] == 200


def test_the_configured_sign_tolerance_is_what_the_handler_applies(live: Live) -> None:
    late = payloads.signed(payloads.record(stream_id="late"), t=int(time.time()) - 400)
    assert live.invoke("record", late)["statusCode"] == 403  # default 300 s
    live.configure(LIVE_SIGN_TOLERANCE_SECONDS="600")
    assert live.invoke("record", late)["statusCode"] == 200
    live.configure(LIVE_SIGN_TOLERANCE_SECONDS="0")
    just_expired = payloads.signed(payloads.record(stream_id="just"), t=int(time.time()) - 5)
    assert live.invoke("record", just_expired)["statusCode"] == 403


def test_the_configured_minimum_score_judges_legacy_hits_through_the_handler(live: Live) -> None:
    legacy = payloads.porn_hit(stream_id="legacy", pornScore=80, confidence=80)
    for name in ("suggestion", "score"):
        del legacy[name]
    hit = payloads.signed(legacy)
    assert live.invoke("porn_detect", hit)["statusCode"] == 200  # default 90: Pass, stored only
    assert (live.logs[-1]["outcome"], live.logs[-1]["suggestion"]) == ("stored", "Pass")
    assert live.published() == []
    live.configure(MODERATION_MIN_SCORE="75")
    other = payloads.signed({**legacy, "streamId": "legacy-2"})
    assert live.invoke("porn_detect", other)["statusCode"] == 200
    assert (live.logs[-1]["outcome"], live.logs[-1]["suggestion"]) == ("published", "Review")
    assert len(live.published()) == 1


@pytest.mark.parametrize("builder", [payloads.porn_hit, payloads.porn_hit_documented_example])
def test_documented_porn_detect_payloads_are_published_not_quarantined(live: Live, builder: Any) -> None:
    """Tencent's event-317 page: `type` and `score` arrays; its example spells `"socre": [99]`."""
    hit = payloads.signed(builder(stream_id="documented"))
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    assert live.logs[-1]["outcome"] == "published"
    (message,) = live.published()
    assert json.loads(message["msgBody"])["score"] in (97, 99)
    (document,) = live.documents().values()
    assert {k: document["original"].get(k) for k in ("score", "socre")} == {
        k: hit.get(k) for k in ("score", "socre")
    }  # kept as sent


def test_rotated_keys_are_both_accepted(live: Live) -> None:
    live.configure(LIVE_CALLBACK_KEYS="brand-new-key," + DEV_CALLBACK_KEY)
    assert live.deliver("record", key="brand-new-key", stream_id="a")["statusCode"] == 200
    assert live.deliver("record", key=DEV_CALLBACK_KEY, stream_id="b")["statusCode"] == 200
    assert live.deliver("record", key="retired-key", stream_id="c")["statusCode"] == 403
    assert len(live.objects()) == 2


@pytest.mark.parametrize("keys", [None, "", " , "])
def test_without_callback_keys_nothing_is_accepted(live: Live, keys: str | None) -> None:
    live.configure(LIVE_CALLBACK_KEYS=keys)
    answer = live.deliver("record")
    assert answer["statusCode"] == 500
    assert "LIVE_CALLBACK_KEYS" in body_of(answer)["message"]
    assert live.logs[-1]["outcome"] == "misconfigured"
    assert live.objects() == {}


def test_porn_detect_without_a_topic_is_a_configuration_error(live: Live) -> None:
    live.configure(MODERATION_TOPIC=None)
    answer = live.deliver("porn_detect")
    assert answer["statusCode"] == 500
    assert "MODERATION_TOPIC" in body_of(answer)["message"]
    assert live.deliver("record")["statusCode"] == 200  # the other functions do not need it


@pytest.mark.parametrize("kind", KINDS)
def test_authentic_event_of_another_kind_is_quarantined_and_answered_200(live: Live, kind: str) -> None:
    other = "record" if kind != "record" else "snapshot"
    payload = payloads.signed(payloads.BUILDERS[other]())
    answer = live.invoke(kind, payload)
    assert answer["statusCode"] == 200
    log = live.logs[-1]
    assert log["outcome"] == "quarantined" and log["level"] == "error"
    assert "is not handled by" in log["reason"]
    documents = live.documents()
    assert list(documents) == [log["key"]]
    assert log["key"].startswith(f"quarantine/{kind}/")
    kept = documents[log["key"]]
    assert kept["payload"] == {k: v for k, v in payload.items() if k != "sign"} | {
        "stream_param": "txSecret=***&txTime=6B5C3A00"
    }
    assert live.invoke(kind, payload)["statusCode"] == 200  # a retry lands on the same object
    assert len(live.objects()) == 1


def test_authentic_event_with_invalid_fields_is_quarantined_with_the_reason(live: Live) -> None:
    payload = payloads.signed(payloads.stream_begin(event_time="yesterday", user_secret_value="s3cr3t-value"))
    answer = live.invoke("stream_begin", payload)
    assert answer["statusCode"] == 200
    log = live.logs[-1]
    assert log["outcome"] == "quarantined"
    assert "event_time" in log["reason"]
    assert "yesterday" not in live.raw_logs[-1]  # reasons never echo the input
    assert len(live.objects("quarantine/stream_begin/")) == 1


def test_unknown_event_type_is_quarantined(live: Live) -> None:
    answer = live.invoke("record", payloads.signed({"event_type": 321, "stream_id": "s1", "errcode": 5}))
    assert answer["statusCode"] == 200
    assert "321" in live.logs[-1]["reason"]
    assert len(live.objects("quarantine/record/")) == 1


def test_moderation_message_format_and_tags(live: Live) -> None:
    payload = payloads.signed(payloads.porn_hit(stream_id="room-7", suggestion="Review", score=77))
    assert live.invoke("porn_detect", payload)["statusCode"] == 200
    (message,) = live.published()
    assert message["msgTag"] == ["porn_detect", "Review", "Porn"]
    content = json.loads(message["msgBody"])
    key = live.logs[-1]["key"]
    assert content == {
        "schema": "live-callbacks/event/v1",
        "id": key.rsplit("-", 1)[1].removesuffix(".json"),
        "kind": "porn_detect",
        "event_type": 317,
        "time": payload["screenshotTime"],
        "key": key,
        "source": "callback",
        "dedupe_id": key.rsplit("-", 1)[1].removesuffix(".json"),
        "stream_id": "room-7",
        "app": payloads.PUSH_DOMAIN,
        "appname": payloads.APPNAME,
        "appid": payloads.APPID,
        "img": payload["img"],
        "suggestion": "Review",
        "label": "Porn",
        "sub_label": "",
        "score": 77,
        "type": [1],
        "screenshot_time": payload["screenshotTime"],
        "send_time": payload["sendTime"],
        "evidence_key": key,
    }
    evidence = live.documents()[key]
    assert evidence["message"] == content
    head = {k.lower(): v for k, v in live.stack.cos.client().head_object(Bucket=live.bucket, Key=key).items()}
    assert head["x-cos-meta-msg-id"] == message["msgId"]


def test_pass_hits_are_stored_but_not_published(live: Live) -> None:
    assert live.deliver("porn_detect", suggestion="Pass")["statusCode"] == 200
    assert live.logs[-1]["outcome"] == "stored"
    assert live.published() == []
    assert len(live.objects("moderation/")) == 1


def test_published_suggestions_are_configurable(live: Live) -> None:
    live.configure(MODERATION_SUGGESTIONS="Block")
    live.deliver("porn_detect", suggestion="Review", stream_id="r")
    live.deliver("porn_detect", suggestion="Block", stream_id="b")
    assert [json.loads(m["msgBody"])["stream_id"] for m in live.published()] == ["b"]
    assert len(live.objects("moderation/")) == 2


def test_cos_prefix_is_applied_to_every_key(live: Live) -> None:
    live.configure(COS_PREFIX="tenant-a/")
    live.deliver("record")
    (key,) = live.objects()
    assert key.startswith("tenant-a/records/")
    assert live.documents()[key]["key"] == key


def test_one_structured_log_line_per_invocation(live: Live) -> None:
    live.deliver("record", stream_id="cam-1")
    live.invoke("record", "garbage")
    assert len(live.logs) == 2
    ok, bad = live.logs
    assert {"function", "event_type", "stream", "outcome", "status", "latency_ms", "request_id", "key"} <= set(ok)
    assert (ok["function"], ok["event_type"], ok["stream"], ok["outcome"], ok["status"]) == (
        "record",
        100,
        "cam-1",
        "stored",
        200,
    )
    assert ok["request_id"] and ok["latency_ms"] > 0
    assert (bad["status"], bad["outcome"], bad["level"]) == (400, "rejected", "warning")


def test_one_cos_request_per_stored_event_and_clients_reused(live: Live) -> None:
    live.deliver("record", stream_id="warm-up")
    store = pipeline.instance("record").store
    before = live.stack.cos.faults.requests
    for n in range(5):
        live.deliver("snapshot", stream_id=f"s{n}")
    assert live.stack.cos.faults.requests - before == 5
    assert pipeline.instance("snapshot").store is store


def test_warm_instance_does_not_reread_proxy_variables_on_each_request(live: Live) -> None:
    # requests re-reads *_proxy variables and ~/.netrc per request unless trust_env is off (about
    # 0.3 ms of CPU per call); proxies are settled when the instance is built, so a proxy variable
    # appearing later must not reroute a warm instance's COS or topic requests.
    live.deliver("porn_detect", stream_id="warm-up")
    inst = pipeline.instance("porn_detect")
    assert inst.store.client._session.trust_env is False
    assert inst.publisher.session.trust_env is False
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        live.monkeypatch.setenv(name, dead)
    live.monkeypatch.delenv("NO_PROXY", raising=False)
    live.monkeypatch.delenv("no_proxy", raising=False)
    answer = live.deliver("porn_detect", stream_id="after-proxy-variables")
    assert answer["statusCode"] == 200, answer
    assert [json.loads(m["msgBody"])["stream_id"] for m in live.published()] == ["warm-up", "after-proxy-variables"]
