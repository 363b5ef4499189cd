"""SCF trigger events as the platform builds them, and the handlers they are given to.

`apigw_event` mirrors an API Gateway trigger (mixed-case headers, `requestContext`),
`function_url_event` a Function URL (lower-case headers, `x-scf-remote-addr`, no
`requestContext`), `cos_event` a COS trigger (583/31927). `AsyncInvocations` runs a handler as
SCF runs an asynchronously invoked function (the COS trigger's way): on a thread of its own,
retried when it fails. `load_handler` imports `functions/<kind>/index.py` the way SCF does.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Handler = Callable[[Any, Any], dict[str, Any]]


def _body_text(body: str | bytes | Mapping[str, Any], as_base64: bool) -> str:
    if isinstance(body, Mapping):
        body = json.dumps(body)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if as_base64:
        return base64.b64encode(raw).decode()
    return raw.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body


def apigw_event(
    body: str | bytes | Mapping[str, Any],
    path: str = "/live/callback",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    as_base64: bool = False,
    request_id: str | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    request_id = request_id or uuid.uuid4().hex
    event: dict[str, Any] = {
        "body": _body_text(body, as_base64),
        "headerParameters": {},
        "headers": {
            "Content-Type": "application/json",
            "User-Agent": "CSS-Callback",
            "Host": "service.apigw",
            **(headers or {}),
        },
        "httpMethod": method,
        "path": path,
        "pathParameters": {},
        "queryString": {},
        "queryStringParameters": {},
        "requestContext": {
            "httpMethod": method,
            "identity": {},
            "path": path,
            "requestId": request_id,
            "serviceId": "service-local",
            "sourceIp": source_ip,
            "stage": "release",
        },
        "stageVariables": {"stage": "release"},
    }
    if as_base64:
        event["isBase64Encoded"] = True
    return event


def function_url_event(
    body: str | bytes | Mapping[str, Any],
    path: str = "/",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    return {
        "body": _body_text(body, False),
        "headers": {
            "content-type": "application/json",
            "user-agent": "CSS-Callback",
            "x-scf-remote-addr": source_ip,
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "httpMethod": method,
        "path": path,
        "queryString": {},
    }


def context(kind: str, request_id: str | None = None) -> dict[str, Any]:
    return {
        "request_id": request_id or uuid.uuid4().hex,
        "function_name": f"live-callbacks-{kind.replace('_', '-')}",
        "function_version": "$LATEST",
        "namespace": "default",
        "memory_limit_in_mb": 64,
        "time_limit_in_ms": 15000,
    }


@cache
def load_handler(kind: str) -> Handler:
    """`functions/<kind>/index.py:main_handler`, imported under a module name of its own."""
    path = ROOT / "functions" / kind / "index.py"
    spec = importlib.util.spec_from_file_location(f"functions_{kind}_index", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = module.main_handler
    return handler


COS_REGION_CODES = {
    "ap-guangzhou": "gz",
    "ap-shanghai": "sh",
    "ap-beijing": "bj",
    "ap-chengdu": "cd",
    "ap-chongqing": "cq",
    "ap-nanjing": "nj",
    "ap-hongkong": "hk",
    "ap-singapore": "sg",
}
"""The short region codes SCF's COS trigger event carries in `cosBucket.region` (the page's
sample: "cd" for a bucket in ap-chengdu); other regions keep their long name here."""


def cos_event(
    bucket: str,
    region: str,
    key: str,
    size: int,
    meta: Mapping[str, str] | None = None,
    event_name: str = "cos:ObjectCreated:Put",
    authorization: str = "",
) -> dict[str, Any]:
    """SCF's COS trigger event for one object written to `bucket` (name-appid), as page 583/31927
    shows it: the key as `/{appid}/{bucket-name}/{key}`, the region as a short code, the writer's
    request headers (its `Authorization` names the SecretId that signed the write)."""
    name, appid = bucket.rsplit("-", 1)
    short = COS_REGION_CODES.get(region, region)
    return {
        "Records": [
            {
                "cos": {
                    "cosSchemaVersion": "1.0",
                    "cosObject": {
                        "url": f"http://{bucket}.cos.{region}.myqcloud.com/{key}",
                        "meta": {"x-cos-request-id": uuid.uuid4().hex, "Content-Type": "", **(meta or {})},
                        "vid": "",
                        "key": f"/{appid}/{name}/{key}",
                        "size": size,
                    },
                    "cosBucket": {"region": short, "name": name, "appid": appid},
                    "cosNotificationId": "unkown",
                },
                "event": {
                    "eventName": event_name,
                    "eventVersion": "1.0",
                    "eventTime": int(time.time()),
                    "eventSource": "qcs::cos",
                    "requestParameters": {
                        "requestSourceIP": "127.0.0.1",
                        "requestHeaders": {"Authorization": authorization},
                    },
                    "eventQueue": f"qcs:0:scf:{short}:appid/{appid}:default.moderation_action.$LATEST",
                    "reservedInfo": "",
                    "reqid": uuid.uuid4().int % 10**9,
                },
            }
        ]
    }


ASYNC_RETRIES = 2
"""SCF retries a failed asynchronous invocation twice by default."""


class AsyncInvocations:
    """One function invoked asynchronously: each event on a worker thread, retried `retries` times
    `retry_delay` apart when the handler raises (SCF's async retries)."""

    def __init__(
        self, handler: Callable[[dict[str, Any]], Any], retries: int = ASYNC_RETRIES, retry_delay: float = 0.2
    ) -> None:
        self.handler, self.retries, self.retry_delay = handler, retries, retry_delay
        self.deliveries: list[dict[str, Any]] = []
        """Per attempt: the event's `label`, attempt, ok, error, finished (time.time())."""
        self._pending = 0
        self._idle = threading.Condition()

    def deliver(self, event: dict[str, Any], label: str = "") -> None:
        with self._idle:
            self._pending += 1
        threading.Thread(target=self._run, args=(event, label), name="scf-async", daemon=True).start()

    def _run(self, event: dict[str, Any], label: str) -> None:
        try:
            for attempt in range(self.retries + 1):
                try:
                    self.handler(event)
                except Exception as exc:
                    self._record(label, attempt, False, f"{type(exc).__name__}: {exc}")
                    time.sleep(self.retry_delay)
                    continue
                self._record(label, attempt, True, None)
                return
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _record(self, label: str, attempt: int, ok: bool, error: str | None) -> None:
        with self._idle:
            self.deliveries.append(
                {"label": label, "attempt": attempt, "ok": ok, "error": error, "finished": time.time()}
            )

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery (retries included) has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
