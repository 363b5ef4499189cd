"""Moderation topic: publishes hits to a TDMQ for CMQ topic through its HTTP data-flow API.

Tencent keeps the cloud API's `PublishCmqMsg` for tests (notice 1496/109809, 2024-08-09: 20 calls/s
per account from 2024-08-15, "仅供用户测试和验证消息发送使用"); business messages go through the data-flow
API, `PublishMessage` (1496/127318, updated 2026-01-08). This is our own small client of it on
`requests`, through a session of shared/deadline.py, so every publish is cut at its timeout or the
budget's deadline whatever the topic does, and nothing of the request reaches a log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence

import requests

from shared import deadline
from shared.budget import Budget
from shared.config import Settings, endpoint_parts
from shared.errors import DependencyError, DependencyTimeout, PublishRefused
from shared.moderation import MAX_MESSAGE_BYTES

PATH = "/v2/index.php"
"""The data-flow API's one path (1496/127318; tencentyun/cmq-python-sdk cmq/cmq_client.py URISEC)."""
ACTION = "PublishMessage"
REQUEST_CLIENT = "live-callbacks"
"""`RequestClient`, a common parameter naming the client (the SDK sends its version string)."""
CONNECT_TIMEOUT = 1.0
REQUEST_TIMEOUT = 3.0
MAX_TAGS = 5
MAX_TAG_LENGTH = 16
"""`msgTag.n`: at most 5 tags of at most 16 characters (1496/127318; PublishCmqMsg allowed 64)."""
PERMANENT_CODES = frozenset({4000})
"""Codes that refuse the message itself, so every retry is refused alike. The data-flow error page
(1496/70948, updated 2025-07-29) gives 4000 for invalid request parameters, among them 10350 "value
or length is out of range" (a body above the topic's MaxMsgSize, a tag too long). Every other code
is a fault of the moment or of the set-up, which a retry after the fix cures, so it is answered
5xx and CSS retries: 4100-4110 authentication (a wrong key, 4105 a wrong or expired Token), 4400
quota, 4500 replay (a Nonce seen twice or a clock 5 minutes off), 5000 a topic that does not exist,
6000 an internal error. The page does not say which module code a missing topic gets: the safe
side is to keep it retried."""
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def tag(value: str) -> str:
    """A `msgTag` subscribers can filter on: plain characters, at most 16 of them."""
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG_LENGTH]


def tags_for(values: Sequence[str]) -> list[str]:
    """The message's tags: made plain, empty ones and repeats dropped, at most five."""
    out: list[str] = []
    for value in values:
        cleaned = tag(value) if value else ""
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out[:MAX_TAGS]


def signature(secret_key: str, method: str, host: str, params: Mapping[str, str]) -> str:
    """The data-flow API's signature, as Tencent's CMQ SDK makes it (cmq/sign.py `Sign.make`):
    METHOD + host + path + '?' + every parameter but `Signature`, sorted by name, as `name=value`
    with raw (not URL-encoded) values joined by '&'; HMAC-SHA256 with the SecretKey, base64."""
    source = method.upper() + host + PATH + "?" + "&".join(f"{k.replace('_', '.')}={params[k]}" for k in sorted(params))
    digest = hmac.new(secret_key.encode("utf-8"), source.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class TopicPublisher:
    worst_case = REQUEST_TIMEOUT
    """The longest a publish may take; it is cut there (or at the budget's deadline)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.require_topic()
        scheme, self.host = endpoint_parts(settings.require_cmq_endpoint())
        self.url = f"{scheme}://{self.host}{PATH}"
        self._secret_id = settings.secret_id
        self._secret_key = settings.secret_key
        self._token = settings.session_token
        self.session = deadline.mount(requests.Session(), pool_maxsize=2)

    def _params(self, content: str, tags: Sequence[str]) -> dict[str, str]:
        params = {
            "Action": ACTION,
            "topicName": self.topic,
            "msgBody": content,
            "SecretId": self._secret_id,
            "Timestamp": str(int(time.time())),
            # A replay guard: unique per request (the topic refuses a Nonce seen twice, code 4500),
            # drawn from the OS so that nothing seeding `random` (a test, a library) repeats it.
            "Nonce": str(secrets.randbelow(2**31 - 1) + 1),
            "SignatureMethod": "HmacSHA256",
            "RequestClient": REQUEST_CLIENT,
        }
        if self._token:  # temporary keys (SCF's execution role) are valid only with their Token
            params["Token"] = self._token
        for n, value in enumerate(tags_for(tags), start=1):
            params[f"msgTag.{n}"] = value
        params["Signature"] = signature(self._secret_key, "POST", self.host, params)
        return params

    def publish(self, content: str, tags: Sequence[str], budget: Budget | None = None) -> str:
        """Publish one message and return its `msgId`; one attempt, since a retry could duplicate.

        Raises `PublishRefused` when the topic refuses the message itself (no retry can cure it),
        `DependencyTimeout` when it does not answer in time, `DependencyError` otherwise.
        """
        budget = budget or Budget()
        if not budget.allows(REQUEST_TIMEOUT):
            raise DependencyTimeout("no time left in the budget to publish to the topic")
        size = len(content.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise PublishRefused(f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
        params = self._params(content, tags)
        with deadline.guarded(budget.cap(REQUEST_TIMEOUT)) as guard:
            try:
                answer = self.session.post(self.url, data=params, timeout=(CONNECT_TIMEOUT, REQUEST_TIMEOUT))
                status, body = answer.status_code, answer.content
            except requests.Timeout:
                raise DependencyTimeout("topic publish timed out") from None
            except requests.RequestException as exc:
                if guard.fired:
                    raise DependencyTimeout("topic publish cut at its deadline") from None
                raise DependencyError(f"topic publish failed: {type(exc).__name__}") from None
        if status != 200:
            raise DependencyError(f"topic answered HTTP {status}")
        try:
            result = answer.json()
            code = int(result.get("code"))
        except (ValueError, TypeError, AttributeError):
            raise DependencyError(f"topic answered something that is not its JSON ({len(body)} bytes)") from None
        if code != 0:
            detail = str(result.get("message") or "")[:200]
            if code in PERMANENT_CODES:
                raise PublishRefused(f"topic refused the message: code {code}: {detail}")
            raise DependencyError(f"topic publish failed: code {code}: {detail}")
        return str(result.get("msgId") or "")
