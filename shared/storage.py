"""COS store: one PUT per stored event through cos-python-sdk-v5, bounded in time.

The SDK's own retries (with sleeps) are off; this adapter retries once, only for connection
failures, timeouts and 5xx answers, and only while the invocation's budget allows it. Every
attempt is cut at its worst case or the budget's deadline, whatever COS does (shared/deadline.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosClientError, CosServiceError

from shared import deadline
from shared.budget import Budget
from shared.config import Settings
from shared.errors import DependencyError, DependencyTimeout

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.5
ATTEMPT_WORST_CASE = CONNECT_TIMEOUT + READ_TIMEOUT
ATTEMPTS = 2

T = TypeVar("T")

# The SDK logs request headers (signatures, session tokens) at DEBUG and every 404 or 5xx on its
# own; the pipeline's one log line per invocation carries the outcome, so keep the SDK quiet.
logging.getLogger("qcloud_cos").setLevel(logging.CRITICAL)


class CosStore:
    """Thin adapter over `CosS3Client` for the documents this project keeps."""

    def __init__(self, settings: Settings) -> None:
        proxies = {"http": settings.cos_proxy, "https": settings.cos_proxy} if settings.cos_proxy else None
        config = CosConfig(
            Region=settings.cos_region,
            SecretId=settings.secret_id,
            SecretKey=settings.secret_key,
            Token=settings.session_token,
            Scheme=settings.cos_scheme,
            Timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),  # handed to requests as (connect, read)
            Proxies=proxies,
            PoolConnections=1,
            PoolMaxSize=4,
        )
        self.client = CosS3Client(config, retry=0, session=deadline.mount(requests.Session()))
        self.bucket = settings.cos_bucket
        self.prefix = settings.cos_prefix

    def _call(self, what: str, budget: Budget | None, call: Callable[[], T]) -> T:
        budget = budget or Budget()
        failure: Exception | None = None
        timed_out = False
        for _ in range(ATTEMPTS):
            if not budget.allows(ATTEMPT_WORST_CASE):  # every attempt must be able to end in time
                if failure is None:
                    raise DependencyTimeout(f"no time left in the budget for COS {what}")
                break
            with deadline.guarded(budget.cap(ATTEMPT_WORST_CASE)) as guard:
                try:
                    return call()
                except CosServiceError as exc:
                    status = exc.get_status_code()
                    if status < 500 and not guard.fired:
                        raise DependencyError(f"COS {what} refused: {status} {exc.get_error_code()}") from None
                    failure = exc
                except CosClientError as exc:
                    failure = exc
            message = str(failure).lower()
            timed_out = guard.fired or "timed out" in message or "timeout" in message
        if timed_out:
            raise DependencyTimeout(f"COS {what} timed out")
        if isinstance(failure, CosServiceError):
            raise DependencyError(f"COS {what} failed: {failure.get_status_code()} {failure.get_error_code()}")
        raise DependencyError(f"COS {what} unreachable: {type(failure).__name__}")

    def put_json(
        self, key: str, body: bytes, metadata: Mapping[str, str] | None = None, budget: Budget | None = None
    ) -> None:
        meta = {f"x-cos-meta-{k}": v for k, v in (metadata or {}).items()}
        self._call(
            "PUT",
            budget,
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=body,
                ContentType="application/json",
                Metadata=meta,
            ),
        )

    def create(
        self, key: str, body: bytes, metadata: Mapping[str, str] | None = None, budget: Budget | None = None
    ) -> bool:
        """PUT only if the key is absent (`x-cos-forbid-overwrite`): False when it already exists.

        COS decides atomically, so of two concurrent deliveries of the same hit exactly one wins.
        """
        headers = {"x-cos-forbid-overwrite": "true", **{f"x-cos-meta-{k}": v for k, v in (metadata or {}).items()}}

        def put() -> bool:
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Body=body,
                    ContentType="application/json",
                    Metadata=headers,
                )
            except CosServiceError as exc:
                if exc.get_status_code() in (409, 412):
                    return False
                raise
            return True

        return self._call("PUT", budget, put)

    def head(self, key: str, budget: Budget | None = None) -> dict[str, str] | None:
        """The object's headers (lower-case names), or None when it does not exist."""

        def head() -> dict[str, str] | None:
            try:
                answer = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            except CosServiceError as exc:
                if exc.get_status_code() == 404:
                    return None
                raise
            return {str(k).lower(): str(v) for k, v in answer.items()}

        return self._call("HEAD", budget, head)

    # Reading side, used by the timeline and quarantine tools (not on the callback path).

    def get_json_and_metadata(self, key: str) -> tuple[Any, dict[str, str]]:
        """The document and its `x-cos-meta-*` metadata (names without the prefix, lower-case)."""
        response = self._call("GET", None, lambda: self.client.get_object(Bucket=self.bucket, Key=self.prefix + key))
        meta = {
            str(k).lower().removeprefix("x-cos-meta-"): str(v)
            for k, v in response.items()
            if str(k).lower().startswith("x-cos-meta-")
        }
        return json.loads(response["Body"].get_raw_stream().read()), meta

    def get_bytes(self, key: str, budget: Budget | None = None) -> bytes:
        response = self._call("GET", budget, lambda: self.client.get_object(Bucket=self.bucket, Key=self.prefix + key))
        return bytes(response["Body"].get_raw_stream().read())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def delete(self, key: str, budget: Budget | None = None) -> None:
        self._call("DELETE", budget, lambda: self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key))

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix` (relative to the configured prefix), in key order."""
        marker = ""
        while True:
            page = self._call(
                "LIST",
                None,
                lambda marker=marker: self.client.list_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Prefix=self.prefix + prefix, Marker=marker, MaxKeys=1000
                ),
            )
            contents = page.get("Contents") or []
            for item in contents:
                yield item["Key"][len(self.prefix) :]
            if page.get("IsTruncated") != "true" or not contents:
                return
            marker = page.get("NextMarker") or contents[-1]["Key"]
