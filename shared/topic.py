"""Moderation topic: publishes hits to a TDMQ for CMQ topic with `PublishCmqMsg`.

Built on the per-product tencentcloud-sdk-python-tdmq package, with the SCF execution role's
temporary credentials and a request timeout that fits the invocation's budget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tdmq.v20200217 import models
from tencentcloud.tdmq.v20200217.tdmq_client import TdmqClient

from shared.budget import Budget
from shared.config import Settings
from shared.errors import DependencyError, DependencyTimeout

REQUEST_TIMEOUT = 3
MAX_TAG_LENGTH = 64
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

logging.getLogger("tencentcloud_sdk_common").setLevel(logging.CRITICAL)  # see storage.py


def tag(value: str) -> str:
    """A `MsgTag` subscribers can filter on: plain characters, at most 64 of them."""
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG_LENGTH]


class TopicPublisher:
    def __init__(self, settings: Settings) -> None:
        credential = Credential(settings.secret_id, settings.secret_key, settings.session_token)
        http = HttpProfile(
            protocol=settings.tdmq_scheme,
            endpoint=settings.tdmq_endpoint,
            reqTimeout=REQUEST_TIMEOUT,
            keepAlive=True,
        )
        self.client = TdmqClient(credential, settings.tdmq_region, ClientProfile(httpProfile=http))
        # The SDK resolved HTTPS_PROXY from the environment when it was built; without this its
        # requests session would scan the environment and ~/.netrc again on every publish.
        session = getattr(getattr(getattr(self.client, "request", None), "conn", None), "_session", None)
        if session is not None:
            session.trust_env = False
        self.topic = settings.moderation_topic or ""

    def publish(self, content: str, tags: Sequence[str], budget: Budget | None = None) -> str:
        """Publish one message and return its `MsgId`; one attempt, since a retry could duplicate."""
        if budget is not None and not budget.allows(REQUEST_TIMEOUT):
            raise DependencyTimeout("no time left in the budget to publish to the topic")
        request = models.PublishCmqMsgRequest()
        request.TopicName = self.topic
        request.MsgContent = content
        request.MsgTag = [tag(t) for t in tags if t][:5]
        try:
            answer = self.client.PublishCmqMsg(request)
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "Error")
            detail = exc.get_message() or ""  # the SDK puts the raw body (bytes) here for HTTP errors
            detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            if "timeout" in code.lower() or "timed out" in detail.lower():
                raise DependencyTimeout(f"topic publish timed out ({code})") from None
            raise DependencyError(f"topic publish failed: {code}: {detail[:200]}") from None
        if answer.Result is False:
            raise DependencyError("topic publish was not accepted (Result false)")
        return str(answer.MsgId or "")
