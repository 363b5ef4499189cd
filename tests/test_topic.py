"""The topic's data-flow API: our client (shared/topic.py) and the stand-in that checks it.

Evidence for each protocol detail, named where it is used: PublishMessage (1496/127318, updated
2026-01-08: `POST /v2/index.php`, `topicName`, `msgBody`, at most 5 `msgTag.n` of at most 16
characters, `{code, message, requestId, msgId}`); the signature as Tencent's own CMQ SDK makes it
(tencentyun/cmq-python-sdk `cmq/sign.py`, `cmq/cmq_client.py`); the v2 common parameters with
`Token` for temporary keys and HmacSHA256 only when named (216/1715); the error codes (1496/70948,
updated 2025-07-29; 309/7025 for the common 41xx and 45xx codes).
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.dev import DEV_CREDENTIALS
from devstack.faults import TricklingPeer
from devstack.stack import DevStack
from shared import topic
from shared.budget import Budget
from shared.config import load_settings
from shared.errors import DependencyError, DependencyTimeout, PublishRefused
from shared.storage import ATTEMPT_WORST_CASE, CosStore
from tests.conftest import WAITS

ROOT = Path(__file__).resolve().parent.parent
SECRET_ID = DEV_CREDENTIALS["TENCENTCLOUD_SECRETID"]
SECRET_KEY = DEV_CREDENTIALS["TENCENTCLOUD_SECRETKEY"]
TOKEN = DEV_CREDENTIALS["TENCENTCLOUD_SESSIONTOKEN"]


def sdk_sign(secret_key: str, host: str, uri: str, params: dict[str, Any], method: str = "POST") -> str:
    """cmq/sign.py `Sign.make` of tencentyun/cmq-python-sdk (Python 2), line for line in Python 3:
    the reference our client and the stand-in are both checked against."""
    new_params = {}
    for param_key in params:
        if method.upper() == "POST" and str(params[param_key])[0:1] == "@":
            continue
        new_params[param_key] = params[param_key]
    src = (
        method.upper()
        + host
        + uri
        + "?"
        + "&".join(k.replace("_", ".") + "=" + str(new_params[k]) for k in sorted(new_params.keys()))
    )
    hashed = hmac.new(secret_key.encode(), src.encode(), hashlib.sha256)
    return binascii.b2a_base64(hashed.digest())[:-1].decode()


@pytest.fixture
def topic_env(stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    name = f"topic-test-{time.monotonic_ns()}"
    stack.tdmq.topics.add(name)
    env = {**stack.env(topic=name), "LIVE_CALLBACK_KEYS": "k"}
    yield env
    stack.tdmq.faults.clear()


def publisher(env: dict[str, str], **changes: str) -> topic.TopicPublisher:
    return topic.TopicPublisher(load_settings({**env, **changes}))


def signed(params: dict[str, str], host: str, key: str = SECRET_KEY) -> dict[str, str]:
    common = {
        "SecretId": SECRET_ID,
        "Timestamp": str(int(time.time())),
        "Nonce": str(time.monotonic_ns() % 2**31),
        "SignatureMethod": "HmacSHA256",
        "Token": TOKEN,
        **params,
    }
    return {**common, "Signature": sdk_sign(key, host, "/v2/index.php", common)}


def raw_publish(stack: DevStack, params: dict[str, str], key: str = SECRET_KEY) -> dict[str, Any]:
    host = stack.tdmq.url.removeprefix("http://")
    answer = requests.post(stack.tdmq.url + "/v2/index.php", data=signed(params, host, key), timeout=5)
    assert answer.status_code == 200  # the data-flow API answers 200 and puts the outcome in `code`
    result: dict[str, Any] = answer.json()
    return result


def test_our_signature_is_the_sdks_for_the_same_parameters() -> None:
    params = {
        "Action": "PublishMessage",
        "topicName": "live-moderation",
        "msgBody": '{"stream_id":"直播 a&b=c","score":99}',
        "msgTag.1": "Block",
        "msgTag.2": "Porn",
        "SecretId": "AKIDexample",
        "Timestamp": "1764650000",
        "Nonce": "12345",
        "SignatureMethod": "HmacSHA256",
        "Token": "token-of-the-role",
        "RequestClient": "live-callbacks",
    }
    host = "gz.mqadapter.cmq.tencentyun.com"
    ours = topic.signature("secret-example", "POST", host, params)
    assert ours == sdk_sign("secret-example", host, "/v2/index.php", params)
    assert len(base64.b64decode(ours)) == 32  # HMAC-SHA256
    assert ours != topic.signature("secret-example", "POST", "other.host", params)  # the host is signed


def test_a_hit_reaches_the_stand_in_signed_with_the_role_token_and_plain_tags(
    stack: DevStack, topic_env: dict[str, str]
) -> None:
    msg_id = publisher(topic_env).publish('{"a":1}', ["Block", "Porn", "", "Block", "a" * 40], Budget())
    (message,) = stack.tdmq.published(topic_env["MODERATION_TOPIC"])
    assert message["msgId"] == msg_id and message["msgBody"] == '{"a":1}'
    assert message["msgTag"] == ["Block", "Porn", "a" * 16]  # empty and repeated dropped, 16 characters


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("a wrong signature", 4100),
        ("an unknown SecretId", 4104),
        ("no Token with temporary keys", 4105),
        ("a Timestamp an hour old", 4500),
        ("a Nonce used twice", 4500),
        ("six tags", 4000),
        ("a tag of 17 characters", 4000),
        ("another action", 4000),
        ("a topic that does not exist", 5000),  # the stand-in's choice: the page names no code for it
        ("no msgBody", 4000),
    ],
)
def test_the_stand_in_refuses_what_the_real_api_refuses(
    stack: DevStack, topic_env: dict[str, str], case: str, code: int
) -> None:
    base = {"Action": "PublishMessage", "topicName": topic_env["MODERATION_TOPIC"], "msgBody": "x"}
    key = SECRET_KEY
    host = stack.tdmq.url.removeprefix("http://")
    if case == "a wrong signature":
        key = "not-the-key"
    elif case == "an unknown SecretId":
        base["SecretId"] = "AKIDsomeoneelse"
    elif case == "no Token with temporary keys":
        base["Token"] = ""
    elif case == "a Timestamp an hour old":
        base["Timestamp"] = str(int(time.time()) - 3600)
    elif case == "a Nonce used twice":
        params = signed(base, host)
        first = requests.post(stack.tdmq.url + "/v2/index.php", data=params, timeout=5).json()
        assert first["code"] == 0
        again = requests.post(stack.tdmq.url + "/v2/index.php", data=params, timeout=5).json()
        assert again["code"] == code
        return
    elif case == "six tags":
        base.update({f"msgTag.{n}": f"t{n}" for n in range(1, 7)})
    elif case == "a tag of 17 characters":
        base["msgTag.1"] = "x" * 17
    elif case == "another action":
        base["Action"] = "SendMessage"
    elif case == "a topic that does not exist":
        base["topicName"] = "no-such-topic"
    elif case == "no msgBody":
        del base["msgBody"]
    before = len(stack.tdmq.published())
    answer = raw_publish(stack, base, key)
    assert answer["code"] == code, answer
    assert answer["message"] and answer["requestId"]
    assert len(stack.tdmq.published()) == before


def test_a_message_the_topic_refuses_for_what_it_is_is_permanent_every_other_code_is_retried(
    stack: DevStack, topic_env: dict[str, str]
) -> None:
    stack.tdmq.max_message_bytes = 16  # a topic whose MaxMsgSize is below the message: code 4000
    try:
        with pytest.raises(PublishRefused, match="code 4000"):
            publisher(topic_env).publish('{"stream_id":"too long"}', ["Block"], Budget())
    finally:
        stack.tdmq.max_message_bytes = 65536
    with pytest.raises(DependencyError, match="code 4100") as refused_auth:
        publisher(topic_env, TENCENTCLOUD_SECRETKEY="a-rotated-key").publish("{}", ["Block"], Budget())
    assert not isinstance(refused_auth.value, PublishRefused)  # 5xx: CSS retries once the role is right
    with pytest.raises(DependencyError, match="code 4105"):
        publisher(topic_env, TENCENTCLOUD_SESSIONTOKEN="").publish("{}", ["Block"], Budget())
    with pytest.raises(DependencyError, match="code 5000"):
        publisher(topic_env, MODERATION_TOPIC="missing-topic").publish("{}", ["Block"], Budget())
    assert stack.tdmq.published(topic_env["MODERATION_TOPIC"]) == []


def test_an_http_error_or_an_answer_that_is_not_the_apis_json_is_a_retried_fault(
    stack: DevStack, topic_env: dict[str, str]
) -> None:
    stack.tdmq.faults.set("error", status=502, times=1)
    with pytest.raises(DependencyError, match="HTTP 502"):
        publisher(topic_env).publish("{}", ["Block"], Budget())
    with (
        TricklingPeer("keep-alive", b"<html>gateway</html>", delay=0) as peer,
        pytest.raises(DependencyError, match="not its JSON"),
    ):
        publisher(topic_env, CMQ_ENDPOINT=peer.url).publish("{}", ["Block"], Budget())


@pytest.mark.slow
@pytest.mark.xdist_group(WAITS)  # 3-3.5 s each, spent waiting on the peer
@pytest.mark.parametrize("framing", TricklingPeer.FRAMINGS)
def test_a_trickling_topic_is_cut_at_the_deadline_whatever_its_framing(topic_env: dict[str, str], framing: str) -> None:
    with TricklingPeer(framing, b'{"code":0,"message":"","msgId":"m"}', delay=1.0) as peer:
        started = time.monotonic()
        with pytest.raises(DependencyTimeout):
            publisher(topic_env, CMQ_ENDPOINT=peer.url).publish("{}", ["Block"], Budget(4.0))
        elapsed = time.monotonic() - started
        assert peer.requests == 1  # it was asked, and answered too slowly
    assert elapsed < topic.REQUEST_TIMEOUT + 0.5, f"{framing}: {elapsed:.1f} s"


@pytest.mark.slow
@pytest.mark.xdist_group(WAITS)  # 3-3.5 s each, spent waiting on the peer
@pytest.mark.parametrize("framing", TricklingPeer.FRAMINGS)
def test_a_trickling_cos_is_cut_at_the_deadline_whatever_its_framing(topic_env: dict[str, str], framing: str) -> None:
    with TricklingPeer(framing, b"<?xml version='1.0'?><Result/>" * 2, delay=1.0) as peer:
        store = CosStore(load_settings({**topic_env, "COS_PROXY": peer.url}))
        started = time.monotonic()
        with pytest.raises(DependencyError):
            store.put_json("trickle/test.json", b"{}", {}, Budget(ATTEMPT_WORST_CASE + 0.5))  # one attempt
        elapsed = time.monotonic() - started
        assert peer.requests == 1
    assert elapsed < ATTEMPT_WORST_CASE + 0.5, f"{framing}: {elapsed:.1f} s"


def test_no_shipped_code_imports_the_tdmq_cloud_api_sdk_or_calls_publish_cmq_msg() -> None:
    for path in [*(ROOT / "shared").glob("*.py"), *(ROOT / "functions").glob("*/index.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("tencentcloud.tdmq"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("tencentcloud.tdmq") for a in node.names), path
            elif isinstance(node, ast.Attribute):
                assert node.attr != "PublishCmqMsg", path
    assert "tencentcloud-sdk-python-tdmq" not in (ROOT / "requirements.txt").read_text()


def test_at_most_five_tags_leave_and_each_publish_carries_a_nonce_of_its_own(
    stack: DevStack, topic_env: dict[str, str]
) -> None:
    client = publisher(topic_env)
    for n in range(5):  # within one second: the stand-in refuses a Nonce seen twice (4500)
        client.publish(json.dumps({"n": n}), ["Block", "Porn", "PornHigh", "a", "b", "c", "d"], Budget())
    messages = stack.tdmq.published(topic_env["MODERATION_TOPIC"])
    assert [json.loads(m["msgBody"])["n"] for m in messages] == [0, 1, 2, 3, 4]
    assert all(m["msgTag"] == ["Block", "Porn", "PornHigh", "a", "b"] for m in messages)
