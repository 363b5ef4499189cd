"""SCF trigger events as the platform builds them, and the handlers they are given to.

`apigw_event` mirrors an API Gateway trigger (mixed-case headers, `requestContext`),
`function_url_event` a Function URL (lower-case headers, `x-scf-remote-addr`, no
`requestContext`). `load_handler` imports `functions/<kind>/index.py` the way SCF does.
"""

from __future__ import annotations

import base64
import importlib.util
import json
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
