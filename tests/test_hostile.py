"""Hostile input, property-based, through the real trigger adapter and every main_handler.

Invariants, whatever arrives: never a 5xx, never an exception escaping main_handler, never a COS
request or a publish without a valid signature, never a key outside its folder. The example
counts add up to 10,000 per run (`HYPOTHESIS_PROFILE=deep` multiplies them by ten).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import payloads, triggers
from devstack.stack import DEV_CALLBACK_KEY
from shared.gateway import MAX_BODY_BYTES
from shared.vocabulary import FOLDER_OF, KINDS
from tests.conftest import Live

SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 1
FOLDERS = "|".join(sorted({re.escape(folder.rstrip("/")) for folder in FOLDER_OF.values()}))
KEY_SHAPE = re.compile(rf"({FOLDERS})/([A-Za-z0-9._~-]+/){{3}}\d{{4}}/\d{{2}}/\d{{2}}/[A-Za-z0-9._~-]+\.json")
QUARANTINE_SHAPE = re.compile(r"quarantine/[a-z_]+/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.json")


_examples_seen = itertools.count()


def _examples(n: int) -> Any:
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
hostile_text = st.sampled_from(
    ["", "..", ".", "../../etc/passwd", "a/b/c", "/", "~", "%2e%2e", "\u0000", "é\u202e", "😀" * 5, "x" * 2000]
) | st.text(max_size=60)


def _call(live: Live, kind: str, event: Any) -> tuple[dict[str, Any], int, int]:
    """Invoke and return (answer, COS requests it made, publishes it made)."""
    cos_before = live.stack.cos.faults.requests
    published_before = len(live.published())
    answer = live.invoke(kind, event, trigger="raw")
    assert isinstance(answer, dict) and isinstance(answer.get("statusCode"), int)
    assert answer["statusCode"] < 500, answer
    json.loads(answer["body"])
    return answer, live.stack.cos.faults.requests - cos_before, len(live.published()) - published_before


@pytest.mark.slow
@_examples(2000)
@given(kind=st.sampled_from(KINDS), body=st.binary(max_size=300), as_base64=st.booleans())
def test_random_bytes_never_write(live: Live, kind: str, body: bytes, as_base64: bool) -> None:
    event = triggers.apigw_event(body, as_base64=as_base64)
    answer, cos_requests, publishes = _call(live, kind, event)
    assert answer["statusCode"] in (400, 401, 403)
    assert cos_requests == publishes == 0


@pytest.mark.slow
@_examples(2000)
@given(kind=st.sampled_from(KINDS), value=json_values, trigger=st.sampled_from(["apigw", "url", "direct"]))
def test_random_json_without_a_valid_signature_never_writes(live: Live, kind: str, value: Any, trigger: str) -> None:
    if trigger == "direct":
        event = value if isinstance(value, dict) else {"value": value}
    elif trigger == "url":
        event = triggers.function_url_event(json.dumps(value))
    else:
        event = triggers.apigw_event(json.dumps(value))
    answer, cos_requests, publishes = _call(live, kind, event)
    assert answer["statusCode"] in (400, 401, 403)
    assert cos_requests == publishes == 0


@pytest.mark.slow
@_examples(2000)
@given(
    kind=st.sampled_from(KINDS),
    key=st.text(min_size=1, max_size=30).filter(lambda k: k != DEV_CALLBACK_KEY),
    t_shift=st.integers(min_value=-(10**6), max_value=10**6),
    tamper=st.sampled_from(["key", "t", "sign_case_junk", "expired"]),
)
def test_forged_and_replayed_signatures_never_write(live: Live, kind: str, key: str, t_shift: int, tamper: str) -> None:
    now = int(time.time())
    payload = payloads.BUILDERS[kind]()
    if tamper == "key":
        event = payloads.signed(payload, key=key, t=now + 600)
    elif tamper == "t":  # a real signature, for another t
        event = {**payloads.signed(payload, t=now + 600), "t": now + 600 + (t_shift or 1)}
    elif tamper == "sign_case_junk":
        event = {**payloads.signed(payload), "sign": key}
    else:
        event = payloads.signed(payload, t=now - 301 - abs(t_shift))
    answer, cos_requests, publishes = _call(live, kind, triggers.apigw_event(event))
    assert answer["statusCode"] in (401, 403)
    assert cos_requests == publishes == 0


# Built once: a strategy made inside the test is validated anew on every example (a tenth of the
# test's CPU); these draw exactly what the inline ones did.
FIELD_PICKS = {
    kind: st.lists(st.sampled_from(sorted(payloads.BUILDERS[kind]())), max_size=4, unique=True) for kind in KINDS
}
ACTIONS = st.sampled_from(["drop", "junk", "duplicate_case"])


@pytest.mark.slow
@pytest.mark.heavy
@_examples(1500)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_signed_payloads_with_wrong_types_are_stored_or_quarantined_inside_their_folder(
    live: Live, kind: str, data: st.DataObject
) -> None:
    # A stream of its own per example: each is one fresh delivery, whatever earlier examples left.
    payload = payloads.BUILDERS[kind](stream_id=f"wrong-types-{next(_examples_seen)}")
    fields = data.draw(FIELD_PICKS[kind])
    for name in fields:
        action = data.draw(ACTIONS)
        if action == "drop":
            payload.pop(name)
        elif action == "junk":
            payload[name] = data.draw(json_values)
        else:
            payload[name.upper()] = payload[name]
    answer, cos_requests, publishes = _call(live, kind, triggers.apigw_event(payloads.signed(payload)))
    assert answer["statusCode"] == 200
    log = live.logs[-1]
    assert log["outcome"] in ("stored", "published", "duplicate", "quarantined")
    pattern = QUARANTINE_SHAPE if log["outcome"] == "quarantined" else KEY_SHAPE
    assert pattern.fullmatch(log["key"]), log["key"]
    assert 1 <= cos_requests <= 2
    assert publishes <= 1


@pytest.mark.slow
@pytest.mark.heavy
@_examples(1500)
@given(kind=st.sampled_from(KINDS), stream=hostile_text, app=hostile_text, appname=hostile_text)
def test_hostile_stream_ids_never_leave_their_folder(
    live: Live, kind: str, stream: str, app: str, appname: str
) -> None:
    payload = payloads.BUILDERS[kind](stream_id=stream or "s", app=app, appname=appname)
    answer, cos_requests, _ = _call(live, kind, triggers.apigw_event(payloads.signed(payload)))
    assert answer["statusCode"] == 200
    key = live.logs[-1]["key"]
    assert KEY_SHAPE.fullmatch(key) or QUARANTINE_SHAPE.fullmatch(key), key
    assert all(part not in (".", "..", "") for part in key.split("/"))
    assert len(key.encode()) < 850
    assert cos_requests >= 1


@_examples(1000)
@given(
    kind=st.sampled_from(KINDS),
    header_case=st.sampled_from([str.lower, str.upper, str.title]),
    method=st.sampled_from(["POST", "post", "GET", "PUT", "OPTIONS", "HEAD"]),
    valid=st.booleans(),
)
def test_header_case_and_method_variants(live: Live, kind: str, header_case: Any, method: str, valid: bool) -> None:
    payload = payloads.signed(payloads.BUILDERS[kind](stream_id="variants")) if valid else {"event_type": 1}
    headers = {header_case("Content-Type"): "application/json", header_case("X-Forwarded-For"): "1.2.3.4"}
    event = triggers.apigw_event(payload, method=method, headers=headers)
    answer, cos_requests, _ = _call(live, kind, event)
    if method.upper() != "POST":
        assert answer["statusCode"] == 405
        assert cos_requests == 0
    elif valid:
        assert answer["statusCode"] == 200
    else:
        assert answer["statusCode"] == 401
        assert cos_requests == 0


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 3 * 1024 * 1024, 6 * 1024 * 1024 - 1024])
def test_bodies_up_to_the_6_mb_scf_limit_are_refused_without_a_write(live: Live, size: int) -> None:
    body = json.dumps({**payloads.signed(payloads.record()), "pad": "x" * size})
    for event in (triggers.apigw_event(body), triggers.apigw_event(base64.b64encode(body.encode()), as_base64=True)):
        answer, cos_requests, _ = _call(live, "record", event)
        assert answer["statusCode"] == 413
        assert cos_requests == 0


def test_deeply_nested_json_is_a_bad_request(live: Live) -> None:
    signed = json.dumps(payloads.signed({}))[:-1]
    for nested in ("[" * 100_000 + "]" * 100_000, '{"a":' * 25_000 + "1" + "}" * 25_000):
        # unsigned: refused before it is parsed (403); signed: parsed, and refused as too deep (400)
        for body, status in ((f'{{"a": {nested}}}', 403), (f'{signed}, "a": {nested}}}', 400)):
            answer, cos_requests, _ = _call(live, "record", triggers.apigw_event(body))
            assert answer["statusCode"] == status
            assert cos_requests == 0


def test_a_large_unsigned_body_is_refused_before_it_is_parsed(live: Live) -> None:
    """Issue 23, item 11: a MiB of `{}` parsed before the signature check took a door past 64 MB.
    A body over 16 KB must hold a valid `sign` and `t` before it is parsed; a forged one, an
    expired one and one with only a decoy `sign` are refused the same way."""
    pad = ",".join(["{}"] * 60_000)
    expired = payloads.signed({}, t=int(time.time()) - 3600)
    wrong = {**payloads.signed({}), "sign": "0" * 32}
    for head, status in (({}, 403), (expired, 403), (wrong, 403), (payloads.signed(payloads.record()), 200)):
        body = json.dumps(head)[:-1] + (", " if head else "") + f'"pad": [{pad}]}}'
        answer, _, _ = _call(live, "record", triggers.apigw_event(body))
        assert answer["statusCode"] == status, (head, answer["body"])
    assert (
        "before parsing"
        in json.loads(_call(live, "record", triggers.apigw_event(f'{{"pad": [{pad}]}}'))[0]["body"])["message"]
    )


def test_non_dict_events_and_contexts_never_raise(live: Live) -> None:
    for event in (None, [], "text", 42, {"httpMethod": "POST", "body": 12}):
        handler = triggers.load_handler("record")
        answer = handler(event, None)
        assert 400 <= answer["statusCode"] < 500


# Holes a hostile review found (issue 11): each of these lost, duplicated or leaked before its fix.


def _deliver(live: Live, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return live.invoke(kind, payloads.signed(payload))


def test_a_number_beyond_a_double_is_stored_as_strict_json(live: Live) -> None:
    body = json.dumps(payloads.signed(payloads.record(stream_id="huge")))[:-1] + ', "ratio": 1e400, "n": -2E999}'
    answer = live.invoke("record", body)
    assert answer["statusCode"] == 200
    (document,) = live.documents().values()
    assert document["original"]["ratio"] == "1e400"  # kept as sent, as text; never Infinity
    assert document["original"]["n"] == "-2E999"


def test_a_score_beyond_a_double_is_quarantined_not_stored_as_infinity(live: Live) -> None:
    body = json.dumps(payloads.signed(payloads.porn_hit(stream_id="inf-score")))
    body = body.replace('"score": [97]', '"score": [1e400]')
    assert live.invoke("porn_detect", body)["statusCode"] == 200
    assert live.logs[-1]["outcome"] == "quarantined"
    assert live.published() == []


def test_infinity_in_a_direct_invoke_is_stored_as_strict_json(live: Live) -> None:
    payload = payloads.signed({**payloads.snapshot(stream_id="direct-inf"), "ratio": float("inf")})
    assert live.invoke("snapshot", payload, trigger="raw")["statusCode"] == 200
    (document,) = live.documents().values()
    assert document["original"]["ratio"] == "inf"


def test_authentic_callbacks_nested_up_to_the_parser_limit_are_stored_or_quarantined(live: Live) -> None:
    """Up to the depth the parser takes: stored, or quarantined as text; beyond it: 400. Never 5xx."""
    outcomes: dict[int, str] = {}
    for depth in [100, 500, *range(880, 1000, 4)]:
        payload = payloads.signed(payloads.record(stream_id=f"deep-{depth}"))
        body = json.dumps(payload)[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
        answer = live.invoke("record", body)
        assert answer["statusCode"] in (200, 400), answer
        outcomes[depth] = live.logs[-1]["outcome"] if answer["statusCode"] == 200 else "rejected"
        if answer["statusCode"] == 400:
            assert "nested too deeply" in answer["body"]
    assert set(outcomes.values()) == {"stored", "quarantined", "rejected"}, outcomes
    deepest_kept = max(d for d, o in outcomes.items() if o != "rejected")
    assert min(d for d, o in outcomes.items() if o == "rejected") == deepest_kept + 4  # kept up to the limit
    for document in live.documents("quarantine/").values():
        assert document["payload_text"].startswith("{") and TX_SECRET_VALUE not in document["payload_text"]
        assert '"sign": "***"' in document["payload_text"]


def test_a_callback_ext_string_nested_3000_levels_is_stored_as_sent(live: Live) -> None:
    deep = "{" + '"a":{' * 3000 + "}" * 3001
    answer = _deliver(live, "record", payloads.record(stream_id="deep-ext", callback_ext=deep))
    assert answer["statusCode"] == 200
    (document,) = live.documents().values()
    assert document["event"]["callback_ext"] == deep


TX_SECRET_VALUE = payloads.TX_SECRET


@pytest.mark.parametrize(
    "stream_param",
    [
        f"txSecret={TX_SECRET_VALUE}&txTime=6B5C3A00",
        f"TXSECRET={TX_SECRET_VALUE}&txTime=6B5C3A00",
        f"txsecret={TX_SECRET_VALUE}",
        f"txSecret%3D{TX_SECRET_VALUE}%26txTime%3D6B5C3A00",
        f"txSecret%253D{TX_SECRET_VALUE}%2526txTime%253D6B5C3A00",
        f"txSecret = {TX_SECRET_VALUE} &txTime=6B5C3A00",
        f"a=1&txSecret+=+{TX_SECRET_VALUE}",
        {"txSecret": TX_SECRET_VALUE, "txTime": "6B5C3A00"},
        {"TxSecret": [TX_SECRET_VALUE]},
        [f"txSecret={TX_SECRET_VALUE}"],
    ],
)
@pytest.mark.parametrize("kind", ["stream_begin", "porn_detect"])
def test_push_secrets_in_every_spelling_are_scrubbed_wherever_stored(live: Live, stream_param: Any, kind: str) -> None:
    payload = payloads.BUILDERS[kind](stream_id="secret-spellings", stream_param=stream_param)
    payload["note"] = f"pushed with txSecret={TX_SECRET_VALUE}"
    assert _deliver(live, kind, payload)["statusCode"] == 200
    stored = b"".join(live.objects().values())
    assert stored and TX_SECRET_VALUE.encode() not in stored
    assert all(TX_SECRET_VALUE not in m["msgBody"] for m in live.published())


def test_an_oversized_hit_is_published_trimmed_and_its_evidence_kept_whole(live: Live) -> None:
    img = "https://moderation-1250000000.cos.ap-guangzhou.myqcloud.com/" + "x" * 70_000 + ".jpg"
    hit = payloads.signed(payloads.porn_hit(stream_id="oversized", img=img))
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    (message,) = live.published()
    assert len(message["msgBody"].encode()) <= 64 * 1024
    content = json.loads(message["msgBody"])
    assert content["truncated"] == ["img"] and img.startswith(content["img"])
    (document,) = live.documents("moderation/").values()
    assert document["original"]["img"] == img
    assert document["message"]["evidence_key"] == content["evidence_key"]


def test_a_message_the_topic_refuses_for_good_keeps_its_evidence_and_is_quarantined(live: Live) -> None:
    live.stack.tdmq.max_message_bytes = 256  # a topic whose MaxMsgSize is smaller than our messages
    try:
        hit = payloads.signed(payloads.porn_hit(stream_id="refused-by-topic"))
        assert live.invoke("porn_detect", hit)["statusCode"] == 200  # no retry could cure it
        assert live.logs[-1]["outcome"] == "quarantined"
        assert "refused" in live.logs[-1]["reason"]
        assert len(live.objects("moderation/")) == 1  # the evidence is kept
        (quarantined,) = live.documents("quarantine/").values()
        assert quarantined["payload"]["streamId"] == "refused-by-topic"
        assert live.published() == []
    finally:
        live.stack.tdmq.max_message_bytes = 65536
    # The operator raises MaxMsgSize and replays the callback: published once.
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    assert live.logs[-1]["outcome"] == "published"
    assert live.invoke("porn_detect", hit)["statusCode"] == 200
    assert len(live.published()) == 1
