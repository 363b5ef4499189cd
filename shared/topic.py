"""Moderation topic: publishes hits to a TDMQ for CMQ topic with `PublishCmqMsg`.

Built on the per-product tencentcloud-sdk-python-tdmq package, with the SCF execution role's
temporary credentials and a request timeout that fits the invocation's budget; the publish is cut
at that timeout or the budget's deadline, whatever the topic does (shared/deadline.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import requests
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tdmq.v20200217 import models
from tencentcloud.tdmq.v20200217.tdmq_client import TdmqClient

from shared import deadline
from shared.budget import Budget
from shared.config import Settings
from shared.errors import DependencyError, DependencyTimeout, PublishRefused
from shared.moderation import MAX_MESSAGE_BYTES

REQUEST_TIMEOUT = 3
MAX_TAG_LENGTH = 64
PERMANENT_CODES = ("InvalidParameter", "InvalidParameterValue", "MissingParameter")
"""Error codes that refuse the message itself: the same message is refused on every retry."""
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

logging.getLogger("tencentcloud_sdk_common").setLevel(logging.CRITICAL)  # see storage.py


def tag(value: str) -> str:
    """A `MsgTag` subscribers can filter on: plain characters, at most 64 of them."""
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG_LENGTH]


class TopicPublisher:
    worst_case = REQUEST_TIMEOUT
    """The longest a publish may take; it is cut there (or at the budget's deadline)."""

    def __init__(self, settings: Settings) -> None:
        credential = Credential(settings.secret_id, settings.secret_key, settings.session_token)
        http = HttpProfile(
            protocol=settings.tdmq_scheme,
            endpoint=settings.tdmq_endpoint,
            reqTimeout=REQUEST_TIMEOUT,
            keepAlive=True,
        )
        self.client = TdmqClient(credential, settings.tdmq_region, ClientProfile(httpProfile=http))
        # The SDK resolved HTTPS_PROXY from the environment when it was built; its requests session
        # gets guarded connections (cut at the deadline) and stops rescanning the environment.
        connection = getattr(getattr(self.client, "request", None), "conn", None)
        session = getattr(connection, "_session", None)
        if not isinstance(session, requests.Session):
            raise RuntimeError("tencentcloud-sdk-python-common changed: no requests session to guard")
        deadline.mount(session, pool_maxsize=2)
        self.topic = settings.moderation_topic or ""

    def publish(self, content: str, tags: Sequence[str], budget: Budget | None = None) -> str:
        """Publish one message and return its `MsgId`; one attempt, since a retry could duplicate.

        Raises `PublishRefused` when the topic refuses the message itself (no retry can cure it),
        `DependencyTimeout` when it does not answer in time, `DependencyError` otherwise.
        """
        budget = budget or Budget()
        if not budget.allows(REQUEST_TIMEOUT):
            raise DependencyTimeout("no time left in the budget to publish to the topic")
        if len(content.encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise PublishRefused(f"message of {len(content.encode('utf-8'))} bytes exceeds {MAX_MESSAGE_BYTES}")
        request = models.PublishCmqMsgRequest()
        request.TopicName = self.topic
        request.MsgContent = content
        request.MsgTag = [tag(t) for t in tags if t][:5]
        with deadline.guarded(budget.cap(REQUEST_TIMEOUT)) as guard:
            try:
                answer = self.client.PublishCmqMsg(request)
            except TencentCloudSDKException as exc:
                code = str(exc.get_code() or "Error")
                detail = exc.get_message() or ""  # the SDK puts the raw body (bytes) here for HTTP errors
                detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
                if guard.fired or "timeout" in code.lower() or "timed out" in detail.lower():
                    raise DependencyTimeout(f"topic publish timed out ({code})") from None
                if code.split(".")[0] in PERMANENT_CODES:
                    raise PublishRefused(f"topic refused the message: {code}: {detail[:200]}") from None
                raise DependencyError(f"topic publish failed: {code}: {detail[:200]}") from None
        if answer.Result is False:
            raise DependencyError("topic publish was not accepted (Result false)")
        return str(answer.MsgId or "")
